"""What leaves the workflow: allocations as JSON and pruned models as Hugging Face directories.

An allocation file carries the block sparsities in the shapes other tools read: per block, per
linear, and the ratio lists of the reference scripts (OWL and DLP keep a per-block *density*
``all_layer_ratio`` and prune block ``i`` to ``1 - all_layer_ratio[i]``; AlphaPruning indexes a
per-linear *sparsity* list ``ratios[k]``, blocks in order and the linears of a block in module
order). A model export is ``save_pretrained``'s directory (safetensors) plus the tokenizer, a model
card with the cell's provenance and measurements, the allocation file and ``provenance.json``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..plan.cell import Cell

__all__ = [
    "ALLOCATION_FORMAT",
    "allocation_record",
    "chosen_cell",
    "model_card",
    "write_model_export",
]

ALLOCATION_FORMAT = "absorbprune-allocation/1"


def allocation_record(
    allocation: pd.DataFrame, linears: pd.DataFrame, provenance: Mapping[str, Any]
) -> dict[str, Any]:
    """One allocation (rows of ``tables.allocation.ALLOCATION``) as a JSON-ready record.

    Args:
        allocation: the allocation file's rows, one per block.
        linears: the model's prunable linears (block, linear, params), e.g. the dense reference's
            ``linears.parquet``; fixes the per-linear order.
        provenance: the allocation file's provenance, copied in.

    Raises:
        ValueError: the blocks of the two tables differ, or a sparsity is not finite.
    """
    alloc = allocation.sort_values("block")
    blocks = alloc["block"].tolist()
    if blocks != list(range(len(blocks))):
        raise ValueError(f"allocation blocks are not 0..n-1: {blocks}")
    names = linears[linears["block"] == 0]["linear"].tolist()
    if sorted(set(linears["block"])) != blocks:
        raise ValueError(
            f"the allocation has {len(blocks)} blocks, the model's linears {linears['block'].nunique()}"
        )
    sparsity = [float(s) for s in alloc["block_sparsity"]]
    if not all(math.isfinite(s) for s in sparsity):
        raise ValueError(f"allocation has a non-finite block sparsity: {sparsity}")
    first = alloc.iloc[0]
    params = alloc["block_params"].astype(float)
    per_linear = {
        f"{int(r.block)}.{r.linear}": sparsity[int(r.block)]
        for r in linears.sort_values("block", kind="stable").itertuples()
    }
    return {
        "format": ALLOCATION_FORMAT,
        "model": first["model"],
        "pruner": first["pruner"],
        "allocation": first["allocation"],
        "allocation_variant": first["allocation_variant"],
        "correction": first["correction"],
        "correction_variant": first["correction_variant"],
        "target_sparsity": float(first["sparsity"]),
        "calibration_seed": int(first["seed"]),
        "n_blocks": len(blocks),
        "mean_sparsity": float((params * alloc["block_sparsity"]).sum() / params.sum()),  # by parameters
        "block_sparsity": sparsity,
        "all_layer_ratio": [1.0 - s for s in sparsity],
        "linears": names,
        "ratios": [sparsity[b] for b in blocks for _ in names],
        "linear_sparsity": per_linear,
        "provenance": dict(provenance),
    }


def chosen_cell(choices: pd.DataFrame, group: Cell, candidates: Sequence[Cell]) -> tuple[Cell, str]:
    """The candidate that held-out selection chose for ``group`` (its variants are the group's
    method names), at ``group``'s seed, and its tunable values as the choices table labels them
    (``"gamma=0,lambda=0.08"``).

    Raises:
        ValueError: the choices table has no selected row for the group, or it chose a variant
            that is not among ``candidates``.
    """
    mask = (
        (choices["model"] == group.model)
        & (choices["pruner"] == group.pruner)
        & (choices["structure"] == group.structure)
        & (choices["allocation"] == group.allocation_variant)
        & (choices["correction"] == group.correction_variant)
        & (choices["sparsity"] == float(group.sparsity))
        & (choices["seed"] == int(group.seed))
        & choices["selected"]
    )
    rows = choices[mask].drop_duplicates(["allocation_variant", "correction_variant"])
    if len(rows) != 1:
        raise ValueError(f"selection has {len(rows)} chosen rows for the group of {group.label()}")
    row = rows.iloc[0]
    for cand in candidates:
        if (cand.allocation_variant, cand.correction_variant) == (
            row["allocation_variant"],
            row["correction_variant"],
        ):
            return cand, str(row["candidate"])
    raise ValueError(
        f"selection chose {row['allocation_variant']}/{row['correction_variant']}, not a candidate of "
        f"{group.label()}"
    )


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
    return "\n".join(lines)


def model_card(
    cell: Mapping[str, Any],
    measured: Mapping[str, Any],
    allocation: Mapping[str, Any],
    provenance: Mapping[str, Any],
    selection: Mapping[str, Any] | None,
) -> str:
    """The export's README.md: what the checkpoint is, what it measured, where it came from."""
    head = (
        f"# {cell['model']} pruned: {cell['pruner']}, "
        f"{cell['allocation_variant']}/{cell['correction_variant']}, "
        f"sparsity {float(cell['sparsity']):g}\n\n"
        "Exported by absorbprune (layer-wise sparsity with perturbation absorption, arXiv 2606.15161). "
        "The weights are dense tensors with zeros where pruning removed a weight (unstructured "
        "sparsity): the file is as large as the dense model's and runs at dense speed unless a "
        "sparse kernel reads it.\n\n"
        "```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n"
        'model = AutoModelForCausalLM.from_pretrained("<this directory>", dtype="auto")\n'
        'tokenizer = AutoTokenizer.from_pretrained("<this directory>")\n```\n\n'
    )
    parts = [head, "## Cell\n\n", _table(list(cell.items()), ["key", "value"]), "\n\n"]
    if selection is not None:
        parts += [
            "## Selection\n\n",
            f"Chosen on the validation split (never the test split) among {selection['n_candidates']} "
            f"candidates of the group {selection['group']}: **{selection['chosen']}** "
            f"({selection['candidate'] or 'no tunable value'}).\n\n",
        ]
    rows = [
        ("test perplexity", f"{measured['ppl']:.6g}", measured["ppl_dataset"]),
        ("validation perplexity", f"{measured['valid_ppl']:.6g}", measured["valid_dataset"]),
        ("dense test perplexity", f"{measured['dense_ppl']:.6g}", measured["ppl_dataset"]),
    ]
    rows += [(f"zero-shot {t}", f"{v:.4f}", f"{m}, {n} documents") for t, m, v, n in measured["zeroshot"]]
    parts += [
        "## Measured (this checkpoint, re-measured after export)\n\n",
        _table(rows, ["measure", "value", "on"]),
        "\n\n",
        f"Achieved sparsity of the prunable linears: {measured['achieved_sparsity']:.4f}.\n\n",
        "## Allocation (sparsity per decoder block)\n\n",
        _table([(b, f"{s:.4f}") for b, s in enumerate(allocation["block_sparsity"])], ["block", "sparsity"]),
        "\n\nPer linear and as the reference scripts' ratio lists: `allocation.json`.\n\n",
        "## Provenance\n\n```json\n",
        json.dumps(provenance, indent=2, sort_keys=True, default=str),
        "\n```\n",
    ]
    return "".join(parts)


def write_model_export(
    model: Any,
    tokenizer: Any,
    path: str | Path,
    card: str,
    allocation: Mapping[str, Any],
    provenance: Mapping[str, Any],
) -> None:
    """Write the export directory atomically (nothing half-written looks complete)."""
    from ..core.io import atomic_dir

    with atomic_dir(path) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "README.md").write_text(card)
        (tmp / "allocation.json").write_text(json.dumps(allocation, indent=2, default=str) + "\n")
        (tmp / "provenance.json").write_text(json.dumps(provenance, indent=2, sort_keys=True, default=str))
