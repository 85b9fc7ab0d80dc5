"""The config's JSON schema (the shipped ``schema.yaml`` plus every registry's names and settings),
its defaults and its strict types.

``effective_schema()`` is the schema every config is checked against; ``reference_markdown()``
renders it as ``docs/config-reference.md`` (a test keeps that file fresh). Light (no torch): the
Snakefile validates the config at parse time.
"""

from __future__ import annotations

import copy
import functools
import json
import math
from collections.abc import Iterable
from importlib import resources
from typing import Any

import jsonschema
import yaml

from ...registry.allocators import ALLOCATORS, CORRECTIONS
from ...registry.base import Registry
from ...registry.models import FAMILIES, SOURCES
from ...registry.pruners import PRUNERS, STRUCTURES
from ...registry.tasks import ZEROSHOT_TASKS

__all__ = ["effective_schema", "fill_defaults", "reference_markdown", "schema_problems"]


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


@functools.cache
def _shipped() -> str:
    """The shipped ``schema.yaml`` as JSON text (read once per process)."""
    text = resources.files("absorbprune").joinpath("plan", "config", "schema.yaml").read_text()
    return json.dumps(yaml.safe_load(text))


def effective_schema() -> dict[str, Any]:
    """The config JSON schema: the shipped ``schema.yaml`` plus every registry's names and
    settings, as registered now (a fresh copy: callers may change it)."""
    return _with_registries(json.loads(_shipped()))


def _deref(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    # keywords beside $ref (default, description) refine the referenced schema
    return {**node, **{k: v for k, v in schema.items() if k != "$ref"}}


def fill_defaults(instance: Any, schema: dict[str, Any], root: dict[str, Any]) -> None:
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
            instance[key] = _command_line_boolean(instance[key], sub)
            fill_defaults(instance[key], sub, root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key, value in instance.items():
            if key not in props:
                fill_defaults(value, extra, root)


_BOOLEAN_WORDS = {"true": True, "false": False}


def _command_line_boolean(value: Any, schema: dict[str, Any]) -> Any:
    """``--config key=true`` reaches the config as the string ``"true"`` (Snakemake reads only
    ``True``/``False`` as booleans): for a boolean key, read it as YAML would."""
    types = schema.get("type")
    boolean = types == "boolean" or (isinstance(types, list) and "boolean" in types)
    if boolean and isinstance(value, str) and value.lower() in _BOOLEAN_WORDS:
        return _BOOLEAN_WORDS[value.lower()]
    return value


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


def schema_problems(config: dict[str, Any], schema: dict[str, Any]) -> list[str]:
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


def _type_text(node: dict[str, Any], root: dict[str, Any]) -> str:
    node = _deref(node, root)
    if "oneOf" in node:
        return " or ".join(_type_text(n, root) for n in node["oneOf"])
    if "enum" in node:
        return "one of " + ", ".join(f"`{v}`" if v is not None else "`null`" for v in node["enum"])
    kind = node.get("type", "any")
    if kind == "object" and node.get("properties"):
        return "mapping {" + ", ".join(node["properties"]) + "}"
    kinds = kind if isinstance(kind, list) else [kind]
    text = " or ".join("null" if k == "null" else k for k in kinds)
    if "array" in kinds and isinstance(node.get("items"), dict):
        text = f"list of ({_type_text(node['items'], root)})"
    bounds = []
    for key, sign in (
        ("minimum", ">="),
        ("exclusiveMinimum", ">"),
        ("maximum", "<="),
        ("exclusiveMaximum", "<"),
    ):
        if key in node:
            value = node[key]
            bounds.append(f"{sign} {int(value) if float(value).is_integer() else value:,}")
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def _default_text(node: dict[str, Any]) -> str:
    if "default" not in node:
        return "required" if node.get("_required") else "-"
    value = node["default"]
    if isinstance(value, dict) and not value:
        return "-"
    return "`" + json.dumps(value) + "`"


def _rows(node: dict[str, Any], root: dict[str, Any], prefix: str, out: list[tuple[str, ...]]) -> None:
    node = _deref(node, root)
    props = node.get("properties")
    if props is None and isinstance(node.get("additionalProperties"), dict) and prefix.startswith("models"):
        _rows(node["additionalProperties"], root, prefix + ".<key>", out)
        return
    if props is None:
        desc = " ".join(str(node.get("description", "")).split()).replace("|", "\\|")
        out.append((f"`{prefix}`", _type_text(node, root).replace("|", "\\|"), _default_text(node), desc))
        return
    required = set(node.get("required", []))
    for key, sub in props.items():
        sub = dict(_deref(sub, root))
        sub["_required"] = key in required
        _rows(sub, root, f"{prefix}.{key}" if prefix else key, out)


def reference_markdown() -> str:
    """Every config key of the effective schema: its type and legal values, its default and what
    it means, one table per top-level section (``docs/config-reference.md``)."""
    schema = effective_schema()
    lines = [
        "# Config reference",
        "",
        "Generated from the effective schema (`src/absorbprune/plan/config/schema.yaml` plus every",
        "registry's methods and hyperparameters) by `python -m absorbprune.plan.config --reference`;",
        "`tests/plan/test_config.py` checks that this file is fresh. The defaults are the values of",
        "`config.yaml`, the embedded default run. How to use them: `docs/configuration.md`.",
    ]
    for section, node in schema["properties"].items():
        rows: list[tuple[str, ...]] = []
        _rows(node, schema, section, rows)
        lines += ["", f"## `{section}`", "", "| key | type | default | meaning |", "|---|---|---|---|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"
