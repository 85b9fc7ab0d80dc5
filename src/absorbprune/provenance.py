"""Provenance and atomic writes.

Every output carries where it came from: the job's resolved parameters, the whole resolved config
and its hash, the git revision of the workflow, library versions and seeds. Parquet files hold it
in their key-value metadata (key ``absorbprune``), safetensors files in their string metadata.

Every write goes to a temporary sibling first and is renamed into place, so a killed job never
leaves a file that looks complete.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import hashlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "META_KEY",
    "NonFiniteValue",
    "TensorFileError",
    "atomic_dir",
    "atomic_file",
    "check_finite",
    "config_hash",
    "git_revision",
    "library_versions",
    "make_provenance",
    "read_parquet_provenance",
    "read_tensors",
    "write_json",
    "write_parquet",
    "write_safetensors",
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
    cwd = Path(root) if root is not None else Path(__file__).resolve().parents[2]
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
        stage: pipeline stage that wrote it (``calibration``, ``zoo``, ...).
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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs are shared like any file
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Like :func:`atomic_file` for a directory: build it under a temporary name, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o777 & ~_umask())  # mkdtemp makes 0700
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            shutil.rmtree(tmp_path)


def write_parquet(
    df: pd.DataFrame, path: str | os.PathLike[str], schema: pa.Schema, provenance: dict[str, Any]
) -> None:
    """Write ``df`` with exactly the columns of ``schema`` (checked), provenance in the metadata.

    Raises:
        ValueError: the frame's columns differ from the declared schema's.
    """
    if list(df.columns) != schema.names:
        raise ValueError(
            f"table for {os.fspath(path)!r} has columns {list(df.columns)}, "
            f"its declared schema expects {schema.names}"
        )
    check_finite(df, schema, path)
    table = pa.Table.from_pandas(df, schema=schema, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[META_KEY.encode()] = json.dumps(provenance, sort_keys=True, default=str).encode()
    table = table.replace_schema_metadata(meta)
    with atomic_file(path) as tmp:
        pq.write_table(table, tmp)


class NonFiniteValue(ValueError):
    """A table would hold NaN or infinity in a column that does not allow it."""


def check_finite(df: pd.DataFrame, schema: pa.Schema, path: str | os.PathLike[str]) -> None:
    """Refuse NaN and infinity in every float column of ``schema`` not declared nullable
    (``tables.nullable``), naming the table, the column and the row (its key columns).

    Raises:
        NonFiniteValue: the first such value found.
    """
    import numpy as np

    for field in schema:
        if not pa.types.is_floating(field.type) or (field.metadata or {}).get(b"nullable"):
            continue
        values = df[field.name].to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            row = df.iloc[int(bad[0])]
            keys = {
                k: row[k].item() if hasattr(row[k], "item") else row[k]
                for k in df.columns
                if not pa.types.is_floating(schema.field(k).type)
            }
            keys = dict(list(keys.items())[:8])
            raise NonFiniteValue(
                f"table {os.fspath(path)!r}: column {field.name!r} holds {values[bad[0]]} at row "
                f"{int(bad[0])} ({keys}; {len(bad)} such rows); the column allows finite numbers "
                "only, so nothing was written"
            )


def read_parquet_provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The provenance record stored in a Parquet file written by :func:`write_parquet`."""
    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta[META_KEY.encode()])


def write_safetensors(
    tensors: dict[str, Any], path: str | os.PathLike[str], provenance: dict[str, Any]
) -> None:
    """Save tensors (made contiguous, on CPU) with provenance in the safetensors metadata."""
    from safetensors.torch import save_file

    cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    with atomic_file(path) as tmp:
        save_file(
            cpu, os.fspath(tmp), metadata={META_KEY: json.dumps(provenance, sort_keys=True, default=str)}
        )


class TensorFileError(ValueError):
    """A safetensors file that cannot be read, lacks a tensor, or holds non-finite values."""


def read_tensors(path: str | os.PathLike[str], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every tensor of a safetensors file, on CPU, naming the file (and tensor) on any failure:
    a truncated or foreign file, a missing ``required`` tensor, NaN or infinity in a float tensor.

    Raises:
        TensorFileError: with the path, the tensor and what to do.
    """
    import torch
    from safetensors.torch import load_file

    where = os.fspath(path)
    try:
        tensors = load_file(where)
    except Exception as err:  # safetensors raises its own error types, OSError, ValueError, ...
        raise TensorFileError(
            f"tensor file {where!r} cannot be read ({type(err).__name__}: {err}); it is truncated or not "
            "a safetensors file: delete it and rerun, and the workflow rebuilds it"
        ) from err
    for name in required:
        if name not in tensors:
            raise TensorFileError(
                f"tensor file {where!r} has no tensor {name!r} (it holds {sorted(tensors)[:8]})"
            )
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise TensorFileError(f"tensor file {where!r}: tensor {name!r} holds NaN or infinity")
    return tensors


def write_json(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
