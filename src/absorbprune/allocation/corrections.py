"""Corrections of a layer-wise allocation (docs/methods.md 5.1-5.3): the paper's as a secondary
description reports it, ours, and the depth/shuffled/flipped controls.

A shift correction adds ``gamma x`` its shift (per unit gamma) to the base sparsities, clips them
into ``[s_min, s_max]`` and restores the base's parameter-weighted budget; a control takes its
correction's shift and reshapes it with the same L2 size. Pure functions on per-block arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import numpy as np

from ..absorption.readings import reading_name, reading_of
from ..registry.allocators import CORRECTIONS
from ..registry.base import load_ref
from .allocators import Allocation, BlockStats, mean_of, normalise, project_mean

__all__ = [
    "absorption_shift",
    "apply_shift",
    "by_absorption",
    "by_depth",
    "by_flipped",
    "by_paper",
    "by_paper_frob",
    "by_paper_nosink",
    "by_paper_prunedir",
    "by_shift",
    "by_shuffled",
    "control_shift",
    "no_correction",
    "ours_shift",
    "paper_shift",
    "paper_shift_of",
    "shift_of",
]


# The registered corrections (registry.allocators.CORRECTIONS): the base allocation, the block statistics,
# the inputs the entry reads (meta["reads"]: ``coefficients``, our A_k at the cell's sparsity;
# ``readings``, every reading's r_l at the seed) and the hyperparameters in, the corrected
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
    """The paper's shift per unit gamma: r_l of the reading ``hp`` names (eta, depth, expectation,
    perturbation, first_token, measure, aggregation) from the seed's reading table
    (``tables.absorption.READINGS``), clipped log, centred, negated."""
    table = inputs.get("readings")
    if table is None:
        raise ValueError("the paper correction needs the coefficient reading table")
    name = reading_name(reading_of(hp))
    rows = table[table["reading"] == name].sort_values("block")
    if rows.empty:
        have = sorted(set(table["reading"]))
        raise ValueError(
            f"no paper coefficients for the reading {name} (the sweep ran {len(have)} readings, e.g. "
            f"{have[:3]}): eta must be a swept magnitude, prune_dir needs sweeps.magnitude_kinds, "
            "first_token clean needs sweeps.first_token"
        )
    return paper_shift(rows["r"].to_numpy(dtype=np.float64), hp["clip"])


def _shift(correction: str, inputs: Mapping[str, Any], hp: Mapping[str, Any], n_blocks: int) -> np.ndarray:
    shift = load_ref(CORRECTIONS[correction].meta.shift)(inputs, hp)
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
    if entry.meta.control:
        delta = shift_of(hp["of"], inputs, hp, n_blocks)
        return control_shift(delta, correction, int(hp.get("seed", 0)))
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
by_paper_frob = partial(by_shift, name="paper_frob")
by_paper_nosink = partial(by_shift, name="paper_nosink")
by_paper_prunedir = partial(by_shift, name="paper_prunedir")


# The shifts: the paper's (docs/methods.md 5.2), ours (5.1) and the controls' (5.3).
def paper_shift(r: np.ndarray, clip: float) -> np.ndarray:
    """``u_l = clip(log r_l, -log c, log c)``, ``Delta_l = -(u_l - mean u)``: amplifying blocks
    (r > 1) lose sparsity, absorbing ones gain it."""
    if np.any(~np.isfinite(r)) or np.any(r <= 0):
        raise ValueError(f"paper coefficients must be finite and positive, got {r}")
    u = np.clip(np.log(r), -np.log(clip), np.log(clip))
    return -(u - u.mean())


def ours_shift(coefficients: np.ndarray) -> np.ndarray:
    """Our correction's shift per unit gamma: ``z_l - mean z``, z = min-max scaled ``A_k``."""
    z = normalise(coefficients)
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
    s = project_mean(base.sparsity + shift, mean_of(base.sparsity, params), lo, hi, params)
    return Allocation(s, "weighted")
