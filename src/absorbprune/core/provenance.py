"""Provenance records: where every output came from.

Every output carries the job's resolved parameters, the whole resolved config and its hash, the git
revision of the workflow, library versions and seeds. Parquet files hold the record in their
key-value metadata (key ``absorbprune``), safetensors files in their string metadata, directories
in ``provenance.json`` (the writers are in :mod:`absorbprune.core.io`).
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "META_KEY",
    "config_hash",
    "git_revision",
    "library_versions",
    "make_provenance",
    "read_parquet_provenance",
]

META_KEY = "absorbprune"
_LIBRARIES = (
    "torch",
    "transformers",
    "tokenizers",
    "datasets",
    "safetensors",
    "lm_eval",
    "pandas",
    "pyarrow",
    "numpy",
    "snakemake",
)


def config_hash(config: Any) -> str:
    """sha256 of the canonical JSON of ``config`` (sorted keys), first 16 hex digits."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@functools.cache
def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that can change a result, plus Python's."""
    out = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


@functools.cache
def git_revision(root: str | os.PathLike[str] | None = None) -> str:
    """``<sha>`` of the workflow checkout, ``<sha>-dirty`` with uncommitted changes, or ``unknown``."""
    cwd = Path(root) if root is not None else Path(__file__).resolve().parents[3]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def make_provenance(
    stage: str,
    params: dict[str, Any],
    config: dict[str, Any] | None = None,
    seeds: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The provenance record of one output.

    Args:
        stage: pipeline stage that wrote it (``calibration``, ``models``, ...).
        params: the job's resolved parameters (exactly what the rule passed in).
        config: the whole resolved config the job ran under.
        seeds: every seed the job used, by name.
    """
    return {
        "stage": stage,
        "params": params,
        "params_hash": config_hash(params),
        "config": config,
        "config_hash": config_hash(config) if config is not None else None,
        "git_revision": git_revision(),
        "libraries": library_versions(),
        "seeds": seeds or {},
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def read_parquet_provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The provenance record stored in a Parquet file written by ``core.io.write_parquet``."""
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta[META_KEY.encode()])
