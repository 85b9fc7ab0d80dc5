"""The paper's two findings tested on one model (docs/methods.md 5.1): which blocks absorb, how
drift and direction evolve with depth, and where each block turns from amplifying to absorbing as
the perturbation grows.

* transition magnitude ``eps*`` of block k: where ``d_final / d_k`` (mean over seeds) first crosses
  1 going up the magnitude grid, log-linearly interpolated between grid points; the paper's claim
  is the ``amplify_to_absorb`` direction, but the opposite crossing is reported too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .coefficients import endpoints

__all__ = ["ModelSweeps", "findings", "post_peak_trend", "transitions"]


def _crossing(magnitudes: np.ndarray, ratios: np.ndarray) -> tuple[float, str]:
    """First magnitude where the ratio crosses 1 going up the grid (log-linear interpolation) and
    the direction: ``amplify_to_absorb`` (> 1 then <= 1), ``absorb_to_amplify`` (<= 1 then > 1),
    or (NaN, ``none``)."""
    for i in range(1, len(magnitudes)):
        before, after = ratios[i - 1] > 1, ratios[i] > 1
        if before != after:
            x0, x1 = math.log(magnitudes[i - 1]), math.log(magnitudes[i])
            y0, y1 = math.log(ratios[i - 1]), math.log(ratios[i])
            eps = math.exp(x0 + (x1 - x0) * (0 - y0) / (y1 - y0)) if y1 != y0 else float(magnitudes[i])
            return eps, "amplify_to_absorb" if before else "absorb_to_amplify"
    return math.nan, "none"


def transitions(drift: pd.DataFrame, n_blocks: int, model: str) -> pd.DataFrame:
    """Per (kind, block) of the magnitude sweep: the amplification ratio ``d_final / d_k`` (mean over
    seeds) at the smallest and largest magnitude, and where it first crosses 1 (``eps_star``) in
    which ``direction``."""
    ends = endpoints(drift[drift["kind"].isin(["gaussian", "prune_dir"])], n_blocks)
    ends["ratio"] = ends["d_final"] / ends["d_inject"]
    rows = []
    for (kind, k), part in ends.groupby(["kind", "inject_block"]):
        part = part.sort_values("magnitude")
        mags, ratios = part["magnitude"].to_numpy(), part["ratio"].to_numpy()
        eps_star, direction = _crossing(mags, ratios)
        rows.append(
            {
                "model": model,
                "kind": kind,
                "block": int(k),
                "ratio_small": float(ratios[0]),
                "ratio_large": float(ratios[-1]),
                "eps_star": eps_star,
                "direction": direction,
            }
        )
    return pd.DataFrame(
        rows, columns=["model", "kind", "block", "ratio_small", "ratio_large", "eps_star", "direction"]
    )


def post_peak_trend(values: pd.Series) -> tuple[float, bool]:
    """Spearman correlation of ``values`` (indexed by depth) with depth from its peak on, and whether
    it is non-increasing there. NaN/False when fewer than 3 points follow the peak or they are
    constant (no trend to rank)."""
    values = values.sort_index()
    tail = values.loc[values.idxmax() :]
    if len(tail) < 3 or tail.nunique() == 1:
        return math.nan, False
    depth = pd.Series(tail.index, index=tail.index, dtype="float64")
    return float(tail.corr(depth, method="spearman")), bool((tail.diff().dropna() <= 0).all())


def _mean_or_nan(values: list[float] | list[int]) -> float:
    return float(np.mean(values)) if len(values) else math.nan


@dataclass(frozen=True)
class ModelSweeps:
    """One model's sweeps, every calibration seed pooled (``coefficients.pool_seeds``).

    Attributes:
        prune: prune-kind drift (the findings read it at ``sparsity``, the main sparsity).
        magnitude: gaussian and prune_dir drift.
    """

    model: str
    n_blocks: int
    sparsity: float
    n_seeds: int
    prune: pd.DataFrame
    magnitude: pd.DataFrame


def findings(
    sweeps: ModelSweeps,
    coefficients: pd.DataFrame,
    transition: pd.DataFrame,
    gains: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row testing the paper's two claims on one model (see ``tables.absorption.FINDINGS``).

    Claim 1 (pruning scale): which blocks absorb (A_k > 0) and whether they are the later ones;
    whether drift falls with depth after its peak and the direction realigns (cos rising).
    Claim 2 (magnitude): whether small perturbations are amplified everywhere, and at which
    magnitude each block turns from amplifying to absorbing.
    """
    model, n_blocks, sparsity = sweeps.model, sweeps.n_blocks, sweeps.sparsity
    prune_drift, magnitude_drift, n_seeds = sweeps.prune, sweeps.magnitude, sweeps.n_seeds
    coef = coefficients.set_index("block")["coefficient"]
    absorbing = sorted(int(b) for b in coef.index[coef > 0])
    amplifying = sorted(int(b) for b in coef.index[coef <= 0])
    trends, monotone, cos_trends = [], [], []
    at_s = prune_drift[(prune_drift["kind"] == "prune") & np.isclose(prune_drift["magnitude"], sparsity)]
    for _, part in at_s[at_s["depth"] < n_blocks].groupby("inject_block"):
        by_depth = part.groupby("depth")[["rel_l2", "cos"]].mean()
        rho, mono = post_peak_trend(by_depth["rel_l2"])
        if not math.isnan(rho):
            trends.append(rho)
            monotone.append(mono)
            peak = by_depth["rel_l2"].idxmax()
            cos_tail = by_depth["cos"].loc[peak:]
            if cos_tail.nunique() > 1:
                depth = pd.Series(cos_tail.index, index=cos_tail.index, dtype="float64")
                cos_trends.append(float(cos_tail.corr(depth, method="spearman")))
    gauss = transition[transition["kind"] == "gaussian"]
    turning = gauss[gauss["direction"] == "amplify_to_absorb"]
    small = (
        float(magnitude_drift.loc[magnitude_drift["kind"] == "gaussian", "magnitude"].min())
        if len(gauss)
        else math.nan
    )
    eps_star = turning["eps_star"]
    blocks = gains[gains["block"] < n_blocks] if gains is not None else pd.DataFrame()
    amp = sorted(int(b) for b in blocks.loc[blocks["amplifies"], "block"]) if len(blocks) else []
    top = blocks.loc[blocks["local_gain"].idxmax()] if len(blocks) else None
    return pd.DataFrame(
        [
            {
                "model": model,
                "sparsity": float(sparsity),
                "n_blocks": n_blocks,
                "share_absorbing": len(absorbing) / len(coef),
                "first_absorbing_block": absorbing[0] if absorbing else -1,
                "absorbing_blocks": ",".join(map(str, absorbing)),
                "absorbing_mean_depth": _mean_or_nan(absorbing),
                "amplifying_mean_depth": _mean_or_nan(amplifying),
                "absorbing_are_later": bool(
                    absorbing and amplifying and np.mean(absorbing) > np.mean(amplifying)
                ),
                "drift_depth_spearman": _mean_or_nan(trends),
                "drift_monotone_share": _mean_or_nan(monotone),
                "cos_depth_spearman": _mean_or_nan(cos_trends),
                "small_eps": small,
                "small_eps_all_amplify": bool(len(gauss) and (gauss["ratio_small"] > 1).all()),
                "share_blocks_with_transition": float(gauss["eps_star"].notna().mean())
                if len(gauss)
                else math.nan,
                "median_eps_star": float(eps_star.median()) if len(eps_star) else math.nan,
                "n_seeds": int(n_seeds),
                "amplifying_blocks_local": ",".join(map(str, amp)),
                "n_amplifying_local": len(amp),
                "max_local_gain": float(top["local_gain"]) if top is not None else math.nan,
                "max_local_gain_block": int(top["block"]) if top is not None else -1,
            }
        ]
    )
