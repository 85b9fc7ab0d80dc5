"""One cell's pruning: the sequential pass on its allocation, the achieved sparsity checked and
recorded (``pruning.records``), the pruned weights handed to evaluation."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch

from ..core.io import read_tensors
from ..models.adapter import Adapter
from ..plan.cell import Cell
from .records import PrunedCell, check_achieved, linears_table, pruned_weights
from .sequential import PruneSpec, prune_model

__all__ = ["prune_cell", "prune_cell_files"]


def prune_cell(
    adapter: Adapter,
    tokens: torch.Tensor,
    block_sparsity: Sequence[float],
    cell: Cell,
    spec: PruneSpec,
    device: torch.device,
) -> PrunedCell:
    """Prune ``cell`` of ``adapter``'s model in place, sequentially, check the achieved sparsity
    against the allocation, and return the per-linear table and the pruned weights."""
    rows = prune_model(adapter, tokens, block_sparsity, spec, device, cell.label())
    out_features = {
        (r["block"], r["linear"]): adapter.linears(r["block"])[r["linear"]].out_features for r in rows
    }
    check_achieved(rows, out_features, cell.label())
    return PrunedCell(linears_table(rows, cell), pruned_weights(adapter))


def prune_cell_files(
    adapter: Adapter,
    cell: Cell,
    allocation: str,
    calibration_tokens: str,
    spec: PruneSpec,
    device: torch.device,
) -> PrunedCell:
    """Prune one cell of ``adapter``'s model in place from its files: the block sparsities of its
    allocation (rule allocate) and the calibration sequences (rule calibration_tokens)."""
    sparsity = pd.read_parquet(allocation).sort_values("block")["block_sparsity"].tolist()
    tokens = read_tensors(calibration_tokens, ("input_ids",))["input_ids"]
    return prune_cell(adapter, tokens, sparsity, cell, spec, device)
