"""Token sequences from text: the calibration sequences and the perplexity texts (docs/methods.md
section 1).

Calibration: Wanda's protocols (C4 and document sources: a random document longer than ``seqlen``,
a random window of it; wikitext2: random windows of the joined split). Perplexity text: every
document of the split joined with ``"\\n\\n"`` and tokenized once; C4's validation split by
Wanda's protocol. Random choices use ``random.Random(seed)``, the same stream as the reference's
``random.seed``.
"""

from __future__ import annotations

import logging
import random
from typing import Any

import torch

from .sources import DataUnavailable

__all__ = [
    "C4_VALID_DOCS",
    "C4_VALID_WINDOWS",
    "JOINED_SOURCES",
    "calibration_tokens",
    "ppl_tokens",
    "split_tokens",
]

log = logging.getLogger(__name__)


# Calibration sources read as one joined text (random windows), with their separator.
JOINED_SOURCES = {"wikitext2": " ", "wikileads": "\n\n"}


def _encode(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text)["input_ids"]


def calibration_tokens(
    source: str, dataset: Any, tokenizer: Any, n_samples: int, seqlen: int, seed: int
) -> torch.Tensor:
    """The calibration sequences, int64 (n_samples, seqlen), in draw order.

    Document sources (c4, local): Wanda's ``get_c4``: draw a random document until its token count
    exceeds ``seqlen``, then a random window start in ``[0, n_tokens - seqlen - 1]``.
    wikitext2: Wanda's ``get_wikitext2``: the split joined with ``" "``, tokenized once, random
    windows. wikileads: the same joined-text protocol, articles joined with ``"\n\n"`` (a lead
    section averages about 100 tokens, so the document protocol would find almost no document
    longer than a paper-scale seqlen).

    Raises:
        DataUnavailable: no document is long enough (after 100 x n_samples draws).
    """
    rng = random.Random(seed)
    out = torch.empty(n_samples, seqlen, dtype=torch.int64)
    if source in JOINED_SOURCES:
        ids = _encode(tokenizer, JOINED_SOURCES[source].join(dataset["text"]))
        if len(ids) <= seqlen + 1:
            raise DataUnavailable(f"{source} train split has only {len(ids)} tokens; need > {seqlen + 1}")
        for s in range(n_samples):
            i = rng.randint(0, len(ids) - seqlen - 1)
            out[s] = torch.tensor(ids[i : i + seqlen])
        log.info("calibration: %d windows of %d from %s's %d tokens", n_samples, seqlen, source, len(ids))
        return out
    n_docs = len(dataset)
    max_draws = 100 * n_samples
    draws = 0
    for s in range(n_samples):
        while True:
            draws += 1
            if draws > max_draws:
                raise DataUnavailable(
                    f"calibration source {source!r}: {max_draws} random documents drawn and too few have "
                    f"more than seqlen={seqlen} tokens; lower calibration.seqlen"
                )
            ids = _encode(tokenizer, dataset[rng.randint(0, n_docs - 1)]["text"])
            if len(ids) > seqlen:
                break
        i = rng.randint(0, len(ids) - seqlen - 1)
        out[s] = torch.tensor(ids[i : i + seqlen])
    log.info(
        "calibration: %d sequences of %d tokens from %s (%d document draws)", n_samples, seqlen, source, draws
    )
    return out


# Wanda's C4 validation protocol: the first 1,100 documents joined with a space, then the first
# 256 x seqlen tokens.
C4_VALID_DOCS = 1100
C4_VALID_WINDOWS = 256


def split_tokens(source: str, split: str, dataset: Any, tokenizer: Any, seqlen: int) -> torch.Tensor:
    """A perplexity text tokenized once, int64 (1, n): C4's validation split by Wanda's protocol,
    every other source and split joined with blank lines (``ppl_tokens``)."""
    if source == "c4":
        if split not in ("valid", "validation"):
            raise ValueError("c4 perplexity is its validation split only")
        text = " ".join(dataset[: min(C4_VALID_DOCS, len(dataset))]["text"])
        ids = torch.tensor(_encode(tokenizer, text), dtype=torch.int64)[: C4_VALID_WINDOWS * seqlen]
        return ids.unsqueeze(0)
    return ppl_tokens(dataset, tokenizer)


def ppl_tokens(dataset: Any, tokenizer: Any) -> torch.Tensor:
    """The perplexity text tokenized once, int64 (1, n_tokens): the split joined with ``"\\n\\n"``."""
    ids = _encode(tokenizer, "\n\n".join(dataset["text"]))
    return torch.tensor(ids, dtype=torch.int64).unsqueeze(0)
