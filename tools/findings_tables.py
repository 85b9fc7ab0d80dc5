"""Markdown tables of a finished run, for docs/findings.md and the README: the dense models, the
paper's coefficient per model, the headline with its intervals, the coefficient's readings and the
claims under them, and (given the run's log) the job-seconds per rule and model. Every number
quoted in those documents comes from here:

    .venv/bin/python tools/findings_tables.py results [--log run.log]
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections import defaultdict
from pathlib import Path

import pandas as pd
from scipy.stats import spearmanr

from absorbprune.absorption.readings import DIMENSIONS

LINE = re.compile(r"^\[\s*\d+/\d+\]\s+(\w+)\s+(\S*).*?\s([\d.]+) (s|min|h)$")
UNIT = {"s": 1.0, "min": 60.0, "h": 3600.0}


def _ci(mean: float, low: float, high: float, digits: int = 1) -> str:
    if not math.isfinite(mean):
        return "n/a"
    interval = f" [{low:+.{digits}f}, {high:+.{digits}f}]" if math.isfinite(low) else ""
    return f"{mean:+.{digits}f}{interval}"


def dense(summary: Path) -> str:
    grid = pd.read_parquet(summary / "grid.parquet")
    rows = ["| model | test ppl | validation ppl | zero-shot mean |", "|---|---|---|---|"]
    for _, r in grid[grid["pruner"] == "dense"].iterrows():
        zs = f"{r['zeroshot_mean']:.3f}" if math.isfinite(r["zeroshot_mean"]) else "n/a"
        rows.append(f"| {r['model']} | {r['ppl']:.2f} | {r['valid_ppl']:.2f} | {zs} |")
    return "\n".join(rows)


def coefficients(summary: Path) -> str:
    """The paper's r_l (eta 1e-2, L = the last block, mean over seeds): blocks above 1, the
    Spearman correlation with depth."""
    coef = pd.read_parquet(summary / "paper_coefficients.parquet")
    coef = coef[(coef["eta"] - 0.01).abs() < 1e-12]
    rows = [
        "| model | blocks | blocks with r > 1 (amplify) | r range | Spearman(r, depth) |",
        "|---|---|---|---|---|",
    ]
    for model, part in coef.groupby("model", sort=False):
        r = part.groupby("block")["r_last_block"].mean()
        amplify = ", ".join(str(b) for b in r.index[r > 1]) or "none"
        rho = spearmanr(r.index, r.to_numpy()).statistic
        rows.append(f"| {model} | {len(r)} | {amplify} | {r.min():.2f}-{r.max():.2f} | {rho:+.2f} |")
    return "\n".join(rows)


def _pooled_readings(summary: Path) -> pd.DataFrame:
    """The coefficient's readings pooled over calibration seeds (seed -1), a row per block."""
    table = pd.read_parquet(summary / "coefficient_readings.parquet")
    return table[table["seed"] == -1]


def readings(summary: Path, by_choice: bool = True) -> str:
    """Per model (and, with ``by_choice``, per reading dimension): under how many readings (pooled
    over seeds) the paper's pattern holds, the Spearman range, and how many readings are material."""
    path = summary / "coefficient_readings.parquet"
    if not path.exists():
        return "(no coefficient_readings.parquet)"
    pooled = _pooled_readings(summary)
    zero = pooled.assign(z=pooled["shift"].abs() < 1e-12).groupby(["model", "reading"])["z"].all()
    one = pooled.drop_duplicates(["model", "reading"])
    rows = [
        "| model | readings | paper's pattern holds | Spearman(r, depth) | material (shift corr < threshold) "
        "| shift corr range | zero shift (every r clipped alike) |",
        "|---|---|---|---|---|---|---|",
    ]
    for model, part in one.groupby("model", sort=False):
        rho, corr = part["spearman_depth"], part["shift_corr"]
        rows.append(
            f"| {model} | {len(part)} | {int(part['paper_pattern'].sum())} "
            f"| {rho.min():+.2f} to {rho.max():+.2f} | {int(part['material'].sum())} "
            f"| {corr.min():+.2f} to {corr.max():+.2f} | {int(zero[model].sum())} |"
        )
    if not by_choice:
        return "\n".join(rows)
    rows += ["", "| model | choice | value | readings | pattern holds | median Spearman | material |"]
    rows.append("|---|---|---|---|---|---|---|")
    for model, part in one.groupby("model", sort=False):
        for dim in DIMENSIONS:
            if part[dim].nunique() < 2:
                continue
            for value, sub in part.groupby(dim, sort=True):
                rows.append(
                    f"| {model} | {dim} | {value} | {len(sub)} | {int(sub['paper_pattern'].sum())} "
                    f"| {sub['spearman_depth'].median():+.2f} | {int(sub['material'].sum())} |"
                )
    return "\n".join(rows)


def amplifying_readings(summary: Path, most: int = 12) -> str:
    """Per model: the readings (pooled over seeds) under which the early blocks amplify, and those
    under which the paper's whole pattern holds (early amplify, the rest absorb), by name."""
    one = _pooled_readings(summary).drop_duplicates(["model", "reading"])
    rows = ["| model | early blocks amplify | the paper's pattern | the readings with the paper's pattern |"]
    rows.append("|---|---|---|---|")
    for model, part in one.groupby("model", sort=False):
        names = sorted(part.loc[part["paper_pattern"], "reading"])
        shown = ", ".join(f"`{n}`" for n in names[:most]) + (
            f" and {len(names) - most} more" if len(names) > most else ""
        )
        rows.append(
            f"| {model} | {int(part['early_amplify'].sum())} of {len(part)} "
            f"| {len(names)} of {len(part)} | {shown or 'none'} |"
        )
    return "\n".join(rows)


def robust_claims(summary: Path) -> str:
    claims = pd.read_parquet(summary / "paper_claims.parquet")
    if "robustness" not in claims:
        return "(no robustness columns)"
    part = claims[claims["robustness"] != "n/a"]
    rows = ["| model | claim | holds (the run's own test) | under the readings | readings holding / tested |"]
    rows.append("|---|---|---|---|---|")
    for _, r in part.iterrows():
        holds = "n/a" if not math.isfinite(r["holds"]) else ("yes" if r["holds"] else "no")
        rows.append(
            f"| {r['model']} | {r['claim']} | {holds} | {r['robustness']} "
            f"| {r['readings_holding']} / {r['readings_tested']} |"
        )
    return "\n".join(rows)


def headline(summary: Path) -> str:
    head = pd.read_parquet(summary / "headline.parquet")
    rows = [
        "| model | S | base | base ppl (x dense) | correction | chosen | ppl change % [95% bootstrap] "
        "| t interval | zero-shot change, points [95%] |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in head.iterrows():
        name = r["correction"] + (" (control)" if r["kind"] == "control" else "")
        star = "**" if r["significant"] else ""  # the run's own rule (both intervals since dd86685)
        t = f"[{r['ppl_change_pct_t_low']:+.1f}, {r['ppl_change_pct_t_high']:+.1f}]"
        ppl = _ci(r["ppl_change_pct"], r["ppl_change_pct_ci_low"], r["ppl_change_pct_ci_high"])
        zs = _ci(r["zeroshot_change"], r["zeroshot_change_ci_low"], r["zeroshot_change_ci_high"])
        rows.append(
            f"| {r['model']} | {r['sparsity']:g} | {r['allocation']} | {r['ppl_base']:.1f} "
            f"({r['degradation']:.2f}x) | {name} | "
            f"{r['selected_hp']} | {star}{ppl}{star} | {t} | {zs} |"
        )
    return "\n".join(rows)


def versus_controls(summary: Path) -> str:
    """Per model, sparsity and base: each correction against its tuned base, and against each of its
    controls (the mean paired difference over seeds in % of the base's perplexity, its bootstrap
    interval), with the run's one-line verdict."""
    head = pd.read_parquet(summary / "headline.parquet")
    head = head[head["kind"] == "correction"]
    rows = [
        "| model | S | base | correction | chosen | ppl change % [95% bootstrap] | t interval "
        "| minus each control, points [95% bootstrap] |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for _, r in head.iterrows():
        star = "**" if r["significant"] else ""
        t = f"[{r['ppl_change_pct_t_low']:+.1f}, {r['ppl_change_pct_t_high']:+.1f}]"
        ppl = _ci(r["ppl_change_pct"], r["ppl_change_pct_ci_low"], r["ppl_change_pct_ci_high"])
        rows.append(
            f"| {r['model']} | {r['sparsity']:g} | {r['allocation']} | {r['correction']} "
            f"| {r['selected_hp']} | {star}{ppl}{star} | {t} | {r['vs_controls'] or 'no controls'} |"
        )
    return "\n".join(rows)


def times(log: str) -> str:
    per: dict[tuple[str, str], list[float]] = defaultdict(list)
    for line in log.splitlines():
        m = LINE.match(line.strip())
        if m:
            parts = m.group(2).split("/")
            model = parts[1] if parts[0] in ("selected", "cell") and len(parts) > 1 else parts[0]
            per[(m.group(1), model)].append(float(m.group(3)) * UNIT[m.group(4)])
    total = sum(sum(v) for v in per.values())
    rows = ["| rule | model | jobs | job-seconds | per job |", "|---|---|---|---|---|"]
    for (rule, model), secs in sorted(per.items(), key=lambda kv: -sum(kv[1])):
        rows.append(f"| {rule} | {model} | {len(secs)} | {sum(secs):.0f} | {sum(secs) / len(secs):.1f} |")
    rows.append(f"| all | | {sum(len(v) for v in per.values())} | {total:.0f} | |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--log", type=Path, help="the run's printed log (one line per job)")
    args = parser.parse_args(argv)
    summary = args.results / "summary"
    for title, text in (
        ("Dense models", dense(summary)),
        ("The paper's coefficient (eta 1e-2, L = last block, mean over seeds)", coefficients(summary)),
        ("Headline (** = significant by the run's rule)", headline(summary)),
        ("Each correction against its base and its controls", versus_controls(summary)),
        ("The paper's coefficient under every reading (pooled over seeds)", readings(summary)),
        ("Claims under the readings", robust_claims(summary)),
    ):
        print(f"### {title}\n\n{text}\n")
    if args.log:
        print(f"### Job-seconds per rule and model\n\n{times(args.log.read_text())}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
