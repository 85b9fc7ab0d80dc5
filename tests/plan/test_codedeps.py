"""Code dependencies are derived: each rule's params carry a hash of what its script's package code
does (its import closure, comments, docstrings and formatting removed), so exactly the jobs whose
code changed rerun."""

from __future__ import annotations

import re
from pathlib import Path

from absorbprune.plan.codedeps import code_hash, script_modules

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "src" / "absorbprune"
SCRIPTS = ROOT / "rules" / "scripts"


def _package(tmp_path: Path) -> tuple[Path, Path]:
    pkg = tmp_path / "absorbprune"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text('"""Module a."""\n\nfrom .b import thing\n')
    (pkg / "b.py").write_text("import os\n\ndef f():\n    from .sub import c\n\nthing = 1\n")
    (pkg / "sub" / "c.py").write_text("from .. import d\n")
    (pkg / "d.py").write_text(
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from .unused import T\n\n"
        'REF = "absorbprune.e:impl"  # a registry entry\n'
    )
    (pkg / "e.py").write_text('__data__ = ("data",)\n\ndef impl():\n    """Doc."""\n    return 1\n')
    (pkg / "data").mkdir()
    (pkg / "data" / "task.yaml").write_text("task: x\n")
    (pkg / "unused.py").write_text("")
    script = tmp_path / "script.py"
    script.write_text("from absorbprune.a import thing\nimport numpy\n")
    return pkg, script


def test_script_modules_follow_relative_lazy_transitive_imports_and_registry_references(tmp_path):
    """... and not the imports of ``if TYPE_CHECKING:`` blocks, which never run (unused.py)."""
    pkg, script = _package(tmp_path)
    found = {str(p.relative_to(pkg)) for p in script_modules(script, pkg)}
    assert found == {"__init__.py", "a.py", "b.py", "sub/__init__.py", "sub/c.py", "d.py", "e.py"}


def test_code_hash_ignores_comments_docstrings_and_formatting(tmp_path):
    pkg, script = _package(tmp_path)
    before = code_hash(script, pkg)
    (pkg / "a.py").write_text(
        '"""Module a, documented better."""\n\n# a comment\nfrom .b import (\n    thing,\n)\n'
    )
    (pkg / "e.py").write_text('__data__ = ("data",)\n\n\ndef impl():  # why\n    return 1\n')
    assert code_hash(script, pkg) == before


def test_code_hash_changes_with_code_and_with_declared_data(tmp_path):
    pkg, script = _package(tmp_path)
    before = code_hash(script, pkg)
    (pkg / "e.py").write_text('__data__ = ("data",)\n\ndef impl():\n    return 2\n')
    edited = code_hash(script, pkg)
    assert edited != before
    (pkg / "data" / "task.yaml").write_text("task: y\n")
    assert code_hash(script, pkg) != edited
    (pkg / "unused.py").write_text("x = 1\n")  # outside the closure
    assert code_hash(script, pkg) == code_hash(script, pkg)


def test_every_script_rule_passes_the_code_of_its_own_script():
    """A rule's ``code`` param hashes the same script its ``script:`` directive runs; no rule lists
    package modules as inputs (a comment would then rerun it)."""
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        for block in re.split(r"\n(?=rule )", smk.read_text()):
            script = re.search(r'script:\n\s+"scripts/(\w+)\.py"', block)
            if not script:
                continue
            code = re.findall(r'^\s+code=code\("(\w+)"\)', block, re.M)
            head = block.splitlines()[0]
            if head.startswith("rule report_table") or head.startswith("rule claims_page"):
                assert code == ["report_table"]
            elif head.startswith("rule valid_tokens"):
                assert code == ["ppl_tokens"]
            elif head.startswith("rule audit_tokens"):
                assert code == ["copy_file"]
            else:
                assert code == [script.group(1)], f"{smk.name}: {head}"
    rules = "".join(p.read_text() for p in (ROOT / "rules").glob("*.smk"))
    assert "script_code(" not in rules and not re.search(r"SRC\s*/", rules)


def _closure(script: str) -> set[str]:
    return {p.relative_to(PKG).as_posix() for p in script_modules(SCRIPTS / f"{script}.py", PKG)}


def test_the_model_loader_is_code_of_every_job_that_loads_a_model_and_of_no_other():
    loaders = ["calibrate", "calibration_tokens", "ppl_tokens", "sweep_magnitude", "sweep_prune"]
    for name in [
        *loaders,
        "prune_evaluate",
        "evaluate_dense",
        "export_model",
        "cell_weights",
        "weight_stats",
        "zeroshot_cell",
    ]:
        assert "models/loading.py" in _closure(name), name
    for name in ("allocate", "select", "aggregate", "findings", "convert_gguf"):
        assert "models/loading.py" not in _closure(name), name


def test_converting_a_gguf_file_runs_no_training_or_evaluation_code():
    """Editing the tiny-model trainer or the perplexity code must not re-convert SmolLM2 (and with
    it rerun the whole grid of a GGUF model)."""
    convert = _closure("convert_gguf")
    assert not {p for p in convert if p.startswith(("evaluation/", "pruning/", "calibration/"))}
    assert "models/training.py" not in convert and "models/training.py" in _closure("train_tiny")
    assert "models/tiny.py" not in convert  # families name its ArchSpec for annotations only
