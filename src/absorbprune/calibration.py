"""Calibration statistics: one dense pass, block by block (docs/methods.md section 2).

Per prunable linear: Wanda's input norms ``n_j = sqrt(mean_tokens x_j^2)`` and scores
``S_ij = |W_ij| n_j``; OWL's outlier shares; AlphaPruning's ``alpha_peak`` (weights only).
Per block: OWL's LOD, the mean alpha, DLP's score ``mean(A_l)``.

Normalisation note: Wanda's ``scaler_row`` divides the sum of squares by the number of
*sequences*; we divide by the number of *tokens* (a root mean square). The two differ by the
constant sqrt(seqlen) for every channel of every linear, which cancels in every use: Wanda's
per-row ranking, OWL's ``> M x mean`` test and DLP's ratio of block means.

Only one block's activations are held at a time: the inputs of block l (all calibration
sequences) are replaced by its outputs before block l+1 runs.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from tqdm import tqdm

from .families import Adapter
from .tables import layer_stats_schema, lod_column, outlier_column

__all__ = [
    "AlphaFit",
    "SquareSum",
    "alpha_peak",
    "alpha_peak_from_eigs",
    "block_lod",
    "calibrate",
    "outlier_ratio",
    "wanda_input_norms",
    "wanda_scores",
]

log = logging.getLogger(__name__)


def wanda_input_norms(sq_sum: torch.Tensor, n_tokens: int) -> torch.Tensor:
    """``n_j = sqrt(sq_sum_j / n_tokens)`` from the fp32 sum over tokens of ``x_j^2``, shape (C_in,)."""
    if n_tokens <= 0:
        raise ValueError("no calibration tokens reached this linear")
    return torch.sqrt(sq_sum.float() / n_tokens)


def wanda_scores(weight: torch.Tensor, norms: torch.Tensor) -> torch.Tensor:
    """``S_ij = |W_ij| * n_j``: weight (C_out, C_in), norms (C_in,) -> scores (C_out, C_in), fp32."""
    return weight.detach().float().abs() * norms.float()[None, :]


def outlier_ratio(scores: torch.Tensor, threshold: float) -> float:
    """Share of entries of ``scores`` strictly above ``threshold``."""
    return float((scores > threshold).sum()) / scores.numel()


def block_lod(scores: Sequence[torch.Tensor], m: float) -> float:
    """OWL's layerwise outlier distribution: share of the block's concatenated scores > M x their mean."""
    total = sum(s.numel() for s in scores)
    mean = sum(float(s.double().sum()) for s in scores) / total
    return sum(float((s > m * mean).sum()) for s in scores) / total


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


class SquareSum:
    """Forward pre-hook accumulating sum over tokens of x_j^2 (fp32) for one linear's input."""

    def __init__(self, in_features: int, device: torch.device) -> None:
        self.sq_sum = torch.zeros(in_features, dtype=torch.float32, device=device)
        self.n_tokens = 0

    def __call__(self, module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        x = args[0].detach().float().reshape(-1, args[0].shape[-1])  # (tokens, C_in)
        self.sq_sum += x.pow(2).sum(dim=0)
        self.n_tokens += x.shape[0]


@torch.no_grad()
def calibrate(
    adapter: Adapter,
    input_ids: torch.Tensor,
    batch_size: int,
    owl_m: Sequence[float],
    alpha_window: str,
    model_key: str,
) -> tuple[pd.DataFrame, dict[str, torch.Tensor]]:
    """The dense calibration pass.

    Args:
        adapter: the model, on its device.
        input_ids: calibration sequences, int64 (N, T).
        batch_size: sequences per forward (memory only).
        owl_m: OWL thresholds M.
        alpha_window: see :func:`alpha_peak_from_eigs`.
        model_key: config key, written in the table.

    Returns:
        The layer-stats table (columns of :func:`tables.layer_stats_schema`) and the per-channel
        input norms ``{"<block>.<linear>": (C_in,) fp32}``.
    """
    device = next(adapter.model.parameters()).device
    hidden = [adapter.embed(batch.to(device)) for batch in input_ids.split(batch_size)]  # [(B, T, C)]
    rows: list[dict[str, object]] = []
    norms_out: dict[str, torch.Tensor] = {}
    for block in tqdm(range(adapter.n_blocks), desc=f"calibrate {model_key}", mininterval=5):
        linears = adapter.linears(block)
        accs = {name: SquareSum(lin.in_features, device) for name, lin in linears.items()}
        handles = [lin.register_forward_pre_hook(accs[name]) for name, lin in linears.items()]
        try:
            hidden = [adapter.run_block(block, h) for h in hidden]  # now the block's outputs
        finally:
            for handle in handles:
                handle.remove()
        for h in hidden:
            if not torch.isfinite(h).all():
                raise FloatingPointError(f"model {model_key!r}: non-finite activations after block {block}")

        scores: dict[str, torch.Tensor] = {}
        for name, lin in linears.items():
            norms = wanda_input_norms(accs[name].sq_sum, accs[name].n_tokens)
            norms_out[f"{block}.{name}"] = norms.cpu()
            scores[name] = wanda_scores(lin.weight, norms)
        total = sum(s.numel() for s in scores.values())
        block_mean = sum(float(s.double().sum()) for s in scores.values()) / total
        lods = {m: block_lod(list(scores.values()), m) for m in owl_m}
        fits = {name: alpha_peak(lin.weight, window=alpha_window) for name, lin in linears.items()}
        block_alpha = sum(f.alpha for f in fits.values()) / len(fits)
        for name, lin in linears.items():
            s, norms = scores[name], norms_out[f"{block}.{name}"]
            row: dict[str, object] = {
                "model": model_key,
                "block": block,
                "linear": name,
                "in_features": lin.in_features,
                "out_features": lin.out_features,
                "params": lin.weight.numel(),
                "n_tokens": accs[name].n_tokens,
                "input_norm_mean": float(norms.mean()),
                "input_norm_min": float(norms.min()),
                "input_norm_max": float(norms.max()),
                "wanda_score_mean": float(s.double().mean()),
                "wanda_score_sum": float(s.double().sum()),
            }
            row.update({outlier_column(m): outlier_ratio(s, m * block_mean) for m in owl_m})
            row.update(
                {"alpha_peak": fits[name].alpha, "alpha_xmin": fits[name].xmin, "alpha_ks": fits[name].ks}
            )
            row.update({lod_column(m): lods[m] for m in owl_m})
            row.update({"block_alpha": block_alpha, "block_dlp_score": block_mean, "block_params": total})
            rows.append(row)
        log.info(
            "block %d: LOD %s, alpha %.3f, DLP score %.4g",
            block,
            {m: round(v, 5) for m, v in lods.items()},
            block_alpha,
            block_mean,
        )
    table = pd.DataFrame(rows, columns=layer_stats_schema(owl_m).names)
    return table, norms_out
