"""Tiny architecture specs -> transformers configs and randomly initialised models.

Used by the built-in model zoo (``zoo.py``, which then trains them) and by the tests, which need
a random-init model of every supported family. Kept free of training code so it imports fast.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import (
    AutoModelForCausalLM,
    LlamaConfig,
    MistralConfig,
    OPTConfig,
    PretrainedConfig,
    PreTrainedModel,
    Qwen2Config,
)

__all__ = ["ArchSpec", "build_config", "random_model"]


@dataclass(frozen=True)
class ArchSpec:
    """Shape of a tiny decoder (the config's ``models.<key>.builtin.arch``)."""

    family: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    n_blocks: int
    n_heads: int
    n_kv_heads: int
    max_position: int


def build_config(spec: ArchSpec, bos_token_id: int = 0, eos_token_id: int = 0) -> PretrainedConfig:
    """A transformers config for ``spec``; dropout off, untied embeddings, eager-free defaults."""
    common = dict(
        vocab_size=spec.vocab_size,
        hidden_size=spec.hidden_size,
        num_hidden_layers=spec.n_blocks,
        num_attention_heads=spec.n_heads,
        max_position_embeddings=spec.max_position,
        bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
        tie_word_embeddings=False,
    )
    if spec.family == "opt":
        return OPTConfig(
            **common,
            ffn_dim=spec.intermediate_size,
            word_embed_proj_dim=spec.hidden_size,
            do_layer_norm_before=True,
            dropout=0.0,
            attention_dropout=0.0,
            activation_dropout=0.0,
            layerdrop=0.0,
            pad_token_id=eos_token_id,
        )
    llama_like = dict(
        common,
        intermediate_size=spec.intermediate_size,
        num_key_value_heads=spec.n_kv_heads,
        attention_dropout=0.0,
    )
    if spec.family == "llama":
        return LlamaConfig(**llama_like)
    if spec.family == "mistral":
        return MistralConfig(**llama_like, sliding_window=None)
    if spec.family == "qwen2":
        return Qwen2Config(**llama_like, use_sliding_window=False)
    raise ValueError(
        f"unknown family {spec.family!r} for a built-in model; valid: llama, mistral, qwen2, opt"
    )


def random_model(spec: ArchSpec, seed: int, dtype: torch.dtype = torch.float32) -> PreTrainedModel:
    """A randomly initialised causal LM for ``spec`` (weights depend only on ``seed``)."""
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(build_config(spec), dtype=dtype)
    return model.eval()
