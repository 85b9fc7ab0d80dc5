"""Layer-wise sparsity allocators (docs/methods.md section 3).

Pure functions on per-block arrays: block statistics and a target sparsity S in, one sparsity per
block out (every linear of a block gets its block's sparsity). Each allocator states which mean
it keeps: ``unweighted`` (mean over blocks), ``weighted`` (parameter-weighted: the global
sparsity), or ``both`` (equal values or equal-sized blocks). Every result is clipped into
``[s_min, s_max]`` and re-projected so the kept mean stays exact (the reference OWL instead
clamps non-positive values to 0.01 silently).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..registry.allocators import ALLOCATORS

__all__ = [
    "Allocation",
    "BlockStats",
    "allocate",
    "alphapruning",
    "atp",
    "atp_beta_bound",
    "by_alphapruning",
    "by_atp",
    "by_dlp",
    "by_owl",
    "by_uniform",
    "dlp",
    "mean_of",
    "normalise",
    "owl",
    "project_mean",
    "uniform",
]


@dataclass(frozen=True)
class BlockStats:
    """Per-block inputs of the allocators, each shaped (L,)."""

    params: np.ndarray  # prunable parameters per block
    lod: Mapping[float, np.ndarray]  # OWL layerwise outlier distribution per threshold M
    alpha: np.ndarray  # AlphaPruning block alpha (mean alpha_peak of its linears)
    dlp_score: np.ndarray  # DLP score: mean Wanda score of the block


@dataclass(frozen=True)
class Allocation:
    sparsity: np.ndarray  # (L,) per-block sparsity
    mean_kept: str  # unweighted | weighted | both


def normalise(x: np.ndarray) -> np.ndarray:
    """(x - min) / (max - min); all zeros when x is constant."""
    x = np.asarray(x, dtype=np.float64)
    span = x.max() - x.min()
    return np.zeros_like(x) if span == 0 else (x - x.min()) / span


def mean_of(s: np.ndarray, weights: np.ndarray | None) -> float:
    return float(np.average(s, weights=weights))


def project_mean(
    s: np.ndarray, target: float, lo: float, hi: float, weights: np.ndarray | None = None
) -> np.ndarray:
    """Clip ``s`` into [lo, hi] and shift it so its (weighted) mean is exactly ``target``.

    Solves ``mean(clip(s + tau, lo, hi)) = target`` for tau by bisection (the mean is monotone in
    tau), then removes the last rounding residue on the unclipped entries. An input already
    inside the bounds with the right mean is returned unchanged.

    Raises:
        ValueError: the target mean is outside [lo, hi], so no allocation can keep it.
    """
    s = np.asarray(s, dtype=np.float64)
    if not lo <= target <= hi:
        raise ValueError(f"cannot keep mean sparsity {target} inside the bounds [{lo}, {hi}]")
    if s.min() >= lo and s.max() <= hi and abs(mean_of(s, weights) - target) <= 1e-15:
        return s.copy()
    a, b = lo - s.max() - 1.0, hi - s.min() + 1.0
    for _ in range(200):
        tau = 0.5 * (a + b)
        if mean_of(np.clip(s + tau, lo, hi), weights) < target:
            a = tau
        else:
            b = tau
    out = np.clip(s + 0.5 * (a + b), lo, hi)
    free = (out > lo) & (out < hi)
    if free.any():
        w = np.ones_like(out) if weights is None else np.asarray(weights, dtype=np.float64)
        out[free] += (target - mean_of(out, weights)) * w.sum() / w[free].sum()
    return out


def uniform(n_blocks: int, target: float) -> Allocation:
    """``s_l = S`` for every block."""
    return Allocation(np.full(n_blocks, float(target)), "both")


def owl(lod: np.ndarray, target: float, lam: float) -> Allocation:
    """OWL: ``s_l = S - 2 lam (r_l - mean r)``, ``r`` = min-max normalised LOD (more outliers, less
    sparsity). Spread max - min = 2 lam before clipping; keeps the unweighted mean."""
    if lam < 0:
        raise ValueError(f"OWL lambda must be >= 0, got {lam}")
    r = normalise(lod)
    return Allocation(target - 2 * lam * (r - r.mean()), "unweighted")


def alphapruning(alpha: np.ndarray, params: np.ndarray, target: float, eps: float) -> Allocation:
    """AlphaPruning: ``r_l = norm(alpha)_l 2 eps + (1 - eps)``, ``s_l = r_l S sum P / sum(P r)``
    (larger alpha, more sparsity); keeps the parameter-weighted mean."""
    if not 0 <= eps <= 1:
        raise ValueError(f"AlphaPruning eps must be in [0, 1], got {eps}")
    params = np.asarray(params, dtype=np.float64)
    r = normalise(alpha) * 2 * eps + (1 - eps)
    return Allocation(r * target * params.sum() / (params * r).sum(), "weighted")


def atp_beta_bound(n_blocks: int, target: float) -> float:
    """Largest legal ATP beta: every block's sparsity stays in [0, 1]."""
    return min(2 * target, 2 * (1 - target)) / (n_blocks - 1)


def atp(n_blocks: int, target: float, beta: float) -> Allocation:
    """ATP: ``s_l = S - beta (L - 1) / 2 + beta l`` (increasing with depth; keeps both means).

    Raises:
        ValueError: beta outside [0, min(2S, 2(1-S)) / (L-1)].
    """
    bound = atp_beta_bound(n_blocks, target)
    if not 0 <= beta <= bound + 1e-12:
        raise ValueError(
            f"ATP beta={beta} is illegal for S={target} and L={n_blocks} blocks: "
            f"it must be in [0, {bound:.6g}] = [0, min(2S, 2(1-S)) / (L-1)]"
        )
    layers = np.arange(n_blocks, dtype=np.float64)
    return Allocation(target - beta * (n_blocks - 1) / 2 + beta * layers, "both")


def dlp(score: np.ndarray, target: float, alpha: float) -> Allocation:
    """DLP: ``imp_l = 1 - score_l / sum score``, then OWL's normalisation with ``alpha`` in the
    role of lambda (more important, less sparsity); keeps the unweighted mean."""
    if alpha < 0:
        raise ValueError(f"DLP alpha must be >= 0, got {alpha}")
    score = np.asarray(score, dtype=np.float64)
    r = normalise(1 - score / score.sum())
    return Allocation(target - 2 * alpha * (r - r.mean()), "unweighted")


# The registered allocators (registry.ALLOCATORS): block statistics, a target S and the
# hyperparameters in, an Allocation out.
def by_uniform(stats: BlockStats, target: float, hp: Mapping[str, Any]) -> Allocation:
    return uniform(len(stats.params), target)


def by_owl(stats: BlockStats, target: float, hp: Mapping[str, Any]) -> Allocation:
    m = hp["M"]
    if m not in stats.lod:
        raise KeyError(f"no OWL LOD at M={m:g} in the calibration statistics (computed: {sorted(stats.lod)})")
    return owl(stats.lod[m], target, hp["lambda"])


def by_alphapruning(stats: BlockStats, target: float, hp: Mapping[str, Any]) -> Allocation:
    return alphapruning(stats.alpha, stats.params, target, hp["eps"])


def by_atp(stats: BlockStats, target: float, hp: Mapping[str, Any]) -> Allocation:
    return atp(len(stats.params), target, hp["beta"])


def by_dlp(stats: BlockStats, target: float, hp: Mapping[str, Any]) -> Allocation:
    return dlp(stats.dlp_score, target, hp["alpha"])


def allocate(
    name: str, stats: BlockStats, target: float, hp: Mapping[str, Any], lo: float, hi: float
) -> Allocation:
    """Run the allocator registered as ``name``, then clip into [lo, hi] keeping the mean it keeps.

    Raises:
        KeyError: an unknown allocator, listing the valid ones.
    """
    raw = ALLOCATORS.load(name)(stats, target, hp)
    weights = stats.params if raw.mean_kept == "weighted" else None
    return Allocation(project_mean(raw.sparsity, target, lo, hi, weights), raw.mean_kept)
