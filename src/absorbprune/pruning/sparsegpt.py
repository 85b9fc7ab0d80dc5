"""SparseGPT as a pure function (docs/methods.md 4.3): prune and reconstruct one linear from its
input Hessian (accumulated by ``calibration.hooks.Hessian``)."""

from __future__ import annotations

import math

import torch

from .masks import nm_mask

__all__ = ["sparsegpt_prune"]


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
