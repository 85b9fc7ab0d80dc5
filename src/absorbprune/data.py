"""Calibration and perplexity data, all through ``datasets`` (docs/methods.md section 1).

Sources:
  * ``c4``: the exact Wanda protocol: shard ``en/c4-train.00000-of-01024.json.gz``; for each sample,
    draw random documents until one has more than ``seqlen`` tokens, then a random window of it.
  * ``wikitext2``: calibration from the raw *train* split (Wanda's ``get_wikitext2``: the split
    joined with spaces, tokenized once, random windows); perplexity from the raw *test* split.
  * ``local``: the built-in corpus (``results/corpus/{split}.parquet``); calibration uses the C4
    document protocol on its train split, perplexity its test split.

Perplexity text is every document of the split joined with ``"\\n\\n"`` and tokenized once.
Random choices use ``random.Random(seed)``, the same stream as the reference's ``random.seed``.

With the hub offline (the default), a data set that is not in the local cache fails at once with
:class:`DataUnavailable`, naming it and saying how to supply a copy.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import torch

__all__ = ["DataUnavailable", "calibration_tokens", "load_split", "ppl_tokens", "split_tokens"]

log = logging.getLogger(__name__)


class DataUnavailable(RuntimeError):
    """A data set could not be loaded (offline and not cached, or a missing local copy)."""


def _how_to_supply(source: str) -> str:
    key = f"datasets.{source}.local_path"
    return (
        f"To supply it: run `snakemake prefetch --config allow_network=true` on a machine with internet "
        f"sharing this HF_HOME (e.g. a cluster login node), or download a copy and set {key} "
        f"(c4: the .json.gz shard; wikitext2: a directory with its parquet files or a save_to_disk copy), "
        f"or choose calibration.source / evaluation.ppl_source: local for the built-in corpus."
    )


def _load(source: str, what: str, **kwargs: Any):  # -> datasets.Dataset
    import datasets

    try:
        return datasets.load_dataset(**kwargs)
    except Exception as err:  # datasets raises many types (ConnectionError, FileNotFoundError, ...)
        raise DataUnavailable(
            f"data set {source!r} ({what}) could not be loaded: {type(err).__name__}: {err}. "
            + _how_to_supply(source)
        ) from err


def _load_local_wikitext(local: Path, split: str):  # -> datasets.Dataset
    import datasets

    if (local / "dataset_dict.json").is_file() or (local / "dataset_info.json").is_file():
        loaded = datasets.load_from_disk(str(local))
        return loaded[split] if isinstance(loaded, datasets.DatasetDict) else loaded
    files = sorted(p for p in local.rglob("*.parquet") if p.name.startswith(f"{split}-") or split in p.parts)
    if not files:
        raise DataUnavailable(
            f"data set 'wikitext2': no {split!r} parquet files under "
            f"datasets.wikitext2.local_path={str(local)!r} (expected e.g. "
            "wikitext-2-raw-v1/test-00000-of-00001.parquet, or a save_to_disk copy)"
        )
    return _load(
        "wikitext2",
        f"local copy {local}",
        path="parquet",
        data_files={split: [str(f) for f in files]},
        split=split,
    )


def load_split(source: str, split: str, datasets_cfg: dict[str, Any], corpus_dir: str | Path):
    """One split of a text source as a ``datasets.Dataset`` with a ``text`` column.

    Args:
        source: ``c4``, ``wikitext2`` or ``local``.
        split: ``train``, ``valid``/``validation`` or ``test`` (C4 has only ``train`` here).
        datasets_cfg: the config's ``datasets`` section.
        corpus_dir: where the built-in corpus parquet files are.
    """
    if source == "local":
        path = Path(corpus_dir) / f"{'valid' if split == 'validation' else split}.parquet"
        if not path.is_file():
            raise DataUnavailable(f"built-in corpus split {str(path)!r} is missing; run the 'corpus' rule")
        return _load("local", str(path), path="parquet", data_files={split: str(path)}, split=split)
    if source == "c4":
        cfg = datasets_cfg["c4"]
        if split in ("valid", "validation"):
            local, remote = cfg["valid_local_path"], cfg["valid_file"]
            if local:
                return _load(
                    "c4",
                    f"local copy {local}",
                    path="json",
                    data_files={"validation": local},
                    split="validation",
                )
            return _load(
                "c4",
                f"{cfg['path']} {remote}",
                path=cfg["path"],
                data_files={"validation": remote},
                split="validation",
            )
        if split != "train":
            raise ValueError(
                "the c4 source has a train split (calibration) and a validation split (selection)"
            )
        if cfg["local_path"]:
            return _load(
                "c4",
                f"local copy {cfg['local_path']}",
                path="json",
                data_files={"train": cfg["local_path"]},
                split="train",
            )
        return _load(
            "c4",
            f"{cfg['path']} {cfg['data_file']}",
            path=cfg["path"],
            data_files={"train": cfg["data_file"]},
            split="train",
        )
    if source == "wikitext2":
        cfg = datasets_cfg["wikitext2"]
        if cfg["local_path"]:
            return _load_local_wikitext(Path(cfg["local_path"]), split)
        return _load(
            "wikitext2",
            f"{cfg['path']} {cfg['name']} {split}",
            path=cfg["path"],
            name=cfg["name"],
            split=split,
        )
    raise ValueError(f"unknown data source {source!r}; valid: c4, wikitext2, local")


def _encode(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text)["input_ids"]


def calibration_tokens(
    source: str, dataset: Any, tokenizer: Any, n_samples: int, seqlen: int, seed: int
) -> torch.Tensor:
    """The calibration sequences, int64 (n_samples, seqlen), in draw order.

    Document sources (c4, local): Wanda's ``get_c4``: draw a random document until its token count
    exceeds ``seqlen``, then a random window start in ``[0, n_tokens - seqlen - 1]``.
    wikitext2: Wanda's ``get_wikitext2``: the split joined with ``" "``, tokenized once, random
    windows.

    Raises:
        DataUnavailable: no document is long enough (after 100 x n_samples draws).
    """
    rng = random.Random(seed)
    out = torch.empty(n_samples, seqlen, dtype=torch.int64)
    if source == "wikitext2":
        ids = _encode(tokenizer, " ".join(dataset["text"]))
        if len(ids) <= seqlen + 1:
            raise DataUnavailable(f"wikitext2 train split has only {len(ids)} tokens; need > {seqlen + 1}")
        for s in range(n_samples):
            i = rng.randint(0, len(ids) - seqlen - 1)
            out[s] = torch.tensor(ids[i : i + seqlen])
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
