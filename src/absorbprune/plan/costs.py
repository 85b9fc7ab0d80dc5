"""The per-token cost model of each stage (``make estimate``; docs/cluster.md "Cost estimate").

A job's work (:class:`Work`) is the floating-point work of its forwards (``2 x weights`` per token
and block, plus attention), SparseGPT's Hessians and factorisations, AlphaPruning's SVDs, the bytes
it loads and writes, and a fixed start cost; a :class:`Machine` turns it into seconds. The GPU
figures use :data:`A100`, an assumption until measured; the CPU figures use :data:`CPU`, fitted to
the default run on the project's 2-core machines (bench/estimate.py prints the estimate beside the
measured job-seconds, rule by rule). Light: no torch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..data.splits import BUILT_SOURCES
from .shapes import DTYPE_BYTES, Shape, shape_of

__all__ = [
    "A100",
    "CPU",
    "STAGES",
    "Context",
    "Job",
    "Machine",
    "Work",
    "eval_tokens",
    "job_work",
    "zeroshot_tokens",
]

log = logging.getLogger(__name__)


# ---- machines --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Machine:
    """Throughputs of one job on a machine.

    Attributes:
        flops: dense matrix work, FLOP/s (forwards, Hessians, the OBS updates).
        svd_flops: FLOP/s of a singular-value decomposition (LAPACK runs far below matmul speed).
        sweep_flops: FLOP/s of the sweeps' block forwards (one chunk of every perturbation per
            block call, without a model forward's hooks, LM head and set-up).
        mask_wps: weights/s a pruning mask is chosen at (a row sort of the scores: memory-bound).
        read_bps: bytes/s a model is loaded at (file system plus deserialisation).
        write_bps: bytes/s an exported model is written at.
        start_s: seconds every job spends before its work (interpreter, imports, Snakemake's
            script set-up).
        model_s: seconds a model-loading job adds (torch and transformers imports, building the
            model object), besides reading its bytes.
        lm_eval_s: seconds a job that runs lm-eval adds (task set-up, request building).
    """

    name: str
    flops: float
    svd_flops: float
    sweep_flops: float
    mask_wps: float
    read_bps: float
    write_bps: float
    start_s: float
    model_s: float
    lm_eval_s: float


# Measured: the default run (SmolLM2-135M and Gemma-3-270M, 48 cells) on this project's 2-core
# machine, two jobs at a time. Load costs from the jobs' logs (imports 3-4 s; building the model and
# reading its safetensors 3-4 s; lm-eval's set-up 0.5 s); throughputs a least-squares fit of
# log(estimate / measured) over every (model-loading rule, model). CPU speed here swings 2-3x from
# minute to minute, so a rule's ratio moves by tens of percents between runs: the target is +-30%.
CPU = Machine(
    "this machine's CPU (measured)",
    flops=3.6e10,
    svd_flops=1.9e10,
    sweep_flops=4.2e10,
    mask_wps=4.3e7,
    read_bps=1.0e9,
    write_bps=3.0e8,
    start_s=0.6,
    model_s=6.0,
    lm_eval_s=0.5,
)
# Assumed, not measured (no GPU was lent): one A100-80GB at about 35% of its 312 TFLOP/s fp16 peak
# for forwards of 128-2048-token sequences (sweeps too); SVD at 2 TFLOP/s; masks at 1e10 weights/s;
# a shared file system at 1 GB/s; CUDA initialisation in the start cost.
A100 = Machine(
    "one A100 (assumed)",
    flops=1.1e14,
    svd_flops=2.0e12,
    sweep_flops=1.1e14,
    mask_wps=1.0e10,
    read_bps=1.0e9,
    write_bps=5.0e8,
    start_s=10.0,
    model_s=30.0,
    lm_eval_s=30.0,
)


# ---- text sizes ------------------------------------------------------------------------------
# Tokens of a whole evaluation split (max_windows: null), LLaMA tokenizer; other tokenizers differ
# by tens of percent. WikiText-2 raw test: 341,469 tokens (166 windows of 2048, Wanda's count);
# its validation split is 0.89x the test split in words. C4 validation under Wanda's protocol:
# 256 windows of seqlen. The built-in corpus: about 3.3 bytes per token of its test split.
SPLIT_TOKENS = {
    ("wikitext2", "test"): 341_469,
    ("wikitext2", "validation"): 304_000,
    ("wiki2016", "test"): 397_193,  # the Wikipedia 2016 excerpt, SmolLM2's tokenizer
    ("wiki2016", "validation"): 301_684,
}
C4_VALID_WINDOWS = 256
LOCAL_SPLIT_TOKENS = 190_000

# lm-eval tasks: (documents, choices scored per document, mean tokens of one request). Requests
# are context plus one choice, each a forward; lm-eval pads a batch to its longest request (the
# 1.3 below). Counts of the tasks' evaluation splits; lengths our estimate with LLaMA's tokenizer.
LM_EVAL_TASKS = {
    "boolq": (3270, 2, 150),
    "rte": (277, 2, 75),
    "hellaswag": (10042, 4, 100),
    "winogrande": (1267, 2, 30),
    "arc_easy": (2376, 4, 40),
    "arc_challenge": (1172, 4, 45),
    "openbookqa": (500, 4, 30),
    "piqa": (1838, 2, 40),
    "lambada_openai": (5153, 1, 90),
}
UNKNOWN_TASK = (1000, 4, 100)
ANALOGY_LONG_ANSWERS = 0.12  # share of analogy answers longer than one token
PADDING = 1.3


def zeroshot_tokens(config: Mapping[str, Any]) -> float:
    """Tokens one zero-shot evaluation forwards (every configured task, ``limit`` applied)."""
    zs = config["evaluation"]["zeroshot"]
    total = 0.0
    for task in zs["tasks"]:
        padding = PADDING
        if task == "codeline":
            s = zs["codeline"]
            per = (s["context_chars"] + (s["min_line_chars"] + s["max_line_chars"]) / 2) / 3.3
            docs, choices = s["n_docs"], s["n_choices"]
        elif task == "lambada_wiki2016":  # one request per passage, about 1.3 tokens a word
            s = zs[task]
            docs, choices, per = s["n_docs"], 1, 1.3 * (s["min_context_words"] + s["max_context_words"]) / 2
        elif task == "analogy":  # "a is to b as c is to" + a word: about 9.5 tokens forwarded
            # lm-eval's logits cache scores every one-token answer of a question with one forward
            # of its context; the longer answers need their own forward (12% of them: 17% with
            # SmolLM2's tokenizer, 8% with Gemma-3's, on the default run's questions). Requests
            # of nearly one length: lm-eval's length-sorted batches pad little.
            docs, choices, per = zs[task]["n_docs"], 1 + ANALOGY_LONG_ANSWERS * zs[task]["n_choices"], 9.5
            padding = 1.05
        else:
            docs, choices, per = LM_EVAL_TASKS.get(task, UNKNOWN_TASK)
            if task not in LM_EVAL_TASKS:
                log.warning("zero-shot task %r has no size in LM_EVAL_TASKS: assumed %s", task, UNKNOWN_TASK)
        if zs["limit"] is not None:
            docs = min(docs, zs["limit"])
        total += docs * choices * per * padding
    return total


def eval_tokens(config: Mapping[str, Any], split: str) -> int:
    """Tokens of the perplexity text (``split``: test or validation)."""
    ev = config["evaluation"]
    source = ev["ppl_source"] if split == "test" else (ev["valid_source"] or ev["ppl_source"])
    seqlen = ev["seqlen"]
    if source == "c4":
        whole = C4_VALID_WINDOWS * seqlen
    elif source == "local":
        whole = LOCAL_SPLIT_TOKENS
    else:
        whole = SPLIT_TOKENS.get((source, split), SPLIT_TOKENS[("wikitext2", "test")])
    windows = whole // seqlen
    if ev["max_windows"] is not None:
        windows = min(windows, ev["max_windows"])
    return windows * seqlen


# ---- the work of one job ---------------------------------------------------------------------
@dataclass
class Work:
    """What one job does, in machine-independent units."""

    flops: float = 0.0
    svd_flops: float = 0.0
    sweep_flops: float = 0.0  # the sweeps' block forwards
    mask_weights: float = 0.0  # weights whose pruning mask is chosen (a row sort each)
    read_bytes: float = 0.0
    write_bytes: float = 0.0
    model: bool = False  # loads a model (torch, transformers)
    lm_eval: bool = False
    fixed_s: float = 0.0  # measured seconds of a job that loads no model (table work)

    def seconds(self, m: Machine) -> float:
        return (
            m.start_s
            + (m.model_s if self.model else 0.0)
            + (m.lm_eval_s if self.lm_eval else 0.0)
            + self.flops / m.flops
            + self.svd_flops / m.svd_flops
            + self.sweep_flops / m.sweep_flops
            + self.mask_weights / m.mask_wps
            + self.read_bytes / m.read_bps
            + self.write_bytes / m.write_bps
            + self.fixed_s
        )


@dataclass(frozen=True)
class Job:
    rule: str
    wildcards: dict[str, str]
    local: bool


@dataclass
class Context:
    """The config and the models' shapes, for the stage functions."""

    config: Mapping[str, Any]
    shapes: dict[str, Shape] = field(default_factory=dict)
    svd_in_calibrate: bool = False  # workflows before rule weight_stats: each calibrate job ran the SVDs

    def shape(self, model: str) -> Shape:
        if model not in self.shapes:
            self.shapes[model] = shape_of(model, self.config["models"][model])
        return self.shapes[model]

    def bytes(self, model: str) -> float:
        return self.shape(model).params * DTYPE_BYTES[self.config["models"][model]["dtype"]]

    def load(self, model: str) -> Work:
        return Work(read_bytes=self.bytes(model), model=True)


def _calibration_tokens(c: Context) -> int:
    cal = c.config["calibration"]
    return cal["n_samples"] * cal["seqlen"]


def _prune(c: Context, model: str, pruner: str) -> Work:
    """The sequential pass: every block forwarded twice on the calibration tokens (statistics, then
    the pruned block's outputs) and every weight's mask chosen (Wanda, magnitude: a sort of each
    row); SparseGPT adds each linear's Hessian, its factorisations and the OBS updates (its masks
    come out of those)."""
    s, n = c.shape(model), _calibration_tokens(c)
    seqlen = c.config["calibration"]["seqlen"]
    if pruner == "magnitude":
        return Work(mask_weights=s.blocks * s.block_params)
    w = Work(flops=2 * s.forward_flops(n, seqlen, head=False))
    if pruner != "sparsegpt":
        w.mask_weights = s.blocks * s.block_params
    if pruner == "sparsegpt":
        per_block = sum(2 * n * i * i + 2 * i**3 + 2 * o * i * i for o, i in s.linears())
        w.flops += s.blocks * per_block
    return w


def _ppl(c: Context, model: str, splits: Sequence[str]) -> Work:
    s, seqlen = c.shape(model), c.config["evaluation"]["seqlen"]
    return Work(flops=sum(s.forward_flops(eval_tokens(c.config, sp), seqlen) for sp in splits))


def _zeroshot(c: Context, model: str) -> Work:
    if not c.config["evaluation"]["zeroshot"]["tasks"]:
        return Work()
    s = c.shape(model)
    return Work(flops=s.forward_flops(zeroshot_tokens(c.config), 128), lm_eval=True)


def _sum(*parts: Work) -> Work:
    out = Work()
    for p in parts:
        out.flops += p.flops
        out.svd_flops += p.svd_flops
        out.sweep_flops += p.sweep_flops
        out.mask_weights += p.mask_weights
        out.read_bytes += p.read_bytes
        out.write_bytes += p.write_bytes
        out.model |= p.model
        out.lm_eval |= p.lm_eval
        out.fixed_s += p.fixed_s
    return out


def _sweep_tokens(c: Context) -> tuple[int, int]:
    return c.config["sweeps"]["n_sweep"] * c.config["calibration"]["seqlen"], c.config["calibration"][
        "seqlen"
    ]


def sweep_magnitude(c: Context, wc: Mapping[str, str]) -> Work:
    """The clean trajectory, then per injection block k every (direction seed, magnitude) of the
    gaussian kind and every magnitude of prune_dir (plus its pruned block) forwarded through the
    blocks after k, once per first-token choice."""
    m, sw = wc["model"], c.config["sweeps"]
    s = c.shape(m)
    tokens, seqlen = _sweep_tokens(c)
    eps = sw["eps_points"]
    gauss = len(sw["seeds"]) * eps if "gaussian" in sw["magnitude_kinds"] else 0
    labels = (gauss + (eps if "prune_dir" in sw["magnitude_kinds"] else 0)) * len(sw["first_token"])
    extra = s.blocks if "prune_dir" in sw["magnitude_kinds"] else 0
    blocks = s.blocks + labels * s.blocks * (s.blocks - 1) / 2 + extra
    flops = s.forward_flops(tokens, seqlen, blocks=blocks, head=False)
    return _sum(c.load(m), Work(sweep_flops=flops, mask_weights=extra * s.block_params))


def sweep_prune(c: Context, wc: Mapping[str, str]) -> Work:
    """The clean trajectory, then per swept sparsity and injection block k the pruned block k (its
    masks chosen) and the blocks after it."""
    m = wc["model"]
    s = c.shape(m)
    tokens, seqlen = _sweep_tokens(c)
    from .perturbations import prune_sweep_sparsities

    # one sparsity per job where the job names it (workflows before one job per model and seed)
    n = 1 if "sparsity" in wc else len(prune_sweep_sparsities(dict(c.config)))
    blocks = s.blocks + n * (s.blocks + s.blocks * (s.blocks - 1) / 2)
    flops = s.forward_flops(tokens, seqlen, blocks=blocks, head=False)
    return _sum(c.load(m), Work(sweep_flops=flops, mask_weights=n * s.blocks * s.block_params))


def calibrate(c: Context, wc: Mapping[str, str]) -> Work:
    """One dense forward of the calibration tokens with the Wanda/OWL statistics: Wanda's score
    of every weight, OWL's outlier shares and DLP's mean over them (per-weight passes, costed as
    a mask's)."""
    m = wc["model"]
    s = c.shape(m)
    w = _sum(
        c.load(m),
        Work(
            flops=s.forward_flops(_calibration_tokens(c), c.config["calibration"]["seqlen"], head=False),
            mask_weights=s.blocks * s.block_params,
        ),
    )
    if c.svd_in_calibrate:
        w.svd_flops = _svd_flops(s)
    return w


def _svd_flops(s: Shape) -> float:
    """The singular values of every linear: about ``4 m n^2`` per (m x n), m >= n."""
    return s.blocks * sum(4 * max(o, i) * min(o, i) ** 2 for o, i in s.linears())


def weight_stats(c: Context, wc: Mapping[str, str]) -> Work:
    """AlphaPruning's weight statistics: the singular values of every linear."""
    m = wc["model"]
    return _sum(c.load(m), Work(svd_flops=_svd_flops(c.shape(m))))


def evaluate_dense(c: Context, wc: Mapping[str, str]) -> Work:
    m = wc["model"]
    return _sum(c.load(m), _ppl(c, m, ("test", "validation")))


def zeroshot_dense(c: Context, wc: Mapping[str, str]) -> Work:
    m = wc["model"]
    return _sum(c.load(m), _zeroshot(c, m))


def prune_evaluate(c: Context, wc: Mapping[str, str]) -> Work:
    m = wc["model"]
    zs = _zeroshot(c, m) if c.config["evaluation"]["zeroshot"].get("cells", "all") == "all" else Work()
    return _sum(c.load(m), _prune(c, m, wc["pruner"]), _ppl(c, m, ("test", "validation")), zs)


def zeroshot_cell(c: Context, wc: Mapping[str, str]) -> Work:
    m = wc["model"]
    return _sum(c.load(m), _prune(c, m, wc["pruner"]), _ppl(c, m, ("test",)), _zeroshot(c, m))


def export_model(c: Context, wc: Mapping[str, str]) -> Work:
    m = wc["export"].split("/")[1]
    w = _sum(c.load(m), _prune(c, m, wc["export"].split("/")[2]), _ppl(c, m, ("test", "validation")))
    w.write_bytes += c.bytes(m)
    return w


def noise_floor(c: Context, wc: Mapping[str, str]) -> Work:
    """The representative cell pruned and measured on the test text once unperturbed and once per
    perturbation (one that repeats the unperturbed pass is skipped, not counted here)."""
    m = wc["model"]
    runs = 1 + len(c.config["evaluation"]["noise_floor"]["perturbations"])
    once = _sum(_prune(c, m, wc["pruner"]), _ppl(c, m, ("test",)))
    return _sum(c.load(m), *([once] * runs))


def cell_weights(c: Context, wc: Mapping[str, str]) -> Work:
    m = wc["model"]
    w = _sum(c.load(m), _prune(c, m, wc["pruner"]))
    w.write_bytes += c.bytes(m)
    return w


# transformers' GGUF reader dequantizes in numpy, one tensor at a time: parameters/s on this CPU
# (the default run: SmolLM2's Q4_1 in 32 s, Gemma-3-270M's Q4_K_M in 87 s; K-quants are the slower).
# convert_gguf always runs on a CPU (the SLURM profile gives it no GPU).
GGUF_DEQUANT_PPS = 3.7e6


def convert_gguf(c: Context, wc: Mapping[str, str]) -> Work:
    """Dequantize a GGUF file (every weight) and write the float model directory."""
    m = wc["model"]
    return Work(model=True, write_bytes=c.bytes(m), fixed_s=c.shape(m).params / GGUF_DEQUANT_PPS)


# Stages whose cost follows the model and the tokens; any other rule costs FIXED_SECONDS (measured
# on the default run), or DEFAULT_FIXED_S.
STAGES: dict[str, Callable[[Context, Mapping[str, str]], Work]] = {
    "sweep_magnitude": sweep_magnitude,
    "sweep_prune": sweep_prune,
    "calibrate": calibrate,
    "weight_stats": weight_stats,
    "evaluate_dense": evaluate_dense,
    "zeroshot_dense": zeroshot_dense,
    "prune_evaluate": prune_evaluate,
    "zeroshot_cell": zeroshot_cell,
    "export_model": export_model,
    "cell_weights": cell_weights,
    "noise_floor": noise_floor,
    "convert_gguf": convert_gguf,
}
# Seconds of the small CPU jobs on this machine (the default run): table and data work.
FIXED_SECONDS = {
    "train_tiny": 60.0,
    "corpus": 2.5,
    "wikipedia": 40.0,
    "analogies": 0.6,
    "calibration_tokens": 3.4,
    "ppl_tokens": 4.0,
    "valid_tokens": 3.8,
    "report_table": 0.7,
    "allocate": 0.6,
    "grid_figures": 3.5,
    "sweep_figures": 2.8,
    "findings": 2.8,
}
DEFAULT_FIXED_S = 1.0
# A real data set (C4's shard, WikiText-2) takes longer to read than the built-in corpus.
REAL_DATA_S = 90.0


def job_work(c: Context, job: Job) -> Work:
    if job.rule in STAGES:
        return STAGES[job.rule](c, job.wildcards)
    seconds = FIXED_SECONDS.get(job.rule, DEFAULT_FIXED_S)
    if job.rule in ("calibration_tokens", "ppl_tokens", "valid_tokens"):
        cal, ev = c.config["calibration"]["source"], c.config["evaluation"]
        source = {"calibration_tokens": cal, "ppl_tokens": ev["ppl_source"]}.get(
            job.rule, ev["valid_source"] or ev["ppl_source"]
        )
        if source not in BUILT_SOURCES:
            seconds = REAL_DATA_S
    return Work(fixed_s=seconds)
