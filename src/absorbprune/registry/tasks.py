"""Zero-shot tasks built in here (``ZEROSHOT_TASKS``; settings under ``evaluation.zeroshot.<name>``).
Any other name in ``evaluation.zeroshot.tasks`` is an lm-eval task and needs no entry."""

from __future__ import annotations

from . import Entry, Hyper, Registry

__all__ = ["LM_EVAL_CHANCE", "ZEROSHOT_TASKS", "chance_level"]

# impl: builds the task's documents from the corpus test split (rule zeroshot_data)
ZEROSHOT_TASKS = Registry("built-in zero-shot task", section="evaluation.zeroshot")
ZEROSHOT_TASKS.add(
    Entry(
        "codeline",
        "absorbprune.zeroshot:build_codeline",
        "pick the true next line of a held-out source file among distractor lines",
        hyper={
            "n_docs": Hyper(300, "questions", kind="integer", minimum=1),
            "n_choices": Hyper(4, "choices per question (chance = 1/n_choices)", kind="integer", minimum=2),
            "context_chars": Hyper(200, "characters of file text before the line", kind="integer", minimum=1),
            "min_line_chars": Hyper(8, "shortest answer line (stripped)", kind="integer", minimum=1),
            "max_line_chars": Hyper(80, "longest answer line (stripped)", kind="integer", minimum=1),
            "seed": Hyper(
                0, "which lines are asked and which distractors are drawn", kind="integer", minimum=None
            ),
        },
    )
)

# Chance accuracy of the paper's lm-eval tasks (answer choices per document; ARC has a few 3- and
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


def chance_level(tasks: list[str], codeline_choices: int) -> float | None:
    """The chance level of the mean accuracy over ``tasks`` (a fraction), or None when a task's
    chance level is not known here (the figure then draws no chance line)."""
    levels = []
    for task in tasks:
        if task == "codeline":
            levels.append(1.0 / codeline_choices)
        elif task in LM_EVAL_CHANCE:
            levels.append(LM_EVAL_CHANCE[task])
        else:
            return None
    return sum(levels) / len(levels) if levels else None
