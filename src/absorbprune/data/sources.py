"""Where text comes from: one split of a data source, through ``datasets`` (docs/methods.md section 1).

Sources:
  * ``c4``: the exact Wanda protocol: shard ``en/c4-train.00000-of-01024.json.gz``; for each sample,
    draw random documents until one has more than ``seqlen`` tokens, then a random window of it.
  * ``wikitext2``: calibration from the raw *train* split (Wanda's ``get_wikitext2``: the split
    joined with spaces, tokenized once, random windows); perplexity from the raw *test* split.
  * ``local``: the built-in corpus (``results/corpus/{split}.parquet``); calibration uses the C4
    document protocol on its train split, perplexity its test split.
  * ``wiki2016``: the Wikipedia 2016 excerpt (``results/wiki2016/{valid,test}.parquet``, rule
    wikipedia; no train split): perplexity and validation text, WikiText-2's protocol.
  * ``wikileads``: the Wikipedia lead sections (``results/wikileads/train.parquet``, rule
    wikipedia): calibration text, WikiText-2's joined-text protocol (``tokens.calibration_tokens``).

With the hub offline (the default), a data set that is not in the local cache fails at once with
:class:`DataUnavailable`, naming it and saying how to supply a copy.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .splits import BUILT_SOURCES

__all__ = ["DataUnavailable", "load_split"]

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
        source: ``c4``, ``wikitext2``, or one built here (``splits.BUILT_SOURCES``: ``local``,
            ``wiki2016``, ``wikileads``).
        split: ``train``, ``valid``/``validation`` or ``test`` (C4 has only ``train`` here).
        datasets_cfg: the config's ``datasets`` section.
        corpus_dir: where a built-here source's parquet files are.
    """
    if source in BUILT_SOURCES:
        name = "valid" if split == "validation" else split
        if name not in BUILT_SOURCES[source][1]:
            has = list(BUILT_SOURCES[source][1])
            raise ValueError(f"data source {source!r} has no {split!r} split (its splits: {has})")
        path = Path(corpus_dir) / f"{name}.parquet"
        if not path.is_file():
            rule = "corpus" if source == "local" else "wikipedia"
            raise DataUnavailable(f"built-in {source!r} split {str(path)!r} is missing; run rule {rule!r}")
        return _load(source, str(path), path="parquet", data_files={split: str(path)}, split=split)
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
    raise ValueError(f"unknown data source {source!r}; valid: c4, wikitext2, {', '.join(BUILT_SOURCES)}")
