"""The built-in ``codeline`` zero-shot task's documents (registry ``tasks.codeline``).

A multiple-choice task built from the held-out corpus test split. Each document is the text of a
source file up to a line break (its last ``context_chars`` characters); the choices are the true
next line and ``n_choices - 1`` lines drawn from other test files, every choice re-indented to the
true line's indentation so that indentation alone cannot give the answer. lm-eval scores it with
``evaluation/lm_eval_tasks/codeline.yaml``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["build_codeline", "chance", "check"]


def chance(n_choices: int, **settings: object) -> float:
    """The accuracy of guessing: one of ``n_choices`` lines."""
    return 1.0 / n_choices


def check(settings: Mapping[str, int]) -> list[tuple[str, str]]:
    """The settings' cross rules: (key below ``evaluation.zeroshot.codeline``, what is wrong)."""
    lo, hi = settings["min_line_chars"], settings["max_line_chars"]
    return [("min_line_chars", f"{lo} exceeds max_line_chars {hi}")] if lo > hi else []


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
    inputs: Mapping[str, pd.DataFrame],
    n_docs: int,
    n_choices: int,
    context_chars: int,
    min_line_chars: int,
    max_line_chars: int,
    seed: int,
) -> pd.DataFrame:
    """The ``codeline`` documents from the corpus test split's files (``inputs["corpus_test"]``,
    columns ``path`` and ``text``), deterministically.

    Returns one row per document: ``doc_id``, ``path``, ``context`` (ends with a line break),
    ``choices`` (list of ``n_choices`` lines without line breaks), ``label`` (index of the true
    line). Documents are spread over the files round-robin in path order.

    Raises:
        ValueError: fewer usable lines than ``n_docs`` or fewer than two files.
    """
    import pandas as pd

    files = inputs["corpus_test"].sort_values("path").reset_index(drop=True)
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
