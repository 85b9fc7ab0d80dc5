"""The Hugging Face offline switches. Light (no torch): the Snakefile calls it at parse time.

Without them, ``from_pretrained("org/model")`` on a network that drops packets was seen to hang
for over 15 minutes and ``load_dataset("wikitext", ...)`` to take 397 s to fail; with them both
fail at once. The switches are read when the hub libraries are imported, so they must be set in
the environment before that: the Snakefile sets them, and every job inherits them.
"""

from __future__ import annotations

import os

__all__ = ["OFFLINE_VARS", "set_network"]

OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")


def set_network(allow: bool) -> None:
    """Turn the hub's offline switches off (``allow``) or on, for this process and its children."""
    for var in OFFLINE_VARS:
        os.environ[var] = "0" if allow else "1"
