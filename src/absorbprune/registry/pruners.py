"""Pruning axes: the pruners (``PRUNERS``, settings under ``pruning.<name>``; the objects in
``pruning.py``, docs/methods.md section 4) and the sparsity structures (``STRUCTURES``)."""

from __future__ import annotations

from . import Entry, Hyper, Registry

__all__ = ["PRUNERS", "STRUCTURES"]

PRUNERS = Registry("pruner", section="pruning")
PRUNERS.add(
    Entry(
        "magnitude", "absorbprune.pruning:MAGNITUDE", "smallest |W| of each matrix, one threshold per matrix"
    )
)
PRUNERS.add(Entry("wanda", "absorbprune.pruning:WANDA", "smallest |W| x ||X_j|| per output row (Sun et al.)"))
PRUNERS.add(
    Entry(
        "sparsegpt",
        "absorbprune.pruning:SPARSEGPT",
        "OBS-style pruning with weight reconstruction (Frantar & Alistarh)",
        hyper={
            "blocksize": Hyper(128, "column block size", kind="integer", minimum=1),
            "percdamp": Hyper(0.01, "damping, a share of mean(diag H)", minimum=1e-12),
        },
    )
)

# meta["nm"]: (N, M) of an N:M pattern (N of every M consecutive inputs pruned), None otherwise
STRUCTURES = Registry("structure")
STRUCTURES.add(Entry("unstructured", None, "any weight; every allocation applies", meta={"nm": None}))
STRUCTURES.add(
    Entry("2:4", None, "2 of every 4 consecutive inputs pruned (uniform 0.5)", meta={"nm": (2, 4)})
)
STRUCTURES.add(
    Entry("4:8", None, "4 of every 8 consecutive inputs pruned (uniform 0.5)", meta={"nm": (4, 8)})
)
