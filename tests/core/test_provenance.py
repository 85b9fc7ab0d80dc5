"""Atomic writes, declared schemas and provenance records."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
import torch
from safetensors import safe_open

from absorbprune.core.io import atomic_dir, atomic_file, write_parquet, write_safetensors
from absorbprune.core.provenance import META_KEY, make_provenance, read_parquet_provenance

SCHEMA = pa.schema([("block", pa.int64()), ("value", pa.float64())])


def test_parquet_round_trip_with_provenance(tmp_path):
    prov = make_provenance("test", {"a": 1}, {"grid": {"models": ["m"]}}, {"calibration": 0})
    write_parquet(pd.DataFrame({"block": [0, 1], "value": [0.5, 1.5]}), tmp_path / "t.parquet", SCHEMA, prov)
    back = read_parquet_provenance(tmp_path / "t.parquet")
    for key in ("params", "params_hash", "config", "config_hash", "git_revision", "libraries", "seeds"):
        assert key in back
    assert back["seeds"] == {"calibration": 0} and back["libraries"]["torch"].startswith("2.13")
    assert list(tmp_path.iterdir()) == [tmp_path / "t.parquet"]


def test_wrong_columns_are_rejected_and_nothing_is_written(tmp_path):
    with pytest.raises(ValueError, match="declared schema"):
        write_parquet(pd.DataFrame({"block": [0]}), tmp_path / "t.parquet", SCHEMA, {})
    assert not list(tmp_path.iterdir())


def test_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError), atomic_file(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed midway")
    assert not list(tmp_path.iterdir())
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "model") as tmp:
        (tmp / "weights").write_bytes(b"half")
        raise RuntimeError("killed midway")
    assert not list(tmp_path.iterdir())


def test_safetensors_carry_provenance(tmp_path):
    write_safetensors({"x": torch.arange(3)}, tmp_path / "t.safetensors", {"stage": "s"})
    with safe_open(tmp_path / "t.safetensors", "pt") as f:
        assert META_KEY in f.metadata() and torch.equal(f.get_tensor("x"), torch.arange(3))


def test_set_threads_caps_a_torch_imported_later_and_does_not_import_it():
    import subprocess
    import sys

    code = (
        "import sys; from absorbprune.core.jobs import set_threads; set_threads(1); "
        "assert 'torch' not in sys.modules; import torch; print(torch.get_num_threads())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


def test_tables_refuse_non_finite_values_unless_the_column_allows_them(tmp_path):
    import math

    import pandas as pd

    from absorbprune.core.io import NonFiniteValue, write_parquet
    from absorbprune.tables.allocation import ALLOCATION
    from absorbprune.tables.common import NULLABLE
    from absorbprune.tables.summary import GRID

    row = {
        "model": "m", "pruner": "wanda", "allocation": "owl", "allocation_variant": "owl",
        "correction": "none", "correction_variant": "none", "sparsity": 0.7, "seed": 0, "block": 3,
        "block_sparsity": math.nan, "block_params": 10, "base_sparsity": 0.7, "shift": 0.0,
        "mean_kept": "both", "achieved_mean_unweighted": 0.7, "achieved_mean_weighted": 0.7,
        "hyperparameters": "",
    }  # fmt: skip
    path = tmp_path / "a.parquet"
    for value in (math.nan, math.inf, -math.inf):
        with pytest.raises(NonFiniteValue, match=r"column 'block_sparsity' holds .* at row 0 .*'block': 3"):
            write_parquet(pd.DataFrame([{**row, "block_sparsity": value}]), path, ALLOCATION, {})
        assert not path.exists()  # nothing half-written
    write_parquet(pd.DataFrame([{**row, "block_sparsity": 0.7}]), path, ALLOCATION, {})
    # columns that may hold NaN say so in the schema (stored as null), e.g. the mean zero-shot
    # accuracy when none ran, or a failed cell's perplexity; a key never may
    assert GRID.field("zeroshot_mean").metadata == NULLABLE and GRID.field("ppl").metadata == NULLABLE
    assert GRID.field("sparsity").metadata is None


def test_a_non_finite_element_of_a_list_column_is_refused(tmp_path):
    import math

    import pandas as pd
    import pyarrow as pa

    from absorbprune.core.io import NonFiniteValue, write_parquet

    schema = pa.schema([("model", pa.string()), ("window_losses", pa.list_(pa.float64()))])
    path = tmp_path / "w.parquet"
    with pytest.raises(NonFiniteValue, match=r"column 'window_losses' holds nan at row 1 .*'model': 'b'"):
        write_parquet(
            pd.DataFrame({"model": ["a", "b"], "window_losses": [[1.0, 2.0], [3.0, math.nan]]}),
            path,
            schema,
            {},
        )
    assert not path.exists()
    write_parquet(pd.DataFrame({"model": ["a", "b"], "window_losses": [[1.0], []]}), path, schema, {})
    assert pd.read_parquet(path)["window_losses"].map(list).tolist() == [[1.0], []]


def test_tensor_files_that_cannot_be_used_are_named(tmp_path):
    import torch

    from absorbprune.core.io import TensorFileError, read_tensors, write_safetensors

    good = tmp_path / "tokens.safetensors"
    write_safetensors({"input_ids": torch.arange(6).reshape(2, 3)}, good, {})
    assert read_tensors(good, ("input_ids",))["input_ids"].shape == (2, 3)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:40])
    with pytest.raises(TensorFileError, match=r"truncated\.safetensors.*cannot be read.*delete it and rerun"):
        read_tensors(truncated)
    with pytest.raises(TensorFileError, match=r"tokens\.safetensors' has no tensor 'weights'"):
        read_tensors(good, ("weights",))
    bad = tmp_path / "norms.safetensors"
    write_safetensors({"3.mlp.down_proj": torch.tensor([1.0, float("nan")])}, bad, {})
    with pytest.raises(TensorFileError, match=r"norms\.safetensors': tensor '3\.mlp\.down_proj' holds NaN"):
        read_tensors(bad)
