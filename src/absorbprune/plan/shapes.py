"""The sizes of a model that the cost estimate needs (``plan.costs``), without loading it: from
its config (built-in models), its GGUF header, the ``config.json`` in the Hugging Face cache, or,
for the presets' hub models, :data:`KNOWN_SHAPES`. Light: no torch."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DTYPE_BYTES", "KNOWN_SHAPES", "Shape", "shape_of"]


@dataclass(frozen=True)
class Shape:
    """What the cost model needs of an architecture."""

    family: str
    hidden: int
    inter: int
    blocks: int
    heads: int
    kv_heads: int
    vocab: int
    tied: bool = False
    head_dim: int | None = None  # None: hidden / heads (Gemma-3's is wider: 4 x 256 > 640)

    def linears(self) -> list[tuple[int, int]]:
        """(out, in) of every prunable linear of one block."""
        h, i = self.hidden, self.inter
        if self.family == "opt":
            return [(h, h)] * 4 + [(i, h), (h, i)]
        d = self.head_dim or h // self.heads
        q, kv = self.heads * d, self.kv_heads * d
        return [(q, h), (kv, h), (kv, h), (h, q), (i, h), (i, h), (h, i)]

    @property
    def block_params(self) -> int:
        return sum(o * i for o, i in self.linears())

    @property
    def params(self) -> int:
        """Every weight, embeddings and head included (norms and biases left out)."""
        return self.blocks * self.block_params + self.vocab * self.hidden * (1 if self.tied else 2)

    def forward_flops(
        self, tokens: float, seqlen: int, blocks: float | None = None, head: bool = True
    ) -> float:
        """FLOPs of ``tokens`` tokens (in sequences of ``seqlen``) through ``blocks`` blocks
        (default all), plus the LM head when ``head``: ``2 x weights`` per token, and causal
        attention's ``2 x seqlen x hidden`` (scores and weighted sum, half the square)."""
        blocks = self.blocks if blocks is None else blocks
        per_block = 2 * self.block_params + 2 * seqlen * self.hidden
        return tokens * (blocks * per_block + (2 * self.vocab * self.hidden if head else 0))


def _from_hf_config(family: str, cfg: Mapping[str, Any]) -> Shape:
    """A Shape from a transformers ``config.json``."""
    if family == "opt":
        return Shape(
            "opt",
            cfg["hidden_size"],
            cfg["ffn_dim"],
            cfg["num_hidden_layers"],
            cfg["num_attention_heads"],
            cfg["num_attention_heads"],
            cfg["vocab_size"],
            True,
        )
    heads = cfg["num_attention_heads"]
    return Shape(
        family,
        cfg["hidden_size"],
        cfg["intermediate_size"],
        cfg["num_hidden_layers"],
        heads,
        cfg.get("num_key_value_heads") or heads,
        cfg["vocab_size"],
        bool(cfg.get("tie_word_embeddings", False)),
        cfg.get("head_dim"),
    )


# The presets' hub models, read from their config.json on the hub (used when the cache has none).
KNOWN_SHAPES: dict[str, Shape] = {
    "meta-llama/Llama-2-7b-hf": Shape("llama", 4096, 11008, 32, 32, 32, 32000),
    "meta-llama/Llama-2-13b-hf": Shape("llama", 5120, 13824, 40, 40, 40, 32000),
    "meta-llama/Meta-Llama-3-8B": Shape("llama", 4096, 14336, 32, 32, 8, 128256),
    "huggyllama/llama-7b": Shape("llama", 4096, 11008, 32, 32, 32, 32000),
    "mistralai/Mistral-7B-v0.1": Shape("mistral", 4096, 14336, 32, 32, 8, 32000),
    "Qwen/Qwen2.5-7B": Shape("qwen2", 3584, 18944, 28, 28, 4, 152064),
    "facebook/opt-6.7b": Shape("opt", 4096, 16384, 32, 32, 32, 50272, True),
    "HuggingFaceTB/SmolLM2-135M": Shape("llama", 576, 1536, 30, 9, 3, 49152, True),
}


def shape_of(key: str, entry: Mapping[str, Any]) -> Shape:
    """The shape of model ``key`` (its resolved ``models`` entry).

    Raises:
        ValueError: a hub or local model whose config.json is neither cached nor known, naming it.
    """
    family, source = entry["family"], entry["source"]
    if source == "builtin":
        a = entry["arch"]
        vocab = int(entry.get("vocab_size") or 4096)
        return Shape(
            family,
            a["hidden_size"],
            a["intermediate_size"],
            a["n_blocks"],
            a["n_heads"],
            a["n_kv_heads"],
            vocab,
        )
    if source == "gguf":
        from ..models.gguf import gguf_header, gguf_inputs

        path = gguf_inputs(key, entry)  # the file, or its chunks read as one
        arch = gguf_header(path, ("general.architecture",))["general.architecture"]
        names = {
            "hidden": f"{arch}.embedding_length",
            "inter": f"{arch}.feed_forward_length",
            "blocks": f"{arch}.block_count",
            "heads": f"{arch}.attention.head_count",
            "kv_heads": f"{arch}.attention.head_count_kv",
            "vocab": f"{arch}.vocab_size",
            "tokens": "tokenizer.ggml.tokens",  # its length: the vocabulary when vocab_size is absent
            "head_dim": f"{arch}.attention.key_length",
        }
        found = gguf_header(path, tuple(names.values()), tensors=True)  # the whole header: ~0.5 s
        values = {k: int(found[n]) for k, n in names.items() if n in found}
        values.setdefault("kv_heads", values["heads"])
        values.setdefault("vocab", values.pop("tokens", 0))
        values.pop("tokens", None)
        tied = "output.weight" not in found["tensors"]  # no separate head: it is the embedding
        return Shape(family, tied=tied, **values)
    cfg_path = None
    if source == "local":
        cfg_path = Path(entry["path"]) / "config.json"
    else:
        try:
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(entry["id"], "config.json", revision=entry.get("revision"))
            cfg_path = Path(found) if isinstance(found, str) else None
        except Exception:  # no hub library or no cache: fall back on the table
            cfg_path = None
    if cfg_path is not None and cfg_path.is_file():
        return _from_hf_config(family, json.loads(cfg_path.read_text()))
    if entry.get("id") in KNOWN_SHAPES:
        return KNOWN_SHAPES[entry["id"]]
    raise ValueError(
        f"config key 'models.{key}': no config.json for {entry.get('id') or entry.get('path')!r} in the "
        "Hugging Face cache and not in absorbprune.plan.estimate.KNOWN_SHAPES; run `snakemake prefetch` "
        "first (it fetches config.json), or add the model's shape to that table"
    )


DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
