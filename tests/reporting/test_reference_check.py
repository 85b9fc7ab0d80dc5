"""The published-number check (reporting.reference_check, rendered by reporting.reference_page): the
data file is well-formed, cells are matched by hub id and protocol, a cell measured under another
protocol is kept and says why, and docs/reference-check.md holds the data file's tables."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest

from absorbprune.core.io import NonFiniteValue, write_parquet
from absorbprune.plan.cell import Cell, nm_of
from absorbprune.plan.codedeps import normalized_code
from absorbprune.registry.allocators import ALLOCATORS
from absorbprune.registry.pruners import PRUNERS
from absorbprune.reporting import reference_check as rc
from absorbprune.reporting.reference_check import (
    REFERENCE_CHECK,
    load_published,
    published_spread,
    reference_check,
)
from absorbprune.reporting.reference_page import (
    published_markdown,
    reference_check_html,
    reference_check_section,
)

ROOT = Path(__file__).resolve().parents[2]
RECORDS = load_published().records
PAPER = {
    "seqlen": 2048,
    "max_windows": None,
    "calibration": {"source": "c4", "n_samples": 128, "seqlen": 2048},
}
MODELS = {"llama2-7b": {"source": "hub", "id": "meta-llama/Llama-2-7b-hf"}}
HP = {
    "llama2-7b/wanda/uniform": {},
    "llama2-7b/wanda/owl": {"lambda": 0.08, "M": 5.0},
    "llama2-7b/wanda/owl-lambda0.05": {"lambda": 0.05, "M": 5.0},
    "llama2-7b/sparsegpt/dlp": {"alpha": 0.15},
}


# --- the data file --------------------------------------------------------------------------------


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: f"{r.label}:{r.hub_id}:{r.pruner}:{r.allocation}")
def test_every_published_record_is_well_formed(record):
    dense = record.pruner == "dense"
    assert record.pruner in {"dense", *PRUNERS.names()}
    assert record.allocation in {"dense", *ALLOCATORS.names()}
    assert (record.allocation == "dense") == dense
    nm = nm_of(record.structure)  # raises on a malformed structure
    assert nm is None or (
        record.allocation == "uniform" and record.sparsity == pytest.approx(1 - nm[0] / nm[1])
    )
    assert (record.sparsity is None) == dense and (dense or 0 < record.sparsity < 1)
    assert isinstance(record.ppl, float) and math.isfinite(record.ppl) and record.ppl > 1
    assert record.dataset == "wikitext2" and isinstance(record.seqlen, int) and record.seqlen > 0
    assert (record.calibration is None) == dense
    if record.calibration:
        assert record.calibration.source == "c4" and record.calibration.n_samples > 0
    assert record.kind in rc.KINDS
    assert record.source.strip() and record.label.strip() and re.match(r"https://\S+$", record.url)
    if record.kind == "primary":  # read at a pinned commit of the authors' repository
        assert re.search(r"github\.com/[^/]+/[^/]+/blob/[0-9a-f]{40}/", record.url)
    if record.hyperparameters is not None:
        assert record.hyperparameters and set(record.hyperparameters) <= set(
            ALLOCATORS[record.allocation].hyper
        )
        assert all(isinstance(v, float) and math.isfinite(v) for v in record.hyperparameters.values())


def test_no_source_reports_one_setting_twice():
    seen = [(r.label, load_published().canonical(r.hub_id), *r.setting()[1:]) for r in RECORDS]
    assert len(seen) == len(set(seen))


def test_the_anchor_numbers_are_there():
    def ppl(hub_id, pruner, allocation, sparsity, label):
        (r,) = [
            r
            for r in RECORDS
            if (r.hub_id, r.pruner, r.allocation, r.sparsity, r.label)
            == (hub_id, pruner, allocation, sparsity, label)
        ]
        return r.ppl

    llama2 = "meta-llama/Llama-2-7b-hf"
    assert ppl(llama2, "dense", "dense", None, "DLP README") == 5.47
    assert [ppl(llama2, "wanda", a, 0.7, "DLP README") for a in ("uniform", "owl", "dlp")] == [
        76.84,
        30.58,
        22.79,
    ]
    assert [ppl(llama2, "sparsegpt", a, 0.7, "DLP README") for a in ("uniform", "owl", "dlp")] == [
        27.84,
        19.71,
        18.58,
    ]
    assert ppl("huggyllama/llama-7b", "wanda", "owl", 0.7, "OWL README") == 24.55
    assert ppl(llama2, "wanda", "atp", 0.7, "ATP paper (transcribed)") == 22.16


def test_a_malformed_record_is_refused():
    sources = {
        "s": {"citation": "c", "label": "l", "url": "https://x", "kind": "primary", "dataset": "wikitext2"}
    }
    sources["s"] |= {
        "seqlen": 2048,
        "calibration": {"source": "c4", "n_samples": 128, "seqlen": 2048},
        "note": "",
    }
    good = {
        "hub_id": "a/b",
        "pruner": "wanda",
        "allocation": "uniform",
        "sparsity": 0.7,
        "ppl": 9.0,
        "source": "s",
    }
    assert rc._record(good, sources, 0).ppl == 9.0
    for bad in ({"ppl": "4.9e4"}, {"ppl": float("nan")}, {"source": "t"}, {"typo": 1}, {"sparsity": True}):
        with pytest.raises(ValueError):
            rc._record({**good, **bad}, sources, 0)
    with pytest.raises(ValueError, match="missing fields"):
        rc._record({k: v for k, v in good.items() if k != "sparsity"}, sources, 0)


def test_the_data_file_is_package_data_and_part_of_the_code_hash():
    path = Path(rc.__file__)
    assert normalized_code(path)[1] == ("published.yaml",)
    assert (path.parent / "published.yaml").is_file()
    assert '"reporting/*.yaml"' in (ROOT / "pyproject.toml").read_text()


def test_the_spread_between_two_published_runs():
    spread = published_spread()
    assert spread.n >= 10  # the OWL and DLP READMEs share LLaMA-7B/13B/30B
    # LLaMA-7B Wanda+OWL: 24.55 vs 24.46; SparseGPT uniform: 26.30 vs 25.38
    assert spread.low <= 24.55 / 24.46 - 1 < 26.30 / 25.38 - 1 <= spread.high < 0.1


# --- the check --------------------------------------------------------------------------------------


def _row(cell: Cell, ppl: float, dataset: str = "wikitext2", status: str = "ok", reason: str = "") -> dict:
    return {**cell.keys(), "ppl": ppl, "ppl_dataset": dataset, "status": status, "reason": reason}


def _grid(dataset: str = "wikitext2", model: str = "llama2-7b") -> pd.DataFrame:
    rows = [_row(Cell.dense(model), 5.5, dataset)]
    for seed, ppl in enumerate((30.0, 32.0, 31.0)):
        rows.append(_row(Cell(model, "wanda", "unstructured", "owl", "none", 0.7, seed), ppl, dataset))
        rows.append(
            _row(Cell(model, "wanda", "unstructured", "owl-lambda0.05", "none", 0.7, seed), 40.0, dataset)
        )
        rows.append(
            _row(Cell(model, "wanda", "unstructured", "owl", "paper-gamma0.05", 0.7, seed), 20.0, dataset)
        )
        rows.append(_row(Cell(model, "wanda", "unstructured", "uniform", "none", 0.6, seed), 10.0, dataset))
        rows.append(_row(Cell(model, "wanda", "unstructured", "uniform", "none", 0.7, seed), 80.0, dataset))
    failed = Cell(model, "sparsegpt", "unstructured", "dlp", "none", 0.7, 0)
    rows.append(_row(failed, math.nan, dataset, "failed", "non-finite loss in block 3"))
    return pd.DataFrame(rows)


def _check(grid=None, models=MODELS, protocol=PAPER, hp=HP) -> pd.DataFrame:
    out = reference_check(_grid() if grid is None else grid, models, protocol, hp)
    assert list(out.columns) == REFERENCE_CHECK.names
    return out


def _one(table: pd.DataFrame, **keys) -> pd.DataFrame:
    mask = pd.Series(True, index=table.index)
    for k, v in keys.items():
        mask &= table[k] == v
    return table[mask]


def test_base_cells_are_averaged_over_seeds_and_divided_by_the_published_number():
    table = _check()
    owl = _one(table, allocation_variant="owl", source=_source("DLP README")).iloc[0]
    assert owl["measured_ppl"] == pytest.approx(31.0) and owl["n_seeds"] == 3
    assert owl["published_ppl"] == 30.58 and owl["ratio"] == pytest.approx(31.0 / 30.58)
    assert owl["comparable"] and owl["why_not"] == "" and owl["kind"] == "primary"
    assert owl["url"].startswith("https://github.com/ironartisan/DLP/blob/")
    dense = _one(table, pruner="dense", source=_source("DLP README")).iloc[0]
    assert dense["sparsity"] == 0.0 and dense["ratio"] == pytest.approx(5.5 / 5.47) and dense["comparable"]


def _source(label: str) -> str:
    return next(r.source for r in RECORDS if r.label == label)


def test_only_base_cells_with_a_published_number_appear():
    table = _check()
    assert set(table["allocation_variant"]) == {"dense", "owl", "owl-lambda0.05", "uniform", "dlp"}
    assert set(table["sparsity"]) == {0.0, 0.7}  # nobody published 60%
    uniform = _one(table, allocation_variant="uniform")  # two sources, two rows
    assert sorted(uniform["published_ppl"]) == [74.26, 76.84] and sorted(uniform["kind"]) == [
        "primary",
        "secondary",
    ]
    assert not (table["measured_ppl"] == 20.0).any()  # the corrected cell never compares


def test_matching_is_by_hub_id_not_by_the_config_key():
    grid = _grid(model="mine")
    assert _check(grid, models={"mine": {"id": "META-LLAMA/llama-2-7b-hf"}}).shape[0] > 0  # case-insensitive
    assert _check(grid, models={"mine": {"id": "mistralai/Mistral-7B-v0.1"}}).empty  # none published
    assert _check(grid, models={"mine": {"source": "builtin"}}).empty  # no hub id: nothing to compare
    assert _check(grid, models={}).empty
    mirror = _check(grid, models={"mine": {"id": "Enoch/llama-7b-hf"}})  # an alias of huggyllama/llama-7b
    assert set(mirror["published_ppl"][mirror["pruner"] == "dense"]) == {5.68}
    assert set(mirror["hub_id"]) == {"Enoch/llama-7b-hf"}  # as the config spells it


def test_another_protocol_is_kept_and_says_why():
    local = {
        "seqlen": 128,
        "max_windows": 8,
        "calibration": {"source": "local", "n_samples": 8, "seqlen": 128},
    }
    table = _check(_grid(dataset="local"), protocol=local)
    assert len(table) and not table["comparable"].any()
    owl = _one(table, allocation_variant="owl", source=_source("DLP README")).iloc[0]
    assert owl["ratio"] == pytest.approx(31.0 / 30.58)  # still computed, not compared
    for reason in (
        "perplexity on local (published: wikitext2)",
        "perplexity windows of 128 tokens (published: 2048)",
        "perplexity on 8 windows, not the whole test split",
        "calibration local 8x128 (published: c4 128x2048)",
    ):
        assert reason in owl["why_not"]
    dense = _one(table, pruner="dense", source=_source("DLP README")).iloc[0]
    assert "calibration" not in dense["why_not"]  # the dense model has no calibration set


def test_the_wanda_readme_llama2_numbers_are_at_4096_tokens():
    grid = pd.DataFrame([_row(Cell("llama2-7b", "wanda", "unstructured", "uniform", "none", 0.5, 0), 6.9)])
    (row,) = _check(grid).itertuples()
    assert row.published_ppl == 6.42 and not row.comparable
    assert "windows of 2048 tokens (published: 4096)" in row.why_not and "c4 128x4096" in row.why_not


def test_other_allocation_hyperparameters_are_not_compared():
    table = _check()
    swept = _one(table, allocation_variant="owl-lambda0.05", source=_source("DLP README")).iloc[0]
    assert not swept["comparable"] and swept["why_not"] == "owl lambda=0.05 (published: 0.08)"
    assert _one(table, allocation_variant="owl", source=_source("DLP README")).iloc[0]["comparable"]
    unknown = _check(hp={})  # a variant with no resolved hyperparameters
    assert "owl M=unset (published: 5)" in _one(unknown, allocation_variant="owl").iloc[0]["why_not"]
    unchecked = _check(hp=None)  # hyperparameters not given: not compared
    assert _one(unchecked, allocation_variant="owl-lambda0.05").iloc[0]["comparable"]


def test_a_setting_whose_seeds_all_failed_is_listed_not_dropped():
    table = _check()
    (failed,) = _one(table, allocation_variant="dlp").itertuples()
    assert failed.n_seeds == 0 and math.isnan(failed.measured_ppl) and math.isnan(failed.ratio)
    assert (
        not failed.comparable
        and failed.why_not == "every calibration seed failed: non-finite loss in block 3"
    )


def test_the_table_writes_under_its_schema_with_nan_only_where_every_seed_failed(tmp_path):
    table = _check()
    write_parquet(table, tmp_path / "reference_check.parquet", REFERENCE_CHECK, {})
    back = pd.read_parquet(tmp_path / "reference_check.parquet")
    nan = back["measured_ppl"].isna() | back["ratio"].isna()
    assert (nan == (back["n_seeds"] == 0)).all() and not back.loc[~nan].isna().any().any()
    assert back["published_ppl"].gt(0).all() and back["comparable"].dtype == bool
    with pytest.raises(NonFiniteValue):
        write_parquet(table.assign(published_ppl=math.nan), tmp_path / "bad.parquet", REFERENCE_CHECK, {})


def test_an_empty_grid_gives_an_empty_table_that_writes(tmp_path):
    empty = _check(_grid().iloc[0:0])
    assert empty.empty
    write_parquet(empty, tmp_path / "empty.parquet", REFERENCE_CHECK, {})
    assert "No cell of this run has a published number" in reference_check_section(empty)


def test_the_protocol_and_hyperparameters_come_from_the_config():
    from absorbprune.plan.config.files import merge, read_config_file
    from absorbprune.plan.config.validate import validate_config

    config = validate_config(
        merge(read_config_file(ROOT / "config.yaml"), read_config_file(ROOT / "presets/paper.yaml"))
    )
    assert rc.protocol_of(config) == PAPER
    hp = rc.variant_hyperparameters(config)
    assert hp["llama2-7b/wanda/owl"] == {"lambda": 0.08, "M": 5.0}
    assert hp["llama2-7b/sparsegpt/alphapruning"] == {"eps": 0.2}  # the per-model, per-pruner eps
    assert hp["opt-6.7b/wanda/uniform"] == {}


# --- rendering ---------------------------------------------------------------------------------------


def test_the_report_section_reads_ratios_and_links_sources():
    page = reference_check_html(_check())
    assert page.startswith("<!DOCTYPE html>") and "ratio</b> = measured / published" in page
    spread = published_spread()
    assert f"{100 * spread.low:.1f}&ndash;{100 * spread.high:.1f}%" in page
    assert "https://github.com/ironartisan/DLP/blob/" in page and ">DLP README</a>" in page
    assert "<b>1.014</b>" in page  # 31.0 / 30.58, a comparable ratio in bold
    assert "(secondary)" in page and "owl lambda=0.05 (published: 0.08)" in page
    far = _grid()
    far.loc[far["pruner"] == "dense", "ppl"] = 9.0  # a set-up problem: dense 9.0 against 5.47
    assert "background:#f8d7d7" in reference_check_section(_check(far))


def test_the_docs_hold_the_data_files_table():
    """docs/reference-check.md's published-number tables are generated: regenerate them with
    `python -m absorbprune.reporting.reference_check --markdown` between the two markers."""
    text = (ROOT / "docs" / "reference-check.md").read_text()
    start, end = "<!-- published numbers: start -->\n", "<!-- published numbers: end -->"
    assert start in text and end in text
    assert text.split(start, 1)[1].split(end, 1)[0] == published_markdown()
    spread = published_spread()  # the prose quotes the spread the data file gives
    assert f"{100 * spread.low:.1f}–{100 * spread.high:.1f}% apart (median {100 * spread.median:.1f}%" in text


def test_the_command_line_prints_the_markdown(capsys):
    assert rc.main(["--markdown"]) == 0
    assert capsys.readouterr().out == published_markdown()
