"""The study snapshot writer (``tools/snapshot_study.py``) on a finished run: every summary table,
the generated README and the README block (docs/studies.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from absorbprune.tables.summary import summary_schemas

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import snapshot_study  # noqa: E402


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
