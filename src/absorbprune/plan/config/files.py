"""Config files read strictly, before Snakemake merges them.

Snakemake keeps the last of duplicate YAML keys silently and names no file on a syntax error; these
readers name the file and line. Light (no torch): the Snakefile runs them at parse time.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

__all__ = ["check_config_files", "merge", "read_config_file"]


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


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Snakemake's merge of config files: nested mappings merge key by key, anything else replaces."""
    out = dict(base)
    for key, value in over.items():
        out[key] = (
            merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out
