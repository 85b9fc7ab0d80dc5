"""What a run will cost before anything is submitted (``make estimate CONFIG=...``).

The jobs are the dry-run DAG's (``snakemake --dry-run``: every job with its rule and wildcards,
and whether it runs on the controller, ``localrule``), plus the jobs that only appear once the
selection checkpoints have run (``zeroshot_cell`` under ``evaluation.zeroshot.cells: selected``:
counted as one per group and seed, an upper bound). Each job's cost comes from a per-token model
of its stage (:data:`STAGES`): the floating-point work of its forwards (``2 x parameters`` per
token and block, plus attention), SparseGPT's Hessians and factorisations, AlphaPruning's SVDs,
the bytes it loads and writes, and a fixed start cost; divided by a machine's throughputs
(:class:`Machine`). The GPU figures use :data:`A100`, an assumption until measured; the CPU
figures use :data:`CPU`, measured on the project's 2-core machines (bench/estimate.py compares the
estimate of the default run with its measured job-seconds, rule by rule).

Light: no torch. The model's shape comes from its config (built-in models), its GGUF header, the
``config.json`` in the Hugging Face cache, or, for the presets' models, :data:`KNOWN_SHAPES`.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "A100",
    "CPU",
    "KNOWN_SHAPES",
    "STAGES",
    "Estimate",
    "Job",
    "Machine",
    "Shape",
    "Work",
    "dry_run_jobs",
    "estimate",
    "run_estimate",
    "shape_of",
    "stage_line",
]

log = logging.getLogger(__name__)


# ---- machines --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Machine:
    """Throughputs of one job on a machine.

    Attributes:
        flops: dense matrix work, FLOP/s (forwards, Hessians, the OBS updates).
        svd_flops: FLOP/s of a singular-value decomposition (LAPACK runs far below matmul speed).
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
    read_bps: float
    write_bps: float
    start_s: float
    model_s: float
    lm_eval_s: float


# Measured: the default run on this project's 2-core machines (two jobs at a time, one torch thread
# each), fitted rule by rule with bench/estimate.py. CPU speed on these machines swings 2-3x from
# minute to minute, so expect +-30% per rule at best.
CPU = Machine(
    "this machine's CPU (measured)",
    flops=2.5e10,
    svd_flops=2.0e9,
    read_bps=3.0e8,
    write_bps=2.0e8,
    start_s=0.6,
    model_s=6.0,
    lm_eval_s=6.0,
)
# Assumed, not measured (no GPU was lent when this was written): one A100-80GB at about 35% of its
# 312 TFLOP/s fp16 peak across forward passes of 128-2048-token sequences; SVD on the GPU at 2
# TFLOP/s; a shared file system at 1 GB/s; CUDA initialisation in the start cost.
A100 = Machine(
    "one A100 (assumed)",
    flops=1.1e14,
    svd_flops=2.0e12,
    read_bps=1.0e9,
    write_bps=5.0e8,
    start_s=10.0,
    model_s=30.0,
    lm_eval_s=30.0,
)


# ---- model shapes ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Shape:
    """What the cost model needs of an architecture."""

    family: str
    hidden: int
    inter: int
    blocks: int
    heads: int
    kv_heads: int
    vocab: int
    tied: bool = False

    def linears(self) -> list[tuple[int, int]]:
        """(out, in) of every prunable linear of one block."""
        h, i = self.hidden, self.inter
        if self.family == "opt":
            return [(h, h)] * 4 + [(i, h), (h, i)]
        kv = h * self.kv_heads // self.heads
        return [(h, h), (kv, h), (kv, h), (h, h), (i, h), (i, h), (h, i)]

    @property
    def block_params(self) -> int:
        return sum(o * i for o, i in self.linears())

    @property
    def params(self) -> int:
        """Every weight, embeddings and head included (norms and biases left out)."""
        return self.blocks * self.block_params + self.vocab * self.hidden * (1 if self.tied else 2)

    def forward_flops(
        self, tokens: float, seqlen: int, blocks: float | None = None, head: bool = True
    ) -> float:
        """FLOPs of ``tokens`` tokens (in sequences of ``seqlen``) through ``blocks`` blocks
        (default all), plus the LM head when ``head``: ``2 x weights`` per token, and causal
        attention's ``2 x seqlen x hidden`` (scores and weighted sum, half the square)."""
        blocks = self.blocks if blocks is None else blocks
        per_block = 2 * self.block_params + 2 * seqlen * self.hidden
        return tokens * (blocks * per_block + (2 * self.vocab * self.hidden if head else 0))


def _from_hf_config(family: str, cfg: Mapping[str, Any]) -> Shape:
    """A Shape from a transformers ``config.json``."""
    if family == "opt":
        return Shape(
            "opt",
            cfg["hidden_size"],
            cfg["ffn_dim"],
            cfg["num_hidden_layers"],
            cfg["num_attention_heads"],
            cfg["num_attention_heads"],
            cfg["vocab_size"],
            True,
        )
    heads = cfg["num_attention_heads"]
    return Shape(
        family,
        cfg["hidden_size"],
        cfg["intermediate_size"],
        cfg["num_hidden_layers"],
        heads,
        cfg.get("num_key_value_heads") or heads,
        cfg["vocab_size"],
        bool(cfg.get("tie_word_embeddings", False)),
    )


# The presets' hub models, read from their config.json on the hub (used when the cache has none).
KNOWN_SHAPES: dict[str, Shape] = {
    "meta-llama/Llama-2-7b-hf": Shape("llama", 4096, 11008, 32, 32, 32, 32000),
    "meta-llama/Llama-2-13b-hf": Shape("llama", 5120, 13824, 40, 40, 40, 32000),
    "meta-llama/Meta-Llama-3-8B": Shape("llama", 4096, 14336, 32, 32, 8, 128256),
    "huggyllama/llama-7b": Shape("llama", 4096, 11008, 32, 32, 32, 32000),
    "mistralai/Mistral-7B-v0.1": Shape("mistral", 4096, 14336, 32, 32, 8, 32000),
    "Qwen/Qwen2.5-7B": Shape("qwen2", 3584, 18944, 28, 28, 4, 152064),
    "facebook/opt-6.7b": Shape("opt", 4096, 16384, 32, 32, 32, 50272, True),
    "HuggingFaceTB/SmolLM2-135M": Shape("llama", 576, 1536, 30, 9, 3, 49152, True),
}


def shape_of(key: str, entry: Mapping[str, Any]) -> Shape:
    """The shape of model ``key`` (its resolved ``models`` entry).

    Raises:
        ValueError: a hub or local model whose config.json is neither cached nor known, naming it.
    """
    family, source = entry["family"], entry["source"]
    if source == "builtin":
        a = entry["arch"]
        vocab = int(entry.get("vocab_size") or 4096)
        return Shape(
            family,
            a["hidden_size"],
            a["intermediate_size"],
            a["n_blocks"],
            a["n_heads"],
            a["n_kv_heads"],
            vocab,
        )
    if source == "gguf":
        from ..models.gguf import gguf_header, gguf_path

        path = gguf_path(key, entry)
        arch = gguf_header(path, ("general.architecture",))["general.architecture"]
        names = {
            "hidden": f"{arch}.embedding_length",
            "inter": f"{arch}.feed_forward_length",
            "blocks": f"{arch}.block_count",
            "heads": f"{arch}.attention.head_count",
            "kv_heads": f"{arch}.attention.head_count_kv",
            "vocab": f"{arch}.vocab_size",
        }
        found = gguf_header(path, tuple(names.values()))
        values = {k: int(found[n]) for k, n in names.items() if n in found}
        values.setdefault("kv_heads", values["heads"])
        return Shape(family, tied=True, **values)
    cfg_path = None
    if source == "local":
        cfg_path = Path(entry["path"]) / "config.json"
    else:
        try:
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(entry["id"], "config.json", revision=entry.get("revision"))
            cfg_path = Path(found) if isinstance(found, str) else None
        except Exception:  # no hub library or no cache: fall back on the table
            cfg_path = None
    if cfg_path is not None and cfg_path.is_file():
        return _from_hf_config(family, json.loads(cfg_path.read_text()))
    if entry.get("id") in KNOWN_SHAPES:
        return KNOWN_SHAPES[entry["id"]]
    raise ValueError(
        f"config key 'models.{key}': no config.json for {entry.get('id') or entry.get('path')!r} in the "
        "Hugging Face cache and not in absorbprune.plan.estimate.KNOWN_SHAPES; run `snakemake prefetch` "
        "first (it fetches config.json), or add the model's shape to that table"
    )


_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


# ---- text sizes ------------------------------------------------------------------------------
# Tokens of a whole evaluation split (max_windows: null), LLaMA tokenizer; other tokenizers differ
# by tens of percent. WikiText-2 raw test: 341,469 tokens (166 windows of 2048, Wanda's count);
# its validation split is 0.89x the test split in words. C4 validation under Wanda's protocol:
# 256 windows of seqlen. The built-in corpus: about 3.3 bytes per token of its test split.
SPLIT_TOKENS = {("wikitext2", "test"): 341_469, ("wikitext2", "validation"): 304_000}
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
PADDING = 1.3


def zeroshot_tokens(config: Mapping[str, Any]) -> float:
    """Tokens one zero-shot evaluation forwards (every configured task, ``limit`` applied)."""
    zs = config["evaluation"]["zeroshot"]
    total = 0.0
    for task in zs["tasks"]:
        if task == "codeline":
            s = zs["codeline"]
            per = (s["context_chars"] + (s["min_line_chars"] + s["max_line_chars"]) / 2) / 3.3
            docs, choices = s["n_docs"], s["n_choices"]
        else:
            docs, choices, per = LM_EVAL_TASKS.get(task, UNKNOWN_TASK)
            if task not in LM_EVAL_TASKS:
                log.warning("zero-shot task %r has no size in LM_EVAL_TASKS: assumed %s", task, UNKNOWN_TASK)
        if zs["limit"] is not None:
            docs = min(docs, zs["limit"])
        total += docs * choices * per * PADDING
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
        return self.shape(model).params * _DTYPE_BYTES[self.config["models"][model]["dtype"]]

    def load(self, model: str) -> Work:
        return Work(read_bytes=self.bytes(model), model=True)


def _calibration_tokens(c: Context) -> int:
    cal = c.config["calibration"]
    return cal["n_samples"] * cal["seqlen"]


def _prune(c: Context, model: str, pruner: str) -> Work:
    """The sequential pass: every block forwarded twice on the calibration tokens (statistics, then
    the pruned block's outputs); SparseGPT adds each linear's Hessian, its factorisations and the
    OBS updates."""
    s, n = c.shape(model), _calibration_tokens(c)
    seqlen = c.config["calibration"]["seqlen"]
    if pruner == "magnitude":
        return Work()
    w = Work(flops=2 * s.forward_flops(n, seqlen, head=False))
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
    blocks after k."""
    m, sw = wc["model"], c.config["sweeps"]
    s = c.shape(m)
    tokens, seqlen = _sweep_tokens(c)
    eps = sw["eps_points"]
    labels = (len(sw["seeds"]) * eps if "gaussian" in sw["magnitude_kinds"] else 0) + (
        eps if "prune_dir" in sw["magnitude_kinds"] else 0
    )
    extra = s.blocks if "prune_dir" in sw["magnitude_kinds"] else 0
    blocks = s.blocks + labels * s.blocks * (s.blocks - 1) / 2 + extra
    return _sum(c.load(m), Work(flops=s.forward_flops(tokens, seqlen, blocks=blocks, head=False)))


def sweep_prune(c: Context, wc: Mapping[str, str]) -> Work:
    """The clean trajectory, then per swept sparsity and injection block k the pruned block k and
    the blocks after it."""
    m = wc["model"]
    s = c.shape(m)
    tokens, seqlen = _sweep_tokens(c)
    from .perturbations import prune_sweep_sparsities

    # one sparsity per job where the job names it (workflows before one job per model and seed)
    n = 1 if "sparsity" in wc else len(prune_sweep_sparsities(dict(c.config)))
    blocks = s.blocks + n * (s.blocks + s.blocks * (s.blocks - 1) / 2)
    return _sum(c.load(m), Work(flops=s.forward_flops(tokens, seqlen, blocks=blocks, head=False)))


def calibrate(c: Context, wc: Mapping[str, str]) -> Work:
    """One dense forward of the calibration tokens with the Wanda/OWL statistics."""
    m = wc["model"]
    s = c.shape(m)
    w = _sum(
        c.load(m),
        Work(flops=s.forward_flops(_calibration_tokens(c), c.config["calibration"]["seqlen"], head=False)),
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
    return _sum(c.load(m), _ppl(c, m, ("test", "validation")), _zeroshot(c, m))


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


def cell_weights(c: Context, wc: Mapping[str, str]) -> Work:
    m = wc["model"]
    w = _sum(c.load(m), _prune(c, m, wc["pruner"]))
    w.write_bytes += c.bytes(m)
    return w


# Stages whose cost follows the model and the tokens; any other rule costs FIXED_SECONDS (measured
# on the default run), or DEFAULT_FIXED_S.
STAGES: dict[str, Callable[[Context, Mapping[str, str]], Work]] = {
    "sweep_magnitude": sweep_magnitude,
    "sweep_prune": sweep_prune,
    "calibrate": calibrate,
    "weight_stats": weight_stats,
    "evaluate_dense": evaluate_dense,
    "prune_evaluate": prune_evaluate,
    "zeroshot_cell": zeroshot_cell,
    "export_model": export_model,
    "cell_weights": cell_weights,
}
# Seconds of the small CPU jobs on this machine (the default run): table and data work.
FIXED_SECONDS = {
    "convert_gguf": 29.0,
    "train_tiny": 60.0,
    "corpus": 2.5,
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
        if source != "local":
            seconds = REAL_DATA_S
    return Work(fixed_s=seconds)


# ---- the DAG ---------------------------------------------------------------------------------
_RULE = re.compile(r"^(local)?(rule|checkpoint) (\w+):$")
_WILDCARDS = re.compile(r"^\s+wildcards: (.*)$")


def dry_run_jobs(
    workdir: Path, configfiles: Sequence[str], from_scratch: bool, extra: Sequence[str] = ()
) -> list[Job]:
    """Every job of ``snakemake --dry-run`` in ``workdir`` (``from_scratch``: as if nothing were
    built, ``--forceall``), with its rule, wildcards and whether it is a local rule."""
    cmd = [sys.executable, "-m", "snakemake", "--dry-run", "--workflow-profile", "none", "--cores", "1"]
    cmd += ["--configfile", *configfiles] if configfiles else []
    cmd += ["--forceall"] if from_scratch else []
    cmd += list(extra)
    out = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    jobs: list[Job] = []
    current: tuple[str, bool] | None = None
    for line in (out.stdout + out.stderr).splitlines():
        m = _RULE.match(line)
        if m:
            if current is not None:
                jobs.append(Job(current[0], {}, current[1]))
            current = (m.group(3), bool(m.group(1)))
            continue
        w = _WILDCARDS.match(line)
        if w and current is not None:
            pairs = (p.split("=", 1) for p in re.split(r", (?=\w+=)", w.group(1)))
            jobs.append(Job(current[0], dict(pairs), current[1]))
            current = None
    if current is not None:
        jobs.append(Job(current[0], {}, current[1]))
    return [j for j in jobs if j.rule != "all"]


def after_checkpoints(config: Mapping[str, Any]) -> list[Job]:
    """Jobs a dry run cannot list: under ``zeroshot.cells: selected``, one ``zeroshot_cell`` per
    selection group and seed (an upper bound: groups sharing a chosen cell share its job)."""
    zs = config["evaluation"]["zeroshot"]
    if zs.get("cells", "all") != "selected" or not zs["tasks"]:
        return []
    from .grid import selection_candidates

    groups = {c.group(): c for c in selection_candidates(dict(config))}
    return [
        Job("zeroshot_cell", {"model": c.model, "pruner": c.pruner}, False)
        for c in groups.values()
        for _ in config["calibration"]["seeds"]
    ]


def local_rules(snakefile: Path) -> set[str]:
    """The rules the Snakefile's ``localrules:`` directive names (they run beside the controller,
    never as cluster jobs; a dry run without a cluster executor does not mark them)."""
    names: set[str] = set()
    inside = False
    for line in snakefile.read_text().splitlines():
        if line.startswith("localrules:"):
            inside = True
            line = line.removeprefix("localrules:")
        elif inside and line and not line[0].isspace():
            inside = False
        if inside:
            names.update(n for n in re.split(r"[,\s]+", line.split("#")[0]) if n)
    return names


@dataclass
class Estimate:
    """Per rule: jobs, SLURM submissions, and seconds on the GPU (rules the cluster profile gives
    a GPU) and on CPUs."""

    jobs: Counter = field(default_factory=Counter)
    submitted: Counter = field(default_factory=Counter)
    gpu_s: defaultdict = field(default_factory=lambda: defaultdict(float))
    cpu_s: defaultdict = field(default_factory=lambda: defaultdict(float))
    max_job_s: defaultdict = field(default_factory=lambda: defaultdict(float))

    def table(self) -> list[dict[str, Any]]:
        rows = []
        for rule in sorted(self.jobs, key=lambda r: -(self.gpu_s[r] + self.cpu_s[r])):
            rows.append(
                {
                    "rule": rule,
                    "jobs": self.jobs[rule],
                    "submitted": self.submitted[rule],
                    "gpu_hours": self.gpu_s[rule] / 3600,
                    "cpu_hours": self.cpu_s[rule] / 3600,
                    "longest_job_min": self.max_job_s[rule] / 60,
                }
            )
        return rows


def estimate(
    jobs: Sequence[Job],
    config: Mapping[str, Any],
    gpu_rules: set[str],
    gpu: Machine = A100,
    cpu: Machine = CPU,
) -> Estimate:
    """The cost of ``jobs``: a rule in ``gpu_rules`` on ``gpu``, any other on ``cpu``."""
    alpha = "alphapruning" in config["grid"]["allocations"]
    c, est = (
        Context(config, svd_in_calibrate=alpha and not any(j.rule == "weight_stats" for j in jobs)),
        Estimate(),
    )
    for job in jobs:
        work = job_work(c, job)
        est.jobs[job.rule] += 1
        est.submitted[job.rule] += 0 if job.local else 1
        if job.rule in gpu_rules:
            s = work.seconds(gpu)
            est.gpu_s[job.rule] += s
        else:
            s = work.seconds(cpu)
            est.cpu_s[job.rule] += s
        est.max_job_s[job.rule] = max(est.max_job_s[job.rule], s)
    return est


def profile_gpu_rules(profile: Path) -> set[str]:
    """The rules a SLURM profile gives a GPU (``set-resources: <rule>: gpu``)."""
    import yaml

    prof = yaml.safe_load(profile.read_text()) or {}
    return {rule for rule, res in (prof.get("set-resources") or {}).items() if (res or {}).get("gpu")}


def _format(est: Estimate, title: str) -> str:
    rows = est.table()
    head = f"{'rule':22s} {'jobs':>7s} {'submitted':>9s} {'GPU-h':>9s} {'CPU-h':>8s} {'longest':>9s}"
    lines = [title, head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['rule']:22s} {r['jobs']:7d} {r['submitted']:9d} {r['gpu_hours']:9.1f} "
            f"{r['cpu_hours']:8.2f} {r['longest_job_min']:7.1f} m"
        )
    lines.append("-" * len(head))
    lines.append(
        f"{'total':22s} {sum(est.jobs.values()):7d} {sum(est.submitted.values()):9d} "
        f"{sum(est.gpu_s.values()) / 3600:9.1f} {sum(est.cpu_s.values()) / 3600:8.2f}"
    )
    return "\n".join(lines)


STAGE_MARK = "# STAGE-COST"


def stage_line(est: Estimate, n_cells: int) -> str:
    """The cost line a preset's header carries (below its ``# STAGE-COST`` line)."""
    return (
        f"# cells {n_cells}, jobs {sum(est.jobs.values())}, SLURM submissions "
        f"{sum(est.submitted.values())}, estimated {round(sum(est.gpu_s.values()) / 3600)} GPU-hours "
        "(one A100, assumed throughput), from scratch"
    )


def header_line(preset: Path) -> str | None:
    """The cost line a preset's header carries now (None: it has no ``# STAGE-COST`` mark)."""
    lines = preset.read_text().splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.startswith(STAGE_MARK):
            return lines[i + 1]
    return None


def write_header_line(preset: Path, line: str) -> None:
    lines = preset.read_text().splitlines(keepends=True)
    for i, old in enumerate(lines[:-1]):
        if old.startswith(STAGE_MARK):
            lines[i + 1] = line + "\n"
            preset.write_text("".join(lines))
            return
    raise ValueError(f"{preset}: no '{STAGE_MARK}' line in its header")


def load(root: Path, configfiles: Sequence[str]) -> dict[str, Any]:
    """``config.yaml`` with ``configfiles`` merged over it, validated (as the Snakefile does)."""
    from .config.files import merge, read_config_file
    from .config.validate import validate_config

    config: dict[str, Any] = read_config_file(root / "config.yaml")
    for path in configfiles:
        config = merge(config, read_config_file(root / path))
    return validate_config(config)


def run_estimate(
    root: Path,
    configfiles: Sequence[str],
    from_scratch: bool,
    on_gpu: bool = True,
    profile: str = "profiles/slurm/config.yaml",
) -> tuple[dict[str, Any], Estimate]:
    """The estimate of the workflow in ``root`` under ``configfiles``."""
    config = load(root, configfiles)
    local = local_rules(root / "Snakefile")
    jobs = [
        Job(j.rule, j.wildcards, j.local or j.rule in local)
        for j in dry_run_jobs(root, configfiles, from_scratch) + after_checkpoints(config)
    ]
    gpu_rules = profile_gpu_rules(root / profile) if on_gpu else set()
    return config, estimate(jobs, config, gpu_rules)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--configfile", nargs="*", default=[], help="as snakemake's (merged over config.yaml)"
    )
    parser.add_argument("--from-scratch", action="store_true", help="every job, as if nothing were built")
    parser.add_argument(
        "--profile", default="profiles/slurm/config.yaml", help="the profile naming the GPU rules"
    )
    parser.add_argument(
        "--on", choices=["gpu", "cpu"], default="gpu", help="cpu: the GPU rules on this CPU too"
    )
    parser.add_argument("--json", help="also write the table here")
    parser.add_argument(
        "--stage-header",
        action="store_true",
        help="print the cost line of the last config file's header (from scratch); with --write, rewrite it",
    )
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    root = Path.cwd()
    from_scratch = args.from_scratch or args.stage_header
    config, est = run_estimate(root, args.configfile, from_scratch, args.on == "gpu", args.profile)
    if args.stage_header:
        from .grid import cells

        line = stage_line(est, len(cells(config)))
        print(line)
        if args.write:
            write_header_line(root / args.configfile[-1], line)
        return
    where = f"GPU rules on {A100.name}, the rest on {CPU.name}" if args.on == "gpu" else f"on {CPU.name}"
    scope = "every job, from scratch" if from_scratch else "the jobs not yet done"
    print(_format(est, f"estimate for {' + '.join(['config.yaml', *args.configfile])} ({scope}; {where})"))
    if args.json:
        Path(args.json).write_text(json.dumps(est.table(), indent=1))


if __name__ == "__main__":
    main()
