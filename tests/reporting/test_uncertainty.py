"""The paired hierarchical bootstrap and the t interval against hand computations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from absorbprune.reporting.uncertainty import Bootstrap, percentile_interval, resampled_means, t_interval


def test_t_interval_uses_the_t_quantile_not_two_standard_errors():
    mean, se, low, high = t_interval([-1.0, -4.0, -7.0])
    assert mean == -4.0 and se == pytest.approx(math.sqrt(3.0))  # sd 3, n 3
    assert low == pytest.approx(-4.0 - 4.302652729911275 * math.sqrt(3.0))  # t_{0.975, 2}
    assert high == pytest.approx(-4.0 + 4.302652729911275 * math.sqrt(3.0))
    assert low < 0 < high  # |mean| > 2 SE (4 > 3.46), yet not significant at 5%
    assert math.isnan(t_interval([1.0])[2]) and math.isnan(t_interval([])[0])


def _replay(cells, spec):
    """The bootstrap written as loops: the same random draws in the same order, each replicate's
    per-seed score computed item by item."""
    rng = np.random.default_rng(spec.seed)
    names = list(cells)
    n_seeds, sizes = len(cells[names[0]]), [len(g) for g in cells[names[0]][0]]
    seed_draw = rng.integers(0, n_seeds, size=(spec.resamples, n_seeds))
    draws = []
    for n in sizes:
        shape = (spec.resamples,) if spec.items == "shared" else (spec.resamples, n_seeds)
        draws.append(rng.multinomial(n, np.full(n, 1.0 / n), size=shape))
    out = {name: np.zeros((spec.resamples, n_seeds)) for name in names}
    for name, b, j in itertools.product(names, range(spec.resamples), range(n_seeds)):
        s = seed_draw[b, j]
        total = 0.0
        for g, n in enumerate(sizes):
            counts = draws[g][b] if spec.items == "shared" else draws[g][b, j]
            picked = [cells[name][s][g][i] for i in range(n) for _ in range(counts[i])]
            total += sum(picked) / n
        out[name][b, j] = total / len(sizes)
    return out


@pytest.mark.parametrize("items", ["shared", "per_seed"])
def test_replicates_equal_a_loop_over_the_same_draws(items):
    rng = np.random.default_rng(1)
    cells = {
        name: [[rng.normal(size=5), rng.normal(size=3)] for _ in range(3)]  # 3 seeds, two item groups
        for name in ("base", "corrected")
    }
    spec = Bootstrap(resamples=40, seed=7, items=items)
    fast, slow = resampled_means(cells, spec), _replay(cells, spec)
    for name in cells:
        np.testing.assert_allclose(fast[name], slow[name], rtol=0, atol=1e-12)


def test_the_bootstrap_distribution_matches_its_exact_enumeration():
    """Two seeds, three windows, shared draws: each replicate is one of 2^2 seed draws times 3^3
    window draws, all equally likely; the statistic's exact mean and variance over them, by hand,
    against 200k replicates."""
    base = [np.array([1.0, 2.0, 4.0]), np.array([1.5, 2.5, 3.0])]
    corr = [np.array([0.9, 2.1, 3.5]), np.array([1.0, 2.6, 2.9])]

    def change(seeds, windows):  # mean over drawn seeds of 100 (exp(mean c - mean b) - 1)
        return np.mean(
            [100 * math.expm1(np.mean(corr[s][windows]) - np.mean(base[s][windows])) for s in seeds]
        )

    exact = [
        change(seeds, list(windows))
        for seeds in itertools.product(range(2), repeat=2)
        for windows in itertools.product(range(3), repeat=3)
    ]
    spec = Bootstrap(resamples=200_000, seed=3)
    draws = resampled_means({"b": [[b] for b in base], "c": [[c] for c in corr]}, spec)
    boot = 100 * np.expm1(draws["c"] - draws["b"]).mean(axis=1)
    assert boot.mean() == pytest.approx(np.mean(exact), abs=0.05)
    assert boot.std() == pytest.approx(np.std(exact), rel=0.01)


def test_shared_items_keep_the_texts_variance_that_per_seed_draws_average_away():
    rng = np.random.default_rng(0)
    text = rng.normal(size=64)  # window effects shared by every seed: the same text
    cells = {"b": [[text] for _ in range(5)], "c": [[text + 0.1 * text] for _ in range(5)]}
    spread = {}
    for items in ("shared", "per_seed"):
        draws = resampled_means(cells, Bootstrap(resamples=4000, items=items))
        spread[items] = (draws["c"] - draws["b"]).mean(axis=1).std()
    assert spread["shared"] == pytest.approx(spread["per_seed"] * math.sqrt(5), rel=0.1)


def test_percentile_interval_and_bad_inputs():
    low, high = percentile_interval(np.arange(1001.0))
    assert (low, high) == pytest.approx((25.0, 975.0))
    assert all(math.isnan(v) for v in percentile_interval(np.array([math.nan])))
    with pytest.raises(ValueError, match="same seeds and items"):
        resampled_means({"b": [[np.ones(3)]], "c": [[np.ones(4)]]}, Bootstrap())
    with pytest.raises(ValueError, match="nothing to resample"):
        resampled_means({"b": [[np.ones(0)]]}, Bootstrap())
    for bad in ({"resamples": 0}, {"confidence": 1.0}, {"items": "both"}):
        with pytest.raises(ValueError):
            Bootstrap(**bad)
