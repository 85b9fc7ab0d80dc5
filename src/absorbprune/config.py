"""Config validation: JSON schema + the cross-key checks a schema cannot express.

Imported by the Snakefile, so it must stay light (no torch, no transformers): it runs every time
Snakemake parses the workflow, including once per cluster job.
"""

from __future__ import annotations

import copy
import logging
import math
import sys
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .magnitudes import eps_grid
from .registry import Registry
from .registry.allocators import ALLOCATORS, CORRECTIONS
from .registry.models import FAMILIES, SOURCES
from .registry.pruners import PRUNERS, STRUCTURES
from .registry.tasks import ZEROSHOT_TASKS

__all__ = [
    "ConfigError",
    "check_config_files",
    "load_schema",
    "main",
    "owl_thresholds",
    "prune_sweep_sparsities",
    "read_config_file",
    "resolve",
    "validate_config",
]


class ConfigError(ValueError):
    """The config is invalid; the message names every offending key and what is expected."""


log = logging.getLogger(__name__)


def _section(registry: Registry, name: str) -> dict[str, Any]:
    entry = registry[name]
    return {
        "type": "object",
        "additionalProperties": False,
        "default": {},
        "description": f"{registry.axis} {name}: {entry.description}",
        "properties": {**{k: h.schema() for k, h in entry.hyper.items()}, **entry.schema_extra},
    }


def _with_registries(schema: dict[str, Any]) -> dict[str, Any]:
    """Fill the registries' names and hyperparameter sections into the shipped schema: the enums of
    every axis and one section per registered method that has settings (``allocation.owl``,
    ``pruning.sparsegpt``, ``evaluation.zeroshot.codeline``)."""
    model = schema["$defs"]["model"]["properties"]
    model["source"]["enum"] = SOURCES.names()
    model["family"]["enum"] = FAMILIES.names()
    props = schema["properties"]
    grid = props["grid"]["properties"]
    for key, registry in (
        ("pruners", PRUNERS),
        ("allocations", ALLOCATORS),
        ("structures", STRUCTURES),
        ("corrections", CORRECTIONS),
    ):
        grid[key]["items"] = {"enum": registry.names()}
    sections = {
        "allocation": props["allocation"]["properties"],
        "pruning": props["pruning"]["properties"],
        "evaluation.zeroshot": props["evaluation"]["properties"]["zeroshot"]["properties"],
    }
    for registry in (ALLOCATORS, CORRECTIONS, PRUNERS, ZEROSHOT_TASKS):
        section = sections[registry.section]
        for name, entry in registry.items():
            if not (entry.hyper or entry.schema_extra):
                continue
            if name in section:
                raise ValueError(
                    f"{registry.axis} {name!r} collides with config key {registry.section}.{name}"
                )
            section[name] = _section(registry, name)
    return schema


def load_schema() -> dict[str, Any]:
    """The config JSON schema: the shipped file plus every registry's names and settings."""
    text = resources.files("absorbprune").joinpath("config.schema.yaml").read_text()
    return _with_registries(yaml.safe_load(text))


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, but a key given twice in one mapping is an error (not last-wins)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, yaml.Mark] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            first = seen[key]
            raise yaml.constructor.ConstructorError(
                f"while reading the mapping starting at line {node.start_mark.line + 1}",
                node.start_mark,
                f"key {key!r} is given twice (first at line {first.line + 1}); YAML would keep only "
                "the last silently",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a config file (YAML or JSON) strictly: a syntax error, a duplicate key or a top level
    that is not a mapping raises ConfigError naming the file and line. Snakemake's own loader
    reports the first two without the file and silently keeps the last of duplicate keys."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {err}") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        context = f" ({err.context})" if err.context else ""
        raise ConfigError(f"config file {where}: {err.problem}{context}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path}: not valid YAML ({err})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path}: the top level is a {type(data).__name__}, expected a mapping of "
            "config keys (e.g. 'grid:', 'models:')"
        )
    return data


def check_config_files(paths: Iterable[str | Path]) -> None:
    """Read every config file strictly (see read_config_file); raises on the first bad one."""
    for path in paths:
        read_config_file(path)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Snakemake's merge of config files: nested mappings merge key by key, anything else replaces."""
    out = dict(base)
    for key, value in over.items():
        out[key] = (
            _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m absorbprune.config [FILE ...]``: read the shipped config.yaml and each FILE
    strictly, merge them as ``snakemake --configfile FILE ...`` would, and validate the result."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m absorbprune.config", description=main.__doc__)
    parser.add_argument("files", nargs="*", type=Path, help="config files, in --configfile order")
    parser.add_argument("--base", type=Path, default=Path("config.yaml"), help="the workflow's config.yaml")
    args = parser.parse_args(argv)
    try:
        config: dict[str, Any] = {}
        for path in [args.base, *args.files]:
            config = _merge(config, read_config_file(path))
        validate_config(config)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"config ok: {', '.join(str(p) for p in [args.base, *args.files])}")
    return 0


def _deref(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    # keywords beside $ref (default, description) refine the referenced schema
    return {**node, **{k: v for k, v in schema.items() if k != "$ref"}}


def _fill_defaults(instance: Any, schema: dict[str, Any], root: dict[str, Any]) -> None:
    """Insert every missing ``default`` of ``schema`` into ``instance``, recursively, in place."""
    schema = _deref(schema, root)
    if not isinstance(instance, dict) or schema.get("type") not in (None, "object"):
        return
    props = schema.get("properties", {})
    for key, sub in props.items():
        sub = _deref(sub, root)
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            _fill_defaults(instance[key], sub, root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key, value in instance.items():
            if key not in props:
                _fill_defaults(value, extra, root)


def _key(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _is_integer(checker: Any, value: Any) -> bool:
    """An integer is an int (not a bool, not a float such as 16.0: the jobs would get a float)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(checker: Any, value: Any) -> bool:
    """A number is finite: NaN and infinity pass no range check and reach the jobs as data."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# JSON Schema counts 16.0 as an integer and NaN as a number; the workflow's types do not.
_STRICT = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer).redefine(
        "number", _is_number
    ),
)


def _type_hint(value: Any, expected: Any) -> str:
    """What YAML made of a value, when that explains a type error."""
    wanted = expected if isinstance(expected, list) else [expected]
    if isinstance(value, float) and not math.isfinite(value):
        return " (expected a finite number)"
    if isinstance(value, float) and "integer" in wanted:
        return f" (expected an integer: write {int(value)} if you mean it)" if value.is_integer() else ""
    if isinstance(value, str) and ("number" in wanted or "integer" in wanted):
        return " (YAML read a string: write 0.5 rather than 5e-1, or a number without quotes)"
    return ""


def _schema_problems(config: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    validator = _STRICT(schema)
    problems = []
    for err in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        # For if/then failures the useful message is the innermost one.
        # (oneOf: the branch that got furthest into the value, so a list's bad item is named)
        leaf = err
        while leaf.context:
            leaf = max(leaf.context, key=lambda e: len(e.absolute_path))
        desc = _deref(err.schema, schema).get("description") if isinstance(err.schema, dict) else None
        hint = (
            f" (expected: {desc})"
            if desc and err.validator not in ("required", "additionalProperties")
            else ""
        )
        if leaf.validator == "type":
            hint = _type_hint(leaf.instance, leaf.validator_value) + hint
        elif (
            leaf.validator == "enum"
            and isinstance(leaf.instance, int)
            and not isinstance(leaf.instance, bool)
        ):
            colon = [v for v in leaf.validator_value if isinstance(v, str) and ":" in v]
            if colon:  # YAML 1.1 reads 2:4 as the base-60 integer 2 * 60 + 4
                hint = (
                    f' (YAML read an unquoted N:M as a base-60 number: write it quoted, e.g. "{colon[0]}")'
                    + hint
                )
        where = leaf.absolute_path if len(leaf.absolute_path) > len(err.absolute_path) else err.absolute_path
        problems.append(f"config key '{_key(where)}': {leaf.message}{hint}")
    return problems


def _gguf_problems(key: str, model: dict[str, Any]) -> tuple[list[str], int | None]:
    """A GGUF model's file must exist, and its header name an architecture the family reads (a header
    read, no tensor data: milliseconds). Returns the problems and the header's block count."""
    from .gguf_source import GgufError, check_architecture, gguf_path, inspect_gguf

    try:
        path = gguf_path(key, model)
        info = inspect_gguf(path, key)
        check_architecture(info, key, model["family"], path)
    except GgufError as err:
        return [str(err)], None
    return [], info.n_blocks


def _semantic_problems(config: dict[str, Any]) -> list[str]:
    problems = []
    models = config.get("models", {})
    blocks: dict[str, int | None] = {}  # block counts known before any job (built-in arch, GGUF header)
    for i, key in enumerate(config.get("grid", {}).get("models", [])):
        if key not in models:
            problems.append(
                f"config key 'grid.models[{i}]': {key!r} is not a key of 'models' (known: {sorted(models)})"
            )
    line = config["evaluation"]["zeroshot"]["codeline"]
    if line["min_line_chars"] > line["max_line_chars"]:
        problems.append(
            "config key 'evaluation.zeroshot.codeline.min_line_chars': "
            f"{line['min_line_chars']} exceeds max_line_chars {line['max_line_chars']}"
        )
    seqlens = {
        "calibration.seqlen": config["calibration"]["seqlen"],
        "evaluation.seqlen": config["evaluation"]["seqlen"],
    }
    for key, m in models.items():
        where = f"models.{key}"
        if m["source"] == "local":
            path = Path(m["path"]).expanduser()
            if not (path / "config.json").is_file():
                problems.append(
                    f"config key '{where}.path': {str(path)!r} is not a model directory "
                    "(expected a directory with config.json and weights, as save_pretrained writes)"
                )
        if m["source"] == "builtin":
            arch, train = m["arch"], m["train"]
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
            used = seqlens if key in config.get("grid", {}).get("models", []) else {}
            for name, value in {**used, f"{where}.train.seqlen": train["seqlen"]}.items():
                if value > arch["max_position"]:
                    problems.append(
                        f"config key '{name}': {value} exceeds {where}.arch.max_position "
                        f"({arch['max_position']})"
                    )
        elif m.get("arch") or m.get("train"):
            problems.append(f"config key '{where}': 'arch'/'train' apply only to source: builtin")
        if m["source"] == "gguf":
            found, blocks[key] = _gguf_problems(key, m)
            problems += found
        elif m["source"] == "builtin":
            blocks[key] = int(m["arch"]["n_blocks"])
        elif "gguf" in m:
            problems.append(f"config key '{where}.gguf': applies only to source: gguf")
    sweeps = config["sweeps"]
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
    lo, hi = config["allocation"]["s_min"], config["allocation"]["s_max"]
    if lo > hi:
        problems.append(f"config key 'allocation.s_min': {lo} exceeds allocation.s_max ({hi})")
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
    betas = config["allocation"]["atp"]["beta"]
    if "atp" in config["grid"]["allocations"]:
        for key in config["grid"]["models"]:
            n = blocks.get(key)
            if n is None:
                continue  # block count unknown until the model loads; the allocation job checks it
            for s in config["grid"]["sparsities"]:
                for beta in betas if isinstance(betas, list) else [betas]:
                    bound = min(2 * s, 2 * (1 - s)) / (n - 1)
                    if beta > bound:
                        problems.append(
                            f"config key 'allocation.atp.beta': {beta} is illegal for model {key!r} "
                            f"({n} blocks) at sparsity {s}: at most {bound:.4g}"
                        )
    for name, key in (("c4", "local_path"), ("c4", "valid_local_path"), ("wikitext2", "local_path")):
        local = config["datasets"][name][key]
        if local is not None and not Path(local).expanduser().exists():
            problems.append(f"config key 'datasets.{name}.{key}': {local!r} does not exist")
    problems += _correction_problems(config)
    problems += _variant_problems(config)
    problems += _task_problems(config)
    problems += _export_problems(config)
    return problems


def _export_problems(config: dict[str, Any]) -> list[str]:
    """Every export entry must name cells of this grid (checked before any job, not at the end)."""
    from .grid import export_targets

    if not config["export"]["models"]:
        return []
    try:
        export_targets(config)
    except ValueError as err:
        return [str(err)]
    return []


def _task_problems(config: dict[str, Any]) -> list[str]:
    """Every zero-shot task must be built in or known to the installed lm-eval: otherwise each cell
    would fail after pruning and perplexity. Read from lm-eval's task files, not by importing it
    (docs/configuration.md: a second instead of fifteen)."""
    from .lm_eval_names import close_matches, known_task_names, tasks_dir

    external = [
        (i, t) for i, t in enumerate(config["evaluation"]["zeroshot"]["tasks"]) if t not in ZEROSHOT_TASKS
    ]
    if not external:
        return []
    if tasks_dir() is None:
        return [
            f"config key 'evaluation.zeroshot.tasks': {[t for _, t in external]} are lm-eval tasks but "
            "lm-eval is not installed (pip install lm-eval, or list only built-in tasks: "
            f"{ZEROSHOT_TASKS.names()})"
        ]
    known = known_task_names() | set(ZEROSHOT_TASKS.names())
    problems = []
    for i, task in external:
        if task not in known:
            near = close_matches(task, known)
            hint = f"; did you mean {' or '.join(map(repr, near))}?" if near else ""
            problems.append(
                f"config key 'evaluation.zeroshot.tasks[{i}]': {task!r} is neither a built-in task "
                f"({ZEROSHOT_TASKS.names()}) nor a task, group or tag of the installed lm-eval{hint}"
            )
    return problems


def _variant_problems(config: dict[str, Any]) -> list[str]:
    """Swept values must give distinct variant names: a collision would drop a variant silently."""
    from .grid import VariantCollision, allocation_variants, correction_variants

    problems = []
    for variants in (allocation_variants, correction_variants):
        try:
            variants(config)
        except VariantCollision as err:
            problems.append(str(err))
    return problems


def _correction_problems(config: dict[str, Any]) -> list[str]:
    """The corrections' and controls' settings against the sweeps they read (docs/methods.md 5)."""
    problems = []
    section, sweeps = config["allocation"], config["sweeps"]
    used = set(config["grid"]["corrections"])
    for name in config["grid"]["corrections"]:
        if CORRECTIONS[name].meta.get("control"):
            used.add(section[name]["of"])
    for name in sorted(used):
        hp = section.get(name, {})
        gamma = hp.get("gamma")
        if isinstance(gamma, list) and 0 not in gamma:
            problems.append(
                f"config key 'allocation.{name}.gamma': the list {gamma} must include 0, the base "
                "allocation itself, so selection can keep it (docs/methods.md 5.4)"
            )
    if "paper" in used:
        eta = section["paper"]["eta"]
        grid = eps_grid(sweeps["eps_min"], sweeps["eps_max"], sweeps["eps_points"])
        if "gaussian" not in sweeps["magnitude_kinds"]:
            problems.append(
                "config key 'sweeps.magnitude_kinds': the paper correction reads the gaussian sweep; "
                "add gaussian"
            )
        if not any(abs(e - eta) <= 1e-9 * eta for e in grid):
            problems.append(
                f"config key 'allocation.paper.eta': {eta:g} is not a gaussian magnitude of the sweep "
                f"(sweeps.eps_min/eps_max/eps_points give {[float(f'{e:.6g}') for e in grid]})"
            )
    per_model = section["alphapruning"]["eps_per_model"]
    for key, value in per_model.items():
        if key not in config["models"]:
            problems.append(
                f"config key 'allocation.alphapruning.eps_per_model.{key}': not a key of 'models' "
                f"(known: {sorted(config['models'])})"
            )
        if isinstance(value, dict):
            for pruner in value:
                if pruner not in PRUNERS:
                    problems.append(
                        f"config key 'allocation.alphapruning.eps_per_model.{key}.{pruner}': "
                        f"unknown pruner (valid: {PRUNERS.names()})"
                    )
    return problems


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults into ``config`` (in place) and validate it.

    Returns:
        The same dict, resolved.

    Raises:
        ConfigError: listing every problem, each naming its key.
    """
    schema = load_schema()
    for key, model in (config.get("models") or {}).items():
        if isinstance(model, dict) and model.get("source") == "hub" and "revision" not in model:
            log.warning(
                "config key 'models.%s.revision' is not set: the hub's 'main' branch is used, which can "
                "change under you; pin the commit you fetched for a reproducible run",
                key,
            )
    for model in (config.get("models") or {}).values():
        if isinstance(model, dict) and model.get("source") == "builtin":
            model.setdefault("train", {})  # so its defaults are filled in below
    _fill_defaults(config, schema, schema)
    evaluation = config.get("evaluation")
    if isinstance(evaluation, dict) and evaluation.get("valid_source") is None:
        evaluation["valid_source"] = evaluation.get("ppl_source")  # the test source's validation split
    problems = _schema_problems(config, schema)
    if not problems:
        problems = _semantic_problems(config)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return config


def resolve(config: dict[str, Any]) -> dict[str, Any]:
    """A validated deep copy of ``config`` (the input is left untouched)."""
    return validate_config(copy.deepcopy(config))


def owl_thresholds(config: dict[str, Any]) -> list[float]:
    """The OWL thresholds M the calibration computes: ``calibration.owl_M`` plus the M of the OWL
    allocation (a single value), so an allocation never asks for a statistic nobody computed."""
    return sorted({*config["calibration"]["owl_M"], config["allocation"]["owl"]["M"]})


def prune_sweep_sparsities(config: dict[str, Any]) -> list[float]:
    """Sparsities of the ``prune`` sweep: the grid's plus ``sweeps.extra_sparsities``, ascending."""
    return sorted({float(s) for s in [*config["grid"]["sparsities"], *config["sweeps"]["extra_sparsities"]]})


if __name__ == "__main__":
    raise SystemExit(main())
