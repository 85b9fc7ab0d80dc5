"""The paper's coefficient and correction (docs/methods.md 5.2) and the controls (5.3) on
hand-built drift tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from absorbprune.allocation import (
    Allocation,
    apply_shift,
    control_shift,
    ours_shift,
    paper_coefficients,
    paper_shift,
)

PARAMS = np.array([100.0, 300, 100, 200, 100])


def drift_table(ratios: dict[int, list[float]], eta: float = 1e-2, n_blocks: int = 5) -> pd.DataFrame:
    """Gaussian injections at ``eta``: drift eta at the injection block, eta * ratio at the last block
    (one ratio per seed) and 2 x that after the final norm; a distractor magnitude 1e-4 with ratio 50."""
    rows = []
    for block, per_seed in ratios.items():
        for seed, ratio in enumerate(per_seed):
            for magnitude, r in ((eta, ratio), (1e-4, 50.0)):
                for depth in range(block, n_blocks + 1):
                    value = magnitude if depth == block else magnitude * r * (2 if depth == n_blocks else 1)
                    rows.append(
                        {
                            "kind": "gaussian",
                            "inject_block": block,
                            "magnitude": magnitude,
                            "seed": seed,
                            "depth": depth,
                            "rel_l2": value,
                            "cos": 1.0,
                        }
                    )
    return pd.DataFrame(rows)


def test_paper_coefficient_is_the_mean_ratio_over_seeds_at_eta():
    table = drift_table({0: [4.0, 6.0], 1: [2.0, 2.0], 2: [1.0, 1.0], 3: [0.5, 0.25], 4: [1.0, 1.0]})
    r = paper_coefficients(table, 1e-2, "last_block", 5)
    np.testing.assert_allclose(r, [5.0, 2.0, 1.0, 0.375, 1.0])
    # after the final norm: twice the drift of the last block (block 4 is the last: its own drift)
    np.testing.assert_allclose(paper_coefficients(table, 1e-2, "final_norm", 5), [10.0, 4.0, 2.0, 0.75, 2.0])
    with pytest.raises(ValueError, match=r"eta=0\.1"):
        paper_coefficients(table, 0.1, "last_block", 5)


def test_paper_shift_clip_active_and_inactive():
    inactive = np.array([2.0, 1.0, 0.5, 1.5, 0.8])
    u = np.log(inactive)
    np.testing.assert_allclose(paper_shift(inactive, 3.0), -(u - u.mean()))
    active = np.array([100.0, 1.0, 0.001, 1.5, 0.8])  # log beyond +-log 3 on blocks 0 and 2
    u = np.clip(np.log(active), -np.log(3), np.log(3))
    delta = paper_shift(active, 3.0)
    np.testing.assert_allclose(delta, -(u - u.mean()))
    assert delta[0] == pytest.approx(-(np.log(3) - u.mean()))
    assert delta.sum() == pytest.approx(0.0, abs=1e-12)
    assert delta[0] < 0 < delta[2]  # amplifying block protected, absorbing block pruned more
    with pytest.raises(ValueError, match="positive"):
        paper_shift(np.array([1.0, 0.0]), 3.0)


def test_shift_restores_the_base_budget_parameter_weighted_and_clips():
    base = Allocation(np.array([0.6, 0.7, 0.75, 0.7, 0.9]), "unweighted")
    shift = 0.2 * paper_shift(np.array([3.0, 1.0, 0.2, 1.0, 0.1]), 3.0)
    out = apply_shift(base, shift, PARAMS, 0.0, 0.95)
    assert out.sparsity.max() <= 0.95
    assert np.average(out.sparsity, weights=PARAMS) == pytest.approx(
        np.average(base.sparsity, weights=PARAMS), abs=1e-12
    )


@pytest.mark.parametrize("control", ["depth", "shuffled", "flipped"])
def test_controls_have_the_correction_l2_size_exactly(control):
    delta = ours_shift(np.array([0.9, 0.7, 0.2, 0.1, 0.4]))
    out = control_shift(delta, control, seed=0)
    assert np.linalg.norm(out) == pytest.approx(np.linalg.norm(delta), rel=1e-12)
    assert out.sum() == pytest.approx(0.0, abs=1e-12)


def test_controls_shapes():
    delta = np.array([0.3, -0.1, 0.0, -0.4, 0.2])
    np.testing.assert_array_equal(control_shift(delta, "flipped"), -delta)
    shuffled = control_shift(delta, "shuffled", seed=3)
    assert sorted(shuffled) == sorted(delta) and np.array_equal(
        shuffled, control_shift(delta, "shuffled", seed=3)
    )
    depth = control_shift(delta, "depth")
    assert np.all(np.diff(depth) > 0)  # toward later blocks
    with pytest.raises(KeyError, match="valid"):
        control_shift(delta, "random")
