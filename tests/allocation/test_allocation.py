"""Allocator invariants on hand-made arrays: the mean each keeps, spread, order, legality."""

from __future__ import annotations

import numpy as np
import pytest

from absorbprune.allocation.allocators import (
    Allocation,
    BlockStats,
    allocate,
    alphapruning,
    atp,
    atp_beta_bound,
    dlp,
    owl,
    project_mean,
    uniform,
)
from absorbprune.allocation.corrections import by_absorption
from absorbprune.plan.config.schema import effective_schema
from absorbprune.registry.allocators import ALLOCATORS

LOD = np.array([0.02, 0.08, 0.05, 0.01, 0.03, 0.04])
ALPHA = np.array([2.1, 3.5, 2.8, 4.0, 2.2, 3.0])
PARAMS = np.array([100.0, 100, 100, 100, 100, 100])
UNEVEN = np.array([100.0, 300, 50, 200, 120, 80])


def absorption_correction(base, coefficients, params, gamma, lo, hi):
    """Our registered correction on a base allocation (docs/methods.md 5.1), as the allocate job
    applies it: the block statistics it needs are the parameter counts."""
    stats = BlockStats(np.asarray(params, dtype=np.float64), {}, np.zeros(len(params)), np.zeros(len(params)))
    base = Allocation(np.asarray(base, dtype=np.float64), "weighted")
    return by_absorption(
        base, stats, {"coefficients": coefficients}, {"gamma": gamma}, lo, hi
    ).sparsity.copy()


def test_uniform():
    assert np.array_equal(uniform(4, 0.7).sparsity, np.full(4, 0.7))


def test_owl_mean_spread_and_order():
    a = owl(LOD, 0.7, 0.08)
    assert a.mean_kept == "unweighted"
    assert a.sparsity.mean() == pytest.approx(0.7, abs=1e-15)
    assert a.sparsity.max() - a.sparsity.min() == pytest.approx(2 * 0.08, abs=1e-15)
    # more outliers -> less sparsity: the order is exactly reversed
    assert list(np.argsort(a.sparsity)) == list(np.argsort(-LOD))


def test_alphapruning_weighted_mean_and_order():
    a = alphapruning(ALPHA, UNEVEN, 0.7, 0.3)
    assert a.mean_kept == "weighted"
    assert np.average(a.sparsity, weights=UNEVEN) == pytest.approx(0.7, abs=1e-14)
    assert list(np.argsort(a.sparsity)) == list(np.argsort(ALPHA))  # larger alpha -> more sparsity
    ratio = a.sparsity / a.sparsity.min()
    assert ratio.max() == pytest.approx((1 + 0.3) / (1 - 0.3))  # r spans [1 - eps, 1 + eps]


def test_atp_linear_increasing_and_legal():
    a = atp(6, 0.7, 0.05)
    assert a.sparsity.mean() == pytest.approx(0.7, abs=1e-15)
    assert np.allclose(np.diff(a.sparsity), 0.05)
    bound = atp_beta_bound(6, 0.7)
    assert bound == pytest.approx(0.6 / 5)
    top = atp(6, 0.7, bound).sparsity
    assert top.max() == pytest.approx(1.0) and top.min() == pytest.approx(0.4)
    with pytest.raises(ValueError, match=r"ATP beta=0\.2 is illegal"):
        atp(6, 0.7, 0.2)
    with pytest.raises(ValueError, match="illegal"):
        atp(6, 0.7, -0.01)


def test_dlp_mean_spread_and_order():
    score = np.array([0.5, 0.2, 0.3, 0.4, 0.1, 0.6])
    a = dlp(score, 0.7, 0.15)
    assert a.sparsity.mean() == pytest.approx(0.7, abs=1e-15)
    assert a.sparsity.max() - a.sparsity.min() == pytest.approx(0.3, abs=1e-15)
    # importance 1 - score/sum falls as the score grows; more important -> less sparsity
    assert list(np.argsort(a.sparsity)) == list(np.argsort(score))


def test_negative_hyperparameters_are_errors():
    with pytest.raises(ValueError, match="lambda"):
        owl(LOD, 0.7, -0.1)
    with pytest.raises(ValueError, match="eps"):
        alphapruning(ALPHA, PARAMS, 0.7, -0.1)
    with pytest.raises(ValueError, match="alpha"):
        dlp(LOD, 0.7, -1)
    with pytest.raises(ValueError, match="gamma"):
        absorption_correction(np.full(6, 0.7), ALPHA, PARAMS, -0.1, 0, 1)


@pytest.mark.parametrize("weights", [None, UNEVEN])
def test_projection_keeps_the_mean_exactly_after_clipping(weights):
    s = np.array([0.95, 1.2, 0.3, 0.9, 0.99, 0.96])
    out = project_mean(s, 0.8, 0.0, 0.99, weights)
    assert out.min() >= 0.0 and out.max() <= 0.99
    assert np.average(out, weights=weights) == pytest.approx(0.8, abs=1e-12)
    # order is preserved (a common shift, then clipping)
    assert all(np.diff(out[np.argsort(s, kind="stable")]) >= -1e-15)
    with pytest.raises(ValueError, match="bounds"):
        project_mean(s, 0.995, 0.0, 0.99)


def test_allocate_clips_owl_and_keeps_its_mean():
    stats = BlockStats(PARAMS, {5: LOD}, ALPHA, np.ones(6))
    a = allocate("owl", stats, 0.95, {"lambda": 0.08, "M": 5}, 0.0, 0.99)
    assert a.sparsity.max() <= 0.99 and a.sparsity.mean() == pytest.approx(0.95, abs=1e-12)
    with pytest.raises(KeyError, match="valid"):
        allocate("random", stats, 0.5, {}, 0, 1)


def test_correction_keeps_base_mean_moves_sparsity_to_absorbing_blocks():
    base = alphapruning(ALPHA, UNEVEN, 0.7, 0.3).sparsity
    coef = np.array([-0.3, 0.1, 0.5, 0.2, 0.0, 0.4])
    out = absorption_correction(base, coef, UNEVEN, 0.05, 0.0, 0.99)
    assert np.average(out, weights=UNEVEN) == pytest.approx(np.average(base, weights=UNEVEN), abs=1e-12)
    delta = out - base
    assert list(np.argsort(delta)) == list(np.argsort(coef))  # more absorbing -> more sparsity added
    assert np.array_equal(absorption_correction(base, coef, UNEVEN, 0.0, 0.0, 0.99), base)


def test_correction_keeps_mean_when_clipping_binds():
    base = np.full(6, 0.97)
    coef = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0])
    out = absorption_correction(base, coef, UNEVEN, 0.2, 0.0, 0.99)
    assert out.max() <= 0.99
    assert np.average(out, weights=UNEVEN) == pytest.approx(0.97, abs=1e-12)


def test_registry_matches_the_schema_enum():
    enum = effective_schema()["properties"]["grid"]["properties"]["allocations"]["items"]["enum"]
    assert sorted(enum) == sorted(ALLOCATORS)
