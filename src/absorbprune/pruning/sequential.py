"""The sequential pass (docs/methods.md 4.5): block l is calibrated on the outputs of the already
pruned blocks < l, as the reference's ``prune_*``; each registered pruner is a :class:`Pruner`.

It streams: with a GPU, only the current block and the activations sit on it while the other
blocks stay on the CPU, so a model larger than the GPU can be pruned.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from ..calibration.hooks import Hessian, SquareSum
from ..models.adapter import Adapter
from ..registry.pruners import PRUNERS
from .masks import magnitude_mask, wanda_mask
from .sparsegpt import sparsegpt_prune

__all__ = ["MAGNITUDE", "SPARSEGPT", "WANDA", "PruneSpec", "Pruner", "prune_model"]


@dataclass(frozen=True)
class PruneSpec:
    """How a cell is pruned.

    Attributes:
        pruner: a name in ``registry.pruners.PRUNERS``.
        nm: (N, M) of an N:M structure, or None (unstructured).
        batch_size: calibration sequences per forward (memory only).
        settings: the pruner's hyperparameters (``pruning.<name>``; its registered defaults fill
            what is missing).
    """

    pruner: str
    nm: tuple[int, int] | None
    batch_size: int
    settings: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def for_cell(cls, pruner: str, nm: tuple[int, int] | None, pruning: Mapping[str, Any]) -> PruneSpec:
        """From the config's ``pruning`` settings (``batch_size``; the pruner's under its name)."""
        return cls(pruner, nm, pruning["batch_size"], pruning.get(pruner, {}))


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
    block_sparsity: Sequence[float],
    spec: PruneSpec,
    device: torch.device,
    label: str = "",
) -> list[dict[str, object]]:
    """Prune ``adapter``'s model in place, block by block, sequentially.

    Args:
        adapter: the model (its blocks on the CPU or on ``device``).
        input_ids: calibration sequences (N, T).
        block_sparsity: target sparsity per block (ignored under N:M).
        spec: the pruner, structure and settings.
        device: where each block is pruned (the block is moved there and back when streaming).
        label: what is pruned, for progress and messages (a cell's label).

    Returns:
        One row per prunable linear: block, linear, params, zeros, target (the block's sparsity).
    """
    entry = PRUNERS[spec.pruner]  # KeyError listing the valid pruners
    method: Pruner = entry.load()
    opts = {**entry.defaults(), **spec.settings}
    if len(block_sparsity) != adapter.n_blocks:
        raise ValueError(f"{len(block_sparsity)} block sparsities for {adapter.n_blocks} blocks")
    nm = spec.nm
    stream = adapter.place(device)
    needs_data = method.statistic is not None
    hidden = [adapter.embed(b.to(device)) for b in input_ids.split(spec.batch_size)] if needs_data else []
    rows: list[dict[str, object]] = []
    for block in tqdm(range(adapter.n_blocks), desc=f"prune {label}", mininterval=5):
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
                raise FloatingPointError(f"{label}: non-finite activations after pruned block {block}")
        if stream:
            adapter.blocks[block].to("cpu")
    return rows
