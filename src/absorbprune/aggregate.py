"""The grid tables of docs/results.md, built only from the per-job Parquet files.

``grid``: one row per evaluated cell (dense references included) joining the pruning job's
per-linear zeros, the perplexity row and the mean zero-shot accuracy. ``headline``: the paper's
question per base allocation, how much the correction changes perplexity (percent) and zero-shot
accuracy (points).
"""

from __future__ import annotations

import math

import pandas as pd

from .tables import CELL_KEYS

__all__ = ["KEYS", "grid_table", "headline_table"]

KEYS = [name for name, _ in CELL_KEYS]


def _check_unique(frame: pd.DataFrame, keys: list[str], what: str) -> None:
    dup = frame.duplicated(keys, keep=False)
    if dup.any():
        rows = frame.loc[dup, keys].drop_duplicates().to_dict("records")
        raise ValueError(f"{what}: duplicate rows for {rows}")


def grid_table(linears: pd.DataFrame, ppl: pd.DataFrame, zeroshot: pd.DataFrame | None) -> pd.DataFrame:
    """One row per cell (columns of ``tables.GRID``).

    Args:
        linears: per-linear ``params`` and ``zeros`` of every cell (``tables.PRUNED_LINEARS``).
        ppl: one row per cell (``tables.PPL``).
        zeroshot: one row per cell and task (``tables.ZEROSHOT``), or None when zero-shot is off.

    Raises:
        ValueError: a cell with perplexity but no pruning record (or the reverse), or duplicates.
    """
    _check_unique(ppl, KEYS, "ppl")
    sums = linears.groupby(KEYS, sort=False)[["zeros", "params"]].sum().reset_index()
    grid = ppl[[*KEYS, "ppl", "ppl_dataset"]].merge(sums, on=KEYS, how="outer", indicator=True)
    unmatched = grid[grid["_merge"] != "both"]
    if len(unmatched):
        rows = unmatched[[*KEYS, "_merge"]].to_dict("records")
        raise ValueError(f"cells without both a pruning and a perplexity record: {rows}")
    grid["achieved_sparsity"] = grid["zeros"] / grid["params"]
    grid["n_prunable_params"] = grid["params"].astype("int64")
    if zeroshot is not None and len(zeroshot):
        _check_unique(zeroshot, [*KEYS, "task"], "zeroshot")
        means = zeroshot.groupby(KEYS, sort=False)["value"].agg(zeroshot_mean="mean", zeroshot_tasks="count")
        grid = grid.merge(means.reset_index(), on=KEYS, how="left")
        if grid["zeroshot_mean"].isna().any():
            missing = grid.loc[grid["zeroshot_mean"].isna(), KEYS].to_dict("records")
            raise ValueError(f"cells without zero-shot results: {missing}")
    else:
        grid["zeroshot_mean"] = math.nan
        grid["zeroshot_tasks"] = 0
    grid["zeroshot_tasks"] = grid["zeroshot_tasks"].astype("int64")
    cols = [*KEYS, "achieved_sparsity", "n_prunable_params", "ppl", "ppl_dataset"]
    cols += ["zeroshot_mean", "zeroshot_tasks"]
    return grid[cols].sort_values(KEYS, ignore_index=True)


def headline_table(grid: pd.DataFrame) -> pd.DataFrame:
    """Corrected against uncorrected, per base allocation (columns of ``tables.HEADLINE``).

    Every cell whose correction is not ``none`` is paired with the same cell under ``none``; a
    corrected cell without its base is an error (the grid always lists corrections with none).
    """
    base_keys = [k for k in KEYS if k != "correction"]
    base = grid[grid["correction"] == "none"].set_index(base_keys)
    rows = []
    for _, cell in grid[grid["correction"] != "none"].iterrows():
        key = tuple(cell[k] for k in base_keys)
        if key not in base.index:
            raise ValueError(f"corrected cell {cell[KEYS].to_dict()} has no uncorrected counterpart")
        ref = base.loc[key]
        rows.append(
            {
                **{k: cell[k] for k in base_keys},
                "corrected_by": cell["correction"],
                "ppl_base": ref["ppl"],
                "ppl_corrected": cell["ppl"],
                "ppl_change_pct": 100.0 * (cell["ppl"] / ref["ppl"] - 1.0),
                "zeroshot_base": ref["zeroshot_mean"],
                "zeroshot_corrected": cell["zeroshot_mean"],
                "zeroshot_change": 100.0 * (cell["zeroshot_mean"] - ref["zeroshot_mean"]),
            }
        )
    cols = [*base_keys, "corrected_by", "ppl_base", "ppl_corrected", "ppl_change_pct"]
    cols += ["zeroshot_base", "zeroshot_corrected", "zeroshot_change"]
    return pd.DataFrame(rows, columns=cols).sort_values([*base_keys, "corrected_by"], ignore_index=True)
