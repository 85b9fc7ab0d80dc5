"""Rule export_model's work: re-prune one cell from its files, check it against the grid, write it
(the records and the directory layout: absorbprune.export). Kept apart from ``export`` so the
allocation export, which needs no model, does not rerun when pruning or evaluation code changes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from .export import allocation_record, chosen_cell, model_card, write_model_export

__all__ = ["export_model"]

log = logging.getLogger(__name__)


def export_model(
    target: Mapping[str, Any],
    inp: Any,
    pruning: Mapping[str, Any],
    evaluation: Mapping[str, Any],
    make_provenance: Callable[..., dict[str, Any]],
    out: str,
) -> dict[str, Any]:
    """Re-prune one cell from its files (rule export_model's inputs ``inp``), check that it measures
    what the grid measured (exactly on a CPU; a GPU's kernels are not bit-reproducible, so there a
    difference is logged), and write it to ``out`` (see :func:`write_model_export`).

    Args:
        target: ``kind`` (selected | cell), ``cell``, ``candidates`` (cell dicts) and ``model`` (the
            model's resolved config entry).
        inp: the rule's inputs (allocations, ppl, valid_ppl, zeroshot, linears per candidate;
            dense_ppl, choices, tokens, ppl_tokens, valid_tokens, model).
        make_provenance: the job's provenance maker (``Job.provenance``).

    Returns:
        What the export measured (the model card's numbers).

    Raises:
        RuntimeError: on a CPU, the re-pruned cell differs from the grid's (zeros or perplexity).
    """
    from .evaluation import ppl_row
    from .models import load_model, load_tokenizer, resolve_device
    from .provenance import read_parquet_provenance, read_tensors
    from .pruning import prune_cell_files

    cfg = evaluation
    cands = target["candidates"]
    selection = None
    if target["kind"] == "selected":
        choices = pd.read_parquet(inp.choices[0])
        cell, label = chosen_cell(choices, target["cell"], cands)
        selection = {
            "group": {k: target["cell"][k] for k in ("allocation", "correction", "sparsity")},
            "n_candidates": len(cands),
            "chosen": f"{cell['allocation']}/{cell['correction']}",
            "candidate": label,
        }
    else:
        cell = cands[0]
    i = cands.index(cell)
    model_dir = (inp.model or [None])[0]
    device = resolve_device(target["model"]["device"])
    adapter = load_model(cell["model"], target["model"], model_dir, device="cpu")
    pruned = prune_cell_files(adapter, cell, inp.allocations[i], inp.tokens, pruning, device)
    model = adapter.model.to(device)
    measured = {}
    for name, tokens, dataset, grid_file in (
        ("ppl", inp.ppl_tokens, cfg["ppl_source"], inp.ppl[i]),
        ("valid_ppl", inp.valid_tokens, cfg["valid_source"], inp.valid_ppl[i]),
    ):
        ids = read_tensors(tokens, ("input_ids",))["input_ids"]
        row = ppl_row(model, ids, cfg["seqlen"], cfg["batch_size"], cell, dataset, cfg["max_windows"])
        now, then = float(row["ppl"].iloc[0]), float(pd.read_parquet(grid_file)["ppl"].iloc[0])
        if now != then:
            msg = f"{name}: the re-pruned cell measures {now!r}, the grid measured {then!r} ({grid_file})"
            if device.type == "cpu":  # the CPU path is deterministic: a difference is a bug or a stale file
                raise RuntimeError(msg + "; the export would not be the cell the tables describe")
            log.warning("%s (GPU kernels are not bit-reproducible)", msg)
        measured[name], measured[f"{name}_grid"] = now, then
    measured["ppl_dataset"], measured["valid_dataset"] = cfg["ppl_source"], cfg["valid_source"]
    measured["dense_ppl"] = float(pd.read_parquet(inp.dense_ppl)["ppl"].iloc[0])
    linears = pruned.linears
    grid_zeros = pd.read_parquet(inp.linears[i])["zeros"].tolist()
    if device.type == "cpu" and linears["zeros"].tolist() != grid_zeros:
        raise RuntimeError(f"the re-pruned cell's zeros per linear differ from {inp.linears[i]}")
    measured["achieved_sparsity"] = float(linears["zeros"].sum() / linears["params"].sum())
    zs = pd.read_parquet(inp.zeroshot[i]) if inp.zeroshot else pd.DataFrame(columns=["task"])
    measured["zeroshot"] = [(r.task, r.metric, float(r.value), int(r.n_docs)) for r in zs.itertuples()]
    allocation = allocation_record(
        pd.read_parquet(inp.allocations[i]), linears, read_parquet_provenance(inp.allocations[i])
    )
    provenance = make_provenance(seeds={"calibration": int(cell["seed"])}, device=str(device), cell=cell)
    card = model_card(cell, measured, allocation, provenance, selection)
    tokenizer = load_tokenizer(cell["model"], target["model"], model_dir)
    write_model_export(model.to("cpu"), tokenizer, out, card, allocation, provenance)
    return measured
