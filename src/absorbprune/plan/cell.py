"""The one cell vocabulary: what a grid cell is, its key columns, its paths, its label.

A cell is one pruned model: (model, pruner, structure, allocation variant, correction variant,
target sparsity, calibration seed). ``allocation`` and ``correction`` always mean the registered
method's name (``owl``, ``paper``); the variants carry the swept hyperparameters
(``owl-lambda0.05``, ``paper-gamma0.05``) and name the paths. Registered names never contain
``-`` (``registry.base.NAME_PATTERN``), so a variant's method is the part before its first ``-``.

Light (no torch, no pandas): the Snakefile builds every cell at parse time. This is the one place
the path patterns and the tags that put a structure and a sparsity into a path are written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ALLOCATION_PATTERN",
    "CELL_LOG_PATTERN",
    "CELL_PATTERN",
    "DENSE",
    "GROUP_PATTERN",
    "KEYS",
    "SEED_PATTERN",
    "Cell",
    "method_of",
    "nm_of",
    "sparsity_tag",
    "structure_name",
    "structure_tag",
]

# Where a cell lives below a stage directory (results/pruned, results/eval), where its allocation
# lives below results/allocations, and its log's name. A calibration seed's directory (calibration,
# sweeps, absorption) is SEED_PATTERN below the stage. Wildcard values are the cell's tags.
CELL_PATTERN = "{model}/{pruner}/{structure}/{allocation_variant}/{correction_variant}/s{sparsity}/seed{seed}"
ALLOCATION_PATTERN = "{model}/{pruner}/{allocation_variant}/{correction_variant}/s{sparsity}/seed{seed}"
CELL_LOG_PATTERN = (
    "{model}/{pruner}_{structure}_{allocation_variant}_{correction_variant}_s{sparsity}_seed{seed}"
)
SEED_PATTERN = "{model}/seed{seed}"
# A selection group (docs/methods.md 5.4): the cells that compete for one choice on validation,
# named by the base allocation's and the correction's registered names.
GROUP_PATTERN = "{model}/{pruner}/{structure}/{allocation}/{correction}/s{sparsity}"

# The key columns of every per-cell and summary table, in order (the variants after the names).
KEYS = (
    "model",
    "pruner",  # dense | a registered pruner
    "structure",  # unstructured | N:M
    "allocation",  # the registered allocation (dense for the reference)
    "correction",  # the registered correction or control (none for the bare base)
    "sparsity",  # target S (0 for dense)
    "seed",  # calibration seed (-1 for dense: no calibration set)
    "allocation_variant",  # the allocation with its swept hyperparameters, e.g. owl-lambda0.05
    "correction_variant",  # e.g. paper-gamma0.05
)

DENSE = "dense"  # the reference's pruner and allocation


def sparsity_tag(sparsity: float | str) -> str:
    """How a sparsity appears in paths and wildcards: ``0.7`` -> ``'0.7'`` (``str(float)``)."""
    return str(float(sparsity))


def structure_tag(structure: str) -> str:
    """How a structure appears in paths: ``unstructured``; ``2:4`` -> ``2-4``."""
    return structure.replace(":", "-")


def structure_name(tag: str) -> str:
    """The structure a path tag names: ``2-4`` -> ``2:4``."""
    return tag.replace("-", ":")


def nm_of(structure: str) -> tuple[int, int] | None:
    """``unstructured`` -> None; ``2:4`` -> (2, 4) (the structure registry's names parse so: a test
    checks every entry's ``StructureMeta.nm``).

    Raises:
        ValueError: neither ``unstructured`` nor ``N:M`` with 0 < N < M.
    """
    if structure == "unstructured":
        return None
    try:
        n, m = (int(x) for x in structure.split(":"))
    except ValueError:
        raise ValueError(f"structure {structure!r} is neither 'unstructured' nor 'N:M'") from None
    if not 0 < n < m:
        raise ValueError(f"N:M structure needs 0 < N < M, got {structure!r}")
    return n, m


def method_of(variant: str) -> str:
    """The registered method of a variant: ``paper-gamma0.05`` -> ``paper``; ``owl`` -> ``owl``."""
    return variant.split("-", 1)[0]


@dataclass(frozen=True)
class Cell:
    """One cell of the grid, or a model's dense reference (:meth:`dense`).

    Attributes:
        structure: the registered structure (``unstructured``, ``2:4``), not its path tag.
        allocation_variant / correction_variant: the variants; :attr:`allocation` and
            :attr:`correction` are their registered methods.
    """

    model: str
    pruner: str
    structure: str
    allocation_variant: str
    correction_variant: str
    sparsity: float
    seed: int

    @classmethod
    def dense(cls, model: str) -> Cell:
        """A model's unpruned reference (no calibration set: seed -1)."""
        return cls(model, DENSE, "unstructured", DENSE, "none", 0.0, -1)

    @classmethod
    def from_wildcards(cls, wildcards: Mapping[str, str] | Any) -> Cell:
        """The cell a rule's wildcards name (a mapping, or Snakemake's ``wildcards``, whose ``in``
        tests values); only ``model``: the dense reference."""
        wildcards = dict(wildcards.items())
        if "pruner" not in wildcards:
            return cls.dense(wildcards["model"])
        return cls(
            wildcards["model"],
            wildcards["pruner"],
            structure_name(wildcards["structure"]),
            wildcards["allocation_variant"],
            wildcards["correction_variant"],
            float(wildcards["sparsity"]),
            int(wildcards["seed"]),
        )

    @property
    def allocation(self) -> str:
        return method_of(self.allocation_variant)

    @property
    def correction(self) -> str:
        return method_of(self.correction_variant)

    @property
    def is_dense(self) -> bool:
        return self.pruner == DENSE

    @property
    def nm(self) -> tuple[int, int] | None:
        return nm_of(self.structure)

    def tags(self) -> dict[str, str]:
        """The wildcard values of the cell's paths."""
        return {
            "model": self.model,
            "pruner": self.pruner,
            "structure": structure_tag(self.structure),
            "allocation_variant": self.allocation_variant,
            "correction_variant": self.correction_variant,
            "sparsity": sparsity_tag(self.sparsity),
            "seed": str(self.seed),
        }

    def path(self) -> str:
        """The cell's directory below a stage directory (``CELL_PATTERN``; the dense reference:
        ``{model}/dense``)."""
        return f"{self.model}/{DENSE}" if self.is_dense else CELL_PATTERN.format(**self.tags())

    def allocation_path(self) -> str:
        """The cell's allocation file below results/allocations, without ``.parquet``."""
        return ALLOCATION_PATTERN.format(**self.tags())

    def keys(self) -> dict[str, Any]:
        """The key columns (``KEYS``) of the cell's rows in every table."""
        return {
            "model": self.model,
            "pruner": self.pruner,
            "structure": self.structure,
            "allocation": self.allocation,
            "correction": self.correction,
            "sparsity": float(self.sparsity),
            "seed": int(self.seed),
            "allocation_variant": self.allocation_variant,
            "correction_variant": self.correction_variant,
        }

    def label(self) -> str:
        """One line naming the cell (messages, logs): ``smollm2/wanda/owl/paper-gamma0.05/0.7/1``."""
        if self.is_dense:
            return f"{self.model}/{DENSE}"
        parts = [self.model, self.pruner]
        if self.structure != "unstructured":
            parts.append(self.structure)
        parts += [
            self.allocation_variant,
            self.correction_variant,
            sparsity_tag(self.sparsity),
            str(self.seed),
        ]
        return "/".join(parts)
