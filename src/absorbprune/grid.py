"""The benchmark grid: allocation/correction variants and the cells, from the resolved config.

Light (no torch): the Snakefile calls it at parse time. A hyperparameter given as a list sweeps
it: every value becomes its own variant, named ``<allocation>-<hp><value>`` (``owl-lambda0.05``);
a single value keeps the plain name (``owl``). Variant names are path components and wildcards.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from .registry import Registry
from .registry.allocators import ALLOCATORS, CORRECTIONS

__all__ = [
    "ALLOCATION_PATTERN",
    "CELL_LOG_PATTERN",
    "CELL_PATTERN",
    "Cell",
    "allocation_variants",
    "cells",
    "correction_variants",
    "hyperparameters",
    "structure_tag",
]

# Where a cell lives below a stage directory (results/pruned, results/eval), where its allocation
# lives below results/allocations, and its log's name: the one place these patterns are written.
CELL_PATTERN = "{model}/{pruner}/{structure}/{allocation}/{correction}/s{sparsity}"
ALLOCATION_PATTERN = "{model}/{allocation}/{correction}/s{sparsity}"
CELL_LOG_PATTERN = "{model}/{pruner}_{structure}_{allocation}_{correction}_s{sparsity}"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _variants(section: dict[str, Any], registry: Registry, name: str) -> dict[str, dict[str, Any]]:
    """Variant name -> hyperparameters of method ``name``: the product of its swept lists; every
    swept hyperparameter given as a list of two or more values appears in the name."""
    entry = registry[name]
    settings = {**entry.defaults(), **section.get(name, {})}
    names = list(entry.hyper)
    values = [_as_list(settings[hp]) if entry.hyper[hp].sweep else [settings[hp]] for hp in names]
    out = {}
    for combo in itertools.product(*values):
        swept = [f"{hp}{v:g}" for hp, v, vals in zip(names, combo, values, strict=True) if len(vals) > 1]
        out["-".join([name, *swept])] = dict(zip(names, combo, strict=True))
    return out


def allocation_variants(config: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Variant name -> (allocation, hyperparameters) for every grid allocation."""
    out = {}
    for name in config["grid"]["allocations"]:
        for variant, hp in _variants(config["allocation"], ALLOCATORS, name).items():
            out[variant] = (name, hp)
    return out


def correction_variants(config: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Variant name -> (correction, hyperparameters) for every grid correction (``none`` always)."""
    out: dict[str, tuple[str, dict[str, Any]]] = {"none": ("none", {})}
    for name in config["grid"]["corrections"]:
        for variant, hp in _variants(config["allocation"], CORRECTIONS, name).items():
            out[variant] = (name, hp)
    return out


def hyperparameters(config: dict[str, Any], model: str, variant: str) -> tuple[str, dict[str, Any]]:
    """(allocation, resolved hyperparameters) of an allocation variant for one model: AlphaPruning's
    per-model eps table overrides a single eps value."""
    name, hp = ("uniform", {}) if variant == "uniform" else allocation_variants(config)[variant]
    hp = dict(hp)
    if name == "alphapruning" and not isinstance(config["allocation"]["alphapruning"]["eps"], list):
        hp["eps"] = config["allocation"]["alphapruning"]["eps_per_model"].get(model, hp["eps"])
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

    def path(self) -> str:
        """The cell's directory below a stage directory (``CELL_PATTERN``)."""
        return CELL_PATTERN.format(**self.__dict__)

    def allocation_path(self) -> str:
        """The cell's allocation file below results/allocations, without ``.parquet``."""
        return ALLOCATION_PATTERN.format(**self.__dict__)


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
