"""The readings compared with the default (docs/methods.md 5.6) and the claims' robustness."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import DEFAULT_READING as DEFAULT
from helpers import PAPERLIKE, RISING
from helpers import reading_rows as readings

from absorbprune.absorption.readings import reading_name
from absorbprune.allocation.corrections import paper_shift
from absorbprune.reporting.readings import reading_summary


def test_summary_flags_the_pattern_the_correlation_and_materiality():
    tables = [
        readings(
            "m",
            0,
            {"": RISING, "aggregation=frobenius": PAPERLIKE, "end=final_norm": [1.2 * x for x in RISING]},
        ),
        readings(
            "m",
            1,
            {"": RISING, "aggregation=frobenius": PAPERLIKE, "end=final_norm": [1.2 * x for x in RISING]},
        ),
    ]
    out = reading_summary(tables, DEFAULT, clip=3.0, material_corr=0.5)
    assert set(out["seed"]) == {0, 1, -1}
    one = out.drop_duplicates(["seed", "reading"]).set_index(["seed", "reading"])
    default = reading_name(DEFAULT)
    frob = reading_name({**DEFAULT, "aggregation": "frobenius"})
    final = reading_name({**DEFAULT, "end": "final_norm"})
    row = one.loc[(-1, default)]
    assert row["default"] and row["shift_corr"] == 1.0 and not row["material"]
    assert not row["paper_pattern"] and row["spearman_depth"] == pytest.approx(1.0)
    assert row["amplifying_blocks"] == "3,4,5" and row["n_amplifying"] == 3
    row = one.loc[(-1, frob)]
    assert row["paper_pattern"] and row["early_amplify"] and row["late_absorb"]
    assert row["spearman_depth"] == pytest.approx(-1.0) and row["material"]
    want = np.corrcoef(paper_shift(np.array(PAPERLIKE), 3.0), paper_shift(np.array(RISING), 3.0))[0, 1]
    assert row["shift_corr"] == pytest.approx(want)
    # 1.2 r everywhere (inside the clip): log r shifted by a constant, the same centred shift, correlation 1
    assert one.loc[(-1, final), "shift_corr"] == pytest.approx(1.0) and not one.loc[(-1, final), "material"]
    pooled = out[(out["seed"] == -1) & (out["reading"] == default)].sort_values("block")
    np.testing.assert_allclose(pooled["r"], RISING)
    np.testing.assert_allclose(pooled["shift"], paper_shift(np.array(RISING), 3.0))


def test_a_missing_default_reading_leaves_the_correlation_undefined():
    tables = [readings("m", 0, {"eta=0.0001": RISING})]
    out = reading_summary(tables, DEFAULT, 3.0, 0.5)
    assert out["shift_corr"].isna().all() and not out["material"].any() and not out["default"].any()


def test_claims_say_under_how_many_readings_they_hold():
    from absorbprune.reporting.claims import PAPER_PPL, PATTERN, SMALL, _robustness

    summary = reading_summary(
        [readings("m", 0, {"": RISING, "aggregation=frobenius": PAPERLIKE, "eta=0.0001": [1.5] * 6})],
        DEFAULT,
        3.0,
        0.5,
    )
    verdict, tested, holding, detail = _robustness("m", PATTERN, summary, pd.DataFrame(), 0.6)
    assert (verdict, tested, holding) == ("some", 3, 1) and "1 of 3 readings" in detail
    verdict, tested, holding, _ = _robustness("m", SMALL, summary, pd.DataFrame(), 0.6)
    assert (verdict, tested, holding) == ("every", 1, 1)  # at the smallest eta every block amplifies
    headline = pd.DataFrame(
        {
            "model": "m",
            "sparsity": 0.6,
            "allocation": ["owl", "owl", "alphapruning", "alphapruning"],
            "correction": ["paper", "paper_frob", "paper", "paper_frob"],
            "ppl_change_pct": [-3.0, 2.0, -1.0, -4.0],
            "significant": [True, False, True, True],
        }
    )
    verdict, tested, holding, detail = _robustness("m", PAPER_PPL, summary, headline, 0.6)
    assert (verdict, tested, holding) == ("some", 2, 1)
    assert "paper: holds" in detail and "paper_frob: fails" in detail
    assert _robustness("m", PAPER_PPL, summary, headline, 0.7)[0] == "untested"
    assert (
        _robustness("m", "relative L2 drift falls monotonically with depth", summary, headline, 0.6)[0]
        == "n/a"
    )
