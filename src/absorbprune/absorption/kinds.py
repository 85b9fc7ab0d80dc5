"""The sweep's perturbation kinds (docs/methods.md 5.1, 5.6): one place for their names, shared by
the sweep engine, the coefficients and the readings (no torch here)."""

from __future__ import annotations

__all__ = ["FIRST_TOKEN", "KINDS", "NOFIRST", "kind_of"]

KINDS = ("gaussian", "prune", "prune_dir")
FIRST_TOKEN = ("perturbed", "clean")  # the magnitude kinds' first position: perturbed, or left clean
NOFIRST = "_nofirst"  # kind suffix of an injection that leaves the first position clean


def kind_of(perturbation: str, first_token: str) -> str:
    """The sweep kind of a magnitude perturbation run with the first position ``first_token``."""
    return perturbation + ("" if first_token == "perturbed" else NOFIRST)
