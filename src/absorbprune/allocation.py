"""Layer-wise sparsity allocators and the absorption-aware correction (docs/methods.md, sections 3
and 5).

Pure functions on per-block arrays: block statistics and a target sparsity S in, one sparsity per
block out (every linear of a block gets its block's sparsity). Each allocator states which mean
it keeps: ``unweighted`` (mean over blocks), ``weighted`` (parameter-weighted: the global
sparsity), or ``both`` (equal values or equal-sized blocks). Every result is clipped into
``[s_min, s_max]`` and re-projected so the kept mean stays exact (the reference OWL instead
clamps non-positive values to 0.01 silently).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from .registry.allocators import ALLOCATORS, CORRECTIONS

__all__ = [
    "Allocation",
    "BlockStats",
    "absorption_correction",
    "absorption_shift",
    "allocate",
    "allocate_cell",
    "allocation_table",
    "alphapruning",
    "apply_shift",
    "atp",
    "atp_beta_bound",
    "block_stats",
    "by_absorption",
    "by_alphapruning",
    "by_atp",
    "by_depth",
    "by_dlp",
    "by_flipped",
    "by_owl",
    "by_paper",
    "by_shift",
    "by_shuffled",
    "by_uniform",
    "control_shift",
    "dlp",
    "no_correction",
    "ours_shift",
    "owl",
    "paper_shift",
    "paper_shift_of",
    "project_mean",
    "shift_of",
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


def _normalise(x: np.ndarray) -> np.ndarray:
    """(x - min) / (max - min); all zeros when x is constant."""
    x = np.asarray(x, dtype=np.float64)
    span = x.max() - x.min()
    return np.zeros_like(x) if span == 0 else (x - x.min()) / span


def _mean(s: np.ndarray, weights: np.ndarray | None) -> float:
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
    if s.min() >= lo and s.max() <= hi and abs(_mean(s, weights) - target) <= 1e-15:
        return s.copy()
    a, b = lo - s.max() - 1.0, hi - s.min() + 1.0
    for _ in range(200):
        tau = 0.5 * (a + b)
        if _mean(np.clip(s + tau, lo, hi), weights) < target:
            a = tau
        else:
            b = tau
    out = np.clip(s + 0.5 * (a + b), lo, hi)
    free = (out > lo) & (out < hi)
    if free.any():
        w = np.ones_like(out) if weights is None else np.asarray(weights, dtype=np.float64)
        out[free] += (target - _mean(out, weights)) * w.sum() / w[free].sum()
    return out


def uniform(n_blocks: int, target: float) -> Allocation:
    """``s_l = S`` for every block."""
    return Allocation(np.full(n_blocks, float(target)), "both")


def owl(lod: np.ndarray, target: float, lam: float) -> Allocation:
    """OWL: ``s_l = S - 2 lam (r_l - mean r)``, ``r`` = min-max normalised LOD (more outliers, less
    sparsity). Spread max - min = 2 lam before clipping; keeps the unweighted mean."""
    if lam < 0:
        raise ValueError(f"OWL lambda must be >= 0, got {lam}")
    r = _normalise(lod)
    return Allocation(target - 2 * lam * (r - r.mean()), "unweighted")


def alphapruning(alpha: np.ndarray, params: np.ndarray, target: float, eps: float) -> Allocation:
    """AlphaPruning: ``r_l = norm(alpha)_l 2 eps + (1 - eps)``, ``s_l = r_l S sum P / sum(P r)``
    (larger alpha, more sparsity); keeps the parameter-weighted mean."""
    if not 0 <= eps <= 1:
        raise ValueError(f"AlphaPruning eps must be in [0, 1], got {eps}")
    params = np.asarray(params, dtype=np.float64)
    r = _normalise(alpha) * 2 * eps + (1 - eps)
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
    r = _normalise(1 - score / score.sum())
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


# The registered corrections (registry.CORRECTIONS): the base allocation, the block statistics,
# the inputs the entry reads (meta["reads"]: ``coefficients``, our A_k at the cell's sparsity;
# ``paper_coefficients``, the paper's r_l table) and the hyperparameters in, the corrected
# allocation out.
def no_correction(
    base: Allocation,
    stats: BlockStats,
    inputs: Mapping[str, Any],
    hp: Mapping[str, Any],
    lo: float,
    hi: float,
) -> Allocation:
    return base


def absorption_shift(inputs: Mapping[str, Any], hp: Mapping[str, Any]) -> np.ndarray:
    """Our correction's shift per unit gamma, from the A_k at the cell's sparsity."""
    coefficients = inputs.get("coefficients")
    if coefficients is None:
        raise ValueError("the absorption correction needs the absorption coefficients")
    coefficients = np.asarray(coefficients, dtype=np.float64)
    if np.isnan(coefficients).any():
        raise ValueError("absorption coefficients contain NaN (a block whose pruning changes nothing)")
    return ours_shift(coefficients)


def paper_shift_of(inputs: Mapping[str, Any], hp: Mapping[str, Any]) -> np.ndarray:
    """The paper's shift per unit gamma: r_l at ``eta`` and ``depth`` from the paper coefficient
    table (``tables.PAPER_COEFFICIENTS``), clipped log, centred, negated."""
    table = inputs.get("paper_coefficients")
    if table is None:
        raise ValueError("the paper correction needs the paper coefficient table")
    rows = table[np.isclose(table["eta"], hp["eta"], rtol=1e-9, atol=0)].sort_values("block")
    if rows.empty:
        raise ValueError(
            f"no paper coefficients at eta={hp['eta']:g} (computed: {sorted(set(table['eta']))})"
        )
    column = f"r_{hp['depth']}" + ("_means" if hp["expectation"] == "means" else "")
    return paper_shift(rows[column].to_numpy(dtype=np.float64), hp["clip"])


def _shift(correction: str, inputs: Mapping[str, Any], hp: Mapping[str, Any], n_blocks: int) -> np.ndarray:
    from .registry import load_ref

    shift = load_ref(CORRECTIONS[correction].meta["shift"])(inputs, hp)
    if len(shift) != n_blocks:
        raise ValueError(f"the {correction} shift has {len(shift)} blocks, the model {n_blocks}")
    return shift


def _check_gamma(hp: Mapping[str, Any]) -> float:
    gamma = float(hp["gamma"])
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}")
    return gamma


def shift_of(correction: str, inputs: Mapping[str, Any], hp: Mapping[str, Any], n_blocks: int) -> np.ndarray:
    """The shift ``delta`` (gamma included, before clipping) a shift correction or a control adds
    to the base allocation."""
    entry = CORRECTIONS[correction]
    if entry.meta.get("control"):
        delta = shift_of(hp["of"], inputs, hp, n_blocks)
        return control_shift(delta, correction, int(hp["seed"]))
    return _check_gamma(hp) * _shift(correction, inputs, hp, n_blocks)


def by_shift(
    base: Allocation,
    stats: BlockStats,
    inputs: Mapping[str, Any],
    hp: Mapping[str, Any],
    lo: float,
    hi: float,
    name: str = "",
) -> Allocation:
    """A shift correction (``absorption``, ``paper``) or a control: ``s = s_base + delta``, clipped
    and re-projected to the base's parameter-weighted mean; gamma 0 is the base itself."""
    if _check_gamma(hp) == 0:
        return base
    return apply_shift(base, shift_of(name, inputs, hp, len(stats.params)), stats.params, lo, hi)


# Each registered shift correction and control is by_shift under its own name.
by_absorption = partial(by_shift, name="absorption")
by_paper = partial(by_shift, name="paper")
by_depth = partial(by_shift, name="depth")
by_shuffled = partial(by_shift, name="shuffled")
by_flipped = partial(by_shift, name="flipped")


def absorption_correction(
    base: np.ndarray, coefficients: np.ndarray, params: np.ndarray, gamma: float, lo: float, hi: float
) -> np.ndarray:
    """``s_l = s^base_l + gamma (z_l - mean z)``, ``z`` = min-max normalised absorption coefficients
    (more absorbing, more sparsity); clipped into [lo, hi] and re-projected to the base's
    parameter-weighted mean. ``gamma = 0`` returns the base unchanged.

    Raises:
        ValueError: a negative gamma, or a NaN coefficient.
    """
    out = by_shift(
        Allocation(np.asarray(base, dtype=np.float64), "weighted"),
        BlockStats(np.asarray(params, dtype=np.float64), {}, np.zeros(len(params)), np.zeros(len(params))),
        {"coefficients": coefficients},
        {"gamma": gamma},
        lo,
        hi,
        name="absorption",
    )
    return out.sparsity.copy()


def block_stats(layer_stats: pd.DataFrame, owl_m: Sequence[float] = ()) -> BlockStats:
    """Per-block allocator inputs from the calibration stage's layer_stats table (OWL's LOD at each
    threshold of ``owl_m``)."""
    from .tables import lod_column

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
    stats: BlockStats,
    cell: Mapping[str, Any],
    allocation: str,
    hp: Mapping[str, Any],
    correction: str,
    correction_hp: Mapping[str, Any],
    inputs: Mapping[str, Any],
    lo: float,
    hi: float,
) -> pd.DataFrame:
    """One cell's allocation, block -> sparsity (columns of ``tables.ALLOCATION``).

    Args:
        cell: ``model``, ``pruner``, ``seed``, ``sparsity`` and the two variant names
            (``allocation``, ``correction``), as in the allocate rule's wildcards.
        inputs: what the correction reads (``coefficients``, ``paper_coefficients``).
    """
    target = float(cell["sparsity"])
    base = allocate(allocation, stats, target, hp, lo, hi)
    entry = CORRECTIONS[correction]
    try:
        corrected = entry.load()(base, stats, inputs, correction_hp, lo, hi)
        shift = (
            shift_of(correction, inputs, correction_hp, len(stats.params))
            if "gamma" in correction_hp
            else np.zeros(len(stats.params))
        )
    except ValueError as err:
        raise ValueError(f"{correction} correction of {cell['model']!r}: {err}") from None
    sparsity, mean_kept = corrected.sparsity, corrected.mean_kept
    n = len(sparsity)
    return pd.DataFrame(
        {
            "model": cell["model"],
            "pruner": cell["pruner"],
            "allocation": allocation,
            "allocation_variant": cell["allocation"],
            "correction": correction,
            "correction_variant": cell["correction"],
            "sparsity": target,
            "seed": int(cell["seed"]),
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
    layer_stats: pd.DataFrame, inputs: Mapping[str, Any], params: Mapping[str, Any], cell: Mapping[str, Any]
) -> pd.DataFrame:
    """The allocate rule's work: block statistics from calibration, the allocator named in
    ``params`` (``allocation``, ``hp``, ``correction``, ``correction_hp``, ``s_min``, ``s_max``)
    and the correction with what it reads (``inputs``: ``coefficients``, the absorption table at
    the cell's sparsity; ``paper_coefficients``, the paper's r_l table)."""
    hp = dict(params["hp"])
    stats = block_stats(layer_stats, [hp["M"]] if "M" in hp else [])
    reads = dict(inputs)
    if reads.get("coefficients") is not None:
        reads["coefficients"] = reads["coefficients"].sort_values("block")["coefficient"].to_numpy()
    return allocation_table(
        stats,
        cell,
        params["allocation"],
        hp,
        params["correction"],
        params["correction_hp"],
        reads,
        params["s_min"],
        params["s_max"],
    )


# --- The paper's correction (docs/methods.md section 5.2) and the controls (section 5.3) ----------
def paper_shift(r: np.ndarray, clip: float) -> np.ndarray:
    """``u_l = clip(log r_l, -log c, log c)``, ``Delta_l = -(u_l - mean u)``: amplifying blocks
    (r > 1) lose sparsity, absorbing ones gain it."""
    if np.any(~np.isfinite(r)) or np.any(r <= 0):
        raise ValueError(f"paper coefficients must be finite and positive, got {r}")
    u = np.clip(np.log(r), -np.log(clip), np.log(clip))
    return -(u - u.mean())


def ours_shift(coefficients: np.ndarray) -> np.ndarray:
    """Our correction's shift per unit gamma: ``z_l - mean z``, z = min-max scaled ``A_k``."""
    z = _normalise(coefficients)
    return z - z.mean()


def control_shift(delta: np.ndarray, control: str, seed: int = 0) -> np.ndarray:
    """A control with the shift ``delta``'s L2 size (docs/methods.md section 5.3): ``depth`` (a
    linear tilt toward later blocks), ``shuffled`` (``delta`` permuted, fixed seed) or ``flipped``
    (``-delta``)."""
    delta = np.asarray(delta, dtype=np.float64)
    if control == "flipped":
        return -delta
    if control == "shuffled":
        return delta[np.random.default_rng(seed).permutation(len(delta))]
    if control == "depth":
        tilt = np.arange(len(delta), dtype=np.float64)
        tilt -= tilt.mean()
        size = np.linalg.norm(delta)
        return tilt * (size / np.linalg.norm(tilt)) if size > 0 else np.zeros_like(delta)
    raise KeyError(f"unknown control {control!r}; valid: depth, shuffled, flipped")


def apply_shift(base: Allocation, shift: np.ndarray, params: np.ndarray, lo: float, hi: float) -> Allocation:
    """``s = s_base + shift``, clipped into [lo, hi] and re-projected to the base's budget (its
    parameter-weighted mean)."""
    s = project_mean(base.sparsity + shift, _mean(base.sparsity, params), lo, hi, params)
    return Allocation(s, "weighted")
