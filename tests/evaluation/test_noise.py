"""The noise floor of a cell (evaluation.noise) on a random tiny model."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from absorbprune.evaluation.cell import PerplexitySpec
from absorbprune.evaluation.noise import (
    COLUMNS,
    DEFAULT_PERTURBATIONS,
    _nudged,
    noise_floor,
    noise_table,
)
from absorbprune.evaluation.perplexity import ppl_row
from absorbprune.models.adapter import Adapter
from absorbprune.models.tiny import ArchSpec, random_model
from absorbprune.pruning.reference import ulp_distance
from absorbprune.pruning.sequential import PruneSpec, prune_model

CPU = torch.device("cpu")
ARCH = ArchSpec("llama", 61, 32, 64, 3, 4, 2, 32)
PPL = PerplexitySpec("test", 16, 4, None)


def cell(batch: int = 2):
    adapter = Adapter(random_model(ARCH, seed=0), "llama")
    gen = torch.Generator().manual_seed(1)
    calib = torch.randint(0, 61, (4, 12), generator=gen)
    test = torch.randint(0, 61, (1, 160), generator=gen)
    return adapter, calib, [0.5, 0.7, 0.6], PruneSpec("wanda", None, batch), test


def test_noise_table_has_one_row_per_run_and_leaves_the_model_dense():
    adapter, calib, sparsity, spec, test = cell()
    before = {k: v.clone() for k, v in adapter.model.state_dict().items()}
    table = noise_table(adapter, calib, sparsity, spec, test, PPL, CPU)
    assert tuple(table.columns) == COLUMNS
    assert table["perturbation"].tolist() == ["none", *DEFAULT_PERTURBATIONS]
    assert table[["threads", "batch_size", "nudge"]].values.tolist() == [
        [1, 2, 0],
        [2, 2, 0],
        [1, 1, 0],
        [1, 4, 0],
        [1, 2, 1],
        [1, 2, -1],
    ]
    base = table.iloc[0]
    assert base["rel_deviation"] == 0 and base["mask_frac_differ"] == 0
    assert (table["ppl"] > 1).all() and table["mask_frac_differ"].between(0, 1).all()
    assert table["rel_deviation"].tolist() == pytest.approx((table["ppl"] / base["ppl"] - 1).tolist())
    after = adapter.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # dense again, bit for bit
    assert torch.get_num_threads() >= 1 and all(not b._forward_pre_hooks for _, b in adapter.iter_blocks())


def test_the_unperturbed_run_is_the_cells_own_pass_and_repeats_exactly():
    adapter, calib, sparsity, spec, test = cell()
    first = noise_table(adapter, calib, sparsity, spec, test, PPL, CPU, ["batch=1"])
    again = noise_table(adapter, calib, sparsity, spec, test, PPL, CPU, ["batch=1"])
    pd.testing.assert_frame_equal(first, again)  # deterministic at fixed settings
    prune_model(adapter, calib, sparsity, spec, CPU)
    row = ppl_row(adapter.model, test, PPL.seqlen, PPL.batch_size, {}, PPL.dataset, PPL.max_windows)
    assert row["ppl"].iloc[0] == first["ppl"].iloc[0]


@pytest.mark.parametrize(("batch", "skipped"), [(4, "batch=all"), (1, "batch=1"), (8, "batch=all")])
def test_a_perturbation_that_repeats_the_unperturbed_pass_is_skipped(batch, skipped):
    adapter, calib, sparsity, spec, test = cell(batch)
    table = noise_table(adapter, calib, sparsity, spec, test, PPL, CPU, ["batch=1", "batch=all"])
    assert skipped not in table["perturbation"].tolist()
    assert len(table) == 2


def test_unknown_perturbations_are_named():
    adapter, calib, sparsity, spec, test = cell()
    with pytest.raises(KeyError, match="known"):
        noise_table(adapter, calib, sparsity, spec, test, PPL, CPU, ["threads=8"])


@pytest.mark.parametrize("direction", [1, -1])
def test_the_nudge_moves_every_block_input_by_one_ulp_and_is_undone(direction):
    adapter, calib, *_ = cell()
    seen: list[torch.Tensor] = []
    h = adapter.embed(calib)

    def run_recorded() -> None:  # a pre-hook registered last runs last: it sees the nudged input
        hook = adapter.blocks[1].register_forward_pre_hook(lambda m, a: seen.append(a[0].clone()))
        adapter.run_block(1, h)
        hook.remove()

    with _nudged(adapter, direction):
        run_recorded()
    run_recorded()
    nudged, plain = seen
    assert torch.equal(plain, h)
    assert (ulp_distance(nudged, h) == 1).all()
    assert ((nudged > h) if direction > 0 else (nudged < h)).all()
    assert all(not b._forward_pre_hooks for _, b in adapter.iter_blocks())


def test_noise_floor_is_the_largest_relative_move():
    table = pd.DataFrame(
        {"perturbation": ["none", "a", "b"], "ppl": [10.0, 10.5, 9.2], "rel_deviation": [0.0, 0.05, -0.08]}
    )
    assert noise_floor(table) == pytest.approx(0.08)
    with pytest.raises(ValueError, match="no perturbed"):
        noise_floor(table.iloc[:1])
