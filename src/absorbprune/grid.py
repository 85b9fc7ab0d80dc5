"""The benchmark grid: allocation/correction variants and the cells, from the resolved config.

Light (no torch): the Snakefile calls it at parse time. A hyperparameter given as a list sweeps
it: every value becomes its own variant, named ``<allocation>-<hp><value>`` (``owl-lambda0.05``);
a single value keeps the plain name (``owl``). Variant names are path components and wildcards.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import asdict, dataclass
from typing import Any

from .registry import Registry
from .registry.allocators import ALLOCATORS, CORRECTIONS

__all__ = [
    "ALLOCATION_PATTERN",
    "CELL_LOG_PATTERN",
    "CELL_PATTERN",
    "SEED_PATTERN",
    "Candidate",
    "Cell",
    "ExportTarget",
    "VariantCollision",
    "allocation_variants",
    "cells",
    "correction_variants",
    "export_targets",
    "gamma_values",
    "hyperparameters",
    "selection_candidates",
    "structure_tag",
]

# Where a cell lives below a stage directory (results/pruned, results/eval), where its allocation
# lives below results/allocations, and its log's name: the one place these patterns are written.
# A calibration seed's directory (calibration, sweeps, absorption) is SEED_PATTERN below the stage.
CELL_PATTERN = "{model}/{pruner}/{structure}/{allocation}/{correction}/s{sparsity}/seed{seed}"
ALLOCATION_PATTERN = "{model}/{pruner}/{allocation}/{correction}/s{sparsity}/seed{seed}"
CELL_LOG_PATTERN = "{model}/{pruner}_{structure}_{allocation}_{correction}_s{sparsity}_seed{seed}"
SEED_PATTERN = "{model}/seed{seed}"


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


log = logging.getLogger(__name__)


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
        if entry.meta.get("control"):
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
    if entry.meta.get("control"):
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
    seed: str  # calibration seed

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
    seeds = [str(s) for s in config["calibration"]["seeds"]]
    out = []
    for model, pruner, structure in itertools.product(grid["models"], grid["pruners"], grid["structures"]):
        if structure == "unstructured":
            for a, c, s, seed in itertools.product(allocs, corrs, grid["sparsities"], seeds):
                out.append(Cell(model, pruner, "unstructured", a, c, str(float(s)), seed))
        else:
            n, m = (int(x) for x in structure.split(":"))
            for seed in seeds:
                out.append(Cell(model, pruner, structure_tag(structure), "uniform", "none", str(n / m), seed))
    return out


@dataclass(frozen=True)
class Candidate:
    """One candidate of a selection group (docs/methods.md 5.4): the cell variant it runs and its
    tunable hyperparameters. Group: (model, pruner, structure, base allocation, correction,
    sparsity); the ``none`` group tunes the base allocation, a correction's group tunes the base
    and gamma together, gamma 0 being the base's own ``none`` cell."""

    model: str
    pruner: str
    structure: str  # path tag
    allocation: str  # the base allocation's name
    correction: str  # the group's correction name (none: the base alone)
    sparsity: str
    allocation_variant: str
    correction_variant: str
    hyperparameters: tuple[tuple[str, float], ...]  # the tunable values, (name, value), sorted


def _tunable(hp: dict[str, Any], swept: tuple[str, ...]) -> list[tuple[str, float]]:
    return [(k, float(v)) for k, v in hp.items() if k in swept]


def selection_candidates(config: dict[str, Any]) -> list[Candidate]:
    """Every candidate of every selection group of the grid's unstructured cells."""
    allocs, corrs = allocation_variants(config), correction_variants(config)
    out = []
    for cell in cells(config):
        if cell.structure != "unstructured":
            continue
        name, hp = allocs[cell.allocation]
        base_hp = _tunable(hp, ALLOCATORS[name].swept())
        correction, chp = corrs[cell.correction]
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
                    cell.allocation,
                    cell.correction,
                    tuple(sorted(tunable)),
                )
            )
    return sorted(
        set(out), key=lambda c: (c.model, c.pruner, c.allocation, c.correction, c.sparsity, c.hyperparameters)
    )


@dataclass(frozen=True)
class ExportTarget:
    """One model to export (config ``export.models``). ``selected``: the cell is chosen on the
    validation split among ``candidates`` (allocation and correction are then the group's base and
    correction names); ``cell``: the one candidate is the cell named by its variants."""

    kind: str
    cell: Cell  # the export's path; for ``selected`` its allocation/correction are the group's names
    candidates: tuple[Cell, ...]

    def path(self) -> str:
        """The export directory below results/export/models (``{kind}/CELL_PATTERN``)."""
        return f"{self.kind}/{self.cell.path()}"


def export_targets(config: dict[str, Any]) -> list[ExportTarget]:
    """The models ``export.models`` names, each entry a filter over the grid (missing model or
    pruner: every grid one; sparsity: sweeps.main_sparsity, or the grid sparsity nearest it when
    the grid has no cell there; seed: the first calibration seed).

    Raises:
        ValueError: naming the entry's key when it matches no cell of the grid.
    """
    grid, seeds = config["grid"], [str(s) for s in config["calibration"]["seeds"]]
    all_cells = cells(config)
    by_path = {c.path(): c for c in all_cells}
    candidates = selection_candidates(config)
    out: dict[str, ExportTarget] = {}
    for i, entry in enumerate(config["export"]["models"]):
        key = f"export.models[{i}]"
        models = [entry["model"]] if entry.get("model") is not None else grid["models"]
        pruners = [entry["pruner"]] if entry.get("pruner") is not None else grid["pruners"]
        if entry.get("sparsity") is not None:
            sparsity = str(float(entry["sparsity"]))
        else:  # the findings' main sparsity, or the grid sparsity nearest it when no cell is there
            main = float(config["sweeps"]["main_sparsity"])
            sparsity = str(float(min(grid["sparsities"], key=lambda s: (abs(float(s) - main), -float(s)))))
        seed = str(entry["seed"]) if entry.get("seed") is not None else seeds[0]
        structure = structure_tag(entry.get("structure") or "unstructured")
        select = entry.get("select", True)
        names = (entry["allocation"], entry["correction"])
        if not select:  # variant names: their registry names are the part before the first "-"
            names = tuple(n.split("-", 1)[0] for n in names)
        for registry, name, part in zip(
            (ALLOCATORS, CORRECTIONS), names, ("allocation", "correction"), strict=True
        ):
            if name not in registry:
                raise ValueError(
                    f"config key '{key}.{part}': {name!r} is not a registered {registry.axis} "
                    f"(known: {registry.names()})"
                )
        if names[0] not in grid["allocations"] or names[1] not in grid["corrections"]:
            # the shipped entry follows the grid: a grid without owl or paper exports nothing for it
            log.warning(
                "config key '%s': %s/%s is not in this grid (grid.allocations, grid.corrections): "
                "nothing to export for it",
                key,
                *names,
            )
            continue
        for model, pruner in itertools.product(models, pruners):
            where = (model, pruner, structure, entry["allocation"], entry["correction"], sparsity, seed)
            cell = Cell(*where)
            named = asdict(cell)
            if select:
                group = [
                    c
                    for c in candidates
                    if (c.model, c.pruner, c.structure, c.allocation, c.correction, c.sparsity) == where[:6]
                ]
                if not group:
                    raise ValueError(
                        f"config key '{key}': no selection group of the grid is {named}"
                        " (allocation and correction are the base names of grid.allocations and "
                        "grid.corrections; selection runs on unstructured cells)"
                    )
                members = tuple(
                    Cell(model, pruner, structure, c.allocation_variant, c.correction_variant, sparsity, seed)
                    for c in group
                )
                if not all(m.path() in by_path for m in members):
                    raise ValueError(
                        f"config key '{key}': seed {seed} is not one of calibration.seeds {seeds}"
                    )
                target = ExportTarget("selected", cell, members)
            else:
                if cell.path() not in by_path:
                    raise ValueError(
                        f"config key '{key}': no cell of the grid is {named} "
                        "(with select: false, allocation and correction are variant names, as in "
                        "results/pruned/)"
                    )
                target = ExportTarget("cell", cell, (cell,))
            out.setdefault(target.path(), target)
    return list(out.values())
