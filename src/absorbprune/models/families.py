"""Model families: the one place that knows, per architecture, where a decoder keeps its blocks,
prunable linears and final norm, how wide its blocks are, and what its tiny test model looks like.

Every stage walks a model through ``models.adapter.Adapter``, which reads a :class:`Family`; no
stage touches ``model.model.layers`` or ``model.config.hidden_size`` itself. A family's parse-time
facts (GGUF architectures, dtypes, BOS policy) are its registry entry's ``FamilyMeta``
(``registry.models``); adding a family is one :class:`Family` here and one ``FAMILIES.add``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..registry.models import FAMILIES

if TYPE_CHECKING:
    from torch import nn
    from transformers import PretrainedConfig

    from .tiny import ArchSpec

__all__ = ["GEMMA3", "LLAMA", "MISTRAL", "OPT", "QWEN2", "BlockShape", "Family", "get_family"]


@dataclass(frozen=True)
class BlockShape:
    """The sizes of one decoder block that a memory estimate needs."""

    hidden: int  # C, the residual stream's width
    intermediate: int  # the MLP's inner width
    heads: int  # attention heads (each materialises a T x T score matrix)


@dataclass(frozen=True)
class Family:
    """Where a family keeps its parts.

    Attributes:
        name: the config's ``family`` value.
        decoders: ``config.model_type`` -> the decoder stack of such a model (the module whose
            forward runs the blocks); the model types this family accepts (checked at load).
        blocks: returns the ``nn.ModuleList`` of decoder blocks from the decoder stack.
        finals: returns the modules applied after the last block, in order (final norm, OPT's
            optional ``project_out``); ``None`` entries are skipped.
        linears: the expected prunable linear names inside one block, in a fixed order.
        shape: the block sizes from a model's config.
        tiny: a transformers config of a tiny random model of this family from an ``ArchSpec``
            (the built-in models and the tests).
    """

    name: str
    decoders: Mapping[str, Callable[[nn.Module], nn.Module]]
    blocks: Callable[[nn.Module], nn.ModuleList]
    finals: Callable[[nn.Module], tuple[nn.Module | None, ...]]
    linears: tuple[str, ...]
    shape: Callable[[Any], BlockShape]
    tiny: Callable[[ArchSpec], PretrainedConfig]

    @property
    def model_types(self) -> tuple[str, ...]:
        return tuple(self.decoders)


_LLAMA_LINEARS = (
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
)


def _llama_shape(cfg: Any) -> BlockShape:
    return BlockShape(cfg.hidden_size, cfg.intermediate_size, cfg.num_attention_heads)


def _common(spec: ArchSpec) -> dict[str, Any]:
    """The tiny configs' shared settings: dropout off, untied embeddings, token 0 as BOS and EOS."""
    return dict(
        vocab_size=spec.vocab_size,
        hidden_size=spec.hidden_size,
        num_hidden_layers=spec.n_blocks,
        num_attention_heads=spec.n_heads,
        max_position_embeddings=spec.max_position,
        bos_token_id=0,
        eos_token_id=0,
        tie_word_embeddings=False,
    )


def _llama_like_tiny(spec: ArchSpec) -> dict[str, Any]:
    return dict(
        _common(spec),
        intermediate_size=spec.intermediate_size,
        num_key_value_heads=spec.n_kv_heads,
        attention_dropout=0.0,
    )


def _tiny_llama(spec: ArchSpec) -> PretrainedConfig:
    from transformers import LlamaConfig

    return LlamaConfig(**_llama_like_tiny(spec))


def _tiny_mistral(spec: ArchSpec) -> PretrainedConfig:
    from transformers import MistralConfig

    return MistralConfig(**_llama_like_tiny(spec), sliding_window=None)


def _tiny_qwen2(spec: ArchSpec) -> PretrainedConfig:
    from transformers import Qwen2Config

    return Qwen2Config(**_llama_like_tiny(spec), use_sliding_window=False)


def _tiny_gemma3(spec: ArchSpec) -> PretrainedConfig:
    """Gemma-3 text: sliding-window and global layers alternate, each with its own rotary table
    (local theta 1e4, global 1e6). The window is an eighth of the positions (8 of the tests' 64),
    shorter than the tests' sequences, so a sliding layer really masks."""
    from transformers import Gemma3TextConfig

    head_dim = spec.hidden_size // spec.n_heads
    return Gemma3TextConfig(
        **_llama_like_tiny(spec),
        head_dim=head_dim,
        query_pre_attn_scalar=head_dim,
        sliding_window=max(2, spec.max_position // 8),
        layer_types=["full_attention" if i % 2 else "sliding_attention" for i in range(spec.n_blocks)],
        pad_token_id=0,
    )


def _tiny_opt(spec: ArchSpec) -> PretrainedConfig:
    from transformers import OPTConfig

    return OPTConfig(
        **_common(spec),
        ffn_dim=spec.intermediate_size,
        word_embed_proj_dim=spec.hidden_size,
        do_layer_norm_before=True,
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        layerdrop=0.0,
        pad_token_id=0,
    )


def _llama_like(name: str, model_type: str, tiny: Callable[[ArchSpec], PretrainedConfig]) -> Family:
    return Family(
        name=name,
        decoders={model_type: lambda m: m.model},
        blocks=lambda d: d.layers,
        finals=lambda d: (d.norm,),
        linears=_LLAMA_LINEARS,
        shape=_llama_shape,
        tiny=tiny,
    )


# Registered by name in registry.models.FAMILIES.
LLAMA = _llama_like("llama", "llama", _tiny_llama)
MISTRAL = _llama_like("mistral", "mistral", _tiny_mistral)
QWEN2 = _llama_like("qwen2", "qwen2", _tiny_qwen2)
# Gemma-3 text-only checkpoints (Gemma3ForCausalLM, model_type gemma3_text): llama's linears, plus
# q/k RMSNorms and four norms per block (not linears); the embedding scales by sqrt(hidden) inside
# embed_tokens, so the adapter's recorded h_{-1} already includes it. Its layers alternate sliding
# and global attention with different rotary tables: the adapter records each block's own.
GEMMA3 = _llama_like("gemma3", "gemma3_text", _tiny_gemma3)
OPT = Family(
    name="opt",
    decoders={"opt": lambda m: m.model.decoder},
    blocks=lambda d: d.layers,
    finals=lambda d: (d.final_layer_norm, d.project_out),
    linears=(
        "self_attn.q_proj",
        "self_attn.k_proj",
        "self_attn.v_proj",
        "self_attn.out_proj",
        "fc1",
        "fc2",
    ),
    shape=lambda cfg: BlockShape(cfg.hidden_size, cfg.ffn_dim, cfg.num_attention_heads),
    tiny=_tiny_opt,
)


def get_family(name: str) -> Family:
    """Look a family up in ``registry.models.FAMILIES``; an unknown name lists the valid ones."""
    return FAMILIES.load(name)
