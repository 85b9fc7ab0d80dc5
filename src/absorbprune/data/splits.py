"""Which split of a text source each use reads: the one table the data rules and prefetch share.

``rules/data.smk`` passes ``USE_SPLIT["perplexity"]`` to rule ppl_tokens and
``USE_SPLIT["validation"]`` to rule valid_tokens; rule calibration_tokens reads the train split
(``rules/scripts/calibration_tokens.py``, checked against this table by tests/data). Prefetch
fetches exactly :func:`splits_read` of the config, so what it fetches cannot drift from what the
offline jobs later read. Light (no imports): the Snakefile uses it at parse time.
"""

from __future__ import annotations

__all__ = ["BUILT_SOURCES", "USE_SPLIT", "splits_read"]

# use -> the split of its source that use reads (a source's splits: sources.load_split)
USE_SPLIT = {"calibration": "train", "perplexity": "test", "validation": "validation"}

# The sources built here from what is installed (no download): source -> (the results directory
# and data product prefix of its parquet splits, the splits it has). The schema's enums allow each
# only in the uses whose split it has (wiki2016: test and validation; wikileads: calibration).
BUILT_SOURCES = {
    "local": ("corpus", ("train", "valid", "test")),
    "wiki2016": ("wiki2016", ("valid", "test")),
    "wikileads": ("wikileads", ("train",)),
}


def splits_read(calibration: str, perplexity: str, validation: str) -> dict[str, list[str]]:
    """Source -> the splits the configured uses read from it (train, validation, test order).

    Args:
        calibration: ``calibration.source``.
        perplexity: ``evaluation.ppl_source``.
        validation: ``evaluation.valid_source`` (resolved: never null after config validation).
    """
    order = ["train", "validation", "test"]
    read: dict[str, set[str]] = {}
    for use, source in (("calibration", calibration), ("perplexity", perplexity), ("validation", validation)):
        read.setdefault(source, set()).add(USE_SPLIT[use])
    return {source: sorted(splits, key=order.index) for source, splits in sorted(read.items())}
