"""The workflow as a user runs it: DAG shape, config errors before any job, the micro config end to
end, and reruns that are exactly right after editing a stage module or a parameter.

Each test runs Snakemake in a throw-away copy of the workflow (Snakefile, rules, src, config), so
touching a module never disturbs the checkout.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from safetensors import safe_open

from absorbprune.provenance import META_KEY, read_parquet_provenance
from absorbprune.summary import summarize
from absorbprune.tables import layer_stats_schema

ROOT = Path(__file__).resolve().parents[1]
MICRO = ROOT / "tests" / "configs" / "micro.yaml"


def copy_workflow(dest: Path) -> Path:
    for name in ("Snakefile", "config.yaml"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("rules", "envs", "profiles", "presets"):
        shutil.copytree(ROOT / name, dest / name)
    shutil.copytree(ROOT / "src", dest / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    return dest


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
    # a guard against a hung run, sized to CI's 90 minutes, not to a quiet machine
    out = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=2400)
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
        "corpus": 1,  # the built-in corpus: calibration, perplexity, validation and codeline text
        "convert_gguf": 1,  # SmolLM2's GGUF file -> results/models/smollm2 (no tokenizer or training jobs)
        "calibration_tokens": 3,  # one calibration set per seed
        "audit_tokens": 1,
        "calibrate": 3,
        "sweep_magnitude": 3,
        "sweep_prune": 3,  # 0.7 per seed (no extra sparsities in the default)
        "absorption": 3,
        "paper_coefficients": 3,
        "findings": 1,
        "sweep_figures": 1,
        "sweep_summary": 1,
        # (owl, alphapruning) x (none + paper, absorption, depth, shuffled, flipped at gamma 0.05)
        # x 0.7 x 3 seeds; gamma 0 is the base's own cell
        "allocate": 36,
        "allocation_summary": 1,
        "prune_evaluate": 36,  # prunes a cell and measures it (perplexity, zero-shot) in one job
        "evaluate_dense": 1,
        "pruning_summary": 1,
        "ppl_tokens": 1,
        "valid_tokens": 1,
        "zeroshot_data": 1,
        "select": 1,
        "aggregate": 1,
        "paper_claims": 1,
        "claims_page": 1,
        "grid_figures": 1,
        "report_table": 12,
        "verdict_page": 1,  # the report's first page
        "export_allocations": 1,  # every allocation as JSON, one job
        "export_model": 1,  # export.models: OWL + the paper's correction, as selected
        "all": 1,
    }


def test_dry_run_with_tiny_models_beside_the_gguf_model(tmp_path):
    """Both model-writing rules claim results/models/{model}: each only for its own source."""
    wf = copy_workflow(tmp_path)
    (wf / "both.yaml").write_text(yaml.safe_dump({"grid": {"models": ["smollm2", "tiny-llama"]}}))
    jobs = planned_jobs(wf, "--configfile", "both.yaml")
    assert jobs["convert_gguf"] == 1 and jobs["train_tiny"] == 1 and jobs["tokenizer"] == 1


def test_a_tiny_sparsity_round_trips_through_the_path_tags(tmp_path):
    """str(1e-05) is '1e-05': every wildcard matches the tags this config writes, so a legal tiny
    sparsity plans its cells instead of failing at DAG building."""
    wf = copy_workflow(tmp_path)
    (wf / "tiny.yaml").write_text(
        yaml.safe_dump({"grid": {"sparsities": [1e-05]}, "sweeps": {"extra_sparsities": [0.7]}})
    )
    jobs = planned_jobs(wf, "--configfile", "tiny.yaml")
    assert jobs["prune_evaluate"] == 36 and jobs["sweep_prune"] == 6  # 2 sparsities x 3 seeds


def test_paper_preset_dry_run_lists_every_job(tmp_path):
    wf = copy_workflow(tmp_path)
    # corrections: none + (paper, absorption and the three controls) x 2 non-zero gammas
    models, pruners, allocations, corrections, sparsities, seeds = 5, 2, 5, 1 + 5 * 2, 4, 3
    cells = models * pruners * allocations * corrections * sparsities * seeds
    per_model = {
        "calibration_tokens": seeds,  # C4: no built-in corpus, tokenizer or training jobs
        "audit_tokens": 1,
        "calibrate": seeds,
        "sweep_magnitude": seeds,
        "sweep_prune": (sparsities + 2) * seeds,  # the grid's plus sweeps.extra_sparsities
        "absorption": (sparsities + 2) * seeds,
        "paper_coefficients": seeds,
        "findings": 1,
        "sweep_figures": 1,
        "grid_figures": 1,
        "ppl_tokens": 1,
        "valid_tokens": 1,
        "evaluate_dense": 1,
    }
    expected = {rule: n * models for rule, n in per_model.items()}
    expected |= {
        "allocate": cells,  # per pruner: AlphaPruning's eps is set per (model, pruner)
        "prune_evaluate": cells,  # pruning, perplexity and the seven tasks in one job per cell
        "allocation_summary": 1,
        "sweep_summary": 1,
        "pruning_summary": 1,
        "select": 1,
        "aggregate": 1,
        "paper_claims": 1,
        "claims_page": 1,
        "report_table": 12,
        "verdict_page": 1,
        "export_allocations": 1,
        "export_model": models * pruners,  # the shipped entry: OWL + paper, selected, per model x pruner
        "all": 1,
    }
    assert planned_jobs(wf, "--configfile", "presets/paper.yaml") == expected
    assert sum(expected.values()) == 13495 + 12


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
    out = snakemake(wf, "--configfile", "micro.yaml")
    (wf / "terminal.log").write_text(out.stdout + out.stderr)
    return wf


def test_the_terminal_log_is_one_line_per_job(micro_run):
    """The default profile's logger: one line per finished job naming its cell and duration, the
    training's progress, the job table; no per-job blocks, no 'Shell command: None'."""
    text = (micro_run / "terminal.log").read_text()
    total = int(re.search(r"^total\s+(\d+)$", text, re.M).group(1))
    done = re.findall(r"^\[\s*(\d+)/(\d+)\] (\w+) +(\S*) +[\d.]+ (?:s|min)$", text, re.M)
    assert [int(d) for d, *_ in done] == list(range(1, total + 1)), text[-3000:]
    cells = {(rule, cell) for _, _, rule, cell in done}
    assert ("train_tiny", "micro-llama") in cells and any(r == "prune_evaluate" and c for r, c in cells)
    assert re.search(r"^ +train_tiny micro-llama: training 0 steps of \d+ sequences", text, re.M)
    assert "Shell command" not in text and "rule prune_evaluate:" not in text
    assert max(len(line) for line in text.splitlines() if line.startswith("[")) <= 100


def test_micro_run_writes_every_artifact_with_provenance(micro_run):
    res = micro_run / "results"
    micro = yaml.safe_load(MICRO.read_text())
    for model in ("micro-llama", "micro-opt"):
        with safe_open(res / "calibration" / model / "tokens.safetensors", "pt") as f:
            ids = f.get_tensor("input_ids")
            assert META_KEY in f.metadata()
        assert ids.dtype == torch.int64 and ids.shape == (4, 32)
        # each calibration seed draws its own set; the audit copy is the first seed's
        seeds = {}
        for seed in (0, 1):
            with safe_open(res / "calibration" / model / f"seed{seed}" / "tokens.safetensors", "pt") as f:
                seeds[seed] = f.get_tensor("input_ids")
        assert torch.equal(seeds[0], ids) and not torch.equal(seeds[0], seeds[1])

        stats = pd.read_parquet(res / "calibration" / model / "seed0" / "layer_stats.parquet")
        assert list(stats.columns) == layer_stats_schema([3, 5]).names
        n_blocks = micro["models"][model]["arch"]["n_blocks"]
        assert sorted(stats["block"].unique()) == list(range(n_blocks))
        assert (stats["n_tokens"] == 4 * 32).all()
        assert stats[["alpha_peak", "block_lod_m5", "block_dlp_score"]].notna().all().all()
        prov = read_parquet_provenance(res / "calibration" / model / "seed0" / "layer_stats.parquet")
        assert prov["stage"] == "calibration" and prov["seeds"] == {"calibration": 0}
        prov = read_parquet_provenance(res / "calibration" / model / "seed1" / "layer_stats.parquet")
        assert prov["seeds"] == {"calibration": 1}
        assert prov["config"]["grid"]["models"] == ["micro-llama", "micro-opt"]

        with safe_open(res / "calibration" / model / "seed0" / "input_norms.safetensors", "pt") as f:
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
        "absorption": ["model", "sparsity", "block", "coefficient", "d_inject", "d_final", "seed"],
        "drift": [
            "model",
            "kind",
            "inject_block",
            "magnitude",
            "seed",
            "depth",
            "rel_l2",
            "cos",
            "calibration_seed",
        ],
        "local_gains": ["model", "block", "local_gain", "local_gain_se", "amplifies"],
        "paper_coefficients": ["model", "seed", "eta", "block", "r_last_block", "r_final_norm"],
        "findings": [
            "model",
            "share_absorbing",
            "first_absorbing_block",
            "drift_depth_spearman",
            "small_eps_all_amplify",
            "amplifying_blocks_local",
            "max_local_gain",
        ],
    }
    for name, columns in required.items():
        table = pd.read_parquet(res / "summary" / f"{name}.parquet")
        assert set(columns) <= set(table.columns), name
        assert set(table["model"]) == {"micro-llama", "micro-opt"}
        assert read_parquet_provenance(res / "summary" / f"{name}.parquet")["stage"] == "summary"
    drift = pd.read_parquet(res / "summary" / "drift.parquet")
    # per model and calibration seed: gaussian 4 blocks x 5 eps x 2 direction seeds, prune_dir
    # 4 x 5, prune 4 x 2 sparsities; each injection at k has depths k..4 (14 rows over 4 blocks)
    per_model = drift.groupby(["model", "kind"]).size().unstack()
    assert per_model.loc["micro-llama"].to_dict() == {
        "gaussian": 2 * 5 * 2 * 14,
        "prune": 2 * 2 * 14,
        "prune_dir": 2 * 5 * 14,
    }
    assert sorted(drift["calibration_seed"].unique()) == [0, 1]
    paper = pd.read_parquet(res / "summary" / "paper_coefficients.parquet")
    assert len(paper) == 2 * 2 * 5 * 4 and (paper["r_last_block"] > 0).all()  # models x seeds x eta x blocks
    gains = pd.read_parquet(res / "summary" / "local_gains.parquet")
    assert sorted(gains["block"].unique()) == [1, 2, 3, 4] and gains["local_gain_se"].notna().all()
    assert drift[["rel_l2", "cos"]].notna().all().all()
    absorption = pd.read_parquet(res / "summary" / "absorption.parquet")
    assert sorted(absorption["sparsity"].unique()) == [0.5, 0.7] and sorted(absorption["seed"].unique()) == [
        0,
        1,
    ]
    for model in ("micro-llama", "micro-opt"):
        for fig in ("drift_depth", "transition", "absorption", "local_gains"):
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
    # 2 models x 2 seeds x (owl x 6 corrections and controls + uniform for 2:4)
    assert len(alloc.groupby(["model", "allocation_variant", "correction_variant", "sparsity", "seed"])) == 28
    assert (alloc["achieved_mean_weighted"] - alloc["sparsity"]).abs().max() < 1e-12
    pruned = pd.read_parquet(res / "summary" / "pruning.parquet")
    cells = pruned[pruned["pruner"] != "dense"]
    merged = cells.merge(
        alloc,
        left_on=["model", "pruner", "allocation", "correction", "sparsity", "seed", "block"],
        right_on=["model", "pruner", "allocation_variant", "correction_variant", "sparsity", "seed", "block"],
    )
    assert len(merged) == len(cells)  # every pruned linear has its block's allocation
    assert (merged["target_sparsity"] == merged["block_sparsity"]).all()
    for _, part in cells.groupby(["model", "allocation", "correction", "seed"]):
        expected = (part["target_sparsity"] * part["params"]).sum()
        rows = len(part)  # at most one weight per output row is lost to rounding; C_out >= 16 here
        assert abs(part["zeros"].sum() - expected) <= 64 * rows
    nm = cells[cells["structure"] == "2:4"]
    assert set(nm["model"]) == {"micro-llama", "micro-opt"} and (nm["zeros"] * 2 == nm["params"]).all()
    dense = pruned[pruned["pruner"] == "dense"]
    assert set(dense["model"]) == {"micro-llama", "micro-opt"} and (dense["zeros"] == 0).all()
    assert not list(res.glob("pruned/**/weights.safetensors")), "pruned weights are deleted once evaluated"


def test_micro_run_grid_tables(micro_run):
    res = micro_run / "results"
    keys = ["model", "pruner", "structure", "allocation_variant", "correction_variant", "sparsity", "seed"]
    grid = pd.read_parquet(res / "summary" / "grid.parquet")
    assert len(grid) == 28 + 2  # every cell and one dense reference per model
    assert not grid.duplicated(keys).any()
    assert set(grid["correction"]) == {"none", "paper", "absorption", "depth", "shuffled", "flipped"}
    required = {"achieved_sparsity", "ppl", "ppl_dataset", "zeroshot_mean", "n_prunable_params", "valid_ppl"}
    assert required <= set(grid.columns)
    assert grid["ppl"].gt(1).all() and (grid["ppl_dataset"] == "local").all()
    with safe_open(res / "eval" / "micro-llama" / "ppl_tokens.safetensors", "pt") as f:
        tokens = f.get_tensor("input_ids")
    assert tokens.dtype == torch.int64 and tokens.shape[0] == 1
    ppl = pd.read_parquet(res / "eval" / "micro-llama" / "dense" / "ppl.parquet")
    assert ppl["n_windows"].iloc[0] == tokens.shape[1] // 32
    dense = grid[grid["pruner"] == "dense"]
    assert (dense["achieved_sparsity"] == 0).all() and (dense["sparsity"] == 0).all()
    pruning = pd.read_parquet(res / "summary" / "pruning.parquet")
    pruning = pruning.rename(columns={"allocation": "allocation_variant", "correction": "correction_variant"})
    sums = pruning.groupby(keys)[["zeros", "params"]].sum()
    joined = grid.set_index(keys).join(sums)
    assert (joined["achieved_sparsity"] == joined["zeros"] / joined["params"]).all()
    assert (joined["n_prunable_params"] == joined["params"]).all()

    zeroshot = pd.read_parquet(res / "summary" / "zeroshot.parquet")
    assert len(zeroshot) == 30 and set(zeroshot["task"]) == {"codeline"}
    assert (zeroshot["metric"] == "acc").all()
    assert zeroshot["value"].between(0, 1).all() and (zeroshot["n_docs"] == 40).all()
    means = zeroshot.groupby(keys)["value"].mean()
    assert (grid.set_index(keys)["zeroshot_mean"] == means.reindex(grid.set_index(keys).index)).all()
    raw = json.loads((res / "eval" / "micro-opt" / "dense" / "zeroshot.json").read_text())
    dense_acc = zeroshot.query("model == 'micro-opt' and pruner == 'dense'")["value"].iloc[0]
    assert raw["results"]["codeline"]["acc,none"] == dense_acc

    headline = pd.read_parquet(res / "summary" / "headline.parquet")
    assert len(headline) == 10  # 2 models x owl x (2 corrections + 3 controls) at 0.5, unstructured
    assert set(headline["correction"]) == {"paper", "absorption", "depth", "shuffled", "flipped"}
    assert (headline["n_seeds"] == 2).all() and headline["ppl_change_pct_se"].notna().all()
    assert set(headline.loc[headline["kind"] == "control", "control_of"]) == {"paper"}
    paper = headline[headline["correction"] == "paper"]
    assert (
        set(paper["beats_controls"]) <= {"true", "false"} and paper["vs_controls"].str.contains("depth").all()
    )
    selection = pd.read_parquet(res / "summary" / "selection.parquet")
    assert {"hyperparameter", "value", "valid_ppl", "test_ppl", "selected"} <= set(selection.columns)
    assert 0.0 in set(selection.loc[selection["hyperparameter"] == "gamma", "value"])
    picked = selection[selection["selected"]].drop_duplicates(["model", "correction"])
    assert len(picked) == 2 * 6  # one choice per model x selection group (none + 5)
    for _, row in headline.iterrows():  # the headline compares exactly what validation chose
        chosen = picked[(picked["model"] == row["model"]) & (picked["correction"] == row["correction"])]
        assert chosen["candidate"].iloc[0] == row["selected_hp"]
    claims = pd.read_parquet(res / "summary" / "paper_claims.parquet")
    assert set(claims["model"]) == {"micro-llama", "micro-opt"} and claims["detail"].str.len().gt(0).all()
    for name in ("grid", "zeroshot", "headline", "selection", "paper_claims"):
        assert read_parquet_provenance(res / "summary" / f"{name}.parquet")["stage"] == "aggregate"


def test_selection_never_reads_the_test_split(micro_run, tmp_path):
    """The select job's inputs are validation files only, and its choice is reproduced from those
    files alone with every test-split file of the run removed."""
    from dataclasses import asdict

    from absorbprune.config import resolve
    from absorbprune.grid import selection_candidates
    from absorbprune.selection import choose

    out = snakemake(
        micro_run, "--dry-run", "--forcerun", "select", "--until", "select", "--configfile", "micro.yaml"
    )
    text = out.stdout + out.stderr
    inputs = text.split("rule select:", 1)[1].split("output:", 1)[0]
    assert "valid_ppl.parquet" in inputs
    assert "/ppl.parquet" not in inputs and "ppl_tokens" not in inputs and "corpus/test" not in inputs
    copy = tmp_path / "results"
    shutil.copytree(micro_run / "results" / "eval", copy / "eval")
    shutil.copytree(micro_run / "results" / "corpus", copy / "corpus")
    removed = [
        *copy.rglob("ppl.parquet"),
        *copy.rglob("ppl_tokens.safetensors"),
        copy / "corpus" / "test.parquet",
    ]
    for path in removed:
        path.unlink()
    assert len(removed) > 28 and not list(copy.rglob("ppl.parquet"))
    cfg = yaml.safe_load((micro_run / "config.yaml").read_text())
    for key, value in yaml.safe_load(MICRO.read_text()).items():
        cfg[key] = {**cfg[key], **value} if isinstance(value, dict) else value
    cfg = resolve(cfg)
    valid = pd.concat(
        [pd.read_parquet(p) for p in sorted(copy.rglob("valid_ppl.parquet"))], ignore_index=True
    )
    valid = valid[valid["pruner"] != "dense"]
    table = choose(valid, [asdict(c) for c in selection_candidates(cfg)], cfg["calibration"]["seeds"])
    ran = pd.read_parquet(micro_run / "results" / "selection" / "choices.parquet")
    keys = ["model", "correction", "allocation_variant", "correction_variant", "seed", "hyperparameter"]
    pd.testing.assert_frame_equal(
        table.sort_values(keys, ignore_index=True),
        ran.sort_values(keys, ignore_index=True),
        check_dtype=False,
    )


def test_micro_run_figures_and_self_contained_report(micro_run):
    res = micro_run / "results"
    for model in ("micro-llama", "micro-opt"):
        for fig in ("allocations", "grid"):
            assert (res / "figures" / model / f"{fig}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in (
        "grid",
        "headline",
        "selection",
        "paper_claims",
        "zeroshot",
        "findings",
        "local_gains",
        "absorption",
        "paper_coefficients",
        "allocations",
        "drift",
        "pruning",
    ):
        page = (res / "report" / f"{name}.html").read_text()
        assert "<table" in page and f"results/summary/{name}.parquet" in page
    snakemake(micro_run, "--configfile", "micro.yaml", "--report", "results/report.html")
    report = (res / "report.html").read_text()
    for category in ("0 The paper", "1 Do early blocks", "2 How does", "3 Does the correction", "4 Every"):
        assert category in report
    assert "grid.png" in report and "headline.html" in report
    assert (res / "report.html").stat().st_size > 500_000  # figures embedded, not linked
    # the first page is the verdict: per model and base, each correction's change, coloured
    assert "What the correction did</h1>" in report
    assert "micro-opt \\u00b7 wanda \\u00b7 owl \\u00b7 S=0.5" in report  # the report escapes the dots
    assert "color:#555" in report  # its cells are styled by sign and significance
    text = summarize(res)  # what `make run` prints at the end
    assert "headline" in text and str((res / "report.html").resolve()) in text
    assert "what the correction did" in text and "micro-opt · wanda · owl · S=0.5" in text
    verdict = text[text.index("what the correction did") : text.index("exported models")]
    assert max(len(line) for line in verdict.splitlines()) <= 100  # paths after it may be longer


def test_built_in_model_directory_loads_with_transformers(micro_run):
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    path = micro_run / "results" / "models" / "micro-opt"
    model = AutoModelForCausalLM.from_pretrained(path)
    tok = PreTrainedTokenizerFast.from_pretrained(path)
    assert model.config.model_type == "opt" and len(tok) == model.config.vocab_size


def test_finished_run_plans_nothing(micro_run):
    assert planned_jobs(micro_run, "--configfile", "micro.yaml") == {}


# In the micro config the prune sweep covers 0.5 (grid) and 0.7 (extra), per model and calibration
# seed (2 x 2). The grid per model and seed: owl x (none, paper, absorption and the three controls,
# each at gamma 0.05) at 0.5, plus one 2:4 cell on the uniform allocation: 2 x 2 x 7 = 28 cells.
# Ours (absorption) reads our coefficients: 4 cells; the paper's correction and its controls read
# the paper's coefficients: 16 cells.
# A dry run's job counts are built from these parts; "report_table" holds the set of summary tables
# whose HTML page is rebuilt (one job each), merged by union.
# The micro config exports two models (tests/configs/micro.yaml): micro-llama's selected owl/paper
# (candidates owl/none and owl/paper-gamma0.05 at seed 0) and micro-opt's owl/none cell.
AGGREGATE = {
    "aggregate": 1,
    "paper_claims": 1,
    "claims_page": 1,
    "verdict_page": 1,  # reads the headline and the claims
    "grid_figures": 2,
    "report_table": {"grid", "headline", "zeroshot", "selection", "paper_claims"},
    "all": 1,
}
# new validation perplexities: chosen again, so the selected export is made again
SELECT = {"select": 1, "export_model": 1, **AGGREGATE}
PRUNE_DOWN = {"pruning_summary": 1, **SELECT, "report_table": {*AGGREGATE["report_table"], "pruning"}}
ALLOC_DOWN = {"allocation_summary": 1, "export_allocations": 1, "report_table": {"allocations"}}
EVAL = {"prune_evaluate": 28, "export_model": 2}  # every cell, pruned and measured again; both exports
# the dense reference's linears (the allocation export's names) and perplexity (the cards') again
DENSE = {"evaluate_dense": 2, "export_allocations": 1, "export_model": 2}
ALL_CELLS = {"allocate": 28, **EVAL, **ALLOC_DOWN}
OURS_CELLS = {"allocate": 4, "prune_evaluate": 4, **ALLOC_DOWN}
PAPER_CELLS = {"allocate": 16, "prune_evaluate": 16, **ALLOC_DOWN}
CORRECTED_CELLS = {"allocate": 20, "prune_evaluate": 20, **ALLOC_DOWN}
EVAL_DENSE = {"ppl_tokens": 2, "valid_tokens": 2, **DENSE}
SWEEP_TABLES = {
    "report_table": {"absorption", "drift", "findings", "local_gains", "paper_coefficients", "paper_claims"}
}
FINDINGS_DOWN = {
    "findings": 2,
    "sweep_figures": 2,
    "sweep_summary": 1,
    "paper_claims": 1,
    "claims_page": 1,
    "verdict_page": 1,
    "all": 1,
    **SWEEP_TABLES,
}
ABSORPTION_DOWN = {"absorption": 8, **FINDINGS_DOWN}
PAPER_DOWN = {"paper_coefficients": 4, **FINDINGS_DOWN}
SWEEPS_DOWN = {"sweep_magnitude": 4, "sweep_prune": 8, **ABSORPTION_DOWN, **PAPER_DOWN}


def plan(*parts: dict) -> dict[str, int]:
    """Merge expected job-count parts: report_table sets by union; counts by maximum, as every part
    counts a subset of one rule's jobs (corrected cells are a subset of all cells)."""
    merged: dict = {}
    for part in parts:
        for rule, n in part.items():
            if isinstance(n, set):
                merged[rule] = merged.get(rule, set()) | n
            else:
                merged[rule] = max(merged.get(rule, 0), n)
    return {rule: len(n) if isinstance(n, set) else n for rule, n in merged.items()}


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"calibration": {"owl_M": [2, 5]}}, plan({"calibrate": 4}, SWEEPS_DOWN, ALL_CELLS, PRUNE_DOWN)),
        # a single gamma renames ours' cells (absorption-gamma0.05 -> absorption): new cells
        ({"allocation": {"absorption": {"gamma": 0.1}}}, plan(OURS_CELLS, PRUNE_DOWN)),
        # the paper's gamma is also its controls' gamma
        ({"allocation": {"paper": {"gamma": [0, 0.1]}}}, plan(PAPER_CELLS, PRUNE_DOWN)),
        (
            {"allocation": {"shuffled": {"seed": 3}}},
            plan({"allocate": 4, "prune_evaluate": 4}, ALLOC_DOWN, PRUNE_DOWN),
        ),
        (
            {"allocation": {"owl": {"lambda": 0.05}}},
            # both exports are OWL cells
            plan({"allocate": 24, "prune_evaluate": 24, "export_model": 2}, ALLOC_DOWN, PRUNE_DOWN),
        ),
        ({"pruning": {"batch_size": 3}}, plan(EVAL, PRUNE_DOWN)),
        # keeping weights adds an output to every cell: each is pruned again to write it
        ({"pruning": {"keep_weights": True}}, plan(EVAL, PRUNE_DOWN)),
        # more direction seeds: new gaussian sweeps, so new paper coefficients and their cells
        ({"sweeps": {"seeds": [0, 1, 2]}}, plan({"sweep_magnitude": 4}, PAPER_DOWN, PAPER_CELLS, PRUNE_DOWN)),
        ({"sweeps": {"main_sparsity": 0.5}}, plan(FINDINGS_DOWN)),
        # an evaluation setting re-measures every cell (pruned in the same job) and the dense models
        ({"evaluation": {"zeroshot": {"batch_size": 16}}}, plan(DENSE, EVAL, PRUNE_DOWN)),
        (
            {"evaluation": {"zeroshot": {"codeline": {"seed": 1}}}},
            plan({"zeroshot_data": 1}, DENSE, EVAL, PRUNE_DOWN),
        ),
        ({"evaluation": {"batch_size": 4}}, plan(DENSE, EVAL, PRUNE_DOWN)),
        ({"evaluation": {"max_windows": 2}}, plan(DENSE, EVAL, PRUNE_DOWN)),
    ],
)
def test_parameter_change_reruns_only_what_depends_on_it(micro_run, override, expected):
    (micro_run / "override.yaml").write_text(yaml.safe_dump(override))
    assert planned_jobs(micro_run, "--configfile", "micro.yaml", "override.yaml") == expected


def test_adding_a_sparsity_adds_only_its_own_jobs(micro_run):
    (micro_run / "more.yaml").write_text(yaml.safe_dump({"grid": {"sparsities": [0.5, 0.6]}}))
    jobs = planned_jobs(micro_run, "--configfile", "micro.yaml", "more.yaml")
    new_cells = {"allocate": 24, "prune_evaluate": 24}  # 2 models x 2 seeds x 6 unstructured cells
    new_sweeps = {"sweep_prune": 4, "absorption": 4, "sweep_figures": 2, "sweep_summary": 1, **SWEEP_TABLES}
    claims = {"paper_claims": 1, "claims_page": 1, "verdict_page": 1}
    assert jobs == plan(new_sweeps, claims, new_cells, ALLOC_DOWN, PRUNE_DOWN)


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        # pruning's Wanda statistic (calibration.SquareSum) makes every pruning job import calibration
        ("calibration", plan({"calibrate": 4}, DENSE, SWEEPS_DOWN, ALL_CELLS, PRUNE_DOWN)),
        (
            "data",
            plan(
                {"tokenizer": 1, "corpus_ids": 2, "train_tiny": 2},
                {"calibration_tokens": 4, "audit_tokens": 2, "calibrate": 4},
                SWEEPS_DOWN,
                ALL_CELLS,
                EVAL_DENSE,
                PRUNE_DOWN,
            ),
        ),
        (
            "zoo",
            plan(
                {"train_tiny": 2, "calibration_tokens": 4, "audit_tokens": 2, "calibrate": 4},
                SWEEPS_DOWN,
                ALL_CELLS,
                EVAL_DENSE,
                PRUNE_DOWN,
            ),
        ),
        ("sweeps", plan(SWEEPS_DOWN, CORRECTED_CELLS, PRUNE_DOWN)),
        # every job that loads a model: the calibration sequences and perplexity text are tokenized
        # with the model's tokenizer, so the whole grid reruns (the built-in models are not retrained)
        (
            "models",
            plan(
                {"calibration_tokens": 4, "audit_tokens": 2, "calibrate": 4},
                SWEEPS_DOWN,
                ALL_CELLS,
                EVAL_DENSE,
                PRUNE_DOWN,
            ),
        ),
        # ours and the paper's coefficients: every corrected cell reads one of them
        ("absorption", plan(ABSORPTION_DOWN, PAPER_DOWN, CORRECTED_CELLS, PRUNE_DOWN)),
        ("figures", {"sweep_figures": 2, "grid_figures": 2, "all": 1}),
        ("allocation", plan(ALL_CELLS, PRUNE_DOWN)),
        # the prune sweep injects with pruning.wanda_mask, so the sweeps and corrected allocations rerun too
        (
            "pruning",
            plan(SWEEPS_DOWN, CORRECTED_CELLS, DENSE, EVAL, PRUNE_DOWN),
        ),
        # a cell is pruned and measured in one job: re-measuring it prunes it again
        ("evaluation", plan(DENSE, EVAL, PRUNE_DOWN)),
        ("zeroshot", plan({"zeroshot_data": 1}, DENSE, EVAL, PRUNE_DOWN)),
        ("selection", SELECT),
        ("aggregate", AGGREGATE),
        ("report", {"report_table": 12, "claims_page": 1, "all": 1}),
    ],
)
def test_editing_a_stage_module_reruns_that_stage_and_downstream(micro_run, module, expected):
    # A real edit: Snakemake 9 ignores a newer mtime when the content checksum is unchanged.
    path = micro_run / "src" / "absorbprune" / f"{module}.py"
    original = path.read_text()
    try:
        path.write_text(original + "\n# an edit\n")
        assert planned_jobs(micro_run, "--configfile", "micro.yaml") == plan(expected)
    finally:
        path.write_text(original)


def _tables_equal(a: Path, b: Path) -> None:
    """Same rows and columns; provenance metadata (times, paths) is not compared."""
    pd.testing.assert_frame_equal(pd.read_parquet(a), pd.read_parquet(b), check_exact=True)


def test_killed_run_leaves_nothing_complete_and_resumes_to_equal_results(micro_run, tmp_path):
    wf = tmp_path / "wf"
    shutil.copytree(micro_run, wf)  # results and Snakemake's metadata of the finished grid
    res = wf / "results"
    assert planned_jobs(wf, "--configfile", "micro.yaml") == {}  # a copied checkout is still finished
    # Snakemake rebuilds a missing intermediate only when something downstream needs rebuilding,
    # so the summaries go too: the re-run prunes and evaluates these 14 cells again
    for path in ("pruned/micro-llama/wanda", "eval/micro-llama/wanda", "summary", "report"):
        shutil.rmtree(res / path)
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "micro.yaml"]
    proc = subprocess.Popen(
        cmd, cwd=wf, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 1800
        while not list((res / "pruned" / "micro-llama").rglob("linears.parquet")):  # a cell mid-job
            assert proc.poll() is None and time.monotonic() < deadline, (
                "the run ended before it could be killed"
            )
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the controller and its jobs, mid-grid, as a dying node would
        proc.wait()
    # whatever exists under its final name is whole: every table and tensor file reads back
    for path in res.rglob("*.parquet"):
        pd.read_parquet(path)
    for path in res.rglob("*.safetensors"):
        with safe_open(path, "pt") as f:
            [f.get_tensor(k) for k in f.keys()]
    remaining = planned_jobs(wf, "--configfile", "micro.yaml")
    assert 0 < remaining["prune_evaluate"] <= 14 and remaining["aggregate"] == 1
    snakemake(wf, "--configfile", "micro.yaml")
    assert planned_jobs(wf, "--configfile", "micro.yaml") == {}
    for name in ("grid", "zeroshot", "headline", "selection", "pruning", "allocations", "absorption"):
        _tables_equal(
            res / "summary" / f"{name}.parquet", micro_run / "results" / "summary" / f"{name}.parquet"
        )


def test_prefetch_refuses_to_run_offline(tmp_path):
    wf = copy_workflow(tmp_path)
    out = snakemake(wf, "prefetch", "--show-failed-logs", check=False)
    assert out.returncode != 0
    assert "allow_network=true" in out.stdout + out.stderr
    assert not (wf / "results" / "prefetch" / "manifest.json").exists()


def test_exported_models_load_elsewhere_and_reproduce_their_cell(micro_run):
    """An export is a plain Hugging Face directory: from_pretrained loads it and it measures the
    cell's perplexity exactly; its zeros are the cell's; the card carries measurements and provenance."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from absorbprune.evaluation import ppl_row
    from absorbprune.grid import CELL_PATTERN
    from absorbprune.provenance import read_tensors

    res = micro_run / "results"
    exports = sorted(p.parent for p in (res / "export" / "models").rglob("provenance.json"))
    assert [e.relative_to(res / "export" / "models").parts[:2] for e in exports] == [
        ("cell", "micro-opt"),
        ("selected", "micro-llama"),
    ]
    choices = pd.read_parquet(res / "selection" / "choices.parquet")
    for export in exports:
        assert {"model.safetensors", "config.json", "tokenizer.json", "README.md", "allocation.json"} <= {
            p.name for p in export.iterdir()
        }
        prov = json.loads((export / "provenance.json").read_text())
        cell = prov["cell"]
        model = AutoModelForCausalLM.from_pretrained(export, dtype="auto").eval()
        AutoTokenizer.from_pretrained(export)
        ev = prov["params"]["evaluation"]
        ids = read_tensors(res / "eval" / cell["model"] / "ppl_tokens.safetensors")["input_ids"]
        with torch.no_grad():
            row = ppl_row(model, ids, ev["seqlen"], ev["batch_size"], {}, ev["ppl_source"], ev["max_windows"])
        grid = pd.read_parquet(res / "eval" / CELL_PATTERN.format(**cell) / "ppl.parquet")
        assert float(row["ppl"].iloc[0]) == float(grid["ppl"].iloc[0])  # exactly
        linears = pd.read_parquet(res / "pruned" / CELL_PATTERN.format(**cell) / "linears.parquet")
        blocks = model.model.decoder.layers if cell["model"] == "micro-opt" else model.model.layers
        zeros = sum(
            int((blocks[r.block].get_submodule(r.linear).weight == 0).sum()) for r in linears.itertuples()
        )
        assert zeros == int(linears["zeros"].sum()) > 0
        card = (export / "README.md").read_text()
        assert f"{grid['ppl'].iloc[0]:.6g}" in card and prov["config_hash"] in card and "codeline" in card
        if export.parts[-8] == "selected":
            chosen = choices[
                choices["selected"]
                & (choices["model"] == "micro-llama")
                & (choices["correction"] == "paper")
                & (choices["sparsity"] == 0.5)
            ]
            assert set(chosen["correction_variant"]) == {cell["correction"]}
            assert "Chosen on the validation split" in card


def test_allocations_export_as_json_with_the_reference_ratio_lists(micro_run):
    res = micro_run / "results"
    files = sorted((res / "export" / "allocations").rglob("*.json"))
    parquets = sorted((res / "allocations").rglob("*.parquet"))
    assert len(files) == len(parquets) > 0
    for path in files[:6]:
        record = json.loads(path.read_text())
        rel = path.relative_to(res / "export" / "allocations").with_suffix(".parquet")
        alloc = pd.read_parquet(res / "allocations" / rel).sort_values("block")
        assert record["block_sparsity"] == alloc["block_sparsity"].tolist()
        assert all(
            abs(1 - d - s) < 1e-12
            for d, s in zip(record["all_layer_ratio"], record["block_sparsity"], strict=True)
        )
        n = record["n_blocks"]
        assert len(record["ratios"]) == n * len(record["linears"]) == len(record["linear_sparsity"])
        assert record["ratios"][len(record["linears"])] == record["block_sparsity"][1]
        assert record["provenance"]["stage"] and record["format"] == "absorbprune-allocation/1"
