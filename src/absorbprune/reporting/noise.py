"""The noise floor beside the comparisons it could explain (rule aggregate).

Rule noise_floor prunes one representative cell per (model, pruner, sparsity) again under
float-level perturbations of the sequential pass (``evaluation.noise``). Its floor, the largest
relative move of the test perplexity, is what rounding alone can do to one cell: a correction's
change smaller than that could be a rounding accident of the cells compared (docs/sequential.md).
"""

from __future__ import annotations

import pandas as pd

from ..plan.cell import KEYS

__all__ = ["noise_floors", "with_noise"]

MATCH = ["model", "pruner", "structure", "sparsity"]


def noise_floors(runs: pd.DataFrame | None) -> pd.DataFrame:
    """One row per representative cell (columns of ``tables.summary.NOISE_FLOOR``) from the
    noise_floor jobs' tables concatenated (None: none ran); a cell without perturbed rows (it
    failed, or nothing was perturbed) gives none."""
    columns = [*KEYS, "n_perturbations", "noise_floor_pct", "max_mask_frac_differ"]
    if runs is None or runs.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for key, cell in runs.groupby(list(KEYS), sort=True):
        perturbed = cell[cell["perturbation"] != "none"]
        if perturbed.empty:
            continue
        rows.append(
            {
                **dict(zip(KEYS, key, strict=True)),
                "n_perturbations": len(perturbed),
                "noise_floor_pct": 100.0 * float(perturbed["rel_deviation"].abs().max()),
                "max_mask_frac_differ": float(perturbed["mask_frac_differ"].max()),
            }
        )
    return pd.DataFrame(rows, columns=columns)


def with_noise(headline: pd.DataFrame, floors: pd.DataFrame) -> pd.DataFrame:
    """The headline with ``noise_floor_pct`` (null where no floor was measured for its model,
    pruner, structure and sparsity) and ``within_noise``: the perplexity change is no larger than
    the floor (false where there is none)."""
    if headline.empty:
        return headline.assign(noise_floor_pct=pd.Series(dtype=float), within_noise=pd.Series(dtype=bool))
    floor = floors.groupby(MATCH)["noise_floor_pct"].max() if len(floors) else pd.Series(dtype=float)
    keys = list(zip(*(headline[k] for k in MATCH), strict=True))
    out = headline.copy()
    out["noise_floor_pct"] = [float(floor.get(k, float("nan"))) for k in keys]
    out["within_noise"] = out["ppl_change_pct"].abs() <= out["noise_floor_pct"]  # NaN floor: False
    return out
