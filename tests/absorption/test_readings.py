"""Every reading of the paper's coefficient from one sweep (docs/methods.md 5.6)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from absorbprune.absorption.coefficients import paper_coefficient_table, paper_coefficients, reading_table
from absorbprune.absorption.kinds import kind_of
from absorbprune.absorption.readings import column_of, reading_name, reading_of

N_BLOCKS = 3


def sweep(kinds=("gaussian", "gaussian_nofirst", "prune_dir"), etas=(1e-4, 1e-2), rest=True) -> pd.DataFrame:
    """Every measure distinct: value = base x a per-measure factor, growing with depth by a
    per-kind gain, so each reading has its own r_l."""
    factors = {"rel_l2": 1.0, "rel_l2_rest": 2.0, "frob": 3.0, "frob_rest": 5.0}
    gains = {"gaussian": 1.5, "gaussian_nofirst": 0.5, "prune_dir": 1.1}
    rows = []
    for kind in kinds:
        for eta in etas:
            for seed in (0, 1) if kind.startswith("gaussian") else (0,):
                for k in range(N_BLOCKS):
                    for depth in range(k, N_BLOCKS + 1):
                        base = eta * gains[kind] ** (depth - k) * (1 + seed) * (1 + 0.1 * k)
                        row = {
                            "kind": kind,
                            "inject_block": k,
                            "magnitude": eta,
                            "seed": seed,
                            "depth": depth,
                        }
                        for m, f in factors.items():
                            row[m] = base * f ** (depth - k) if (rest or "rest" not in m) else np.nan
                        row["cos"] = 1.0
                        rows.append(row)
    return pd.DataFrame(rows)


def test_names_columns_and_kinds():
    hp = {"eta": 0.01, "depth": "last_block", "expectation": "ratio"}
    assert reading_name(reading_of(hp)) == "gaussian/eta0.01/first-perturbed/all/token/last_block/ratio"
    assert column_of("rest", "frobenius") == "frob_rest" and column_of("all", "token") == "rel_l2"
    assert (
        kind_of("prune_dir", "clean") == "prune_dir_nofirst"
        and kind_of("gaussian", "perturbed") == "gaussian"
    )


def test_every_supported_reading_and_the_default_equals_the_paper_table():
    drift = sweep()
    table = reading_table(drift, "m", 4, N_BLOCKS)
    # 3 kinds x 2 etas x 2 measures x 2 aggregations x 2 ends x 2 expectations
    assert table["reading"].nunique() == 3 * 2 * 16
    assert set(table["perturbation"]) == {"gaussian", "prune_dir"}
    assert (table["seed"] == 4).all() and (table["r"] > 0).all()
    default = table[table["reading"] == "gaussian/eta0.01/first-perturbed/all/token/last_block/ratio"]
    paper = paper_coefficient_table(drift[drift["kind"] == "gaussian"], "m", 4, N_BLOCKS)
    np.testing.assert_array_equal(
        default["r"].to_numpy(), paper[paper["eta"] == 0.01]["r_last_block"].to_numpy()
    )
    # a reading reads its own kind and column: Frobenius without the first token, first token clean
    frob = table[table["reading"] == "gaussian/eta0.01/first-clean/rest/frobenius/final_norm/means"]
    want = paper_coefficients(drift, 0.01, "final_norm", N_BLOCKS, "means", "frob_rest", "gaussian_nofirst")
    np.testing.assert_allclose(frob["r"], want)
    assert frob["r"].iloc[0] == pytest.approx((0.5 * 5.0) ** 3)  # gain x factor per depth, 3 depths to L
    assert (frob["n_samples"] == 2).all()


def test_readings_the_sweep_cannot_support_are_left_out():
    table = reading_table(sweep(kinds=("gaussian",), etas=(1e-2,), rest=False), "m", 0, N_BLOCKS)
    assert set(table["measure"]) == {"all"} and set(table["first_token"]) == {"perturbed"}
    assert table["reading"].nunique() == 8
