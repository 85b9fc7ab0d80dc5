"""The cross-key rules of the config that a schema cannot express, one named function per rule.

Each check takes the config (defaults filled, types already checked) and returns its problems,
each naming the key to fix. ``semantic_problems`` runs them all. Light (no torch): parse time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...registry.allocators import CORRECTIONS, READINGS
from ...registry.base import load_ref
from ...registry.models import FAMILIES
from ...registry.pruners import PRUNERS
from ...registry.tasks import ZEROSHOT_TASKS
from ..perturbations import eps_grid

__all__ = ["CHECKS", "model_block_counts", "pending_chunk_problems", "semantic_problems"]

Config = dict[str, Any]


def _gguf_blocks(key: str, model: dict[str, Any], in_grid: bool) -> tuple[list[str], int | None]:
    """A GGUF model's file (or every chunk) must exist, a chunked file's total size be its
    ``gguf.size`` when given, and the header (read across the chunks) name an architecture the
    family reads: a header read, no tensor data, milliseconds (the sha256 of a chunked file is
    checked when it is assembled). A model outside ``grid.models`` whose file is not installed is
    no problem (it runs no job). Returns the problems and the header's block count."""
    from ...models.gguf import GgufError, GgufMissing, check_architecture, gguf_inputs, inspect_gguf

    try:
        paths = gguf_inputs(key, model)
        size = (model.get("gguf") or {}).get("size")
        if size is not None and (total := sum(p.stat().st_size for p in paths)) != size:
            return [
                f"config key 'models.{key}.gguf.size': expected {size} bytes, its {len(paths)} chunks "
                f"({', '.join(str(p) for p in paths)}) hold {total}"
            ], None
        info = inspect_gguf(paths, key)
        check_architecture(info, key, model["family"], paths)
    except GgufMissing as err:
        return ([str(err)] if in_grid else []), None
    except GgufError as err:
        return [str(err)], None
    return [], info.n_blocks


def pending_chunk_problems(config: Config, converted: Callable[[str], bool]) -> list[str]:
    """The sha256 of every chunked GGUF file of a grid model not yet converted (``converted(key)``
    false), so a damaged or wrong chunk fails before any job, naming the key and the chunks. It
    reads the whole file (about a second per 500 MB), so it runs only while the conversion is
    pending, after validation (which reads the headers only)."""
    from ...models.chunks import chunks_sha256
    from ...models.gguf import GgufMissing, gguf_inputs

    problems = []
    for key in config["grid"]["models"]:
        model = config["models"].get(key, {})
        where = model.get("gguf") or {}
        if model.get("source") != "gguf" or "sha256" not in where or converted(key):
            continue
        try:
            paths = gguf_inputs(key, model)
        except GgufMissing as err:
            problems.append(str(err))
            continue
        got, expected = chunks_sha256(paths), where["sha256"].lower()
        if got != expected:
            problems.append(
                f"config key 'models.{key}.gguf.sha256': expected {expected}, the {len(paths)} chunks "
                f"({', '.join(str(p) for p in paths)}) hash to {got}: a chunk package of another version "
                "or a damaged install (reinstall the chunk packages)"
            )
    return problems


def model_block_counts(config: Config) -> tuple[list[str], dict[str, int]]:
    """The block count of every model whose count is known before any job (a built-in model's arch,
    a GGUF header), and the problems of reading the GGUF files."""
    problems, blocks = [], {}
    grid = set(config["grid"]["models"])
    for key, m in config["models"].items():
        if m["source"] == "builtin":
            blocks[key] = int(m["arch"]["n_blocks"])
        elif m["source"] == "gguf":
            found, n = _gguf_blocks(key, m, key in grid)
            problems += found
            if n is not None:
                blocks[key] = n
    return problems, blocks


def grid_model_problems(config: Config) -> list[str]:
    """Every grid model is a key of ``models``."""
    models = config["models"]
    return [
        f"config key 'grid.models[{i}]': {key!r} is not a key of 'models' (known: {sorted(models)})"
        for i, key in enumerate(config["grid"]["models"])
        if key not in models
    ]


def source_key_problems(config: Config) -> list[str]:
    """Keys that belong to another source (``arch``/``train``: builtin; ``gguf``: gguf), and a
    local model's directory."""
    problems = []
    for key, m in config["models"].items():
        where = f"models.{key}"
        if m["source"] != "builtin" and (m.get("arch") or m.get("train")):
            problems.append(f"config key '{where}': 'arch'/'train' apply only to source: builtin")
        if m["source"] != "gguf" and "gguf" in m:
            problems.append(f"config key '{where}.gguf': applies only to source: gguf")
        if m["source"] == "local":
            path = Path(m["path"]).expanduser()
            if not (path / "config.json").is_file():
                problems.append(
                    f"config key '{where}.path': {str(path)!r} is not a model directory "
                    "(expected a directory with config.json and weights, as save_pretrained writes)"
                )
    return problems


def family_dtype_problems(config: Config) -> list[str]:
    """A model's dtype is one its family runs in (``registry.models.FamilyMeta.dtypes``)."""
    problems = []
    for key, m in config["models"].items():
        allowed = FAMILIES[m["family"]].meta.dtypes
        if m["dtype"] not in allowed:
            problems.append(
                f"config key 'models.{key}.dtype': {m['dtype']!r} is not a dtype family {m['family']!r} "
                f"runs in (allowed: {list(allowed)})"
            )
    return problems


def builtin_arch_problems(config: Config) -> list[str]:
    """A built-in model's heads divide its width, and no sequence exceeds its positions."""
    problems = []
    seqlens = {
        "calibration.seqlen": config["calibration"]["seqlen"],
        "evaluation.seqlen": config["evaluation"]["seqlen"],
    }
    for key, m in config["models"].items():
        if m["source"] != "builtin":
            continue
        where, arch, train = f"models.{key}", m["arch"], m["train"]
        if arch["hidden_size"] % arch["n_heads"]:
            problems.append(
                f"config key '{where}.arch.n_heads': {arch['n_heads']} does not divide "
                f"hidden_size {arch['hidden_size']}"
            )
        if arch["n_heads"] % arch["n_kv_heads"]:
            problems.append(
                f"config key '{where}.arch.n_kv_heads': {arch['n_kv_heads']} does not divide "
                f"n_heads {arch['n_heads']}"
            )
        # the run's sequence lengths matter only for models in the grid
        used = seqlens if key in config["grid"]["models"] else {}
        for name, value in {**used, f"{where}.train.seqlen": train["seqlen"]}.items():
            if value > arch["max_position"]:
                problems.append(
                    f"config key '{name}': {value} exceeds {where}.arch.max_position ({arch['max_position']})"
                )
    return problems


def sweep_problems(config: Config) -> list[str]:
    """The sweep set is a prefix of the calibration set, the eps range is ordered, and the main
    sparsity is swept."""
    problems, sweeps = [], config["sweeps"]
    if sweeps["n_sweep"] > config["calibration"]["n_samples"]:
        problems.append(
            f"config key 'sweeps.n_sweep': {sweeps['n_sweep']} exceeds calibration.n_samples "
            f"({config['calibration']['n_samples']}); the sweep set is a prefix of the calibration set"
        )
    if sweeps["eps_min"] > sweeps["eps_max"]:
        problems.append(
            f"config key 'sweeps.eps_min': {sweeps['eps_min']} exceeds eps_max {sweeps['eps_max']}"
        )
    swept = set(config["grid"]["sparsities"]) | set(sweeps["extra_sparsities"])
    if sweeps["main_sparsity"] not in swept:
        problems.append(
            f"config key 'sweeps.main_sparsity': {sweeps['main_sparsity']} is not swept; add it to "
            f"grid.sparsities or sweeps.extra_sparsities (swept: {sorted(swept)})"
        )
    return problems


def sparsity_bound_problems(config: Config) -> list[str]:
    """``s_min <= s_max``, and every grid sparsity and N:M ratio lies between them."""
    lo, hi = config["allocation"]["s_min"], config["allocation"]["s_max"]
    if lo > hi:
        return [f"config key 'allocation.s_min': {lo} exceeds allocation.s_max ({hi})"]
    problems = []
    for i, structure in enumerate(config["grid"]["structures"]):
        if structure != "unstructured":
            n, m = (int(x) for x in structure.split(":"))
            if not lo <= n / m <= hi:
                problems.append(
                    f"config key 'grid.structures[{i}]': {structure!r} prunes {n / m:g} of every block, "
                    f"outside [allocation.s_min, s_max] = [{lo}, {hi}]"
                )
    for i, s in enumerate(config["grid"]["sparsities"]):
        if not lo <= s <= hi:
            problems.append(
                f"config key 'grid.sparsities[{i}]': {s} is outside [allocation.s_min, s_max] = [{lo}, {hi}]"
            )
    return problems


def atp_problems(config: Config, blocks: dict[str, int]) -> list[str]:
    """ATP's beta is legal for every grid model whose block count is known:
    ``beta <= min(2S, 2(1-S)) / (L-1)``."""
    if "atp" not in config["grid"]["allocations"]:
        return []
    betas = config["allocation"]["atp"]["beta"]
    problems = []
    for key in config["grid"]["models"]:
        n = blocks.get(key)
        if n is None:
            continue  # unknown until the model loads; the allocation job checks it
        for s in config["grid"]["sparsities"]:
            for beta in betas if isinstance(betas, list) else [betas]:
                bound = min(2 * s, 2 * (1 - s)) / (n - 1)
                if beta > bound:
                    problems.append(
                        f"config key 'allocation.atp.beta': {beta} is illegal for model {key!r} "
                        f"({n} blocks) at sparsity {s}: at most {bound:.4g}"
                    )
    return problems


def dataset_problems(config: Config) -> list[str]:
    """Every local copy of a data set that is named exists."""
    problems = []
    for name, key in (("c4", "local_path"), ("c4", "valid_local_path"), ("wikitext2", "local_path")):
        local = config["datasets"][name][key]
        if local is not None and not Path(local).expanduser().exists():
            problems.append(f"config key 'datasets.{name}.{key}': {local!r} does not exist")
    return problems


def correction_problems(config: Config) -> list[str]:
    """The corrections' and controls' settings against the sweeps they read (docs/methods.md 5):
    a gamma list includes 0; the paper's eta is a gaussian magnitude of the sweep."""
    problems = []
    section, sweeps = config["allocation"], config["sweeps"]
    used = set(config["grid"]["corrections"])
    for name in config["grid"]["corrections"]:
        if CORRECTIONS[name].meta.control:
            used.add(section[name]["of"])
    for name in sorted(used):
        gamma = section.get(name, {}).get("gamma")
        if isinstance(gamma, list) and 0 not in gamma:
            problems.append(
                f"config key 'allocation.{name}.gamma': the list {gamma} must include 0, the base "
                "allocation itself, so selection can keep it (docs/methods.md 5.4)"
            )
    grid = eps_grid(sweeps["eps_min"], sweeps["eps_max"], sweeps["eps_points"])
    for name in sorted(used & {"paper", *READINGS}):  # the paper's correction under each reading
        hp = {**CORRECTIONS[name].defaults(), **section.get(name, {})}
        kind, eta = hp["perturbation"], hp["eta"]
        if kind not in sweeps["magnitude_kinds"]:
            problems.append(
                f"config key 'sweeps.magnitude_kinds': the correction {name} reads the {kind} sweep; "
                f"add {kind}"
            )
        if hp["first_token"] not in sweeps["first_token"]:
            problems.append(
                f"config key 'sweeps.first_token': the correction {name} reads injections with the first "
                f"position {hp['first_token']}; add {hp['first_token']}"
            )
        if not any(abs(e - eta) <= 1e-9 * eta for e in grid):
            problems.append(
                f"config key 'allocation.{name}.eta': {eta:g} is not a {kind} magnitude of the sweep "
                f"(sweeps.eps_min/eps_max/eps_points give {[float(f'{e:.6g}') for e in grid]})"
            )
    return problems


def eps_per_model_problems(config: Config) -> list[str]:
    """AlphaPruning's per-model table names models and pruners that exist."""
    problems = []
    for key, value in config["allocation"]["alphapruning"]["eps_per_model"].items():
        where = f"allocation.alphapruning.eps_per_model.{key}"
        if key not in config["models"]:
            problems.append(
                f"config key '{where}': not a key of 'models' (known: {sorted(config['models'])})"
            )
        if isinstance(value, dict):
            for pruner in value:
                if pruner not in PRUNERS:
                    problems.append(
                        f"config key '{where}.{pruner}': unknown pruner (valid: {PRUNERS.names()})"
                    )
    return problems


def variant_problems(config: Config) -> list[str]:
    """Swept values give distinct variant names: a collision would drop a variant silently."""
    from ..grid import VariantCollision, allocation_variants, correction_variants

    problems = []
    for variants in (allocation_variants, correction_variants):
        try:
            variants(config)
        except VariantCollision as err:
            problems.append(str(err))
    return problems


def zeroshot_problems(config: Config) -> list[str]:
    """Every zero-shot task is built in or known to the installed lm-eval (otherwise each cell would
    fail after pruning and perplexity), read from lm-eval's task files rather than by importing it
    (a second instead of fifteen); a built-in task's settings are consistent."""
    from ..lm_eval_names import close_matches, known_task_names, tasks_dir

    zeroshot = config["evaluation"]["zeroshot"]
    problems = []
    for name, entry in ZEROSHOT_TASKS.items():  # every built-in task's own rules (registry meta)
        if entry.meta.check:
            found = load_ref(entry.meta.check)(zeroshot[name])
            problems += [f"config key 'evaluation.zeroshot.{name}.{key}': {what}" for key, what in found]
    external = [(i, t) for i, t in enumerate(zeroshot["tasks"]) if t not in ZEROSHOT_TASKS]
    if not external:
        return problems
    if tasks_dir() is None:
        return [
            *problems,
            f"config key 'evaluation.zeroshot.tasks': {[t for _, t in external]} are lm-eval tasks but "
            f"lm-eval is not installed (pip install lm-eval, or list only built-in tasks: "
            f"{ZEROSHOT_TASKS.names()})",
        ]
    known = known_task_names() | set(ZEROSHOT_TASKS.names())
    for i, task in external:
        if task not in known:
            near = close_matches(task, known)
            hint = f"; did you mean {' or '.join(map(repr, near))}?" if near else ""
            problems.append(
                f"config key 'evaluation.zeroshot.tasks[{i}]': {task!r} is neither a built-in task "
                f"({ZEROSHOT_TASKS.names()}) nor a task, group or tag of the installed lm-eval{hint}"
            )
    return problems


def export_problems(config: Config) -> list[str]:
    """Every export entry names cells of this grid (checked before any job, not at the end)."""
    from ..exports import export_targets

    if not config["export"]["models"]:
        return []
    try:
        export_targets(config)
    except ValueError as err:
        return [str(err)]
    return []


# Every check that needs only the config, in the order their problems are listed.
CHECKS: tuple[Callable[[Config], list[str]], ...] = (
    grid_model_problems,
    source_key_problems,
    family_dtype_problems,
    builtin_arch_problems,
    sweep_problems,
    sparsity_bound_problems,
    dataset_problems,
    correction_problems,
    eps_per_model_problems,
    variant_problems,
    zeroshot_problems,
    export_problems,
)


def semantic_problems(config: Config) -> list[str]:
    """Every cross-key problem of a config whose types the schema already checked."""
    problems, blocks = model_block_counts(config)
    for check in CHECKS:
        problems += check(config)
    return problems + atp_problems(config, blocks)
