"""The quiet terminal log (src/snakemake_logger_plugin_absorbprune)."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

from snakemake_logger_plugin_absorbprune import format_cell, format_line

SNAKEFILE = """
rule all:
    input: expand("out/{x}.txt", x=["a", "b"])

rule make:
    output: "out/{x}.txt"
    log: "logs/{x}.log"
    script: "job.py"
"""
SCRIPT = """
if snakemake.wildcards.x == FAIL:
    open(snakemake.log[0], "w").write("the detail of what went wrong\\n")
    raise SystemExit(1)
open(snakemake.output[0], "w").write("done")
"""


def _run(tmp_path, fail: str, *extra: str) -> str:
    (tmp_path / "Snakefile").write_text(textwrap.dedent(SNAKEFILE))
    (tmp_path / "job.py").write_text(SCRIPT.replace("FAIL", repr(fail)))
    cmd = [sys.executable, "-m", "snakemake", "-c1", "--logger", "absorbprune", "--show-failed-logs", *extra]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    return out.stdout + out.stderr


def test_one_line_per_job_with_cell_and_duration(tmp_path):
    text = _run(tmp_path, fail="none")
    lines = [line for line in text.splitlines() if line.startswith("[")]
    parsed = [re.match(r"^\[(\d)/3\] (\w+) +(\w*) +\d+\.\d s$", line) for line in lines]
    assert all(parsed), lines
    assert [int(m.group(1)) for m in parsed] == [1, 2, 3]
    assert {(m.group(2), m.group(3)) for m in parsed} == {("make", "a"), ("make", "b"), ("all", "")}
    assert all(line.endswith(" s") for line in lines)
    assert "Select jobs to execute" not in text and "rule make:" not in text
    assert "Job stats:" in text and "total        3" in text  # the plan stays


def test_a_failed_job_prints_in_full_with_its_log(tmp_path):
    text = _run(tmp_path, fail="b")
    assert "Error in rule make:" in text and "the detail of what went wrong" in text


def test_the_full_output_on_request(tmp_path):
    text = _run(tmp_path, "none", "--logger-absorbprune-full")
    assert "rule make:" in text and "wildcards: x=a" in text


def test_cell_and_line_formats():
    assert format_cell({"model": "smollm2", "pruner": "wanda", "sparsity": "0.7"}) == "smollm2/wanda/0.7"
    assert format_cell(None) == ""
    line = format_line(7, 119, "prune_evaluate", "x" * 200, 4000.0)
    assert len(line) <= 100 and line.startswith("[  7/119] prune_evaluate") and line.endswith("66.7 min")
    assert "..." in line
