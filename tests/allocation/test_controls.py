"""The paper's coefficient and correction (docs/methods.md 5.2) and the controls (5.3) on
hand-built drift tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from absorbprune.absorption.coefficients import paper_coefficients
from absorbprune.allocation.allocators import Allocation
from absorbprune.allocation.corrections import apply_shift, control_shift, ours_shift, paper_shift

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
    # the other expectation: the ratio of the seed-mean drifts (block 3: 0.375 -> (0.5 + 0.25) / 2)
    means = paper_coefficients(table, 1e-2, "last_block", 5, "means")
    np.testing.assert_allclose(means, [5.0, 2.0, 1.0, 0.375, 1.0])  # equal drift at l: the same here
    uneven = table.copy()
    first = (uneven["inject_block"] == 0) & (uneven["seed"] == 0) & np.isclose(uneven["magnitude"], 1e-2)
    uneven.loc[first, "rel_l2"] *= 3  # seed 0's drift three times larger everywhere: its ratio is unchanged
    np.testing.assert_allclose(paper_coefficients(uneven, 1e-2, "last_block", 5)[0], 5.0)
    assert paper_coefficients(uneven, 1e-2, "last_block", 5, "means")[0] == pytest.approx(
        (3 * 4e-2 + 6e-2) / (3e-2 + 1e-2)
    )
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


def _stats(n: int = 5):
    from absorbprune.allocation.allocators import BlockStats

    return BlockStats(PARAMS[:n], {}, np.zeros(n), np.zeros(n))


def _paper_table(r: list[float], eta: float = 1e-2) -> pd.DataFrame:
    """A seed's reading table (``tables.absorption.READINGS``): the default reading r, after the
    final norm 2 r, the ratio of means r / 2 (both: r), the Frobenius drift 3 r."""
    from absorbprune.absorption.readings import reading_name

    base = {
        "perturbation": "gaussian",
        "eta": eta,
        "first_token": "perturbed",
        "measure": "all",
        "aggregation": "token",
        "end": "last_block",
        "expectation": "ratio",
    }
    frames = []
    for change, factor in (
        ({}, 1.0),
        ({"end": "final_norm"}, 2.0),
        ({"expectation": "means"}, 0.5),
        ({"end": "final_norm", "expectation": "means"}, 1.0),
        ({"aggregation": "frobenius"}, 3.0),
    ):
        reading = {**base, **change}
        frames.append(
            pd.DataFrame(
                {
                    "reading": reading_name(reading),
                    **reading,
                    "block": range(len(r)),
                    "r": [factor * x for x in r],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_registered_paper_correction_and_controls_share_one_shift():
    """Through the registry, as the allocate rule runs them: the control's delta has the paper
    shift's L2 size, and every result keeps the base's parameter-weighted budget."""
    from absorbprune.allocation.cell import AllocationSpec, allocation_table
    from absorbprune.plan.cell import Cell

    inputs = {"readings": _paper_table([3.0, 2.0, 1.0, 0.5, 0.25])}
    hp = {"gamma": 0.05, "eta": 0.01, "depth": "last_block", "clip": 3.0, "expectation": "ratio"}

    def cell(name):
        return Cell("m", "wanda", "unstructured", "uniform", f"{name}-gamma0.05", 0.5, 0)

    def spec(name, chp):
        return AllocationSpec("uniform", name, 0.0, 0.99, {}, chp)

    tables = {}
    for name, chp in [
        ("paper", hp),
        *[(c, {**hp, "of": "paper", "seed": 0}) for c in ("depth", "shuffled", "flipped")],
    ]:
        tables[name] = allocation_table(_stats(), cell(name), spec(name, chp), inputs)
    delta = tables["paper"]["shift"].to_numpy()
    np.testing.assert_allclose(delta, 0.05 * paper_shift(np.array([3.0, 2.0, 1.0, 0.5, 0.25]), 3.0))
    for table in tables.values():
        assert np.linalg.norm(table["shift"]) == pytest.approx(np.linalg.norm(delta), rel=1e-12)
        assert np.average(table["block_sparsity"], weights=PARAMS) == pytest.approx(0.5, abs=1e-12)
        assert table["hyperparameters"].iloc[0] == "gamma=0.05"
    np.testing.assert_allclose(tables["flipped"]["shift"], -delta)
    assert tables["paper"]["block_sparsity"].iloc[0] < 0.5 < tables["paper"]["block_sparsity"].iloc[4]
    # the other reading of L (after the final norm) reads its own column (here 2 r: the clip bites)
    other = allocation_table(_stats(), cell("paper"), spec("paper", {**hp, "depth": "final_norm"}), inputs)
    np.testing.assert_allclose(other["shift"], 0.05 * paper_shift(np.array([6.0, 4.0, 2.0, 1.0, 0.5]), 3.0))
    means = allocation_table(_stats(), cell("paper"), spec("paper", {**hp, "expectation": "means"}), inputs)
    np.testing.assert_allclose(
        means["shift"], 0.05 * paper_shift(np.array([1.5, 1.0, 0.5, 0.25, 0.125]), 3.0)
    )
    assert not np.allclose(other["shift"], delta)
    # paper_frob: the same correction reading the Frobenius drift (3 r here); unknown readings fail
    frob = allocation_table(
        _stats(), cell("paper_frob"), spec("paper_frob", {**hp, "aggregation": "frobenius"}), inputs
    )
    np.testing.assert_allclose(frob["shift"], 0.05 * paper_shift(np.array([9.0, 6.0, 3.0, 1.5, 0.75]), 3.0))
    with pytest.raises(ValueError, match=r"no paper coefficients for the reading gaussian/eta0\.001"):
        allocation_table(_stats(), cell("paper"), spec("paper", {**hp, "eta": 1e-3}), inputs)
    with pytest.raises(ValueError, match=r"prune_dir/eta0\.01/.* prune_dir needs sweeps\.magnitude_kinds"):
        allocation_table(_stats(), cell("paper"), spec("paper", {**hp, "perturbation": "prune_dir"}), inputs)


def _config(section: str, key: str, value):
    """The embedded default config with one setting changed, resolved."""
    import copy
    from pathlib import Path

    import yaml

    from absorbprune.plan.config.validate import resolve

    cfg = yaml.safe_load((Path(__file__).parents[2] / "config.yaml").read_text())
    cfg = copy.deepcopy(cfg)
    node = cfg[section]
    for part in key.split(".")[:-1]:
        node = node.setdefault(part, {})
    node[key.split(".")[-1]] = value
    return resolve(cfg)


def test_config_requires_gamma_zero_and_an_eta_the_sweep_ran():
    from absorbprune.plan.config.errors import ConfigError

    with pytest.raises(
        ConfigError, match=r"allocation\.paper\.gamma': the list \[0\.05, 0\.1\] must include 0"
    ):
        _config("allocation", "paper.gamma", [0.05, 0.1])
    with pytest.raises(ConfigError, match=r"allocation\.paper\.eta': 0\.03 is not a gaussian magnitude"):
        _config("allocation", "paper.eta", 0.03)
    with pytest.raises(ConfigError, match="add gaussian"):
        _config("sweeps", "magnitude_kinds", ["prune_dir"])
    # a reading correction needs the sweep its reading reads, named before any job
    with pytest.raises(
        ConfigError, match=r"sweeps\.magnitude_kinds': the correction paper_prunedir reads the prune_dir"
    ):
        _config("grid", "corrections", ["none", "paper_prunedir"])
    with pytest.raises(ConfigError, match=r"sweeps\.first_token': the correction paper_nosink .* add clean"):
        _config("grid", "corrections", ["none", "paper_nosink"])
    with pytest.raises(ConfigError, match=r"sweeps\.first_token': the correction paper .* add clean"):
        _config("allocation", "paper.first_token", "clean")
    with pytest.raises(ConfigError, match=r"allocation\.depth\.of"):
        _config("allocation", "depth.of", "none")


def test_control_variants_mirror_their_correction():
    from absorbprune.plan.grid import correction_variants

    cfg = _config("allocation", "absorption.gamma", [0, 0.05, 0.1])
    cfg["grid"]["corrections"] = ["none", "absorption", "shuffled"]
    cfg["allocation"]["shuffled"] = {"of": "absorption", "seed": 4}
    variants = correction_variants(cfg)
    assert set(variants) == {
        "none",
        "absorption-gamma0.05",
        "absorption-gamma0.1",
        "shuffled-gamma0.05",
        "shuffled-gamma0.1",
    }
    assert variants["shuffled-gamma0.1"] == ("shuffled", {"gamma": 0.1, "of": "absorption", "seed": 4})


def test_block_gains_and_the_paper_table():
    from absorbprune.absorption.coefficients import block_gains, paper_coefficient_table
    from absorbprune.tables.absorption import BLOCK_GAINS, PAPER_COEFFICIENTS

    gains = pd.DataFrame(
        {
            "inject_block": [0, 0, 1, 0, 0, 1],
            "depth": [1, 2, 2, 1, 2, 2],
            "gain": [1.5, 0.5, 0.7, 1.3, 0.6, 0.8],
            "seed": [0, 0, 0, 1, 1, 1],
        }
    )
    assert list(block_gains(gains, "m", 0.7).columns) == BLOCK_GAINS.names
    table = block_gains(gains, "m", 0.7).set_index("block")
    assert table.loc[1, "local_gain"] == pytest.approx(1.4) and table.loc[1, "amplifies"]
    assert table.loc[2, "local_gain"] == pytest.approx(np.mean([0.6, 0.7])) and not table.loc[2, "amplifies"]
    assert table.loc[1, "local_gain_se"] == pytest.approx(np.std([1.5, 1.3], ddof=1) / np.sqrt(2))
    assert table.loc[2, "n_injections"] == 2
    drift = drift_table({0: [4.0, 6.0], 1: [2.0, 2.0], 2: [1.0, 1.0], 3: [0.5, 0.25], 4: [1.0, 1.0]})
    paper = paper_coefficient_table(drift, "m", 7, 5)
    assert list(paper.columns) == PAPER_COEFFICIENTS.names
    at = paper[np.isclose(paper["eta"], 1e-2)].set_index("block")
    np.testing.assert_allclose(at["r_last_block"], [5.0, 2.0, 1.0, 0.375, 1.0])
    np.testing.assert_allclose(at["r_final_norm"], [10.0, 4.0, 2.0, 0.75, 2.0])
    np.testing.assert_allclose(at["r_last_block_means"], [5.0, 2.0, 1.0, 0.375, 1.0])
    assert (
        set(paper["eta"]) == {1e-2, 1e-4} and (paper["seed"] == 7).all() and (paper["n_samples"] == 2).all()
    )
