"""The task, group and tag names lm-eval can load, read from its task files without importing it.

``lm_eval.tasks.TaskManager`` parses every task YAML with its includes (about 15 s for the 14,000
files of lm-eval 0.4.13, plus the import); the workflow checks task names every time Snakemake
parses it, so it reads the files' text instead (under a second). The names found are a superset of
``TaskManager().all_tasks`` (a test checks this against the installed lm-eval): a name missing from
it is certainly unknown, so rejecting it at parse time never rejects a task lm-eval could load. The
job still loads the tasks through lm-eval itself and fails naming the remedy if one is unavailable.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import re
from pathlib import Path

__all__ = ["close_matches", "known_task_names", "tasks_dir"]

# `task: x`, `"group": x`, `- task: x` (an entry of a group's task list), at any indent
_KEY = re.compile(r"""^[ \t]*(?:-[ \t]+)?["']?(?:task|group|tag)["']?[ \t]*:[ \t]*(.*)$""")
_ITEM = re.compile(r"^[ \t]*-[ \t]+(.*)$")
_COMMENT = re.compile(r"\s+#.*$")
# Task configs are YAML files and their include templates (`_default_template_yaml`, ...), some of
# which have no .yaml suffix; these suffixes are never configs.
_NOT_CONFIG = {".py", ".pyc", ".md", ".json", ".jsonl", ".sh", ".txt", ".csv", ".tsv", ".parquet"}


def tasks_dir() -> Path | None:
    """The installed lm-eval's ``tasks`` directory (None when lm-eval is not installed)."""
    spec = importlib.util.find_spec("lm_eval")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "tasks"


def _clean(value: str) -> str:
    return _COMMENT.sub("", value).strip().strip("'\"")


def _names_in(text: str) -> set[str]:
    names: set[str] = set()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = _KEY.match(line)
        if match is None:
            continue
        value = _clean(match.group(1))
        if value.startswith("["):  # flow list: tag: [a, b]
            names.update(_clean(v) for v in value.strip("[]").split(","))
        elif value:
            names.add(value)
        else:  # block list on the following lines
            for item in lines[i + 1 :]:
                entry = _ITEM.match(item)
                if entry is None:
                    break
                names.add(_clean(entry.group(1)))
    return {n for n in names if n}


@functools.cache
def known_task_names(root: Path | None = None) -> frozenset[str]:
    """Every name a task file under ``root`` (default: the installed lm-eval's) defines as a task,
    group or tag. Empty when lm-eval is not installed."""
    root = root if root is not None else tasks_dir()
    if root is None or not root.is_dir():
        return frozenset()
    names: set[str] = set()
    for path in root.rglob("*"):
        if path.suffix in _NOT_CONFIG or "__pycache__" in path.parts or not path.is_file():
            continue
        names |= _names_in(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(names)


def close_matches(name: str, known: frozenset[str] | set[str], n: int = 3) -> list[str]:
    """Up to ``n`` known names that look like ``name`` (a typo's likely intent)."""
    lower = {k.lower(): k for k in known}
    return [lower[m] for m in difflib.get_close_matches(name.lower(), list(lower), n=n, cutoff=0.75)]
