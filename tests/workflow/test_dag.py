"""The DAG a dry run plans, before any job: its shape for the default config and the presets, and
bad configs stopped before any job naming the key."""

from __future__ import annotations

import pytest
import yaml
from helpers import copy_workflow, planned_jobs, snakemake

pytestmark = pytest.mark.slow


def test_dry_run_dag_shape_of_the_default_config(tmp_path):
    wf = copy_workflow(tmp_path)
    models, seeds, sparsities = 2, 3, 2  # smollm2 and gemma3-270m; 0.5 and 0.6
    cells = models * 1 * 4 * sparsities * seeds  # owl x (none + paper, absorption, depth at gamma 0.05)
    per_model = {
        "convert_gguf": 1,  # each GGUF file -> results/models/{model} (no tokenizer or training jobs)
        "calibration_tokens": seeds,  # one calibration set per seed
        "audit_tokens": 1,
        "weight_stats": 1,  # AlphaPruning's SVDs: weights only, once per model
        "calibrate": seeds,
        "sweep_magnitude": seeds,
        "sweep_prune": seeds,  # one per seed, every swept sparsity in it
        "absorption": sparsities * seeds,
        "paper_coefficients": seeds,
        "findings": 1,
        "sweep_figures": 1,
        "readings_figures": 1,  # r_l by depth under every reading of the paper's coefficient
        "evaluate_dense": 1,
        "zeroshot_dense": 1,  # the dense model's tasks: the canary of every cell that runs them
        "ppl_tokens": 1,
        "valid_tokens": 1,
        "grid_figures": 1,
    }
    expected = {rule: n * models for rule, n in per_model.items()}
    expected |= {
        "wikipedia": 1,  # the Wikipedia 2016 excerpt and the lead sections, built from pinned wheels
        "analogies": 1,  # the Google analogy questions
        "zeroshot_data": 1,  # the analogy task's documents
        "sweep_summary": 1,
        "coefficient_readings": 1,
        "allocate": cells,  # gamma 0 is the base's own cell
        "allocation_summary": 1,
        "prune_evaluate": cells,  # prunes a cell and measures it (perplexity, zero-shot) in one job
        "pruning_summary": 1,
        "select": models * 4 * sparsities,  # one checkpoint per selection group
        "aggregate": 1,
        "paper_claims": 1,
        "claims_page": 1,
        "report_table": 15,
        "verdict_page": 1,  # the report's verdict page
        "reference_check": 1,  # the baselines beside the published numbers
        "export_allocations": 1,  # every allocation as JSON, one job
        "all": 1,
    }
    assert planned_jobs(wf) == expected


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
        yaml.safe_dump(
            {"grid": {"models": ["smollm2"], "sparsities": [1e-05]}, "sweeps": {"extra_sparsities": [0.6]}}
        )
    )
    jobs = planned_jobs(wf, "--configfile", "tiny.yaml")
    assert jobs["prune_evaluate"] == 12 and jobs["sweep_prune"] == 3  # 2 sparsities in each seed's job


def test_paper_preset_dry_run_lists_every_job(tmp_path):
    wf = copy_workflow(tmp_path)
    # corrections: none + (paper, absorption and the three controls) x 2 non-zero gammas
    models, pruners, allocations, corrections, sparsities, seeds = 5, 2, 5, 1 + 5 * 2, 4, 3
    cells = models * pruners * allocations * corrections * sparsities * seeds
    per_model = {
        "calibration_tokens": seeds,  # C4: no built-in corpus, tokenizer or training jobs
        "audit_tokens": 1,
        "weight_stats": 1,
        "calibrate": seeds,
        "sweep_magnitude": seeds,
        "sweep_prune": seeds,  # each the grid's sparsities plus sweeps.extra_sparsities
        "absorption": (sparsities + 2) * seeds,
        "paper_coefficients": seeds,
        "findings": 1,
        "sweep_figures": 1,
        "readings_figures": 1,
        "grid_figures": 1,
        "ppl_tokens": 1,
        "valid_tokens": 1,
        "evaluate_dense": 1,
        "zeroshot_dense": 1,
    }
    expected = {rule: n * models for rule, n in per_model.items()}
    expected |= {
        "allocate": cells,  # per pruner: AlphaPruning's eps is set per (model, pruner)
        "prune_evaluate": cells,  # pruning and perplexity (zero-shot runs on the selected cells)
        "allocation_summary": 1,
        "sweep_summary": 1,
        "coefficient_readings": 1,
        "pruning_summary": 1,
        "select": cells // seeds // corrections * 6,  # groups: none, paper, absorption, 3 controls
        "aggregate": 1,
        "paper_claims": 1,
        "claims_page": 1,
        "report_table": 15,
        "verdict_page": 1,
        "reference_check": 1,
        "noise_floor": models * pruners * sparsities,
        "export_allocations": 1,
        "export_model": models * pruners,  # the shipped entry: OWL + paper, selected, per model x pruner
        "all": 1,
    }
    assert planned_jobs(wf, "--configfile", "presets/paper.yaml") == expected
    # + one zeroshot_cell per distinct chosen cell after the checkpoints (make estimate counts them)
    assert sum(expected.values()) == 14691


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


def test_prefetch_refuses_to_run_offline(tmp_path):
    wf = copy_workflow(tmp_path)
    out = snakemake(wf, "prefetch", "--show-failed-logs", check=False)
    assert out.returncode != 0
    assert "allow_network=true" in out.stdout + out.stderr
    assert not (wf / "results" / "prefetch" / "manifest.json").exists()
