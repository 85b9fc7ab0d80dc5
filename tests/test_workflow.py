"""The workflow as a user runs it: DAG shape, config errors before any job, the micro config end to
end, and reruns that are exactly right after editing a stage module or a parameter.

Each test runs Snakemake in a throw-away copy of the workflow (Snakefile, rules, src, config), so
touching a module never disturbs the checkout.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from safetensors import safe_open

from absorbprune.provenance import META_KEY, read_parquet_provenance
from absorbprune.tables import layer_stats_schema

ROOT = Path(__file__).resolve().parents[1]
MICRO = ROOT / "tests" / "configs" / "micro.yaml"


def copy_workflow(dest: Path) -> Path:
    for name in ("Snakefile", "config.yaml"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("rules", "envs", "profiles"):
        shutil.copytree(ROOT / name, dest / name)
    shutil.copytree(ROOT / "src", dest / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    return dest


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
    out = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=900)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}")
    return out


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Rule -> job count of a dry run (its 'Job stats' table); {} when nothing is to be done."""
    out = snakemake(workdir, "--dry-run", *args)
    text = out.stdout + out.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:", 1)[1]
    jobs = {}
    for line in table.splitlines()[3:]:
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not m or m.group(1) == "total":
            break
        jobs[m.group(1)] = int(m.group(2))
    return jobs


def test_dry_run_dag_shape_of_the_default_config(tmp_path):
    wf = copy_workflow(tmp_path)
    assert planned_jobs(wf) == {
        "corpus": 1,
        "tokenizer": 1,
        "corpus_ids": 2,  # train + valid streams
        "train_tiny": 2,
        "calibration_tokens": 2,
        "calibrate": 2,
        "sweep_magnitude": 2,
        "sweep_prune": 8,  # 2 models x (grid 0.5, 0.7 + extra 0.3, 0.9)
        "absorption": 8,
        "findings": 2,
        "sweep_figures": 2,
        "sweep_summary": 1,
        "allocate": 40,  # 2 models x 5 allocations x 2 corrections x 2 sparsities
        "allocation_summary": 1,
        "prune": 40,
        "prune_dense": 2,
        "pruning_summary": 1,
        "ppl_tokens": 2,
        "ppl": 40,
        "ppl_dense": 2,
        "ppl_summary": 1,
        "all": 1,
    }


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"grid": {"sparsities": [0.5, 1.0]}}, "grid.sparsities[1]"),
        ({"grid": {"pruners": ["wanda", "obs"]}}, "grid.pruners[1]"),
        ({"grid": {"allocations": ["owl", "random"]}}, "grid.allocations[1]"),
        ({"models": {"tiny-opt": {"family": "bloom"}}}, "models.tiny-opt.family"),
        ({"models": {"mine": {"source": "local", "family": "llama", "path": "/absent"}}}, "models.mine.path"),
    ],
)
def test_bad_config_fails_before_any_job_naming_the_key(tmp_path, override, key):
    wf = copy_workflow(tmp_path)
    (wf / "bad.yaml").write_text(yaml.safe_dump(override))
    out = snakemake(wf, "--configfile", "bad.yaml", check=False)
    assert out.returncode != 0
    assert key in out.stdout + out.stderr
    assert not (wf / "results").exists(), "a job ran before validation failed"


@pytest.fixture(scope="module")
def micro_run(tmp_path_factory):
    wf = copy_workflow(tmp_path_factory.mktemp("micro"))
    shutil.copy2(MICRO, wf / "micro.yaml")
    snakemake(wf, "--configfile", "micro.yaml")
    return wf


def test_micro_run_writes_every_artifact_with_provenance(micro_run):
    res = micro_run / "results"
    micro = yaml.safe_load(MICRO.read_text())
    for model in ("micro-llama", "micro-opt"):
        with safe_open(res / "calibration" / model / "tokens.safetensors", "pt") as f:
            ids = f.get_tensor("input_ids")
            assert META_KEY in f.metadata()
        assert ids.dtype == torch.int64 and ids.shape == (4, 32)

        stats = pd.read_parquet(res / "calibration" / model / "layer_stats.parquet")
        assert list(stats.columns) == layer_stats_schema([3, 5]).names
        n_blocks = micro["models"][model]["arch"]["n_blocks"]
        assert sorted(stats["block"].unique()) == list(range(n_blocks))
        assert (stats["n_tokens"] == 4 * 32).all()
        assert stats[["alpha_peak", "block_lod_m5", "block_dlp_score"]].notna().all().all()
        prov = read_parquet_provenance(res / "calibration" / model / "layer_stats.parquet")
        assert prov["stage"] == "calibration" and prov["seeds"] == {"calibration": 0}
        assert prov["config"]["grid"]["models"] == ["micro-llama", "micro-opt"]

        with safe_open(res / "calibration" / model / "input_norms.safetensors", "pt") as f:
            assert len(f.keys()) == len(stats)
        summary = pd.read_parquet(res / "training" / model / "summary.parquet")
        assert summary["valid_ppl_before"].iloc[0] == summary["valid_ppl_after"].iloc[0]  # steps: 0

    info = yaml.safe_load((res / "corpus" / "info.json").read_text())
    assert info["python_version"] == ".".join(map(str, sys.version_info[:3]))
    assert len(info["corpus_sha256"]) == 64
    assert not list(res.rglob("*.tmp")), "a temporary file was left behind"


def test_micro_run_writes_the_sweep_tables_and_figures(micro_run):
    res = micro_run / "results"
    required = {
        "absorption": ["model", "sparsity", "block", "coefficient", "d_inject", "d_final"],
        "drift": ["model", "kind", "inject_block", "magnitude", "seed", "depth", "rel_l2", "cos"],
        "findings": [
            "model",
            "share_absorbing",
            "first_absorbing_block",
            "drift_depth_spearman",
            "small_eps_all_amplify",
        ],
    }
    for name, columns in required.items():
        table = pd.read_parquet(res / "summary" / f"{name}.parquet")
        assert set(columns) <= set(table.columns), name
        assert set(table["model"]) == {"micro-llama", "micro-opt"}
        assert read_parquet_provenance(res / "summary" / f"{name}.parquet")["stage"] == "summary"
    drift = pd.read_parquet(res / "summary" / "drift.parquet")
    # per model: gaussian 4 blocks x 4 eps x 2 seeds, prune_dir 4 x 4, prune 4 x 2 sparsities; each
    # injection at k has depths k..4 (14 rows over the 4 injection blocks)
    per_model = drift.groupby(["model", "kind"]).size().unstack()
    assert per_model.loc["micro-llama"].to_dict() == {
        "gaussian": 4 * 2 * 14,
        "prune": 2 * 14,
        "prune_dir": 4 * 14,
    }
    assert drift[["rel_l2", "cos"]].notna().all().all()
    absorption = pd.read_parquet(res / "summary" / "absorption.parquet")
    assert sorted(absorption["sparsity"].unique()) == [0.5, 0.7]
    for model in ("micro-llama", "micro-opt"):
        for fig in ("drift_depth", "transition", "absorption"):
            assert (res / "figures" / model / f"{fig}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_micro_run_allocations_and_achieved_sparsity(micro_run):
    res = micro_run / "results"
    alloc = pd.read_parquet(res / "summary" / "allocations.parquet")
    assert {
        "model",
        "allocation",
        "correction",
        "sparsity",
        "block",
        "block_sparsity",
        "block_params",
    } <= set(alloc.columns)
    assert len(alloc.groupby(["model", "allocation_variant", "correction_variant", "sparsity"])) == 20
    assert (alloc["achieved_mean_weighted"] - alloc["sparsity"]).abs().max() < 1e-12
    pruned = pd.read_parquet(res / "summary" / "pruning.parquet")
    cells = pruned[pruned["pruner"] != "dense"]
    merged = cells.merge(
        alloc,
        left_on=["model", "allocation", "correction", "sparsity", "block"],
        right_on=["model", "allocation_variant", "correction_variant", "sparsity", "block"],
    )
    assert len(merged) == len(cells)  # every pruned linear has its block's allocation
    assert (merged["target_sparsity"] == merged["block_sparsity"]).all()
    for _, part in cells.groupby(["model", "allocation", "correction"]):
        expected = (part["target_sparsity"] * part["params"]).sum()
        rows = len(part)  # at most one weight per output row is lost to rounding; C_out >= 16 here
        assert abs(part["zeros"].sum() - expected) <= 64 * rows
    nm = cells[cells["structure"] == "2:4"]
    assert set(nm["model"]) == {"micro-llama", "micro-opt"} and (nm["zeros"] * 2 == nm["params"]).all()
    dense = pruned[pruned["pruner"] == "dense"]
    assert set(dense["model"]) == {"micro-llama", "micro-opt"} and (dense["zeros"] == 0).all()
    assert not list(res.glob("pruned/**/weights.safetensors")), "pruned weights are deleted once evaluated"


def test_micro_run_perplexity_of_every_cell(micro_run):
    res = micro_run / "results"
    ppl = pd.read_parquet(res / "summary" / "ppl.parquet")
    assert len(ppl) == 22 + 2  # every cell and one dense reference per model
    assert ppl["ppl"].gt(1).all() and (ppl["ppl_dataset"] == "local").all()
    with safe_open(res / "eval" / "micro-llama" / "ppl_tokens.safetensors", "pt") as f:
        tokens = f.get_tensor("input_ids")
    assert tokens.dtype == torch.int64 and tokens.shape[0] == 1
    assert (ppl["n_windows"] == tokens.shape[1] // 32).all()


def test_built_in_model_directory_loads_with_transformers(micro_run):
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    path = micro_run / "results" / "models" / "micro-opt"
    model = AutoModelForCausalLM.from_pretrained(path)
    tok = PreTrainedTokenizerFast.from_pretrained(path)
    assert model.config.model_type == "opt" and len(tok) == model.config.vocab_size


def test_finished_run_plans_nothing(micro_run):
    assert planned_jobs(micro_run, "--configfile", "micro.yaml") == {}


# In the micro config the prune sweep covers 0.5 (grid) and 0.7 (extra): 2 models x 2 sparsities.
# The grid: 2 models x 5 allocations x 2 corrections x 1 sparsity = 20 unstructured cells, half of
# them corrected, plus one 2:4 cell per model (on the uniform allocation at 0.5).
PRUNE_DOWN = {"allocation_summary": 1, "pruning_summary": 1, "ppl_summary": 1, "all": 1}
ALL_CELLS = {"allocate": 20, "prune": 22, "ppl": 22, **PRUNE_DOWN}
CORRECTED_CELLS = {"allocate": 10, "prune": 10, "ppl": 10, **PRUNE_DOWN}
EVAL_DENSE = {"prune_dense": 2, "ppl_tokens": 2, "ppl_dense": 2}
SWEEPS_DOWN = {
    "sweep_magnitude": 2,
    "sweep_prune": 4,
    "absorption": 4,
    "findings": 2,
    "sweep_figures": 2,
    "sweep_summary": 1,
    "all": 1,
}
ABSORPTION_DOWN = {"absorption": 4, "findings": 2, "sweep_figures": 2, "sweep_summary": 1, "all": 1}


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"calibration": {"owl_M": [2, 5]}}, {"calibrate": 2, **SWEEPS_DOWN, **ALL_CELLS}),
        ({"allocation": {"absorption": {"gamma": 0.1}}}, CORRECTED_CELLS),
        ({"allocation": {"owl": {"lambda": 0.05}}}, {"allocate": 4, "prune": 4, "ppl": 4, **PRUNE_DOWN}),
        (
            {"pruning": {"batch_size": 3}},
            {"prune": 22, "ppl": 22, "pruning_summary": 1, "ppl_summary": 1, "all": 1},
        ),
        (
            {"sweeps": {"seeds": [0, 1, 2]}},
            {"sweep_magnitude": 2, "findings": 2, "sweep_figures": 2, "sweep_summary": 1, "all": 1},
        ),
        (
            {"sweeps": {"main_sparsity": 0.5}},
            {"findings": 2, "sweep_figures": 2, "sweep_summary": 1, "all": 1},
        ),
    ],
)
def test_parameter_change_reruns_only_what_depends_on_it(micro_run, override, expected):
    (micro_run / "override.yaml").write_text(yaml.safe_dump(override))
    assert planned_jobs(micro_run, "--configfile", "micro.yaml", "override.yaml") == expected


def test_adding_a_sparsity_adds_only_its_own_jobs(micro_run):
    (micro_run / "more.yaml").write_text(yaml.safe_dump({"grid": {"sparsities": [0.5, 0.6]}}))
    jobs = planned_jobs(micro_run, "--configfile", "micro.yaml", "more.yaml")
    assert jobs == {
        "sweep_prune": 2,
        "absorption": 2,
        "sweep_figures": 2,
        "sweep_summary": 1,
        "allocate": 20,
        "prune": 20,
        "ppl": 20,
        **PRUNE_DOWN,
    }


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("calibration", {"calibrate": 2, **SWEEPS_DOWN, **ALL_CELLS}),
        (
            "data",
            {
                "corpus_ids": 2,
                "train_tiny": 2,
                "calibration_tokens": 2,
                "calibrate": 2,
                **SWEEPS_DOWN,
                **ALL_CELLS,
                **EVAL_DENSE,
            },
        ),
        (
            "zoo",
            {
                "train_tiny": 2,
                "calibration_tokens": 2,
                "calibrate": 2,
                **SWEEPS_DOWN,
                **ALL_CELLS,
                **EVAL_DENSE,
            },
        ),
        ("sweeps", {**SWEEPS_DOWN, **CORRECTED_CELLS}),
        ("absorption", {**ABSORPTION_DOWN, **CORRECTED_CELLS}),
        ("figures", {"sweep_figures": 2, "all": 1}),
        ("allocation", ALL_CELLS),
        # the prune sweep injects with pruning.wanda_mask, so the sweeps and corrected allocations rerun too
        ("pruning", {**SWEEPS_DOWN, **CORRECTED_CELLS, "prune": 22, "ppl": 22, "prune_dense": 2}),
        # pruned weights are temporary: re-evaluating a cell re-prunes it (pruning.keep_weights avoids that)
        (
            "evaluation",
            {"prune": 22, "ppl": 22, "ppl_dense": 2, "pruning_summary": 1, "ppl_summary": 1, "all": 1},
        ),
    ],
)
def test_editing_a_stage_module_reruns_that_stage_and_downstream(micro_run, module, expected):
    # A real edit: Snakemake 9 ignores a newer mtime when the content checksum is unchanged.
    path = micro_run / "src" / "absorbprune" / f"{module}.py"
    original = path.read_text()
    try:
        path.write_text(original + "\n# an edit\n")
        assert planned_jobs(micro_run, "--configfile", "micro.yaml") == expected
    finally:
        path.write_text(original)


def test_prefetch_refuses_to_run_offline(tmp_path):
    wf = copy_workflow(tmp_path)
    out = snakemake(wf, "prefetch", "--show-failed-logs", check=False)
    assert out.returncode != 0
    assert "allow_network=true" in out.stdout + out.stderr
    assert not (wf / "results" / "prefetch" / "manifest.json").exists()
