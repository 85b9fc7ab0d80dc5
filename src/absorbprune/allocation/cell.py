"""One cell's allocation: the calibration statistics per block, the base allocator and the
correction, as the table of ``tables.allocation.ALLOCATION`` (rule allocate)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..plan.cell import Cell
from ..registry.allocators import ALLOCATORS, CORRECTIONS
from ..tables.calibration import lod_column
from .allocators import BlockStats, allocate
from .corrections import shift_of

__all__ = ["AllocationSpec", "allocate_cell", "allocation_table", "block_stats"]


@dataclass(frozen=True)
class AllocationSpec:
    """What a cell's allocation is: a registered allocator and correction with their resolved
    hyperparameters (``plan.grid``), and the block sparsity bounds."""

    allocation: str
    correction: str
    s_min: float
    s_max: float
    hp: Mapping[str, Any] = field(default_factory=dict)
    correction_hp: Mapping[str, Any] = field(default_factory=dict)


def block_stats(layer_stats: pd.DataFrame, owl_m: Sequence[float] = ()) -> BlockStats:
    """Per-block allocator inputs from the calibration stage's layer_stats table (OWL's LOD at each
    threshold of ``owl_m``)."""
    blocks = layer_stats.groupby("block").first().sort_index()
    if list(blocks.index) != list(range(len(blocks))):
        raise ValueError(f"layer_stats blocks are not 0..L-1: {list(blocks.index)}")
    lod = {}
    for m in owl_m:
        column = lod_column(m)
        if column not in blocks:
            raise KeyError(f"layer_stats has no {column!r} (OWL at M={m:g} was not calibrated)")
        lod[m] = blocks[column].to_numpy(dtype=np.float64)
    return BlockStats(
        params=blocks["block_params"].to_numpy(dtype=np.float64),
        lod=lod,
        alpha=blocks["block_alpha"].to_numpy(dtype=np.float64),
        dlp_score=blocks["block_dlp_score"].to_numpy(dtype=np.float64),
    )


def _tuned(allocation: str, hp: Mapping[str, Any], correction: str, correction_hp: Mapping[str, Any]) -> str:
    """The swept (tunable) hyperparameters of a cell, ``k=v`` sorted by name (OWL's M is fixed; a
    control's gamma is its correction's)."""
    tuned = {k: v for k, v in hp.items() if k in ALLOCATORS[allocation].swept()}
    tuned |= {k: v for k, v in correction_hp.items() if k in (*CORRECTIONS[correction].swept(), "gamma")}
    return ",".join(f"{k}={v:g}" for k, v in sorted(tuned.items()))


def allocation_table(
    stats: BlockStats, cell: Cell, spec: AllocationSpec, inputs: Mapping[str, Any]
) -> pd.DataFrame:
    """One cell's allocation, block -> sparsity (columns of ``tables.allocation.ALLOCATION``).

    Args:
        inputs: what the correction reads (``coefficients``, ``paper_coefficients``).
    """
    allocation, hp, correction, correction_hp = spec.allocation, spec.hp, spec.correction, spec.correction_hp
    lo, hi, target = spec.s_min, spec.s_max, float(cell.sparsity)
    base = allocate(allocation, stats, target, hp, lo, hi)
    entry = CORRECTIONS[correction]
    try:
        corrected = entry.load()(base, stats, inputs, correction_hp, lo, hi)
        meta = entry.meta
        shift = (
            shift_of(correction, inputs, correction_hp, len(stats.params))
            if meta.shift or meta.control
            else np.zeros(len(stats.params))
        )
    except ValueError as err:
        raise ValueError(f"{correction} correction of {cell.model!r}: {err}") from None
    sparsity, mean_kept = corrected.sparsity, corrected.mean_kept
    n = len(sparsity)
    return pd.DataFrame(
        {
            "model": cell.model,
            "pruner": cell.pruner,
            "allocation": allocation,
            "allocation_variant": cell.allocation_variant,
            "correction": correction,
            "correction_variant": cell.correction_variant,
            "sparsity": target,
            "seed": int(cell.seed),
            "block": np.arange(n, dtype=np.int64),
            "block_sparsity": sparsity,
            "block_params": stats.params.astype(np.int64),
            "base_sparsity": base.sparsity,
            "shift": shift,
            "mean_kept": mean_kept,
            "achieved_mean_unweighted": float(np.mean(sparsity)),
            "achieved_mean_weighted": float(np.average(sparsity, weights=stats.params)),
            "hyperparameters": _tuned(allocation, hp, correction, correction_hp),
        }
    )


def allocate_cell(
    layer_stats: pd.DataFrame, inputs: Mapping[str, pd.DataFrame], spec: AllocationSpec, cell: Cell
) -> pd.DataFrame:
    """The allocate rule's work: block statistics from calibration, the allocator and correction of
    ``spec``, and what the correction reads (``inputs``: ``coefficients``, the absorption table at
    the cell's sparsity; ``paper_coefficients``, the paper's r_l table)."""
    stats = block_stats(layer_stats, [spec.hp["M"]] if "M" in spec.hp else [])
    reads: dict[str, Any] = dict(inputs)
    if reads.get("coefficients") is not None:
        reads["coefficients"] = reads["coefficients"].sort_values("block")["coefficient"].to_numpy()
    return allocation_table(stats, cell, spec, reads)
