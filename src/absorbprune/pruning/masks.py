"""Pruning masks as pure functions (docs/methods.md 4.1, 4.2, 4.4).

A mask is a bool tensor shaped like the weight, ``True`` where the weight is pruned (set to 0).
``nm = (n, m)`` selects N:M structure: in every group of m consecutive inputs of a row, the n
lowest-scoring weights are pruned (the sparsity argument is then ignored: it is n / m). Ties break
by a stable sort: the lower index is pruned first.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

__all__ = ["apply_masks", "lowest_per_row", "magnitude_mask", "nm_mask", "pruned_copy", "wanda_mask"]


def _check_sparsity(sparsity: float) -> None:
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")


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
    return lowest_per_row(scores, math.floor(weight.shape[1] * sparsity))


def lowest_per_row(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Mask of the ``k`` lowest scores of each row, ties to the lower column: exactly the first
    ``k`` indices of a stable ascending sort (the reference's ``torch.sort(..., stable=True)``).

    A selection, not a sort: the row's k-th smallest value ``v`` (``kthvalue``), every score below
    it, and as many of the scores equal to ``v`` as are still needed, lowest column first. About
    twice as fast on a CPU (bench/masks.py). Rows holding NaN take the sort (NaN sorts last).
    """
    mask = torch.zeros_like(scores, dtype=torch.bool)
    if k == 0:
        return mask
    if torch.isnan(scores).any():
        return mask.scatter_(1, torch.sort(scores, dim=1, stable=True).indices[:, :k], True)
    v = scores.kthvalue(k, dim=1, keepdim=True).values
    below = scores < v
    equal = scores == v
    need = k - below.sum(dim=1, keepdim=True)
    return below | (equal & (equal.cumsum(dim=1) <= need))


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
