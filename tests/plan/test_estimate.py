"""The cost estimate (make estimate): shapes, the dry-run jobs it reads, the presets' cost lines."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from helpers import copy_workflow, planned_jobs

from absorbprune.plan import costs as C
from absorbprune.plan import estimate as E
from absorbprune.plan import shapes as S
from absorbprune.plan.config.validate import resolve
from absorbprune.plan.grid import cells, selection_candidates

ROOT = Path(__file__).resolve().parents[2]


def test_shapes_count_the_known_models_parameters():
    # published sizes: LLaMA-2-7B 6.74e9, Mistral-7B 7.24e9, Qwen2.5-7B 7.62e9, SmolLM2-135M 1.35e8
    for hub_id, params in (
        ("meta-llama/Llama-2-7b-hf", 6.74e9),
        ("mistralai/Mistral-7B-v0.1", 7.24e9),
        ("Qwen/Qwen2.5-7B", 7.62e9),
        ("HuggingFaceTB/SmolLM2-135M", 1.35e8),
    ):
        assert S.KNOWN_SHAPES[hub_id].params == pytest.approx(params, rel=0.02), hub_id


def test_the_shipped_gguf_reads_as_smollm2s_shape(default_config):
    assert (
        S.shape_of("smollm2", default_config["models"]["smollm2"])
        == S.KNOWN_SHAPES["HuggingFaceTB/SmolLM2-135M"]
    )


def test_an_unknown_hub_model_names_its_key(default_config):
    entry = {
        "source": "hub",
        "id": "nobody/unknown-model",
        "revision": "main",
        "family": "llama",
        "dtype": "float16",
    }
    with pytest.raises(ValueError, match=r"models\.mystery.*prefetch"):
        S.shape_of("mystery", entry)


@pytest.fixture
def default_config():
    from absorbprune.plan.config.files import read_config_file

    return resolve(read_config_file(ROOT / "config.yaml"))


def test_dry_run_jobs_are_the_dry_runs_job_stats(tmp_path):
    wf, micro = copy_workflow(tmp_path), str(ROOT / "tests" / "configs" / "micro.yaml")
    jobs = E.dry_run_jobs(wf, [micro], from_scratch=True)
    stats = planned_jobs(wf, "--configfile", micro)
    stats.pop("all", None)
    assert Counter(j.rule for j in jobs) == Counter(stats)
    cell_jobs = [j for j in jobs if j.rule == "prune_evaluate"]
    assert all({"model", "pruner", "sparsity", "seed"} <= set(j.wildcards) for j in cell_jobs)


def test_local_rules_are_read_from_the_snakefile():
    local = E.local_rules(ROOT / "Snakefile")
    assert {"allocate", "select", "aggregate", "prefetch"} <= local
    assert "prune_evaluate" not in local


def test_zeroshot_on_selected_cells_adds_one_job_per_group_and_seed(default_config):
    default_config["evaluation"]["zeroshot"]["cells"] = "selected"
    groups = {c.group() for c in selection_candidates(default_config)}
    jobs = E.after_checkpoints(default_config)
    assert len(jobs) == len(groups) * len(default_config["calibration"]["seeds"])
    default_config["evaluation"]["zeroshot"]["cells"] = "all"
    assert E.after_checkpoints(default_config) == []


def test_cost_follows_tokens_and_zeroshot_moves_out_of_the_cells(default_config):
    cell = C.Job("prune_evaluate", {"model": "smollm2", "pruner": "wanda"}, False)
    base = E.estimate([cell], default_config, set()).cpu_s["prune_evaluate"]
    default_config["calibration"]["n_samples"] *= 4
    more = E.estimate([cell], default_config, set()).cpu_s["prune_evaluate"]
    default_config["evaluation"]["zeroshot"]["cells"] = "selected"
    fewer = E.estimate([cell], default_config, set()).cpu_s["prune_evaluate"]
    assert base < more and fewer < more
    sgpt = C.Job("prune_evaluate", {"model": "smollm2", "pruner": "sparsegpt"}, False)
    assert E.estimate([sgpt], default_config, set()).cpu_s["prune_evaluate"] > fewer


def test_a_limit_caps_the_zeroshot_tokens(default_config):
    zs = default_config["evaluation"]["zeroshot"]
    zs["tasks"] = ["hellaswag"]
    whole = C.zeroshot_tokens(default_config)
    zs["limit"] = 100
    assert C.zeroshot_tokens(default_config) == pytest.approx(whole * 100 / 10042)


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["paper-protocol", "paper-claim", "paper-controls", None])
def test_each_paper_stage_states_its_current_cost(stage):
    files = ["presets/paper.yaml"] + ([f"presets/{stage}.yaml"] if stage else [])  # None: the full grid
    config, est = E.run_estimate(ROOT, files, from_scratch=True)
    line = E.stage_line(est, len(cells(config)))
    assert E.header_line(ROOT / files[-1]) == line, (
        f"{files[-1]}'s cost line is stale; rewrite it with "
        f"`python -m absorbprune.plan.estimate --configfile {' '.join(files)} --stage-header --write`"
    )


def test_masks_and_gguf_conversion_follow_the_models_size(default_config):
    c = C.Context(default_config)
    small, big = (C.Job("convert_gguf", {"model": m}, False) for m in ("smollm2", "gemma3-270m"))
    assert C.job_work(c, small).seconds(C.CPU) < C.job_work(c, big).seconds(C.CPU)
    magnitude = C.job_work(c, C.Job("cell_weights", {"model": "smollm2", "pruner": "magnitude"}, False))
    assert magnitude.mask_weights == c.shape("smollm2").blocks * c.shape("smollm2").block_params
    one = C.job_work(c, C.Job("sweep_prune", {"model": "smollm2", "seed": "0", "sparsity": "0.5"}, False))
    assert one.mask_weights == magnitude.mask_weights and one.sweep_flops > 0 and one.flops == 0
