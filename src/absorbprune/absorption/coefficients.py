"""Absorption coefficients, ours and the paper's, and local gains (docs/methods.md 5.1, 5.2).

All functions take tidy drift tables (columns of ``absorption.sweeps.DRIFT_COLUMNS``; depth L =
after the final norm) and return tidy tables or arrays; nothing here runs a model.

* ``A_k(S) = ln(d_k / d_final)`` under the ``prune`` kind at sparsity S: > 0 when the network
  downstream of block k absorbs what pruning k injects, < 0 when it amplifies it.
* local gain ``g_j = d_j / d_{j-1}`` for j = k+1..L.
* the paper's ``r_l = E[R_L / R_l]`` under gaussian injection at a relative size eta, and under
  every other reading of it the sweep supports (``absorption.readings``, docs/methods.md 5.6).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from .kinds import kind_of
from .readings import CHOICES, READING_COLUMNS, column_of, reading_name

__all__ = [
    "absorption_coefficients",
    "block_gains",
    "endpoints",
    "local_gains",
    "paper_coefficient_table",
    "paper_coefficients",
    "pool_seeds",
    "reading_table",
]


def endpoints(drift: pd.DataFrame, n_blocks: int) -> pd.DataFrame:
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
    ends = endpoints(prune, n_blocks).sort_values("inject_block")
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
    drift: pd.DataFrame,
    eta: float,
    depth: str,
    n_blocks: int,
    expectation: str = "ratio",
    column: str = "rel_l2",
    kind: str = "gaussian",
) -> np.ndarray:
    """``r_l = E[R_L / R_l]`` per injection block l from the gaussian magnitude sweep at relative
    size ``eta``: the ratio of the drift at depth L (``last_block``: the last block's output;
    ``final_norm``: after the final norm) to the drift at the injection block, averaged over the
    direction seeds (each drift already a mean over the sweep set's tokens). ``expectation``:
    ``ratio`` (the mean of the per-seed ratios, as the description states) or ``means`` (the
    ratio of the seed-mean drifts). ``column`` and ``kind`` pick another reading of the drift and
    the injection (``absorption.readings``); the defaults are the description's.

    Raises:
        ValueError: no ``kind`` injection at ``eta`` for some block.
    """
    rows = drift[(drift["kind"] == kind) & np.isclose(drift["magnitude"], eta, rtol=1e-9, atol=0)]
    target_depth = n_blocks - 1 if depth == "last_block" else n_blocks
    out = np.empty(n_blocks)
    for block in range(n_blocks):
        mine = rows[rows["inject_block"] == block]
        at_l = mine[mine["depth"] == block].set_index("seed")[column]
        at_end = mine[mine["depth"] == target_depth].set_index("seed")[column]
        seeds = at_l.index.intersection(at_end.index)
        if seeds.empty:
            raise ValueError(f"no {kind} injection at eta={eta:g} into block {block} in the sweep")
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


def reading_table(drift: pd.DataFrame, model: str, seed: int, n_blocks: int) -> pd.DataFrame:
    """``r_l`` of every reading this sweep supports, per block (columns :data:`READING_COLUMNS`).

    A reading is supported when its kind ran at its eta and its drift column is measured (a
    ``rest`` measure of one-token sequences is not)."""
    rows = []
    for perturbation, first in itertools.product(CHOICES["perturbation"], CHOICES["first_token"]):
        kind = kind_of(perturbation, first)
        of_kind = drift[drift["kind"] == kind]
        for eta in sorted(of_kind["magnitude"].unique()):
            at = of_kind[np.isclose(of_kind["magnitude"], eta, rtol=1e-9, atol=0)]
            n = int(at["seed"].nunique())
            for measure, aggregation, end, expectation in itertools.product(
                CHOICES["measure"], CHOICES["aggregation"], CHOICES["end"], CHOICES["expectation"]
            ):
                column = column_of(measure, aggregation)
                if at[column].isna().any():
                    continue
                r = paper_coefficients(at, float(eta), end, n_blocks, expectation, column, kind)
                reading = dict(
                    perturbation=perturbation,
                    eta=float(eta),
                    first_token=first,
                    measure=measure,
                    aggregation=aggregation,
                    end=end,
                    expectation=expectation,
                )
                name = reading_name(reading)
                for block in range(n_blocks):
                    rows.append(
                        {
                            "model": model,
                            "seed": int(seed),
                            "reading": name,
                            **reading,
                            "block": block,
                            "r": float(r[block]),
                            "n_samples": n,
                        }
                    )
    return pd.DataFrame(rows, columns=READING_COLUMNS)
