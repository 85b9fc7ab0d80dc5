"""Pruning axes: the pruners (``PRUNERS``, settings under ``pruning.<name>``; the ``Pruner`` objects
in ``pruning.sequential``, docs/methods.md section 4) and the sparsity structures (``STRUCTURES``)."""

from __future__ import annotations

from dataclasses import dataclass

from .base import Entry, Hyper, Registry

__all__ = ["PRUNERS", "STRUCTURES", "StructureMeta"]

PRUNERS: Registry[None] = Registry("pruner", section="pruning")
PRUNERS.add(
    Entry(
        "magnitude",
        "absorbprune.pruning.sequential:MAGNITUDE",
        "smallest |W| of each matrix, one threshold per matrix",
    )
)
PRUNERS.add(
    Entry(
        "wanda",
        "absorbprune.pruning.sequential:WANDA",
        "smallest |W| x ||X_j|| per output row (Sun et al.)",
    )
)
PRUNERS.add(
    Entry(
        "sparsegpt",
        "absorbprune.pruning.sequential:SPARSEGPT",
        "OBS-style pruning with weight reconstruction (Frantar & Alistarh)",
        hyper={
            "blocksize": Hyper(128, "column block size", kind="integer", minimum=1, maximum=65536),
            "percdamp": Hyper(0.01, "damping, a share of mean(diag H)", minimum=1e-12, maximum=1.0),
        },
    )
)


@dataclass(frozen=True)
class StructureMeta:
    nm: tuple[int, int] | None  # (N, M): N of every M consecutive inputs pruned; None: unstructured


# Names hold ":" (N:M), so paths use a tag ("2-4", plan.cell.structure_tag).
STRUCTURES: Registry[StructureMeta] = Registry(
    "structure", meta=StructureMeta, pattern=r"^(unstructured|[1-9][0-9]*:[1-9][0-9]*)$"
)
STRUCTURES.add(Entry("unstructured", None, "any weight; every allocation applies", meta=StructureMeta(None)))
STRUCTURES.add(
    Entry("2:4", None, "2 of every 4 consecutive inputs pruned (uniform 0.5)", meta=StructureMeta((2, 4)))
)
STRUCTURES.add(
    Entry("4:8", None, "4 of every 8 consecutive inputs pruned (uniform 0.5)", meta=StructureMeta((4, 8)))
)
