"""Export records without a workflow run: the allocation JSON, the selection lookup, the card."""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd
import pytest

from absorbprune.export.records import allocation_record, chosen_cell, model_card
from absorbprune.plan.cell import Cell

LINEARS = ["self_attn.q_proj", "self_attn.k_proj", "mlp.down_proj"]


def _allocation(sparsity: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": "m", "pruner": "wanda", "allocation": "owl", "allocation_variant": "owl",
            "correction": "paper", "correction_variant": "paper-gamma0.05", "sparsity": 0.7, "seed": 1,
            "block": range(len(sparsity)), "block_sparsity": sparsity, "block_params": 100,
        }
    )  # fmt: skip


def _linears(n_blocks: int) -> pd.DataFrame:
    return pd.DataFrame(
        [{"block": b, "linear": name, "params": 10} for b in range(n_blocks) for name in LINEARS]
    )


def test_allocation_record_has_the_reference_ratio_lists():
    rec = allocation_record(_allocation([0.6, 0.7, 0.8]), _linears(3), {"stage": "allocation"})
    assert rec["block_sparsity"] == [0.6, 0.7, 0.8]
    assert rec["all_layer_ratio"] == pytest.approx([0.4, 0.3, 0.2])  # OWL/DLP: density per block
    assert rec["ratios"] == [0.6] * 3 + [0.7] * 3 + [0.8] * 3  # AlphaPruning: per linear, in order
    assert rec["linears"] == LINEARS and rec["linear_sparsity"]["2.mlp.down_proj"] == 0.8
    assert rec["mean_sparsity"] == pytest.approx(0.7) and rec["calibration_seed"] == 1
    assert rec["provenance"] == {"stage": "allocation"}


@pytest.mark.parametrize(
    ("alloc", "linears", "says"),
    [
        (_allocation([0.6, math.nan, 0.8]), _linears(3), "non-finite"),
        (_allocation([0.6, 0.7]), _linears(3), "blocks"),
    ],
)
def test_allocation_record_refuses_what_another_tool_would_misread(alloc, linears, says):
    with pytest.raises(ValueError, match=says):
        allocation_record(alloc, linears, {})


def test_chosen_cell_reads_the_selected_variant_at_the_seed():
    group = Cell("m", "wanda", "unstructured", "owl", "paper", 0.7, 1)  # the group's method names
    rows = []
    for seed in (0, 1):
        for variant, selected in (("none", False), ("paper-gamma0.05", True)):
            rows.append({"model": "m", "pruner": "wanda", "structure": "unstructured", "allocation": "owl",
                         "correction": "paper", "sparsity": 0.7, "seed": seed, "allocation_variant": "owl",
                         "correction_variant": variant, "selected": selected,
                         "candidate": f"gamma={0.05 if selected else 0},lambda=0.08"})  # fmt: skip
    choices = pd.DataFrame(rows)
    cands = [replace(group, correction_variant=c) for c in ("none", "paper-gamma0.05")]
    chosen, label = chosen_cell(choices, group, cands)
    assert chosen.correction_variant == "paper-gamma0.05" and label == "gamma=0.05,lambda=0.08"
    with pytest.raises(ValueError, match="not a candidate"):
        chosen_cell(choices, group, cands[:1])
    with pytest.raises(ValueError, match="0 chosen rows"):
        chosen_cell(choices, replace(group, seed=5), cands)


def test_model_card_states_measurements_selection_and_provenance():
    cell = Cell("m", "wanda", "unstructured", "owl", "none", 0.7, 0).keys()
    measured = {"ppl": 12.345678, "valid_ppl": 13.0, "dense_ppl": 9.0, "ppl_dataset": "local",
                "valid_dataset": "local", "achieved_sparsity": 0.7,
                "zeroshot": [("codeline", "acc", 0.5, 32)]}  # fmt: skip
    rec = allocation_record(_allocation([0.6, 0.8]), _linears(2), {})
    selection = {
        "group": {"allocation": "owl"},
        "n_candidates": 2,
        "chosen": "owl/none",
        "candidate": "gamma=0",
    }
    card = model_card(cell, measured, rec, {"config_hash": "abc123"}, selection)
    assert "12.3457" in card and "codeline" in card and "abc123" in card
    assert "Chosen on the validation split" in card and "gamma=0" in card
    assert "as large as the dense model" in card  # what unstructured sparsity does not save
