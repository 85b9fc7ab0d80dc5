"""The reference check rendered: the report's section (HTML: measured, published, ratio, a link to
the source, and how to read a ratio) and the tables of published numbers in
docs/reference-check.md (Markdown, generated from ``published.yaml``)."""

from __future__ import annotations

import html
import math

import pandas as pd

from .reference_check import Published, Reference, Spread, load_published, published_spread

__all__ = ["FAR", "published_markdown", "reference_check_html", "reference_check_section"]


FAR = 0.25  # a comparable ratio beyond 1 +- FAR is flagged: more than run-to-run noise explains


def _fmt(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.4g}"


def _spread_sentence(spread: Spread) -> str:
    if not spread.n:
        return ""
    return (
        f"Two published runs of one setting already differ: over the {spread.n} pruned settings that "
        f"two authors' repositories report under one protocol ({html.escape(' and '.join(spread.sources))}) "
        f"their numbers lie {100 * spread.low:.1f}&ndash;{100 * spread.high:.1f}% apart "
        f"(median {100 * spread.median:.1f}%)."
    )


def reference_check_section(table: pd.DataFrame, reference: Reference | None = None) -> str:
    """The report section (an HTML fragment): how to read a ratio, then one row per check."""
    reference = reference or load_published()
    spread = published_spread(reference)
    labels = {r.source: r.label for r in reference.records}
    parts = [
        "<h2>Published numbers, measured again</h2>",
        "<p>Each base cell (no correction) that a paper or its repository reports, measured here and "
        "averaged over calibration seeds (the published numbers are one run, mostly seed 0). "
        "<b>ratio</b> = measured / published perplexity: 1 reproduces the number, above 1 is worse "
        f"here. {_spread_sentence(spread)} A ratio within that band is agreement. The dense model "
        "has no calibration set, so its ratio should be about 1.00: a dense ratio far from 1, or "
        f"ratios beyond 1&nbsp;&plusmn;&nbsp;{FAR:g} (shown red), point to a set-up problem "
        "(weights, tokenizer, data, dtype, window length) rather than a finding. Rows in grey were "
        "measured under another protocol and are not compared; the last column says why.</p>",
    ]
    if not len(table):
        parts.append("<p>No cell of this run has a published number (matched by hub id).</p>")
        return "\n".join(parts)
    head = ("model", "pruner", "allocation", "S", "seeds", "measured", "published", "ratio", "source", "")
    rows = [
        '<table style="border-collapse:collapse;font-size:13px">',
        "<tr>"
        + "".join(
            f'<th style="text-align:left;padding:2px 8px;border-bottom:1px solid #999">{h}</th>' for h in head
        )
        + "</tr>",
    ]
    for _, r in table.iterrows():
        far = r["comparable"] and math.isfinite(r["ratio"]) and abs(r["ratio"] - 1) > FAR
        style = "color:#999" if not r["comparable"] else ("background:#f8d7d7;color:#8a1c1c" if far else "")
        pruner = r["pruner"] if r["structure"] == "unstructured" else f"{r['pruner']} {r['structure']}"
        label = labels.get(r["source"], r["source"])
        link = (
            f'<a href="{html.escape(r["url"])}" title="{html.escape(r["source"])}">{html.escape(label)}</a>'
        )
        detail = r["why_not"] if not r["comparable"] else r["note"]
        cells = [
            f"{html.escape(r['model'])} <small>({html.escape(r['hub_id'])})</small>",
            html.escape(pruner),
            html.escape(r["allocation_variant"]),
            f"{r['sparsity']:g}",
            str(int(r["n_seeds"])),
            _fmt(r["measured_ppl"]),
            _fmt(r["published_ppl"]),
            f"<b>{_fmt(r['ratio'])}</b>" if r["comparable"] else _fmt(r["ratio"]),
            link + ("" if r["kind"] == "primary" else " <i>(secondary)</i>"),
            f"<small>{html.escape(str(detail))}</small>",
        ]
        rows.append(
            f'<tr style="{style}">'
            + "".join(f'<td style="padding:2px 8px">{c}</td>' for c in cells)
            + "</tr>"
        )
    rows.append("</table>")
    parts.append("\n".join(rows))
    return "\n".join(parts)


def reference_check_html(table: pd.DataFrame, reference: Reference | None = None) -> str:
    """:func:`reference_check_section` as a standalone page (the report's)."""
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Published numbers</title>'
        "<style>body { font-family: sans-serif; font-size: 14px; margin: 16px; }</style></head><body>\n"
        + reference_check_section(table, reference)
        + "\n</body></html>\n"
    )


def _protocol_text(r: Published) -> str:
    cal = f"; calibration {r.calibration.text()}" if r.calibration else ""
    return f"{r.dataset} test split, windows of {r.seqlen} tokens{cal}"


def published_markdown(reference: Reference | None = None) -> str:
    """The published numbers as docs/reference-check.md holds them: per source, its citation, kind
    and protocol, then a table of its numbers."""
    reference = reference or load_published()
    by_source: dict[str, list[Published]] = {}
    for r in reference.records:
        by_source.setdefault(r.label, []).append(r)
    lines: list[str] = []
    for label, records in by_source.items():
        first = next((r for r in records if r.calibration), records[0])
        lines += [
            f"### {label}",
            "",
            f"{first.kind.capitalize()}. {first.source}. <{first.url}>",
            "",
            f"Protocol: {_protocol_text(first)}. {first.source_note}".rstrip(),
            "",
            "| hub id | pruner | structure | allocation | sparsity | ppl | hyperparameters | note |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in records:
            if r.hyperparameters is not None:
                hp = ", ".join(f"{k}={v:g}" for k, v in r.hyperparameters.items())
            else:
                hp = "" if r.allocation in ("dense", "uniform") else "not given"
            note = r.note
            if r.calibration not in (None, first.calibration) or (r.dataset, r.seqlen) != (
                first.dataset,
                first.seqlen,
            ):
                note = f"protocol: {_protocol_text(r)}. {note}".strip()
            sparsity = "-" if r.sparsity is None else f"{r.sparsity:g}"
            lines.append(
                f"| `{r.hub_id}` | {r.pruner} | {r.structure} | {r.allocation} | {sparsity} | "
                f"{r.ppl:.10g} | {hp} | {note} |"
            )
        lines.append("")
    return "\n".join(lines)
