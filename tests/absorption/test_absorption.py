"""A_k, g_j, transitions and findings on hand-built drift tables with known answers."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from absorbprune.absorption.coefficients import absorption_coefficients, local_gains
from absorbprune.absorption.findings import ModelSweeps, findings, post_peak_trend, transitions

L = 4  # blocks 0..3; depth 4 is the final norm


def rows(kind, k, magnitude, seed, values, cos=None):
    """Drift rows for one injection: values[i] is d at depth k + i (the last one is depth L)."""
    cos = cos or [1.0] * len(values)
    assert len(values) == L - k + 1
    return [
        {
            "model": "m",
            "kind": kind,
            "inject_block": k,
            "magnitude": magnitude,
            "seed": seed,
            "depth": k + i,
            "rel_l2": v,
            "cos": c,
        }
        for i, (v, c) in enumerate(zip(values, cos, strict=True))
    ]


def prune_table(s=0.5):
    # block 0 amplifies 0.1 -> 0.4; block 1 neutral; block 2 absorbs 0.2 -> 0.05; block 3 absorbs 2x
    data = (
        rows("prune", 0, s, 0, [0.1, 0.3, 0.5, 0.45, 0.4], cos=[0.99, 0.9, 0.8, 0.85, 0.9])
        + rows("prune", 1, s, 0, [0.2, 0.25, 0.22, 0.2])
        + rows("prune", 2, s, 0, [0.2, 0.1, 0.05])
        + rows("prune", 3, s, 0, [0.3, 0.15])
    )
    return pd.DataFrame(data)


def test_absorption_coefficients_are_log_ratios():
    coef = absorption_coefficients(prune_table(), L, "m", 0.5).set_index("block")
    assert coef.loc[0, "coefficient"] == pytest.approx(math.log(0.1 / 0.4))
    assert coef.loc[1, "coefficient"] == pytest.approx(0.0)
    assert coef.loc[2, "coefficient"] == pytest.approx(math.log(4))
    assert coef.loc[3, "coefficient"] == pytest.approx(math.log(2))
    assert list(coef["d_inject"]) == [0.1, 0.2, 0.2, 0.3] and list(coef["d_final"]) == [0.4, 0.2, 0.05, 0.15]


def test_absorption_needs_every_block():
    table = prune_table()
    with pytest.raises(ValueError, match="every block"):
        absorption_coefficients(table[table["inject_block"] != 2], L, "m", 0.5)


def test_local_gains_are_successive_ratios():
    gains = local_gains(prune_table(), "m", 0.5)
    g0 = gains[gains["inject_block"] == 0].set_index("depth")["gain"]
    assert list(g0.index) == [1, 2, 3, 4]
    assert g0.tolist() == pytest.approx([3.0, 0.5 / 0.3, 0.9, 0.4 / 0.45])
    assert len(gains) == 4 + 3 + 2 + 1


def test_post_peak_trend():
    rho, mono = post_peak_trend(pd.Series([0.1, 0.5, 0.4, 0.3, 0.2], index=[0, 1, 2, 3, 4]))
    assert rho == pytest.approx(-1.0) and mono
    rho, mono = post_peak_trend(pd.Series([0.5, 0.2, 0.3, 0.1], index=[0, 1, 2, 3]))
    assert rho == pytest.approx(-0.8) and not mono
    assert math.isnan(post_peak_trend(pd.Series([0.1, 0.2, 0.3], index=[0, 1, 2]))[0])


def magnitude_table():
    data = []
    for seed in (0, 1):
        # block 0: ratio 2 at small eps, 1.5 at 0.01, 0.5 at 1 -> crosses between 0.01 and 1
        data += rows("gaussian", 0, 1e-4, seed, [1e-4, 1e-4, 1e-4, 1e-4, 2e-4])
        data += rows("gaussian", 0, 1e-2, seed, [1e-2, 1e-2, 1e-2, 1e-2, 1.5e-2])
        data += rows("gaussian", 0, 1.0, seed, [1.0, 1.0, 1.0, 1.0, 0.5])
        # block 2: always amplifies -> no transition
        for eps in (1e-4, 1e-2, 1.0):
            data += rows("gaussian", 2, eps, seed, [eps, eps, 3 * eps])
    return pd.DataFrame(data)


def test_transition_magnitude_interpolates_log_linearly():
    trans = transitions(magnitude_table(), L, "m").set_index("block")
    assert trans.loc[0, "ratio_small"] == pytest.approx(2.0) and trans.loc[0, "ratio_large"] == pytest.approx(
        0.5
    )
    # log r goes from ln 1.5 at ln 0.01 to ln 0.5 at ln 1: zero at t = ln1.5 / (ln1.5 - ln0.5)
    t = math.log(1.5) / (math.log(1.5) - math.log(0.5))
    assert trans.loc[0, "eps_star"] == pytest.approx(math.exp(math.log(0.01) + t * (0 - math.log(0.01))))
    assert trans.loc[0, "direction"] == "amplify_to_absorb"
    assert math.isnan(trans.loc[2, "eps_star"]) and trans.loc[2, "direction"] == "none"


def test_transition_reports_the_opposite_crossing_too():
    data = []
    for eps, final in ((1e-3, 0.5e-3), (1e-1, 0.09), (1.0, 1.5)):  # absorbs, absorbs, amplifies
        data += rows("prune_dir", 3, eps, 0, [eps, final])
    trans = transitions(pd.DataFrame(data), L, "m").iloc[0]
    assert trans["direction"] == "absorb_to_amplify" and 0.1 < trans["eps_star"] < 1.0


def test_findings_columns_on_a_known_table():
    prune = prune_table(0.7).replace({"magnitude": {0.5: 0.7}})
    coef = absorption_coefficients(prune, L, "m", 0.7)
    mag = magnitude_table()
    out = findings(ModelSweeps("m", L, 0.7, 1, prune, mag), coef, transitions(mag, L, "m")).iloc[0]
    assert out["share_absorbing"] == pytest.approx(0.5)  # blocks 2 and 3 (block 1's A = 0 is not > 0)
    assert out["first_absorbing_block"] == 2 and out["absorbing_blocks"] == "2,3"
    assert out["absorbing_are_later"]
    assert out["absorbing_mean_depth"] == 2.5 and out["amplifying_mean_depth"] == 0.5
    # post-peak tails over block depths: block 0 (0.5, 0.45), block 1 (0.25, 0.22), blocks 2-3 shorter:
    # none has the 3 points a trend needs
    assert math.isnan(out["drift_depth_spearman"])
    assert out["small_eps"] == pytest.approx(1e-4)
    assert out["small_eps_all_amplify"]  # both blocks amplify at 1e-4 (ratios 2 and 3)
    assert out["share_blocks_with_transition"] == pytest.approx(0.5)


def test_findings_trend_columns():
    # one injection with a long post-peak tail: drift falls monotonically, cosine rises
    long_l = 6
    data = [
        {
            "model": "m",
            "kind": "prune",
            "inject_block": 0,
            "magnitude": 0.7,
            "seed": 0,
            "depth": j,
            "rel_l2": v,
            "cos": c,
        }
        for j, (v, c) in enumerate(
            zip([0.2, 0.6, 0.5, 0.4, 0.3, 0.25, 0.2], [0.9, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95], strict=True)
        )
    ]
    for k in range(1, long_l):
        data += [
            {
                "model": "m",
                "kind": "prune",
                "inject_block": k,
                "magnitude": 0.7,
                "seed": 0,
                "depth": j,
                "rel_l2": 0.1,
                "cos": 1.0,
            }
            for j in range(k, long_l + 1)
        ]
    prune = pd.DataFrame(data)
    coef = absorption_coefficients(prune, long_l, "m", 0.7)
    sweeps = ModelSweeps("m", long_l, 0.7, 1, prune, prune.iloc[:0])
    out = findings(sweeps, coef, transitions(prune.iloc[:0], long_l, "m"))
    row = out.iloc[0]
    # injections k = 1..5 are flat: no trend to rank, so only block 0 counts
    assert row["drift_depth_spearman"] == pytest.approx(-1.0)
    assert row["cos_depth_spearman"] == pytest.approx(1.0)
    assert row["drift_monotone_share"] == pytest.approx(1.0)
    assert not row["small_eps_all_amplify"] and math.isnan(row["median_eps_star"])


def test_tables_match_their_declared_schemas():
    from absorbprune.tables.absorption import ABSORPTION, FINDINGS, GAINS, TRANSITIONS

    prune = prune_table(0.7).replace({"magnitude": {0.5: 0.7}})
    coef = absorption_coefficients(prune, L, "m", 0.7)
    mag = magnitude_table()
    trans = transitions(mag, L, "m")
    assert list(coef.assign(seed=0).columns) == ABSORPTION.names  # the rule adds the calibration seed
    assert list(local_gains(prune, "m", 0.7).assign(seed=0).columns) == GAINS.names
    assert list(trans.columns) == TRANSITIONS.names
    assert list(findings(ModelSweeps("m", L, 0.7, 1, prune, mag), coef, trans).columns) == FINDINGS.names
