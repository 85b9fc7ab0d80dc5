"""The grid tables of docs/results.md, built only from the per-job Parquet files.

``grid``: one row per evaluated cell (dense references included) joining the pruning job's
per-linear zeros, the test and validation perplexity and the mean zero-shot accuracy.
``paper_claims``: each claim of the abstract beside what the run measured. The headline and the
selection are in ``selection``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .tables import CELL_KEYS, ZEROSHOT_SUMMARY, empty

__all__ = ["KEYS", "grid_table", "named", "paper_claims", "read_all"]

KEYS = [name for name, _ in CELL_KEYS]


def _check_unique(frame: pd.DataFrame, keys: list[str], what: str) -> None:
    dup = frame.duplicated(keys, keep=False)
    if dup.any():
        rows = frame.loc[dup, keys].drop_duplicates().to_dict("records")
        raise ValueError(f"{what}: duplicate rows for {rows}")


def grid_table(
    linears: pd.DataFrame,
    ppl: pd.DataFrame,
    zeroshot: pd.DataFrame | None,
    valid: pd.DataFrame | None = None,
    names: Mapping[str, Mapping[str, str]] | None = None,
) -> pd.DataFrame:
    """One row per cell (columns of ``tables.GRID``).

    Args:
        linears: per-linear ``params`` and ``zeros`` of every cell (``tables.PRUNED_LINEARS``).
        ppl: one row per cell (``tables.PPL``), the test split.
        zeroshot: one row per cell and task (``tables.ZEROSHOT``), or None when zero-shot is off.
        valid: the validation split's perplexity rows (``tables.PPL``), or None.
        names: ``allocation`` / ``correction``: variant -> registered name (per-cell files name
            the variants; the summary names the base and keeps the variants in their columns).

    Raises:
        ValueError: a cell with perplexity but no pruning record (or the reverse), or duplicates.
    """
    _check_unique(ppl, KEYS, "ppl")
    sums = linears.groupby(KEYS, sort=False)[["zeros", "params"]].sum().reset_index()
    grid = ppl[[*KEYS, "ppl", "ppl_dataset"]].merge(sums, on=KEYS, how="outer", indicator=True)
    unmatched = grid[grid["_merge"] != "both"]
    if len(unmatched):
        rows = unmatched[[*KEYS, "_merge"]].to_dict("records")
        raise ValueError(f"cells without both a pruning and a perplexity record: {rows}")
    grid["achieved_sparsity"] = grid["zeros"] / grid["params"]
    grid["n_prunable_params"] = grid["params"].astype("int64")
    if zeroshot is not None and len(zeroshot):
        _check_unique(zeroshot, [*KEYS, "task"], "zeroshot")
        zs = zeroshot.assign(var=zeroshot["stderr"] ** 2)
        means = zs.groupby(KEYS, sort=False).agg(
            zeroshot_mean=("value", "mean"), zeroshot_tasks=("value", "count"), var=("var", "sum")
        )
        means["zeroshot_stderr"] = np.sqrt(means.pop("var")) / means["zeroshot_tasks"]
        grid = grid.merge(means.reset_index(), on=KEYS, how="left")
        if grid["zeroshot_mean"].isna().any():
            missing = grid.loc[grid["zeroshot_mean"].isna(), KEYS].to_dict("records")
            raise ValueError(f"cells without zero-shot results: {missing}")
    else:
        grid["zeroshot_mean"] = math.nan
        grid["zeroshot_stderr"] = math.nan
        grid["zeroshot_tasks"] = 0
    grid["zeroshot_tasks"] = grid["zeroshot_tasks"].astype("int64")
    if valid is not None and len(valid):
        _check_unique(valid, KEYS, "valid_ppl")
        grid = grid.merge(valid[[*KEYS, "ppl"]].rename(columns={"ppl": "valid_ppl"}), on=KEYS, how="left")
    else:
        grid["valid_ppl"] = math.nan
    names = names or {}
    grid["allocation_variant"] = grid["allocation"]
    grid["correction_variant"] = grid["correction"]
    grid["variant"] = grid["allocation_variant"] + "/" + grid["correction_variant"]
    for column in ("allocation", "correction"):
        table = dict(names.get(column, {}))
        grid[column] = [table.get(v, v) for v in grid[column]]
    cols = [*KEYS, "allocation_variant", "correction_variant", "variant"]
    cols += ["achieved_sparsity", "n_prunable_params", "ppl", "ppl_dataset"]
    cols += ["zeroshot_mean", "zeroshot_stderr", "zeroshot_tasks", "valid_ppl"]
    return grid[cols].sort_values([*KEYS, "variant"], ignore_index=True)


def read_all(paths: Sequence[str]) -> pd.DataFrame | None:
    """The Parquet files concatenated (None for no files)."""
    return pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True) if paths else None


def named(frame: pd.DataFrame | None, names: Mapping[str, Mapping[str, str]]) -> pd.DataFrame:
    """The per-cell zero-shot rows (variant names) with the registered names, variants in their own
    columns after the keys (``tables.ZEROSHOT_SUMMARY``); no rows when zero-shot is off."""
    if frame is None:
        return empty(ZEROSHOT_SUMMARY)
    out = frame.copy()
    out.insert(len(KEYS), "allocation_variant", out["allocation"])
    out.insert(len(KEYS) + 1, "correction_variant", out["correction"])
    for column in ("allocation", "correction"):
        table = dict(names.get(column, {}))
        out[column] = [table.get(v, v) for v in out[column]]
    return out


_CLAIM_BASES = ("owl", "alphapruning")  # the paper's two bases


def paper_claims(findings: pd.DataFrame, headline: pd.DataFrame, sparsity: float = 0.7) -> pd.DataFrame:
    """Each claim of the abstract beside what this run measured, per model (``tables.PAPER_CLAIMS``).

    ``holds`` is 1.0 or 0.0, NaN when this run cannot test the claim (e.g. no OWL or AlphaPruning
    cell at the claim's sparsity). The correction claims are tested on the paper's correction
    (``paper``) and, separately, on ours (``absorption``).
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
            "early blocks amplify pruning-scale perturbations, middle and late blocks absorb them",
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
            "small perturbations are amplified everywhere",
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
                se = "ppl_change_pct_se" if column == "ppl_change_pct" else "zeroshot_change_se"
                detail = "; ".join(
                    f"{r['pruner']} {r['allocation']}: {r[column]:+.2f} +- {r[se]:.2f} "
                    f"({'significant' if r[better] else 'not significant'}, {r['n_seeds']} seeds, "
                    f"{r['selected_hp']})"
                    for _, r in rows_c.iterrows()
                )
                add(text, paper, measured, holds, detail + " (holds: every base improves significantly)")
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
    return pd.DataFrame(rows, columns=["model", "claim", "paper", "measured", "holds", "detail"])


def _holds(value: float, test: Any) -> float:
    return math.nan if value != value else float(bool(test(value)))
