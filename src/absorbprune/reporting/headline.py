"""The headline (docs/methods.md 5.5): per selection group, the tuned corrected allocation
against the tuned base, paired per calibration seed, with its spread over seeds, each correction
against its controls, and a verdict in words."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .selection import GROUP

__all__ = ["headline_table", "mean_se"]

log = logging.getLogger(__name__)


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (NaN with fewer than two values)."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) < 2:
        return float(x.mean()) if len(x) else math.nan, math.nan
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x)))


def _selected(choices: pd.DataFrame) -> pd.DataFrame:
    """One row per group: the chosen variants and their label."""
    chosen = choices[choices["selected"]].drop_duplicates(GROUP)
    return chosen[[*GROUP, "allocation_variant", "correction_variant", "candidate"]]


def _per_seed(grid: pd.DataFrame, group: Mapping[str, Any], allocation: str, correction: str) -> pd.DataFrame:
    keys = ["model", "pruner", "structure", "sparsity"]
    mask = np.ones(len(grid), dtype=bool)
    for k in keys:
        mask &= (grid[k] == group[k]).to_numpy()
    mask &= (grid["allocation_variant"] == allocation).to_numpy() & (
        grid["correction_variant"] == correction
    ).to_numpy()
    return grid[mask].set_index("seed").sort_index()


def headline_table(grid: pd.DataFrame, choices: pd.DataFrame, controls: Mapping[str, str]) -> pd.DataFrame:
    """Tuned corrected against tuned base per group, paired per calibration seed (columns of
    ``tables.HEADLINE``).

    Args:
        grid: the grid table (test perplexity, zero-shot, validation perplexity per cell and seed).
        choices: ``choose``'s table.
        controls: control name -> the correction whose shift it takes.
    """
    chosen = _selected(choices).set_index(GROUP)
    base_keys = ["model", "pruner", "structure", "allocation", "sparsity"]
    rows = []
    for key, pick in chosen.iterrows():
        group = dict(zip(GROUP, key, strict=True))
        if group["correction"] == "none":
            continue
        base_key = tuple(group[k] if k != "correction" else "none" for k in GROUP)
        if base_key not in chosen.index:  # every base candidate failed: nothing to compare with
            log.warning("selection group %s has no tuned base (every candidate failed)", group)
            continue
        base_pick = chosen.loc[base_key]
        b = _per_seed(grid, group, base_pick["allocation_variant"], base_pick["correction_variant"])
        c = _per_seed(grid, group, pick["allocation_variant"], pick["correction_variant"])
        seeds = b.index.intersection(c.index)
        change = 100.0 * (c.loc[seeds, "ppl"] / b.loc[seeds, "ppl"] - 1.0)
        valid_change = 100.0 * (c.loc[seeds, "valid_ppl"] / b.loc[seeds, "valid_ppl"] - 1.0)
        zs = 100.0 * (c.loc[seeds, "zeroshot_mean"] - b.loc[seeds, "zeroshot_mean"])
        zs_err = 100.0 * np.sqrt(c.loc[seeds, "zeroshot_stderr"] ** 2 + b.loc[seeds, "zeroshot_stderr"] ** 2)
        ppl_mean, ppl_se = mean_se(change)
        zs_mean, zs_se = mean_se(zs)
        zs_stderr = float(zs_err.mean())
        n = len(seeds)
        control_of = controls.get(group["correction"], "")
        rows.append(
            {
                **{k: group[k] for k in base_keys},
                "correction": group["correction"],
                "kind": "control" if control_of else "correction",
                "control_of": control_of,
                "n_seeds": n,
                "ppl_base": float(b.loc[seeds, "ppl"].mean()),
                "ppl_corrected": float(c.loc[seeds, "ppl"].mean()),
                "ppl_change_pct": ppl_mean,
                "ppl_change_pct_se": ppl_se,
                # in points, as the change is: 100 x the mean accuracy
                "zeroshot_base": 100.0 * float(b.loc[seeds, "zeroshot_mean"].mean()),
                "zeroshot_corrected": 100.0 * float(c.loc[seeds, "zeroshot_mean"].mean()),
                "zeroshot_change": zs_mean,
                "zeroshot_change_se": zs_se,
                "zeroshot_change_stderr": zs_stderr,
                "significant": bool(n > 1 and abs(ppl_mean) > 2 * ppl_se),
                "zeroshot_significant": bool(
                    n > 1
                    and not math.isnan(zs_mean)
                    and abs(zs_mean) > 2 * max(zs_se, zs_stderr if zs_stderr == zs_stderr else 0.0)
                ),
                "selected_hp": pick["candidate"],
                "selected_base_hp": base_pick["candidate"],
                "valid_ppl_change_pct": float(valid_change.mean()),
                "_change": change,
            }
        )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["beats_base"] = (table["ppl_change_pct"] < 0) & table["significant"]
    beats, versus, verdicts = [], [], []
    for _, row in table.iterrows():
        if row["kind"] == "control":
            beats.append("")
            versus.append("")
            verdicts.append(_verdict(row, []))
            continue
        same = table[
            (table["kind"] == "control")
            & (table["control_of"] == row["correction"])
            & np.logical_and.reduce([table[k] == row[k] for k in base_keys])
        ]
        parts, wins = [], []
        for _, ctl in same.iterrows():
            seeds = row["_change"].index.intersection(ctl["_change"].index)
            diff_mean, diff_se = mean_se(row["_change"][seeds] - ctl["_change"][seeds])
            wins.append(diff_mean < 0)
            parts.append((ctl["correction"], diff_mean, diff_se))
        beats.append("" if not parts else str(all(wins)).lower())
        versus.append("; ".join(f"{n}: {m:+.2f} +- {s:.2f}" for n, m, s in parts))
        verdicts.append(_verdict(row, parts))
    table["beats_controls"] = beats
    table["vs_controls"] = versus
    table["verdict"] = verdicts
    table = table.drop(columns="_change")
    return table.sort_values([*base_keys, "kind", "correction"], ignore_index=True)


def _verdict(row: Mapping[str, Any], controls: Sequence[tuple[str, float, float]]) -> str:
    se = row["ppl_change_pct_se"]
    change = f"{row['ppl_change_pct']:+.2f}%" + ("" if math.isnan(se) else f" +- {se:.2f}")
    chosen = dict(kv.split("=", 1) for kv in row["selected_hp"].split(",") if "=" in kv)
    if "gamma" in chosen and float(chosen["gamma"]) == 0:
        return f"validation chose gamma = 0 (the base itself): {change} perplexity"
    words = "lowers" if row["ppl_change_pct"] < 0 else "raises"
    sig = "significant" if row["significant"] else "not significant"
    text = f"{words} perplexity {change} ({sig}, {row['n_seeds']} seeds)"
    if controls:
        lost = [n for n, m, _ in controls if m >= 0]
        text += "; beats every control" if not lost else f"; no better than {', '.join(lost)}"
    return text
