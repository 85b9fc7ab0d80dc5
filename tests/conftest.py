"""Shared fixtures: a small trained-in-the-test tokenizer, the repository root."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

TEXTS = [
    "def add(a, b):\n    return a + b\n" * 20,
    "class Box:\n    def __init__(self, x):\n        self.x = x\n" * 15,
    "import os\nprint(os.getcwd())\n" * 30,
    "for i in range(10):\n    total += i * i\n" * 25,
    "x = 1\n",
]


@pytest.fixture(scope="session")
def texts() -> list[str]:
    return list(TEXTS)


@pytest.fixture(scope="session")
def tokenizer():
    from absorbprune.data.corpus import train_tokenizer

    return train_tokenizer(TEXTS, vocab_size=300, min_frequency=1)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
