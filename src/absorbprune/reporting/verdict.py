"""What the correction did, at a glance: the headline and the paper's claims as the report's verdict
page (HTML with coloured tables) and as 100-column terminal text.

Read from ``summary/headline.parquet`` and ``summary/paper_claims.parquet`` only. Per model, pruner,
base allocation and sparsity: each correction's and control's change in perplexity (percent,
negative = better) and zero-shot accuracy (points), mean over calibration seeds with its 95%
interval from the paired hierarchical bootstrap over seeds and evaluation items, significant when
it and the t interval over seeds both exclude 0 (docs/methods.md 5.5).
"""

from __future__ import annotations

import html
import math
import textwrap

import pandas as pd

__all__ = ["TERMINAL_WIDTH", "failed_cells", "verdict_html", "verdict_text"]

TERMINAL_WIDTH = 100
_GROUP = ["model", "pruner", "allocation", "sparsity"]


def _pm(mean: float, se: float, unit: str, digits: int = 2) -> str:
    if mean is None or not math.isfinite(mean):
        return "n/a"
    se_text = f" ± {se:.{digits}f}" if se is not None and math.isfinite(se) else " ± n/a"
    return f"{mean:+.{digits}f}{unit}{se_text}"


def _ci(mean: float, low: float, high: float, unit: str, digits: int = 2) -> str:
    """``-4.00% [-5.10, -2.90]``: the mean and its bootstrap interval."""
    if mean is None or not math.isfinite(mean):
        return "n/a"
    interval = f" [{low:+.{digits}f}, {high:+.{digits}f}]" if math.isfinite(low) else " [n/a]"
    return f"{mean:+.{digits}f}{unit}{interval}"


def _order(head: pd.DataFrame) -> pd.DataFrame:
    """Corrections first (in the table's order), each followed by its controls."""
    corrections = head[head["kind"] == "correction"]
    first = {"paper": 0, "absorption": 1}  # the paper's method, then ours, then any other
    corrections = corrections.iloc[
        sorted(range(len(corrections)), key=lambda i: first.get(corrections["correction"].iloc[i], 2))
    ]
    rows = []
    for _, row in corrections.iterrows():
        rows += [row, *(r for _, r in head[head["control_of"] == row["correction"]].iterrows())]
    listed = {r["correction"] for r in rows}  # controls of no listed correction come last
    rows += [r for _, r in head.iterrows() if r["correction"] not in listed]
    return pd.DataFrame(rows)


def _sign(mean: float, significant: bool, better_if_negative: bool) -> str:
    """better | worse | neutral (not significant or not measured)."""
    if not significant or mean is None or not math.isfinite(mean) or mean == 0:
        return "neutral"
    return "better" if (mean < 0) == better_if_negative else "worse"


def _group_title(key: tuple, part: pd.DataFrame) -> str:
    model, pruner, base, sparsity = key
    first = part.iloc[0]
    zs = first["zeroshot_base"]
    zs_text = f", zero-shot {zs:.1f}" if zs is not None and math.isfinite(zs) else ""
    floor = first.get("noise_floor_pct", float("nan"))
    floor_text = f"; rounding alone moves a cell {floor:.2g}%" if floor == floor else ""
    degradation = first.get("degradation", float("nan"))
    dense_text = f" = {degradation:.3g} x dense" if degradation == degradation else ""
    return (
        f"{model} · {pruner} · {base} · S={float(sparsity):g}  "
        f"({int(first['n_seeds'])} seeds; tuned base: ppl {first['ppl_base']:.4g}{dense_text}{zs_text}"
        f"{floor_text})"
    )


def verdict_text(
    headline: pd.DataFrame, claims: pd.DataFrame | None = None, grid: pd.DataFrame | None = None
) -> str:
    """The headline as terminal text, at most ``TERMINAL_WIDTH`` columns per line; the cells that
    failed numerically (from ``grid``) after it."""
    lines = [
        "what the correction did: change against the tuned base, mean over calibration seeds [95% paired",
        "bootstrap over seeds and windows/documents]; ppl in %, negative = better; zero-shot in points;",
        "* = significant: it and the t interval over seeds (headline.parquet) both exclude 0",
    ]
    for key, part in headline.groupby(_GROUP, sort=False):
        lines += ["", *textwrap.wrap(_group_title(key, part), TERMINAL_WIDTH, subsequent_indent="  ")]
        for _, r in _order(part).iterrows():
            name = r["correction"] if r["kind"] == "correction" else f"  {r['correction']} (control)"
            ppl = _ci(r["ppl_change_pct"], r["ppl_change_pct_ci_low"], r["ppl_change_pct_ci_high"], "%")
            ppl += "*" if r["significant"] else " "
            zs = _ci(r["zeroshot_change"], r["zeroshot_change_ci_low"], r["zeroshot_change_ci_high"], "", 1)
            zs += "*" if r["zeroshot_significant"] else " "
            chosen = str(r["selected_hp"]) or "-"
            line = f"  {name:<22} ppl {ppl:<26} zs {zs:<18} {chosen}"
            lines.append(line[:TERMINAL_WIDTH])
    failed = failed_cells(grid)
    if failed:
        lines += ["", f"cells that failed numerically ({len(failed)}; recorded, left out of selection):"]
        for cell, reason in failed:
            lines += textwrap.wrap(
                f"{cell}: {reason}", TERMINAL_WIDTH - 2, initial_indent="  ", subsequent_indent="    "
            )
    if claims is not None and len(claims):
        lines += ["", "the paper's claims, measured:"]
        for _, row in claims.iterrows():
            verdict = {1.0: "holds", 0.0: "does not hold"}.get(row["holds"], "not testable")
            measured = f" ({row['measured']:.4g})" if math.isfinite(row["measured"]) else ""
            text = f"[{row['model']}] {row['claim']}: {verdict}{measured}"
            lines += textwrap.wrap(text, TERMINAL_WIDTH - 2, initial_indent="  ", subsequent_indent="    ")
    return "\n".join(lines)


_CSS = {
    "better": "background:#d9f2d9;color:#1a5e1a",
    "worse": "background:#f8d7d7;color:#8a1c1c",
    "neutral": "color:#555",
}


def _cell(text: str, tone: str, bold: bool = False) -> str:
    weight = ";font-weight:bold" if bold else ""
    return f'<td style="{_CSS[tone]}{weight};padding:2px 10px;white-space:nowrap">{html.escape(text)}</td>'


def _html_table(headline: pd.DataFrame) -> str:
    out = [
        '<table style="border-collapse:collapse;font-size:14px;margin:6px 0 14px 0">',
        "<tr>"
        + "".join(
            f'<th style="text-align:left;padding:2px 10px;border-bottom:1px solid #999">{h}</th>'
            for h in (
                "",
                "change in perplexity [95% bootstrap]",
                "mean ± SE over seeds",
                "change in zero-shot [95% bootstrap]",
                "chosen on validation",
            )
        )
        + "</tr>",
    ]
    for _, r in _order(headline).iterrows():
        control = r["kind"] != "correction"
        name = (
            f"&nbsp;&nbsp;{html.escape(r['correction'])} <i>(control)</i>"
            if control
            else (f"<b>{html.escape(r['correction'])}</b>")
        )
        ppl_tone = _sign(r["ppl_change_pct"], bool(r["significant"]), better_if_negative=True)
        zs_tone = _sign(r["zeroshot_change"], bool(r["zeroshot_significant"]), better_if_negative=False)
        out.append(
            f'<tr><td style="padding:2px 10px;white-space:nowrap">{name}</td>'
            + _cell(
                _ci(r["ppl_change_pct"], r["ppl_change_pct_ci_low"], r["ppl_change_pct_ci_high"], " %"),
                ppl_tone,
                bool(r["significant"]),
            )
            + _cell(_pm(r["ppl_change_pct"], r["ppl_change_pct_se"], " %"), "neutral")
            + _cell(
                _ci(
                    r["zeroshot_change"], r["zeroshot_change_ci_low"], r["zeroshot_change_ci_high"], " pts", 1
                ),
                zs_tone,
                bool(r["zeroshot_significant"]),
            )
            + f'<td style="padding:2px 10px;color:#555">{html.escape(str(r["selected_hp"]) or "-")}</td></tr>'
        )
    out.append("</table>")
    return "\n".join(out)


def failed_cells(grid: pd.DataFrame | None) -> list[tuple[str, str]]:
    """(cell, reason) of every cell that failed numerically (``status`` failed in the grid)."""
    if grid is None or "status" not in grid or not len(grid):
        return []
    failed = grid[grid["status"] == "failed"]
    return [
        (
            f"{r.model}/{r.pruner}/{r.allocation_variant}/{r.correction_variant}/{r.sparsity:g}/{r.seed}",
            r.reason,
        )
        for r in failed.itertuples()
    ]


def verdict_html(
    headline: pd.DataFrame, claims: pd.DataFrame | None, grid: pd.DataFrame | None = None
) -> str:
    """The report's verdict page, standalone HTML: per model, pruner, base allocation and sparsity
    the table of changes and the verdict lines, the cells that failed numerically (from ``grid``),
    then the paper's claims."""
    parts = [
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>What the correction did</title>'
        "<style>body { font-family: sans-serif; font-size: 14px; margin: 16px; }</style></head><body>",
        "<h1>What the correction did</h1>",
        "<p>Change of each correction and control against the tuned base allocation, mean over "
        "calibration seeds, with its 95% interval from a paired, hierarchical bootstrap: seeds drawn "
        "with replacement, then the evaluation windows (zero-shot: each task's documents) drawn with "
        "replacement, base and corrected cells drawn alike. Significant means that interval and the t "
        "interval over seeds (mean ± t<sub>0.975, n-1</sub> SE: 4.30 SE at 3 seeds) both exclude 0. "
        "Perplexity in percent (negative = better), zero-shot accuracy in points. Green: significantly "
        "better; red: significantly worse; grey: not significant. The mean ± standard error over seeds "
        "is shown beside it (the t interval's bounds are in headline.parquet). Every variant was "
        "chosen on the validation split.</p>",
    ]
    for key, part in headline.groupby(_GROUP, sort=False):
        parts += [f"<h2>{html.escape(_group_title(key, part))}</h2>", _html_table(part)]
        lines = [
            f"<li><b>{html.escape(r['correction'])}</b>: {html.escape(str(r['verdict']))}</li>"
            for _, r in part[part["kind"] == "correction"].iterrows()
            if str(r["verdict"])
        ]
        if lines:
            parts.append("<ul>" + "".join(lines) + "</ul>")
    failed = failed_cells(grid)
    if failed:
        parts.append(
            f"<h2>Cells that failed numerically ({len(failed)})</h2><p>Recorded as their outcome and "
            "left out of selection; every other cell was measured.</p><ul>"
            + "".join(f"<li><code>{html.escape(c)}</code>: {html.escape(r)}</li>" for c, r in failed)
            + "</ul>"
        )
    if claims is not None and len(claims):
        parts.append("<h2>The paper's claims, measured</h2>")
        rows = ['<table style="border-collapse:collapse;font-size:13px">']
        for _, row in claims.iterrows():
            holds = {1.0: ("holds", "better"), 0.0: ("does not hold", "worse")}.get(
                row["holds"], ("not testable", "neutral")
            )
            rows.append(
                f'<tr><td style="padding:2px 10px">{html.escape(row["model"])}</td>'
                f'<td style="padding:2px 10px">{html.escape(row["claim"])}</td>'
                f'<td style="padding:2px 10px;color:#555">paper: {html.escape(row["paper"])}</td>'
                + _cell(holds[0], holds[1], True)
                + f'<td style="padding:2px 10px;color:#555">{html.escape(row["detail"])}</td></tr>'
            )
        rows.append("</table>")
        parts.append("\n".join(rows))
    parts.append("</body></html>\n")
    return "\n".join(parts)
