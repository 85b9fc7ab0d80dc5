"""Absorption coefficients, local gains, transitions and the paper's two findings (docs/methods.md section 5).

All functions take tidy drift tables (columns of ``sweeps.DRIFT_COLUMNS``; depth L = after the
final norm) and return tidy tables; nothing here runs a model.

* ``A_k(S) = ln(d_k / d_final)`` under the ``prune`` kind at sparsity S: > 0 when the network
  downstream of block k absorbs what pruning k injects, < 0 when it amplifies it.
* local gain ``g_j = d_j / d_{j-1}`` for j = k+1..L.
* transition magnitude ``eps*`` of block k: where ``d_final / d_k`` (mean over seeds) first crosses
  1 going up the magnitude grid, log-linearly interpolated between grid points; the paper's claim
  is the ``amplify_to_absorb`` direction, but the opposite crossing is reported too.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = [
    "absorption_coefficients",
    "block_gains",
    "findings",
    "local_gains",
    "paper_coefficient_table",
    "paper_coefficients",
    "pool_seeds",
    "post_peak_trend",
    "transitions",
]


def _endpoints(drift: pd.DataFrame, n_blocks: int) -> pd.DataFrame:
    """Per (kind, inject_block, magnitude): mean over seeds of d_k (depth k) and d_final (depth L)."""
    inject = drift[drift["depth"] == drift["inject_block"]]
    final = drift[drift["depth"] == n_blocks]
    keys = ["kind", "inject_block", "magnitude"]
    d_k = inject.groupby(keys)["rel_l2"].mean().rename("d_inject")
    d_f = final.groupby(keys)["rel_l2"].mean().rename("d_final")
    return pd.concat([d_k, d_f], axis=1).reset_index()


def absorption_coefficients(drift: pd.DataFrame, n_blocks: int, model: str, sparsity: float) -> pd.DataFrame:
    """``A_k`` per block from the ``prune`` drift at one sparsity.

    Returns:
        Columns model, sparsity, block, coefficient, d_inject, d_final. A block whose pruning
        changes nothing (d_inject = 0) gets a NaN coefficient.
    """
    prune = drift[(drift["kind"] == "prune") & np.isclose(drift["magnitude"], sparsity)]
    ends = _endpoints(prune, n_blocks).sort_values("inject_block")
    if sorted(ends["inject_block"]) != list(range(n_blocks)):
        raise ValueError(f"prune drift at sparsity {sparsity} does not cover every block of {model!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        coef = np.where(ends["d_inject"] > 0, np.log(ends["d_inject"] / ends["d_final"]), np.nan)
    return pd.DataFrame(
        {
            "model": model,
            "sparsity": float(sparsity),
            "block": ends["inject_block"].astype("int64").to_numpy(),
            "coefficient": coef,
            "d_inject": ends["d_inject"].to_numpy(),
            "d_final": ends["d_final"].to_numpy(),
        }
    )


def local_gains(drift: pd.DataFrame, model: str, sparsity: float) -> pd.DataFrame:
    """``g_j = d_j / d_{j-1}`` for every injection block and depth j > k (prune kind, one sparsity)."""
    prune = drift[(drift["kind"] == "prune") & np.isclose(drift["magnitude"], sparsity)]
    rows = []
    for k, part in prune.groupby("inject_block"):
        d = part.groupby("depth")["rel_l2"].mean().sort_index()
        for (_, prev), (j, cur) in zip(d.iloc[:-1].items(), d.iloc[1:].items(), strict=True):
            rows.append(
                {
                    "model": model,
                    "sparsity": float(sparsity),
                    "inject_block": int(k),
                    "depth": int(j),
                    "gain": cur / prev if prev > 0 else math.nan,
                }
            )
    return pd.DataFrame(rows, columns=["model", "sparsity", "inject_block", "depth", "gain"])


def block_gains(gains: pd.DataFrame, model: str, sparsity: float) -> pd.DataFrame:
    """Per block j: the local gain ``g_j`` averaged over every upstream injection k < j, first within
    each calibration seed and then over seeds (columns of ``tables.BLOCK_GAINS``). A block with
    mean gain > 1 amplifies, at pruning scale, what reaches it."""
    per_seed = gains.groupby(["depth", "seed"])["gain"].agg(["mean", "count"]).reset_index()
    rows = []
    for j, part in per_seed.groupby("depth"):
        n = len(part)
        mean = float(part["mean"].mean())
        se = float(part["mean"].std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
        rows.append(
            {
                "model": model,
                "sparsity": float(sparsity),
                "block": int(j),
                "local_gain": mean,
                "local_gain_se": se,
                "n_injections": int(part["count"].max()),
                "amplifies": bool(mean > 1),
            }
        )
    return pd.DataFrame(
        rows,
        columns=["model", "sparsity", "block", "local_gain", "local_gain_se", "n_injections", "amplifies"],
    )


def pool_seeds(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Several calibration seeds' drift tables as one: the direction seed made unique per
    calibration seed, so every (calibration seed, direction seed) pair is one sample of the means."""
    out = pd.concat(frames, ignore_index=True)
    out["seed"] = out["calibration_seed"] * 1_000_000 + out["seed"]
    return out


def paper_coefficients(
    drift: pd.DataFrame, eta: float, depth: str, n_blocks: int, expectation: str = "ratio"
) -> np.ndarray:
    """``r_l = E[R_L / R_l]`` per injection block l from the gaussian magnitude sweep at relative
    size ``eta``: the ratio of the drift at depth L (``last_block``: the last block's output;
    ``final_norm``: after the final norm) to the drift at the injection block, averaged over the
    direction seeds (each drift already a mean over the sweep set's tokens). ``expectation``:
    ``ratio`` (the mean of the per-seed ratios, as the description states) or ``means`` (the
    ratio of the seed-mean drifts).

    Raises:
        ValueError: no gaussian injection at ``eta`` for some block.
    """
    rows = drift[(drift["kind"] == "gaussian") & np.isclose(drift["magnitude"], eta, rtol=1e-9, atol=0)]
    target_depth = n_blocks - 1 if depth == "last_block" else n_blocks
    out = np.empty(n_blocks)
    for block in range(n_blocks):
        mine = rows[rows["inject_block"] == block]
        at_l = mine[mine["depth"] == block].set_index("seed")["rel_l2"]
        at_end = mine[mine["depth"] == target_depth].set_index("seed")["rel_l2"]
        seeds = at_l.index.intersection(at_end.index)
        if seeds.empty:
            raise ValueError(f"no gaussian injection at eta={eta:g} into block {block} in the sweep")
        if expectation == "ratio":
            out[block] = float((at_end[seeds] / at_l[seeds]).mean())
        elif expectation == "means":
            out[block] = float(at_end[seeds].mean() / at_l[seeds].mean())
        else:
            raise ValueError(f"unknown expectation {expectation!r}; valid: ratio, means")
    return out


def paper_coefficient_table(drift: pd.DataFrame, model: str, seed: int, n_blocks: int) -> pd.DataFrame:
    """The paper's ``r_l = E[R_L / R_l]`` (docs/methods.md 5.2) at every gaussian magnitude of the
    sweep, with both readings of L (columns of ``tables.PAPER_COEFFICIENTS``)."""
    gauss = drift[drift["kind"] == "gaussian"]
    rows = []
    for eta in sorted(gauss["magnitude"].unique()):
        r = {
            f"r_{depth}{suffix}": paper_coefficients(gauss, eta, depth, n_blocks, how)
            for how, suffix in (("ratio", ""), ("means", "_means"))
            for depth in ("last_block", "final_norm")
        }
        n = gauss[np.isclose(gauss["magnitude"], eta, rtol=1e-9, atol=0)]["seed"].nunique()
        for block in range(n_blocks):
            rows.append(
                {
                    "model": model,
                    "seed": int(seed),
                    "eta": float(eta),
                    "block": block,
                    **{k: float(v[block]) for k, v in r.items()},
                    "n_samples": int(n),
                }
            )
    columns = ["model", "seed", "eta", "block", "r_last_block", "r_final_norm"]
    columns += ["r_last_block_means", "r_final_norm_means", "n_samples"]
    return pd.DataFrame(rows, columns=columns)


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
    ends = _endpoints(drift[drift["kind"].isin(["gaussian", "prune_dir"])], n_blocks)
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


def findings(
    coefficients: pd.DataFrame,
    prune_drift: pd.DataFrame,
    transition: pd.DataFrame,
    magnitude_drift: pd.DataFrame,
    n_blocks: int,
    model: str,
    sparsity: float,
    gains: pd.DataFrame | None = None,
    n_seeds: int = 1,
) -> pd.DataFrame:
    """One row testing the paper's two claims on one model (see ``tables.FINDINGS``).

    Claim 1 (pruning scale): which blocks absorb (A_k > 0) and whether they are the later ones;
    whether drift falls with depth after its peak and the direction realigns (cos rising).
    Claim 2 (magnitude): whether small perturbations are amplified everywhere, and at which
    magnitude each block turns from amplifying to absorbing.
    """
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
