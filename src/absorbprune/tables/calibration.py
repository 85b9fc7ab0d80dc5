"""The calibration statistics table (rules/calibration.smk), one row per prunable linear."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

__all__ = ["WEIGHT_STATS", "layer_stats_schema", "lod_column", "outlier_column"]


def outlier_column(m: float) -> str:
    """Column name of the per-linear OWL outlier share at threshold M (``3`` -> ``outlier_ratio_m3``)."""
    return f"outlier_ratio_m{m:g}".replace(".", "p")


def lod_column(m: float) -> str:
    """Column name of the block's OWL layerwise outlier distribution at threshold M."""
    return f"block_lod_m{m:g}".replace(".", "p")


def layer_stats_schema(owl_m: Sequence[float]) -> pa.Schema:
    """``results/calibration/{model}/layer_stats.parquet``: one row per prunable linear."""
    fields = [
        ("model", pa.string()),  # config model key
        ("block", pa.int64()),  # 0-based decoder block index
        ("linear", pa.string()),  # name inside the block, e.g. self_attn.q_proj
        ("in_features", pa.int64()),  # C_in
        ("out_features", pa.int64()),  # C_out
        ("params", pa.int64()),  # C_in x C_out (bias excluded: never pruned)
        ("n_tokens", pa.int64()),  # calibration tokens seen by this linear
        ("input_norm_mean", pa.float64()),  # mean_j n_j, n_j = sqrt(mean_tokens x_j^2)  (Wanda)
        ("input_norm_min", pa.float64()),
        ("input_norm_max", pa.float64()),
        ("wanda_score_mean", pa.float64()),  # mean_ij |W_ij| n_j
        ("wanda_score_sum", pa.float64()),  # sum_ij |W_ij| n_j (block means are built from these)
    ]
    # share of this linear's scores above M x (block mean score); params-weighted mean over the
    # block's linears = block_lod_m{M}
    fields += [(outlier_column(m), pa.float64()) for m in owl_m]
    fields += [
        ("alpha_peak", pa.float64()),  # AlphaPruning heavy-tail exponent of W (weights only)
        ("alpha_xmin", pa.float64()),  # the chosen xmin (eigenvalue of W^T W)
        ("alpha_ks", pa.float64()),  # KS distance of the chosen fit
    ]
    # block-level, repeated on every row of the block
    fields += [(lod_column(m), pa.float64()) for m in owl_m]  # OWL LOD_l at threshold M
    fields += [
        ("block_alpha", pa.float64()),  # mean alpha_peak of the block's linears (AlphaPruning)
        ("block_dlp_score", pa.float64()),  # mean Wanda score of the block, mean(A_l) (DLP)
        ("block_params", pa.int64()),  # prunable parameters of the block
    ]
    return pa.schema(fields)


# ``results/calibration/{model}/weight_stats.parquet``: statistics of the weights alone (no
# calibration data), one row per prunable linear, computed once per model.
WEIGHT_STATS = pa.schema(
    [
        ("model", pa.string()),
        ("block", pa.int64()),
        ("linear", pa.string()),
        ("alpha_peak", pa.float64()),  # AlphaPruning heavy-tail exponent of W
        ("alpha_xmin", pa.float64()),  # the chosen xmin (eigenvalue of W^T W)
        ("alpha_ks", pa.float64()),  # KS distance of the chosen fit
    ]
)
