"""Evaluation: WikiText-2-protocol perplexity and lm-eval zero-shot (docs/methods.md section 1).

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from .families import Adapter
from .metrics import window_losses
from .models import load_tokenizer
from .provenance import atomic_file, read_tensors, write_parquet
from .tables import PPL, ZEROSHOT, cell_keys
from .zeroshot import raw_json, run_zeroshot, tidy_results

__all__ = ["Measures", "evaluate", "load_pruned_weights", "measure", "ppl_row"]

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


def ppl_row(
    model: torch.nn.Module,
    ids: torch.Tensor,
    seqlen: int,
    batch_size: int,
    cell: dict[str, object],
    dataset: str,
    max_windows: int | None = None,
) -> pd.DataFrame:
    """One cell's perplexity row (columns of ``tables.PPL``): ``ids`` is (1, n_tokens); only
    ``max_windows`` windows spread evenly over the text when given (``None``: every window, the
    paper protocol)."""
    losses = window_losses(model, ids.flatten(), seqlen, batch_size, max_windows)
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


def measure(
    model: torch.nn.Module,
    tokenizer: Any,
    ppl_ids: torch.Tensor,
    local_data: str | Path | None,
    ppl_cfg: dict[str, Any],
    zs_cfg: dict[str, Any],
    cell: dict[str, object],
) -> tuple[pd.DataFrame, pd.DataFrame | None, dict[str, Any] | None]:
    """Perplexity and zero-shot accuracy of an in-memory (pruned or dense) model.

    Args:
        ppl_ids: the tokenized perplexity text, (1, n_tokens).
        local_data: the built-in ``codeline`` task's Parquet file, when that task is listed.
        ppl_cfg: ``evaluation`` settings (ppl_source, seqlen, batch_size, max_windows).
        zs_cfg: ``evaluation.zeroshot`` settings (tasks, metric, batch_size, limit, seed).
        cell: the cell's key columns (``tables.cell_keys``).

    Returns:
        The perplexity row, the zero-shot table and lm-eval's raw results (both ``None`` when no
        zero-shot task is configured).
    """
    ppl = ppl_row(
        model,
        ppl_ids,
        ppl_cfg["seqlen"],
        ppl_cfg["batch_size"],
        cell,
        ppl_cfg["ppl_source"],
        ppl_cfg["max_windows"],
    )
    if not zs_cfg["tasks"]:
        return ppl, None, None
    results = run_zeroshot(
        model, tokenizer, zs_cfg["tasks"], local_data, zs_cfg["batch_size"], zs_cfg["limit"], zs_cfg["seed"]
    )
    return ppl, tidy_results(results, zs_cfg["tasks"], zs_cfg["metric"], cell), results


@dataclass
class Measures:
    """What evaluation writes for one model in memory: perplexity, and zero-shot when tasks are set."""

    ppl: pd.DataFrame
    valid_ppl: pd.DataFrame
    zeroshot: pd.DataFrame | None
    raw: dict[str, Any] | None

    def write(self, outputs: dict[str, str], provenance: dict[str, Any]) -> None:
        """Write ``ppl`` (and ``zeroshot`` + ``raw`` when the rule declares them), each atomically:
        a killed job leaves no file that looks complete."""
        if "zeroshot" in outputs and (self.zeroshot is None or self.raw is None):
            raise ValueError("zero-shot outputs are declared but no zero-shot task was run")
        write_parquet(self.ppl, outputs["ppl"], PPL, provenance)
        write_parquet(self.valid_ppl, outputs["valid_ppl"], PPL, provenance)
        if "zeroshot" in outputs:
            with atomic_file(outputs["raw"]) as tmp:
                tmp.write_text(raw_json(self.raw))
            write_parquet(self.zeroshot, outputs["zeroshot"], ZEROSHOT, provenance)


def evaluate(
    adapter: Adapter,
    wildcards: dict[str, str],
    params: dict[str, Any],
    model_dir: str | None,
    ppl_tokens: str | Path,
    valid_tokens: str | Path,
    local_data: str | Path | None,
    device: torch.device,
) -> Measures:
    """Measure the in-memory (pruned or dense) model of one cell on ``device``.

    Args:
        adapter: the model, pruned in place or dense.
        wildcards: the rule's wildcards (the cell; only ``model`` for the dense reference).
        params: the rule's params (model, evaluation, zeroshot).
        model_dir: the directory of a model the workflow built (``None`` for hub and local models).
        ppl_tokens: the model's tokenized perplexity text (rule ppl_tokens).
        valid_tokens: the tokenized validation text (rule valid_tokens), what selection reads.
        local_data: the built-in ``codeline`` task's documents, when that task is listed.
    """
    tokenizer = load_tokenizer(wildcards["model"], params["model"], model_dir)
    ppl, zeroshot, raw = measure(
        adapter.model.to(device),
        tokenizer,
        read_tensors(ppl_tokens, ("input_ids",))["input_ids"],
        local_data,
        params["evaluation"],
        params["zeroshot"],
        cell_keys(wildcards),
    )
    cfg = params["evaluation"]
    valid = ppl_row(
        adapter.model,
        read_tensors(valid_tokens, ("input_ids",))["input_ids"],
        cfg["seqlen"],
        cfg["batch_size"],
        cell_keys(wildcards),
        cfg["valid_source"],
        cfg["max_windows"],
    )
    return Measures(ppl, valid, zeroshot, raw)
