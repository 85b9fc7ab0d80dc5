"""The allocation table (rules/allocation.smk): one row per block of one cell's allocation."""

from __future__ import annotations

import pyarrow as pa

__all__ = ["ALLOCATION"]


ALLOCATION = pa.schema(
    [
        ("model", pa.string()),
        ("pruner", pa.string()),  # per-pruner hyperparameters make an allocation the pruner's
        ("allocation", pa.string()),  # uniform | owl | alphapruning | atp | dlp
        ("allocation_variant", pa.string()),  # the allocation plus swept hyperparameters, e.g. owl-lambda0.05
        ("correction", pa.string()),  # none | absorption | paper | depth | shuffled | flipped
        ("correction_variant", pa.string()),
        ("sparsity", pa.float64()),  # the target S
        ("seed", pa.int64()),  # calibration seed
        ("block", pa.int64()),  # 0-based
        ("block_sparsity", pa.float64()),  # sparsity every linear of the block gets
        ("block_params", pa.int64()),  # prunable parameters of the block
        (
            "base_sparsity",
            pa.float64(),
        ),  # the base allocation before the correction (= block_sparsity if none)
        ("shift", pa.float64()),  # the correction's or control's delta_l before clipping (0 if none)
        ("mean_kept", pa.string()),  # unweighted | weighted | both: the mean held exactly at S
        ("achieved_mean_unweighted", pa.float64()),
        ("achieved_mean_weighted", pa.float64()),  # = the global sparsity of the prunable linears
        ("hyperparameters", pa.string()),  # the tunable (swept) ones, e.g. "gamma=0.05,lambda=0.08"
    ]
)
