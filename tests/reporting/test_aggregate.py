"""The grid table from per-job rows (reporting.grid_table), and the paper_claims table
(reporting.claims)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from absorbprune.plan.cell import Cell
from absorbprune.reporting.claims import paper_claims
from absorbprune.reporting.grid_table import KEYS, grid_table


def _cell(alloc: str, corr: str) -> dict:
    """A cell's key columns (per-cell files carry the method names and the variants)."""
    return Cell("m", "wanda", "unstructured", alloc, corr, 0.5, 0).keys()


CELLS = [Cell.dense("m").keys(), _cell("owl", "none"), _cell("owl", "absorption-gamma0.05")]


def _linears() -> pd.DataFrame:
    rows = []
    for i, cell in enumerate(CELLS):
        rows += [{**cell, "params": 100, "zeros": 10 * i}, {**cell, "params": 300, "zeros": 100 * i}]
    return pd.DataFrame(rows)


def _ppl(values=(10.0, 20.0, 18.0)) -> pd.DataFrame:
    rows = [
        {**c, "ppl": p, "ppl_dataset": "local", "status": "ok", "reason": ""}
        for c, p in zip(CELLS, values, strict=True)
    ]
    return pd.DataFrame(rows)


def _zeroshot() -> pd.DataFrame:
    values = {0: (0.8, 0.6), 1: (0.5, 0.3), 2: (0.55, 0.35)}
    return pd.DataFrame(
        [
            {**c, "task": t, "value": values[i][j], "stderr": 0.03 if j else 0.04}
            for i, c in enumerate(CELLS)
            for j, t in enumerate(["a", "b"])
        ]
    )


def test_grid_joins_zeros_perplexities_and_mean_accuracy():
    grid = grid_table(_linears(), _ppl(), _zeroshot(), _ppl((11.0, 21.0, 19.0)))
    corrected = grid[grid["correction"] == "absorption"].iloc[0]
    assert corrected["correction_variant"] == "absorption-gamma0.05"
    assert corrected["variant"] == "owl/absorption-gamma0.05"
    owl = grid.set_index(["allocation", "correction"]).loc[("owl", "none")]
    assert owl["achieved_sparsity"] == pytest.approx((10 + 100) / 400) and owl["n_prunable_params"] == 400
    assert owl["ppl"] == 20.0 and owl["valid_ppl"] == 21.0
    assert owl["zeroshot_mean"] == pytest.approx(0.4) and owl["zeroshot_tasks"] == 2
    assert owl["zeroshot_stderr"] == pytest.approx(math.hypot(0.04, 0.03) / 2)  # stderr of a mean of two
    dense = grid[grid["pruner"] == "dense"].iloc[0]
    assert dense["achieved_sparsity"] == 0.0 and dense["seed"] == -1


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


def test_a_failed_cell_stays_in_the_grid_with_its_reason_and_no_numbers():
    """A cell whose pruning diverged wrote no pruning record and NaN perplexities: the grid keeps
    it, with its outcome, and every other cell as measured."""
    ppl = _ppl((10.0, 20.0, float("nan")))
    ppl.loc[2, ["status", "reason"]] = ["failed", "FloatingPointError: non-finite activations"]
    linears = _linears()
    linears = linears[linears["correction_variant"] != "absorption-gamma0.05"]
    zs = _zeroshot()
    zs = zs[zs["correction_variant"] != "absorption-gamma0.05"]
    grid = grid_table(linears, ppl, zs, ppl)
    failed = grid[grid["status"] == "failed"].iloc[0]
    assert failed["reason"].startswith("FloatingPointError") and math.isnan(failed["ppl"])
    assert math.isnan(failed["achieved_sparsity"]) and failed["n_prunable_params"] == 0
    assert failed["zeroshot_tasks"] == 0 and math.isnan(failed["zeroshot_mean"])
    ok = grid[grid["status"] == "ok"]
    assert len(ok) == 2 and ok["ppl"].notna().all() and (ok["reason"] == "").all()
    with pytest.raises(ValueError, match="without both"):  # a missing record that did not fail
        grid_table(linears, _ppl(), zs, _ppl())


def test_the_grid_keys_are_the_cell_keys_names_first_then_variants():
    grid = grid_table(_linears(), _ppl(), _zeroshot())
    assert list(grid.columns[: len(KEYS) + 1]) == [*KEYS, "variant"]
    assert KEYS[-2:] == ["allocation_variant", "correction_variant"]
    assert set(grid["correction"]) == {"none", "absorption"}
    assert set(grid["correction_variant"]) == {"none", "absorption-gamma0.05"}


def _findings(**over) -> pd.DataFrame:
    row = {
        "model": "m",
        "sparsity": 0.7,
        "n_blocks": 4,
        "share_absorbing": 0.5,
        "first_absorbing_block": 2,
        "absorbing_mean_depth": 2.5,
        "amplifying_mean_depth": 0.5,
        "absorbing_are_later": True,
        "drift_monotone_share": 0.75,
        "drift_depth_spearman": -0.8,
        "cos_depth_spearman": 0.4,
        "n_amplifying_local": 1,
        "amplifying_blocks_local": "1",
        "max_local_gain": 1.2,
        "max_local_gain_block": 1,
        "small_eps": 1e-4,
        "small_eps_all_amplify": False,
        "share_blocks_with_transition": 0.25,
        "median_eps_star": 0.1,
        "n_seeds": 3,
    }
    return pd.DataFrame([{**row, **over}])


def _headline(changes: dict[tuple[str, str], tuple[float, bool]]) -> pd.DataFrame:
    rows = []
    for (alloc, corr), (change, sig) in changes.items():
        rows.append(
            {
                "model": "m",
                "pruner": "wanda",
                "allocation": alloc,
                "correction": corr,
                "sparsity": 0.7,
                "ppl_change_pct": change,
                "ppl_change_pct_se": 1.0,
                "ppl_change_pct_ci_low": change - 1.5,
                "ppl_change_pct_ci_high": change + 1.5 if sig else change + 3.0,  # excludes 0 iff sig
                "significant": sig,
                "zeroshot_change": 0.5,
                "zeroshot_change_se": 1.0,
                "zeroshot_change_ci_low": -1.0,
                "zeroshot_change_ci_high": 2.0,
                "zeroshot_significant": False,
                "n_seeds": 3,
                "selected_hp": "gamma=0.05",
                "beats_controls": "true",
                "vs_controls": "depth: -1.00 [-1.90, -0.10]",
            }
        )
    return pd.DataFrame(rows)


def test_paper_claims_hold_or_fail_with_their_numbers():
    head = _headline({("owl", "paper"): (-4.0, True), ("alphapruning", "paper"): (-2.0, False)})
    claims = paper_claims(_findings(), head).set_index("claim")
    assert (
        claims.loc[
            "early blocks amplify pruning-scale perturbations, middle and late blocks absorb them", "holds"
        ]
        == 1.0
    )
    assert claims.loc["small perturbations are amplified everywhere", "holds"] == 0.0
    ppl = claims.loc["the paper's correction lowers perplexity on OWL and AlphaPruning at 70%"]
    assert ppl["measured"] == pytest.approx(-3.0)
    assert ppl["holds"] == 0.0  # AlphaPruning's change is not significant
    assert "owl: -4.00 [-5.50, -2.50] (significant" in ppl["detail"]
    assert "alphapruning: -2.00 [-3.50, +1.00] (not significant" in ppl["detail"]
    ours = claims.loc["our correction lowers perplexity on OWL and AlphaPruning at 70%"]
    assert np.isnan(ours["holds"]) and "not run" in ours["detail"]
    both = paper_claims(
        _findings(), _headline({("owl", "paper"): (-4.0, True), ("alphapruning", "paper"): (-2.0, True)})
    )
    assert (
        both.set_index("claim").loc[
            "the paper's correction lowers perplexity on OWL and AlphaPruning at 70%", "holds"
        ]
        == 1.0
    )


def test_the_noise_floor_sits_beside_each_change_it_could_explain():
    """A change no larger than what rounding alone does to one cell is flagged within_noise; a
    group without a measured floor has none (null) and is never within it."""
    import pandas as pd

    from absorbprune.reporting.noise import noise_floors, with_noise
    from absorbprune.tables.cells import NOISE

    keys = {
        "model": "m", "pruner": "wanda", "structure": "unstructured", "allocation": "owl",
        "correction": "none", "sparsity": 0.7, "seed": 0, "allocation_variant": "owl",
        "correction_variant": "none",
    }  # fmt: skip
    runs = pd.DataFrame(
        [
            {**keys, "perturbation": "none", "threads": 1, "batch_size": 8, "nudge": 0, "ppl": 100.0},
            {**keys, "perturbation": "batch=1", "threads": 1, "batch_size": 1, "nudge": 0, "ppl": 103.0},
            {**keys, "perturbation": "nudge+1ulp", "threads": 1, "batch_size": 8, "nudge": 1, "ppl": 98.0},
        ]
    ).assign(rel_deviation=lambda t: t["ppl"] / 100.0 - 1, mask_frac_differ=[0.0, 0.01, 0.02])
    assert list(runs.columns) == NOISE.names
    failed = runs.iloc[0:0]  # a cell that failed numerically: no rows, no floor
    floors = noise_floors(pd.concat([runs, failed]))
    assert noise_floors(None).empty and noise_floors(failed).empty
    assert len(floors) == 1 and floors["noise_floor_pct"].iloc[0] == pytest.approx(3.0)
    assert floors["n_perturbations"].iloc[0] == 2 and floors["max_mask_frac_differ"].iloc[0] == 0.02
    head = pd.DataFrame(
        {
            "model": ["m", "m", "m"],
            "pruner": ["wanda", "wanda", "sparsegpt"],
            "structure": ["unstructured"] * 3,
            "sparsity": [0.7, 0.7, 0.7],
            "ppl_change_pct": [-2.5, -4.0, -1.0],
        }
    )
    out = with_noise(head, floors)
    assert out["within_noise"].tolist() == [True, False, False]
    assert out["noise_floor_pct"].iloc[0] == pytest.approx(3.0) and math.isnan(out["noise_floor_pct"].iloc[2])
