# Helpers shared by the rules: paths, model lookups, input functions, code dependencies.
from pathlib import Path

from absorbprune.config import prune_sweep_sparsities
from absorbprune.grid import allocation_variants, cells, correction_variants, hyperparameters

RESULTS = "results"
SRC = Path(workflow.basedir) / "src" / "absorbprune"
ENV = "../envs/workflow.yaml"


wildcard_constraints:
    model="[A-Za-z0-9][A-Za-z0-9_.-]*",
    split="train|valid|test",
    sparsity="0\.[0-9]+",
    structure="unstructured|[0-9]+-[0-9]+",
    pruner="magnitude|wanda|sparsegpt",
    allocation="[a-z]+(-[a-z]+[0-9.e-]+)*",
    correction="[a-z]+(-[a-z]+[0-9.e-]+)*",


def code(*modules):
    """Stage modules as inputs: Snakemake tracks a script's own file, not what it imports,
    so editing one of these reruns exactly the jobs that declare it (and their downstream)."""
    return [str(SRC / f"{m}.py") for m in modules]


def grid_models():
    return config["grid"]["models"]


def is_builtin(model):
    return config["models"][model]["source"] == "builtin"


def builtin_models():
    return [m for m in grid_models() if is_builtin(m)]


def model_dir(wildcards):
    """The zoo's directory for built-in models; hub and local models have no workflow input."""
    return [f"{RESULTS}/models/{wildcards.model}"] if is_builtin(wildcards.model) else []


def model_params(wildcards):
    """The model's resolved config entry (a change reruns everything that loads it)."""
    return config["models"][wildcards.model]


def calibration_corpus(wildcards):
    """The built-in corpus split when calibrating on it."""
    return [f"{RESULTS}/corpus/train.parquet"] if config["calibration"]["source"] == "local" else []


def ppl_corpus(wildcards):
    """The built-in corpus's test split when the perplexity text is local."""
    return [f"{RESULTS}/corpus/test.parquet"] if config["evaluation"]["ppl_source"] == "local" else []


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
        targets += expand(f"{RESULTS}/figures/{m}/{{fig}}.png", fig=["drift_depth", "transition", "absorption"])
        targets.append(f"{RESULTS}/pruned/{m}/dense/linears.parquet")
    targets += [
        f"{RESULTS}/summary/allocations.parquet",
        f"{RESULTS}/summary/pruning.parquet",
        f"{RESULTS}/summary/ppl.parquet",
    ]
    for m in builtin_models():
        targets.append(f"{RESULTS}/training/{m}/summary.parquet")
    for m in grid_models():
        targets.append(f"{RESULTS}/calibration/{m}/layer_stats.parquet")
    return targets


def sparsity_tag(s):
    """How a sparsity appears in paths and wildcards: 0.7 -> '0.7'."""
    return str(float(s))


SWEEP_SPARSITIES = [sparsity_tag(s) for s in prune_sweep_sparsities(config)]
MAIN_SPARSITY = sparsity_tag(config["sweeps"]["main_sparsity"])


def sweep_params():
    """The sweep settings every sweep job uses (changing one reruns the sweeps)."""
    keys = ("n_sweep", "eps_min", "eps_max", "eps_points", "seeds", "magnitude_kinds", "prune_dir_sparsity",
            "memory_budget_gb", "max_tokens_per_forward")
    return {k: config["sweeps"][k] for k in keys}


ALLOC_VARIANTS = allocation_variants(config)
CORR_VARIANTS = correction_variants(config)
CELLS = cells(config)


def maybe_temp(path):
    """Pruned weights are deleted once evaluated unless pruning.keep_weights is set."""
    return path if config["pruning"]["keep_weights"] else temp(path)


def allocation_params(wildcards):
    """Resolved allocator and correction hyperparameters of one allocation job."""
    name, hp = hyperparameters(config, wildcards.model, wildcards.allocation)
    correction, chp = CORR_VARIANTS[wildcards.correction]
    return {"allocation": name, "hp": hp, "correction": correction, "gamma": chp.get("gamma", 0.0),
            "s_min": config["allocation"]["s_min"], "s_max": config["allocation"]["s_max"]}


def absorption_input(wildcards):
    """The absorption coefficients at the cell's sparsity, for corrected allocations only."""
    if CORR_VARIANTS[wildcards.correction][0] == "none":
        return []
    return [f"{RESULTS}/absorption/{wildcards.model}/coefficients_s{wildcards.sparsity}.parquet"]


def cell_dir(c):
    return f"{RESULTS}/pruned/{c.model}/{c.pruner}/{c.structure}/{c.allocation}/{c.correction}/s{c.sparsity}"


def allocation_path(c):
    return f"{RESULTS}/allocations/{c.model}/{c.allocation}/{c.correction}/s{c.sparsity}.parquet"
