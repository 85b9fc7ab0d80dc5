"""The multiverse of the paper's coefficient (docs/methods.md 5.6): every reading of
``r_l = E[R_L / R_l]`` the description leaves open, computed from the sweeps already run.

A reading fixes seven choices:

* ``perturbation``: ``gaussian`` (the description) or ``prune_dir`` (the pruning direction of the
  block rescaled to eta: what a pruned block actually injects);
* ``eta``: a magnitude the sweep ran;
* ``first_token``: the first position ``perturbed`` with the rest or left ``clean`` (the attention
  sink: SmolLM2-class models carry a hidden state there many times the median norm);
* ``measure``: drift over ``all`` positions or the ``rest`` (position 0 left out of the measure);
* ``aggregation``: ``token`` (mean over tokens of each token's relative drift, ours) or
  ``frobenius`` (each sequence's relative Frobenius drift, then the mean over sequences; the
  high-norm first token dominates it when measured);
* ``end``: the depth L of R_L, ``last_block`` or ``final_norm``;
* ``expectation``: ``ratio`` (mean of per-direction ratios) or ``means`` (ratio of means).

The default reading is the paper correction's settings (``allocation.paper``). This module names
the readings; ``absorption.coefficients.reading_table`` computes each one's ``r_l`` from one
calibration seed's sweep and ``reporting.readings`` compares them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .kinds import FIRST_TOKEN

__all__ = [
    "CHOICES",
    "DIMENSIONS",
    "READING_COLUMNS",
    "column_of",
    "reading_name",
    "reading_of",
]

DIMENSIONS = ("perturbation", "eta", "first_token", "measure", "aggregation", "end", "expectation")
CHOICES = {
    "perturbation": ("gaussian", "prune_dir"),
    "first_token": FIRST_TOKEN,
    "measure": ("all", "rest"),
    "aggregation": ("token", "frobenius"),
    "end": ("last_block", "final_norm"),
    "expectation": ("ratio", "means"),
}
READING_COLUMNS = ["model", "seed", "reading", *DIMENSIONS, "block", "r", "n_samples"]


def column_of(measure: str, aggregation: str) -> str:
    """The drift column (``tables.absorption.DRIFT``) a reading's measure and aggregation read."""
    return {"token": "rel_l2", "frobenius": "frob"}[aggregation] + ("_rest" if measure == "rest" else "")


def reading_name(reading: Mapping[str, Any]) -> str:
    """A short stable name: ``gaussian/eta0.01/first-perturbed/all/token/last_block/ratio``."""
    return "/".join(
        [
            reading["perturbation"],
            f"eta{float(reading['eta']):g}",
            f"first-{reading['first_token']}",
            reading["measure"],
            reading["aggregation"],
            reading["end"],
            reading["expectation"],
        ]
    )


def reading_of(hp: Mapping[str, Any]) -> dict[str, Any]:
    """The reading a paper-kind correction's hyperparameters name (``depth`` is the reading's ``end``)."""
    return {
        "perturbation": hp.get("perturbation", "gaussian"),
        "eta": float(hp["eta"]),
        "first_token": hp.get("first_token", "perturbed"),
        "measure": hp.get("measure", "all"),
        "aggregation": hp.get("aggregation", "token"),
        "end": hp["depth"],
        "expectation": hp["expectation"],
    }
