"""Pruning masks as pure functions (METHODS section 4): tensors and a sparsity in, a mask out.

A mask is a bool tensor shaped like the weight, ``True`` where the weight is pruned (set to 0).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

__all__ = ["apply_masks", "magnitude_mask", "pruned_copy", "wanda_mask"]


def _check_sparsity(sparsity: float) -> None:
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")


def wanda_mask(weight: torch.Tensor, norms: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Wanda: per output row, prune the ``floor(C_in * s)`` smallest ``|W_ij| * n_j``.

    Args:
        weight: (C_out, C_in).
        norms: per-input-channel norms ``n_j``, (C_in,).
        sparsity: share of each row to prune.

    Returns:
        Bool mask (C_out, C_in); ties broken by a stable sort (lower column index pruned first),
        as the reference's ``torch.sort(..., stable=True)``.
    """
    _check_sparsity(sparsity)
    scores = weight.detach().float().abs() * norms.to(weight.device).float()[None, :]
    k = math.floor(weight.shape[1] * sparsity)
    mask = torch.zeros_like(scores, dtype=torch.bool)
    if k:
        idx = torch.sort(scores, dim=1, stable=True).indices[:, :k]  # (C_out, k)
        mask.scatter_(1, idx, True)
    return mask


def magnitude_mask(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Magnitude: one threshold per matrix, prune exactly the ``floor(s * numel)`` smallest ``|W|``."""
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
