"""Layer-wise sparsity axes: the allocators (``ALLOCATORS``) and the corrections applied on top of
an allocation (``CORRECTIONS``). Their settings live under ``allocation.<name>`` in the config;
the functions in ``allocation.py`` (docs/methods.md, sections 3 and 5)."""

from __future__ import annotations

from . import Entry, Hyper, Registry

__all__ = ["ALLOCATORS", "CORRECTIONS"]

# An allocator: f(stats: allocation.BlockStats, target: float, hp: dict) -> allocation.Allocation.
ALLOCATORS = Registry("allocation", section="allocation")
ALLOCATORS.add(Entry("uniform", "absorbprune.allocation:by_uniform", "every block at the target S"))
ALLOCATORS.add(
    Entry(
        "owl",
        "absorbprune.allocation:by_owl",
        "OWL (Yin et al.): less sparsity where the layerwise outlier distribution is high",
        hyper={
            "lambda": Hyper(0.08, "half the sparsity spread (0.08 in the OWL paper)", sweep=True),
            "M": Hyper(
                5, "outlier threshold: a score is an outlier above M x its block's mean", minimum=1e-12
            ),
        },
    )
)
ALLOCATORS.add(
    Entry(
        "alphapruning",
        "absorbprune.allocation:by_alphapruning",
        "AlphaPruning (Lu et al.): more sparsity where the heavy-tail exponent alpha is large",
        hyper={"eps": Hyper(0.3, "relative spread; 0.3 for LLaMA-2-7B with Wanda", maximum=1.0, sweep=True)},
        schema_extra={
            "eps_per_model": {
                "type": "object",
                "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1},
                "default": {},
                "description": "model key -> eps, overriding a single eps (the reference's per-model table)",
            }
        },
    )
)
ALLOCATORS.add(
    Entry(
        "atp",
        "absorbprune.allocation:by_atp",
        "ATP: an arithmetic progression over depth (later blocks sparser)",
        hyper={"beta": Hyper(0.01, "sparsity step per block; legal up to min(2S, 2(1-S))/(L-1)", sweep=True)},
    )
)
ALLOCATORS.add(
    Entry(
        "dlp",
        "absorbprune.allocation:by_dlp",
        "DLP (Chen et al.): less sparsity where a block's mean Wanda score is low",
        hyper={"alpha": Hyper(0.15, "half the sparsity spread", sweep=True)},
    )
)

# A correction: f(base: Allocation, stats: BlockStats, coefficients: ndarray | None, hp: dict,
# lo: float, hi: float) -> Allocation. meta["coefficients"]: the absorption coefficients it reads.
CORRECTIONS = Registry("correction", section="allocation")
CORRECTIONS.add(Entry("none", "absorbprune.allocation:no_correction", "the base allocation unchanged"))
CORRECTIONS.add(
    Entry(
        "absorption",
        "absorbprune.allocation:by_absorption",
        "ours: min-max scaled prune-kind absorption coefficients, more sparsity where more absorbed",
        hyper={"gamma": Hyper(0.05, "correction strength; 0 returns the base allocation", sweep=True)},
        meta={"coefficients": "prune"},
    )
)
