"""The micro grid, run once per test session in a throw-away copy of the workflow (every
end-to-end test reads it; rerun tests copy it before changing anything)."""

from __future__ import annotations

import shutil

import pytest
from helpers import MICRO, copy_workflow, snakemake


@pytest.fixture(scope="session")
def micro_run(tmp_path_factory):
    wf = copy_workflow(tmp_path_factory.mktemp("micro"))
    shutil.copy2(MICRO, wf / "micro.yaml")
    out = snakemake(wf, "--configfile", "micro.yaml")
    (wf / "terminal.log").write_text(out.stdout + out.stderr)
    return wf
