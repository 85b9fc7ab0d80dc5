"""The headline (docs/methods.md 5.5): per selection group, the tuned corrected allocation
against the tuned base, paired per calibration seed, with a 95% interval from a paired,
hierarchical bootstrap over seeds and evaluation items (``reporting.uncertainty``; significant =
significant = both it and the t interval over seeds exclude 0), each correction against its
controls, the base's degradation from the dense model, and a verdict in words."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .selection import GROUP
from .uncertainty import Bootstrap, percentile_interval, resampled_means, t_interval

__all__ = ["CellItems", "headline_table", "mean_se"]

log = logging.getLogger(__name__)

# What identifies one evaluated cell of a selection group: the group's fixed keys, the chosen
# variants and the seed.
ITEM_KEY = ["model", "pruner", "structure", "sparsity", "allocation_variant", "correction_variant", "seed"]


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (NaN with fewer than two values)."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) < 2:
        return float(x.mean()) if len(x) else math.nan, math.nan
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x)))


@dataclass
class CellItems:
    """Every cell's evaluation items, what the bootstrap resamples: the test perplexity's window
    losses, and each zero-shot task's per-document scores (tasks in name order)."""

    windows: dict[tuple, np.ndarray] = field(default_factory=dict)
    docs: dict[tuple, list[np.ndarray]] = field(default_factory=dict)

    @classmethod
    def from_tables(cls, ppl: pd.DataFrame | None, zeroshot: pd.DataFrame | None) -> CellItems:
        """From the test perplexity rows (``tables.cells.PPL``) and the zero-shot rows
        (``tables.cells.ZEROSHOT``); failed cells (no windows) are left out."""
        items = cls()
        if ppl is not None:
            for row in ppl.itertuples(index=False):
                losses = np.asarray(row.window_losses, dtype=np.float64)
                if len(losses):
                    items.windows[tuple(getattr(row, k) for k in ITEM_KEY)] = losses
        if zeroshot is not None and len(zeroshot):
            for key, tasks in zeroshot.sort_values("task").groupby(ITEM_KEY, sort=False):
                items.docs[tuple(key)] = [np.asarray(d, dtype=np.float64) for d in tasks["doc_scores"]]
        return items


def _key(group: Mapping[str, Any], allocation: str, correction: str, seed: int) -> tuple:
    return (
        group["model"],
        group["pruner"],
        group["structure"],
        group["sparsity"],
        allocation,
        correction,
        seed,
    )


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


def _ppl_change(replicates: Mapping[str, np.ndarray], side: str, base: str = "base") -> np.ndarray:
    """Per replicate: the mean over drawn seeds of 100 x (ppl_side / ppl_base - 1), from mean
    window losses (perplexity = exp(mean loss): all windows have the same length)."""
    return 100.0 * np.expm1(replicates[side] - replicates[base]).mean(axis=1)


def _zs_change(replicates: Mapping[str, np.ndarray], side: str, base: str = "base") -> np.ndarray:
    """Per replicate: the mean over drawn seeds of the accuracy change in points."""
    return 100.0 * (replicates[side] - replicates[base]).mean(axis=1)


def _draws(
    items: Mapping[tuple, Any],
    sides: Mapping[str, tuple[Mapping[str, Any], str, str]],
    seeds: Sequence[int],
    spec,
) -> dict[str, np.ndarray] | None:
    """The paired bootstrap's replicates of ``sides`` (name -> group, allocation and correction
    variant) over ``seeds``; None when a cell has no items (zero-shot not run for it)."""
    cells = {}
    for name, (group, allocation, correction) in sides.items():
        per_seed = []
        for seed in seeds:
            got = items.get(_key(group, allocation, correction, seed))
            if got is None:
                return None
            per_seed.append([got] if isinstance(got, np.ndarray) else got)
        cells[name] = per_seed
    try:
        return resampled_means(cells, spec)
    except ValueError as err:
        log.warning("no bootstrap for %s: %s", sorted(sides), err)
        return None


def headline_table(
    grid: pd.DataFrame,
    choices: pd.DataFrame,
    controls: Mapping[str, str],
    items: CellItems | None = None,
    spec: Bootstrap | Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Tuned corrected against tuned base per group, paired per calibration seed (columns of
    ``tables.HEADLINE``).

    Args:
        grid: the grid table (test perplexity, zero-shot, validation perplexity per cell and seed).
        choices: ``choose``'s table.
        controls: control name -> the correction whose shift it takes.
        items: every cell's windows and documents (None: no bootstrap; every interval NaN and
            nothing significant).
        spec: the bootstrap's settings, or their mapping (``evaluation.uncertainty``; None: the defaults).
    """
    spec = Bootstrap(**spec) if isinstance(spec, Mapping) else spec or Bootstrap()
    items = items or CellItems()
    chosen = _selected(choices).set_index(GROUP)
    base_keys = ["model", "pruner", "structure", "allocation", "sparsity"]
    dense = grid[grid["pruner"] == "dense"].groupby("model")["ppl"].mean()
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
        seeds = seeds[np.isfinite(b.loc[seeds, "ppl"]) & np.isfinite(c.loc[seeds, "ppl"])]
        change = 100.0 * (c.loc[seeds, "ppl"] / b.loc[seeds, "ppl"] - 1.0)
        valid_change = 100.0 * (c.loc[seeds, "valid_ppl"] / b.loc[seeds, "valid_ppl"] - 1.0)
        zs = 100.0 * (c.loc[seeds, "zeroshot_mean"] - b.loc[seeds, "zeroshot_mean"])
        zs_err = 100.0 * np.sqrt(c.loc[seeds, "zeroshot_stderr"] ** 2 + b.loc[seeds, "zeroshot_stderr"] ** 2)
        ppl_mean, ppl_se, ppl_t_low, ppl_t_high = t_interval(change, spec.confidence)
        zs_mean, zs_se, zs_t_low, zs_t_high = t_interval(zs, spec.confidence)
        sides = {
            "base": (group, base_pick["allocation_variant"], base_pick["correction_variant"]),
            "corrected": (group, pick["allocation_variant"], pick["correction_variant"]),
        }
        ppl_draws = _draws(items.windows, sides, list(seeds), spec)
        ppl_low, ppl_high = (
            percentile_interval(_ppl_change(ppl_draws, "corrected"), spec.confidence)
            if ppl_draws
            else (math.nan, math.nan)
        )
        zs_draws = _draws(items.docs, sides, list(seeds), spec) if not math.isnan(zs_mean) else None
        zs_low, zs_high = (
            percentile_interval(_zs_change(zs_draws, "corrected"), spec.confidence)
            if zs_draws
            else (math.nan, math.nan)
        )
        n = len(seeds)
        control_of = controls.get(group["correction"], "")
        ppl_base = float(b.loc[seeds, "ppl"].mean()) if n else math.nan
        rows.append(
            {
                **{k: group[k] for k in base_keys},
                "correction": group["correction"],
                "kind": "control" if control_of else "correction",
                "control_of": control_of,
                "n_seeds": n,
                "ppl_base": ppl_base,
                "ppl_corrected": float(c.loc[seeds, "ppl"].mean()) if n else math.nan,
                "ppl_change_pct": ppl_mean,
                "ppl_change_pct_se": ppl_se,
                "ppl_change_pct_ci_low": ppl_low,
                "ppl_change_pct_ci_high": ppl_high,
                "ppl_change_pct_t_low": ppl_t_low,
                "ppl_change_pct_t_high": ppl_t_high,
                # in points, as the change is: 100 x the mean accuracy
                "zeroshot_base": 100.0 * float(b.loc[seeds, "zeroshot_mean"].mean()) if n else math.nan,
                "zeroshot_corrected": 100.0 * float(c.loc[seeds, "zeroshot_mean"].mean()) if n else math.nan,
                "zeroshot_change": zs_mean,
                "zeroshot_change_se": zs_se,
                "zeroshot_change_stderr": float(zs_err.mean()) if n else math.nan,
                "zeroshot_change_ci_low": zs_low,
                "zeroshot_change_ci_high": zs_high,
                "test": spec.describe(n, "windows (documents for zero-shot)"),
                # both intervals: at three seeds the bootstrap's seed level alone is too narrow
                # (percentile quantiles and a (n-1)/n variance: about 74% coverage when only the
                # seeds vary), the t interval ignores the text; with one seed nothing is significant
                "significant": _excludes_zero(ppl_low, ppl_high) and _excludes_zero(ppl_t_low, ppl_t_high),
                "significant_t": _excludes_zero(ppl_t_low, ppl_t_high),
                "zeroshot_significant": _excludes_zero(zs_low, zs_high)
                and _excludes_zero(zs_t_low, zs_t_high),
                "selected_hp": pick["candidate"],
                "selected_base_hp": base_pick["candidate"],
                "valid_ppl_change_pct": float(valid_change.mean()) if n else math.nan,
                "degradation": ppl_base / float(dense.get(group["model"], math.nan)),
                "_sides": sides,
                "_seeds": list(seeds),
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
        parts = []
        for _, ctl in same.iterrows():
            seeds = [s for s in row["_seeds"] if s in set(ctl["_seeds"])]
            sides = {**row["_sides"], "control": ctl["_sides"]["corrected"]}
            draws = _draws(items.windows, sides, seeds, spec)
            b = _per_seed(grid, row, *sides["base"][1:])
            diff = [
                100.0
                * (_ppl_of(grid, row, sides["corrected"], s) - _ppl_of(grid, row, sides["control"], s))
                / float(b.loc[s, "ppl"])
                for s in seeds
            ]
            low, high = (
                percentile_interval(
                    _ppl_change(draws, "corrected") - _ppl_change(draws, "control"), spec.confidence
                )
                if draws
                else (math.nan, math.nan)
            )
            t_low, t_high = t_interval(diff, spec.confidence)[2:]
            parts.append(
                (ctl["correction"], float(np.mean(diff)) if diff else math.nan, low, high, t_low, t_high)
            )
        beats.append("" if not parts else str(all(_below(p[2:4]) and _below(p[4:6]) for p in parts)).lower())
        versus.append("; ".join(f"{n}: {m:+.2f} [{lo:+.2f}, {hi:+.2f}]" for n, m, lo, hi, *_ in parts))
        verdicts.append(_verdict(row, parts))
    table["beats_controls"] = beats
    table["vs_controls"] = versus
    table["verdict"] = verdicts
    table = table.drop(columns=["_sides", "_seeds"])
    return table.sort_values([*base_keys, "kind", "correction"], ignore_index=True)


def _ppl_of(grid: pd.DataFrame, group: Mapping[str, Any], side: tuple, seed: int) -> float:
    return float(_per_seed(grid, group, side[1], side[2]).loc[seed, "ppl"])


def _excludes_zero(low: float, high: float) -> bool:
    return bool(math.isfinite(low) and math.isfinite(high) and (low > 0 or high < 0))


def _below(interval: Sequence[float]) -> bool:
    return bool(math.isfinite(interval[1]) and interval[1] < 0)


def _above(interval: Sequence[float]) -> bool:
    return bool(math.isfinite(interval[0]) and interval[0] > 0)


def _interval(low: float, high: float, unit: str = "") -> str:
    return "no interval" if not math.isfinite(low) else f"bootstrap [{low:+.2f}, {high:+.2f}]{unit}"


def _verdict(
    row: Mapping[str, Any], controls: Sequence[tuple[str, float, float, float, float, float]]
) -> str:
    """One line: the change with its bootstrap and t intervals, and the controls (each: name, mean
    paired difference, its bootstrap and t bounds)."""
    ci = _interval(row["ppl_change_pct_ci_low"], row["ppl_change_pct_ci_high"])
    change = f"{row['ppl_change_pct']:+.2f}% ({ci}"
    t_low, t_high = row["ppl_change_pct_t_low"], row["ppl_change_pct_t_high"]
    if math.isfinite(t_low):
        change += f"; t over seeds [{t_low:+.2f}, {t_high:+.2f}]"
    change += ")"
    chosen = dict(kv.split("=", 1) for kv in row["selected_hp"].split(",") if "=" in kv)
    if "gamma" in chosen and float(chosen["gamma"]) == 0:
        return f"validation chose gamma = 0 (the base itself): {change} perplexity"
    words = "lowers" if row["ppl_change_pct"] < 0 else "raises"
    if row["significant"]:
        sig = "significant: both intervals exclude 0"
    elif _excludes_zero(row["ppl_change_pct_ci_low"], row["ppl_change_pct_ci_high"]):
        sig = "not significant: the bootstrap interval excludes 0, the t interval does not"
    else:
        sig = "not significant"
    text = f"{words} perplexity {change}, {sig} ({row['n_seeds']} seeds)"
    if controls:
        beaten = [c[0] for c in controls if _below(c[2:4]) and _below(c[4:6])]
        worse = [c[0] for c in controls if _above(c[2:4]) and _above(c[4:6])]
        tied = [c[0] for c in controls if c[0] not in beaten and c[0] not in worse]
        if len(beaten) == len(controls):
            text += "; beats every control (both intervals of each paired difference below 0)"
        else:
            if tied:
                text += f"; not distinguishable from {', '.join(tied)}"
            if worse:
                text += f"; worse than {', '.join(worse)}"
    return text
