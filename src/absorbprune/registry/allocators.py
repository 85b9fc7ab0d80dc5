"""Layer-wise sparsity axes: the allocators (``ALLOCATORS``) and the corrections applied on top of
an allocation (``CORRECTIONS``). Their settings live under ``allocation.<name>`` in the config;
the functions in ``allocation.allocators`` and ``allocation.corrections`` (docs/methods.md, sections
3 and 5)."""

from __future__ import annotations

from dataclasses import dataclass

from .base import Entry, Hyper, Registry

__all__ = ["ALLOCATORS", "CORRECTIONS", "READINGS", "CorrectionMeta"]

# An allocator: f(stats: allocation.BlockStats, target: float, hp: dict) -> allocation.Allocation.
ALLOCATORS: Registry[None] = Registry("allocation", section="allocation")
ALLOCATORS.add(
    Entry("uniform", "absorbprune.allocation.allocators:by_uniform", "every block at the target S")
)
ALLOCATORS.add(
    Entry(
        "owl",
        "absorbprune.allocation.allocators:by_owl",
        "OWL (Yin et al.): less sparsity where the layerwise outlier distribution is high",
        hyper={
            "lambda": Hyper(
                0.08, "half the sparsity spread (0.08 in the OWL paper)", minimum=0.0, maximum=0.5, sweep=True
            ),
            "M": Hyper(
                5,
                "outlier threshold: a score is an outlier above M x its block's mean",
                minimum=1e-12,
                maximum=100.0,
            ),
        },
    )
)
ALLOCATORS.add(
    Entry(
        "alphapruning",
        "absorbprune.allocation.allocators:by_alphapruning",
        "AlphaPruning (Lu et al.): more sparsity where the heavy-tail exponent alpha is large",
        hyper={
            "eps": Hyper(
                0.3, "relative spread; 0.3 for LLaMA-2-7B with Wanda", minimum=0.0, maximum=1.0, sweep=True
            )
        },
        schema_extra={
            "eps_per_model": {
                "type": "object",
                "additionalProperties": {
                    "oneOf": [
                        {"type": "number", "minimum": 0, "maximum": 1},
                        {
                            "type": "object",
                            "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1},
                        },
                    ]
                },
                "default": {},
                "description": "model key -> eps, or model key -> {pruner: eps}, overriding a single eps "
                "(the reference tunes eps per model and pruner)",
            }
        },
    )
)
ALLOCATORS.add(
    Entry(
        "atp",
        "absorbprune.allocation.allocators:by_atp",
        "ATP: an arithmetic progression over depth (later blocks sparser)",
        hyper={
            "beta": Hyper(
                0.01,
                "sparsity step per block; legal up to min(2S, 2(1-S))/(L-1)",
                minimum=0.0,
                maximum=1.0,
                sweep=True,
            )
        },
    )
)
ALLOCATORS.add(
    Entry(
        "dlp",
        "absorbprune.allocation.allocators:by_dlp",
        "DLP (Chen et al.): less sparsity where a block's mean Wanda score is low",
        hyper={"alpha": Hyper(0.15, "half the sparsity spread", minimum=0.0, maximum=0.5, sweep=True)},
    )
)


@dataclass(frozen=True)
class CorrectionMeta:
    """What a correction needs (docs/methods.md 5).

    Attributes:
        reads: the inputs it reads: ``coefficients`` (our A_k at the cell's sparsity and seed),
            ``paper_coefficients`` (the paper's r_l table at the seed).
        shift: for a shift correction, ``"module:function"`` giving its shift per unit gamma,
            ``f(inputs, hp) -> ndarray``.
        control: a control of another shift correction (hyperparameter ``of``), which takes that
            correction's hyperparameters, inputs and gamma list (docs/methods.md 5.3).
    """

    reads: tuple[str, ...] = ()
    shift: str | None = None
    control: bool = False


# A correction: f(base: Allocation, stats: BlockStats, inputs: dict, hp: dict, lo: float, hi: float)
# -> Allocation.
CORRECTIONS: Registry[CorrectionMeta] = Registry("correction", section="allocation", meta=CorrectionMeta)
CORRECTIONS.add(
    Entry(
        "none",
        "absorbprune.allocation.corrections:no_correction",
        "the base allocation unchanged",
        meta=CorrectionMeta(),
    )
)
GAMMA = "correction strength; a list is tuned on validation and must include 0 (the base itself)"
CORRECTIONS.add(
    Entry(
        "absorption",
        "absorbprune.allocation.corrections:by_absorption",
        "ours: min-max scaled prune-kind absorption coefficients A_k, more sparsity where more absorbed",
        hyper={"gamma": Hyper([0.0, 0.05], GAMMA, minimum=0.0, maximum=1.0, sweep=True)},
        meta=CorrectionMeta(("coefficients",), "absorbprune.allocation.corrections:absorption_shift"),
    )
)


def _reading_hyper(**defaults: str) -> dict[str, Hyper]:
    """The paper correction's hyperparameters: gamma, clip and the reading of its coefficient
    (docs/methods.md 5.2 and 5.6), with ``defaults`` replacing the description's choices."""
    d = {
        "perturbation": "gaussian",
        "first_token": "perturbed",
        "measure": "all",
        "aggregation": "token",
        "depth": "last_block",
        "expectation": "ratio",
        **defaults,
    }

    def choice(name: str, what: str, choices: tuple[str, ...]) -> Hyper:
        return Hyper(d[name], what, kind="string", choices=choices)

    return {
        "gamma": Hyper([0.0, 0.05], GAMMA, minimum=0.0, maximum=1.0, sweep=True),
        "eta": Hyper(
            0.01,
            "relative magnitude of the injection; one of the sweep's magnitudes",
            minimum=1e-12,
            maximum=1.0,
        ),
        "depth": choice(
            "depth",
            "depth L of R_L: the last block's output, or after the final norm",
            ("last_block", "final_norm"),
        ),
        "clip": Hyper(3.0, "u_l is clipped into [-log clip, log clip]", minimum=1.0, maximum=1000.0),
        "expectation": choice(
            "expectation",
            "E[R_L / R_l] over direction seeds (ratio) or E[R_L] / E[R_l] (means)",
            ("ratio", "means"),
        ),
        "perturbation": choice(
            "perturbation",
            "the injection: isotropic gaussian, or the block's pruning direction rescaled to eta "
            "(prune_dir: sweeps.magnitude_kinds must list it)",
            ("gaussian", "prune_dir"),
        ),
        "first_token": choice(
            "first_token",
            "the first position perturbed with the rest, or left clean (sweeps.first_token must list it)",
            ("perturbed", "clean"),
        ),
        "measure": choice(
            "measure", "drift over all positions, or without the first (rest)", ("all", "rest")
        ),
        "aggregation": choice(
            "aggregation",
            "mean over tokens of the per-token relative drift (token), or the mean over sequences of "
            "the relative Frobenius drift (frobenius)",
            ("token", "frobenius"),
        ),
    }


PAPER_SHIFT = "absorbprune.allocation.corrections:paper_shift_of"
CORRECTIONS.add(
    Entry(
        "paper",
        "absorbprune.allocation.corrections:by_paper",
        "the paper's, as reported: r_l = E[R_L / R_l] under gaussian injection at eta, "
        "shift -(u - mean u) with u = clip(log r, -log clip, log clip)",
        hyper=_reading_hyper(),
        meta=CorrectionMeta(("readings",), PAPER_SHIFT),
    )
)
# The paper's correction under another reading of its coefficient (docs/methods.md 5.6): each its
# own selection group, so the headline shows whether that reading's correction helps.
READINGS = {
    "paper_frob": (
        "relative Frobenius drift per sequence, first token measured",
        {"aggregation": "frobenius"},
    ),
    "paper_nosink": (
        "the first position (the attention sink) neither perturbed nor measured",
        {"first_token": "clean", "measure": "rest"},
    ),
    "paper_prunedir": ("the block's pruning direction rescaled to eta", {"perturbation": "prune_dir"}),
}
for _name, (_what, _defaults) in READINGS.items():
    CORRECTIONS.add(
        Entry(
            _name,
            f"absorbprune.allocation.corrections:by_{_name}",
            f"the paper's correction, its coefficient read with {_what}",
            hyper=_reading_hyper(**_defaults),
            meta=CorrectionMeta(("readings",), PAPER_SHIFT),
        )
    )
SHIFTED = ("absorption", "paper", *READINGS)  # the corrections a control can take the shift of
OF = Hyper("paper", "the correction whose shift (and gamma list) it takes", kind="string", choices=SHIFTED)
for _name, _what, _extra in (
    ("depth", "a linear tilt toward later blocks with the correction's L2 size", {}),
    (
        "shuffled",
        "the correction's shift permuted across blocks (fixed seed)",
        {"seed": Hyper(0, "the permutation's seed", kind="integer", minimum=0, maximum=2**31 - 1)},
    ),
    ("flipped", "the correction's shift negated", {}),
):
    CORRECTIONS.add(
        Entry(
            _name,
            f"absorbprune.allocation.corrections:by_{_name}",
            f"control: {_what}",
            hyper={"of": OF, **_extra},
            meta=CorrectionMeta(control=True),
        )
    )
