"""Pruners (docs/methods.md section 4): masks and SparseGPT as pure functions, and the sequential pass.

A mask is a bool tensor shaped like the weight, ``True`` where the weight is pruned (set to 0).
``nm = (n, m)`` selects N:M structure: in every group of m consecutive inputs of a row, the n
lowest-scoring weights are pruned (the sparsity argument is then ignored: it is n / m).

The model pass is sequential, as the reference's ``prune_*``: block l is calibrated on the outputs
of the already pruned blocks < l. It streams: with a GPU, only the current block and the
activations sit on it while the other blocks stay on the CPU, so a model larger than the GPU can
be pruned.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from .calibration import SquareSum
from .families import Adapter
from .provenance import read_tensors, write_parquet, write_safetensors
from .registry.pruners import PRUNERS, STRUCTURES
from .tables import PRUNED_LINEARS, cell_keys

__all__ = [
    "MAGNITUDE",
    "SPARSEGPT",
    "WANDA",
    "Hessian",
    "PrunedCell",
    "Pruner",
    "apply_masks",
    "check_achieved",
    "dense_cell",
    "dense_rows",
    "linears_table",
    "magnitude_mask",
    "nm_mask",
    "parse_structure",
    "prune_cell",
    "prune_cell_files",
    "prune_model",
    "pruned_copy",
    "pruned_weights",
    "sparsegpt_prune",
    "wanda_mask",
]


def _check_sparsity(sparsity: float) -> None:
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")


def parse_structure(structure: str) -> tuple[int, int] | None:
    """``unstructured`` -> None; ``2:4`` -> (2, 4) (a registered structure, or any valid N:M)."""
    if structure in STRUCTURES:
        return STRUCTURES[structure].meta["nm"]
    try:
        n, m = (int(x) for x in structure.split(":"))
    except ValueError:
        raise ValueError(f"structure {structure!r} is neither 'unstructured' nor 'N:M'") from None
    if not 0 < n < m:
        raise ValueError(f"N:M structure needs 0 < N < M, got {structure!r}")
    return n, m


def nm_mask(scores: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """Prune the n lowest scores in every group of m consecutive inputs of each row: (C_out, C_in)."""
    c_out, c_in = scores.shape
    if c_in % m:
        raise ValueError(f"N:M {n}:{m} needs C_in divisible by {m}, got {c_in}")
    groups = scores.reshape(c_out, c_in // m, m)
    idx = torch.sort(groups, dim=-1, stable=True).indices[..., :n]
    mask = torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, idx, True)
    return mask.reshape(c_out, c_in)


def wanda_mask(
    weight: torch.Tensor, norms: torch.Tensor, sparsity: float, nm: tuple[int, int] | None = None
) -> torch.Tensor:
    """Wanda: per output row, prune the ``floor(C_in * s)`` smallest ``|W_ij| * n_j``.

    Args:
        weight: (C_out, C_in).
        norms: per-input-channel norms ``n_j``, (C_in,).
        sparsity: share of each row to prune.

    Returns:
        Bool mask (C_out, C_in); ties broken by a stable sort (lower column index pruned first),
        as the reference's ``torch.sort(..., stable=True)``.
    """
    scores = weight.detach().float().abs() * norms.to(weight.device).float()[None, :]
    if nm is not None:
        return nm_mask(scores, *nm)
    _check_sparsity(sparsity)
    k = math.floor(weight.shape[1] * sparsity)
    mask = torch.zeros_like(scores, dtype=torch.bool)
    if k:
        idx = torch.sort(scores, dim=1, stable=True).indices[:, :k]  # (C_out, k)
        mask.scatter_(1, idx, True)
    return mask


def magnitude_mask(weight: torch.Tensor, sparsity: float, nm: tuple[int, int] | None = None) -> torch.Tensor:
    """Magnitude: one threshold per matrix, prune exactly the ``floor(s * numel)`` smallest ``|W|``."""
    if nm is not None:
        return nm_mask(weight.detach().float().abs(), *nm)
    _check_sparsity(sparsity)
    k = math.floor(weight.numel() * sparsity)
    mask = torch.zeros(weight.numel(), dtype=torch.bool, device=weight.device)
    if k:
        idx = torch.sort(weight.detach().float().abs().flatten(), stable=True).indices[:k]
        mask[idx] = True
    return mask.view_as(weight)


@torch.no_grad()
def apply_masks(linears: dict[str, nn.Linear], masks: dict[str, torch.Tensor]) -> None:
    """Zero the masked weights of ``linears`` in place."""
    for name, mask in masks.items():
        linears[name].weight.masked_fill_(mask, 0)


def pruned_copy(block: nn.Module, masks: dict[str, torch.Tensor]) -> nn.Module:
    """A deep copy of ``block`` with ``masks`` (keyed by linear name inside the block) applied."""
    clone = copy.deepcopy(block)
    modules = dict(clone.named_modules())
    apply_masks({name: modules[name] for name in masks}, masks)
    return clone


@torch.no_grad()
def sparsegpt_prune(
    weight: torch.Tensor,
    hessian: torch.Tensor,
    sparsity: float,
    nm: tuple[int, int] | None = None,
    blocksize: int = 128,
    percdamp: float = 0.01,
) -> tuple[torch.Tensor, torch.Tensor]:
    """SparseGPT: prune and reconstruct one linear from its input Hessian (fp32 throughout).

    ``H = (2/N) sum x x^T`` (C_in, C_in). Dead inputs (diag 0) get ``H_ii = 1`` and zero weights;
    damping ``H += percdamp * mean(diag H) I``; ``Hinv`` = upper Cholesky factor of ``H^-1``.
    Columns go in blocks of ``blocksize``: the block's mask prunes exactly
    ``floor(rows x cols x s)`` entries of smallest ``W^2 / diag(Hinv)^2`` (the reference's ``<=``
    threshold may take ties beyond that), each column's error is propagated to the remaining
    columns of the block (OBS update), and the block's accumulated error to all later columns
    at once (lazy batch update). With N:M, the mask is chosen every m columns instead.

    Returns:
        The new weight (weight's dtype) and its mask (True = pruned).
    """
    w = weight.detach().float().clone()  # (C_out, C_in)
    h = hessian.detach().float().clone().to(w.device)
    c_in = w.shape[1]
    dead = torch.diag(h) == 0
    h[dead, dead] = 1
    w[:, dead] = 0
    damp = percdamp * torch.mean(torch.diag(h))
    h[torch.arange(c_in), torch.arange(c_in)] += damp
    hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    mask = torch.zeros_like(w, dtype=torch.bool)
    for i1 in range(0, c_in, blocksize):
        i2 = min(i1 + blocksize, c_in)
        w1 = w[:, i1:i2].clone()
        q1 = torch.zeros_like(w1)
        err1 = torch.zeros_like(w1)
        hinv1 = hinv[i1:i2, i1:i2]
        d = torch.diag(hinv1)
        if nm is None:
            score = w1**2 / d[None, :] ** 2
            k = math.floor(score.numel() * sparsity)
            mask1 = torch.zeros_like(w1, dtype=torch.bool)
            if k:
                mask1.view(-1)[torch.sort(score.flatten(), stable=True).indices[:k]] = True
        else:
            mask1 = torch.zeros_like(w1, dtype=torch.bool)
        for i in range(i2 - i1):
            if nm is not None and i % nm[1] == 0:
                score = w1[:, i : i + nm[1]] ** 2 / d[None, i : i + nm[1]] ** 2
                mask1[:, i : i + nm[1]] |= nm_mask(score, nm[0], nm[1])
            col = w1[:, i]
            q = col.masked_fill(mask1[:, i], 0)
            q1[:, i] = q
            e = (col - q) / hinv1[i, i]
            w1[:, i:] -= e[:, None] @ hinv1[i, i:][None, :]
            err1[:, i] = e
        w[:, i1:i2] = q1
        w[:, i2:] -= err1 @ hinv[i1:i2, i2:]
        mask[:, i1:i2] = mask1
    w[mask] = 0  # exact zeros where pruned
    return w.to(weight.dtype), mask


class Hessian:
    """Forward pre-hook accumulating H = (2 / n_tokens) sum_t x_t x_t^T (fp32) for one linear."""

    def __init__(self, in_features: int, device: torch.device) -> None:
        self.h = torch.zeros(in_features, in_features, dtype=torch.float32, device=device)
        self.n_tokens = 0

    def __call__(self, module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        x = args[0].detach().float().reshape(-1, args[0].shape[-1])  # (tokens, C_in)
        n = x.shape[0]
        self.h *= self.n_tokens / (self.n_tokens + n)
        self.n_tokens += n
        x = x * math.sqrt(2 / self.n_tokens)
        self.h += x.T @ x


@dataclass(frozen=True)
class Pruner:
    """A registered pruner (``registry.pruners.PRUNERS``).

    Attributes:
        statistic: the forward pre-hook class a linear's calibration inputs are accumulated in
            (``None``: data-free, no calibration forward at all).
        prune: ``prune(linear, statistic, sparsity, nm, settings)`` zeroes the linear's pruned
            weights in place (and, for SparseGPT, updates the kept ones); ``settings`` are the
            pruner's hyperparameters from ``pruning.<name>``.
    """

    statistic: type | None
    prune: Callable[[nn.Linear, Any, float, tuple[int, int] | None, Mapping[str, Any]], None]


def _magnitude(
    lin: nn.Linear, stat: Any, s: float, nm: tuple[int, int] | None, opts: Mapping[str, Any]
) -> None:
    lin.weight.masked_fill_(magnitude_mask(lin.weight, s, nm), 0)


def _wanda(
    lin: nn.Linear, stat: SquareSum, s: float, nm: tuple[int, int] | None, opts: Mapping[str, Any]
) -> None:
    norms = torch.sqrt(stat.sq_sum / stat.n_tokens)
    lin.weight.masked_fill_(wanda_mask(lin.weight, norms, s, nm), 0)


def _sparsegpt(
    lin: nn.Linear, stat: Hessian, s: float, nm: tuple[int, int] | None, opts: Mapping[str, Any]
) -> None:
    new, _ = sparsegpt_prune(lin.weight, stat.h, s, nm, int(opts["blocksize"]), float(opts["percdamp"]))
    lin.weight.copy_(new)


MAGNITUDE = Pruner(None, _magnitude)
WANDA = Pruner(SquareSum, _wanda)
SPARSEGPT = Pruner(Hessian, _sparsegpt)


@torch.no_grad()
def prune_model(
    adapter: Adapter,
    input_ids: torch.Tensor,
    block_sparsity: list[float],
    pruner: str,
    structure: str,
    batch_size: int,
    device: torch.device,
    settings: Mapping[str, Any] | None = None,
    model_key: str = "",
) -> list[dict[str, object]]:
    """Prune ``adapter``'s model in place, block by block, sequentially.

    Args:
        adapter: the model (its blocks on the CPU or on ``device``).
        input_ids: calibration sequences (N, T).
        block_sparsity: target sparsity per block (ignored under N:M).
        pruner: a name in ``registry.pruners.PRUNERS``.
        structure: ``unstructured`` or ``N:M``.
        batch_size: sequences per forward.
        device: where each block is pruned (the block is moved there and back when streaming).
        settings: the pruner's hyperparameters (``pruning.<name>``; its registered defaults when
            ``None``).

    Returns:
        One row per prunable linear: block, linear, params, zeros, target (the block's sparsity).
    """
    entry = PRUNERS[pruner]  # KeyError listing the valid pruners
    method: Pruner = entry.load()
    opts = {**entry.defaults(), **(settings or {})}
    if len(block_sparsity) != adapter.n_blocks:
        raise ValueError(f"{len(block_sparsity)} block sparsities for {adapter.n_blocks} blocks")
    nm = parse_structure(structure)
    stream = adapter.place(device)
    needs_data = method.statistic is not None
    hidden = [adapter.embed(b.to(device)) for b in input_ids.split(batch_size)] if needs_data else []
    rows: list[dict[str, object]] = []
    for block in tqdm(range(adapter.n_blocks), desc=f"prune {model_key} {pruner}", mininterval=5):
        if stream:
            adapter.blocks[block].to(device)
        linears = adapter.linears(block)
        s = float(block_sparsity[block])
        stats: dict[str, Any] = {}
        if needs_data:
            stats = {n: method.statistic(lin.in_features, device) for n, lin in linears.items()}
            handles = [lin.register_forward_pre_hook(stats[n]) for n, lin in linears.items()]
            try:
                for h in hidden:
                    adapter.run_block(block, h)
            finally:
                for handle in handles:
                    handle.remove()
        for name, lin in linears.items():
            method.prune(lin, stats.get(name), s, nm, opts)
            rows.append(
                {
                    "block": block,
                    "linear": name,
                    "params": lin.weight.numel(),
                    "zeros": int((lin.weight == 0).sum()),
                    "target": nm[0] / nm[1] if nm else s,
                }
            )
        if needs_data:
            hidden = [adapter.run_block(block, h) for h in hidden]  # outputs of the pruned block
            if not all(torch.isfinite(h).all() for h in hidden):
                raise FloatingPointError(
                    f"model {model_key!r}: non-finite activations after pruned block {block}"
                )
        if stream:
            adapter.blocks[block].to("cpu")
    return rows


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


def linears_table(rows: list[dict[str, object]], cell: dict[str, object]) -> pd.DataFrame:
    """Achieved sparsity per linear of one cell (columns of ``tables.PRUNED_LINEARS``); ``cell``:
    the key columns (``tables.cell_keys``)."""
    table = pd.DataFrame(rows).rename(columns={"target": "target_sparsity"})
    for col, value in cell.items():
        table[col] = value
    table["achieved_sparsity"] = table["zeros"] / table["params"]
    return table[[*cell, "block", "linear", "params", "zeros", "target_sparsity", "achieved_sparsity"]]


def pruned_weights(adapter: Adapter) -> dict[str, torch.Tensor]:
    """Every prunable linear's weight, keyed ``"<block>.<linear>"`` (what evaluation loads)."""
    return {f"{b}.{n}": lin.weight for b in range(adapter.n_blocks) for n, lin in adapter.linears(b).items()}


def prune_cell(
    adapter: Adapter,
    tokens: torch.Tensor,
    block_sparsity: list[float],
    cell: dict[str, str],
    cfg: dict,
    device: torch.device,
) -> tuple[pd.DataFrame, dict[str, torch.Tensor]]:
    """The prune rule's work for one cell (``cell``: the rule's wildcards): prune sequentially,
    check the achieved sparsity against the allocation, and return the per-linear table and the
    pruned weights."""
    structure = cell["structure"].replace("-", ":")
    rows = prune_model(
        adapter,
        tokens,
        block_sparsity,
        cell["pruner"],
        structure,
        cfg["batch_size"],
        device,
        cfg.get(cell["pruner"], {}),
        cell["model"],
    )
    out_features = {
        (r["block"], r["linear"]): adapter.linears(r["block"])[r["linear"]].out_features for r in rows
    }
    name = "/".join(cell[k] for k in ("model", "pruner", "structure", "allocation", "correction", "sparsity"))
    check_achieved(rows, out_features, name)
    table = linears_table(rows, cell_keys(cell))
    return table, pruned_weights(adapter)


@dataclass
class PrunedCell:
    """What pruning hands to evaluation and writes: the per-linear zeros, and the pruned weights
    (``None`` for the dense reference)."""

    linears: pd.DataFrame
    weights: dict[str, torch.Tensor] | None

    def write(self, outputs: Mapping[str, str], provenance: dict[str, Any]) -> None:
        """Write ``outputs["linears"]`` (and ``outputs["weights"]`` when the rule keeps them),
        each atomically."""
        if "weights" in outputs:
            if self.weights is None:
                raise ValueError("the dense reference has no pruned weights to keep")
            write_safetensors(self.weights, outputs["weights"], provenance)
        write_parquet(self.linears, outputs["linears"], PRUNED_LINEARS, provenance)


def prune_cell_files(
    adapter: Adapter,
    cell: dict[str, str],
    allocation: str,
    calibration_tokens: str,
    cfg: dict,
    device: torch.device,
) -> PrunedCell:
    """Prune one cell of ``adapter``'s model in place from its files: the block sparsities of its
    allocation (rule allocate) and the calibration sequences (rule calibration_tokens)."""
    sparsity = pd.read_parquet(allocation).sort_values("block")["block_sparsity"].tolist()
    tokens = read_tensors(calibration_tokens, ("input_ids",))["input_ids"]
    return PrunedCell(*prune_cell(adapter, tokens, sparsity, cell, cfg, device))


def dense_cell(adapter: Adapter, cell: dict[str, str]) -> PrunedCell:
    """The dense reference: its existing zeros per linear, nothing pruned."""
    return PrunedCell(linears_table(dense_rows(adapter), cell_keys(cell)), None)
