"""Each claim of the abstract beside what this run measured (``paper_claims.parquet``), and how
robust that is to the readings of the paper's coefficient (docs/methods.md 5.6)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..registry.allocators import READINGS

__all__ = ["paper_claims"]

_CLAIM_BASES = ("owl", "alphapruning")  # the paper's two bases
PATTERN = "early blocks amplify pruning-scale perturbations, middle and late blocks absorb them"
SMALL = "small perturbations are amplified everywhere"
PAPER_PPL = "the paper's correction lowers perplexity on OWL and AlphaPruning at 70%"
PAPER_ACC = "the paper's correction raises zero-shot accuracy on OWL and AlphaPruning at 70%"
READING_CORRECTIONS = ("paper", *READINGS)  # the paper's correction, one reading of r_l each


def paper_claims(
    findings: pd.DataFrame,
    headline: pd.DataFrame,
    sparsity: float = 0.7,
    readings: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Each claim of the abstract beside what this run measured, per model (``tables.PAPER_CLAIMS``).

    ``holds`` is 1.0 or 0.0, NaN when this run cannot test the claim (e.g. no OWL or AlphaPruning
    cell at the claim's sparsity). The correction claims are tested on the paper's correction
    (``paper``) and, separately, on ours (``absorption``). ``robustness`` says whether a claim that
    depends on how the paper's coefficient is read holds under every reading, some or none: the
    coefficient claims over ``readings`` (``tables.absorption.COEFFICIENT_READINGS``, pooled over
    seeds), the paper correction's over the reading corrections the grid ran.
    """
    rows = []
    for _, f in findings.iterrows():
        model = f["model"]

        def add(
            claim: str, paper: str, measured: float, holds: float, detail: str, model: str = model
        ) -> None:
            rows.append(
                {
                    "model": model,
                    "claim": claim,
                    "paper": paper,
                    "measured": measured,
                    "holds": holds,
                    "detail": detail,
                }
            )

        add(
            PATTERN,
            "early blocks amplify, middle/late absorb",
            float(f["share_absorbing"]),
            float(bool(f["absorbing_are_later"])),
            f"share of blocks with A_k > 0 at s={f['sparsity']:g}: {f['share_absorbing']:.2f}; "
            "first absorbing "
            f"block {f['first_absorbing_block']}; mean depth absorbing {f['absorbing_mean_depth']:.1f} vs "
            f"amplifying {f['amplifying_mean_depth']:.1f} ({f['n_seeds']} calibration seeds pooled)",
        )
        add(
            "relative L2 drift falls monotonically with depth",
            "monotone decrease after the peak",
            float(f["drift_monotone_share"]),
            _holds(f["drift_monotone_share"], lambda v: v >= 0.5),
            "share of injection blocks whose drift never rises after its peak: "
            f"{f['drift_monotone_share']:.2f} "
            f"(holds at >= 0.5); mean Spearman(drift, depth) after the peak {f['drift_depth_spearman']:.2f}",
        )
        add(
            "the perturbation's direction realigns with the clean trajectory",
            "cosine rises with depth",
            float(f["cos_depth_spearman"]),
            _holds(f["cos_depth_spearman"], lambda v: v > 0),
            f"mean Spearman(cos, depth) after the drift's peak: {f['cos_depth_spearman']:.2f} "
            "(holds when > 0)",
        )
        add(
            "blocks respond heterogeneously: some amplify locally, others absorb",
            "heterogeneous local responses",
            float(f["n_amplifying_local"]),
            float(0 < f["n_amplifying_local"] < f["n_blocks"]),
            f"blocks with mean local gain g_j > 1: [{f['amplifying_blocks_local']}] of {f['n_blocks']}; "
            f"largest g_j {f['max_local_gain']:.3f} at block {f['max_local_gain_block']}",
        )
        add(
            SMALL,
            "amplified at every block",
            float(bool(f["small_eps_all_amplify"])),
            float(bool(f["small_eps_all_amplify"])),
            f"gaussian eps = {f['small_eps']:g}: d_final / d_k > 1 at every block: "
            f"{bool(f['small_eps_all_amplify'])}",
        )
        add(
            "a smooth transition to absorption as the magnitude grows",
            "amplify -> absorb with growing magnitude",
            float(f["share_blocks_with_transition"]),
            _holds(f["share_blocks_with_transition"], lambda v: v >= 0.5),
            "share of blocks whose gaussian ratio turns amplify -> absorb: "
            f"{f['share_blocks_with_transition']:.2f}; "
            f"median eps* {f['median_eps_star']:g}",
        )
        here = (
            headline[(headline["model"] == model) & np.isclose(headline["sparsity"], sparsity)]
            if len(headline)
            else headline
        )
        for correction, who in (("paper", "the paper's correction"), ("absorption", "our correction")):
            rows_c = (
                here[(here["correction"] == correction) & here["allocation"].isin(_CLAIM_BASES)]
                if len(here)
                else here
            )
            for column, claim, paper, better in (
                (
                    "ppl_change_pct",
                    "lowers perplexity on OWL and AlphaPruning at 70%",
                    "-7.13% (mean)",
                    "significant",
                ),
                (
                    "zeroshot_change",
                    "raises zero-shot accuracy on OWL and AlphaPruning at 70%",
                    "+1.02 points (mean)",
                    "zeroshot_significant",
                ),
            ):
                text = f"{who} {claim}"
                if rows_c is None or not len(rows_c):
                    add(
                        text,
                        paper,
                        math.nan,
                        math.nan,
                        f"not run: no {correction} cell on OWL or AlphaPruning at {sparsity:g}",
                    )
                    continue
                measured = float(rows_c[column].mean())
                ok = (rows_c[column] < 0) if column == "ppl_change_pct" else (rows_c[column] > 0)
                holds = float(bool((ok & rows_c[better]).all()))
                ci = "ppl_change_pct_ci" if column == "ppl_change_pct" else "zeroshot_change_ci"
                detail = "; ".join(
                    f"{r['pruner']} {r['allocation']}: {r[column]:+.2f} [{r[ci + '_low']:+.2f}, "
                    f"{r[ci + '_high']:+.2f}] ({'significant' if r[better] else 'not significant'}, "
                    f"{r['n_seeds']} seeds, {r['selected_hp']})"
                    for _, r in rows_c.iterrows()
                )
                add(
                    text,
                    paper,
                    measured,
                    holds,
                    f"measured at S = {sparsity:g} (sweeps.main_sparsity; the paper's claim is at 0.7): "
                    + detail
                    + " (holds: every base improves significantly: its bootstrap and t intervals exclude 0)",
                )
            if len(rows_c):
                controls = rows_c["beats_controls"]
                testable = controls[controls != ""]
                add(
                    f"{who} beats the depth, shuffled and flipped controls (ours, not the paper's)",
                    "not reported",
                    float((testable == "true").mean()) if len(testable) else math.nan,
                    float((testable == "true").all()) if len(testable) else math.nan,
                    "; ".join(
                        f"{r['allocation']}: {r['vs_controls'] or 'no controls run'}"
                        for _, r in rows_c.iterrows()
                    ),
                )
    table = pd.DataFrame(rows, columns=["model", "claim", "paper", "measured", "holds", "detail"])
    robust = [_robustness(r["model"], r["claim"], readings, headline, sparsity) for _, r in table.iterrows()]
    columns = ["robustness", "readings_tested", "readings_holding", "readings_detail"]
    return pd.concat([table, pd.DataFrame(robust, columns=columns, index=table.index)], axis=1)


def _verdict(tested: int, holding: int) -> str:
    return "untested" if not tested else "every" if holding == tested else "some" if holding else "none"


def _robustness(
    model: str, claim: str, readings: pd.DataFrame | None, headline: pd.DataFrame, sparsity: float
) -> tuple[str, int, int, str]:
    """(every | some | none | untested | n/a, readings tested, readings holding, the numbers)."""
    if claim in (PATTERN, SMALL):
        if readings is None or not len(readings):
            return "untested", 0, 0, "no coefficient readings"
        part = readings[(readings["model"] == model) & (readings["seed"] == -1)]
        one = part.drop_duplicates("reading")
        if claim == PATTERN:
            ok = one["paper_pattern"].astype(bool)
            rho = one["spearman_depth"]
            detail = (
                f"the paper's pattern (most of the first third of the blocks have r_l > 1, most others "
                f"r_l < 1) under {int(ok.sum())} of {len(one)} readings of r_l; Spearman(r_l, depth) "
                f"{rho.min():+.2f} to {rho.max():+.2f} (the paper: < 0); "
                f"{int(one['material'].sum())} readings material (their shift correlates below the threshold)"
            )
            return _verdict(len(one), int(ok.sum())), len(one), int(ok.sum()), detail
        smallest = part.groupby("perturbation")["eta"].transform("min")
        small = part[np.isclose(part["eta"], smallest)]
        every = small.groupby("reading")["r"].min() > 1
        detail = (
            f"r_l > 1 at every block under {int(every.sum())} of {len(every)} readings at the smallest "
            f"swept eta ({', '.join(f'{e:g}' for e in sorted(small['eta'].unique()))})"
        )
        return _verdict(len(every), int(every.sum())), len(every), int(every.sum()), detail
    if claim in (PAPER_PPL, PAPER_ACC):
        column, better = (
            ("ppl_change_pct", "significant")
            if claim == PAPER_PPL
            else ("zeroshot_change", "zeroshot_significant")
        )
        here = (
            headline[
                (headline["model"] == model)
                & np.isclose(headline["sparsity"], sparsity)
                & headline["allocation"].isin(_CLAIM_BASES)
                & headline["correction"].isin(READING_CORRECTIONS)
            ]
            if len(headline)
            else headline
        )
        if not len(here):
            return "untested", 0, 0, "no reading correction on OWL or AlphaPruning at this sparsity"
        parts = []
        holding = 0
        for correction, rows_c in here.groupby("correction", sort=True):
            ok = (rows_c[column] < 0) if column == "ppl_change_pct" else (rows_c[column] > 0)
            holds = bool((ok & rows_c[better]).all())
            holding += holds
            parts.append(
                f"{correction}: {'holds' if holds else 'fails'} ("
                + ", ".join(f"{r['allocation']} {r[column]:+.2f}" for _, r in rows_c.iterrows())
                + ")"
            )
        tested = here["correction"].nunique()
        return _verdict(tested, holding), tested, holding, "; ".join(parts)
    return "n/a", 0, 0, "does not depend on how the paper's coefficient is read"


def _holds(value: float, test: Any) -> float:
    return math.nan if value != value else float(bool(test(value)))
