"""Tables of the sweeps and the absorption coefficients (rules/absorption.smk)."""

from __future__ import annotations

import pyarrow as pa

from .common import nullable

__all__ = [
    "ABSORPTION",
    "BLOCK_GAINS",
    "COEFFICIENT_READINGS",
    "DRIFT",
    "FINDINGS",
    "GAINS",
    "PAPER_COEFFICIENTS",
    "READINGS",
    "TRANSITIONS",
]


DRIFT = pa.schema(
    [
        ("model", pa.string()),
        ("kind", pa.string()),  # gaussian | prune | prune_dir (+ _nofirst: the first position left clean)
        ("inject_block", pa.int64()),  # k, 0-based
        ("magnitude", pa.float64()),  # eps (gaussian, prune_dir) or sparsity (prune)
        ("seed", pa.int64()),  # gaussian direction seed (0 for the deterministic kinds)
        ("depth", pa.int64()),  # j in k..L-1, or L = after the final norm
        ("rel_l2", pa.float64()),  # d_j = mean_t ||h~_jt - h_jt|| / ||h_jt||
        ("cos", pa.float64()),  # c_j = mean_t cos(h~_jt, h_jt)
        nullable("rel_l2_rest"),  # d_j over positions t >= 1 (without the attention sink; NaN: T = 1)
        ("frob", pa.float64()),  # mean_n ||H~_jn - H_jn||_F / ||H_jn||_F (sequence matrices (T, C))
        nullable("frob_rest"),  # the same over positions t >= 1 (NaN: T = 1)
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

# One calibration seed's r_l under every reading the sweep supports (absorption.readings).
_READING = [
    ("model", pa.string()),
    ("seed", pa.int64()),  # calibration seed (-1: the mean over seeds, in COEFFICIENT_READINGS)
    ("reading", pa.string()),  # perturbation/eta/first-<first_token>/measure/aggregation/end/expectation
    ("perturbation", pa.string()),  # gaussian | prune_dir
    ("eta", pa.float64()),  # the injection's relative magnitude
    ("first_token", pa.string()),  # perturbed | clean (the first position left unperturbed)
    ("measure", pa.string()),  # all | rest (drift measured without the first position)
    ("aggregation", pa.string()),  # token (mean of per-token relative drift) | frobenius (per sequence)
    ("end", pa.string()),  # depth L of R_L: last_block | final_norm
    ("expectation", pa.string()),  # ratio (mean of per-direction ratios) | means (ratio of means)
    ("block", pa.int64()),  # injection block l
    ("r", pa.float64()),  # r_l = E[R_L / R_l]: > 1 amplifies, < 1 absorbs
    ("n_samples", pa.int64()),  # direction seeds averaged (pooled: summed over calibration seeds)
]
READINGS = pa.schema(_READING)

COEFFICIENT_READINGS = pa.schema(
    [
        *_READING,
        ("shift", pa.float64()),  # the paper correction's shift per unit gamma under this reading
        nullable("spearman_depth"),  # Spearman(r_l, l): < 0 is the paper's "early blocks amplify"
        ("early_amplify", pa.bool_()),  # most of the first third of the blocks have r_l > 1
        ("late_absorb", pa.bool_()),  # most of the other blocks have r_l < 1
        ("paper_pattern", pa.bool_()),  # both: the paper's finding holds under this reading
        ("amplifying_blocks", pa.string()),  # comma-separated l with r_l > 1
        ("n_amplifying", pa.int64()),
        nullable("shift_corr"),  # Pearson of this shift with the default reading's (NaN: a constant shift)
        ("material", pa.bool_()),  # shift_corr < sweeps.material_corr: the correction would differ
        ("default", pa.bool_()),  # the reading allocation.paper names
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
