# Helpers shared by the rules: paths, model lookups, input functions, code dependencies.
import os
import re
from dataclasses import asdict
from pathlib import Path

from absorbprune.codedeps import script_modules
from absorbprune.config import owl_thresholds, prune_sweep_sparsities
from absorbprune.gguf_source import gguf_path
from absorbprune.grid import (
    ALLOCATION_PATTERN,
    CELL_LOG_PATTERN,
    CELL_PATTERN,
    SEED_PATTERN,
    allocation_variants,
    cells,
    correction_variants,
    export_targets,
    hyperparameters,
    selection_candidates,
)
from absorbprune.registry.allocators import CORRECTIONS
from absorbprune.registry.models import built_here
from absorbprune.registry.pruners import PRUNERS
from absorbprune.registry.tasks import ZEROSHOT_TASKS as ZEROSHOT_BUILTIN
from absorbprune.registry.tasks import chance_level

RESULTS = "results"
VERDICT_PAGE = f"{RESULTS}/report/front/verdict.rst"  # the report's first page, once written
# Relative to the working directory, so a moved or copied checkout keeps its jobs' recorded
# input sets (an absolute path here made every job rerun after a move).
SRC = Path(os.path.relpath(Path(workflow.basedir) / "src" / "absorbprune"))
ENV = "../envs/workflow.yaml"


SCRIPTS = Path(workflow.basedir) / "rules" / "scripts"


def script_code(name):
    """The package modules rule script ``scripts/{name}.py`` runs (its imports, followed through the
    package: absorbprune.codedeps), as inputs: Snakemake tracks a script's own file but not what it
    imports, so editing a module reruns exactly the jobs that run it, and their downstream."""
    return [
        str(SRC / p.relative_to(SRC.resolve())) for p in script_modules(SCRIPTS / f"{name}.py", SRC.resolve())
    ]


def one_of(names):
    """A wildcard regex matching exactly ``names`` (none: a regex that matches nothing)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


def grid_models():
    return config["grid"]["models"]


def is_builtin(model):
    return config["models"][model]["source"] == "builtin"


def builtin_models():
    return [m for m in grid_models() if is_builtin(m)]


def gguf_models():
    return [m for m in grid_models() if config["models"][m]["source"] == "gguf"]


def model_dir(wildcards):
    """The directory a built-in or GGUF model was written to; hub and local models have no input."""
    built = built_here(config["models"][wildcards.model]["source"])
    return [f"{RESULTS}/models/{wildcards.model}"] if built else []


def gguf_file(wildcards):
    """The GGUF file of a gguf-source model (checked to exist by the config validation)."""
    return str(gguf_path(wildcards.model, config["models"][wildcards.model]))


def model_params(wildcards):
    """The model's resolved config entry (a change reruns everything that loads it)."""
    return config["models"][wildcards.model]


def calibration_corpus(wildcards):
    """The built-in corpus split when calibrating on it."""
    return [f"{RESULTS}/corpus/train.parquet"] if config["calibration"]["source"] == "local" else []


def ppl_corpus(wildcards):
    """The built-in corpus's test split when the perplexity text is local."""
    return [f"{RESULTS}/corpus/test.parquet"] if config["evaluation"]["ppl_source"] == "local" else []


def valid_corpus(wildcards):
    """The built-in corpus's validation split when the selection text is local."""
    return [f"{RESULTS}/corpus/valid.parquet"] if config["evaluation"]["valid_source"] == "local" else []


SEEDS = [str(s) for s in config["calibration"]["seeds"]]
FIRST_SEED = SEEDS[0]


def seed_dir(stage, model="{model}", seed="{seed}"):
    """A model's calibration-seed directory below a stage directory (grid.SEED_PATTERN)."""
    return f"{RESULTS}/{stage}/{SEED_PATTERN.format(model=model, seed=seed)}"


def per_seed(stage, name):
    """File ``name`` in every grid model's every calibration-seed directory of ``stage``."""
    return [f"{seed_dir(stage, m, s)}/{name}" for m in grid_models() for s in SEEDS]


def dataset_params(source):
    """The datasets entry a source reads (none for the built-in corpus)."""
    return config["datasets"].get(source, {})


def train_threads(wildcards):
    return config["models"][wildcards.model]["train"]["threads"]


def final_targets():
    targets = [
        f"{RESULTS}/summary/absorption.parquet",
        f"{RESULTS}/summary/drift.parquet",
        f"{RESULTS}/summary/findings.parquet",
    ]
    for m in grid_models():
        targets += expand(
            f"{RESULTS}/figures/{m}/{{fig}}.png",
            fig=["drift_depth", "transition", "absorption", "local_gains"],
        )
        targets.append(f"{RESULTS}/pruned/{m}/dense/linears.parquet")
    targets += [f"{RESULTS}/summary/{t}.parquet" for t in SUMMARY_TABLES]
    targets += [f"{RESULTS}/report/{t}.html" for t in SUMMARY_TABLES]
    targets.append(f"{RESULTS}/report/front/paper_claims.html")
    targets.append(VERDICT_PAGE)
    for m in grid_models():
        targets += [f"{RESULTS}/figures/{m}/allocations.png", f"{RESULTS}/figures/{m}/grid.png"]
    for m in builtin_models():
        targets.append(f"{RESULTS}/training/{m}/summary.parquet")
    for m in gguf_models():
        targets.append(f"{RESULTS}/conversion/{m}/summary.parquet")
    for m in grid_models():
        targets += [f"{seed_dir('calibration', m, s)}/layer_stats.parquet" for s in SEEDS]
        targets.append(f"{RESULTS}/calibration/{m}/tokens.safetensors")
    if config["export"]["allocations"]:
        targets += allocation_exports()
    targets += [f"{RESULTS}/export/models/{e}" for e in EXPORTS]
    if config["pruning"]["keep_weights"]:  # asked for, so turning it on after a run writes them
        targets += [f"{cell_dir(c)}/weights.safetensors" for c in CELLS]
    return targets


def sparsity_tag(s):
    """How a sparsity appears in paths and wildcards: 0.7 -> '0.7'."""
    return str(float(s))


SWEEP_SPARSITIES = [sparsity_tag(s) for s in prune_sweep_sparsities(config)]
MAIN_SPARSITY = sparsity_tag(config["sweeps"]["main_sparsity"])


def sweep_params():
    """The sweep settings every sweep job uses (changing one reruns the sweeps)."""
    keys = (
        "n_sweep",
        "eps_min",
        "eps_max",
        "eps_points",
        "seeds",
        "magnitude_kinds",
        "prune_dir_sparsity",
        "memory_budget_gb",
        "max_tokens_per_forward",
    )
    return {k: config["sweeps"][k] for k in keys}


ALLOC_VARIANTS = allocation_variants(config)
CORR_VARIANTS = correction_variants(config)
CELLS = cells(config)
EXPORTS = {t.path(): t for t in export_targets(config)}  # export.models: path -> target


# Every wildcard matches exactly the values this config can produce (names from the registries and
# the grid), so a path no rule should match is refused at DAG building, not half-matched.
wildcard_constraints:
    model=one_of(config["models"]),
    seed=one_of(SEEDS),
    split="train|valid|test",
    sparsity=one_of(sorted({*SWEEP_SPARSITIES, *(c.sparsity for c in CELLS)})),
    structure="unstructured|[0-9]+-[0-9]+",
    pruner=one_of(PRUNERS),
    allocation=one_of(sorted({*ALLOC_VARIANTS, *(c.allocation for c in CELLS)})),
    correction=one_of(CORR_VARIANTS),
    export=one_of(EXPORTS),


# Pruning settings that change results (keep_weights only decides whether weights are kept).
PRUNING_PARAMS = {k: v for k, v in config["pruning"].items() if k != "keep_weights"}


def allocation_params(wildcards):
    """Resolved allocator and correction hyperparameters of one allocation job."""
    name, hp = hyperparameters(config, wildcards.model, wildcards.pruner, wildcards.allocation)
    correction, chp = CORR_VARIANTS[wildcards.correction]
    return {
        "allocation": name,
        "hp": hp,
        "correction": correction,
        "correction_hp": chp,
        "s_min": config["allocation"]["s_min"],
        "s_max": config["allocation"]["s_max"],
    }


def correction_inputs(wildcards):
    """What the cell's correction reads (registry meta "reads"; a control: its correction's), at
    the cell's calibration seed: our coefficients at its sparsity, the paper's coefficient table."""
    correction, hp = CORR_VARIANTS[wildcards.correction]
    entry = CORRECTIONS[correction]
    reads = CORRECTIONS[hp["of"]].meta["reads"] if entry.meta.get("control") else entry.meta.get("reads", ())
    where = seed_dir("absorption", wildcards.model, wildcards.seed)
    paths = {
        "coefficients": f"{where}/coefficients_s{wildcards.sparsity}.parquet",
        "paper_coefficients": f"{where}/paper_coefficients.parquet",
    }
    return {k: paths[k] for k in reads}


def cell_dir(c):
    return f"{RESULTS}/pruned/{c.path()}"


def allocation_path(c):
    return f"{RESULTS}/allocations/{c.allocation_path()}.parquet"


def eval_dirs():
    """Every evaluated cell's directory under results/eval, dense references included."""
    return [f"{RESULTS}/eval/{c.path()}" for c in CELLS] + [
        f"{RESULTS}/eval/{m}/dense" for m in grid_models()
    ]


# Perplexity settings (the dense reference's and every cell's; the validation split's the same).
PPL_PARAMS = {
    k: config["evaluation"][k] for k in ("ppl_source", "valid_source", "seqlen", "batch_size", "max_windows")
}
# Zero-shot settings; the codeline builder's own settings reach the jobs through its data file.
ZEROSHOT_PARAMS = {k: v for k, v in config["evaluation"]["zeroshot"].items() if k not in ZEROSHOT_BUILTIN}
ZEROSHOT_TASKS = ZEROSHOT_PARAMS["tasks"]


def cell_outputs(pruned, evaluated, dense=False):
    """What one prune_evaluate (or evaluate_dense) job writes: the per-linear zeros, the pruned
    weights only with pruning.keep_weights, the perplexity, and zero-shot only when tasks are set."""
    out = {
        "linears": f"{pruned}/linears.parquet",
        "ppl": f"{evaluated}/ppl.parquet",
        "valid_ppl": f"{evaluated}/valid_ppl.parquet",
    }
    if config["pruning"]["keep_weights"] and not dense:
        out["weights"] = f"{pruned}/weights.safetensors"
    if ZEROSHOT_TASKS:
        out.update(zeroshot=f"{evaluated}/zeroshot.parquet", raw=f"{evaluated}/zeroshot.json")
    return out


def zeroshot_data(wildcards):
    """The built-in task's documents when the codeline task is listed."""
    return [f"{RESULTS}/eval/zeroshot/codeline.parquet"] if "codeline" in ZEROSHOT_TASKS else []


# Exports (rules/export.smk).
def allocation_exports():
    return sorted({f"{RESULTS}/export/allocations/{c.allocation_path()}.json" for c in CELLS})


def export_inputs(wildcards):
    """What one model export reads: its candidates' allocations and measurements, the selection
    (for a selected cell), the calibration and evaluation tokens, the model."""
    target = EXPORTS[wildcards.export]
    cell, cands = target.cell, target.candidates
    model = cell.model
    out = {
        "allocations": [allocation_path(c) for c in cands],
        "ppl": [f"{RESULTS}/eval/{c.path()}/ppl.parquet" for c in cands],
        "valid_ppl": [f"{RESULTS}/eval/{c.path()}/valid_ppl.parquet" for c in cands],
        "zeroshot": (
            [f"{RESULTS}/eval/{c.path()}/zeroshot.parquet" for c in cands] if ZEROSHOT_TASKS else []
        ),
        "linears": [f"{cell_dir(c)}/linears.parquet" for c in cands],
        "dense_ppl": f"{RESULTS}/eval/{model}/dense/ppl.parquet",
        "choices": [f"{RESULTS}/selection/choices.parquet"] if target.kind == "selected" else [],
        "tokens": f"{seed_dir('calibration', model, cell.seed)}/tokens.safetensors",
        "ppl_tokens": f"{RESULTS}/eval/{model}/ppl_tokens.safetensors",
        "valid_tokens": f"{RESULTS}/eval/{model}/valid_tokens.safetensors",
        "model": [f"{RESULTS}/models/{model}"] if built_here(config["models"][model]["source"]) else [],
    }
    return out


def export_params(wildcards):
    target = EXPORTS[wildcards.export]
    return {
        "kind": target.kind,
        "cell": asdict(target.cell),
        "candidates": [asdict(c) for c in target.candidates],
        "model": config["models"][target.cell.model],
    }
