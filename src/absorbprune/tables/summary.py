"""The summary tables users read (rules/reporting.smk; docs/results.md section 2)."""

from __future__ import annotations

import pyarrow as pa

from .cells import CELL_KEYS, OUTCOME, ZEROSHOT
from .common import nullable

__all__ = [
    "CHOICES",
    "GRID",
    "GROUP_KEYS",
    "HEADLINE",
    "NOISE_FLOOR",
    "PAPER_CLAIMS",
    "REFERENCE_CHECK",
    "SELECTION",
    "ZEROSHOT_SUMMARY",
    "summary_schemas",
]


GRID = pa.schema(
    [
        *CELL_KEYS,
        ("variant", pa.string()),  # allocation_variant/correction_variant
        nullable("achieved_sparsity"),  # exact zeros / params over all prunable linears (NaN: failed)
        ("n_prunable_params", pa.int64()),  # parameters of all prunable linears (0: failed)
        nullable("ppl"),  # test perplexity (NaN: the cell failed)
        ("ppl_dataset", pa.string()),  # wikitext2 | local
        nullable("zeroshot_mean"),  # mean of the tasks' values, 0..1 (NaN when not run)
        nullable("zeroshot_stderr"),  # lm-eval's stderr of that mean (tasks independent; NaN: not run)
        ("zeroshot_tasks", pa.int64()),  # tasks in that mean (0 when not run)
        nullable("valid_ppl"),  # perplexity on the validation split (what selection reads; NaN: failed)
        *OUTCOME,  # ok | failed, and why (tables.cells.OUTCOME)
    ]
)

ZEROSHOT_SUMMARY = ZEROSHOT  # every cell's rows, concatenated

# A selection group: (model, pruner, structure, allocation, correction, sparsity).
GROUP_KEYS = [f for f in CELL_KEYS if f.name not in ("seed", "allocation_variant", "correction_variant")]

CHOICES = pa.schema(
    [
        *GROUP_KEYS,
        ("seed", pa.int64()),
        ("allocation_variant", pa.string()),
        ("correction_variant", pa.string()),  # none: the base (gamma 0 of a correction's group)
        ("hyperparameter", pa.string()),  # one tunable hyperparameter of the candidate ("" if none)
        nullable("value"),  # its value (NaN when the candidate has none)
        nullable("valid_ppl"),  # this seed's validation perplexity (NaN: the cell failed)
        nullable("valid_ppl_mean"),  # the candidate's mean over seeds, compared (NaN: a seed failed)
        ("candidate", pa.string()),  # the candidate's tunable values, "gamma=0.05,lambda=0.08"
        ("selected", pa.bool_()),  # lowest valid_ppl_mean of its group (ties: the first; never a failed one)
    ]
)

SELECTION = pa.schema([*CHOICES, nullable("test_ppl")])  # test_ppl: reported, never used to choose

HEADLINE = pa.schema(
    [
        *[f for f in GROUP_KEYS if f.name != "correction"],  # allocation = the base allocation
        ("correction", pa.string()),  # the correction or control compared with the tuned base
        ("kind", pa.string()),  # correction | control
        ("control_of", pa.string()),  # a control's correction ("" for a correction)
        ("n_seeds", pa.int64()),
        ("ppl_base", pa.float64()),  # tuned base, mean over seeds
        ("ppl_corrected", pa.float64()),  # tuned corrected, mean over seeds
        ("ppl_change_pct", pa.float64()),  # mean over seeds of 100 * (corrected / base - 1); < 0 = better
        nullable("ppl_change_pct_se"),  # standard error over seeds (NaN with one seed)
        # 95% interval of the paired hierarchical bootstrap over seeds and windows (methods 5.5;
        # evaluation.uncertainty sets level and resamples; NaN: no per-window losses)
        nullable("ppl_change_pct_ci_low"),
        nullable("ppl_change_pct_ci_high"),
        # mean +- t_{0.975, n-1} SE over seeds (4.30 at n = 3); NaN with one seed
        nullable("ppl_change_pct_t_low"),
        nullable("ppl_change_pct_t_high"),
        nullable("zeroshot_base"),  # mean accuracy in points (0..100), the change's unit
        nullable("zeroshot_corrected"),
        nullable("zeroshot_change"),  # percentage points, mean over seeds of 100 * (corrected - base)
        nullable("zeroshot_change_se"),  # standard error over seeds (NaN with one seed)
        nullable("zeroshot_change_stderr"),  # lm-eval's: mean over seeds of sqrt(se_b^2 + se_c^2), points
        # the bootstrap's interval over seeds and documents, in points (NaN: zero-shot not run)
        nullable("zeroshot_change_ci_low"),
        nullable("zeroshot_change_ci_high"),
        ("test", pa.string()),  # how significance was decided, in words
        ("significant", pa.bool_()),  # its bootstrap and its t interval both exclude 0
        ("significant_t", pa.bool_()),  # ... its t interval over seeds does (false with one seed)
        ("zeroshot_significant", pa.bool_()),  # the zero-shot change's two intervals both exclude 0
        ("selected_hp", pa.string()),  # what validation chose for the corrected side
        ("selected_base_hp", pa.string()),  # ... and for the base
        nullable("valid_ppl_change_pct"),  # the same change on the validation split
        # ppl_base over the dense model's test perplexity: how far this sparsity is past the knee for
        # this model (a small model's 50-60% sits where a 7B model's 70% does)
        nullable("degradation"),
        ("beats_base", pa.bool_()),  # ppl_change_pct < 0 and significant
        # corrections: true (every control's paired difference has its bootstrap interval below 0)
        # | false | "" (no controls run)
        ("beats_controls", pa.string()),
        ("vs_controls", pa.string()),  # per control: mean paired difference, % points [95% interval]
        ("verdict", pa.string()),  # one line in words
        nullable("noise_floor_pct"),  # rounding alone moves one such cell this much (NaN: not measured)
        ("within_noise", pa.bool_()),  # |ppl_change_pct| <= noise_floor_pct (false when not measured)
    ]
)

PAPER_CLAIMS = pa.schema(
    [
        ("model", pa.string()),
        ("claim", pa.string()),  # a claim of the abstract, in its words
        ("paper", pa.string()),  # what the paper reports
        nullable("measured"),  # the number this run measured (NaN: not testable here)
        nullable("holds"),  # 1.0 holds, 0.0 does not, NaN not testable with this run
        ("detail", pa.string()),  # how it was measured, with the numbers
        # every | some | none: the claim holds under every reading of the paper's coefficient, some,
        # none (docs/methods.md 5.6); untested; n/a: the claim does not depend on the reading
        ("robustness", pa.string()),
        ("readings_tested", pa.int64()),  # readings (or reading corrections) the claim was tested under
        ("readings_holding", pa.int64()),  # of which it holds under
        ("readings_detail", pa.string()),  # the numbers per reading
    ]
)

# Each base cell beside its published perplexity (reporting.reference_check; docs/reference-check.md).
REFERENCE_CHECK = pa.schema(
    [
        ("model", pa.string()),  # the config's model key
        ("hub_id", pa.string()),  # its models.<key>.id, as the config spells it
        ("pruner", pa.string()),  # dense for the unpruned reference
        ("structure", pa.string()),  # unstructured | N:M
        ("allocation", pa.string()),  # dense for the reference
        ("allocation_variant", pa.string()),  # the cell's variant (hyperparameters in the name when swept)
        ("sparsity", pa.float64()),  # target S; 0.0 for dense
        nullable("measured_ppl"),  # mean test perplexity over the seeds that did not fail (NaN: all failed)
        ("n_seeds", pa.int64()),  # calibration seeds in that mean (0: every seed failed)
        ("published_ppl", pa.float64()),  # as the source prints it
        ("source", pa.string()),  # citation: paper or repository, table, commit
        ("url", pa.string()),  # link to the source (a pinned commit for a repository)
        ("kind", pa.string()),  # primary (the authors' repository) | secondary (a transcription)
        nullable("ratio"),  # measured_ppl / published_ppl (NaN only when every seed failed)
        ("comparable", pa.bool_()),  # same protocol and hyperparameters as the published number
        ("why_not", pa.string()),  # every difference, "; "-separated ("" when comparable)
        ("note", pa.string()),  # the record's and its source's notes
    ]
)


# Per (model, pruner, sparsity): how far float-level perturbations of the sequential pass move the
# test perplexity of one representative cell (reporting.noise; docs/sequential.md).
NOISE_FLOOR = pa.schema(
    [
        *CELL_KEYS,  # the representative cell: the first base allocation, uncorrected, first seed
        ("n_perturbations", pa.int64()),  # perturbed runs (the unperturbed one aside)
        ("noise_floor_pct", pa.float64()),  # 100 x max |ppl / ppl_unperturbed - 1| over them
        ("max_mask_frac_differ", pa.float64()),  # the largest share of mask entries any run changed
    ]
)


def summary_schemas() -> dict[str, pa.Schema]:
    """Every table under ``results/summary/``, by file stem, with the schema its writer declares
    (the concatenating summary rules keep their per-job tables' schemas). ``rules/common.smk``
    lists its targets from here; a committed study snapshot is checked against it."""
    from .absorption import ABSORPTION, BLOCK_GAINS, COEFFICIENT_READINGS, DRIFT, FINDINGS, PAPER_COEFFICIENTS
    from .allocation import ALLOCATION
    from .cells import PRUNED_LINEARS

    return {
        "grid": GRID,
        "headline": HEADLINE,
        "selection": SELECTION,
        "paper_claims": PAPER_CLAIMS,
        "zeroshot": ZEROSHOT_SUMMARY,
        "findings": FINDINGS,
        "local_gains": BLOCK_GAINS,
        "absorption": ABSORPTION,
        "paper_coefficients": PAPER_COEFFICIENTS,
        "coefficient_readings": COEFFICIENT_READINGS,
        "allocations": ALLOCATION,
        "drift": DRIFT,
        "pruning": PRUNED_LINEARS,
        "reference_check": REFERENCE_CHECK,
        "noise_floor": NOISE_FLOOR,
    }
