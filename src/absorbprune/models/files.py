"""Writing a model directory the workflow builds (a built-in model, a converted GGUF file)."""

from __future__ import annotations

import json
from typing import Any

from ..core.io import atomic_dir, file_sha256

__all__ = ["save_model_dir"]


def save_model_dir(model: Any, tokenizer: Any, path: str, provenance: dict[str, Any]) -> str:
    """Write a ``from_pretrained``-loadable directory (weights, config, tokenizer, provenance.json)
    atomically; returns the sha256 of ``model.safetensors``."""
    with atomic_dir(path) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "provenance.json").write_text(json.dumps(provenance, indent=2, sort_keys=True, default=str))
        return file_sha256(tmp / "model.safetensors")
