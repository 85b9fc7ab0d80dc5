"""The models ``export.models`` names, each entry a filter over the grid (docs/configuration.md
"Exports"; docs/results.md section 7).

Light (no torch): the Snakefile plans the export jobs at parse time and the config check refuses an
entry that matches no cell before any job runs.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import Any

from ..registry.allocators import ALLOCATORS, CORRECTIONS
from .cell import Cell, method_of, sparsity_tag
from .grid import cells, group_path, selection_candidates

__all__ = ["ExportTarget", "export_targets"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportTarget:
    """One model to export (config ``export.models``). ``selected``: the cell is chosen on the
    validation split among ``candidates`` (allocation and correction are then the group's base and
    correction names); ``cell``: the one candidate is the cell named by its variants."""

    kind: str
    cell: Cell  # the export's path; for ``selected`` its variants are the group's method names
    candidates: tuple[Cell, ...]

    def path(self) -> str:
        """The export directory below results/export/models (``{kind}/CELL_PATTERN``)."""
        return f"{self.kind}/{self.cell.path()}"

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> ExportTarget:
        """The target ``dataclasses.asdict`` turned into ``record`` (a rule's params)."""
        return cls(record["kind"], Cell(**record["cell"]), tuple(Cell(**c) for c in record["candidates"]))

    def group_path(self) -> str:
        """The selection group of a ``selected`` export, below results/selection."""
        c = self.cell
        return group_path(
            c.model, c.pruner, c.structure, c.allocation_variant, c.correction_variant, c.sparsity
        )


def export_targets(config: dict[str, Any]) -> list[ExportTarget]:
    """The models ``export.models`` names, each entry a filter over the grid (missing model or
    pruner: every grid one; sparsity: sweeps.main_sparsity, or the grid sparsity nearest it when
    the grid has no cell there; seed: the first calibration seed).

    Raises:
        ValueError: naming the entry's key when it matches no cell of the grid.
    """
    grid, seeds = config["grid"], [int(s) for s in config["calibration"]["seeds"]]
    by_path = {c.path(): c for c in cells(config)}
    candidates = selection_candidates(config)
    out: dict[str, ExportTarget] = {}
    for i, entry in enumerate(config["export"]["models"]):
        key = f"export.models[{i}]"
        models = [entry["model"]] if entry.get("model") is not None else grid["models"]
        pruners = [entry["pruner"]] if entry.get("pruner") is not None else grid["pruners"]
        if entry.get("sparsity") is not None:
            sparsity = float(entry["sparsity"])
        else:  # the findings' main sparsity, or the grid sparsity nearest it when no cell is there
            main = float(config["sweeps"]["main_sparsity"])
            sparsity = float(min(grid["sparsities"], key=lambda s: (abs(float(s) - main), -float(s))))
        seed = int(entry["seed"]) if entry.get("seed") is not None else seeds[0]
        structure = entry.get("structure") or "unstructured"
        select = entry.get("select", True)
        names = (entry["allocation"], entry["correction"])
        if not select:  # variant names: their methods are the part before the first "-"
            names = tuple(method_of(n) for n in names)
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
            named = {**cell.keys(), "sparsity": sparsity_tag(sparsity)}
            if select:
                group = [c for c in candidates if c.group() == where[:6]]
                if not group:
                    raise ValueError(
                        f"config key '{key}': no selection group of the grid is {named}"
                        " (allocation and correction are the base names of grid.allocations and "
                        "grid.corrections; selection runs on unstructured cells)"
                    )
                members = tuple(c.cell(seed) for c in group)
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
