"""Tiny architecture specs -> randomly initialised models of any registered family.

Used by the built-in models (``models.training`` trains them) and by the tests, which need a
random-init model of every supported family; each family's tiny config is its ``Family.tiny``.
Kept free of training code so it imports fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from .families import get_family

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedModel

__all__ = ["ArchSpec", "build_config", "random_model"]


@dataclass(frozen=True)
class ArchSpec:
    """Shape of a tiny decoder (the config's ``models.<key>.arch``, plus its family and vocabulary)."""

    family: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    n_blocks: int
    n_heads: int
    n_kv_heads: int
    max_position: int


def build_config(spec: ArchSpec) -> PretrainedConfig:
    """A transformers config for ``spec`` from its family (dropout off, untied embeddings)."""
    return get_family(spec.family).tiny(spec)


def random_model(spec: ArchSpec, seed: int, dtype: torch.dtype = torch.float32) -> PreTrainedModel:
    """A randomly initialised causal LM for ``spec`` (weights depend only on ``seed``)."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(build_config(spec), dtype=dtype)
    return model.eval()
