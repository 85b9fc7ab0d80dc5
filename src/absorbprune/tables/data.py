"""Tables of the data stage (rules/data.smk): the built-in corpus, the Wikipedia texts, the word
analogies and the built-in zero-shot tasks' documents."""

from __future__ import annotations

import pyarrow as pa

__all__ = ["ANALOGY", "ANALOGY_QUESTIONS", "ARTICLES", "CODELINE", "CORPUS", "LAMBADA"]


CORPUS = pa.schema(
    [
        ("path", pa.string()),  # file path relative to the stdlib root
        ("sha256", pa.string()),  # of the file's UTF-8 text
        ("n_bytes", pa.int64()),  # UTF-8 size
        ("text", pa.string()),  # file content
    ]
)


CODELINE = pa.schema(
    [
        ("doc_id", pa.int64()),
        ("path", pa.string()),  # corpus test file the question comes from
        ("context", pa.string()),  # file text before the line (ends with a line break)
        ("choices", pa.list_(pa.string())),  # candidate lines, the true one among them
        ("label", pa.int64()),  # index of the true line in choices
    ]
)


ARTICLES = pa.schema(
    [
        ("title", pa.string()),  # Wikipedia article title (the split is a hash of it)
        ("sha256", pa.string()),  # of the article's UTF-8 text
        ("n_chars", pa.int64()),
        ("text", pa.string()),  # plain text (markup stripped; data.wikipedia)
    ]
)


ANALOGY_QUESTIONS = pa.schema(
    [
        ("line", pa.int64()),  # 1-based line of questions-words.txt: a stable question id
        ("category", pa.string()),  # e.g. capital-common-countries, gram3-comparative
        ("a", pa.string()),  # a is to b as c is to d
        ("b", pa.string()),
        ("c", pa.string()),
        ("d", pa.string()),
    ]
)


LAMBADA = pa.schema(
    [
        ("doc_id", pa.int64()),  # row index (lm-eval's doc_id)
        ("item_id", pa.string()),  # stable across n_docs and seed: "<title>@<character offset of the target>"
        ("title", pa.string()),  # the wiki2016 test article the passage comes from
        ("context", pa.string()),  # the passage up to the target word (no trailing space)
        ("target", pa.string()),  # the passage's last word (scored as " " + target)
    ]
)


ANALOGY = pa.schema(
    [
        ("doc_id", pa.int64()),  # row index (lm-eval's doc_id)
        ("item_id", pa.string()),  # stable across n_docs and seed: "<category>:<line>"
        ("category", pa.string()),
        ("context", pa.string()),  # "a is to b as c is to"
        ("choices", pa.list_(pa.string())),  # the answer and n_choices - 1 words of the same category
        ("label", pa.int64()),  # index of the answer in choices
    ]
)
