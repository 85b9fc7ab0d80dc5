"""Held-out selection (docs/methods.md 5.4) and the headline's paired uncertainty (5.5)."""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest

from absorbprune.plan.cell import Cell
from absorbprune.plan.config.validate import resolve
from absorbprune.plan.grid import selection_candidates
from absorbprune.reporting.headline import ITEM_KEY, CellItems, headline_table, mean_se
from absorbprune.reporting.selection import choose


def _config(**grid):
    cfg = resolve(
        {
            "models": {"m": {"source": "builtin", "family": "llama", "arch": {"n_blocks": 4}}},
            "calibration": {"seeds": [0, 1, 2]},
            "sweeps": {"eps_points": 5, "main_sparsity": 0.7},
            "allocation": {"owl": {"lambda": [0.04, 0.08]}, "paper": {"gamma": [0, 0.05, 0.1]}},
            "grid": {
                "models": ["m"],
                "allocations": ["owl"],
                "corrections": ["none", "paper", "flipped"],
                "sparsities": [0.7],
                **grid,
            },
        }
    )
    return cfg


def test_candidates_tune_the_base_and_gamma_together_with_gamma_zero_the_base():
    cands = selection_candidates(_config())
    groups = {}
    for c in cands:
        groups.setdefault(c.correction, []).append(
            (c.allocation_variant, c.correction_variant, c.hyperparameters)
        )
    assert len(groups["none"]) == 2  # the two lambdas
    paper = groups["paper"]
    assert len(paper) == 6  # 2 lambdas x 3 gammas
    zero = [p for p in paper if dict(p[2])["gamma"] == 0.0]
    assert {p[1] for p in zero} == {"none"}  # gamma 0 is the base's own cell
    assert {p[1] for p in groups["flipped"]} == {"none", "flipped-gamma0.05", "flipped-gamma0.1"}


def _valid(cands, ppl_of) -> pd.DataFrame:
    rows = []
    for c in {(c.allocation_variant, c.correction_variant) for c in cands}:
        for seed in (0, 1, 2):
            keys = Cell("m", "wanda", "unstructured", c[0], c[1], 0.7, seed).keys()
            rows.append({**keys, "ppl": ppl_of(c[0], c[1], seed)})
    return pd.DataFrame(rows)


def _ppl(alloc, corr, seed):
    base = {"owl-lambda0.04": 30.0, "owl-lambda0.08": 28.0}[alloc]
    step = {"none": 0.0, "paper-gamma0.05": -1.0, "paper-gamma0.1": 2.0}.get(corr, 1.0)
    return base + step + 0.1 * seed


def test_choose_keeps_the_lowest_mean_validation_perplexity_per_group():
    cfg = _config()
    cands = [asdict(c) for c in selection_candidates(cfg)]
    table = choose(_valid(selection_candidates(cfg), _ppl), cands, [0, 1, 2])
    chosen = table[table["selected"]].drop_duplicates(["correction"]).set_index("correction")
    assert chosen.loc["none", "allocation_variant"] == "owl-lambda0.08"
    assert chosen.loc["paper", "correction_variant"] == "paper-gamma0.05"
    assert chosen.loc["flipped", "correction_variant"] == "none"  # every flipped candidate is worse
    assert chosen.loc["paper", "candidate"] == "gamma=0.05,lambda=0.08"
    # long format: one row per candidate x seed x tunable hyperparameter
    assert len(table[table["correction"] == "paper"]) == 6 * 3 * 2
    assert table["valid_ppl_mean"].notna().all()


def test_choose_reads_only_validation_rows_and_names_a_missing_cell():
    cfg = _config()
    cands = [asdict(c) for c in selection_candidates(cfg)]
    valid = _valid(selection_candidates(cfg), _ppl)
    with pytest.raises(KeyError, match="no validation perplexity"):
        choose(valid[valid["seed"] != 2], cands, [0, 1, 2])


def test_a_candidate_that_failed_at_any_seed_is_never_chosen():
    """paper-gamma0.05 wins on validation, but diverged at seed 1: the next best wins instead; a
    group whose every candidate failed has no choice."""
    cfg = _config()
    cands = [asdict(c) for c in selection_candidates(cfg)]
    valid = _valid(selection_candidates(cfg), _ppl)
    diverged = (valid["correction_variant"] == "paper-gamma0.05") & (valid["seed"] == 1)
    valid.loc[diverged, "ppl"] = float("nan")
    table = choose(valid, cands, [0, 1, 2])
    paper = table[(table["correction"] == "paper") & table["selected"]]
    assert set(paper["correction_variant"]) == {"none"} and set(paper["allocation_variant"]) == {
        "owl-lambda0.08"
    }
    assert table.loc[table["correction_variant"] == "paper-gamma0.05", "valid_ppl_mean"].isna().all()
    flipped = valid["correction_variant"].str.startswith("flipped") | (valid["correction_variant"] == "none")
    valid.loc[flipped, "ppl"] = float("nan")
    table = choose(valid, cands, [0, 1, 2])
    assert not table.loc[table["correction"] == "flipped", "selected"].any()


def test_mean_se():
    m, se = mean_se([1.0, 2.0, 3.0])
    assert m == 2.0 and se == pytest.approx(1.0 / math.sqrt(3))
    assert math.isnan(mean_se([1.0])[1])


def _grid(cands, test_of) -> pd.DataFrame:
    valid = _valid(cands, _ppl)
    grid = valid.rename(columns={"ppl": "valid_ppl"})
    grid["ppl"] = [
        test_of(a, c, s)
        for a, c, s in zip(grid["allocation_variant"], grid["correction_variant"], grid["seed"], strict=True)
    ]
    grid["zeroshot_mean"] = 0.5
    grid["zeroshot_stderr"] = 0.05
    return grid


def _items(grid: pd.DataFrame, spread: float = 0.5) -> CellItems:
    """Four windows per cell whose mean loss is log(ppl); the same spread in every cell, so a
    change is the same in every window (paired differences do not depend on the draw)."""
    items = CellItems()
    for _, row in grid.iterrows():
        items.windows[tuple(row[k] for k in ITEM_KEY)] = math.log(row["ppl"]) + np.array(
            [spread, -spread, spread / 2, -spread / 2]
        )
    return items


def test_headline_pairs_per_seed_and_compares_with_the_controls():
    cfg = _config()
    cands = selection_candidates(cfg)
    choices = choose(_valid(cands, _ppl), [asdict(c) for c in cands], [0, 1, 2])

    def test_of(alloc, corr, seed):
        base = 28.0 + seed
        return {"none": base, "paper-gamma0.05": base * (0.95 + 0.01 * seed)}.get(corr, base * 1.1)

    grid = _grid(cands, test_of)
    grid["pruner"], grid["dense_ppl"] = "wanda", 14.0
    dense = grid.iloc[[0]].assign(pruner="dense", ppl=14.0, allocation="dense", correction="none")
    grid = pd.concat([grid, dense], ignore_index=True)
    choices["pruner"] = "wanda"
    head = headline_table(grid, choices, {"flipped": "paper"}, _items(grid)).set_index("correction")
    paper = head.loc["paper"]
    changes = [100 * (0.95 + 0.01 * s - 1) for s in (0, 1, 2)]
    assert paper["ppl_change_pct"] == pytest.approx(np.mean(changes))
    assert paper["ppl_change_pct_se"] == pytest.approx(np.std(changes, ddof=1) / math.sqrt(3))
    # t interval: mean +- t_{0.975, 2} SE, t_{0.975, 2} = 4.3027 (not 2)
    half = 4.302652729911275 * paper["ppl_change_pct_se"]
    assert paper["ppl_change_pct_t_low"] == pytest.approx(paper["ppl_change_pct"] - half)
    assert paper["ppl_change_pct_t_high"] == pytest.approx(paper["ppl_change_pct"] + half)
    # the windows cancel in the paired change, so the bootstrap resamples the seeds' changes only:
    # its interval spans from all seeds -5% to all seeds -3%, inside [min, max] and excluding 0
    low, high = paper["ppl_change_pct_ci_low"], paper["ppl_change_pct_ci_high"]
    assert min(changes) - 1e-9 <= low < high <= max(changes) + 1e-9
    assert paper["significant_t"]  # -4 +- 4.30 x 0.58 = [-6.5, -1.5]
    assert paper["significant"] and paper["beats_base"] and paper["n_seeds"] == 3  # both intervals
    assert paper["test"].startswith("both 95% intervals exclude 0: the paired hierarchical bootstrap")
    assert paper["degradation"] == pytest.approx(29.0 / 14.0)  # tuned base over the dense model
    assert paper["selected_hp"] == "gamma=0.05,lambda=0.08" and paper["selected_base_hp"] == "lambda=0.08"
    assert paper["zeroshot_base"] == paper["zeroshot_corrected"] == 50.0  # points, the change's unit
    assert paper["zeroshot_change"] == 0.0 and paper["zeroshot_change_stderr"] == pytest.approx(
        100 * math.hypot(0.05, 0.05)
    )
    # flipped: validation chose gamma 0, so it is the base: no change, and the correction beats it
    flipped = head.loc["flipped"]
    assert (
        flipped["kind"] == "control" and flipped["control_of"] == "paper" and flipped["ppl_change_pct"] == 0.0
    )
    assert paper["beats_controls"] == "true" and paper["vs_controls"].startswith("flipped: -")
    assert "beats every control" in paper["verdict"] and "significant: both intervals" in paper["verdict"]
    # without per-window losses there is no interval, and nothing is significant
    bare = headline_table(grid, choices, {"flipped": "paper"}).set_index("correction").loc["paper"]
    assert math.isnan(bare["ppl_change_pct_ci_low"]) and not bare["significant"]


def test_verdict_says_when_validation_kept_the_base():
    from absorbprune.reporting.headline import _verdict

    row = {"ppl_change_pct": 0.0, "ppl_change_pct_se": 0.0, "significant": False, "n_seeds": 3}
    row |= {"ppl_change_pct_ci_low": -1.0, "ppl_change_pct_ci_high": 1.0}
    row |= {"ppl_change_pct_t_low": -2.0, "ppl_change_pct_t_high": 2.0}
    for hp in ("gamma=0,lambda=0.08", "eps=0.3,gamma=0", "gamma=0"):
        assert _verdict({**row, "selected_hp": hp}, []).startswith("validation chose gamma = 0")
    text = _verdict(
        {**row, "ppl_change_pct": -3.0, "significant": True, "selected_hp": "gamma=0.05"},
        [
            ("depth", 1.0, 0.5, 1.5, 0.2, 1.8),  # both intervals above 0: worse
            ("shuffled", -0.5, -1.0, 0.2, -1.2, 0.4),  # both span 0
            ("flipped", -2.0, -3.0, -1.0, -3.5, -0.5),  # both below 0: beaten
            ("depth2", -2.0, -3.0, -1.0, -6.0, 2.0),  # the bootstrap alone is not enough
        ],
    )
    assert "lowers perplexity -3.00% (bootstrap [-1.00, +1.00]; t over seeds [-2.00, +2.00])" in text
    assert "not distinguishable from shuffled, depth2" in text and "worse than depth" in text
    assert "flipped" not in text
    half = {**row, "ppl_change_pct": -3.0, "selected_hp": "gamma=0.05", "ppl_change_pct_ci_high": -0.5}
    assert "the bootstrap interval excludes 0, the t interval does not" in _verdict(half, [])


def test_the_verdict_page_and_terminal_list_the_cells_that_failed():
    from absorbprune.reporting.verdict import verdict_html, verdict_text

    cfg = _config()
    cands = selection_candidates(cfg)
    choices = choose(_valid(cands, _ppl), [asdict(c) for c in cands], [0, 1, 2])
    grid = _grid(cands, lambda a, c, s: 28.0 + s)
    grid["status"], grid["reason"] = "ok", ""
    grid.loc[0, ["status", "reason"]] = ["failed", "LinAlgError: the Cholesky factor is singular"]
    head = headline_table(grid, choices, {"flipped": "paper"})
    page, text = verdict_html(head, None, grid), verdict_text(head, None, grid)
    for shown in (page, text):
        assert "failed numerically (1" in shown and "LinAlgError: the Cholesky factor is singular" in shown
    assert "failed numerically" not in verdict_text(head, None, grid.assign(status="ok"))
