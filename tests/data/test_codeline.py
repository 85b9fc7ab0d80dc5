"""The built-in codeline task's documents (data.codeline): the true next line among distractors,
deterministic, seeded."""

from __future__ import annotations

import pandas as pd
import pytest

from absorbprune.data.codeline import build_codeline, chance

KW = dict(n_docs=12, n_choices=3, context_chars=60, min_line_chars=6, max_line_chars=40, seed=0)


@pytest.fixture(scope="module")
def files(texts) -> pd.DataFrame:
    return {"corpus_test": pd.DataFrame({"path": [f"f{i}.py" for i in range(len(texts))], "text": texts})}


def test_codeline_documents_ask_for_the_true_next_line(files):
    docs = build_codeline(files, **KW)
    assert len(docs) == 12 and list(docs["doc_id"]) == list(range(12))
    frame = files["corpus_test"]
    by_path = dict(zip(frame["path"], frame["text"], strict=True))
    for _, doc in docs.iterrows():
        choices = list(doc["choices"])
        assert len(choices) == 3 and len(set(choices)) == 3
        answer = choices[doc["label"]]
        assert doc["context"].endswith("\n") and len(doc["context"]) <= 60
        assert doc["context"] + answer + "\n" in by_path[doc["path"]] + "\n"
        indent = answer[: len(answer) - len(answer.lstrip())]
        assert all(c.startswith(indent) and not c[len(indent)].isspace() for c in choices)
    assert docs["path"].nunique() > 1  # spread over files, not all from one


def test_codeline_is_deterministic_and_seeded(files):
    a, b = build_codeline(files, **KW), build_codeline(files, **KW)
    pd.testing.assert_frame_equal(a, b)
    c = build_codeline(files, **{**KW, "seed": 1})
    assert not a["context"].equals(c["context"]) or not a["label"].equals(c["label"])


def test_codeline_refuses_more_documents_than_lines(files):
    with pytest.raises(ValueError, match="usable lines"):
        build_codeline(files, **{**KW, "n_docs": 10_000})


def test_codeline_chance_is_one_in_its_choices():
    assert chance(**{**KW, "n_choices": 4}) == 0.25
