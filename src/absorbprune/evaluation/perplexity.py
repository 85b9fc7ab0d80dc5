"""Perplexity by Wanda's protocol (docs/methods.md 1.3): non-overlapping windows of ``seqlen``
tokens, the tail dropped, ``ppl = exp(sum_i loss_i * seqlen / (n_windows * seqlen))`` with
``loss_i`` the mean token cross-entropy of window i's ``seqlen - 1`` predictions. The lm-eval
``wikitext`` task reports *word* perplexity, a different number. The tiny models' training curve
uses the same numerics (``models.training``).

BOS policy (``registry.models.FamilyMeta.bos``, docs/methods.md 1.3): for a family whose policy is
``every_window`` (Gemma-3), callers pass the model's BOS id as ``bos_id`` and it *replaces* the first
token of every window, so a window still holds ``seqlen`` tokens and ``seqlen - 1`` predictions,
the first of them made from the BOS; ``None`` (every other family) leaves the text as tokenized.
``models.adapter.Adapter.bos_id`` gives the id of a loaded model.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
import torch
from tqdm import tqdm

__all__ = ["ppl_row", "window_losses", "window_ppl"]

log = logging.getLogger(__name__)


@torch.no_grad()
def window_losses(
    model: torch.nn.Module,
    ids: torch.Tensor,
    seqlen: int,
    batch_size: int = 8,
    max_windows: int | None = None,
    bos_id: int | None = None,
) -> torch.Tensor:
    """Mean token cross-entropy of each non-overlapping window of ``ids`` (1-D), float64 (n,).

    With ``bos_id``, that token replaces the first of every window (the family's BOS policy).

    With ``max_windows`` below the number of windows ``n``, windows ``i * n // max_windows`` for
    ``i < max_windows`` are used: spread evenly over the whole text, not its beginning, so that a
    capped estimate samples every part of the split (``None``: every window).

    Raises:
        ValueError: fewer tokens than one window.
        FloatingPointError: a non-finite loss.
    """
    total = ids.numel() // seqlen
    if total == 0:
        raise ValueError(f"{ids.numel()} tokens do not fill one window of {seqlen}")
    windows = ids[: total * seqlen].view(total, seqlen)
    if bos_id is not None:
        windows = windows.clone()
        windows[:, 0] = bos_id
    if max_windows is not None and max_windows < total:
        windows = windows[torch.arange(max_windows) * total // max_windows]
    n = windows.shape[0]
    device = next(model.parameters()).device
    losses = []
    for start in tqdm(range(0, n, batch_size), desc="perplexity", mininterval=10, disable=n <= batch_size):
        batch = windows[start : start + batch_size].to(device)  # (B, T)
        logits = model(input_ids=batch).logits.float()  # (B, T, V)
        loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1), reduction="none"
        )
        losses.append(loss.view(batch.shape[0], -1).double().mean(dim=1).cpu())  # (B,)
    out = torch.cat(losses)
    if not torch.isfinite(out).all():
        bad = int(torch.nonzero(~torch.isfinite(out))[0])
        raise FloatingPointError(f"non-finite loss in perplexity window {bad} (of {n})")
    return out


def window_ppl(
    model: torch.nn.Module,
    ids: torch.Tensor,
    seqlen: int,
    max_windows: int | None = None,
    bos_id: int | None = None,
) -> float:
    """``exp(sum_i loss_i * seqlen / (n * seqlen))`` over the windows of ``ids`` (1-D)."""
    losses = window_losses(model, ids, seqlen, max_windows=max_windows, bos_id=bos_id)
    return math.exp(float(losses.sum()) * seqlen / (losses.numel() * seqlen))


def ppl_row(
    model: torch.nn.Module,
    ids: torch.Tensor,
    seqlen: int,
    batch_size: int,
    cell: Mapping[str, Any],
    dataset: str,
    max_windows: int | None = None,
    bos_id: int | None = None,
) -> pd.DataFrame:
    """One cell's perplexity row (columns of ``tables.cells.PPL``; ``cell``: its key columns):
    ``ids`` is (1, n_tokens); only ``max_windows`` windows spread evenly over the text when given
    (``None``: every window, the paper protocol); ``bos_id``: the family's BOS policy."""
    losses = window_losses(model, ids.flatten(), seqlen, batch_size, max_windows, bos_id)
    ppl = math.exp(float(losses.sum()) * seqlen / (losses.numel() * seqlen))
    log.info("%s: ppl %.4f over %d windows of %d", cell, ppl, losses.numel(), seqlen)
    return pd.DataFrame(
        [
            {
                **cell,
                "ppl": ppl,
                "ppl_dataset": dataset,
                "n_windows": losses.numel(),
                "seqlen": seqlen,
                "mean_window_loss": float(losses.mean()),
                "window_losses": losses.tolist(),
                "status": "ok",
                "reason": "",
            }
        ]
    )
