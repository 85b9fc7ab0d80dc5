"""Model loading: a damaged directory is named with the remedy that fits where it came from."""

from __future__ import annotations

import logging

import pytest
import torch

from absorbprune.models.loading import ModelUnavailable, load_model, resolve_device


def _spec(source: str, path: str | None = None) -> dict:
    spec = {
        "source": source,
        "family": "llama",
        "dtype": "float32",
        "device": "cpu",
        "trust_remote_code": False,
    }
    if path is not None:
        spec["path"] = path
    return spec


@pytest.fixture
def model_dir(tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=32,
    )  # fmt: skip
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(tmp_path / "m")
    return tmp_path / "m"


def test_a_directory_the_workflow_wrote_names_the_rebuild(model_dir):
    assert load_model("tiny", _spec("builtin"), str(model_dir)).n_blocks == 2
    (model_dir / "config.json").unlink()
    with pytest.raises(ModelUnavailable) as err:
        load_model("tiny", _spec("builtin"), str(model_dir))
    assert str(model_dir) in str(err.value) and "delete the directory and run again" in str(err.value)


def test_a_local_directory_without_weights_names_what_it_needs(model_dir):
    for f in model_dir.glob("*.safetensors"):
        f.unlink()
    with pytest.raises(ModelUnavailable) as err:
        load_model("mine", _spec("local", str(model_dir)))
    assert "models.mine.path" in str(err.value) and "safetensors" in str(err.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback")
def test_device_auto_without_cuda_warns_and_cuda_fails_naming_the_build(caplog):
    with caplog.at_level(logging.WARNING, logger="absorbprune.models.loading"):
        assert resolve_device("auto") == torch.device("cpu")
    assert "found no CUDA device" in caplog.text and torch.__version__ in caplog.text
    with pytest.raises(ModelUnavailable, match="TORCH_INDEX"):
        resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_device_auto_picks_cuda_when_visible():
    assert resolve_device("auto").type == "cuda"
