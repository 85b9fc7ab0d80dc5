"""One model's evaluation in memory (pruned or dense): test and validation perplexity, and
zero-shot accuracy through lm-eval (docs/methods.md section 1)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ..core.io import atomic_file, read_tensors, write_parquet
from ..plan.cell import Cell
from ..tables.cells import PPL, ZEROSHOT
from ..tables.common import empty
from .perplexity import ppl_row
from .zeroshot import raw_json, run_zeroshot, tidy_results

__all__ = [
    "NUMERICAL_FAILURES",
    "EvalData",
    "EvalSpec",
    "Measures",
    "PerplexitySpec",
    "ZeroshotSpec",
    "evaluate",
    "failure_reason",
    "write_zeroshot",
    "zeroshot_only",
]

# What a cell may fail of numerically (docs/methods.md 4.7): a non-finite activation or loss
# (FloatingPointError, raised by the pruning pass and the perplexity loop) or a factorisation that
# failed (SparseGPT's Cholesky). Such a cell's outcome is recorded and the study goes on; any other
# exception is a bug and fails the job.
NUMERICAL_FAILURES: tuple[type[BaseException], ...] = (FloatingPointError, torch.linalg.LinAlgError)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PerplexitySpec:
    """A perplexity protocol: ``dataset`` names the text (recorded in the table)."""

    dataset: str
    seqlen: int
    batch_size: int  # windows per forward (no effect on the number)
    max_windows: int | None  # spread evenly over the text; None: every window

    @classmethod
    def test_and_valid(cls, evaluation: Mapping[str, Any]) -> tuple[PerplexitySpec, PerplexitySpec]:
        """The test and validation protocols of the config's ``evaluation`` settings
        (``ppl_source``, ``valid_source``, ``seqlen``, ``batch_size``, ``max_windows``)."""
        common = (evaluation["seqlen"], evaluation["batch_size"], evaluation["max_windows"])
        return cls(evaluation["ppl_source"], *common), cls(evaluation["valid_source"], *common)


@dataclass(frozen=True)
class ZeroshotSpec:
    """lm-eval settings; no tasks: zero-shot is not run (the tables are written empty)."""

    tasks: tuple[str, ...] = ()
    metric: str = "acc"
    batch_size: int = 8
    limit: int | None = None
    seed: int = 0

    @classmethod
    def from_config(cls, zeroshot: Mapping[str, Any]) -> ZeroshotSpec:
        """From ``evaluation.zeroshot`` (only ``tasks`` is required; the rest default)."""
        keys = ("metric", "batch_size", "limit", "seed")
        return cls(tuple(zeroshot["tasks"]), **{k: zeroshot[k] for k in keys if k in zeroshot})


@dataclass(frozen=True)
class EvalSpec:
    test: PerplexitySpec
    valid: PerplexitySpec
    zeroshot: ZeroshotSpec

    @classmethod
    def from_config(cls, evaluation: Mapping[str, Any], zeroshot: Mapping[str, Any]) -> EvalSpec:
        """From the config's ``evaluation`` settings (``PerplexitySpec.test_and_valid``) and
        ``evaluation.zeroshot`` (built-in tasks' settings need not be there: they reach a job
        through its documents)."""
        test, valid = PerplexitySpec.test_and_valid(evaluation)
        return cls(
            test=test,
            valid=valid,
            zeroshot=ZeroshotSpec.from_config(zeroshot),
        )


@dataclass(frozen=True)
class EvalData:
    """The tokenized test and validation texts, (1, n) each, and the built-in tasks' documents."""

    test_ids: torch.Tensor
    valid_ids: torch.Tensor
    documents: Mapping[str, str | Path] = field(default_factory=dict)

    @classmethod
    def read(cls, test_tokens: str, valid_tokens: str, documents: Sequence[str] = ()) -> EvalData:
        """From the tokenized texts (rules ppl_tokens, valid_tokens) and the built-in tasks'
        documents (rule zeroshot_data: ``{task}.parquet``)."""
        ids = [read_tensors(p, ("input_ids",))["input_ids"] for p in (test_tokens, valid_tokens)]
        return cls(*ids, documents={Path(p).stem: p for p in documents})


@dataclass
class Measures:
    """What evaluation writes for one model in memory: test and validation perplexity, zero-shot
    rows (none when no task is configured) and lm-eval's raw results."""

    ppl: pd.DataFrame
    valid_ppl: pd.DataFrame
    zeroshot: pd.DataFrame
    raw: dict[str, Any]

    @classmethod
    def failed(cls, cell: Cell, spec: EvalSpec, reason: str) -> Measures:
        """A cell that failed numerically: perplexity rows marked ``failed`` with the reason and
        NaN numbers, no zero-shot rows."""
        rows = {}
        for name, protocol in (("test", spec.test), ("valid", spec.valid)):
            rows[name] = pd.DataFrame(
                [
                    {
                        **cell.keys(),
                        "ppl": float("nan"),
                        "ppl_dataset": protocol.dataset,
                        "n_windows": 0,
                        "seqlen": protocol.seqlen,
                        "mean_window_loss": float("nan"),
                        "window_losses": [],
                        "status": "failed",
                        "reason": reason,
                    }
                ]
            )
        return cls(rows["test"], rows["valid"], empty(ZEROSHOT), {"failed": reason})

    def write(self, ppl: str, valid_ppl: str, zeroshot: str, raw: str, provenance: dict[str, Any]) -> None:
        """Write every table, each atomically: a killed job leaves no file that looks complete."""
        self.write_ppl(ppl, valid_ppl, provenance)
        self.write_zeroshot(zeroshot, raw, provenance)

    def write_ppl(self, ppl: str, valid_ppl: str, provenance: dict[str, Any]) -> None:
        """Write the test and validation perplexity rows, each atomically."""
        write_parquet(self.ppl, ppl, PPL, provenance)
        write_parquet(self.valid_ppl, valid_ppl, PPL, provenance)

    def write_zeroshot(self, zeroshot: str, raw: str, provenance: dict[str, Any]) -> None:
        """Write the zero-shot rows and lm-eval's raw results, each atomically."""
        write_zeroshot(self.zeroshot, self.raw, zeroshot, raw, provenance)


def write_zeroshot(
    table: pd.DataFrame, results: dict[str, Any], zeroshot: str, raw: str, provenance: dict[str, Any]
) -> None:
    """Write zero-shot rows (``tables.cells.ZEROSHOT``) and lm-eval's raw results, each atomically."""
    with atomic_file(raw) as tmp:
        tmp.write_text(raw_json(results))
    write_parquet(table, zeroshot, ZEROSHOT, provenance)


def evaluate(
    model: torch.nn.Module,
    tokenizer: Any,
    cell: Cell,
    spec: EvalSpec,
    data: EvalData,
    device: torch.device,
    bos_id: int | None = None,
) -> Measures:
    """Measure the in-memory (pruned or dense) ``model`` of one cell on ``device``; ``bos_id``: the
    family's BOS policy (``Adapter.bos_id``: the token that starts every perplexity window and
    zero-shot request, or ``None``)."""
    model = model.to(device)
    keys = cell.keys()
    rows = {}
    for name, protocol, ids in (("test", spec.test, data.test_ids), ("valid", spec.valid, data.valid_ids)):
        rows[name] = ppl_row(
            model,
            ids,
            protocol.seqlen,
            protocol.batch_size,
            keys,
            protocol.dataset,
            protocol.max_windows,
            bos_id,
        )
    table, raw = zeroshot_only(model, tokenizer, cell, spec.zeroshot, data.documents, device, bos_id)
    return Measures(rows["test"], rows["valid"], table, raw)


def zeroshot_only(
    model: torch.nn.Module,
    tokenizer: Any,
    cell: Cell,
    zs: ZeroshotSpec,
    documents: Mapping[str, str | Path],
    device: torch.device,
    bos_id: int | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Zero-shot rows and lm-eval's raw results of the in-memory ``model`` (no tasks: none, {});
    with ``bos_id`` (the family's BOS policy) lm-eval adds the BOS to every request."""
    if not zs.tasks:
        return empty(ZEROSHOT), {}
    model = model.to(device)
    add_bos = True if bos_id is not None else None
    results = run_zeroshot(model, tokenizer, zs.tasks, documents, zs.batch_size, zs.limit, zs.seed, add_bos)
    return tidy_results(results, zs.tasks, zs.metric, cell.keys()), results


def failure_reason(err: BaseException, cell: Cell) -> str:
    """One line for a numerical failure of ``cell`` (the outcome tables and the report show it)."""
    text = " ".join(str(err).split())[:300]
    return f"{type(err).__name__}: {text}"
