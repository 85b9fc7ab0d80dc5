"""The built-in ``lambada_wiki2016`` zero-shot task's documents (registry ``tasks.lambada_wiki2016``).

LAMBADA-style last-word prediction (Paperno et al. 2016) on the Wikipedia 2016 excerpt's *test*
articles only: a passage of whole sentences from one paragraph, the last word of its last
sentence is the target. An item is kept only when its target occurs earlier in the passage (as a
whole word, case-insensitive), the automatic condition of LAMBADA's passages; LAMBADA's human
guessing rounds are not reproduced. Passages do not overlap. lm-eval scores it as it scores
``lambada_openai`` (``evaluation/lm_eval_tasks/lambada_wiki2016.yaml``): the log-likelihood of
``" " + target`` after the passage; ``acc`` is 1 when the target is the greedy continuation.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["build_lambada", "chance", "check", "passages", "target_in_context"]

# A sentence ends at . ! or ? followed by white space and an upper-case letter, digit or quote.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'A-Z0-9])")
# The target: an alphabetic last word directly before the sentence's final full stop.
_TARGET = re.compile(r"(?<=\s)([A-Za-z]+)\.$")
_WORD = re.compile(r"[A-Za-z]+")


def chance(**settings: object) -> float:
    """Guessing an open-vocabulary word greedily: 0 (no fixed set of choices to guess among)."""
    return 0.0


def check(settings: Mapping[str, int]) -> list[tuple[str, str]]:
    """The settings' cross rules: (key below ``evaluation.zeroshot.lambada_wiki2016``, problem)."""
    lo, hi = settings["min_context_words"], settings["max_context_words"]
    return [("min_context_words", f"{lo} exceeds max_context_words {hi}")] if lo > hi else []


def target_in_context(context: str, target: str) -> bool:
    """The filter: ``target`` occurs in ``context`` as a whole word (case-insensitive)."""
    return target.lower() in {w.lower() for w in _WORD.findall(context)}


def _sentences(paragraph: str) -> list[tuple[int, str]]:
    """(character offset in the paragraph, sentence) of every sentence."""
    out, start = [], 0
    for match in _SENTENCE_END.finditer(paragraph):
        out.append((start, paragraph[start : match.start()]))
        start = match.end()
    out.append((start, paragraph[start:]))
    return [(o, s) for o, s in out if s.strip()]


def passages(
    text: str, min_context_words: int, max_context_words: int, min_target_chars: int
) -> list[tuple[int, str, str]]:
    """Every item of one article: (character offset of the target in ``text``, context, target).

    Within each paragraph (a line), sentences are walked in order; a sentence whose last word is
    an alphabetic target of at least ``min_target_chars`` letters closes a passage made of it and
    the sentences before it (since the previous passage), as many as fit in
    ``max_context_words`` words; the passage is kept when its context has at least
    ``min_context_words`` words and contains the target. Kept passages never overlap.
    """
    items = []
    line_start = 0
    for paragraph in text.split("\n"):
        sentences = _sentences(paragraph)
        first = 0  # the first sentence not yet used by a passage
        for i, (offset, sentence) in enumerate(sentences):
            match = _TARGET.search(sentence.rstrip())
            if match is None or len(match.group(1)) < min_target_chars:
                continue
            target = match.group(1)
            j = i
            while j > first and len(paragraph[sentences[j - 1][0] : offset + match.start(1)].split()) <= (
                max_context_words
            ):
                j -= 1
            context = paragraph[sentences[j][0] : offset + match.start(1)].rstrip()
            n_words = len(context.split())
            if n_words < min_context_words or n_words > max_context_words:
                continue
            if not target_in_context(context, target):
                continue
            items.append((line_start + offset + match.start(1), context, target))
            first = i + 1
        line_start += len(paragraph) + 1
    return items


def build_lambada(
    inputs: Mapping[str, pd.DataFrame],
    n_docs: int,
    min_context_words: int,
    max_context_words: int,
    min_target_chars: int,
    seed: int,
) -> pd.DataFrame:
    """The ``lambada_wiki2016`` documents from the excerpt's test articles (``inputs["wiki2016_test"]``,
    columns ``title`` and ``text``): ``n_docs`` of the items :func:`passages` finds, drawn with
    ``seed``, in article and position order (columns of ``tables.data.LAMBADA``).

    Raises:
        ValueError: fewer items than ``n_docs``.
    """
    import pandas as pd

    articles = inputs["wiki2016_test"].sort_values("title").reset_index(drop=True)
    found = []
    for title, text in zip(articles["title"], articles["text"], strict=True):
        for offset, context, target in passages(text, min_context_words, max_context_words, min_target_chars):
            item = {"item_id": f"{title}@{offset}", "title": title, "context": context, "target": target}
            found.append(item)
    if len(found) < n_docs:
        raise ValueError(
            f"lambada_wiki2016: only {len(found)} items in {len(articles)} test articles, n_docs={n_docs} "
            "(lower evaluation.zeroshot.lambada_wiki2016.n_docs or widen the context word range)"
        )
    keep = sorted(random.Random(seed).sample(range(len(found)), n_docs))
    rows = [{"doc_id": k, **found[i]} for k, i in enumerate(keep)]
    return pd.DataFrame(rows, columns=["doc_id", "item_id", "title", "context", "target"])
