"""Zero-shot evaluation through upstream lm-eval (docs/methods.md section 1), no fork.

The pruned model stays in memory: ``lm_eval.models.huggingface.HFLM(pretrained=<model>)`` wraps
the very module whose weights the pruning job wrote, so nothing is saved or reloaded in between.

Named tasks (``boolq``, ``arc_easy``, ...) come from lm-eval's own registry; their data sets
must be in the Hugging Face cache (``snakemake prefetch``). A built-in task (``registry.tasks``,
e.g. ``codeline``) is the YAML file its registry entry names, shipped in ``lm_eval_tasks/``, with
its ``data_files`` pointed at the documents the ``zeroshot_data`` rule wrote.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ..registry.tasks import ZEROSHOT_TASKS

__all__ = ["TaskUnavailable", "builtin_task_config", "doc_scores", "raw_json", "run_zeroshot", "tidy_results"]

# The built-in tasks' lm-eval configs are package data: their bytes are part of this module's code
# hash (plan.codedeps), so editing a task's YAML re-measures the cells.
__data__ = ("lm_eval_tasks",)

log = logging.getLogger(__name__)


class TaskUnavailable(RuntimeError):
    """A named lm-eval task is unknown or its data set is not in the cache (offline)."""


def builtin_task_config(task: str, data_file: str | Path) -> dict[str, Any]:
    """A built-in task's lm-eval config (its packaged YAML) reading the documents ``data_file``."""
    text = resources.files("absorbprune").joinpath(ZEROSHOT_TASKS[task].meta.yaml).read_text()
    config = yaml.safe_load(text)
    config["dataset_kwargs"] = {"data_files": {"test": str(Path(data_file).resolve())}}
    return config


def run_zeroshot(
    model: Any,
    tokenizer: Any,
    tasks: Sequence[str],
    documents: Mapping[str, str | Path],
    batch_size: int,
    limit: int | None,
    seed: int,
    add_bos_token: bool | None = None,
) -> dict[str, Any]:
    """Run lm-eval 0-shot on ``tasks`` with the in-memory ``model``; return lm-eval's results dict.

    ``documents``: each listed built-in task's documents (rule ``zeroshot_data``).
    ``add_bos_token``: HFLM's setting; ``True`` for a family whose BOS policy is ``every_window``
    (every request then starts with the BOS), ``None`` leaves it to the tokenizer's default.
    """
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    specs: list[str | dict[str, Any]] = []
    for task in tasks:
        if task in ZEROSHOT_TASKS:
            if task not in documents:
                raise ValueError(f"built-in task {task!r} needs its documents (rule zeroshot_data)")
            specs.append(builtin_task_config(task, documents[task]))
        else:
            specs.append(task)
    named = [s for s in specs if isinstance(s, str)]
    manager = TaskManager(include_defaults=bool(named))  # no registry scan for local-only runs
    if named:
        try:  # building a task loads its data set: fail here, naming the remedy, not mid-evaluation
            manager.load_task_or_group(named)
        except Exception as err:
            raise TaskUnavailable(
                f"lm-eval tasks {named} could not be loaded ({type(err).__name__}: {err}). Their data sets "
                "must be in the Hugging Face cache (HF_HOME) for offline jobs: run `snakemake prefetch "
                "--config allow_network=true` on a machine with internet, sharing HF_HOME; a name "
                "lm-eval does not know is a typo in evaluation.zeroshot.tasks"
            ) from err
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, add_bos_token=add_bos_token)
    log.info("lm-eval: tasks %s, batch %d, limit %s", list(tasks), batch_size, limit)
    results = simple_evaluate(
        model=lm,
        tasks=specs,
        num_fewshot=0,
        limit=limit,
        task_manager=manager,
        log_samples=True,  # each document's score: what the bootstrap resamples (tidy_results)
        random_seed=seed,
        numpy_random_seed=seed,
        torch_random_seed=seed,
        fewshot_random_seed=seed,
    )
    if results is None:  # only on non-zero ranks of a distributed run
        raise RuntimeError("lm-eval returned no results")
    return results


def raw_json(results: dict[str, Any]) -> str:
    """lm-eval's results as JSON (non-serializable values as strings), for the audit trail; the
    logged samples (every prompt and response) are left out: each document's score is kept in the
    zero-shot table's ``doc_scores``."""
    kept = {k: v for k, v in results.items() if k != "samples"}
    return json.dumps(kept, indent=2, sort_keys=True, default=str)


def doc_scores(results: dict[str, Any], task: str, metric: str, filter_key: str = "none") -> list[float]:
    """Each document's ``metric`` for ``task`` in doc_id order, from lm-eval's logged samples.

    Raises:
        KeyError: the results carry no logged samples of ``task`` with ``metric``.
    """
    samples = [s for s in results.get("samples", {}).get(task, []) if s.get("filter") == filter_key]
    if not samples or any(metric not in s for s in samples):
        raise KeyError(f"lm-eval results have no logged {metric!r} per document for task {task!r}")
    samples.sort(key=lambda s: int(s["doc_id"]))
    ids = [int(s["doc_id"]) for s in samples]
    if len(set(ids)) != len(ids):
        raise KeyError(f"lm-eval logged task {task!r} document ids twice")
    return [float(s[metric]) for s in samples]


def tidy_results(
    results: dict[str, Any], tasks: Sequence[str], metric: str, cell: dict[str, object]
) -> pd.DataFrame:
    """One row per task (columns of ``tables.ZEROSHOT``) from lm-eval's results dict.

    Raises:
        KeyError: a task or its ``metric`` missing from the results.
    """
    rows = []
    for task in tasks:
        scores = results["results"].get(task)
        if scores is None or f"{metric},none" not in scores:
            raise KeyError(f"lm-eval results have no {metric!r} for task {task!r}")
        stderr = scores.get(f"{metric}_stderr,none")
        n = results.get("n-samples", {}).get(task, {}).get("effective", -1)
        scores_per_doc = doc_scores(results, task, metric)
        if n >= 0 and len(scores_per_doc) != n:
            raise KeyError(f"task {task!r}: {len(scores_per_doc)} logged documents, lm-eval counted {n}")
        rows.append(
            {
                **cell,
                "task": task,
                "metric": metric,
                "value": float(scores[f"{metric},none"]),
                "stderr": float(stderr) if isinstance(stderr, int | float) else math.nan,
                "n_docs": int(n),
                "doc_scores": scores_per_doc,
            }
        )
    return pd.DataFrame(rows)
