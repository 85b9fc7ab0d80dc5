"""Loading a configured model (hub id, local path or built-in tiny model) with its tokenizer.

``trust_remote_code`` is passed through from the model's config entry and is off by default.
Built-in tokenizers are loaded with ``PreTrainedTokenizerFast`` directly: ``AutoTokenizer`` on a
qwen2 directory silently substitutes a tokenizer class with a different pre-tokenizer.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import torch

from ..registry.models import built_here
from .adapter import Adapter

__all__ = ["ModelUnavailable", "load_model", "load_tokenizer", "resolve_device", "resolve_dtype"]

log = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class ModelUnavailable(RuntimeError):
    """A model or tokenizer could not be loaded (offline and not cached, or a bad directory)."""


def _torch_build() -> str:
    """``torch 2.13.0+cpu, a CPU-only build`` / ``torch 2.13.0+cu128, a CUDA 12.8 build``."""
    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU-only"
    return f"torch {torch.__version__}, a {build} build"


def resolve_device(requested: str) -> torch.device:
    """``auto`` -> CUDA when visible, else CPU; ``cuda`` without a GPU is an error."""
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        log.warning(
            "device: auto found no CUDA device, running on the CPU (%s%s)",
            _torch_build(),
            "; check CUDA_VISIBLE_DEVICES and the driver"
            if torch.version.cuda
            else "; for a GPU, rebuild .venv with `make env TORCH_INDEX=...` (docs/configuration.md: GPUs)",
        )
        return torch.device("cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ModelUnavailable(
            f"device: cuda was requested but no CUDA device is visible ({_torch_build()}); rebuild "
            "the .venv with a CUDA torch (`make env TORCH_INDEX=...`, docs/configuration.md: GPUs), or use "
            "device: auto"
        )
    return torch.device(requested)


def resolve_dtype(name: str) -> torch.dtype:
    try:
        return _DTYPES[name]
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}; valid: {sorted(_DTYPES)}") from None


def _where(key: str, spec: dict[str, Any], model_dir: str | None) -> tuple[str, dict[str, Any]]:
    if built_here(spec["source"]):
        if model_dir is None:
            raise ValueError(f"model {key!r} is {spec['source']}: pass the directory the workflow wrote")
        return model_dir, {}
    if spec["source"] == "local":
        return os.path.expanduser(spec["path"]), {}
    return spec["id"], {"revision": spec["revision"]}


def _unavailable(key: str, spec: dict[str, Any], where: str, err: Exception) -> ModelUnavailable:
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    if offline and spec["source"] == "hub":
        hint = (
            "the hub is offline (allow_network: false) and it is not in the local Hugging Face cache "
            f"(HF_HOME={os.environ.get('HF_HOME', '~/.cache/huggingface')}); run "
            "`snakemake prefetch --config allow_network=true` on a machine with internet that shares "
            f"this HF_HOME, or set models.{key}.source: local with a path"
        )
    elif built_here(spec["source"]):
        hint = (
            f"{where} is a directory this workflow wrote for models.{key}, and a file in it is missing "
            "or damaged (Snakemake does not look inside output directories): delete the directory and "
            "run again, so its rule rebuilds it"
        )
    elif spec["source"] == "local":
        hint = (
            f"models.{key}.path must be a directory as save_pretrained writes it: config.json, the "
            "weights (*.safetensors) and the tokenizer files"
        )
    else:
        hint = f"check models.{key}.id and models.{key}.revision"
    return ModelUnavailable(
        f"model {key!r} ({where}) could not be loaded: {type(err).__name__}: {err}. {hint}"
    )


def load_tokenizer(key: str, spec: dict[str, Any], model_dir: str | None = None) -> Any:
    """The tokenizer of model ``key`` (see :func:`load_model` for the arguments)."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    where, extra = _where(key, spec, model_dir)
    try:
        if built_here(spec["source"]):  # a tokenizer.json the workflow wrote
            return PreTrainedTokenizerFast.from_pretrained(where)
        return AutoTokenizer.from_pretrained(
            where, trust_remote_code=bool(spec["trust_remote_code"]), **extra
        )
    except (OSError, ValueError) as err:
        raise _unavailable(key, spec, where, err) from err


def load_model(
    key: str, spec: dict[str, Any], model_dir: str | None = None, device: str | None = None
) -> Adapter:
    """Load model ``key`` of the config's ``models`` section, in eval mode, on its device.

    Args:
        key: the model key (used in messages).
        spec: ``config["models"][key]`` (resolved).
        model_dir: for built-in models, the directory rule train_tiny or convert_gguf wrote.
        device: override the spec's device (``auto``/``cpu``/``cuda``).

    Returns:
        The family adapter around the model (gradients off).

    Raises:
        ModelUnavailable: with what to do (prefetch, a local path) when loading fails.
    """
    from transformers import AutoModelForCausalLM

    where, extra = _where(key, spec, model_dir)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            where,
            dtype=resolve_dtype(spec["dtype"]),
            trust_remote_code=bool(spec["trust_remote_code"]),
            **extra,
        )
    except (OSError, ValueError) as err:
        raise _unavailable(key, spec, where, err) from err
    dev = resolve_device(device or spec["device"])
    model.to(dev).eval()
    model.requires_grad_(False)
    log.info("loaded %s (%s, %s) on %s", key, where, spec["dtype"], dev)
    return Adapter(model, spec["family"])
