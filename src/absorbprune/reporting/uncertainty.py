"""The uncertainty of a paired change (docs/methods.md 5.5): a t interval over calibration seeds,
and the main interval, a paired hierarchical bootstrap over seeds and evaluation items.

A change compares two cells evaluated on the same items (perplexity windows, or a task's
documents) under the same calibration seeds. One bootstrap replicate draws the seeds with
replacement, then the items of every item group (the windows; each task's documents) with
replacement, and recomputes the change from the drawn seeds and items. Base and corrected cells
share every draw (paired). With ``windows: shared`` (the default) one draw of items serves every
drawn seed of a replicate, because every seed is evaluated on the very same text: drawing them
afresh per seed (``per_seed``) would treat the text as if each seed had its own, and understate
the text's share of the variance up to the number of seeds. The interval is the percentile
interval of the replicates. A change is significant when both that interval and the t interval
over seeds exclude 0 (reporting.headline): with three seeds the percentile bootstrap's seed level
is too narrow on its own (simulated coverage about 74% when only the seeds vary), and the t
interval ignores the text's variance.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ITEM_DRAWS",
    "Bootstrap",
    "percentile_interval",
    "resampled_means",
    "t_interval",
]

ITEM_DRAWS = ("shared", "per_seed")


@dataclass(frozen=True)
class Bootstrap:
    """The bootstrap's settings (``evaluation.uncertainty``)."""

    resamples: int = 4000
    confidence: float = 0.95
    seed: int = 0
    items: str = "shared"  # one of ITEM_DRAWS

    def __post_init__(self) -> None:
        if self.resamples < 1:
            raise ValueError(f"resamples {self.resamples}: at least 1")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence {self.confidence}: strictly between 0 and 1")
        if self.items not in ITEM_DRAWS:
            raise ValueError(f"items {self.items!r}: one of {ITEM_DRAWS}")

    def describe(self, n_seeds: int, unit: str) -> str:
        """The test in words, for the headline's ``test`` column."""
        level = f"{100 * self.confidence:g}%"
        seeds = f"{n_seeds} seeds" if n_seeds > 1 else "1 seed (items only)"
        draw = "one item draw shared by the seeds" if self.items == "shared" else "items drawn per seed"
        if n_seeds < 2:
            return (
                f"one seed: no t interval over seeds, so nothing is significant ({self.resamples} resamples)"
            )
        return (
            f"both {level} intervals exclude 0: the paired hierarchical bootstrap ({self.resamples} "
            f"resamples over {seeds} x {unit}, {draw}, seed {self.seed}) and the t interval over seeds"
        )


def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float, float]:
    """Mean, standard error and the t interval ``mean +- t_{(1+c)/2, n-1} SE`` of ``values``
    (NaN spread with fewer than two values): at n = 3 and 95% the quantile is 4.30, not 2."""
    from scipy.stats import t

    x = np.asarray(values, dtype=np.float64)
    if len(x) == 0:
        return math.nan, math.nan, math.nan, math.nan
    mean = float(x.mean())
    if len(x) < 2:
        return mean, math.nan, math.nan, math.nan
    se = float(x.std(ddof=1) / math.sqrt(len(x)))
    q = float(t.ppf(0.5 + confidence / 2, len(x) - 1))
    return mean, se, mean - q * se, mean + q * se


def percentile_interval(replicates: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """The ``confidence`` percentile interval of bootstrap replicates (NaN for none)."""
    r = np.asarray(replicates, dtype=np.float64)
    r = r[np.isfinite(r)]
    if len(r) == 0:
        return math.nan, math.nan
    alpha = (1 - confidence) / 2
    low, high = np.quantile(r, [alpha, 1 - alpha])
    return float(low), float(high)


def resampled_means(
    cells: Mapping[str, Sequence[Sequence[np.ndarray]]], spec: Bootstrap
) -> dict[str, np.ndarray]:
    """Bootstrap replicates of each cell's per-seed score, every cell drawn alike (paired).

    Args:
        cells: cell name -> one entry per calibration seed (the same seeds, in the same order, for
            every cell) -> one 1-D array per item group (each perplexity window's loss; each task's
            per-document scores), the groups' lengths equal across cells and seeds.
        spec: the bootstrap's settings.

    Returns:
        cell name -> (resamples, n_seeds) array: in replicate b, position j holds the drawn seed's
        score, the mean over item groups of the mean of the drawn items.

    Raises:
        ValueError: cells with different seeds or item counts (they would not be paired).
    """
    names = list(cells)
    if not names:
        return {}
    first = cells[names[0]]
    n_seeds, sizes = len(first), [len(np.asarray(g)) for g in first[0]] if len(first) else []
    for name in names:
        shape = [[len(np.asarray(g)) for g in seed] for seed in cells[name]]
        if len(shape) != n_seeds or any(s != sizes for s in shape):
            raise ValueError(
                f"cell {name!r} has items {shape}, cell {names[0]!r} {[sizes] * n_seeds}: a paired "
                "bootstrap needs the same seeds and items in every cell"
            )
    if n_seeds == 0 or not sizes or min(sizes) == 0:
        raise ValueError(f"nothing to resample: {n_seeds} seeds, item groups of sizes {sizes}")
    rng = np.random.default_rng(spec.seed)
    B = spec.resamples
    seed_draw = rng.integers(0, n_seeds, size=(B, n_seeds))  # (B, S): the drawn seeds
    out = {name: np.zeros((B, n_seeds)) for name in names}
    for g, n in enumerate(sizes):
        uniform = np.full(n, 1.0 / n)
        if spec.items == "shared":  # (B, n): how often each item is drawn, one draw per replicate
            counts = rng.multinomial(n, uniform, size=B).astype(np.float64)
        else:  # (B, S, n): a draw per drawn seed
            counts = rng.multinomial(n, uniform, size=(B, n_seeds)).astype(np.float64)
        for name in names:
            values = np.stack([np.asarray(seed[g], dtype=np.float64) for seed in cells[name]])  # (S, n)
            if spec.items == "shared":
                per_seed = counts @ values.T / n  # (B, S): every seed under the replicate's draw
                drawn = np.take_along_axis(per_seed, seed_draw, axis=1)
            else:
                drawn = np.einsum("bjn,bjn->bj", counts, values[seed_draw]) / n
            out[name] += drawn / len(sizes)
    return out
