"""What the perturbation sweeps cover (docs/methods.md 5.1), light (no torch): the eps grid of the
gaussian and prune_dir kinds, and the sparsities of the prune kind. The sweep jobs run these, and
the config validation checks the paper correction's eta against the grid."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["eps_grid", "prune_sweep_sparsities"]


def eps_grid(lo: float, hi: float, points: int) -> list[float]:
    """``points`` magnitudes log-spaced from ``lo`` to ``hi`` inclusive."""
    if points == 1:
        return [lo]
    step = (math.log10(hi) - math.log10(lo)) / (points - 1)
    return [float(10 ** (math.log10(lo) + i * step)) for i in range(points)]


def prune_sweep_sparsities(config: dict[str, Any]) -> list[float]:
    """Sparsities of the ``prune`` sweep: the grid's plus ``sweeps.extra_sparsities``, ascending."""
    return sorted({float(s) for s in [*config["grid"]["sparsities"], *config["sweeps"]["extra_sparsities"]]})
