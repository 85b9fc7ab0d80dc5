"""A reference-pattern Wanda pass, to check :func:`pruning.sequential.prune_model` against the
structure of the reference code (locuslab/wanda, ``lib/prune.py``: ``prepare_calibration_input``
and ``prune_wanda``), block by block (docs/sequential.md). Not used by the workflow.

Written from the reference's description, not copied. Its structure:

1. Block 0's inputs: every calibration sequence runs alone (batch of one) through the whole
   model, whose block 0 is replaced by a catcher that stores the hidden state and the keyword
   arguments the decoder passes, then stops the forward. The reference keeps ``attention_mask``
   and ``position_ids`` only; transformers >= 4.45 blocks also need ``position_embeddings``, so
   every keyword argument is kept and replayed to every block, as the reference replays its two.
2. Per block: each sequence alone through the block with forward hooks on its linears that
   accumulate the reference's statistic, a running mean over sequences of the per-sequence squared
   input norm: after sequence n, ``r <- r * (n - 1) / n + ||x_seq||^2 / n`` (per input channel,
   float32). Wanda's score is ``|W| * sqrt(r)``: ``sqrt(T)`` times the project's
   ``|W| * sqrt(sum x^2 / n_tokens)``, the same ranking but for rounding.
3. Per linear: a stable sort of each row's scores, the ``int(C_in * s)`` lowest pruned.
4. Each sequence alone through the pruned block gives the next block's inputs.

``statistic="project"`` swaps step 2's arithmetic for the project's (``calibration.hooks.SquareSum``
and ``sqrt(sum / n_tokens)``) while keeping the reference's forwards, which separates the two
sources of float-level difference: the block forwards and the statistic's rounding.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
import torch
from torch import nn

from ..calibration.hooks import SquareSum
from ..models.adapter import Adapter
from .sequential import PruneSpec, prune_model

__all__ = [
    "PassTrace",
    "compare_traces",
    "flip_margins",
    "reference_wanda",
    "trace_blocks",
    "trace_prune_model",
    "ulp_distance",
]

log = logging.getLogger(__name__)

Key = tuple[int, str]


@dataclass
class PassTrace:
    """What a sequential pass saw and chose, block by block (on the CPU).

    Attributes:
        inputs: per block, its calibration inputs (N, T, C) as the pass fed them to the block.
        masks: per (block, linear), ``weight == 0`` after the pass (the dense model's own zeros
            included, which two passes over the same model share).
        norms: per (block, linear), the Wanda norms the scores were made of (``reference_wanda``
            only; ``sqrt(T)`` times the project's under ``statistic="reference"``).
    """

    inputs: list[torch.Tensor] = field(default_factory=list)
    masks: dict[Key, torch.Tensor] = field(default_factory=dict)
    norms: dict[Key, torch.Tensor] = field(default_factory=dict)


class _RunningNorm:
    """The reference's statistic: a running mean over sequences of ``||x_j||^2`` (float32)."""

    def __init__(self, in_features: int, device: torch.device) -> None:
        self.scaler = torch.zeros(in_features, dtype=torch.float32, device=device)
        self.n = 0

    def __call__(self, module: nn.Module, args: tuple[torch.Tensor, ...], output: Any) -> None:
        x = args[0].detach()
        seqs = 1 if x.dim() == 2 else x.shape[0]
        x = x.reshape(-1, x.shape[-1]).t().float()  # (C_in, tokens)
        self.scaler *= self.n / (self.n + seqs)
        self.n += seqs
        self.scaler += torch.norm(x, p=2, dim=1) ** 2 / self.n

    def norms(self) -> torch.Tensor:
        return torch.sqrt(self.scaler)


class _ProjectNorm:
    """The project's statistic (``SquareSum``) behind the same hook interface."""

    def __init__(self, in_features: int, device: torch.device) -> None:
        self.inner = SquareSum(in_features, device)

    def __call__(self, module: nn.Module, args: tuple[torch.Tensor, ...], output: Any) -> None:
        self.inner(module, args)

    def norms(self) -> torch.Tensor:
        return torch.sqrt(self.inner.sq_sum / self.inner.n_tokens)


class _Stop(Exception):
    """Raised by the catcher to end the forward once block 0's input is stored."""


class _Catcher(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hidden: list[torch.Tensor] = []
        self.kwargs: dict[str, Any] = {}

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if args:
            raise TypeError("the decoder passed positional block arguments; the catcher expects keywords")
        self.hidden.append(hidden_states)
        self.kwargs = kwargs
        raise _Stop


@torch.no_grad()
def _first_inputs(adapter: Adapter, input_ids: torch.Tensor) -> tuple[list[torch.Tensor], dict[str, Any]]:
    """Block 0's input of every sequence, one forward each, and the keyword arguments of the last."""
    catcher = _Catcher()
    block0 = adapter.blocks[0]
    adapter.blocks[0] = catcher
    try:
        for j in range(input_ids.shape[0]):
            try:
                adapter.model(input_ids=input_ids[j : j + 1], use_cache=False)
            except _Stop:
                pass
    finally:
        adapter.blocks[0] = block0
    return catcher.hidden, catcher.kwargs


def _block(adapter: Adapter, block: int, hidden: torch.Tensor, kwargs: dict[str, Any]) -> torch.Tensor:
    out = adapter.blocks[block](hidden, **kwargs)
    return out[0] if isinstance(out, tuple) else out


@torch.no_grad()
def reference_wanda(
    adapter: Adapter,
    input_ids: torch.Tensor,
    block_sparsity: Sequence[float],
    statistic: Literal["reference", "project"] = "reference",
    keep_inputs: bool = True,
) -> PassTrace:
    """Prune ``adapter``'s model in place with Wanda in the reference's pattern (module docstring).

    Args:
        adapter: the model, on the CPU (or wholly on one device).
        input_ids: calibration sequences (N, T); each runs alone, as in the reference.
        block_sparsity: per block, the share of each row of each linear to prune.
        statistic: ``reference`` (running mean of per-sequence squared norms) or ``project``
            (the project's sum of squares over all tokens).
        keep_inputs: keep every block's inputs in the trace (N x T x C floats per block).

    Returns:
        The block inputs (when kept) and masks.
    """
    if len(block_sparsity) != adapter.n_blocks:
        raise ValueError(f"{len(block_sparsity)} block sparsities for {adapter.n_blocks} blocks")
    make = {"reference": _RunningNorm, "project": _ProjectNorm}[statistic]
    inps, kwargs = _first_inputs(adapter, input_ids)
    trace = PassTrace()
    for block in range(adapter.n_blocks):
        if keep_inputs:
            trace.inputs.append(torch.cat(inps).cpu())
        linears = adapter.linears(block)
        device = next(iter(linears.values())).weight.device
        stats = {n: make(lin.in_features, device) for n, lin in linears.items()}
        handles = [lin.register_forward_hook(stats[n]) for n, lin in linears.items()]
        try:
            for h in inps:
                _block(adapter, block, h, kwargs)
        finally:
            for handle in handles:
                handle.remove()
        for name, lin in linears.items():
            norms = stats[name].norms()
            trace.norms[(block, name)] = norms.cpu()
            scores = lin.weight.abs() * norms.reshape(1, -1)
            k = int(lin.weight.shape[1] * float(block_sparsity[block]))
            mask = torch.zeros_like(scores, dtype=torch.bool)
            mask.scatter_(1, torch.sort(scores, dim=-1, stable=True).indices[:, :k], True)
            lin.weight[mask] = 0
            trace.masks[(block, name)] = (lin.weight == 0).cpu()
        inps = [_block(adapter, block, h, kwargs) for h in inps]
    return trace


@contextmanager
def trace_blocks(adapter: Adapter, trace: PassTrace) -> Iterator[None]:
    """Record into ``trace.inputs`` the calibration inputs of each block of a sequential pass.

    A sequential pass calls each block twice per calibration batch, first for the statistics and
    then for the pruned block's outputs, on the same inputs; the first half of a block's calls
    are its inputs.
    """
    calls: list[list[torch.Tensor]] = [[] for _ in range(adapter.n_blocks)]

    def hook(block: int) -> Callable[[nn.Module, tuple[Any, ...]], None]:
        def record(module: nn.Module, args: tuple[Any, ...]) -> None:
            calls[block].append(args[0].detach().cpu().clone())

        return record

    handles = [blk.register_forward_pre_hook(hook(b)) for b, blk in adapter.iter_blocks()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
    for seen in calls:
        if seen:
            trace.inputs.append(torch.cat(seen[: len(seen) // 2]))


def trace_prune_model(
    adapter: Adapter,
    input_ids: torch.Tensor,
    block_sparsity: Sequence[float],
    spec: PruneSpec,
    device: torch.device,
) -> PassTrace:
    """Run the project's pass (``prune_model``) in place, recording its block inputs and masks."""
    trace = PassTrace()
    with trace_blocks(adapter, trace):
        rows = prune_model(adapter, input_ids, block_sparsity, spec, device)
    for r in rows:
        key = (int(r["block"]), str(r["linear"]))  # type: ignore[call-overload]
        trace.masks[key] = (adapter.linears(key[0])[key[1]].weight == 0).cpu()
    return trace


def ulp_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Elementwise distance of two float32 tensors in units in the last place (int64).

    The number of representable float32 values between them: their bit patterns mapped to a
    monotone integer line (negative floats mirrored), then subtracted. 0 iff equal (+0 and -0
    are 0 apart).
    """
    if a.dtype != torch.float32 or b.dtype != torch.float32:
        raise TypeError(f"ulp_distance needs float32 tensors, got {a.dtype} and {b.dtype}")

    def line(x: torch.Tensor) -> torch.Tensor:
        bits = x.contiguous().view(torch.int32).to(torch.int64)
        return torch.where(bits < 0, -(bits & 0x7FFFFFFF), bits)

    return (line(a) - line(b)).abs()


def flip_margins(
    weight: torch.Tensor, norms: torch.Tensor, ours: torch.Tensor, ref: torch.Tensor, sparsity: float
) -> torch.Tensor:
    """How near a tie every weight is whose pruned-or-kept state differs between two masks.

    Args:
        weight: the dense weight (C_out, C_in) the masks were chosen on.
        norms: the norms of the pass that chose ``ref`` (its scores are ``|W| * norms``).
        ours, ref: the two masks (``True``: pruned).
        sparsity: the share of each row pruned (``int(C_in * s)`` weights).

    Returns:
        For each differing entry, ``|score - t| / t`` with ``t`` the row's threshold under ``ref``'s
        scores (the largest score it prunes): about 1e-7 for a weight that a rounding moved
        across the threshold, far more for a choice made on other inputs.
    """
    scores = weight.detach().float().abs() * norms.float().reshape(1, -1)
    k = int(weight.shape[1] * sparsity)
    threshold = torch.sort(scores, dim=1, stable=True).values[:, k - 1 : k]  # (C_out, 1)
    differ = ours != ref
    rel = (scores - threshold).abs() / threshold
    return rel[differ]


def compare_traces(ours: PassTrace, ref: PassTrace) -> pd.DataFrame:
    """Block by block: how far the two passes' block inputs and masks are apart.

    Columns: block; ``input_max_abs`` (max |a - b|); ``input_max_rel`` (max |a - b| / max |b|);
    ``input_ulps_at_rms`` (max |a - b| in float32 ulps at the inputs' RMS magnitude: the spacing
    of float32 numbers near ``rms(b)``; about 1 is a float-level difference);
    ``input_median_ulps`` (:func:`ulp_distance` over the entries that differ; 0 where none);
    ``input_frac_differ`` (share of entries not bit-equal); ``mask_differ`` (mask entries that
    differ, all the block's linears); ``mask_frac`` (their share).
    """
    rows = []
    blocks = sorted({b for b, _ in ours.masks})
    for block in blocks:
        row: dict[str, float | int] = {"block": block}
        if block < len(ours.inputs) and block < len(ref.inputs):
            a, b = ours.inputs[block], ref.inputs[block]
            if a.shape != b.shape:
                raise ValueError(f"block {block}: inputs {tuple(a.shape)} vs {tuple(b.shape)}")
            diff = (a - b).abs()
            ulps = ulp_distance(a, b)
            nz = ulps[ulps > 0]
            rms = b.double().pow(2).mean().sqrt().float()
            spacing = torch.nextafter(rms, torch.tensor(float("inf"))) - rms
            row |= {
                "input_max_abs": float(diff.max()),
                "input_max_rel": float(diff.max() / b.abs().max()),
                "input_ulps_at_rms": float(diff.max() / spacing),
                "input_median_ulps": float(nz.double().median()) if nz.numel() else 0.0,
                "input_frac_differ": nz.numel() / ulps.numel(),
            }
        keys = [k for k in ours.masks if k[0] == block]
        differ = sum(int((ours.masks[k] != ref.masks[k]).sum()) for k in keys)
        total = sum(ours.masks[k].numel() for k in keys)
        row |= {"mask_differ": differ, "mask_frac": differ / total}
        rows.append(row)
    return pd.DataFrame(rows)
