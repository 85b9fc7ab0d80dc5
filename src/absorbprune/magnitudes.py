"""The magnitude grid of the gaussian and prune_dir sweeps, light (no torch): the sweep jobs run it
and the config validation checks the paper correction's eta against it."""

from __future__ import annotations

import math

__all__ = ["eps_grid"]


def eps_grid(lo: float, hi: float, points: int) -> list[float]:
    """``points`` magnitudes log-spaced from ``lo`` to ``hi`` inclusive."""
    if points == 1:
        return [lo]
    step = (math.log10(hi) - math.log10(lo)) / (points - 1)
    return [float(10 ** (math.log10(lo) + i * step)) for i in range(points)]
