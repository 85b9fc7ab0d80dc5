"""What several test files share: running the workflow in a throw-away copy, reading a dry run's
job counts, and writing a tiny GGUF file (tests import it as ``helpers``: pyproject's
``pythonpath``)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
MICRO = ROOT / "tests" / "configs" / "micro.yaml"


def copy_workflow(dest: Path) -> Path:
    for name in ("Snakefile", "config.yaml"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("rules", "envs", "profiles", "presets"):
        shutil.copytree(ROOT / name, dest / name)
    shutil.copytree(ROOT / "src", dest / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    return dest


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
    # a guard against a hung run, sized to CI's 90 minutes, not to a quiet machine
    out = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=2400)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}")
    return out


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Rule -> job count of a dry run (its 'Job stats' table); {} when nothing is to be done."""
    out = snakemake(workdir, "--dry-run", *args)
    text = out.stdout + out.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:", 1)[1]
    jobs = {}
    for line in table.splitlines()[3:]:
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not m or m.group(1) == "total":
            break
        jobs[m.group(1)] = int(m.group(2))
    return jobs


def plan(*parts: dict) -> dict[str, int]:
    """Merge expected job-count parts: sets by union (report_table: the summary tables whose page
    is rebuilt); counts by maximum, as every part counts a subset of one rule's jobs."""
    merged: dict = {}
    for part in parts:
        for rule, n in part.items():
            if isinstance(n, set):
                merged[rule] = merged.get(rule, set()) | n
            else:
                merged[rule] = max(merged.get(rule, 0), n)
    return {rule: len(n) if isinstance(n, set) else n for rule, n in merged.items()}


# ---- a tiny llama GGUF file, written with the gguf package's writer --------------------------
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


TINY_VOCAB = 256 + 3  # bytes, one merge, two special tokens


def _add_tokenizer(writer) -> None:
    """The tiny byte-level BPE: 256 bytes, one merge, BOS and EOS (the last two ids)."""
    tokens = [*_byte_vocab(), "Ġt", "<|endoftext|>", "<|im_end|>"]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([1] * (len(tokens) - 2) + [3, 3])
    writer.add_token_merges(["Ġ t"])
    writer.add_bos_token_id(len(tokens) - 2)
    writer.add_eos_token_id(len(tokens) - 1)


_HF_TO_GGUF = {
    **_GGUF_NAMES,
    "self_attn.q_norm": "attn_q_norm",
    "self_attn.k_norm": "attn_k_norm",
    "post_attention_layernorm@gemma3": "post_attention_norm",
    "pre_feedforward_layernorm": "ffn_norm",
    "post_feedforward_layernorm": "post_ffw_norm",
}


def write_hf_as_gguf(path: Path, model, arch: str) -> None:
    """Write a Hugging Face ``qwen2`` or ``gemma3`` model's float32 tensors as a GGUF file the way
    llama.cpp's converter does (no q/k permutation for these; Gemma's norms stored as ``1 + w``;
    an untied head as ``output.weight``), with the tiny tokenizer (its vocabulary: ``TINY_VOCAB``)."""
    import gguf

    cfg = model.config
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(cfg.num_key_value_heads)
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    writer.add_rope_freq_base(float(cfg.rope_parameters.get("rope_theta", 10000.0)))
    if arch == "gemma3":
        writer.add_rope_freq_base(float(cfg.rope_parameters["full_attention"]["rope_theta"]))
        writer.add_key_length(cfg.head_dim)
        writer.add_value_length(cfg.head_dim)
        writer.add_sliding_window(cfg.sliding_window)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    _add_tokenizer(writer)
    for name, value in model.state_dict().items():
        value = value.detach().float().numpy()
        if name == "model.embed_tokens.weight":
            gname = "token_embd.weight"
        elif name == "model.norm.weight":
            gname = "output_norm.weight"
        elif name == "lm_head.weight":
            if cfg.tie_word_embeddings:
                continue
            gname = "output.weight"
        else:
            block, rest = name.removeprefix("model.layers.").split(".", 1)
            stem, suffix = rest.rsplit(".", 1)
            key = f"{stem}@{arch}" if f"{stem}@{arch}" in _HF_TO_GGUF else stem
            gname = f"blk.{block}.{_HF_TO_GGUF[key]}.{suffix}"
        if arch == "gemma3" and "norm" in gname:
            value = value + 1
        writer.add_tensor(gname, value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_tiny_gguf(
    path: Path, tensors: dict[str, np.ndarray], arch: str = "llama", quant: str = "F32"
) -> dict[str, np.ndarray]:
    """Write ``tensors`` (Hugging Face names) as a llama GGUF file with a byte-level BPE tokenizer.

    Linear weights are stored as ``quant`` (``F32`` or ``Q8_0``); returns what a faithful reader
    must give back per Hugging Face name (the dequantized values, q/k un-permuted).
    """
    import gguf

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
    _add_tokenizer(writer)
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


# The coefficient readings (docs/methods.md 5.6): the default, and hand-made tables.
DEFAULT_READING = {
    "perturbation": "gaussian",
    "eta": 0.01,
    "first_token": "perturbed",
    "measure": "all",
    "aggregation": "token",
    "end": "last_block",
    "expectation": "ratio",
}


def reading_rows(model: str, seed: int, by_reading: dict[str, list[float]]) -> pd.DataFrame:
    """A seed's reading table (``tables.absorption.READINGS``): per change from the default reading
    (``"aggregation=frobenius,end=final_norm"``; ``""`` the default itself), its r_l per block."""
    from absorbprune.absorption.readings import READING_COLUMNS, reading_name

    rows = []
    for change, r in by_reading.items():
        reading = {**DEFAULT_READING, **dict(x.split("=") for x in change.split(",") if x)}
        reading["eta"] = float(reading["eta"])
        for block, value in enumerate(r):
            rows.append(
                {
                    "model": model,
                    "seed": seed,
                    "reading": reading_name(reading),
                    **reading,
                    "block": block,
                    "r": value,
                    "n_samples": 1,
                }
            )
    return pd.DataFrame(rows, columns=READING_COLUMNS)


PAPERLIKE = [3.0, 2.0, 0.5, 0.4, 0.3, 0.2]  # early amplify, late absorb: the paper's pattern
RISING = [0.5, 0.6, 0.8, 1.2, 1.5, 2.0]  # the opposite
