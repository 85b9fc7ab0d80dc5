"""Perplexity protocol and loading a cell's pruned weights."""

from __future__ import annotations

import math

import pytest
import torch

from absorbprune.architectures import ArchSpec, random_model
from absorbprune.evaluation import load_pruned_weights, ppl_row
from absorbprune.families import Adapter
from absorbprune.metrics import window_losses
from absorbprune.pruning import prune_model, pruned_weights
from absorbprune.tables import PPL

SPEC = ArchSpec("llama", 50, 16, 32, 2, 2, 1, 32)


def test_ppl_is_the_exponential_of_the_mean_window_loss_tail_dropped():
    model = random_model(SPEC, seed=0)
    ids = torch.randint(0, 50, (1, 70), generator=torch.Generator().manual_seed(0))
    cell = {
        "model": "m",
        "pruner": "dense",
        "structure": "unstructured",
        "allocation": "dense",
        "correction": "none",
        "sparsity": 0.0,
        "seed": -1,
    }
    row = ppl_row(model, ids, 16, 3, cell, "local").iloc[0]
    with torch.no_grad():
        losses = [
            float(model(input_ids=ids[:, w * 16 : (w + 1) * 16], labels=ids[:, w * 16 : (w + 1) * 16]).loss)
            for w in range(4)
        ]
    assert row["n_windows"] == 4 and row["ppl"] == pytest.approx(math.exp(sum(losses) / 4), rel=1e-5)
    assert list(ppl_row(model, ids, 16, 3, cell, "local").columns) == PPL.names
    capped = ppl_row(model, ids, 16, 3, cell, "local", max_windows=2).iloc[0]
    assert capped["n_windows"] == 2 and capped["ppl"] == pytest.approx(  # windows 0 and 2 of 4
        math.exp((losses[0] + losses[2]) / 2), rel=1e-5
    )
    every = ppl_row(model, ids, 16, 3, cell, "local", max_windows=99).iloc[0]
    assert every["n_windows"] == 4 and every["ppl"] == row["ppl"]


def test_non_finite_loss_is_an_error():
    model = random_model(SPEC, seed=0)
    with torch.no_grad():
        model.lm_head.weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="non-finite loss"):
        window_losses(model, torch.arange(40) % 50, 16)


def test_loading_pruned_weights_reproduces_the_pruned_model():
    ids = torch.randint(0, 50, (3, 12), generator=torch.Generator().manual_seed(1))
    pruned = Adapter(random_model(SPEC, seed=0), "llama")
    prune_model(pruned, ids, [0.5, 0.7], "wanda", "unstructured", 2, torch.device("cpu"))
    dense = Adapter(random_model(SPEC, seed=0), "llama")
    load_pruned_weights(dense, pruned_weights(pruned))
    with torch.no_grad():
        assert torch.equal(dense.model(input_ids=ids).logits, pruned.model(input_ids=ids).logits)
    with pytest.raises(KeyError, match=r"no '1\.mlp\.up_proj'"):
        load_pruned_weights(dense, {k: v for k, v in pruned_weights(pruned).items() if k != "1.mlp.up_proj"})


def test_cell_keys_from_wildcards():
    from absorbprune.tables import cell_keys

    cell = cell_keys(
        {
            "model": "m",
            "pruner": "wanda",
            "structure": "2-4",
            "allocation": "uniform",
            "correction": "none",
            "sparsity": "0.5",
            "seed": "2",
        }
    )
    assert cell == {
        "model": "m",
        "pruner": "wanda",
        "structure": "2:4",
        "allocation": "uniform",
        "correction": "none",
        "sparsity": 0.5,
        "seed": 2,
    }
    assert cell_keys({"model": "m"})["pruner"] == "dense" and cell_keys({"model": "m"})["seed"] == -1


class _Result:
    """A cell's pruning and evaluation outputs, written as the prune_evaluate script writes them."""

    def __init__(self, weights, zeroshot=None):
        from absorbprune.evaluation import Measures
        from absorbprune.pruning import PrunedCell, dense_rows, linears_table
        from absorbprune.tables import cell_keys

        adapter = Adapter(random_model(SPEC, seed=0), "llama")
        cell = cell_keys({"model": "m"})
        ids = torch.randint(0, 50, (1, 40), generator=torch.Generator().manual_seed(0))
        ppl = ppl_row(adapter.model, ids, 16, 2, cell, "local")
        self.pruned = PrunedCell(linears_table(dense_rows(adapter), cell), weights)
        valid = ppl_row(adapter.model, ids[:, :32], 16, 2, cell, "local")
        self.measures = Measures(ppl, valid, zeroshot, None)

    def write(self, outputs, provenance):
        self.pruned.write(outputs, provenance)
        self.measures.write(outputs, provenance)


def _result(weights, zeroshot=None):
    return _Result(weights, zeroshot)


def test_cell_result_writes_what_the_rule_declares(tmp_path):
    import pandas as pd
    from safetensors.torch import load_file

    from absorbprune.provenance import read_parquet_provenance

    weights = {"0.self_attn.q_proj": torch.ones(2, 2)}
    names = ("linears", "ppl", "valid_ppl")
    out = {k: str(tmp_path / f"{k}.parquet") for k in names}
    _result(weights).write({**out, "weights": str(tmp_path / "w.safetensors")}, {"stage": "prune_evaluate"})
    assert torch.equal(load_file(tmp_path / "w.safetensors")["0.self_attn.q_proj"], torch.ones(2, 2))
    assert pd.read_parquet(out["ppl"])["n_windows"].iloc[0] == 2
    assert read_parquet_provenance(out["linears"])["stage"] == "prune_evaluate"
    assert pd.read_parquet(out["valid_ppl"])["n_windows"].iloc[0] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "linears.parquet",
        "ppl.parquet",
        "valid_ppl.parquet",
        "w.safetensors",
    ]
    with pytest.raises(ValueError, match="no pruned weights"):
        _result(None).write({**out, "weights": str(tmp_path / "x.safetensors")}, {})
    with pytest.raises(ValueError, match="no zero-shot task"):
        _result(None).write(
            {**out, "zeroshot": str(tmp_path / "z.parquet"), "raw": str(tmp_path / "z.json")}, {}
        )
    assert not (tmp_path / "x.safetensors").exists() and not (tmp_path / "z.parquet").exists()
