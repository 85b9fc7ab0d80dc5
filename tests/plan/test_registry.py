"""One place per concept: every axis's names come from its registry, a registry owns its axis (names
fit a path, typed facts, legal ranges), and adding a method is one function plus one entry."""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

from absorbprune.allocation.allocators import Allocation, BlockStats, allocate
from absorbprune.plan.cell import nm_of
from absorbprune.plan.config.errors import ConfigError
from absorbprune.plan.config.schema import effective_schema
from absorbprune.plan.config.validate import resolve
from absorbprune.plan.grid import allocation_variants, cells
from absorbprune.registry.allocators import ALLOCATORS, CORRECTIONS, CorrectionMeta
from absorbprune.registry.base import Entry, Hyper, Registry
from absorbprune.registry.models import FAMILIES, SOURCES, FamilyMeta
from absorbprune.registry.pruners import PRUNERS, STRUCTURES
from absorbprune.registry.tasks import ZEROSHOT_TASKS

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = yaml.safe_load((ROOT / "config.yaml").read_text())


def test_schema_enums_are_the_registries():
    schema = effective_schema()
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


@pytest.mark.parametrize("name", ["my-method", "Owl", "2owl", "owl.v2", ""])
def test_a_name_that_cannot_be_a_path_component_or_variant_is_refused(name):
    """Variant names are '<method>-<hp><value>' and figures, exports and tables split them on '-'."""
    with pytest.raises(ValueError, match="does not match"):
        Registry("thing").add(Entry(name, None, "x"))


def test_entry_metadata_is_typed_per_axis():
    with pytest.raises(ValueError, match="meta must be CorrectionMeta"):
        Registry("correction", meta=CorrectionMeta).add(Entry("x", None, "x", meta={"reads": ()}))
    with pytest.raises(ValueError, match="meta must be None"):
        Registry("allocation").add(Entry("x", None, "x", meta=FamilyMeta(())))
    for registry in (SOURCES, FAMILIES, CORRECTIONS, STRUCTURES, ZEROSHOT_TASKS):
        assert all(isinstance(e.meta, registry.meta_type) for e in registry.values()), registry.axis


def test_every_hyperparameter_has_a_legal_range_and_the_schema_enforces_it():
    with pytest.raises(ValueError, match="legal range"):
        Hyper(0.1, "unbounded", minimum=0.0)
    with pytest.raises(ValueError, match="choices"):
        Hyper("a", "a string without choices", kind="string")
    for registry in (ALLOCATORS, CORRECTIONS, PRUNERS, ZEROSHOT_TASKS):
        for name, entry in registry.items():
            for hp, spec in entry.hyper.items():
                if spec.kind in ("number", "integer"):
                    assert spec.minimum is not None and spec.maximum is not None, (name, hp)
    # OWL's lambda spreads block sparsities by 2 lambda: 1e20 sent every block to a bound
    cfg = copy.deepcopy(DEFAULT)
    cfg["allocation"]["owl"]["lambda"] = 1e20
    with pytest.raises(ConfigError, match=r"allocation\.owl\.lambda"):
        resolve(cfg)


def test_the_structure_registry_and_the_cell_parse_n_m_alike():
    for name, entry in STRUCTURES.items():
        assert nm_of(name) == entry.meta.nm, name


def _tilt(stats: BlockStats, target: float, hp: dict) -> Allocation:
    depth = np.arange(len(stats.params), dtype=np.float64)
    return Allocation(target + hp["k"] * (depth - depth.mean()) / len(depth), "both")


@pytest.fixture
def tilt():
    """A throw-away allocator, registered for one test."""
    slope = Hyper(0.1, "slope", minimum=0.0, maximum=1.0, sweep=True)
    ALLOCATORS.add(Entry("tilt", _tilt, "a test allocator", hyper={"k": slope}))
    yield
    ALLOCATORS.remove("tilt")


def test_a_registered_allocator_is_configurable_swept_and_allocated(tilt):
    cfg = copy.deepcopy(DEFAULT)
    cfg["grid"]["allocations"] = ["uniform", "tilt"]
    cfg["allocation"] = {"tilt": {"k": [0.1, 0.2]}}
    cfg = resolve(cfg)
    assert set(allocation_variants(cfg)) == {"uniform", "tilt-k0.1", "tilt-k0.2"}
    assert {c.allocation_variant for c in cells(cfg)} == {"uniform", "tilt-k0.1", "tilt-k0.2"}
    assert {c.allocation for c in cells(cfg)} == {"uniform", "tilt"}
    stats = BlockStats(np.full(4, 10.0), {}, np.ones(4), np.ones(4))
    out = allocate("tilt", stats, 0.5, {"k": 0.2}, 0.0, 0.99)
    assert out.sparsity.mean() == pytest.approx(0.5) and np.all(np.diff(out.sparsity) > 0)
    bad = copy.deepcopy(cfg)
    bad["allocation"]["tilt"]["slope"] = 1
    with pytest.raises(ConfigError, match=r"allocation\.tilt"):
        resolve(bad)


def test_adding_an_allocator_is_one_function_and_one_entry(tmp_path):
    """The documented recipe, applied to a copy of the workflow: a dry run plans the new cells."""
    from helpers import copy_workflow, planned_jobs

    wf = copy_workflow(tmp_path)
    pkg = wf / "src" / "absorbprune"
    with (pkg / "allocation" / "allocators.py").open("a") as f:
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
            'ALLOCATORS.add(Entry("tilt", "absorbprune.allocation.allocators:by_tilt", "test", '
            'hyper={"k": Hyper(0.1, "slope", minimum=0.0, maximum=1.0, sweep=True)}))\n'
        )
    (wf / "tilt.yaml").write_text(
        yaml.safe_dump(
            {
                "grid": {
                    "allocations": ["uniform", "tilt"],
                    "corrections": ["none", "absorption"],
                    "sparsities": [0.5, 0.6],
                    "models": ["smollm2"],
                },
                "calibration": {"seeds": [0]},
                "allocation": {"tilt": {"k": [0.1, 0.2]}},
            }
        )
    )
    jobs = planned_jobs(wf, "--configfile", "tilt.yaml")
    # (uniform + 2 tilt variants) x (none, absorption at gamma 0.05) x 2 sparsities, one seed
    assert jobs["allocate"] == 12 and jobs["prune_evaluate"] == 12
