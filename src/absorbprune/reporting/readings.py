"""The coefficient's multiverse compared (docs/methods.md 5.6): per model, calibration seed (and
pooled, seed -1) and reading, ``r_l`` per block, its Spearman with depth, whether the paper's
pattern holds (most early blocks amplify, most later blocks absorb; early = the first third of the
blocks), the paper correction's shift it implies and that shift's Pearson correlation with the
default reading's. A reading is *material* when that correlation is below ``sweeps.material_corr``:
its correction would move sparsity differently from the default's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..absorption.readings import DIMENSIONS, READING_COLUMNS, reading_name
from ..allocation.corrections import paper_shift

__all__ = ["reading_summary"]


def _pooled(table: pd.DataFrame) -> pd.DataFrame:
    """Seed -1: the mean of ``r_l`` over calibration seeds, per model, reading and block."""
    keys = ["model", "reading", *DIMENSIONS, "block"]
    out = table.groupby(keys, sort=False).agg(r=("r", "mean"), n_samples=("n_samples", "sum")).reset_index()
    return out.assign(seed=-1)[READING_COLUMNS]


def _pattern(r: np.ndarray) -> tuple[bool, bool, list[int]]:
    """(most of the first third amplify, most of the rest absorb, the amplifying blocks)."""
    early = max(1, math.ceil(len(r) / 3))
    amplifying = [int(b) for b in np.flatnonzero(r > 1)]
    early_amplify = bool((r[:early] > 1).mean() > 0.5)
    late_absorb = bool((r[early:] < 1).mean() > 0.5) if len(r) > early else False
    return early_amplify, late_absorb, amplifying


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def reading_summary(
    tables: Sequence[pd.DataFrame], default: Mapping[str, Any], clip: float, material_corr: float
) -> pd.DataFrame:
    """Every reading per model and calibration seed, and pooled (seed -1), with its statistics
    (columns of ``tables.absorption.COEFFICIENT_READINGS``).

    Args:
        tables: per-seed :func:`reading_table` outputs (any models).
        default: the default reading (:func:`reading_of` of ``allocation.paper``).
        clip: the paper correction's clip of ``log r`` (its shift).
        material_corr: a reading whose shift correlates with the default's below this is material.

    A model whose sweep did not run the default reading gets NaN correlations (nothing material).
    """
    table = pd.concat(list(tables), ignore_index=True)
    table = pd.concat([table, _pooled(table)], ignore_index=True)
    default_name = reading_name(default)
    rows = []
    for _, part in table.groupby(["model", "seed"], sort=True):
        base = part[part["reading"] == default_name].sort_values("block")
        base_shift = paper_shift(base["r"].to_numpy(), clip) if len(base) else None
        for name, reading in part.groupby("reading", sort=False):
            reading = reading.sort_values("block")
            r = reading["r"].to_numpy()
            shift = paper_shift(r, clip)
            early_amplify, late_absorb, amplifying = _pattern(r)
            blocks = reading["block"].to_numpy(dtype=np.float64)
            spearman = pd.Series(r).corr(pd.Series(blocks), method="spearman") if np.ptp(r) > 0 else math.nan
            corr = (
                1.0 if name == default_name else math.nan if base_shift is None else _corr(shift, base_shift)
            )
            for (_, row), s in zip(reading.iterrows(), shift, strict=True):
                rows.append(
                    {
                        **{k: row[k] for k in READING_COLUMNS},
                        "shift": float(s),
                        "spearman_depth": float(spearman),
                        "early_amplify": early_amplify,
                        "late_absorb": late_absorb,
                        "paper_pattern": early_amplify and late_absorb,
                        "amplifying_blocks": ",".join(map(str, amplifying)),
                        "n_amplifying": len(amplifying),
                        "shift_corr": corr,
                        "material": bool(corr == corr and corr < material_corr),
                        "default": name == default_name,
                    }
                )
    return pd.DataFrame(rows)
