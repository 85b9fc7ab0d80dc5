"""Zero-shot tasks built in here (``ZEROSHOT_TASKS``; settings under ``evaluation.zeroshot.<name>``).
Any other name in ``evaluation.zeroshot.tasks`` is an lm-eval task and needs no entry."""

from __future__ import annotations

from . import Entry, Hyper, Registry

__all__ = ["ZEROSHOT_TASKS"]

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
