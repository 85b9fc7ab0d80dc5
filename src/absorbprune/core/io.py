"""Atomic writes and checked reads of every file the workflow produces.

Every write goes to a temporary sibling first and is renamed into place, so a killed job never
leaves a file that looks complete. Tables are checked against their declared schema (columns, and
no NaN or infinity outside the columns declared nullable) before anything is written; tensor files
are read through one function that names the file and tensor on any failure.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .provenance import META_KEY

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = [
    "NonFiniteValue",
    "TensorFileError",
    "atomic_dir",
    "atomic_file",
    "check_finite",
    "file_sha256",
    "read_tensors",
    "write_json",
    "write_parquet",
    "write_safetensors",
]


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
        NonFiniteValue: NaN or infinity in a column that does not allow it.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

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
    (``tables.common.nullable``) and in every list-of-float column (never nullable), naming the
    table, the column and the row (its key columns).

    Raises:
        NonFiniteValue: the first such value found.
    """
    import numpy as np
    import pyarrow as pa

    for field in schema:
        if pa.types.is_list(field.type) and pa.types.is_floating(field.type.value_type):
            values = np.array(
                [
                    next((v for v in np.asarray(x, np.float64) if not np.isfinite(v)), 0.0)
                    for x in df[field.name]
                ],
                dtype=np.float64,
            )  # each row's first non-finite element, else 0
        elif not pa.types.is_floating(field.type) or (field.metadata or {}).get(b"nullable"):
            continue
        else:
            values = df[field.name].to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            row = df.iloc[int(bad[0])]
            keys = {
                k: row[k].item() if hasattr(row[k], "item") else row[k]
                for k in df.columns
                if not pa.types.is_floating(schema.field(k).type)
                and not pa.types.is_list(schema.field(k).type)
            }
            keys = dict(list(keys.items())[:8])
            raise NonFiniteValue(
                f"table {os.fspath(path)!r}: column {field.name!r} holds {values[bad[0]]} at row "
                f"{int(bad[0])} ({keys}; {len(bad)} such rows); the column allows finite numbers "
                "only, so nothing was written"
            )


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


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
