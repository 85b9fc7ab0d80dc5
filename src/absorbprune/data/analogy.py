"""The built-in ``analogy`` zero-shot task's documents (registry ``tasks.analogy``) and the word
analogy questions it asks (Google's ``questions-words.txt``, Mikolov et al. 2013; Apache-2.0).

A multiple-choice cloze: "Athens is to Greece as Baghdad is to" with the answer (Iraq) and
``n_choices - 1`` distractors drawn from the words that fill the answer's role elsewhere in the same
category (other countries), none of the question's four words. Questions are spread evenly over
the 14 categories (round-robin), so the large ones (capital-world, city-in-state) do not dominate.
lm-eval scores it with ``evaluation/lm_eval_tasks/analogy.yaml``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["build_analogy", "chance", "read_questions"]


def chance(n_choices: int, **settings: object) -> float:
    """The accuracy of guessing: one of ``n_choices`` words."""
    return 1.0 / n_choices


def read_questions(path: Path) -> pd.DataFrame:
    """``questions-words.txt`` as a table (columns of ``tables.data.ANALOGY_QUESTIONS``).

    Raises:
        ValueError: a question line before any category, or without four words.
    """
    import pandas as pd

    rows, category = [], None
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        if line.startswith(":"):
            category = line[1:].strip()
            continue
        words = line.split()
        if category is None or len(words) != 4:
            raise ValueError(f"{path}:{number}: expected a ': category' line, then four words; got {line!r}")
        rows.append({"line": number, "category": category, **dict(zip("abcd", words, strict=True))})
    return pd.DataFrame(rows, columns=["line", "category", "a", "b", "c", "d"])


def build_analogy(inputs: Mapping[str, pd.DataFrame], n_docs: int, n_choices: int, seed: int) -> pd.DataFrame:
    """The ``analogy`` documents from the questions (``inputs["analogies"]``), deterministically.

    Returns one row per document (columns of ``tables.data.ANALOGY``): ``context`` is
    "a is to b as c is to", ``choices`` ``n_choices`` distinct words, ``label`` the answer's index.

    Raises:
        ValueError: fewer questions than ``n_docs``, or a category with too few distractor words.
    """
    import pandas as pd

    questions = inputs["analogies"].sort_values("line").reset_index(drop=True)
    if len(questions) < n_docs:
        raise ValueError(f"analogy: only {len(questions)} questions, n_docs={n_docs}")
    rng = random.Random(seed)
    groups = {cat: list(g.itertuples(index=False)) for cat, g in questions.groupby("category", sort=True)}
    pools = {cat: sorted({q.b for q in qs} | {q.d for q in qs}) for cat, qs in groups.items()}
    for qs in groups.values():
        rng.shuffle(qs)
    picks = []
    while len(picks) < n_docs:  # round-robin over the categories
        for cat in groups:
            if groups[cat] and len(picks) < n_docs:
                picks.append(groups[cat].pop())
    rows = []
    for doc_id, q in enumerate(sorted(picks, key=lambda q: q.line)):
        taken = {w.casefold() for w in (q.a, q.b, q.c, q.d)}
        candidates = [w for w in pools[q.category] if w.casefold() not in taken]
        if len(candidates) < n_choices - 1:
            raise ValueError(
                f"analogy: category {q.category!r} has {len(candidates)} distractor words for line {q.line}, "
                f"n_choices={n_choices}"
            )
        wrong = rng.sample(candidates, n_choices - 1)
        label = rng.randrange(n_choices)
        rows.append(
            {
                "doc_id": doc_id,
                "item_id": f"{q.category}:{q.line}",
                "category": q.category,
                "context": f"{q.a} is to {q.b} as {q.c} is to",
                "choices": [*wrong[:label], q.d, *wrong[label:]],
                "label": label,
            }
        )
    return pd.DataFrame(rows, columns=["doc_id", "item_id", "category", "context", "choices", "label"])
