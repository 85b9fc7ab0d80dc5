"""The micro grid end to end (tests/configs/micro.yaml: random-init 4-block models of two families,
a few short sequences): every artifact with provenance, the summary tables, held-out selection that
never reads the test split, the report, the exports, and a killed run that resumes to equal tables."""

from __future__ import annotations

import base64
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
from helpers import MICRO, ROOT, planned_jobs, snakemake
from safetensors import safe_open

from absorbprune.core.provenance import META_KEY, read_parquet_provenance
from absorbprune.reporting.terminal import summarize
from absorbprune.tables.calibration import layer_stats_schema

pytestmark = pytest.mark.slow


def report_item(report: str, filename: str) -> str:
    """The text of an HTML result embedded in a Snakemake report (a base64 data URI)."""
    uri = rf"data:text/html;charset=utf8;filename={re.escape(filename)};base64,([A-Za-z0-9+/=]+)"
    found = re.search(uri, report)
    assert found, f"{filename} is not embedded in the report"
    return base64.b64decode(found.group(1)).decode()


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
    # 4 x 5, each with the first token perturbed and clean (sweeps.first_token), prune 4 x 2
    # sparsities; each injection at k has depths k..4 (14 rows over 4 blocks)
    per_model = drift.groupby(["model", "kind"]).size().unstack()
    assert per_model.loc["micro-llama"].to_dict() == {
        "gaussian": 2 * 5 * 2 * 14,
        "gaussian_nofirst": 2 * 5 * 2 * 14,
        "prune": 2 * 2 * 14,
        "prune_dir": 2 * 5 * 14,
        "prune_dir_nofirst": 2 * 5 * 14,
    }
    readings = pd.read_parquet(res / "summary" / "coefficient_readings.parquet")
    assert set(readings["first_token"]) == {"perturbed", "clean"}
    assert set(readings["perturbation"]) == {"gaussian", "prune_dir"}
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
    keys = ["model", "pruner", "allocation_variant", "correction_variant", "sparsity", "seed", "block"]
    merged = cells.merge(alloc, on=keys, suffixes=("", "_alloc"))
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
    assert set(pruning["correction"]) == set(grid["correction"])  # method names, variants beside them
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
    # the bootstrap resampled every cell's windows and documents: every interval is there and
    # holds its change; significance is the interval excluding 0
    for side in ("ppl_change_pct", "zeroshot_change"):
        low, high = headline[f"{side}_ci_low"], headline[f"{side}_ci_high"]
        assert (
            low.notna().all()
            and (low <= headline[side] + 1e-9).all()
            and (headline[side] <= high + 1e-9).all()
        )
    boot = (headline["ppl_change_pct_ci_low"] > 0) | (headline["ppl_change_pct_ci_high"] < 0)
    t = (headline["ppl_change_pct_t_low"] > 0) | (headline["ppl_change_pct_t_high"] < 0)
    assert (headline["significant"] == (boot & t)).all() and (headline["significant_t"] == t).all()
    assert headline["test"].str.startswith("both 95% intervals exclude 0").all()
    dense_ppl = grid[grid["pruner"] == "dense"].set_index("model")["ppl"]
    ratio = headline["ppl_base"] / headline["model"].map(dense_ppl)  # random-init models: about 1
    assert ((headline["degradation"] - ratio).abs() < 1e-12).all()
    ppl_cells = pd.concat(pd.read_parquet(p) for p in (res / "eval").rglob("ppl.parquet"))
    assert (ppl_cells["window_losses"].map(len) == ppl_cells["n_windows"]).all()
    assert (zeroshot["doc_scores"].map(len) == 40).all()
    assert (zeroshot["doc_scores"].map(lambda d: sum(d) / len(d)) - zeroshot["value"]).abs().max() < 1e-12
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


def read_choices(results: Path) -> pd.DataFrame:
    """Every selection group's choice (one checkpoint file per group), concatenated."""
    files = sorted((results / "selection").rglob("choice.parquet"))
    assert files, "no choice file"
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def test_selection_never_reads_the_test_split(micro_run, tmp_path):
    """The select job's inputs are validation files only, and its choice is reproduced from those
    files alone with every test-split file of the run removed."""
    from dataclasses import asdict

    from absorbprune.plan.config.validate import resolve
    from absorbprune.plan.grid import selection_candidates
    from absorbprune.reporting.selection import choose

    out = snakemake(
        micro_run, "--dry-run", "--forcerun", "select", "--until", "select", "--configfile", "micro.yaml"
    )
    text = out.stdout + out.stderr
    # one checkpoint job per selection group (localcheckpoint: it runs beside the controller)
    inputs = re.findall(r"^(?:local)?checkpoint select:\n\s+input: (.*)$", text, re.M)
    assert len(inputs) == 12  # 2 models x (none, paper, absorption, 3 controls) at 0.5
    for listed in inputs:
        assert "valid_ppl.parquet" in listed
        assert "/ppl.parquet" not in listed and "ppl_tokens" not in listed and "corpus/test" not in listed
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
    ran = read_choices(micro_run / "results")
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
    for category in ("0 The verdict", "1 Do early blocks", "2 How does", "3 Does the correction", "4 Every"):
        assert category in report
    assert "grid.png" in report and "headline.html" in report
    assert (res / "report.html").stat().st_size > 500_000  # figures embedded, not linked
    # a static front page pointing at category 0, whose verdict page holds, per model and base,
    # each correction's change, coloured by sign and significance
    assert "Start with category 0: the verdict" in report
    verdict = report_item(report, "verdict.html")
    assert "What the correction did</h1>" in verdict and "micro-opt · wanda · owl · S=0.5" in verdict
    assert "color:#555" in verdict
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


def test_exported_models_load_elsewhere_and_reproduce_their_cell(micro_run):
    """An export is a plain Hugging Face directory: from_pretrained loads it and it measures the
    cell's perplexity exactly; its zeros are the cell's; the card carries measurements and provenance."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from absorbprune.core.io import read_tensors
    from absorbprune.evaluation.perplexity import ppl_row
    from absorbprune.plan.cell import Cell

    res = micro_run / "results"
    exports = sorted(p.parent for p in (res / "export" / "models").rglob("provenance.json"))
    assert [e.relative_to(res / "export" / "models").parts[:2] for e in exports] == [
        ("cell", "micro-opt"),
        ("selected", "micro-llama"),
    ]
    choices = read_choices(res)
    for export in exports:
        assert {"model.safetensors", "config.json", "tokenizer.json", "README.md", "allocation.json"} <= {
            p.name for p in export.iterdir()
        }
        prov = json.loads((export / "provenance.json").read_text())
        keys = prov["cell"]  # the cell's key columns
        cell = Cell(**{k: keys[k] for k in Cell.__dataclass_fields__})
        model = AutoModelForCausalLM.from_pretrained(export, dtype="auto").eval()
        AutoTokenizer.from_pretrained(export)
        ev = prov["params"]["evaluation"]
        ids = read_tensors(res / "eval" / cell.model / "ppl_tokens.safetensors")["input_ids"]
        with torch.no_grad():
            row = ppl_row(model, ids, ev["seqlen"], ev["batch_size"], {}, ev["ppl_source"], ev["max_windows"])
        grid = pd.read_parquet(res / "eval" / cell.path() / "ppl.parquet")
        assert float(row["ppl"].iloc[0]) == float(grid["ppl"].iloc[0])  # exactly
        linears = pd.read_parquet(res / "pruned" / cell.path() / "linears.parquet")
        blocks = model.model.decoder.layers if cell.model == "micro-opt" else model.model.layers
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
            assert set(chosen["correction_variant"]) == {cell.correction_variant}
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


def test_the_findings_tables_are_generated_from_a_run(micro_run, capsys):
    """tools/findings_tables.py, which the documents' numbers come from, reads a finished run."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("findings_tables", ROOT / "tools" / "findings_tables.py")
    tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tables)
    assert tables.main([str(micro_run / "results"), "--log", str(micro_run / "terminal.log")]) == 0
    out = capsys.readouterr().out
    for title in ("Dense models", "The paper's coefficient", "Headline", "Job-seconds per rule"):
        assert f"### {title}" in out
    assert "| micro-llama | 0.5 |" in out and "| prune_evaluate | micro-llama |" in out
