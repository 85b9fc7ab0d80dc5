"""Calibration statistics: one dense pass, block by block (docs/methods.md section 2).

Per prunable linear: Wanda's input norms ``n_j = sqrt(mean_tokens x_j^2)`` and scores
``S_ij = |W_ij| n_j``; OWL's outlier shares; AlphaPruning's ``alpha_peak`` (weights only: fitted once
per model by ``alpha.weight_fits``, rule weight_stats, and copied into every seed's table).
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
from collections.abc import Mapping, Sequence

import pandas as pd
import torch
from tqdm import tqdm

from ..models.adapter import Adapter
from ..tables.calibration import layer_stats_schema, lod_column, outlier_column
from .alpha import AlphaFit
from .hooks import SquareSum

__all__ = [
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


@torch.no_grad()
def calibrate(
    adapter: Adapter,
    input_ids: torch.Tensor,
    batch_size: int,
    owl_m: Sequence[float],
    fits: Mapping[tuple[int, str], AlphaFit],
    model_key: str,
) -> tuple[pd.DataFrame, dict[str, torch.Tensor]]:
    """The dense calibration pass.

    Args:
        adapter: the model, on its device.
        input_ids: calibration sequences, int64 (N, T).
        batch_size: sequences per forward (memory only).
        owl_m: OWL thresholds M.
        fits: AlphaPruning's fit of every linear, (block, linear) -> fit: weights only, computed
            once per model (``alpha.weight_fits``), not per calibration set.
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
        block_fits = {name: fits[(block, name)] for name in linears}
        block_alpha = sum(f.alpha for f in block_fits.values()) / len(block_fits)
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
                {
                    "alpha_peak": block_fits[name].alpha,
                    "alpha_xmin": block_fits[name].xmin,
                    "alpha_ks": block_fits[name].ks,
                }
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
