"""Zero-shot evaluation through upstream lm-eval (docs/methods.md section 1), no fork.

The pruned model stays in memory: ``lm_eval.models.huggingface.HFLM(pretrained=<model>)`` wraps
the very module whose weights the pruning job wrote, so nothing is saved or reloaded in between.

Named tasks (``boolq``, ``arc_easy``, ...) come from lm-eval's own registry; their data sets
must be in the Hugging Face cache (``snakemake prefetch``). The embedded default is the local task
``codeline``: a multiple-choice task built from the held-out corpus test split. Each document is
the text of a source file up to a line break (its last ``context_chars`` characters); the choices
are the true next line and ``n_choices - 1`` lines drawn from other test files, every choice
re-indented to the true line's indentation so that indentation alone cannot give the answer. The
task definition is the YAML file ``lm_eval_tasks/codeline.yaml`` shipped in this package; the
job points its ``data_files`` at the Parquet file the ``zeroshot_data`` rule wrote.
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

__all__ = [
    "LOCAL_TASK",
    "TaskUnavailable",
    "build_codeline",
    "local_task_config",
    "run_zeroshot",
    "tidy_results",
]

log = logging.getLogger(__name__)


class TaskUnavailable(RuntimeError):
    """A named lm-eval task is unknown or its data set is not in the cache (offline)."""


LOCAL_TASK = "codeline"


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _candidates(text: str, min_chars: int, max_chars: int) -> list[int]:
    """Character offsets of the lines of ``text`` that may be a question's answer."""
    offsets, pos = [], 0
    for line in text.splitlines(keepends=True):
        body = line.strip()
        if pos > 0 and min_chars <= len(body) <= max_chars and not body.startswith("#"):
            offsets.append(pos)
        pos += len(line)
    return offsets


def build_codeline(
    files: pd.DataFrame,
    n_docs: int,
    n_choices: int,
    context_chars: int,
    min_line_chars: int,
    max_line_chars: int,
    seed: int,
) -> pd.DataFrame:
    """The ``codeline`` documents from corpus files (columns ``path``, ``text``), deterministically.

    Returns one row per document: ``doc_id``, ``path``, ``context`` (ends with a line break),
    ``choices`` (list of ``n_choices`` lines without line breaks), ``label`` (index of the true
    line). Documents are spread over the files round-robin in path order.

    Raises:
        ValueError: fewer usable lines than ``n_docs`` or fewer than two files.
    """
    files = files.sort_values("path").reset_index(drop=True)
    if len(files) < 2:
        raise ValueError(f"codeline needs at least two corpus files, got {len(files)}")
    rng = random.Random(seed)
    spots = []
    for text in files["text"]:
        offsets = _candidates(text, min_line_chars, max_line_chars)
        rng.shuffle(offsets)
        spots.append(offsets)
    available = sum(len(s) for s in spots)
    if available < n_docs:
        raise ValueError(f"codeline: only {available} usable lines in {len(files)} files, n_docs={n_docs}")
    picks: list[tuple[int, int]] = []
    while len(picks) < n_docs:  # round-robin over files so no single file dominates
        for i, offsets in enumerate(spots):
            if offsets and len(picks) < n_docs:
                picks.append((i, offsets.pop()))
    pool = [  # every line of every file, for distractors: (file index, stripped line)
        (i, line.strip())
        for i, text in enumerate(files["text"])
        for line in text.splitlines()
        if min_line_chars <= len(line.strip()) <= max_line_chars
    ]
    rows = []
    for doc_id, (i, offset) in enumerate(picks):
        text = files.at[i, "text"]
        end = text.find("\n", offset)
        answer = text[offset : end if end >= 0 else len(text)].rstrip()
        indent = _indent(answer)
        wrong: list[str] = []
        while len(wrong) < n_choices - 1:
            j, line = pool[rng.randrange(len(pool))]
            candidate = indent + line
            if j != i and candidate != answer and candidate not in wrong:
                wrong.append(candidate)
        label = rng.randrange(n_choices)
        choices = [*wrong[:label], answer, *wrong[label:]]
        context = text[max(0, offset - context_chars) : offset]
        rows.append(
            {
                "doc_id": doc_id,
                "path": files.at[i, "path"],
                "context": context,
                "choices": choices,
                "label": label,
            }
        )
    return pd.DataFrame(rows)


def local_task_config(data_file: str | Path) -> dict[str, Any]:
    """The ``codeline`` task config (the packaged YAML) reading ``data_file``."""
    text = resources.files("absorbprune").joinpath("lm_eval_tasks", "codeline.yaml").read_text()
    config = yaml.safe_load(text)
    config["dataset_kwargs"] = {"data_files": {"test": str(Path(data_file).resolve())}}
    return config


def run_zeroshot(
    model: Any,
    tokenizer: Any,
    tasks: Sequence[str],
    local_data: str | Path | None,
    batch_size: int,
    limit: int | None,
    seed: int,
) -> dict[str, Any]:
    """Run lm-eval 0-shot on ``tasks`` with the in-memory ``model``; return lm-eval's results dict.

    ``local_data`` is the ``codeline`` Parquet file (needed only when that task is listed).
    """
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    specs: list[str | dict[str, Any]] = []
    for task in tasks:
        if task == LOCAL_TASK:
            if local_data is None:
                raise ValueError(f"task {LOCAL_TASK!r} needs its data file (rule zeroshot_data)")
            specs.append(local_task_config(local_data))
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
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)
    log.info("lm-eval: tasks %s, batch %d, limit %s", list(tasks), batch_size, limit)
    results = simple_evaluate(
        model=lm,
        tasks=specs,
        num_fewshot=0,
        limit=limit,
        task_manager=manager,
        log_samples=False,
        random_seed=seed,
        numpy_random_seed=seed,
        torch_random_seed=seed,
        fewshot_random_seed=seed,
    )
    if results is None:  # only on non-zero ranks of a distributed run
        raise RuntimeError("lm-eval returned no results")
    return results


def raw_json(results: dict[str, Any]) -> str:
    """lm-eval's results as JSON (non-serializable values as strings), for the audit trail."""
    return json.dumps(results, indent=2, sort_keys=True, default=str)


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
        rows.append(
            {
                **cell,
                "task": task,
                "metric": metric,
                "value": float(scores[f"{metric},none"]),
                "stderr": float(stderr) if isinstance(stderr, int | float) else math.nan,
                "n_docs": int(n),
            }
        )
    return pd.DataFrame(rows)
