"""Tables of the data stage (rules/data.smk): the built-in corpus and the built-in zero-shot tasks'
documents."""

from __future__ import annotations

import pyarrow as pa

__all__ = ["CODELINE", "CORPUS"]


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
