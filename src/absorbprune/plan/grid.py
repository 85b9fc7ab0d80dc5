"""The benchmark grid: allocation/correction variants, the cells and the selection candidates,
from the resolved config.

Light (no torch): the Snakefile calls it at parse time. A hyperparameter given as a list sweeps
it: every value becomes its own variant, named ``<allocation>-<hp><value>`` (``owl-lambda0.05``);
a single value keeps the plain name (``owl``). Variant names are path components and wildcards.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from ..registry.allocators import ALLOCATORS, CORRECTIONS
from ..registry.base import Registry
from .cell import GROUP_PATTERN, Cell, sparsity_tag, structure_tag

__all__ = [
    "Candidate",
    "VariantCollision",
    "allocation_variants",
    "cells",
    "correction_variants",
    "gamma_values",
    "group_path",
    "hyperparameters",
    "noise_cells",
    "owl_thresholds",
    "selection_candidates",
]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _variants(section: dict[str, Any], registry: Registry, name: str) -> dict[str, dict[str, Any]]:
    """Variant name -> hyperparameters of method ``name``: the product of its swept lists; every
    swept hyperparameter given as a list of two or more values appears in the name."""
    entry = registry[name]
    settings = {**entry.defaults(), **section.get(name, {})}
    names = list(entry.hyper)
    values = [_as_list(settings[hp]) if entry.hyper[hp].sweep else [settings[hp]] for hp in names]
    out: dict[str, dict[str, Any]] = {}
    for combo in itertools.product(*values):
        swept = [f"{hp}{v:g}" for hp, v, vals in zip(names, combo, values, strict=True) if len(vals) > 1]
        variant = "-".join([name, *swept])
        hp = dict(zip(names, combo, strict=True))
        if variant in out:
            (key, a, b), *_ = [(k, out[variant][k], hp[k]) for k in names if out[variant][k] != hp[k]]
            raise VariantCollision(
                f"config key '{registry.section}.{name}.{key}': the values {a!r} and {b!r} give the same "
                f"variant name {variant!r} (names keep 6 significant digits); "
                "make them differ within 6 digits"
            )
        out[variant] = hp
    return out


class VariantCollision(ValueError):
    """Two swept values that would share a variant name (a path component)."""


def allocation_variants(config: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Variant name -> (allocation, hyperparameters) for every grid allocation."""
    out = {}
    for name in config["grid"]["allocations"]:
        for variant, hp in _variants(config["allocation"], ALLOCATORS, name).items():
            out[variant] = (name, hp)
    return out


def _is_base(hp: dict[str, Any]) -> bool:
    """A shift correction at gamma 0 is the base allocation itself: no cell of its own."""
    return "gamma" in hp and hp["gamma"] == 0


def correction_variants(config: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Variant name -> (correction, hyperparameters) for every grid correction (``none`` always).

    A control takes its correction's variants (``of``: its hyperparameters and gamma list) and adds
    its own (``of``, ``seed``): ``depth-gamma0.1`` is the depth control of ``paper-gamma0.1``.
    Variants at gamma 0 are left out: they are the base allocation, the ``none`` cell.
    """
    out: dict[str, tuple[str, dict[str, Any]]] = {"none": ("none", {})}
    section = config["allocation"]
    for name in config["grid"]["corrections"]:
        entry = CORRECTIONS[name]
        if entry.meta.control:
            own = {**entry.defaults(), **section.get(name, {})}
            for variant, hp in _variants(section, CORRECTIONS, own["of"]).items():
                if not _is_base(hp):
                    out[name + variant[len(own["of"]) :]] = (name, {**hp, **own})
        else:
            for variant, hp in _variants(section, CORRECTIONS, name).items():
                if not _is_base(hp):
                    out[variant] = (name, hp)
    return out


def gamma_values(config: dict[str, Any], correction: str) -> list[float]:
    """The gamma candidates of a correction (a control: those of its ``of``); [] without gamma."""
    entry = CORRECTIONS[correction]
    section = config["allocation"]
    if entry.meta.control:
        entry = CORRECTIONS[{**entry.defaults(), **section.get(correction, {})}["of"]]
    if "gamma" not in entry.hyper:
        return []
    return [float(g) for g in _as_list({**entry.defaults(), **section.get(entry.name, {})}["gamma"])]


def hyperparameters(
    config: dict[str, Any], model: str, pruner: str, variant: str
) -> tuple[str, dict[str, Any]]:
    """(allocation, resolved hyperparameters) of an allocation variant for one model and pruner:
    AlphaPruning's per-model table (a value, or pruner -> value) overrides a single eps value."""
    name, hp = ("uniform", {}) if variant == "uniform" else allocation_variants(config)[variant]
    hp = dict(hp)
    if name == "alphapruning" and not isinstance(config["allocation"]["alphapruning"]["eps"], list):
        per_model = config["allocation"]["alphapruning"]["eps_per_model"].get(model, hp["eps"])
        hp["eps"] = per_model.get(pruner, hp["eps"]) if isinstance(per_model, dict) else per_model
    return name, hp


def cells(config: dict[str, Any]) -> list[Cell]:
    """Every pruned cell of the grid (dense references are separate). Unstructured cells cross
    every allocation and correction variant with every sparsity; an N:M cell uses ``uniform`` at
    sparsity N/M without correction (a layer-wise allocation cannot change an N:M pattern)."""
    grid = config["grid"]
    allocs, corrs = allocation_variants(config), correction_variants(config)
    seeds = [int(s) for s in config["calibration"]["seeds"]]
    out = []
    for model, pruner, structure in itertools.product(grid["models"], grid["pruners"], grid["structures"]):
        if structure == "unstructured":
            for a, c, s, seed in itertools.product(allocs, corrs, grid["sparsities"], seeds):
                out.append(Cell(model, pruner, structure, a, c, float(s), seed))
        else:
            n, m = (int(x) for x in structure.split(":"))
            out += [Cell(model, pruner, structure, "uniform", "none", n / m, seed) for seed in seeds]
    return out


def noise_cells(config: dict[str, Any]) -> list[Cell]:
    """The cells whose noise floor is measured (``evaluation.noise_floor``; none when it lists no
    perturbation): per model, pruner and sparsity, the first allocation of the grid at its first
    variant, uncorrected, at the first calibration seed (unstructured)."""
    if not config["evaluation"]["noise_floor"]["perturbations"]:
        return []
    first = config["grid"]["allocations"][0]
    variant = next(v for v, (name, _) in allocation_variants(config).items() if name == first)
    grid, seed = config["grid"], int(config["calibration"]["seeds"][0])
    if "unstructured" not in grid["structures"]:
        return []
    return [
        Cell(model, pruner, "unstructured", variant, "none", float(s), seed)
        for model, pruner, s in itertools.product(grid["models"], grid["pruners"], grid["sparsities"])
    ]


@dataclass(frozen=True)
class Candidate:
    """One candidate of a selection group (docs/methods.md 5.4): the cell variant it runs and its
    tunable hyperparameters. Group: (model, pruner, structure, base allocation, correction,
    sparsity); the ``none`` group tunes the base allocation, a correction's group tunes the base
    and gamma together, gamma 0 being the base's own ``none`` cell."""

    model: str
    pruner: str
    structure: str
    allocation: str  # the base allocation's name
    correction: str  # the group's correction name (none: the base alone)
    sparsity: float
    allocation_variant: str
    correction_variant: str
    hyperparameters: tuple[tuple[str, float], ...]  # the tunable values, (name, value), sorted

    def cell(self, seed: int) -> Cell:
        """The cell this candidate runs at a calibration seed."""
        return Cell(
            self.model,
            self.pruner,
            self.structure,
            self.allocation_variant,
            self.correction_variant,
            self.sparsity,
            seed,
        )

    def group(self) -> tuple[str, str, str, str, str, float]:
        """(model, pruner, structure, allocation, correction, sparsity)."""
        return (self.model, self.pruner, self.structure, self.allocation, self.correction, self.sparsity)

    def group_path(self) -> str:
        """The selection group's directory below results/selection (``GROUP_PATTERN``)."""
        return group_path(*self.group())


def group_path(
    model: str, pruner: str, structure: str, allocation: str, correction: str, sparsity: float
) -> str:
    """A selection group's directory (``plan.cell.GROUP_PATTERN``)."""
    return GROUP_PATTERN.format(
        model=model,
        pruner=pruner,
        structure=structure_tag(structure),
        allocation=allocation,
        correction=correction,
        sparsity=sparsity_tag(sparsity),
    )


def _tunable(hp: dict[str, Any], swept: tuple[str, ...]) -> list[tuple[str, float]]:
    return [(k, float(v)) for k, v in hp.items() if k in swept]


def selection_candidates(config: dict[str, Any]) -> list[Candidate]:
    """Every candidate of every selection group of the grid's unstructured cells."""
    allocs, corrs = allocation_variants(config), correction_variants(config)
    out = []
    for cell in cells(config):
        if cell.structure != "unstructured":
            continue
        name, hp = allocs[cell.allocation_variant]
        base_hp = _tunable(hp, ALLOCATORS[name].swept())
        correction, chp = corrs[cell.correction_variant]
        groups: list[tuple[str, list[tuple[str, float]]]] = []
        if correction == "none":
            groups.append(("none", base_hp))
            for other in config["grid"]["corrections"]:  # the base is gamma 0 of every tuned correction
                if 0.0 in gamma_values(config, other):
                    groups.append((other, [*base_hp, ("gamma", 0.0)]))
        else:
            groups.append((correction, [*base_hp, *_tunable(chp, ("gamma",))]))
        for group, tunable in groups:
            out.append(
                Candidate(
                    cell.model,
                    cell.pruner,
                    cell.structure,
                    name,
                    group,
                    cell.sparsity,
                    cell.allocation_variant,
                    cell.correction_variant,
                    tuple(sorted(tunable)),
                )
            )
    return sorted(
        set(out), key=lambda c: (c.model, c.pruner, c.allocation, c.correction, c.sparsity, c.hyperparameters)
    )


def owl_thresholds(config: dict[str, Any]) -> list[float]:
    """The OWL thresholds M the calibration computes: ``calibration.owl_M`` plus the M of the OWL
    allocation (a single value), so an allocation never asks for a statistic nobody computed."""
    return sorted({*config["calibration"]["owl_M"], config["allocation"]["owl"]["M"]})
