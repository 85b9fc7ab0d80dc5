"""Prefetch: fill the Hugging Face cache on a machine with internet, so compute jobs run offline.

Run on a cluster's login node (or any machine sharing ``HF_HOME`` with the compute nodes):
``snakemake prefetch --config allow_network=true``. Afterwards every job loads from the cache with
the offline switches on.
"""

from __future__ import annotations

import logging
from typing import Any

from ..registry.tasks import ZEROSHOT_TASKS
from .sources import load_split

__all__ = ["prefetch"]

log = logging.getLogger(__name__)

# Which splits each real data set is read with (calibration: train; perplexity: test).
_SPLITS = {"c4": ("train",), "wikitext2": ("train", "test")}


def prefetch(
    models: dict[str, dict[str, Any]],
    sources: set[str],
    datasets_cfg: dict[str, Any],
    allow_network: bool,
    tasks: list[str] | None = None,
) -> list[str]:
    """Download hub models (weights + tokenizer at the pinned revision), the real data sets and the
    data of the named lm-eval tasks (built-in tasks are built here and need nothing).

    Args:
        models: model key -> resolved model entry (only ``source: hub`` ones are fetched).
        sources: data sources in use (``local`` needs nothing).
        datasets_cfg: the config's ``datasets`` section.
        allow_network: must be true; prefetching with the hub offline is a usage error.
        tasks: zero-shot task names of the config.

    Returns:
        What was fetched, one line each.
    """
    if not allow_network:
        raise RuntimeError(
            "prefetch needs the network: run `snakemake prefetch --config allow_network=true` "
            "on a machine with internet access"
        )
    from huggingface_hub import snapshot_download

    fetched = []
    for key, spec in models.items():
        if spec["source"] != "hub":
            continue
        path = snapshot_download(spec["id"], revision=spec["revision"])
        log.info("model %s: %s@%s -> %s", key, spec["id"], spec["revision"], path)
        fetched.append(f"model {key}: {spec['id']}@{spec['revision']}")
    for source in sorted(sources - {"local"}):
        for split in _SPLITS[source]:
            n = len(load_split(source, split, datasets_cfg, corpus_dir=""))
            log.info("data set %s/%s: %d rows", source, split, n)
            fetched.append(f"dataset {source}/{split}: {n} rows")
    named = [t for t in tasks or [] if t not in ZEROSHOT_TASKS]
    if named:
        from lm_eval.tasks import TaskManager

        loaded = TaskManager().load_task_or_group(named)  # building a task downloads its data set
        log.info("lm-eval tasks: %s", sorted(loaded))
        fetched += [f"lm-eval task {t}" for t in named]
    return fetched
