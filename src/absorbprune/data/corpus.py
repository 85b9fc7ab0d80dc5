"""The built-in offline corpus and its tokenizer.

The corpus is the running interpreter's standard-library sources (``*.py``), so every machine with
the same Python version builds the same bytes; the Python version and the corpus sha256 are
recorded. Files are split into train/valid/test by a hash of their relative path, so the split of
a file never depends on which other files exist.
"""

from __future__ import annotations

import hashlib
import logging
import platform
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

__all__ = [
    "EOS_TOKEN",
    "SPLITS",
    "CorpusInfo",
    "build_corpus",
    "split_of",
    "stdlib_root",
    "train_tokenizer",
]

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
EOS_TOKEN = "<|endoftext|>"
_TEST_DIRS = {"test", "tests", "idle_test"}
_SKIP_DIRS = {"site-packages", "dist-packages", "__pycache__"}


def stdlib_root() -> Path:
    """Directory of this interpreter's standard library sources."""
    return Path(sysconfig.get_paths()["stdlib"])


def split_of(relpath: str, valid_fraction: float, test_fraction: float) -> str:
    """Split of one file: a uniform number from sha256(path) against the split fractions."""
    u = int(hashlib.sha256(relpath.encode()).hexdigest()[:12], 16) / 16**12  # in [0, 1)
    if u < test_fraction:
        return "test"
    if u < test_fraction + valid_fraction:
        return "valid"
    return "train"


@dataclass(frozen=True)
class CorpusInfo:
    python_version: str
    stdlib_root: str
    corpus_sha256: str  # sha256 over "path\tsha256\n" of every kept file, in path order
    n_files: dict[str, int]
    n_bytes: dict[str, int]
    n_skipped_undecodable: int


def _candidate_files(root: Path, exclude_tests: bool) -> list[Path]:
    out = []
    for path in root.rglob("*.py"):
        parts = set(path.relative_to(root).parts[:-1])
        if parts & _SKIP_DIRS or (exclude_tests and parts & _TEST_DIRS):
            continue
        out.append(path)
    return sorted(out, key=lambda p: p.relative_to(root).as_posix())


def build_corpus(
    root: Path,
    exclude_tests: bool,
    max_bytes: int | None,
    valid_fraction: float,
    test_fraction: float,
) -> tuple[dict[str, pd.DataFrame], CorpusInfo]:
    """Read the stdlib sources under ``root`` into three split tables (columns of ``tables.CORPUS``).

    Args:
        root: the stdlib directory (:func:`stdlib_root`).
        exclude_tests: drop files under ``test``/``tests``/``idle_test`` directories.
        max_bytes: stop after this many UTF-8 bytes (files in path order); None = all.
        valid_fraction, test_fraction: share of files per held-out split.
    """
    rows: dict[str, list[dict[str, object]]] = {s: [] for s in SPLITS}
    digest = hashlib.sha256()
    total = skipped = 0
    for path in _candidate_files(root, exclude_tests):
        rel = path.relative_to(root).as_posix()
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            skipped += 1
            continue
        data = text.encode("utf-8")
        if not text.strip():
            continue
        if max_bytes is not None and total + len(data) > max_bytes and total > 0:
            break
        total += len(data)
        sha = hashlib.sha256(data).hexdigest()
        digest.update(f"{rel}\t{sha}\n".encode())
        split = split_of(rel, valid_fraction, test_fraction)
        rows[split].append({"path": rel, "sha256": sha, "n_bytes": len(data), "text": text})
    frames = {s: pd.DataFrame(rows[s], columns=["path", "sha256", "n_bytes", "text"]) for s in SPLITS}
    for split, frame in frames.items():
        if frame.empty:
            raise ValueError(
                f"the built-in corpus's {split!r} split is empty (corpus.max_bytes={max_bytes} too small?)"
            )
    info = CorpusInfo(
        python_version=platform.python_version(),
        stdlib_root=str(root),
        corpus_sha256=digest.hexdigest(),
        n_files={s: len(f) for s, f in frames.items()},
        n_bytes={s: int(f["n_bytes"].sum()) for s, f in frames.items()},
        n_skipped_undecodable=skipped,
    )
    log.info("corpus: %s files, %s bytes, sha256 %s", info.n_files, info.n_bytes, info.corpus_sha256)
    return frames, info


def train_tokenizer(texts: Iterable[str], vocab_size: int, min_frequency: int):  # -> PreTrainedTokenizerFast
    """A byte-level BPE tokenizer trained on ``texts``, wrapped as a ``PreTrainedTokenizerFast``.

    ``<|endoftext|>`` (id 0) is the only special token and serves as BOS, EOS, PAD and UNK; no
    token is added automatically when encoding, so document boundaries are explicit.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[EOS_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=EOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=EOS_TOKEN,
        unk_token=EOS_TOKEN,
        model_max_length=1 << 30,
    )
