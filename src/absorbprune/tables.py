"""Column declarations of every Parquet table the workflow writes, one place, one comment each.

:func:`absorbprune.provenance.write_parquet` checks a frame against its schema on write, so a
renamed or missing column fails the job instead of silently reaching a summary table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    import pandas as pd

# Field metadata of a float column that may hold NaN (a value that is not measured or not defined,
# e.g. a standard error over one seed). Every other float column must be finite on write
# (provenance.write_parquet checks it).
NULLABLE = {b"nullable": b"NaN allowed"}


def nullable(name: str) -> pa.Field:
    """A float64 column that may hold NaN (documented per column)."""
    return pa.field(name, pa.float64(), metadata=NULLABLE)


__all__ = [
    "ABSORPTION",
    "ALLOCATION",
    "BLOCK_GAINS",
    "CELL_KEYS",
    "CHOICES",
    "CODELINE",
    "CONVERSION",
    "CORPUS",
    "DRIFT",
    "FINDINGS",
    "GAINS",
    "GRID",
    "GROUP_KEYS",
    "HEADLINE",
    "NULLABLE",
    "PAPER_CLAIMS",
    "PAPER_COEFFICIENTS",
    "PPL",
    "PRUNED_LINEARS",
    "SELECTION",
    "TRAIN_CURVE",
    "TRAIN_SUMMARY",
    "TRANSITIONS",
    "VARIANTS",
    "ZEROSHOT",
    "ZEROSHOT_SUMMARY",
    "cell_keys",
    "empty",
    "layer_stats_schema",
    "lod_column",
    "nullable",
    "outlier_column",
]

CORPUS = pa.schema(
    [
        ("path", pa.string()),  # file path relative to the stdlib root
        ("sha256", pa.string()),  # of the file's UTF-8 text
        ("n_bytes", pa.int64()),  # UTF-8 size
        ("text", pa.string()),  # file content
    ]
)

TRAIN_CURVE = pa.schema(
    [
        ("model", pa.string()),  # config model key
        ("step", pa.int64()),  # optimizer steps taken (0 = before training)
        nullable("lr"),  # learning rate of that step (NaN at step 0)
        nullable("train_loss"),  # mean token cross-entropy of that step's batch, nats (NaN at step 0)
        nullable("valid_ppl"),  # validation perplexity at that step (NaN between eval points)
    ]
)

TRAIN_SUMMARY = pa.schema(
    [
        ("model", pa.string()),
        ("family", pa.string()),
        ("n_blocks", pa.int64()),
        ("n_params", pa.int64()),  # all parameters, embeddings included
        ("steps", pa.int64()),
        ("tokens_seen", pa.int64()),  # steps x batch_size x seqlen
        ("valid_ppl_before", pa.float64()),  # validation perplexity of the random init
        ("valid_ppl_after", pa.float64()),  # validation perplexity after training
        ("train_seconds", pa.float64()),  # wall time of the optimisation loop (informative only)
        ("weights_sha256", pa.string()),  # sha256 of model.safetensors (bit-identity check)
    ]
)


CONVERSION = pa.schema(
    [
        ("model", pa.string()),  # config model key
        ("family", pa.string()),
        ("gguf_file", pa.string()),  # the GGUF file converted (absolute path on the converting machine)
        ("gguf_sha256", pa.string()),  # sha256 of that file
        ("architecture", pa.string()),  # GGUF general.architecture
        ("file_type", pa.string()),  # GGUF general.file_type (the quantization, e.g. MOSTLY_Q4_1)
        ("tensor_types", pa.string()),  # quantization type:count of every tensor in the file
        ("n_blocks", pa.int64()),
        ("n_params", pa.int64()),  # all parameters of the converted model, embeddings included
        ("weights_sha256", pa.string()),  # sha256 of the converted model.safetensors (float32)
    ]
)


def outlier_column(m: float) -> str:
    """Column name of the per-linear OWL outlier share at threshold M (``3`` -> ``outlier_ratio_m3``)."""
    return f"outlier_ratio_m{m:g}".replace(".", "p")


def lod_column(m: float) -> str:
    """Column name of the block's OWL layerwise outlier distribution at threshold M."""
    return f"block_lod_m{m:g}".replace(".", "p")


def layer_stats_schema(owl_m: Sequence[float]) -> pa.Schema:
    """``results/calibration/{model}/layer_stats.parquet``: one row per prunable linear."""
    fields = [
        ("model", pa.string()),  # config model key
        ("block", pa.int64()),  # 0-based decoder block index
        ("linear", pa.string()),  # name inside the block, e.g. self_attn.q_proj
        ("in_features", pa.int64()),  # C_in
        ("out_features", pa.int64()),  # C_out
        ("params", pa.int64()),  # C_in x C_out (bias excluded: never pruned)
        ("n_tokens", pa.int64()),  # calibration tokens seen by this linear
        ("input_norm_mean", pa.float64()),  # mean_j n_j, n_j = sqrt(mean_tokens x_j^2)  (Wanda)
        ("input_norm_min", pa.float64()),
        ("input_norm_max", pa.float64()),
        ("wanda_score_mean", pa.float64()),  # mean_ij |W_ij| n_j
        ("wanda_score_sum", pa.float64()),  # sum_ij |W_ij| n_j (block means are built from these)
    ]
    # share of this linear's scores above M x (block mean score); params-weighted mean over the
    # block's linears = block_lod_m{M}
    fields += [(outlier_column(m), pa.float64()) for m in owl_m]
    fields += [
        ("alpha_peak", pa.float64()),  # AlphaPruning heavy-tail exponent of W (weights only)
        ("alpha_xmin", pa.float64()),  # the chosen xmin (eigenvalue of W^T W)
        ("alpha_ks", pa.float64()),  # KS distance of the chosen fit
    ]
    # block-level, repeated on every row of the block
    fields += [(lod_column(m), pa.float64()) for m in owl_m]  # OWL LOD_l at threshold M
    fields += [
        ("block_alpha", pa.float64()),  # mean alpha_peak of the block's linears (AlphaPruning)
        ("block_dlp_score", pa.float64()),  # mean Wanda score of the block, mean(A_l) (DLP)
        ("block_params", pa.int64()),  # prunable parameters of the block
    ]
    return pa.schema(fields)


DRIFT = pa.schema(
    [
        ("model", pa.string()),
        ("kind", pa.string()),  # gaussian | prune | prune_dir
        ("inject_block", pa.int64()),  # k, 0-based
        ("magnitude", pa.float64()),  # eps (gaussian, prune_dir) or sparsity (prune)
        ("seed", pa.int64()),  # gaussian direction seed (0 for the deterministic kinds)
        ("depth", pa.int64()),  # j in k..L-1, or L = after the final norm
        ("rel_l2", pa.float64()),  # d_j = mean_t ||h~_jt - h_jt|| / ||h_jt||
        ("cos", pa.float64()),  # c_j = mean_t cos(h~_jt, h_jt)
        ("calibration_seed", pa.int64()),  # the calibration set whose first n_sweep sequences ran
    ]
)

PAPER_COEFFICIENTS = pa.schema(
    [
        ("model", pa.string()),
        ("seed", pa.int64()),  # calibration seed
        ("eta", pa.float64()),  # gaussian relative magnitude of the injection
        ("block", pa.int64()),  # injection block l
        ("r_last_block", pa.float64()),  # E[R_L / R_l], L = the last block's output (the default)
        ("r_final_norm", pa.float64()),  # E[R_L / R_l], L = after the final norm
        ("r_last_block_means", pa.float64()),  # E[R_L] / E[R_l] (expectation: means), last block
        ("r_final_norm_means", pa.float64()),  # E[R_L] / E[R_l], after the final norm
        ("n_samples", pa.int64()),  # direction seeds averaged (each a mean over the sweep tokens)
    ]
)

ABSORPTION = pa.schema(
    [
        ("model", pa.string()),
        ("sparsity", pa.float64()),  # S of the prune injection
        ("block", pa.int64()),  # k
        nullable("coefficient"),  # A_k(S) = ln(d_k / d_final); > 0 absorbs, < 0 amplifies
        ("d_inject", pa.float64()),  # d_k: relative size of what pruning block k injects
        ("d_final", pa.float64()),  # what of it reaches the final norm's output
        ("seed", pa.int64()),  # calibration seed (-1: pooled over every seed, in findings)
    ]
)

GAINS = pa.schema(
    [
        ("model", pa.string()),
        ("sparsity", pa.float64()),
        ("inject_block", pa.int64()),  # k
        ("depth", pa.int64()),  # j in k+1..L
        nullable("gain"),  # g_j = d_j / d_{j-1}; < 1 means block j shrinks the drift
        ("seed", pa.int64()),  # calibration seed
    ]
)

BLOCK_GAINS = pa.schema(
    [
        ("model", pa.string()),
        ("sparsity", pa.float64()),  # the prune injections' sparsity (the main sparsity)
        ("block", pa.int64()),  # j (L = the final norm)
        ("local_gain", pa.float64()),  # mean of g_j over upstream injections k < j and seeds
        nullable("local_gain_se"),  # standard error of that mean over calibration seeds (NaN: one seed)
        ("n_injections", pa.int64()),  # upstream injection blocks averaged
        ("amplifies", pa.bool_()),  # local_gain > 1: block j grows what reaches it
    ]
)

TRANSITIONS = pa.schema(
    [
        ("model", pa.string()),
        ("kind", pa.string()),  # gaussian | prune_dir
        ("block", pa.int64()),  # injection block k
        ("ratio_small", pa.float64()),  # d_final / d_k at the smallest eps (> 1: amplified)
        ("ratio_large", pa.float64()),  # d_final / d_k at the largest eps
        nullable("eps_star"),  # eps where d_final / d_k first crosses 1 going up (NaN: never)
        ("direction", pa.string()),  # amplify_to_absorb | absorb_to_amplify | none
    ]
)

FINDINGS = pa.schema(
    [
        ("model", pa.string()),
        ("sparsity", pa.float64()),  # the main sparsity the pruning-scale claims use
        ("n_blocks", pa.int64()),
        ("share_absorbing", pa.float64()),  # share of blocks with A_k > 0
        ("first_absorbing_block", pa.int64()),  # smallest k with A_k > 0 (-1: none)
        ("absorbing_blocks", pa.string()),  # comma-separated k with A_k > 0
        nullable("absorbing_mean_depth"),  # mean k of absorbing blocks
        nullable("amplifying_mean_depth"),  # mean k of amplifying blocks
        ("absorbing_are_later", pa.bool_()),  # absorbing blocks lie deeper on average
        nullable("drift_depth_spearman"),  # mean over k of Spearman(d_j, j) after d's peak (< 0: falls)
        nullable("drift_monotone_share"),  # share of k whose d_j is non-increasing after its peak
        nullable("cos_depth_spearman"),  # mean over k of Spearman(c_j, j) after the peak (> 0: realigns)
        nullable("small_eps"),  # smallest gaussian eps of the sweep
        ("small_eps_all_amplify", pa.bool_()),  # d_final / d_k > 1 for every block at that eps
        # share of blocks whose gaussian ratio turns amplify -> absorb as eps grows
        nullable("share_blocks_with_transition"),
        nullable("median_eps_star"),  # median amplify -> absorb magnitude over those blocks
        ("n_seeds", pa.int64()),  # calibration seeds pooled
        ("amplifying_blocks_local", pa.string()),  # comma-separated j with mean local gain g_j > 1
        ("n_amplifying_local", pa.int64()),
        nullable("max_local_gain"),
        ("max_local_gain_block", pa.int64()),
    ]
)


ALLOCATION = pa.schema(
    [
        ("model", pa.string()),
        ("pruner", pa.string()),  # per-pruner hyperparameters make an allocation the pruner's
        ("allocation", pa.string()),  # uniform | owl | alphapruning | atp | dlp
        ("allocation_variant", pa.string()),  # the allocation plus swept hyperparameters, e.g. owl-lambda0.05
        ("correction", pa.string()),  # none | absorption | paper | depth | shuffled | flipped
        ("correction_variant", pa.string()),
        ("sparsity", pa.float64()),  # the target S
        ("seed", pa.int64()),  # calibration seed
        ("block", pa.int64()),  # 0-based
        ("block_sparsity", pa.float64()),  # sparsity every linear of the block gets
        ("block_params", pa.int64()),  # prunable parameters of the block
        (
            "base_sparsity",
            pa.float64(),
        ),  # the base allocation before the correction (= block_sparsity if none)
        ("shift", pa.float64()),  # the correction's or control's delta_l before clipping (0 if none)
        ("mean_kept", pa.string()),  # unweighted | weighted | both: the mean held exactly at S
        ("achieved_mean_unweighted", pa.float64()),
        ("achieved_mean_weighted", pa.float64()),  # = the global sparsity of the prunable linears
        ("hyperparameters", pa.string()),  # the tunable (swept) ones, e.g. "gamma=0.05,lambda=0.08"
    ]
)

# The key columns of a grid cell, first in every per-cell table.
CELL_KEYS = [
    ("model", pa.string()),
    ("pruner", pa.string()),  # dense | magnitude | wanda | sparsegpt
    ("structure", pa.string()),  # unstructured | 2:4 | 4:8
    ("allocation", pa.string()),  # allocation variant (dense for the reference)
    ("correction", pa.string()),  # correction variant
    ("sparsity", pa.float64()),  # target S (0 for dense)
    ("seed", pa.int64()),  # calibration seed (-1 for dense: no calibration set)
]


def empty(schema: pa.Schema) -> pd.DataFrame:
    """A frame with no rows and exactly ``schema``'s columns (a table nothing filled)."""
    import pandas as pd

    return pd.DataFrame({f.name: pd.Series(dtype=f.type.to_pandas_dtype()) for f in schema})


def cell_keys(wildcards: Mapping[str, str]) -> dict[str, object]:
    """The key columns of a cell from a rule's wildcards; the dense reference has only ``model``."""
    if "pruner" not in wildcards:
        return {
            "model": wildcards["model"],
            "pruner": "dense",
            "structure": "unstructured",
            "allocation": "dense",
            "correction": "none",
            "sparsity": 0.0,
            "seed": -1,
        }
    keys = ("model", "pruner", "structure", "allocation", "correction")
    return {
        **{k: wildcards[k] for k in keys},
        "structure": wildcards["structure"].replace("-", ":"),
        "sparsity": float(wildcards["sparsity"]),
        "seed": int(wildcards["seed"]),
    }


PRUNED_LINEARS = pa.schema(
    [
        *CELL_KEYS,
        ("block", pa.int64()),
        ("linear", pa.string()),
        ("params", pa.int64()),
        ("zeros", pa.int64()),  # exact zeros after pruning
        ("target_sparsity", pa.float64()),  # the block's allocated sparsity (N/M under N:M)
        ("achieved_sparsity", pa.float64()),  # zeros / params
    ]
)


PPL = pa.schema(
    [
        *CELL_KEYS,
        ("ppl", pa.float64()),  # exp(mean window loss), Wanda's protocol
        ("ppl_dataset", pa.string()),  # wikitext2 | local
        ("n_windows", pa.int64()),  # non-overlapping windows, tail dropped
        ("seqlen", pa.int64()),
        ("mean_window_loss", pa.float64()),  # nats per token
    ]
)

CODELINE = pa.schema(
    [
        ("doc_id", pa.int64()),
        ("path", pa.string()),  # corpus test file the question comes from
        ("context", pa.string()),  # file text before the line (ends with a line break)
        ("choices", pa.list_(pa.string())),  # candidate lines, the true one among them
        ("label", pa.int64()),  # index of the true line in choices
    ]
)

ZEROSHOT = pa.schema(
    [
        *CELL_KEYS,
        ("task", pa.string()),  # lm-eval task name (codeline = the built-in task)
        ("metric", pa.string()),  # acc | acc_norm
        ("value", pa.float64()),  # fraction correct, 0..1
        nullable("stderr"),  # lm-eval's standard error of value
        ("n_docs", pa.int64()),  # documents evaluated
    ]
)

# Summary tables name a cell by its base allocation and correction (the registry's names), the
# variants (with swept hyperparameters) in their own columns; per-cell files use the variants.
VARIANTS = [
    ("allocation_variant", pa.string()),  # e.g. owl-lambda0.05
    ("correction_variant", pa.string()),  # e.g. paper-gamma0.05
    ("variant", pa.string()),  # allocation_variant/correction_variant
]

GRID = pa.schema(
    [
        *CELL_KEYS,
        *VARIANTS,
        ("achieved_sparsity", pa.float64()),  # exact zeros / params over all prunable linears
        ("n_prunable_params", pa.int64()),  # parameters of all prunable linears
        ("ppl", pa.float64()),
        ("ppl_dataset", pa.string()),  # wikitext2 | local
        nullable("zeroshot_mean"),  # mean of the tasks' values, 0..1 (NaN when not run)
        nullable("zeroshot_stderr"),  # lm-eval's stderr of that mean (tasks independent; NaN: not run)
        ("zeroshot_tasks", pa.int64()),  # tasks in that mean (0 when not run)
        nullable("valid_ppl"),  # perplexity on the validation split (what selection reads; NaN: dense)
    ]
)

ZEROSHOT_SUMMARY = pa.schema([*CELL_KEYS, *VARIANTS[:2], *list(ZEROSHOT)[len(CELL_KEYS) :]])

# A selection group: (model, pruner, structure, allocation, correction, sparsity).
GROUP_KEYS = [f for f in CELL_KEYS if f[0] != "seed"]

CHOICES = pa.schema(
    [
        *GROUP_KEYS,
        ("seed", pa.int64()),
        ("allocation_variant", pa.string()),
        ("correction_variant", pa.string()),  # none: the base (gamma 0 of a correction's group)
        ("hyperparameter", pa.string()),  # one tunable hyperparameter of the candidate ("" if none)
        nullable("value"),  # its value (NaN when the candidate has none)
        ("valid_ppl", pa.float64()),  # this seed's validation perplexity
        ("valid_ppl_mean", pa.float64()),  # the candidate's mean over seeds (what is compared)
        ("candidate", pa.string()),  # the candidate's tunable values, "gamma=0.05,lambda=0.08"
        ("selected", pa.bool_()),  # lowest valid_ppl_mean of its group (ties: the first candidate)
    ]
)

SELECTION = pa.schema([*CHOICES, ("test_ppl", pa.float64())])  # test_ppl: reported, never used to choose

HEADLINE = pa.schema(
    [
        *[f for f in GROUP_KEYS if f[0] != "correction"],  # allocation = the base allocation
        ("correction", pa.string()),  # the correction or control compared with the tuned base
        ("kind", pa.string()),  # correction | control
        ("control_of", pa.string()),  # a control's correction ("" for a correction)
        ("n_seeds", pa.int64()),
        ("ppl_base", pa.float64()),  # tuned base, mean over seeds
        ("ppl_corrected", pa.float64()),  # tuned corrected, mean over seeds
        ("ppl_change_pct", pa.float64()),  # mean over seeds of 100 * (corrected / base - 1); < 0 = better
        nullable("ppl_change_pct_se"),  # standard error over seeds (NaN with one seed)
        nullable("zeroshot_base"),  # mean accuracy in points (0..100), the change's unit
        nullable("zeroshot_corrected"),
        nullable("zeroshot_change"),  # percentage points, mean over seeds of 100 * (corrected - base)
        nullable("zeroshot_change_se"),  # standard error over seeds (NaN with one seed)
        nullable("zeroshot_change_stderr"),  # lm-eval's: mean over seeds of sqrt(se_b^2 + se_c^2), points
        ("significant", pa.bool_()),  # |ppl_change_pct| > 2 ppl_change_pct_se (never with one seed)
        ("zeroshot_significant", pa.bool_()),  # |change| > 2 x the larger of its two standard errors
        ("selected_hp", pa.string()),  # what validation chose for the corrected side
        ("selected_base_hp", pa.string()),  # ... and for the base
        ("valid_ppl_change_pct", pa.float64()),  # the same change on the validation split
        ("beats_base", pa.bool_()),  # ppl_change_pct < 0 and significant
        (
            "beats_controls",
            pa.string(),
        ),  # corrections: true | false (every control's change is higher) | "" none
        ("vs_controls", pa.string()),  # per control: mean paired difference in ppl points % +- SE
        ("verdict", pa.string()),  # one line in words
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
    ]
)
