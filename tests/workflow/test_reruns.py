"""Reruns that are exactly right: a finished grid plans nothing, a parameter reruns what depends on
it, a real code edit reruns the jobs whose code changed and their downstream, and a comment or a
docstring reruns nothing (rules pass a hash of their code's ast: plan.codedeps).

Each test works on a copy of the finished micro grid or restores what it edits."""

from __future__ import annotations

import shutil

import pytest
import yaml
from helpers import ROOT, copy_workflow, plan, planned_jobs, random_hf_tensors, snakemake, write_tiny_gguf

pytestmark = pytest.mark.slow


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
# Selection has one checkpoint per group: 2 models x (none, paper, absorption and the three
# controls) at 0.5 = 12 groups; the selected export reads micro-llama's paper group's choice only.
AGGREGATE = {
    "aggregate": 1,
    "paper_claims": 1,
    "claims_page": 1,
    "verdict_page": 1,  # reads the headline and the claims
    "grid_figures": 2,
    "reference_check": 1,  # reads the grid
    "report_table": {
        "grid",
        "headline",
        "zeroshot",
        "selection",
        "paper_claims",
        "reference_check",
        "noise_floor",
    },
    "all": 1,
}


def chosen(groups: int, exports: int = 0) -> dict:
    """New validation perplexities in ``groups`` groups: those choose again, and a selected export
    reruns only when its own group is among them (``exports``)."""
    return {"select": groups, **({"export_model": exports} if exports else {}), **AGGREGATE}


ALL_GROUPS = chosen(12, 1)
# the noise floor's cell per model (owl, uncorrected, seed 0, at 0.5), pruned again under perturbations
NOISE = {"noise_floor": 2}
PRUNE_DOWN = {"pruning_summary": 1, **AGGREGATE, "report_table": {*AGGREGATE["report_table"], "pruning"}}
ALLOC_DOWN = {"allocation_summary": 1, "export_allocations": 1, "report_table": {"allocations"}}
EVAL = {"prune_evaluate": 28, "export_model": 2}  # every cell, pruned and measured again; both exports
# the dense reference's linears (the allocation export's names) and perplexity (the cards') again
DENSE = {"evaluate_dense": 2, "export_allocations": 1, "export_model": 2}
DENSE_ZS = {"zeroshot_dense": 2}  # the dense models' zero-shot, their own jobs
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
# every reading of the paper's coefficient compared (docs/methods.md 5.6), its figures and page
READINGS_DOWN = {
    "coefficient_readings": 1,
    "readings_figures": 2,
    "paper_claims": 1,
    "claims_page": 1,
    "verdict_page": 1,
    "report_table": {"coefficient_readings", "paper_claims"},
    "all": 1,
}
PAPER_DOWN = {
    "paper_coefficients": 4,
    **FINDINGS_DOWN,
    **READINGS_DOWN,
    "report_table": FINDINGS_DOWN["report_table"] | READINGS_DOWN["report_table"],
}
SWEEPS_DOWN = {"sweep_magnitude": 4, "sweep_prune": 4, **ABSORPTION_DOWN, **PAPER_DOWN}  # per model x seed


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            {"calibration": {"owl_M": [2, 5]}},
            plan({"calibrate": 4}, SWEEPS_DOWN, ALL_CELLS, PRUNE_DOWN, ALL_GROUPS, NOISE),
        ),
        # a single gamma renames ours' cells (absorption-gamma0.05 -> absorption): new cells, in
        # the two absorption groups; the selected export (a paper group) is not made again
        ({"allocation": {"absorption": {"gamma": 0.1}}}, plan(OURS_CELLS, PRUNE_DOWN, chosen(2))),
        # the paper's gamma is also its controls' gamma: 2 models x 4 groups, the export's among them
        ({"allocation": {"paper": {"gamma": [0, 0.1]}}}, plan(PAPER_CELLS, PRUNE_DOWN, chosen(8, 1))),
        (
            {"allocation": {"shuffled": {"seed": 3}}},
            plan({"allocate": 4, "prune_evaluate": 4}, ALLOC_DOWN, PRUNE_DOWN, chosen(2)),
        ),
        (
            {"allocation": {"owl": {"lambda": 0.05}}},
            # both exports are OWL cells
            plan(
                {"allocate": 24, "prune_evaluate": 24, "export_model": 2},
                ALLOC_DOWN,
                PRUNE_DOWN,
                ALL_GROUPS,
                NOISE,
            ),
        ),
        ({"pruning": {"batch_size": 3}}, plan(EVAL, PRUNE_DOWN, ALL_GROUPS, NOISE)),
        # keeping weights adds a file per cell, written by its own job: nothing is measured again
        ({"pruning": {"keep_weights": True}}, {"cell_weights": 28, "all": 1}),
        # more direction seeds: new gaussian sweeps, so new paper coefficients and their cells
        (
            {"sweeps": {"seeds": [0, 1, 2]}},
            plan({"sweep_magnitude": 4}, PAPER_DOWN, PAPER_CELLS, PRUNE_DOWN, chosen(8, 1)),
        ),
        ({"sweeps": {"main_sparsity": 0.5}}, plan(FINDINGS_DOWN)),
        # an evaluation setting re-measures every cell (pruned in the same job) and the dense models
        # a zero-shot setting: the dense models' tasks and every cell (which runs them under
        # zeroshot.cells: all), not the dense perplexities
        ({"evaluation": {"zeroshot": {"batch_size": 16}}}, plan(DENSE_ZS, EVAL, PRUNE_DOWN, ALL_GROUPS)),
        (
            {"evaluation": {"zeroshot": {"codeline": {"seed": 1}}}},
            plan({"zeroshot_data": 1}, DENSE_ZS, EVAL, PRUNE_DOWN, ALL_GROUPS),
        ),
        ({"evaluation": {"batch_size": 4}}, plan(DENSE, EVAL, PRUNE_DOWN, ALL_GROUPS, NOISE)),
        ({"evaluation": {"max_windows": 2}}, plan(DENSE, EVAL, PRUNE_DOWN, ALL_GROUPS, NOISE)),
    ],
)
def test_parameter_change_reruns_only_what_depends_on_it(micro_run, override, expected):
    (micro_run / "override.yaml").write_text(yaml.safe_dump(override))
    assert planned_jobs(micro_run, "--configfile", "micro.yaml", "override.yaml") == expected


def test_adding_a_sparsity_reruns_only_the_sweeps_and_what_reads_them(micro_run):
    """A sparsity that was not swept: each seed's prune sweep runs again (it holds every swept
    sparsity in one model load), and with it every sparsity's coefficients and the cells corrected
    with ours (2 models x 2 seeds at 0.5) and their two groups; nothing else already chosen, no
    export."""
    (micro_run / "more.yaml").write_text(yaml.safe_dump({"grid": {"sparsities": [0.5, 0.6]}}))
    jobs = planned_jobs(micro_run, "--configfile", "micro.yaml", "more.yaml")
    new_cells = {
        "allocate": 24 + 4,
        "prune_evaluate": 24 + 4,
    }  # 2 models x 2 seeds x 6 cells, and ours at 0.5
    sweeps = {"sweep_prune": 4, "absorption": 12, "findings": 2, "sweep_figures": 2, "sweep_summary": 1}
    claims = {"paper_claims": 1, "claims_page": 1, "verdict_page": 1}
    expected = plan(sweeps, SWEEP_TABLES, claims, new_cells, ALLOC_DOWN, PRUNE_DOWN, chosen(12 + 2), NOISE)
    assert jobs == expected and "export_model" not in jobs


def test_adding_a_sparsity_that_was_swept_adds_only_its_own_jobs(micro_run):
    """0.7 is in sweeps.extra_sparsities: its sweep and coefficients exist, so only its cells,
    groups and noise floor run, and the tables that read them."""
    (micro_run / "more.yaml").write_text(yaml.safe_dump({"grid": {"sparsities": [0.5, 0.7]}}))
    jobs = planned_jobs(micro_run, "--configfile", "micro.yaml", "more.yaml")
    new_cells = {"allocate": 24, "prune_evaluate": 24}
    claims = {"paper_claims": 1, "claims_page": 1, "verdict_page": 1}
    assert jobs == plan(new_cells, claims, ALLOC_DOWN, PRUNE_DOWN, chosen(12), NOISE)


# new calibration and eval tokens
TOKENS_DOWN = plan(SWEEPS_DOWN, ALL_CELLS, EVAL_DENSE, PRUNE_DOWN, ALL_GROUPS, NOISE)
MODEL_DOWN = plan(  # a built-in model's weights change: everything that reads it
    {
        "train_tiny": 2,
        "calibration_tokens": 4,
        "audit_tokens": 2,
        "weight_stats": 2,
        "calibrate": 4,
        **DENSE_ZS,
    },
    SWEEPS_DOWN,
    ALL_CELLS,
    EVAL_DENSE,
    PRUNE_DOWN,
    ALL_GROUPS,
    NOISE,
)
LOADERS = plan(  # every job that loads a model (the tokens are tokenized with its tokenizer)
    {"calibration_tokens": 4, "audit_tokens": 2, "weight_stats": 2, "calibrate": 4, **DENSE_ZS},
    SWEEPS_DOWN,
    ALL_CELLS,
    EVAL_DENSE,
    PRUNE_DOWN,
    ALL_GROUPS,
    NOISE,
)
CORRECTED_GROUPS = chosen(10, 1)  # paper, absorption and the three controls, per model


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        (
            "calibration/statistics",
            plan({"calibrate": 4}, SWEEPS_DOWN, ALL_CELLS, PRUNE_DOWN, ALL_GROUPS, NOISE),
        ),
        # the Wanda and SparseGPT hooks are the pruners' too; the dense reference prunes nothing
        ("calibration/hooks", plan({"calibrate": 4}, SWEEPS_DOWN, ALL_CELLS, PRUNE_DOWN, ALL_GROUPS, NOISE)),
        ("data/tokens", plan({"calibration_tokens": 4, "audit_tokens": 2, "calibrate": 4}, TOKENS_DOWN)),
        # new documents for the built-in task: every model is measured again
        # (the noise job's code includes the task registry's builders: conservative, not wrong)
        ("data/codeline", plan({"zeroshot_data": 1}, DENSE, DENSE_ZS, EVAL, PRUNE_DOWN, ALL_GROUPS, NOISE)),
        ("models/training", MODEL_DOWN),
        ("models/loading", LOADERS),
        ("models/gguf", {}),  # no GGUF model in the micro grid (test_a_gguf_model_... has one)
        ("absorption/sweeps", plan(SWEEPS_DOWN, CORRECTED_CELLS, PRUNE_DOWN, CORRECTED_GROUPS)),
        # ours and the paper's coefficients: every corrected cell reads one of them
        (
            "absorption/coefficients",
            plan(ABSORPTION_DOWN, PAPER_DOWN, CORRECTED_CELLS, PRUNE_DOWN, CORRECTED_GROUPS),
        ),
        ("absorption/findings", plan(FINDINGS_DOWN)),
        # the readings' summary takes the paper's shift from it too
        ("allocation/corrections", plan(ALL_CELLS, PRUNE_DOWN, ALL_GROUPS, NOISE, READINGS_DOWN)),
        # the reading names: the coefficients (and the readings they write), every allocation
        ("absorption/readings", plan(PAPER_DOWN, ABSORPTION_DOWN, ALL_CELLS, PRUNE_DOWN, ALL_GROUPS, NOISE)),
        # the prune sweep injects with the Wanda mask: sweeps and corrected allocations rerun too
        ("pruning/masks", plan(SWEEPS_DOWN, CORRECTED_CELLS, EVAL, PRUNE_DOWN, ALL_GROUPS, NOISE)),
        (
            "pruning/sequential",
            plan(EVAL, PRUNE_DOWN, ALL_GROUPS, NOISE),
        ),  # the dense reference prunes nothing
        ("evaluation/zeroshot", plan(DENSE, DENSE_ZS, EVAL, PRUNE_DOWN, ALL_GROUPS, NOISE)),
        ("reporting/selection", ALL_GROUPS),
        ("reporting/headline", plan(AGGREGATE)),
        ("reporting/figures", {"sweep_figures": 2, "grid_figures": 2, "readings_figures": 2, "all": 1}),
        ("reporting/html", {"report_table": 15, "claims_page": 1, "all": 1}),
        ("reporting/verdict", {"verdict_page": 1, "all": 1}),
        ("tables/summary", ALL_GROUPS),  # the choices' and the summaries' columns
        ("export/model", {"export_model": 2, "all": 1}),
    ],
)
def test_editing_what_a_module_does_reruns_its_jobs_and_downstream(micro_run, module, expected):
    path = micro_run / "src" / "absorbprune" / f"{module}.py"
    original = path.read_text()
    try:
        path.write_text(original + "\n_EDITED = True  # a real edit: the module's code changes\n")
        assert planned_jobs(micro_run, "--configfile", "micro.yaml") == plan(expected)
    finally:
        path.write_text(original)


def test_comment_and_docstring_edits_of_every_module_rerun_nothing(micro_run, tmp_path):
    """Every module under src/ gains a comment and a reworded module docstring at once: what the
    code does is unchanged, so a dry run plans nothing (the tables, provenance and job helpers
    that every job imports included)."""
    wf = tmp_path / "wf"
    shutil.copytree(micro_run, wf)
    modules = sorted((wf / "src" / "absorbprune").rglob("*.py"))
    for path in modules:
        text = path.read_text()
        if text.startswith('"""'):
            text = '"""Reworded. ' + text[3:]
        path.write_text(text.replace("\n\n", "\n\n# a comment-only edit\n", 1) + "\n# the end\n")
    assert len(modules) > 50
    assert planned_jobs(wf, "--configfile", "micro.yaml") == {}


def test_a_gguf_model_is_converted_once_and_no_trainer_edit_reruns_its_jobs(tmp_path):
    """A GGUF model's jobs depend on the conversion code, never on the tiny-model trainer or the
    evaluation code's training-curve use: editing the trainer reruns nothing of a GGUF grid, while
    editing the converter converts it again and reruns its grid."""
    wf = copy_workflow(tmp_path)
    write_tiny_gguf(tmp_path / "tiny.gguf", random_hf_tensors())
    micro = yaml.safe_load((ROOT / "tests" / "configs" / "micro.yaml").read_text())
    gguf = {"path": str(tmp_path / "tiny.gguf")}
    micro["models"]["micro-gguf"] = {"source": "gguf", "family": "llama", "gguf": gguf}
    micro["grid"] = {
        "models": ["micro-gguf"],
        "allocations": ["uniform"],
        "corrections": ["none", "absorption"],
        "sparsities": [0.5],
    }
    micro["calibration"]["seeds"] = [0]
    micro["export"] = {"models": []}
    (wf / "gguf.yaml").write_text(yaml.safe_dump(micro))
    snakemake(wf, "--configfile", "gguf.yaml")
    assert planned_jobs(wf, "--configfile", "gguf.yaml") == {}
    pkg = wf / "src" / "absorbprune"
    for module, expect_rerun in (("models/training", False), ("models/tiny", False), ("models/gguf", True)):
        path = pkg / f"{module}.py"
        original = path.read_text()
        path.write_text(original + "\n_EDITED = True\n")
        try:
            jobs = planned_jobs(wf, "--configfile", "gguf.yaml")
        finally:
            path.write_text(original)
        if expect_rerun:
            assert jobs["convert_gguf"] == 1 and jobs["prune_evaluate"] == 2, jobs
        else:
            assert jobs == {}, (module, jobs)
