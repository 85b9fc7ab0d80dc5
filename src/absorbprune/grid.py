"""The benchmark grid: allocation/correction variants and the cells, from the resolved config.

Light (no torch): the Snakefile calls it at parse time. A hyperparameter given as a list sweeps
it: every value becomes its own variant, named ``<allocation>-<hp><value>`` (``owl-lambda0.05``);
a single value keeps the plain name (``owl``). Variant names are path components and wildcards.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CORRECTION_HYPER",
    "HYPER",
    "Cell",
    "allocation_variants",
    "cell_keys",
    "cells",
    "correction_variants",
    "hyperparameters",
    "structure_tag",
]

# allocation -> its hyperparameters under config["allocation"][allocation]
HYPER: dict[str, tuple[str, ...]] = {
    "uniform": (),
    "owl": ("lambda",),
    "alphapruning": ("eps",),
    "atp": ("beta",),
    "dlp": ("alpha",),
}
CORRECTION_HYPER: dict[str, tuple[str, ...]] = {"none": (), "absorption": ("gamma",)}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _variants(section: dict[str, Any], name: str, names: tuple[str, ...]) -> dict[str, dict[str, float]]:
    values = [_as_list(section[name][hp]) for hp in names]
    out = {}
    for combo in itertools.product(*values):
        swept = [f"{hp}{v:g}" for hp, v, vals in zip(names, combo, values, strict=True) if len(vals) > 1]
        out["-".join([name, *swept])] = dict(zip(names, combo, strict=True))
    return out


def allocation_variants(config: dict[str, Any]) -> dict[str, tuple[str, dict[str, float]]]:
    """Variant name -> (allocation, hyperparameters) for every grid allocation."""
    out = {}
    for name in config["grid"]["allocations"]:
        for variant, hp in _variants(config["allocation"], name, HYPER[name]).items():
            out[variant] = (name, hp)
    return out


def correction_variants(config: dict[str, Any]) -> dict[str, tuple[str, dict[str, float]]]:
    """Variant name -> (correction, hyperparameters) for every grid correction (``none`` always)."""
    out: dict[str, tuple[str, dict[str, float]]] = {"none": ("none", {})}
    for name in config["grid"]["corrections"]:
        section = config["allocation"] if name != "none" else {"none": {}}
        for variant, hp in _variants(section, name, CORRECTION_HYPER[name]).items():
            out[variant] = (name, hp)
    return out


def hyperparameters(config: dict[str, Any], model: str, variant: str) -> tuple[str, dict[str, float]]:
    """(allocation, resolved hyperparameters) of an allocation variant for one model: AlphaPruning's
    per-model eps table overrides a single eps value."""
    name, hp = ("uniform", {}) if variant == "uniform" else allocation_variants(config)[variant]
    hp = dict(hp)
    if name == "alphapruning" and not isinstance(config["allocation"]["alphapruning"]["eps"], list):
        hp["eps"] = config["allocation"]["alphapruning"]["eps_per_model"].get(model, hp["eps"])
    if name == "owl":
        hp["M"] = config["allocation"]["owl"]["M"]
    return name, hp


def structure_tag(structure: str) -> str:
    """How a structure appears in paths: ``unstructured``, ``2:4`` -> ``2-4``."""
    return structure.replace(":", "-")


@dataclass(frozen=True)
class Cell:
    model: str
    pruner: str
    structure: str  # path tag: unstructured | 2-4 | 4-8
    allocation: str  # allocation variant
    correction: str  # correction variant
    sparsity: str  # path tag, str(float)


def cells(config: dict[str, Any]) -> list[Cell]:
    """Every pruned cell of the grid (dense references are separate). Unstructured cells cross
    every allocation and correction variant with every sparsity; an N:M cell uses ``uniform`` at
    sparsity N/M without correction (a layer-wise allocation cannot change an N:M pattern)."""
    grid = config["grid"]
    allocs, corrs = allocation_variants(config), correction_variants(config)
    out = []
    for model, pruner, structure in itertools.product(grid["models"], grid["pruners"], grid["structures"]):
        if structure == "unstructured":
            for a, c, s in itertools.product(allocs, corrs, grid["sparsities"]):
                out.append(Cell(model, pruner, "unstructured", a, c, str(float(s))))
        else:
            n, m = (int(x) for x in structure.split(":"))
            out.append(Cell(model, pruner, structure_tag(structure), "uniform", "none", str(n / m)))
    return out


def cell_keys(wildcards: dict[str, str]) -> dict[str, object]:
    """The key columns of a cell from a rule's wildcards; the dense reference has only ``model``."""
    if "pruner" not in wildcards:
        return {
            "model": wildcards["model"],
            "pruner": "dense",
            "structure": "unstructured",
            "allocation": "dense",
            "correction": "none",
            "sparsity": 0.0,
        }
    keys = ("model", "pruner", "structure", "allocation", "correction")
    return {
        **{k: wildcards[k] for k in keys},
        "structure": wildcards["structure"].replace("-", ":"),
        "sparsity": float(wildcards["sparsity"]),
    }
