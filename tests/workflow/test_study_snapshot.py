"""Committed study snapshots (``studies/<name>/``, docs/studies.md): their tables still match
today's schemas, they come from one clean commit under one config that is the committed preset's,
their README is what the tool generates, and the top-level README quotes them through the
generated block only. The last test runs the snapshot tool itself on the micro run."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from absorbprune.core.io import check_finite
from absorbprune.core.provenance import read_parquet_provenance
from absorbprune.tables.summary import summary_schemas

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import snapshot_study  # noqa: E402

REQUIRED = ["families"]  # the studies the top-level README's answer rests on
STUDIES = sorted(p.parent for p in (ROOT / "studies").glob("*/run.json"))


def test_the_studies_the_readme_rests_on_are_committed():
    assert sorted(s.name for s in STUDIES if s.name in REQUIRED) == sorted(REQUIRED)


def _unmatched(preset: Any, config: Any, where: str = "") -> list[str]:
    """The keys of ``preset`` whose value is not the one ``config`` holds, as dotted paths."""
    if isinstance(preset, dict):
        if not isinstance(config, dict):
            return [where or "<root>"]
        return [
            bad
            for key, value in preset.items()
            for bad in _unmatched(value, config.get(key, KeyError), f"{where}.{key}".lstrip("."))
        ]
    return [] if preset == config else [f"{where}: preset {preset!r}, run {config!r}"]


@pytest.mark.parametrize("study", STUDIES, ids=lambda p: p.name)
def test_every_table_has_todays_schema(study):
    schemas = summary_schemas()
    found = sorted(p.stem for p in (study / "summary").glob("*.parquet"))
    assert found == sorted(schemas), f"{study.name}: tables {found}, expected {sorted(schemas)}"
    for name, schema in schemas.items():
        path = study / "summary" / f"{name}.parquet"
        got = pq.read_schema(path).remove_metadata()
        assert got.names == schema.names, f"{path}: columns {got.names}, today {schema.names}"
        for field in schema:
            assert got.field(field.name).type == field.type, f"{path}: column {field.name}"
        df = pq.read_table(path).to_pandas()
        check_finite(df, schema, path)


@pytest.mark.parametrize("study", STUDIES, ids=lambda p: p.name)
def test_one_clean_commit_under_the_committed_preset(study):
    run = json.loads((study / "run.json").read_text())
    assert len(run["commit"]) == 40 and not run["commit"].endswith("-dirty")
    records = [read_parquet_provenance(p) for p in sorted((study / "summary").glob("*.parquet"))]
    assert {r["git_revision"] for r in records} == {run["commit"]}
    assert len({r["config_hash"] for r in records}) == 1
    preset = yaml.safe_load(next(study.glob("*.yaml")).read_text())
    assert _unmatched(preset, records[0]["config"]) == []


@pytest.mark.parametrize("study", STUDIES, ids=lambda p: p.name)
def test_readmes_are_generated_from_the_snapshot(study):
    assert (study / "README.md").read_text() == snapshot_study.study_readme(study)
    top = (ROOT / "README.md").read_text()
    if study.name in REQUIRED:
        assert snapshot_study.readme_block(study) in top, (
            f"README.md's block for {study.name} differs from "
            f"`tools/snapshot_study.py readme-block studies/{study.name}`"
        )


def test_the_readme_quotes_no_study_outside_its_block():
    top = (ROOT / "README.md").read_text()
    for name in REQUIRED:
        begin = snapshot_study.BEGIN.format(name=name)
        end = snapshot_study.END.format(name=name)
        assert top.count(begin) == 1 and top.count(end) == 1, f"README.md: one block for {name}"


@pytest.mark.slow
def test_the_tool_snapshots_a_finished_run(micro_run, tmp_path):
    out = tmp_path / "micro"
    snapshot_study.main(
        [
            "snapshot",
            str(micro_run / "results"),
            str(out),
            "--preset",
            str(micro_run / "micro.yaml"),
            "--log",
            str(micro_run / "terminal.log"),
            "--commit",
            "0" * 40,
            "--wall-s",
            "12.5",
            "--command",
            "snakemake --configfile micro.yaml",
            "--machine",
            "test",
        ]
    )
    assert sorted(p.stem for p in (out / "summary").glob("*.parquet")) == sorted(summary_schemas())
    assert (out / "micro.yaml").read_text() == (micro_run / "micro.yaml").read_text()
    assert (out / "README.md").read_text() == snapshot_study.study_readme(out)
    assert "| all |" in (out / "job_seconds.md").read_text()
    assert str(micro_run) not in (out / "terminal.txt").read_text()
    block = snapshot_study.readme_block(out)
    assert block.startswith(snapshot_study.BEGIN.format(name="micro")) and "Dense models" in block

    # a rerun's cell against the snapshot: its own outputs agree, a changed perplexity does not
    cell = next((micro_run / "results" / "eval").glob(f"{snapshot_study.CELL_GLOB}/ppl.parquet")).parent
    rerun = tmp_path / "rerun"
    copy = rerun / "eval" / cell.relative_to(micro_run / "results" / "eval")
    shutil.copytree(cell, copy)
    lines = snapshot_study.check_rerun(out, rerun)
    assert len(lines) == 5 and all(line.endswith("| True |") for line in lines[2:]), lines
    assert snapshot_study.main(["check-rerun", str(out), str(rerun)]) == 0
    changed = pd.read_parquet(copy / "ppl.parquet")
    changed["ppl"] = np.nextafter(changed["ppl"], np.inf)
    changed.to_parquet(copy / "ppl.parquet")
    assert snapshot_study.check_rerun(out, rerun)[2].endswith("| False |")
    assert snapshot_study.main(["check-rerun", str(out), str(rerun)]) == 1
