"""Held-out selection (docs/methods.md 5.4).

``choose`` reads validation perplexities only: per selection group (model, pruner, structure,
base allocation, correction, sparsity) it keeps the candidate with the lowest validation
perplexity averaged over calibration seeds. The test split never reaches it; ``reporting.headline``
then reads the test numbers of the chosen cells and pairs them per seed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["GROUP", "choose", "chosen_variants", "selection_table"]

# A cell in the per-cell files: its variants name it (allocation_variant, correction_variant).
CELL = ["model", "pruner", "structure", "allocation_variant", "correction_variant", "sparsity", "seed"]
GROUP = ["model", "pruner", "structure", "allocation", "correction", "sparsity"]


def _label(hp: Sequence[Sequence[Any]]) -> str:
    return ",".join(f"{k}={float(v):g}" for k, v in hp)


def choose(
    valid: pd.DataFrame, candidates: Sequence[Mapping[str, Any]], seeds: Sequence[int]
) -> pd.DataFrame:
    """The validation choice of every selection group (columns of ``tables.CHOICES``).

    Args:
        valid: validation perplexity rows of the cells (``tables.cells.PPL``).
        candidates: ``plan.grid.Candidate`` fields as dicts.
        seeds: the calibration seeds every candidate must have run with.

    A candidate that failed numerically at any seed (NaN validation perplexity) is never chosen;
    a group whose every candidate failed has no choice (no row selected).

    Raises:
        KeyError: a candidate cell without a validation perplexity at some seed.
    """
    index = valid.set_index(CELL)["ppl"]
    rows = []
    for c in candidates:
        per_seed = []
        for seed in seeds:
            key = (c["model"], c["pruner"], c["structure"], c["allocation_variant"], c["correction_variant"])
            key += (float(c["sparsity"]), int(seed))
            if key not in index.index:
                raise KeyError(f"no validation perplexity for cell {dict(zip(CELL, key, strict=True))}")
            per_seed.append(float(index.loc[key]))
        mean = float(np.mean(per_seed))  # NaN when a seed failed
        hp = [tuple(x) for x in c["hyperparameters"]] or [("", math.nan)]
        for seed, ppl in zip(seeds, per_seed, strict=True):
            for name, value in hp:
                rows.append(
                    {
                        **{k: c[k] for k in GROUP},
                        "sparsity": float(c["sparsity"]),
                        "seed": int(seed),
                        "allocation_variant": c["allocation_variant"],
                        "correction_variant": c["correction_variant"],
                        "hyperparameter": name,
                        "value": float(value),
                        "valid_ppl": ppl,
                        "valid_ppl_mean": mean,
                        "candidate": _label(c["hyperparameters"]),
                    }
                )
    table = pd.DataFrame(rows)
    if table.empty:
        return table.assign(selected=pd.Series(dtype=bool))
    best = {}
    for key, part in table.groupby(GROUP, sort=False):
        means = part.drop_duplicates(["allocation_variant", "correction_variant"])
        means = means[means["valid_ppl_mean"].notna()]
        if len(means):
            chosen = means.loc[means["valid_ppl_mean"].idxmin()]
            best[key] = [chosen["allocation_variant"], chosen["correction_variant"]]
    table["selected"] = [
        [a, c] == best.get(tuple(r[k] for k in GROUP))
        for r, a, c in zip(
            table.to_dict("records"), table["allocation_variant"], table["correction_variant"], strict=True
        )
    ]
    return table


def selection_table(choices: pd.DataFrame, grid: pd.DataFrame) -> pd.DataFrame:
    """``choose``'s table with each candidate cell's test perplexity beside it (``tables.SELECTION``):
    added after the choice, for transparency."""
    keys = ["model", "pruner", "structure", "allocation_variant", "correction_variant", "sparsity", "seed"]
    test = grid.set_index(keys)["ppl"]  # NaN for a failed cell
    return choices.assign(test_ppl=[float(test.loc[tuple(r)]) for r in choices[keys].itertuples(index=False)])


def chosen_variants(path: str) -> dict[int, tuple[str, str]]:
    """Seed -> (allocation variant, correction variant) that a group's choice file (one group's
    ``choose`` table) selected; a group whose every candidate failed selects nothing."""
    table = pd.read_parquet(path)
    chosen = table[table["selected"]].drop_duplicates("seed")
    return {int(r.seed): (str(r.allocation_variant), str(r.correction_variant)) for r in chosen.itertuples()}
