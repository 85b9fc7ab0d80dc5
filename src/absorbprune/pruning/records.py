"""What a pruned cell is and writes (docs/methods.md 4.6): its achieved sparsity per linear, checked
against its allocation, and its pruned weights; the dense reference's zeros. No pruning algorithm
here: the dense reference's job depends on this module, not on the pruners."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from ..core.io import write_parquet, write_safetensors
from ..models.adapter import Adapter
from ..plan.cell import Cell
from ..tables.cells import PRUNED_LINEARS

__all__ = [
    "PrunedCell",
    "check_achieved",
    "dense_cell",
    "dense_rows",
    "linears_table",
    "load_pruned_weights",
    "pruned_weights",
]


def check_achieved(
    rows: list[dict[str, object]], out_features: dict[tuple[int, str], int], cell: str
) -> None:
    """A cell's achieved global sparsity must match its allocation's to one weight per row.

    Raises:
        ValueError: naming the cell, both sparsities and the tolerance.
    """
    zeros = sum(int(r["zeros"]) for r in rows)
    expected = sum(float(r["target"]) * int(r["params"]) for r in rows)
    total = sum(int(r["params"]) for r in rows)
    tolerance = sum(out_features.values())  # one weight per output row of every linear
    if abs(zeros - expected) > tolerance:
        raise ValueError(
            f"cell {cell}: achieved global sparsity {zeros / total:.6f} differs from the allocation's "
            f"{expected / total:.6f} by {abs(zeros - expected):.0f} weights (> one per row: {tolerance})"
        )


def dense_rows(adapter: Adapter) -> list[dict[str, object]]:
    """The unpruned model's rows (the dense reference): existing zeros, target 0."""
    return [
        {
            "block": b,
            "linear": n,
            "params": lin.weight.numel(),
            "zeros": int((lin.weight == 0).sum()),
            "target": 0.0,
        }
        for b in range(adapter.n_blocks)
        for n, lin in adapter.linears(b).items()
    ]


def linears_table(rows: list[dict[str, object]], cell: Cell) -> pd.DataFrame:
    """Achieved sparsity per linear of one cell (columns of ``tables.cells.PRUNED_LINEARS``)."""
    columns = ["block", "linear", "params", "zeros", "target"]
    table = pd.DataFrame(rows, columns=columns).rename(columns={"target": "target_sparsity"})
    keys = cell.keys()
    for col, value in keys.items():
        table[col] = value
    table["achieved_sparsity"] = table["zeros"] / table["params"]
    return table[[*keys, "block", "linear", "params", "zeros", "target_sparsity", "achieved_sparsity"]]


def pruned_weights(adapter: Adapter) -> dict[str, torch.Tensor]:
    """Every prunable linear's weight, keyed ``"<block>.<linear>"`` (a kept weights file's keys)."""
    return {f"{b}.{n}": lin.weight for b in range(adapter.n_blocks) for n, lin in adapter.linears(b).items()}


@torch.no_grad()
def load_pruned_weights(adapter: Adapter, weights: dict[str, torch.Tensor]) -> None:
    """Copy a cell's pruned linear weights (``"<block>.<linear>"``, as ``pruning.keep_weights``
    keeps them in ``weights.safetensors``) into the dense model, in place.

    Raises:
        KeyError: a prunable linear missing from ``weights`` (a stale or foreign file).
    """
    for b in range(adapter.n_blocks):
        for name, lin in adapter.linears(b).items():
            key = f"{b}.{name}"
            if key not in weights:
                raise KeyError(f"pruned weights have no {key!r}")
            lin.weight.copy_(weights[key].to(lin.weight.device, lin.weight.dtype))


@dataclass
class PrunedCell:
    """What pruning hands to evaluation and writes: the per-linear zeros, and the pruned weights
    (``None`` for the dense reference)."""

    linears: pd.DataFrame
    weights: dict[str, torch.Tensor] | None

    @classmethod
    def failed(cls, cell: Cell) -> PrunedCell:
        """A cell whose pruning or measurement failed numerically: no linear is recorded."""
        return cls(linears_table([], cell), None)

    def check_zeros(self, linears_file: str, exact: bool) -> None:
        """This pruning's zeros per linear against a cell's recorded ones (a cell pruned again).

        Raises:
            RuntimeError: they differ and ``exact`` (the CPU pass is deterministic, so a difference
                there is a bug or a stale file; a GPU's kernels are not bit-reproducible).
        """
        recorded = pd.read_parquet(linears_file)["zeros"].tolist()
        if exact and self.linears["zeros"].tolist() != recorded:
            raise RuntimeError(f"pruned again, the zeros per linear differ from {linears_file}")

    def write_linears(self, path: str, provenance: dict[str, Any]) -> None:
        write_parquet(self.linears, path, PRUNED_LINEARS, provenance)

    def write_weights(self, path: str, provenance: dict[str, Any]) -> None:
        if self.weights is None:
            raise ValueError("the dense reference has no pruned weights to keep")
        write_safetensors(self.weights, path, provenance)


def dense_cell(adapter: Adapter, cell: Cell) -> PrunedCell:
    """The dense reference: its existing zeros per linear, nothing pruned."""
    return PrunedCell(linears_table(dense_rows(adapter), cell), None)
