"""A cell pruned and measured in one job (rule prune_evaluate): the model is loaded once, pruned in
memory (``pruning.cell``) and measured in memory (``evaluation.cell``). A numerical failure of
either (``NUMERICAL_FAILURES``) becomes the cell's recorded outcome, so one diverging cell never
takes the study down; any other exception is a bug and fails the job."""

from __future__ import annotations

import logging
from typing import Any

import torch

from ..models.adapter import Adapter
from ..plan.cell import Cell
from ..pruning.cell import prune_cell_files
from ..pruning.records import PrunedCell
from ..pruning.sequential import PruneSpec
from ..tables.cells import ZEROSHOT
from ..tables.common import empty
from .cell import NUMERICAL_FAILURES, EvalData, EvalSpec, Measures, evaluate, failure_reason
from .perplexity import ppl_row
from .zeroshot import run_zeroshot, tidy_results

__all__ = ["prune_and_measure", "zeroshot_of_cell"]

log = logging.getLogger(__name__)

# On a GPU a cell pruned again may differ in the last bits (kernels are not bit-reproducible); a
# relative perplexity difference above this means another cell, or stale files.
GPU_TOLERANCE = 1e-3


def prune_and_measure(
    adapter: Adapter,
    tokenizer: Any,
    cell: Cell,
    files: tuple[str, str],
    prune: PruneSpec,
    spec: EvalSpec,
    data: EvalData,
    device: torch.device,
) -> tuple[PrunedCell, Measures]:
    """Prune ``cell`` from its files (``files``: its allocation, the calibration tokens), then
    measure it; on a numerical failure, the failed outcome with its reason."""
    try:
        pruned = prune_cell_files(adapter, cell, *files, prune, device)
        return pruned, evaluate(adapter.model, tokenizer, cell, spec, data, device, adapter.bos_id)
    except NUMERICAL_FAILURES as err:
        reason = failure_reason(err, cell)
        log.warning("cell %s failed numerically, recorded as its outcome: %s", cell.label(), reason)
        return PrunedCell.failed(cell), Measures.failed(cell, spec, reason)


def zeroshot_of_cell(
    adapter: Adapter,
    tokenizer: Any,
    cell: Cell,
    files: tuple[str, str],
    prune: PruneSpec,
    spec: EvalSpec,
    data: EvalData,
    device: torch.device,
    grid_ppl: str,
) -> Measures:
    """Zero-shot accuracy of a cell the grid already measured (``evaluation.zeroshot.cells:
    selected``): pruned again from its files, its test perplexity must equal the grid's
    (``grid_ppl``) before the tasks run: exactly on a CPU; within ``GPU_TOLERANCE`` on a GPU,
    whose kernels are not bit-reproducible.

    Raises:
        RuntimeError: the cell pruned again measures another perplexity.
    """
    import pandas as pd

    prune_cell_files(adapter, cell, *files, prune, device)
    model, test, zs = adapter.model.to(device), spec.test, spec.zeroshot
    bos_id = adapter.bos_id
    row = ppl_row(
        model,
        data.test_ids,
        test.seqlen,
        test.batch_size,
        cell.keys(),
        test.dataset,
        test.max_windows,
        bos_id,
    )
    now = float(row["ppl"].iloc[0])
    then = float(pd.read_parquet(grid_ppl)["ppl"].iloc[0])
    if now != then:
        msg = f"{cell.label()}: pruned again it measures {now!r}, the grid measured {then!r} ({grid_ppl})"
        if device.type == "cpu" or abs(now - then) > GPU_TOLERANCE * abs(then):
            raise RuntimeError(msg + "; its zero-shot would not be the cell's")
        log.warning("%s (within %g: GPU kernels are not bit-reproducible)", msg, GPU_TOLERANCE)
    if not zs.tasks:  # the workflow plans no such job; kept total for callers
        return Measures(row, row, empty(ZEROSHOT), {})
    add_bos = True if bos_id is not None else None
    results = run_zeroshot(
        model, tokenizer, zs.tasks, data.documents, zs.batch_size, zs.limit, zs.seed, add_bos
    )
    return Measures(row, row, tidy_results(results, zs.tasks, zs.metric, cell.keys()), results)
