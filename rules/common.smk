# Shared by all the rule files (the results layout, the grid plan/ derives from the config, the
# wildcard constraints, input and params helpers, the final targets). Parse time only: no torch.
import os
import re
from dataclasses import asdict
from pathlib import Path

from absorbprune.absorption.readings import reading_of
from absorbprune.data.splits import BUILT_SOURCES, USE_SPLIT, splits_read
from absorbprune.plan.cell import (
    ALLOCATION_PATTERN,
    CELL_LOG_PATTERN,
    CELL_PATTERN,
    GROUP_PATTERN,
    SEED_PATTERN,
    Cell,
    sparsity_tag,
    structure_tag,
)
from absorbprune.plan.codedeps import code_hash
from absorbprune.plan.config.checks import pending_chunk_problems
from absorbprune.plan.config.errors import ConfigError
from absorbprune.plan.exports import export_targets
from absorbprune.plan.grid import (
    allocation_variants,
    cells,
    correction_variants,
    hyperparameters,
    noise_cells,
    owl_thresholds,
    selection_candidates,
)
from absorbprune.plan.perturbations import prune_sweep_sparsities
from absorbprune.registry.allocators import CORRECTIONS
from absorbprune.registry.models import built_here
from absorbprune.registry.pruners import PRUNERS
from absorbprune.registry.tasks import ZEROSHOT_TASKS, chance_level
from absorbprune.tables.summary import summary_schemas
from absorbprune.models.gguf import gguf_inputs

RESULTS = "results"
# Relative to the working directory, so a moved or copied checkout keeps its jobs' recorded
# parameters (an absolute path here made every job rerun after a move).
SRC = Path(os.path.relpath(Path(workflow.basedir) / "src" / "absorbprune"))
SCRIPTS = Path(workflow.basedir) / "rules" / "scripts"
ENV = "../envs/workflow.yaml"


def code(script):
    """What the package code run by ``scripts/{script}.py`` does: a hash of its import
    closure without comments, docstrings or formatting (absorbprune.plan.codedeps). Every rule
    passes it as a param, so a change to what that code does reruns the rule's jobs (params
    trigger) and their downstream, and a comment or docstring reruns nothing."""
    return code_hash(SCRIPTS / f"{script}.py", SRC)


def one_of(names):
    """A wildcard regex matching exactly ``names`` (none: a regex that matches nothing)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


# ---- models -----------------------------------------------------------------------------------
def grid_models():
    return config["grid"]["models"]


def models_of(source):
    return [m for m in grid_models() if config["models"][m]["source"] == source]


def model_dir(wildcards):
    """The directory a built-in or GGUF model was written to; hub and local models have no input."""
    built = built_here(config["models"][wildcards.model]["source"])
    return [f"{RESULTS}/models/{wildcards.model}"] if built else []


def gguf_files(wildcards):
    """The GGUF file of a gguf-source model, or its chunks in order (checked to exist by the
    config validation)."""
    return [str(p) for p in gguf_inputs(wildcards.model, config["models"][wildcards.model])]


def model_params(wildcards):
    """The model's resolved config entry (a change reruns everything that loads it)."""
    return config["models"][wildcards.model]


def train_threads(wildcards):
    return config["models"][wildcards.model]["train"]["threads"]


# ---- data -------------------------------------------------------------------------------------
# Data products the built-in data rules write, by the name a built-in task's registry entry reads:
# every split of every source built here (corpus_train, wiki2016_test, wikileads_train, ...) and
# the word analogy questions.
DATA_PRODUCTS = {
    f"{prefix}_{split}": f"{RESULTS}/{prefix}/{split}.parquet"
    for prefix, splits in BUILT_SOURCES.values()
    for split in splits
}
DATA_PRODUCTS["analogies"] = f"{RESULTS}/analogies/questions.parquet"


def corpus_split(source, split):
    """The split of a source built here (the corpus, the Wikipedia texts), else nothing."""
    return [DATA_PRODUCTS[f"{BUILT_SOURCES[source][0]}_{split}"]] if source in BUILT_SOURCES else []


def dataset_params(source):
    """The datasets entry a source reads (none for the built-in corpus)."""
    return config["datasets"].get(source, {})


SEEDS = [int(s) for s in config["calibration"]["seeds"]]
FIRST_SEED = SEEDS[0]


def seed_dir(stage, model="{model}", seed="{seed}"):
    """A model's calibration-seed directory below a stage directory (plan.cell.SEED_PATTERN)."""
    return f"{RESULTS}/{stage}/{SEED_PATTERN.format(model=model, seed=seed)}"


def per_seed(stage, name):
    """File ``name`` in every grid model's every calibration-seed directory of ``stage``."""
    return [f"{seed_dir(stage, m, s)}/{name}" for m in grid_models() for s in SEEDS]


# ---- the grid ---------------------------------------------------------------------------------
SWEEP_SPARSITIES = [sparsity_tag(s) for s in prune_sweep_sparsities(config)]
MAIN_SPARSITY = sparsity_tag(config["sweeps"]["main_sparsity"])
ALLOC_VARIANTS = allocation_variants(config)
CORR_VARIANTS = correction_variants(config)
CONTROLS = sorted(name for name, entry in CORRECTIONS.items() if entry.meta.control)
CELLS = cells(config)
UNSTRUCTURED = [c for c in CELLS if c.structure == "unstructured"]
CANDIDATES = selection_candidates(config)
GROUPS = {}  # selection group path (plan.cell.GROUP_PATTERN) -> its candidates
for _candidate in CANDIDATES:
    GROUPS.setdefault(_candidate.group_path(), []).append(_candidate)
EXPORTS = {t.path(): t for t in export_targets(config)}  # export.models: path -> target
ZEROSHOT = config["evaluation"]["zeroshot"]
PAPER_HP = {**CORRECTIONS["paper"].defaults(), **config["allocation"].get("paper", {})}
DEFAULT_READING = reading_of(PAPER_HP)  # the coefficient readings are compared with this one
PAPER_CLIP = float(PAPER_HP["clip"])
# all: zero-shot on every cell (in prune_evaluate); selected: on the dense model and on each cell
# that validation chose for some group (rule zeroshot_cell, after the groups' checkpoints).
ZEROSHOT_ON_SELECTED = ZEROSHOT["cells"] == "selected" and bool(ZEROSHOT["tasks"])
BUILTIN_TASKS = [t for t in ZEROSHOT["tasks"] if t in ZEROSHOT_TASKS]
SUMMARY_TABLES = list(summary_schemas())  # results/summary/<table>.parquet, one schema each


# Every wildcard matches exactly the values this config can produce (names from the registries and
# the grid), so a path no rule should match is refused at DAG building, not half-matched.
wildcard_constraints:
    model=one_of(config["models"]),
    seed=one_of(str(s) for s in SEEDS),
    split="train|valid|test",
    sparsity=one_of(sorted({*SWEEP_SPARSITIES, *(sparsity_tag(c.sparsity) for c in CELLS)})),
    structure="unstructured|[0-9]+-[0-9]+",
    pruner=one_of(PRUNERS),
    allocation_variant=one_of(sorted({*ALLOC_VARIANTS, *(c.allocation_variant for c in CELLS)})),
    correction_variant=one_of(CORR_VARIANTS),
    export=one_of(EXPORTS),
    allocation=one_of(config["grid"]["allocations"]),
    correction=one_of(config["grid"]["corrections"]),
    task=one_of(ZEROSHOT_TASKS),
    table=one_of(SUMMARY_TABLES),


def cell_dir(stage, c):
    """A cell's directory below ``results/{stage}`` (plan.cell.CELL_PATTERN)."""
    return f"{RESULTS}/{stage}/{c.path()}"


def allocation_file(c):
    return f"{RESULTS}/allocations/{c.allocation_path()}.parquet"


def dense_dir(stage, model):
    return f"{RESULTS}/{stage}/{model}/dense"


def eval_dirs():
    """Every evaluated cell's directory under results/eval, dense references included."""
    return [cell_dir("eval", c) for c in CELLS] + [dense_dir("eval", m) for m in grid_models()]


# ---- params of the cell jobs ------------------------------------------------------------------
# Pruning settings that change results (keep_weights only decides whether weights are kept).
PRUNING_PARAMS = {k: v for k, v in config["pruning"].items() if k != "keep_weights"}
# Perplexity settings (the dense reference's and every cell's; the validation split's the same).
PPL_PARAMS = {
    k: config["evaluation"][k] for k in ("ppl_source", "valid_source", "seqlen", "batch_size", "max_windows")
}
# Zero-shot settings; a built-in task's own settings reach the jobs through its documents file.
ZEROSHOT_PARAMS = {k: v for k, v in ZEROSHOT.items() if k not in ZEROSHOT_TASKS and k != "cells"}
# What prune_evaluate runs: every task, or none when only the selected cells are asked.
CELL_ZEROSHOT_PARAMS = {**ZEROSHOT_PARAMS, "tasks": []} if ZEROSHOT_ON_SELECTED else ZEROSHOT_PARAMS


def allocation_params(wildcards):
    """Resolved allocator and correction hyperparameters of one allocation job."""
    name, hp = hyperparameters(config, wildcards.model, wildcards.pruner, wildcards.allocation_variant)
    correction, chp = CORR_VARIANTS[wildcards.correction_variant]
    return {
        "allocation": name,
        "hp": hp,
        "correction": correction,
        "correction_hp": chp,
        "s_min": config["allocation"]["s_min"],
        "s_max": config["allocation"]["s_max"],
    }


def correction_inputs(wildcards):
    """What the cell's correction reads (registry meta ``reads``; a control: its correction's), at
    the cell's calibration seed: our coefficients at its sparsity, every reading of the paper's."""
    correction, hp = CORR_VARIANTS[wildcards.correction_variant]
    meta = CORRECTIONS[correction].meta
    reads = CORRECTIONS[hp["of"]].meta.reads if meta.control else meta.reads
    where = seed_dir("absorption", wildcards.model, wildcards.seed)
    paths = {
        "coefficients": f"{where}/coefficients_s{wildcards.sparsity}.parquet",
        "readings": f"{where}/readings.parquet",
    }
    return {k: paths[k] for k in reads}


def task_documents(wildcards):
    """Every listed built-in zero-shot task's documents (``{task}.parquet``, written by zeroshot_data)."""
    return [f"{RESULTS}/eval/zeroshot/{t}.parquet" for t in BUILTIN_TASKS]


def task_inputs(wildcards):
    """The data products a built-in task's builder reads (registry.tasks.TaskMeta.reads)."""
    return {name: DATA_PRODUCTS[name] for name in ZEROSHOT_TASKS[wildcards.task].meta.reads}


def task_settings(wildcards):
    return ZEROSHOT[wildcards.task]


def cell_canary(wildcards):
    """What every cell of a model waits for: the dense perplexity, and the dense zero-shot when the
    cell runs the tasks itself (zeroshot.cells: all). Both share the cell's settings, so neither
    reruns a cell that would not rerun anyway."""
    dense = f"{RESULTS}/eval/{wildcards.model}/dense"
    return [f"{dense}/ppl.parquet"] + ([f"{dense}/zeroshot.parquet"] if not ZEROSHOT_ON_SELECTED else [])


# ---- held-out selection: one checkpoint per group --------------------------------------------
def group_path(wildcards):
    """The selection group a select job's wildcards name (plan.cell.GROUP_PATTERN)."""
    return GROUP_PATTERN.format(
        **{k: wildcards[k] for k in ("model", "pruner", "structure", "allocation", "correction", "sparsity")}
    )


def group_wildcards(path):
    """The wildcards of a group's select job."""
    names = ("model", "pruner", "structure", "allocation", "correction", "sparsity")
    values = path.split("/")
    return dict(zip(names, [*values[:5], values[5].removeprefix("s")], strict=True))


def select_inputs(wildcards):
    """The validation perplexities of the group's candidates at every seed (never a test file)."""
    cands = GROUPS[group_path(wildcards)]
    return [f"{cell_dir('eval', c.cell(seed))}/valid_ppl.parquet" for c in cands for seed in SEEDS]


def select_candidates(wildcards):
    return [asdict(c) for c in GROUPS[group_path(wildcards)]]


def choice_file(path):
    return f"{RESULTS}/selection/{path}/choice.parquet"


def chosen_cell(path, seed):
    """The cell validation chose for group ``path`` at ``seed`` (None: every candidate failed);
    waits for the group's checkpoint."""
    from absorbprune.reporting.selection import chosen_variants

    checkpoints.select.get(**group_wildcards(path))
    picked = chosen_variants(choice_file(path)).get(seed)
    if picked is None:
        return None
    c = GROUPS[path][0]
    return Cell(c.model, c.pruner, c.structure, *picked, c.sparsity, seed)


def selected_cells():
    """Every cell some group chose, at every seed, each once."""
    picked = {chosen_cell(path, seed) for path in GROUPS for seed in SEEDS}
    return sorted((c for c in picked if c is not None), key=lambda c: c.path())


def zeroshot_tables(wildcards):
    """The zero-shot rows the summary reads: every cell's (zeroshot.cells: all) or the selected
    cells' (selected), and every dense model's."""
    dense = [f"{dense_dir('eval', m)}/zeroshot.parquet" for m in grid_models()]
    if not ZEROSHOT_ON_SELECTED:
        return [f"{cell_dir('eval', c)}/zeroshot.parquet" for c in CELLS] + dense
    return [f"{cell_dir('eval', c)}/zeroshot_selected.parquet" for c in selected_cells()] + dense


# ---- exports ----------------------------------------------------------------------------------
def allocation_exports():
    return sorted({f"{RESULTS}/export/allocations/{c.allocation_path()}.json" for c in CELLS})


def export_inputs(wildcards):
    """What one model export reads: its cell's allocation and measurements (a selected export: the
    cell its group's checkpoint chose, so it depends on that group's choice alone), the choice,
    the calibration and evaluation tokens, the model."""
    target = EXPORTS[wildcards.export]
    model = target.cell.model
    if target.kind == "selected":
        cell = chosen_cell(target.group_path(), target.cell.seed)
        if cell is None:
            raise ValueError(f"export {wildcards.export}: every candidate of its group failed numerically")
    else:
        cell = target.cell
    zeroshot = "zeroshot_selected" if ZEROSHOT_ON_SELECTED and target.kind == "selected" else "zeroshot"
    return {
        "allocation": allocation_file(cell),
        "ppl": f"{cell_dir('eval', cell)}/ppl.parquet",
        "valid_ppl": f"{cell_dir('eval', cell)}/valid_ppl.parquet",
        "zeroshot": f"{cell_dir('eval', cell)}/{zeroshot}.parquet",
        "linears": f"{cell_dir('pruned', cell)}/linears.parquet",
        "dense_ppl": f"{dense_dir('eval', model)}/ppl.parquet",
        "choice": [choice_file(target.group_path())] if target.kind == "selected" else [],
        "tokens": f"{seed_dir('calibration', model, target.cell.seed)}/tokens.safetensors",
        "ppl_tokens": f"{RESULTS}/eval/{model}/ppl_tokens.safetensors",
        "valid_tokens": f"{RESULTS}/eval/{model}/valid_tokens.safetensors",
        "model": [f"{RESULTS}/models/{model}"] if built_here(config["models"][model]["source"]) else [],
    }


# ---- the noise floor ----------------------------------------------------------------------------
# evaluation.noise_floor: per model, pruner and sparsity, one representative cell pruned again
# under float-level perturbations (plan.grid.noise_cells; rule noise_floor).
NOISE_CELLS = {f"{c.model}/{c.pruner}/s{sparsity_tag(c.sparsity)}": c for c in noise_cells(config)}


def noise_file(c):
    return f"{RESULTS}/noise/{c.model}/{c.pruner}/s{sparsity_tag(c.sparsity)}.parquet"


def noise_cell(wildcards):
    return NOISE_CELLS[f"{wildcards.model}/{wildcards.pruner}/s{wildcards.sparsity}"]


def noise_inputs(wildcards):
    """The representative cell's allocation and calibration tokens, the test tokens, the model."""
    c = noise_cell(wildcards)
    return {
        "allocation": allocation_file(c),
        "tokens": f"{seed_dir('calibration', c.model, c.seed)}/tokens.safetensors",
        "ppl_tokens": f"{RESULTS}/eval/{c.model}/ppl_tokens.safetensors",
        "model": model_dir(wildcards),
    }


def noise_params(wildcards):
    return {
        "cell": asdict(noise_cell(wildcards)),
        "perturbations": config["evaluation"]["noise_floor"]["perturbations"],
    }


def export_params(wildcards):
    target = EXPORTS[wildcards.export]
    return {"target": asdict(target), "model": config["models"][target.cell.model]}


# ---- what `snakemake` builds ------------------------------------------------------------------
FIGURES = {
    "sweeps": ["drift_depth", "transition", "absorption", "local_gains"],
    "grid": ["allocations", "grid"],
    "readings": ["coefficient_readings"],
}


def final_targets():
    targets = [f"{RESULTS}/summary/{t}.parquet" for t in SUMMARY_TABLES]
    targets += [f"{RESULTS}/report/{t}.html" for t in SUMMARY_TABLES]
    targets += [
        f"{RESULTS}/report/front/{page}.html" for page in ("paper_claims", "verdict", "reference_check")
    ]
    for m in grid_models():
        # the dense zero-shot from the start (it is the tasks' canary), not only once selection is done
        targets += [f"{dense_dir('eval', m)}/zeroshot.parquet"] if ZEROSHOT["tasks"] else []
        targets += [f"{RESULTS}/figures/{m}/{fig}.png" for figs in FIGURES.values() for fig in figs]
        targets += [f"{seed_dir('calibration', m, s)}/layer_stats.parquet" for s in SEEDS]
        targets.append(f"{RESULTS}/calibration/{m}/tokens.safetensors")
    targets += [f"{RESULTS}/training/{m}/summary.parquet" for m in models_of("builtin")]
    targets += [f"{RESULTS}/conversion/{m}/summary.parquet" for m in models_of("gguf")]
    if config["export"]["allocations"]:
        targets += allocation_exports()
    targets += [f"{RESULTS}/export/models/{e}" for e in EXPORTS]
    if config["pruning"]["keep_weights"]:  # asked for, so turning it on after a run writes them
        targets += [f"{cell_dir('pruned', c)}/weights.safetensors" for c in CELLS]
    return targets
