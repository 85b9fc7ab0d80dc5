"""One place per concept: every axis's names come from its registry, code dependencies come from the
import graph, and adding a method is one function plus one registry entry."""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

from absorbprune.allocation import Allocation, BlockStats, allocate
from absorbprune.codedeps import script_modules
from absorbprune.config import ConfigError, load_schema, resolve
from absorbprune.grid import allocation_variants, cells
from absorbprune.registry import Entry, Hyper
from absorbprune.registry.allocators import ALLOCATORS, CORRECTIONS
from absorbprune.registry.models import FAMILIES, SOURCES
from absorbprune.registry.pruners import PRUNERS, STRUCTURES
from absorbprune.registry.tasks import ZEROSHOT_TASKS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = yaml.safe_load((ROOT / "config.yaml").read_text())


def test_schema_enums_are_the_registries():
    schema = load_schema()
    model = schema["$defs"]["model"]["properties"]
    assert model["family"]["enum"] == FAMILIES.names()
    assert model["source"]["enum"] == SOURCES.names()
    grid = schema["properties"]["grid"]["properties"]
    for key, registry in (
        ("pruners", PRUNERS),
        ("allocations", ALLOCATORS),
        ("structures", STRUCTURES),
        ("corrections", CORRECTIONS),
    ):
        assert grid[key]["items"]["enum"] == registry.names(), key


def test_every_registered_setting_has_a_schema_section_with_its_defaults():
    cfg = resolve({"models": DEFAULT["models"], "grid": {"models": ["smollm2"]}})  # defaults only
    for registry, section in (
        (ALLOCATORS, cfg["allocation"]),
        (CORRECTIONS, cfg["allocation"]),
        (PRUNERS, cfg["pruning"]),
        (ZEROSHOT_TASKS, cfg["evaluation"]["zeroshot"]),
    ):
        for name, entry in registry.items():
            for hp, spec in entry.hyper.items():
                assert section[name][hp] == spec.default, f"{registry.section}.{name}.{hp}"


def test_every_registered_implementation_loads():
    for registry in (FAMILIES, ALLOCATORS, CORRECTIONS, PRUNERS, ZEROSHOT_TASKS):
        for name, entry in registry.items():
            assert entry.load() is not None, (registry.axis, name)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(KeyError, match="valid"):
        ALLOCATORS["random"]
    with pytest.raises(ValueError, match="twice"):
        ALLOCATORS.add(Entry("owl", None, "again"))


def _tilt(stats: BlockStats, target: float, hp: dict) -> Allocation:
    depth = np.arange(len(stats.params), dtype=np.float64)
    return Allocation(target + hp["k"] * (depth - depth.mean()) / len(depth), "both")


@pytest.fixture
def tilt():
    """A throw-away allocator, registered for one test."""
    ALLOCATORS.add(Entry("tilt", _tilt, "a test allocator", hyper={"k": Hyper(0.1, "slope", sweep=True)}))
    yield
    ALLOCATORS.remove("tilt")


def test_a_registered_allocator_is_configurable_swept_and_allocated(tilt):
    cfg = copy.deepcopy(DEFAULT)
    cfg["grid"]["allocations"] = ["uniform", "tilt"]
    cfg["allocation"] = {"tilt": {"k": [0.1, 0.2]}}
    cfg = resolve(cfg)
    assert set(allocation_variants(cfg)) == {"uniform", "tilt-k0.1", "tilt-k0.2"}
    assert {c.allocation for c in cells(cfg)} == {"uniform", "tilt-k0.1", "tilt-k0.2"}
    stats = BlockStats(np.full(4, 10.0), {}, np.ones(4), np.ones(4))
    out = allocate("tilt", stats, 0.5, {"k": 0.2}, 0.0, 0.99)
    assert out.sparsity.mean() == pytest.approx(0.5) and np.all(np.diff(out.sparsity) > 0)
    bad = copy.deepcopy(cfg)
    bad["allocation"]["tilt"]["slope"] = 1
    with pytest.raises(ConfigError, match=r"allocation\.tilt"):
        resolve(bad)


def test_adding_an_allocator_is_one_function_and_one_entry(tmp_path):
    """The documented recipe, applied to a copy of the workflow: a dry run plans the new cells."""
    from test_workflow import copy_workflow, planned_jobs

    wf = copy_workflow(tmp_path)
    pkg = wf / "src" / "absorbprune"
    with (pkg / "allocation.py").open("a") as f:
        f.write(
            textwrap.dedent(
                '''

                def by_tilt(stats: BlockStats, target: float, hp: Mapping[str, Any]) -> Allocation:
                    """Sparsity rising linearly with depth, slope k."""
                    depth = np.arange(len(stats.params), dtype=np.float64)
                    return Allocation(target + hp["k"] * (depth - depth.mean()) / len(depth), "both")
                '''
            )
        )
    with (pkg / "registry" / "allocators.py").open("a") as f:
        f.write(
            'ALLOCATORS.add(Entry("tilt", "absorbprune.allocation:by_tilt", "test", '
            'hyper={"k": Hyper(0.1, "slope", sweep=True)}))\n'
        )
    (wf / "tilt.yaml").write_text(
        yaml.safe_dump(
            {
                "grid": {
                    "allocations": ["uniform", "tilt"],
                    "corrections": ["none", "absorption"],
                    "sparsities": [0.5, 0.7],
                },
                "calibration": {"seeds": [0]},
                "allocation": {"tilt": {"k": [0.1, 0.2]}},
            }
        )
    )
    jobs = planned_jobs(wf, "--configfile", "tilt.yaml")
    # (uniform + 2 tilt variants) x (none, absorption at gamma 0.05) x 2 sparsities, one seed
    assert jobs["allocate"] == 12 and jobs["prune_evaluate"] == 12


def test_script_modules_follow_relative_lazy_and_transitive_imports(tmp_path):
    pkg = tmp_path / "absorbprune"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import thing\n")
    (pkg / "b.py").write_text("import os\n\ndef f():\n    from .sub import c\n")
    (pkg / "sub" / "c.py").write_text("from .. import d\n")
    (pkg / "d.py").write_text("x = 1\n")
    (pkg / "unused.py").write_text("")
    script = tmp_path / "script.py"
    script.write_text("from absorbprune.a import thing\nimport numpy\n")
    found = {str(p.relative_to(pkg)) for p in script_modules(script, pkg)}
    assert found == {"__init__.py", "a.py", "b.py", "sub/__init__.py", "sub/c.py", "d.py"}


def test_every_script_rule_declares_the_code_of_its_own_script():
    """A rule's code input names the same script its `script:` directive runs."""
    import re

    for smk in sorted((ROOT / "rules").glob("*.smk")):
        for block in re.split(r"\n(?=rule )", smk.read_text()):
            script = re.search(r'script:\n\s+"scripts/(\w+)\.py"', block)
            if not script:
                continue
            code = re.findall(r'code=script_code\("(\w+)"\)', block)
            assert code == [script.group(1)], f"{smk.name}: {block.splitlines()[0]}"
    assert "code(" not in (ROOT / "rules" / "common.smk").read_text().replace("script_code(", "")


def test_models_py_is_a_dependency_of_every_job_that_loads_a_model():
    pkg = ROOT / "src" / "absorbprune"
    loaders = ["calibrate", "calibration_tokens", "ppl_tokens", "sweep_magnitude", "sweep_prune"]
    for name in [*loaders, "prune_evaluate", "evaluate_dense"]:
        assert pkg / "models.py" in script_modules(ROOT / "rules" / "scripts" / f"{name}.py", pkg), name
    assert pkg / "models.py" not in script_modules(ROOT / "rules" / "scripts" / "allocate.py", pkg)
