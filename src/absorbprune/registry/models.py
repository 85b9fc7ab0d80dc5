"""Model axes: where weights come from (``SOURCES``) and the architecture families (``FAMILIES``).

A family's parse-time facts live here (``FamilyMeta``: the GGUF architectures it reads, the dtypes
it may run in, its BOS policy); where it keeps its blocks, how big they are and its tiny test
config live in its ``models.families.Family`` object, which the entry names.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import Entry, Registry

__all__ = [
    "BOS_POLICIES",
    "FAMILIES",
    "SOURCES",
    "FamilyMeta",
    "SourceMeta",
    "built_here",
    "gguf_architectures",
]


@dataclass(frozen=True)
class SourceMeta:
    built: bool  # the workflow writes the model's directory itself (results/models/{model})


SOURCES: Registry[SourceMeta] = Registry("model source", meta=SourceMeta)
SOURCES.add(Entry("hub", None, "a Hugging Face hub id with a pinned revision", meta=SourceMeta(False)))
SOURCES.add(Entry("local", None, "a directory save_pretrained wrote", meta=SourceMeta(False)))
SOURCES.add(Entry("builtin", None, "a tiny decoder built and trained here, offline", meta=SourceMeta(True)))
SOURCES.add(Entry("gguf", None, "a GGUF file, converted once into results/models/", meta=SourceMeta(True)))

# How a family's perplexity windows start (docs/methods.md 1.3): "none" = the text's tokens as the
# tokenizer gives them; "every_window" = a BOS token replaces the first token of every window
# (families trained to expect one at every sequence start, as Gemma is).
BOS_POLICIES = ("none", "every_window")
ALL_DTYPES = ("float32", "float16", "bfloat16")


@dataclass(frozen=True)
class FamilyMeta:
    gguf: tuple[str, ...]  # GGUF general.architecture values transformers dequantizes into it
    dtypes: tuple[str, ...] = ALL_DTYPES  # the dtypes a model of the family may be loaded in
    bos: str = "none"  # one of BOS_POLICIES

    def __post_init__(self) -> None:
        if self.bos not in BOS_POLICIES:
            raise ValueError(f"bos policy {self.bos!r}; valid: {BOS_POLICIES}")


FAMILIES: Registry[FamilyMeta] = Registry("model family", meta=FamilyMeta)
FAMILIES.add(
    Entry(
        "llama", "absorbprune.models.families:LLAMA", "LLaMA, LLaMA-2/3, SmolLM2", meta=FamilyMeta(("llama",))
    )
)
FAMILIES.add(Entry("mistral", "absorbprune.models.families:MISTRAL", "Mistral", meta=FamilyMeta(())))
FAMILIES.add(
    Entry("qwen2", "absorbprune.models.families:QWEN2", "Qwen2, Qwen2.5", meta=FamilyMeta(("qwen2",)))
)
FAMILIES.add(Entry("opt", "absorbprune.models.families:OPT", "OPT", meta=FamilyMeta(())))
# Gemma-3 is trained in bfloat16 and its activations overflow float16 (not verified otherwise here);
# it expects a BOS token at the start of every sequence.
FAMILIES.add(
    Entry(
        "gemma3",
        "absorbprune.models.families:GEMMA3",
        "Gemma-3 text-only checkpoints (270M, 1B)",
        meta=FamilyMeta(("gemma3",), dtypes=("float32", "bfloat16"), bos="every_window"),
    )
)


def built_here(source: str) -> bool:
    """Whether the workflow writes a source's model directory itself (results/models/{model})."""
    return SOURCES[source].meta.built


def gguf_architectures() -> dict[str, tuple[str, ...]]:
    """GGUF ``general.architecture`` -> the families whose adapter reads its converted model."""
    out: dict[str, list[str]] = {}
    for name, entry in FAMILIES.items():
        for arch in entry.meta.gguf:
            out.setdefault(arch, []).append(name)
    return {arch: tuple(names) for arch, names in out.items()}
