"""The docs name only config keys that exist: every backticked dotted key in README.md, docs/ and
bench/README.md resolves in the effective schema (a renamed key cannot leave a stale page behind)."""

from __future__ import annotations

import re
from pathlib import Path

from absorbprune.plan.config.schema import effective_schema

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = "|".join(("allow_network", "corpus", "tokenizer", "models", "datasets", "calibration", "sweeps"))
SECTIONS += "|allocation|pruning|evaluation|export|grid"
KEY = re.compile(rf"`((?:{SECTIONS})(?:\.[A-Za-z0-9_<>*-]+)+)(?:\[\d+\])?(?::[^`]*)?`")


def _resolve(schema: dict, key: str) -> bool:
    node = {"properties": schema["properties"]}
    parts = key.split(".")
    for i, part in enumerate(parts):
        props = node.get("properties", {})
        if part in props:
            node = props[part]
        elif i == 1 and parts[0] == "models":  # models.<key>: a model entry
            node = schema["$defs"]["model"]
            continue
        else:
            return False
        ref = node.get("$ref")
        if ref:
            node = schema["$defs"][ref.rsplit("/", 1)[1]]
        if node.get("type") == "array" and isinstance(node.get("items"), dict):
            node = node["items"]
        if "oneOf" in node:  # a value or a mapping of several shapes: any branch's keys
            node = {"properties": {k: v for b in node["oneOf"] for k, v in b.get("properties", {}).items()}}
    return True


def _documented_keys() -> dict[str, set[str]]:
    pages = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return {page.name: set(KEY.findall(page.read_text())) for page in pages}


def test_every_config_key_the_docs_name_exists_in_the_schema():
    schema = effective_schema()
    documented = _documented_keys()
    assert sum(len(k) for k in documented.values()) > 100  # the check finds the keys it is for
    missing = {page: sorted(k for k in keys if not _resolve(schema, k)) for page, keys in documented.items()}
    assert not {page: keys for page, keys in missing.items() if keys}


def test_the_check_catches_a_stale_key():
    schema = effective_schema()
    assert _resolve(schema, "allocation.paper.gamma") and _resolve(schema, "models.<key>.gguf.path")
    assert not _resolve(schema, "calibration.seed") and not _resolve(schema, "allocation.owl.lam")
