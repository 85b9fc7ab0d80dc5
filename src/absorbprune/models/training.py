"""Training the built-in tiny models offline on the built-in corpus, bit-identical on rerun.

Determinism: the init and the batch order come from ``seed``; the step count is fixed (never a
time budget: CPU speed here swings 2-3x from minute to minute); torch runs on a fixed number of
CPU threads, so the reductions happen in the same order on every run.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from tqdm import tqdm

from ..core.jobs import PROGRESS
from ..evaluation.perplexity import window_ppl
from .adapter import Adapter
from .tiny import ArchSpec, random_model

__all__ = ["TrainSpec", "lr_at", "train_tiny_model"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSpec:
    """The config's ``models.<key>.train`` section."""

    steps: int
    batch_size: int
    seqlen: int
    lr: float
    warmup_steps: int
    weight_decay: float
    grad_clip: float
    seed: int
    threads: int
    eval_windows: int
    eval_every: int


def lr_at(step: int, spec: TrainSpec) -> float:
    """Linear warm-up to ``lr`` over ``warmup_steps``, then cosine decay to ``0.1 * lr``."""
    if step < spec.warmup_steps:
        return spec.lr * (step + 1) / spec.warmup_steps
    span = max(1, spec.steps - spec.warmup_steps)
    progress = min(1.0, (step - spec.warmup_steps) / span)
    return spec.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def train_tiny_model(
    arch: ArchSpec, spec: TrainSpec, train_ids: torch.Tensor, valid_ids: torch.Tensor, model_key: str
) -> tuple[torch.nn.Module, pd.DataFrame, dict[str, Any]]:
    """Train a tiny causal LM from scratch on CPU.

    Args:
        arch: the architecture (vocab_size = the tokenizer's).
        spec: the schedule.
        train_ids, valid_ids: 1-D int64 token streams of the corpus splits (documents separated
            by the EOS token).
        model_key: config key (for the tables).

    Returns:
        (model, training curve rows of ``tables.TRAIN_CURVE``, summary fields).
    """
    torch.set_num_threads(spec.threads)
    model = random_model(arch, seed=spec.seed)
    # the family's BOS policy (docs/methods.md 1.3) holds in training as in evaluation: a gemma3
    # model sees its BOS as the first token of every sequence; None for the other families
    bos_id = Adapter(model, arch.family).bos_id
    gen = torch.Generator().manual_seed(spec.seed + 1)  # batch order, independent of the init stream
    n_params = sum(p.numel() for p in model.parameters())
    ppl_before = window_ppl(model, valid_ids, spec.seqlen, spec.eval_windows, bos_id)
    log.info("%s: %d params, validation perplexity before training %.2f", model_key, n_params, ppl_before)
    curve = [{"model": model_key, "step": 0, "lr": math.nan, "train_loss": math.nan, "valid_ppl": ppl_before}]
    opt = torch.optim.AdamW(_param_groups(model, spec.weight_decay), lr=spec.lr, betas=(0.9, 0.95))
    offsets = torch.arange(spec.seqlen)
    high = train_ids.numel() - spec.seqlen
    t0 = time.perf_counter()
    PROGRESS.info(
        "training %d steps of %d sequences, valid ppl %.2f", spec.steps, spec.batch_size, ppl_before
    )
    model.train()
    for step in tqdm(range(spec.steps), desc=f"train {model_key}", mininterval=10):
        lr = lr_at(step, spec)
        for group in opt.param_groups:
            group["lr"] = lr
        starts = torch.randint(0, high, (spec.batch_size,), generator=gen)
        batch = train_ids[starts[:, None] + offsets]  # (B, T), a new tensor
        if bos_id is not None:
            batch[:, 0] = bos_id
        loss = model(input_ids=batch, labels=batch).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
        opt.step()
        row = {
            "model": model_key,
            "step": step + 1,
            "lr": lr,
            "train_loss": loss.item(),
            "valid_ppl": math.nan,
        }
        if (step + 1) % spec.eval_every == 0 or step + 1 == spec.steps:
            model.eval()
            row["valid_ppl"] = window_ppl(model, valid_ids, spec.seqlen, spec.eval_windows, bos_id)
            model.train()
            log.info(
                "%s step %d: loss %.3f, valid ppl %.2f",
                model_key,
                step + 1,
                row["train_loss"],
                row["valid_ppl"],
            )
            # the terminal too (absorbprune.jobs routes this logger there): minutes pass in training
            PROGRESS.info(
                "step %d/%d, valid ppl %.2f, %.0f s", step + 1, spec.steps, row["valid_ppl"],
                time.perf_counter() - t0,
            )  # fmt: skip
        curve.append(row)
    seconds = time.perf_counter() - t0
    model.eval()
    ppl_after = curve[-1]["valid_ppl"] if spec.steps else ppl_before
    summary = {
        "model": model_key,
        "family": arch.family,
        "n_blocks": arch.n_blocks,
        "n_params": n_params,
        "steps": spec.steps,
        "tokens_seen": spec.steps * spec.batch_size * spec.seqlen,
        "valid_ppl_before": ppl_before,
        "valid_ppl_after": ppl_after,
        "train_seconds": seconds,
    }
    return model, pd.DataFrame(curve), summary
