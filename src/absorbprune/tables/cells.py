"""Tables of one cell's pruning and evaluation (rules/pruning.smk, rules/evaluation.smk), whose key
columns, ``CELL_KEYS``, lead every per-cell and summary table."""

from __future__ import annotations

import pyarrow as pa

from ..plan.cell import KEYS
from .common import nullable

__all__ = ["CELL_KEYS", "NOISE", "OUTCOME", "PPL", "PRUNED_LINEARS", "ZEROSHOT"]

# The key columns of a cell, first in every per-cell and summary table (plan.cell.KEYS explains each).
_KEY_TYPES = {"sparsity": pa.float64(), "seed": pa.int64()}
CELL_KEYS = [pa.field(name, _KEY_TYPES.get(name, pa.string())) for name in KEYS]


PRUNED_LINEARS = pa.schema(
    [
        *CELL_KEYS,
        ("block", pa.int64()),
        ("linear", pa.string()),
        ("params", pa.int64()),
        ("zeros", pa.int64()),  # exact zeros after pruning
        ("target_sparsity", pa.float64()),  # the block's allocated sparsity (N/M under N:M)
        ("achieved_sparsity", pa.float64()),  # zeros / params
    ]
)


# A cell's outcome: "ok", or "failed" when pruning or measuring it failed numerically (a
# non-finite activation or loss, a factorisation that failed): then its numbers are NaN and
# ``reason`` says what happened (evaluation.cell.NUMERICAL_FAILURES).
OUTCOME = [("status", pa.string()), ("reason", pa.string())]

PPL = pa.schema(
    [
        *CELL_KEYS,
        nullable("ppl"),  # exp(mean window loss), Wanda's protocol (NaN: the cell failed)
        ("ppl_dataset", pa.string()),  # wikitext2 | local
        ("n_windows", pa.int64()),  # non-overlapping windows, tail dropped (0: the cell failed)
        ("seqlen", pa.int64()),
        nullable("mean_window_loss"),  # nats per token (NaN: the cell failed)
        # each window's mean token loss in window order: what the bootstrap resamples (empty: failed)
        ("window_losses", pa.list_(pa.float64())),
        *OUTCOME,
    ]
)


ZEROSHOT = pa.schema(
    [
        *CELL_KEYS,
        ("task", pa.string()),  # lm-eval task name (codeline = the built-in task)
        ("metric", pa.string()),  # acc | acc_norm
        ("value", pa.float64()),  # fraction correct, 0..1
        nullable("stderr"),  # lm-eval's standard error of value
        ("n_docs", pa.int64()),  # documents evaluated
        # each document's metric in lm-eval's doc_id order (value is their mean): what the bootstrap
        # resamples; every cell answers the same documents
        ("doc_scores", pa.list_(pa.float64())),
    ]
)


# One cell pruned again under float-level perturbations of the pass (evaluation.noise; rule
# noise_floor): the unperturbed run ("none") first. No rows: the cell failed numerically.
NOISE = pa.schema(
    [
        *CELL_KEYS,
        ("perturbation", pa.string()),  # none | threads=2 | batch=1 | batch=all | nudge+1ulp | nudge-1ulp
        ("threads", pa.int64()),  # torch CPU threads while pruning
        ("batch_size", pa.int64()),  # calibration sequences per forward
        ("nudge", pa.int64()),  # -1, 0, +1: every block input moved one float32 ulp
        ("ppl", pa.float64()),  # test perplexity of this run
        ("rel_deviation", pa.float64()),  # ppl / ppl of the unperturbed run - 1
        ("mask_frac_differ", pa.float64()),  # share of prunable weights pruned differently from "none"
    ]
)
