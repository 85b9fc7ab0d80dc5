"""Perplexity protocol and loading a cell's pruned weights."""

from __future__ import annotations

import math

import pytest
import torch

from absorbprune.evaluation.perplexity import ppl_row, window_losses
from absorbprune.models.adapter import Adapter
from absorbprune.models.tiny import ArchSpec, random_model
from absorbprune.plan.cell import CELL_PATTERN, Cell
from absorbprune.pruning.records import load_pruned_weights, pruned_weights
from absorbprune.pruning.sequential import PruneSpec, prune_model
from absorbprune.tables.cells import CELL_KEYS, PPL, ZEROSHOT

CPU = torch.device("cpu")
SPEC = ArchSpec("llama", 50, 16, 32, 2, 2, 1, 32)


def test_ppl_is_the_exponential_of_the_mean_window_loss_tail_dropped():
    model = random_model(SPEC, seed=0)
    ids = torch.randint(0, 50, (1, 70), generator=torch.Generator().manual_seed(0))
    cell = Cell.dense("m").keys()
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


def test_a_bos_family_starts_every_window_with_its_bos():
    """Gemma-3's policy (every_window): the BOS replaces each window's first token (seqlen tokens,
    seqlen - 1 predictions, the first made from the BOS); other families keep the text as is."""
    model = random_model(ArchSpec("gemma3", 50, 16, 32, 2, 2, 1, 32), seed=0)
    adapter = Adapter(model, "gemma3")
    bos = adapter.bos_id
    assert bos == model.config.bos_token_id == 0
    assert Adapter(random_model(SPEC, seed=0), "llama").bos_id is None
    ids = torch.randint(1, 50, (1, 48), generator=torch.Generator().manual_seed(0))
    windows = ids.view(3, 16).clone()
    windows[:, 0] = bos
    with torch.no_grad():
        expected = [float(model(input_ids=w[None], labels=w[None]).loss) for w in windows]
    ours = window_losses(model, ids.flatten(), 16, batch_size=2, bos_id=bos)
    assert ours.tolist() == pytest.approx(expected, rel=1e-6)
    assert not torch.allclose(ours, window_losses(model, ids.flatten(), 16, batch_size=2))
    assert ids[0, 0] != bos  # the caller's tokens are not modified
    row = ppl_row(model, ids, 16, 2, Cell.dense("m").keys(), "local", bos_id=bos).iloc[0]
    assert row["ppl"] == pytest.approx(math.exp(sum(expected) / 3), rel=1e-6)


def test_non_finite_loss_is_an_error():
    model = random_model(SPEC, seed=0)
    with torch.no_grad():
        model.lm_head.weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="non-finite loss"):
        window_losses(model, torch.arange(40) % 50, 16)


def test_loading_pruned_weights_reproduces_the_pruned_model():
    ids = torch.randint(0, 50, (3, 12), generator=torch.Generator().manual_seed(1))
    pruned = Adapter(random_model(SPEC, seed=0), "llama")
    prune_model(pruned, ids, [0.5, 0.7], PruneSpec("wanda", None, 2), CPU)
    dense = Adapter(random_model(SPEC, seed=0), "llama")
    load_pruned_weights(dense, pruned_weights(pruned))
    with torch.no_grad():
        assert torch.equal(dense.model(input_ids=ids).logits, pruned.model(input_ids=ids).logits)
    with pytest.raises(KeyError, match=r"no '1\.mlp\.up_proj'"):
        load_pruned_weights(dense, {k: v for k, v in pruned_weights(pruned).items() if k != "1.mlp.up_proj"})


def test_cell_from_wildcards_has_the_key_columns_and_the_path_it_came_from():
    tags = {
        "model": "m",
        "pruner": "wanda",
        "structure": "2-4",
        "allocation_variant": "owl-lambda0.05",
        "correction_variant": "paper-gamma0.1",
        "sparsity": "0.5",
        "seed": "2",
    }
    cell = Cell.from_wildcards(tags)
    assert cell.keys() == {
        "model": "m",
        "pruner": "wanda",
        "structure": "2:4",
        "allocation": "owl",
        "correction": "paper",
        "sparsity": 0.5,
        "seed": 2,
        "allocation_variant": "owl-lambda0.05",
        "correction_variant": "paper-gamma0.1",
    }
    assert list(cell.keys()) == [f.name for f in CELL_KEYS]
    assert cell.tags() == tags and CELL_PATTERN.format(**tags) == cell.path() and cell.nm == (2, 4)
    assert cell.label() == "m/wanda/2:4/owl-lambda0.05/paper-gamma0.1/0.5/2"
    dense = Cell.from_wildcards({"model": "m"})
    assert dense.keys()["pruner"] == "dense" and dense.keys()["seed"] == -1 and dense.path() == "m/dense"


def _measured(cell: Cell):
    """A dense model's measures without zero-shot tasks, as evaluate returns them."""
    from absorbprune.evaluation.cell import EvalData, EvalSpec, PerplexitySpec, ZeroshotSpec, evaluate

    adapter = Adapter(random_model(SPEC, seed=0), "llama")
    ids = torch.randint(0, 50, (1, 40), generator=torch.Generator().manual_seed(0))
    ppl = PerplexitySpec("local", 16, 2, None)
    spec = EvalSpec(ppl, ppl, ZeroshotSpec())
    return adapter, evaluate(adapter.model, None, cell, spec, EvalData(ids, ids[:, :32]), CPU)


def test_a_cell_writes_the_same_files_whatever_the_config(tmp_path):
    """Without zero-shot tasks the zero-shot table is written empty (static outputs); the kept
    weights are their own rule's file; the dense reference has none to keep."""
    import json

    import pandas as pd
    from safetensors.torch import load_file

    from absorbprune.core.provenance import read_parquet_provenance
    from absorbprune.pruning.records import PrunedCell, dense_cell

    cell = Cell.dense("m")
    adapter, measures = _measured(cell)
    out = {k: str(tmp_path / f"{k}.parquet") for k in ("ppl", "valid_ppl", "zeroshot")}
    measures.write(out["ppl"], out["valid_ppl"], out["zeroshot"], str(tmp_path / "raw.json"), {"stage": "x"})
    dense = dense_cell(adapter, cell)
    dense.write_linears(str(tmp_path / "linears.parquet"), {"stage": "x"})
    assert pd.read_parquet(out["ppl"])["n_windows"].iloc[0] == 2
    assert pd.read_parquet(out["valid_ppl"])["n_windows"].iloc[0] == 2
    zs = pd.read_parquet(out["zeroshot"])
    assert (
        zs.empty
        and list(zs.columns) == ZEROSHOT.names
        and json.loads((tmp_path / "raw.json").read_text()) == {}
    )
    assert read_parquet_provenance(str(tmp_path / "linears.parquet"))["stage"] == "x"
    with pytest.raises(ValueError, match="no pruned weights"):
        dense.write_weights(str(tmp_path / "x.safetensors"), {})
    assert not (tmp_path / "x.safetensors").exists()
    kept = PrunedCell(dense.linears, {"0.self_attn.q_proj": torch.ones(2, 2)})
    kept.write_weights(str(tmp_path / "w.safetensors"), {})
    assert torch.equal(load_file(tmp_path / "w.safetensors")["0.self_attn.q_proj"], torch.ones(2, 2))


def test_a_numerical_failure_is_the_cells_outcome_and_a_bug_still_fails(tmp_path):
    """prune_and_measure records a diverging cell (non-finite activations) as failed, with its
    reason and no numbers; any other exception propagates."""
    import pandas as pd

    from absorbprune.core.io import write_parquet, write_safetensors
    from absorbprune.evaluation.cell import EvalData, EvalSpec, PerplexitySpec, ZeroshotSpec
    from absorbprune.evaluation.pruned import prune_and_measure

    adapter = Adapter(random_model(SPEC, seed=0), "llama")
    with torch.no_grad():
        adapter.linears(1)["mlp.down_proj"].weight.fill_(float("inf"))  # block 1 diverges
    cell = Cell("m", "wanda", "unstructured", "uniform", "none", 0.5, 0)
    alloc = pd.DataFrame([{"block": b, "block_sparsity": 0.5} for b in range(SPEC.n_blocks)])
    write_parquet(alloc, tmp_path / "a.parquet", pa_schema(alloc), {})
    ids = torch.randint(0, 50, (2, 16), generator=torch.Generator().manual_seed(0))
    write_safetensors({"input_ids": ids}, tmp_path / "t.safetensors", {})
    ppl = PerplexitySpec("local", 16, 2, None)
    spec, data = EvalSpec(ppl, ppl, ZeroshotSpec()), EvalData(ids[:1], ids[1:])
    files = (str(tmp_path / "a.parquet"), str(tmp_path / "t.safetensors"))
    pruned, measures = prune_and_measure(
        adapter, None, cell, files, PruneSpec("wanda", None, 2), spec, data, CPU
    )
    assert pruned.linears.empty and list(pruned.linears.columns)[:9] == list(cell.keys())
    row = measures.ppl.iloc[0]
    assert row["status"] == "failed" and "non-finite" in row["reason"] and math.isnan(row["ppl"])
    assert measures.valid_ppl.iloc[0]["status"] == "failed" and measures.zeroshot.empty
    with pytest.raises(KeyError, match="valid"):  # a bug (an unknown pruner) is not an outcome
        prune_and_measure(adapter, None, cell, files, PruneSpec("obs", None, 2), spec, data, CPU)


def pa_schema(frame):
    import pyarrow as pa

    return pa.Schema.from_pandas(frame, preserve_index=False).remove_metadata()


def test_zeroshot_of_a_selected_cell_checks_it_is_the_grids_cell_first(tmp_path):
    """zeroshot_cell prunes the chosen cell again: its test perplexity must equal the grid's (on a
    CPU exactly) before any task runs; another value means another cell or stale files."""
    import pandas as pd

    from absorbprune.core.io import write_parquet, write_safetensors
    from absorbprune.evaluation.cell import EvalData, EvalSpec, PerplexitySpec, ZeroshotSpec
    from absorbprune.evaluation.pruned import prune_and_measure, zeroshot_of_cell
    from absorbprune.tables.cells import PPL

    cell = Cell("m", "wanda", "unstructured", "uniform", "none", 0.5, 0)
    alloc = pd.DataFrame([{"block": b, "block_sparsity": 0.5} for b in range(SPEC.n_blocks)])
    write_parquet(alloc, tmp_path / "a.parquet", pa_schema(alloc), {})
    ids = torch.randint(0, 50, (2, 16), generator=torch.Generator().manual_seed(0))
    write_safetensors({"input_ids": ids}, tmp_path / "t.safetensors", {})
    ppl = PerplexitySpec("local", 16, 2, None)
    spec, data = EvalSpec(ppl, ppl, ZeroshotSpec()), EvalData(ids[:1], ids[1:])
    files, prune = (str(tmp_path / "a.parquet"), str(tmp_path / "t.safetensors")), PruneSpec("wanda", None, 2)
    _, grid = prune_and_measure(
        Adapter(random_model(SPEC, seed=0), "llama"), None, cell, files, prune, spec, data, CPU
    )
    write_parquet(grid.ppl, tmp_path / "ppl.parquet", PPL, {})
    again = zeroshot_of_cell(
        Adapter(random_model(SPEC, seed=0), "llama"),
        None,
        cell,
        files,
        prune,
        spec,
        data,
        CPU,
        str(tmp_path / "ppl.parquet"),
    )
    assert again.ppl["ppl"].iloc[0] == grid.ppl["ppl"].iloc[0] and again.zeroshot.empty
    other = grid.ppl.assign(ppl=grid.ppl["ppl"] * (1 + 1e-9))
    write_parquet(other, tmp_path / "other.parquet", PPL, {})
    with pytest.raises(RuntimeError, match="pruned again it measures"):
        zeroshot_of_cell(
            Adapter(random_model(SPEC, seed=0), "llama"),
            None,
            cell,
            files,
            prune,
            spec,
            data,
            CPU,
            str(tmp_path / "other.parquet"),
        )


def test_zeroshot_asks_lm_eval_for_a_bos_exactly_when_the_family_does(monkeypatch):
    """lm-eval's HFLM leaves the BOS to the tokenizer unless told: for a BOS family it is told
    (add_bos_token=True), for the others left alone (None)."""
    from absorbprune.evaluation import cell as cell_module
    from absorbprune.evaluation.cell import ZeroshotSpec, zeroshot_only

    seen = []
    monkeypatch.setattr(cell_module, "run_zeroshot", lambda *args: seen.append(args[-1]) or {})
    monkeypatch.setattr(cell_module, "tidy_results", lambda *args: None)
    zs = ZeroshotSpec(tasks=("codeline",))
    model = random_model(SPEC, seed=0)
    for bos_id in (0, None):
        zeroshot_only(model, None, Cell.dense("m"), zs, {}, CPU, bos_id)
    assert seen == [True, None]
