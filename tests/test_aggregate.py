"""The grid and headline tables from per-job rows."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from absorbprune.aggregate import KEYS, grid_table, headline_table


def _cell(alloc: str, corr: str, s: float = 0.5, pruner: str = "wanda") -> dict:
    return {
        "model": "m",
        "pruner": pruner,
        "structure": "unstructured",
        "allocation": alloc,
        "correction": corr,
        "sparsity": s,
    }


CELLS = [_cell("dense", "none", 0.0, "dense"), _cell("owl", "none"), _cell("owl", "absorption")]


def _linears() -> pd.DataFrame:
    rows = []
    for i, cell in enumerate(CELLS):
        rows += [{**cell, "params": 100, "zeros": 10 * i}, {**cell, "params": 300, "zeros": 100 * i}]
    return pd.DataFrame(rows)


def _ppl() -> pd.DataFrame:
    return pd.DataFrame(
        [{**c, "ppl": p, "ppl_dataset": "local"} for c, p in zip(CELLS, [10.0, 20.0, 18.0], strict=True)]
    )


def _zeroshot() -> pd.DataFrame:
    values = {0: (0.8, 0.6), 1: (0.5, 0.3), 2: (0.55, 0.35)}
    return pd.DataFrame(
        [
            {**c, "task": t, "value": values[i][j]}
            for i, c in enumerate(CELLS)
            for j, t in enumerate(["a", "b"])
        ]
    )


def test_grid_joins_zeros_perplexity_and_mean_accuracy():
    grid = grid_table(_linears(), _ppl(), _zeroshot()).set_index(KEYS)
    owl = grid.loc[tuple(_cell("owl", "none").values())]
    assert owl["achieved_sparsity"] == pytest.approx((10 + 100) / 400) and owl["n_prunable_params"] == 400
    assert owl["ppl"] == 20.0 and owl["zeroshot_mean"] == pytest.approx(0.4) and owl["zeroshot_tasks"] == 2
    dense = grid.loc[tuple(CELLS[0].values())]
    assert dense["achieved_sparsity"] == 0.0


def test_grid_without_zeroshot_has_nan_means():
    grid = grid_table(_linears(), _ppl(), None)
    assert grid["zeroshot_mean"].isna().all() and (grid["zeroshot_tasks"] == 0).all()


def test_grid_refuses_missing_or_duplicate_cells():
    with pytest.raises(ValueError, match="without both"):
        grid_table(_linears(), _ppl().iloc[:2], None)
    with pytest.raises(ValueError, match="duplicate"):
        grid_table(_linears(), pd.concat([_ppl(), _ppl().iloc[:1]]), None)
    with pytest.raises(ValueError, match="without zero-shot"):
        grid_table(_linears(), _ppl(), _zeroshot().iloc[:4])


def test_headline_compares_corrected_with_its_base():
    head = headline_table(grid_table(_linears(), _ppl(), _zeroshot()))
    assert len(head) == 1 and "correction" not in head.columns
    row = head.iloc[0]
    assert row["allocation"] == "owl" and row["corrected_by"] == "absorption"
    assert row["ppl_change_pct"] == pytest.approx(-10.0)
    assert row["zeroshot_change"] == pytest.approx(5.0)  # 0.45 - 0.40 in points
    no_zs = headline_table(grid_table(_linears(), _ppl(), None)).iloc[0]
    assert math.isnan(no_zs["zeroshot_change"])


def test_headline_refuses_a_corrected_cell_without_base():
    grid = grid_table(_linears(), _ppl(), None)
    with pytest.raises(ValueError, match="no uncorrected counterpart"):
        headline_table(grid[grid["correction"] != "none"])
