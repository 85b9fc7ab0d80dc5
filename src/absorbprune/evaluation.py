"""Evaluation: WikiText-2-protocol perplexity (METHODS section 1).

The test text is joined with ``"\\n\\n"`` and tokenized once (``data.ppl_tokens``, saved per
model); it is cut into non-overlapping windows of ``seqlen`` tokens, the tail dropped; window i's
loss ``loss_i`` is the mean token cross-entropy of its ``seqlen - 1`` predictions, and
``ppl = exp(sum_i loss_i * seqlen / (n_windows * seqlen))`` (Wanda's ``eval_ppl_wikitext``), the
exponential of the mean window loss. The lm-eval ``wikitext`` task reports *word* perplexity, a
different number.
"""

from __future__ import annotations

import logging
import math

import pandas as pd
import torch

from .families import Adapter
from .metrics import window_losses

__all__ = ["cell_keys", "load_pruned_weights", "ppl_row"]

log = logging.getLogger(__name__)


@torch.no_grad()
def load_pruned_weights(adapter: Adapter, weights: dict[str, torch.Tensor]) -> None:
    """Copy a cell's pruned linear weights (``"<block>.<linear>"``) into the dense model, in place.

    Raises:
        KeyError: a prunable linear missing from ``weights`` (a stale or foreign file).
    """
    for b in range(adapter.n_blocks):
        for name, lin in adapter.linears(b).items():
            key = f"{b}.{name}"
            if key not in weights:
                raise KeyError(f"pruned weights have no {key!r}")
            lin.weight.copy_(weights[key].to(lin.weight.device, lin.weight.dtype))


def cell_keys(wildcards: dict[str, str]) -> dict[str, object]:
    """The key columns of a cell from a rule's wildcards; the dense reference has only ``model``."""
    if "pruner" not in wildcards:
        return {
            "model": wildcards["model"],
            "pruner": "dense",
            "structure": "unstructured",
            "allocation": "dense",
            "correction": "none",
            "sparsity": 0.0,
        }
    keys = ("model", "pruner", "structure", "allocation", "correction")
    return {
        **{k: wildcards[k] for k in keys},
        "structure": wildcards["structure"].replace("-", ":"),
        "sparsity": float(wildcards["sparsity"]),
    }


def ppl_row(
    model: torch.nn.Module,
    ids: torch.Tensor,
    seqlen: int,
    batch_size: int,
    cell: dict[str, object],
    dataset: str,
) -> pd.DataFrame:
    """One cell's perplexity row (columns of ``tables.PPL``): ``ids`` is (1, n_tokens)."""
    losses = window_losses(model, ids.flatten(), seqlen, batch_size)
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
            }
        ]
    )
