"""Model axes: where weights come from (``SOURCES``) and the architecture families (``FAMILIES``)."""

from __future__ import annotations

from . import Entry, Registry

__all__ = ["FAMILIES", "SOURCES", "built_here", "gguf_architectures"]

SOURCES = Registry("model source")
SOURCES.add(Entry("hub", None, "a Hugging Face hub id with a pinned revision", meta={"built": False}))
SOURCES.add(Entry("local", None, "a directory save_pretrained wrote", meta={"built": False}))
SOURCES.add(Entry("builtin", None, "a tiny decoder built and trained here, offline", meta={"built": True}))
SOURCES.add(Entry("gguf", None, "a GGUF file, converted once into results/models/", meta={"built": True}))

# meta["gguf"]: the GGUF general.architecture values transformers dequantizes into this family
FAMILIES = Registry("model family")
FAMILIES.add(
    Entry("llama", "absorbprune.families:LLAMA", "LLaMA, LLaMA-2/3, SmolLM2", meta={"gguf": ("llama",)})
)
FAMILIES.add(Entry("mistral", "absorbprune.families:MISTRAL", "Mistral", meta={"gguf": ()}))
FAMILIES.add(Entry("qwen2", "absorbprune.families:QWEN2", "Qwen2, Qwen2.5", meta={"gguf": ("qwen2",)}))
FAMILIES.add(Entry("opt", "absorbprune.families:OPT", "OPT", meta={"gguf": ()}))


def built_here(source: str) -> bool:
    """Whether the workflow writes a source's model directory itself (results/models/{model})."""
    return bool(SOURCES[source].meta["built"])


def gguf_architectures() -> dict[str, tuple[str, ...]]:
    """GGUF ``general.architecture`` -> the families whose adapter reads its converted model."""
    out: dict[str, list[str]] = {}
    for name, entry in FAMILIES.items():
        for arch in entry.meta.get("gguf", ()):
            out.setdefault(arch, []).append(name)
    return {arch: tuple(names) for arch, names in out.items()}
