"""Rule export_model's work: re-prune one cell from its files, check it against the grid, write it
(the records and the directory layout: ``export.records``). Kept apart from ``records`` so the
allocation export, which needs no model, does not rerun when pruning or evaluation code changes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..plan.exports import ExportTarget
from .records import allocation_record, chosen_cell, model_card, write_model_export

__all__ = ["CellFiles", "ExportFiles", "ExportSpec", "export_model"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CellFiles:
    """What the grid wrote for one candidate cell."""

    allocation: str
    ppl: str
    valid_ppl: str
    zeroshot: str
    linears: str


@dataclass(frozen=True)
class ExportFiles:
    """Everything an export reads: the exported cell's files (a ``selected`` export: the candidate
    its group's choice names, the workflow resolving that choice before the job starts), the
    group's choice file (a ``selected`` export), the dense perplexity, the calibration and
    evaluation tokens, and the model directory the workflow wrote (None: a hub or local model)."""

    cell: CellFiles
    choice: str | None
    dense_ppl: str
    tokens: str
    ppl_tokens: str
    valid_tokens: str
    model_dir: str | None


@dataclass(frozen=True)
class ExportSpec:
    """How the exported cell is pruned again (``pruning.sequential.PruneSpec``) and measured again
    (``evaluation.cell.PerplexitySpec`` of the test and validation texts)."""

    prune: Any
    test: Any
    valid: Any


def export_model(
    target: ExportTarget,
    files: ExportFiles,
    model_entry: Mapping[str, Any],
    spec: ExportSpec,
    make_provenance: Callable[..., dict[str, Any]],
    out: str,
) -> dict[str, Any]:
    """Re-prune one cell from its files, check that it measures what the grid measured (exactly on
    a CPU; a GPU's kernels are not bit-reproducible, so there a difference is logged), and write it
    to ``out`` (see ``records.write_model_export``).

    Args:
        model_entry: the model's resolved config entry (``models.<key>``).
        make_provenance: the job's provenance maker (``core.jobs.Job.provenance``).

    Returns:
        What the export measured (the model card's numbers).

    Raises:
        RuntimeError: on a CPU, the re-pruned cell differs from the grid's (zeros or perplexity).
    """
    from ..core.io import read_tensors
    from ..core.provenance import read_parquet_provenance
    from ..evaluation.perplexity import ppl_row
    from ..models.loading import load_model, load_tokenizer, resolve_device
    from ..pruning.cell import prune_cell_files

    cands = list(target.candidates)
    selection = None
    if target.kind == "selected":
        if files.choice is None:
            raise ValueError(f"export {target.path()}: a selected export needs its group's choice file")
        cell, label = chosen_cell(pd.read_parquet(files.choice), target.cell, cands)
        selection = {
            "group": {
                "allocation": target.cell.allocation,
                "correction": target.cell.correction,
                "sparsity": target.cell.sparsity,
            },
            "n_candidates": len(cands),
            "chosen": f"{cell.allocation_variant}/{cell.correction_variant}",
            "candidate": label,
        }
    else:
        cell = cands[0]
    mine = files.cell
    grid_row = pd.read_parquet(mine.ppl).iloc[0]
    if (grid_row["allocation_variant"], grid_row["correction_variant"]) != (
        cell.allocation_variant,
        cell.correction_variant,
    ):
        raise ValueError(
            f"export {target.path()}: its files are those of {grid_row['allocation_variant']}/"
            f"{grid_row['correction_variant']} ({mine.ppl}), its choice names {cell.label()}"
        )
    device = resolve_device(model_entry["device"])
    adapter = load_model(cell.model, model_entry, files.model_dir, device="cpu")
    pruned = prune_cell_files(adapter, cell, mine.allocation, files.tokens, spec.prune, device)
    model = adapter.model.to(device)
    measured: dict[str, Any] = {}
    for name, tokens, protocol, grid_file in (
        ("ppl", files.ppl_tokens, spec.test, mine.ppl),
        ("valid_ppl", files.valid_tokens, spec.valid, mine.valid_ppl),
    ):
        ids = read_tensors(tokens, ("input_ids",))["input_ids"]
        row = ppl_row(
            model,
            ids,
            protocol.seqlen,
            protocol.batch_size,
            cell.keys(),
            protocol.dataset,
            protocol.max_windows,
            adapter.bos_id,
        )
        now, then = float(row["ppl"].iloc[0]), float(pd.read_parquet(grid_file)["ppl"].iloc[0])
        if now != then:
            msg = f"{name}: the re-pruned cell measures {now!r}, the grid measured {then!r} ({grid_file})"
            if device.type == "cpu":  # the CPU path is deterministic: a difference is a bug or a stale file
                raise RuntimeError(msg + "; the export would not be the cell the tables describe")
            log.warning("%s (GPU kernels are not bit-reproducible)", msg)
        measured[name], measured[f"{name}_grid"] = now, then
    measured["ppl_dataset"], measured["valid_dataset"] = spec.test.dataset, spec.valid.dataset
    measured["dense_ppl"] = float(pd.read_parquet(files.dense_ppl)["ppl"].iloc[0])
    pruned.check_zeros(mine.linears, exact=device.type == "cpu")
    linears = pruned.linears
    measured["achieved_sparsity"] = float(linears["zeros"].sum() / linears["params"].sum())
    zs = pd.read_parquet(mine.zeroshot)
    measured["zeroshot"] = [(r.task, r.metric, float(r.value), int(r.n_docs)) for r in zs.itertuples()]
    allocation = allocation_record(
        pd.read_parquet(mine.allocation), linears, read_parquet_provenance(mine.allocation)
    )
    keys = cell.keys()
    provenance = make_provenance(seeds={"calibration": cell.seed}, device=str(device), cell=keys)
    card = model_card(keys, measured, allocation, provenance, selection)
    tokenizer = load_tokenizer(cell.model, model_entry, files.model_dir)
    write_model_export(model.to("cpu"), tokenizer, out, card, allocation, provenance)
    return measured
