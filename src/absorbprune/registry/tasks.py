"""Zero-shot tasks built in here (``ZEROSHOT_TASKS``; settings under ``evaluation.zeroshot.<name>``).
Any other name in ``evaluation.zeroshot.tasks`` is an lm-eval task and needs no entry.

A built-in task is data: a builder (the entry's implementation) turns the data products it
``reads`` into a table of documents (rule ``zeroshot_data``, once for every model), an lm-eval task
YAML shipped in the package scores them, and its chance level follows from its settings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .base import Entry, Hyper, Registry, load_ref

__all__ = ["LM_EVAL_CHANCE", "ZEROSHOT_TASKS", "TaskMeta", "chance_level"]


@dataclass(frozen=True)
class TaskMeta:
    """What a built-in task is made of.

    Attributes:
        reads: the data products its builder reads, by name (``rules/common.smk``'s
            ``DATA_PRODUCTS`` gives their paths; e.g. ``corpus_test``, the built-in corpus's test split).
        yaml: its lm-eval task config, a file of the ``absorbprune`` package (``data_files`` is
            pointed at the built documents when the task runs).
        chance: ``"module:function"``, ``f(**settings) -> float``: its accuracy by guessing.
        schema: ``"module:attribute"``, the pyarrow schema of its documents table.
        check: ``"module:function"``, ``f(settings) -> [(key, problem), ...]``: its cross-setting
            rules, run with the config checks before any job (None: it has none).
    """

    reads: tuple[str, ...]
    yaml: str
    chance: str
    schema: str
    check: str | None = None


# impl: f(inputs: {product name: DataFrame}, **settings) -> the documents (meta.schema's columns)
ZEROSHOT_TASKS: Registry[TaskMeta] = Registry(
    "built-in zero-shot task", section="evaluation.zeroshot", meta=TaskMeta
)
ZEROSHOT_TASKS.add(
    Entry(
        "codeline",
        "absorbprune.data.codeline:build_codeline",
        "pick the true next line of a held-out source file among distractor lines",
        hyper={
            "n_docs": Hyper(32, "questions", kind="integer", minimum=1, maximum=1_000_000),
            "n_choices": Hyper(
                2, "choices per question (chance = 1/n_choices)", kind="integer", minimum=2, maximum=26
            ),
            "context_chars": Hyper(
                60, "characters of file text before the line", kind="integer", minimum=1, maximum=100_000
            ),
            "min_line_chars": Hyper(
                8, "shortest answer line (stripped)", kind="integer", minimum=1, maximum=1000
            ),
            "max_line_chars": Hyper(
                80, "longest answer line (stripped)", kind="integer", minimum=1, maximum=1000
            ),
            "seed": Hyper(
                0,
                "which lines are asked and which distractors are drawn",
                kind="integer",
                minimum=0,
                maximum=2**31 - 1,
            ),
        },
        meta=TaskMeta(
            reads=("corpus_test",),
            yaml="evaluation/lm_eval_tasks/codeline.yaml",
            chance="absorbprune.data.codeline:chance",
            schema="absorbprune.tables.data:CODELINE",
            check="absorbprune.data.codeline:check",
        ),
    )
)

ZEROSHOT_TASKS.add(
    Entry(
        "lambada_wiki2016",
        "absorbprune.data.lambada:build_lambada",
        "LAMBADA-style: predict a passage's last word, which occurs earlier in it (Wikipedia 2016 "
        "excerpt, test articles only); acc = greedy match, chance 0",
        hyper={
            "n_docs": Hyper(
                500, "passages (of about 1,100 available)", kind="integer", minimum=1, maximum=1_000_000
            ),
            "min_context_words": Hyper(
                30, "fewest words before the target", kind="integer", minimum=1, maximum=10_000
            ),
            "max_context_words": Hyper(
                120, "most words before the target", kind="integer", minimum=1, maximum=10_000
            ),
            "min_target_chars": Hyper(3, "shortest target word", kind="integer", minimum=1, maximum=100),
            "seed": Hyper(0, "which of the passages are asked", kind="integer", minimum=0, maximum=2**31 - 1),
        },
        meta=TaskMeta(
            reads=("wiki2016_test",),
            yaml="evaluation/lm_eval_tasks/lambada_wiki2016.yaml",
            chance="absorbprune.data.lambada:chance",
            schema="absorbprune.tables.data:LAMBADA",
            check="absorbprune.data.lambada:check",
        ),
    )
)
ZEROSHOT_TASKS.add(
    Entry(
        "analogy",
        "absorbprune.data.analogy:build_analogy",
        "Google word analogies as a cloze: 'a is to b as c is to' the answer among words of its category",
        hyper={
            "n_docs": Hyper(
                50, "questions (spread over the 14 categories)", kind="integer", minimum=1, maximum=19_544
            ),
            "n_choices": Hyper(
                4, "choices per question (chance = 1/n_choices)", kind="integer", minimum=2, maximum=10
            ),
            "seed": Hyper(
                0,
                "which questions are asked and which distractors are drawn",
                kind="integer",
                minimum=0,
                maximum=2**31 - 1,
            ),
        },
        meta=TaskMeta(
            reads=("analogies",),
            yaml="evaluation/lm_eval_tasks/analogy.yaml",
            chance="absorbprune.data.analogy:chance",
            schema="absorbprune.tables.data:ANALOGY",
        ),
    )
)

# Chance accuracy of common lm-eval tasks (answer choices per document; ARC has a few 3- and
# 5-choice questions among its 4-choice ones, so 0.25 is approximate there).
LM_EVAL_CHANCE = {
    "boolq": 0.5,
    "rte": 0.5,
    "winogrande": 0.5,
    "piqa": 0.5,
    "copa": 0.5,
    "hellaswag": 0.25,
    "openbookqa": 0.25,
    "arc_easy": 0.25,
    "arc_challenge": 0.25,
}


def chance_level(tasks: Sequence[str], settings: Mapping[str, Mapping[str, Any]]) -> float | None:
    """The chance level of the mean accuracy over ``tasks`` (a fraction), or None when a task's
    chance level is not known here (the figure then draws no chance line).

    Args:
        settings: ``evaluation.zeroshot`` (each built-in task's settings under its name).
    """
    levels = []
    for task in tasks:
        if task in ZEROSHOT_TASKS:
            chance: Callable[..., float] = load_ref(ZEROSHOT_TASKS[task].meta.chance)
            levels.append(chance(**settings[task]))
        elif task in LM_EVAL_CHANCE:
            levels.append(LM_EVAL_CHANCE[task])
        else:
            return None
    return sum(levels) / len(levels) if levels else None
