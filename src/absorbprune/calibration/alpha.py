"""AlphaPruning's heavy-tail exponent ``alpha_peak`` of a weight matrix (docs/methods.md 2.3):
weights only, no calibration data."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from tqdm import tqdm

if TYPE_CHECKING:
    import pandas as pd

    from ..models.adapter import Adapter

log = logging.getLogger(__name__)

__all__ = ["AlphaFit", "alpha_peak", "alpha_peak_from_eigs", "fits_from_table", "weight_fits"]


@dataclass(frozen=True)
class AlphaFit:
    alpha: float  # power-law exponent of the eigenvalue density tail
    xmin: float  # chosen lower cut-off (an eigenvalue)
    ks: float  # Kolmogorov-Smirnov distance of that fit


def alpha_peak_from_eigs(eigs: torch.Tensor, bins: int = 100, window: str = "reference") -> AlphaFit:
    """AlphaPruning's ``xmin_peak`` Hill fit on eigenvalues (any order), in float64.

    For each candidate ``xmin = lam_i`` (ascending, the largest excluded), with ``n = N - i``:
    ``alpha_i = 1 + n / (sum_{j>=i} ln lam_j - n ln lam_i)`` and, when ``alpha_i > 1``,
    ``D_i = max_k |1 - (lam_{i+k}/lam_i)^(1 - alpha_i) - k/n|`` (k = 0..n-1); other entries keep
    ``alpha = 0, D = 1`` as in the reference. Candidates are restricted to a window around the
    peak of a ``bins``-bin histogram of ``log10 lam`` (peak bin's left edge ``p``): upper bound
    ``1.5 p``; lower bound ``log10(0.95 p)`` with ``window="reference"`` (the reference compares
    an eigenvalue with a log10 value, a quirk we keep for fidelity) or ``0.95 p`` with
    ``window="linear"``. The fit is the first argmin of D.

    Exact zeros are dropped (their logarithm is undefined).
    """
    lam = torch.sort(eigs.double().flatten()).values
    lam = lam[lam > 0]
    n_eigs = lam.numel()
    if n_eigs < 2:
        raise ValueError(f"alpha_peak needs at least 2 positive eigenvalues, got {n_eigs}")
    log_lam = torch.log(lam)
    log10_lam = torch.log10(lam)
    lo, hi = float(log10_lam.min()), float(log10_lam.max())
    counts = torch.histc(log10_lam, bins=bins, min=lo, max=hi)
    edges = torch.linspace(lo, hi, bins + 1, dtype=torch.float64)
    peak = 10 ** float(edges[int(torch.argmax(counts))])
    if window == "reference":
        lower = math.log10(0.95 * peak)
    elif window == "linear":
        lower = 0.95 * peak
    else:
        raise ValueError(f"unknown alpha window {window!r}; valid: reference, linear")
    upper = 1.5 * peak

    alphas = torch.zeros(n_eigs - 1, dtype=torch.float64)
    ds = torch.ones(n_eigs - 1, dtype=torch.float64)
    tail_log_sum = torch.flip(torch.cumsum(torch.flip(log_lam, [0]), 0), [0])  # sum_{j>=i} ln lam_j
    for i in range(n_eigs - 1):
        xmin = float(lam[i])
        if xmin < lower:
            continue
        if xmin > upper:
            break
        n = n_eigs - i
        alpha = 1 + n / (float(tail_log_sum[i]) - n * float(log_lam[i]))
        alphas[i] = alpha
        if alpha > 1:
            k = torch.arange(n, dtype=torch.float64)
            ds[i] = torch.max(torch.abs(1 - (lam[i:] / xmin) ** (1 - alpha) - k / n))
    best = int(torch.argmin(ds))
    return AlphaFit(alpha=float(alphas[best]), xmin=float(lam[best]), ks=float(ds[best]))


def alpha_peak(weight: torch.Tensor, bins: int = 100, window: str = "reference") -> AlphaFit:
    """``alpha_peak`` of a weight matrix: eigenvalues of W^T W = squared singular values (fp32 SVD)."""
    eigs = torch.linalg.svdvals(weight.detach().float()) ** 2
    return alpha_peak_from_eigs(eigs.cpu(), bins=bins, window=window)


@torch.no_grad()
def weight_fits(adapter: Adapter, window: str, model_key: str) -> pd.DataFrame:
    """``alpha_peak`` of every prunable linear (columns of ``tables.calibration.WEIGHT_STATS``):
    the model's weights only, so once per model, whatever the calibration sets."""
    import pandas as pd

    rows = []
    for block in tqdm(range(adapter.n_blocks), desc=f"alpha {model_key}", mininterval=5):
        for name, lin in adapter.linears(block).items():
            fit = alpha_peak(lin.weight, window=window)
            rows.append(
                {
                    "model": model_key,
                    "block": block,
                    "linear": name,
                    "alpha_peak": fit.alpha,
                    "alpha_xmin": fit.xmin,
                    "alpha_ks": fit.ks,
                }
            )
    return pd.DataFrame(rows, columns=["model", "block", "linear", "alpha_peak", "alpha_xmin", "alpha_ks"])


def fits_from_table(table: pd.DataFrame) -> Mapping[tuple[int, str], AlphaFit]:
    """(block, linear) -> fit, from a ``weight_fits`` table."""
    return {
        (int(r.block), str(r.linear)): AlphaFit(float(r.alpha_peak), float(r.alpha_xmin), float(r.alpha_ks))
        for r in table.itertuples()
    }
