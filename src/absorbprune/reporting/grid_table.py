"""The grid table of docs/results.md, built only from the per-job Parquet files: one row per
evaluated cell (dense references included) joining the pruning job's per-linear zeros, the test
and validation perplexity and the mean zero-shot accuracy."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..plan.cell import KEYS as CELL_KEYS

__all__ = ["KEYS", "grid_table", "read_all"]

KEYS = list(CELL_KEYS)
# The grid's row order: the registered names, the seed, then the variants as one string.
_ORDER = ["model", "pruner", "structure", "allocation", "correction", "sparsity", "seed", "variant"]


def _check_unique(frame: pd.DataFrame, keys: list[str], what: str) -> None:
    dup = frame.duplicated(keys, keep=False)
    if dup.any():
        rows = frame.loc[dup, keys].drop_duplicates().to_dict("records")
        raise ValueError(f"{what}: duplicate rows for {rows}")


def grid_table(
    linears: pd.DataFrame,
    ppl: pd.DataFrame,
    zeroshot: pd.DataFrame | None,
    valid: pd.DataFrame | None = None,
    zeroshot_everywhere: bool = True,
) -> pd.DataFrame:
    """One row per cell (columns of ``tables.summary.GRID``).

    Args:
        linears: per-linear ``params`` and ``zeros`` of every cell (``tables.cells.PRUNED_LINEARS``).
        ppl: one row per cell (``tables.cells.PPL``), the test split.
        zeroshot: one row per cell and task (``tables.cells.ZEROSHOT``); None or empty when
            zero-shot is off.
        valid: the validation split's perplexity rows (``tables.cells.PPL``), or None.
        zeroshot_everywhere: every cell that did not fail must have zero-shot rows (else only
            some do: ``evaluation.zeroshot.cells: selected``; the others' means are NaN).

    A cell that failed numerically (``status`` failed) has no pruning record and NaN numbers; its
    reason stays beside it.

    Raises:
        ValueError: a cell with perplexity but no pruning record (or the reverse) that did not fail,
            or duplicates.
    """
    _check_unique(ppl, KEYS, "ppl")
    sums = linears.groupby(KEYS, sort=False)[["zeros", "params"]].sum().reset_index()
    outcome = ppl[[*KEYS, "ppl", "ppl_dataset", "status", "reason"]]
    grid = outcome.merge(sums, on=KEYS, how="outer", indicator=True)
    unmatched = grid[
        (grid["_merge"] != "both") & ~((grid["_merge"] == "left_only") & (grid["status"] == "failed"))
    ]
    if len(unmatched):
        rows = unmatched[[*KEYS, "_merge"]].to_dict("records")
        raise ValueError(f"cells without both a pruning and a perplexity record: {rows}")
    grid["achieved_sparsity"] = grid["zeros"] / grid["params"]  # NaN for a failed cell
    grid["n_prunable_params"] = grid["params"].fillna(0).astype("int64")
    if zeroshot is not None and len(zeroshot):
        _check_unique(zeroshot, [*KEYS, "task"], "zeroshot")
        zs = zeroshot.assign(var=zeroshot["stderr"] ** 2)
        means = zs.groupby(KEYS, sort=False).agg(
            zeroshot_mean=("value", "mean"), zeroshot_tasks=("value", "count"), var=("var", "sum")
        )
        means["zeroshot_stderr"] = np.sqrt(means.pop("var")) / means["zeroshot_tasks"]
        grid = grid.merge(means.reset_index(), on=KEYS, how="left")
        missed = grid["zeroshot_mean"].isna() & (grid["status"] != "failed")
        if zeroshot_everywhere and missed.any():
            missing = grid.loc[missed, KEYS].to_dict("records")
            raise ValueError(f"cells without zero-shot results: {missing}")
    else:
        grid["zeroshot_mean"] = math.nan
        grid["zeroshot_stderr"] = math.nan
        grid["zeroshot_tasks"] = 0
    grid["zeroshot_tasks"] = grid["zeroshot_tasks"].fillna(0).astype("int64")
    if valid is not None and len(valid):
        _check_unique(valid, KEYS, "valid_ppl")
        grid = grid.merge(valid[[*KEYS, "ppl"]].rename(columns={"ppl": "valid_ppl"}), on=KEYS, how="left")
    else:
        grid["valid_ppl"] = math.nan
    grid["variant"] = grid["allocation_variant"] + "/" + grid["correction_variant"]
    cols = [*KEYS, "variant", "achieved_sparsity", "n_prunable_params", "ppl", "ppl_dataset"]
    cols += ["zeroshot_mean", "zeroshot_stderr", "zeroshot_tasks", "valid_ppl", "status", "reason"]
    return grid[cols].sort_values(_ORDER, ignore_index=True)


def read_all(paths: Sequence[str]) -> pd.DataFrame | None:
    """The Parquet files concatenated (None for no files)."""
    return pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True) if paths else None
