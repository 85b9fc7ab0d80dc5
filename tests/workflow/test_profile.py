"""The SLURM profile against the workflow: every rule that loads a model gets a GPU, by
construction; resources grow with the attempt; first-attempt times fit the work the estimate
predicts for the paper's grid, and the third attempt fits a 24-hour partition."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from absorbprune.plan.codedeps import calls
from absorbprune.plan.estimate import local_rules, run_estimate

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "profiles" / "slurm" / "config.yaml"
RULE = re.compile(r"^(?:rule|checkpoint) (\w+):")
SCRIPT = re.compile(r'^\s+"scripts/(\w+)\.py"')


def rule_scripts() -> dict[str, str]:
    """Rule -> the script it runs, from rules/*.smk."""
    out, current, in_script = {}, None, False
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        for line in smk.read_text().splitlines():
            m = RULE.match(line)
            if m:
                current, in_script = m.group(1), False
            elif line.strip() == "script:":
                in_script = True
            elif in_script and (s := SCRIPT.match(line)):
                out[current] = s.group(1)
                in_script = False
    return out


def resources() -> dict[str, dict]:
    return yaml.safe_load(PROFILE.read_text())["set-resources"]


def value(expr: object, attempt: int) -> float:
    return float(eval(str(expr), {"__builtins__": {}}, {"attempt": attempt}))


def test_the_gpu_rules_are_exactly_the_rules_that_load_a_model():
    scripts = rule_scripts()
    assert {"prune_evaluate", "export_model", "select", "zeroshot_cell"} <= set(scripts)
    loads = {
        r
        for r, s in scripts.items()
        if calls(ROOT / "rules" / "scripts" / f"{s}.py", ROOT / "src" / "absorbprune", "load_model")
    }
    gpu = {r for r, res in resources().items() if res.get("gpu")}
    assert loads == gpu, (
        f"load a model without a GPU: {sorted(loads - gpu)}; GPU without a model: {sorted(gpu - loads)}"
    )
    assert not loads & local_rules(ROOT / "Snakefile"), "a model-loading rule must not run on the login node"


def test_every_profile_rule_exists_and_its_memory_and_time_grow_with_the_attempt():
    scripts = rule_scripts()
    for rule, res in resources().items():
        assert rule in scripts, f"profile names {rule!r}, which is no rule"
        for key in ("mem_mb", "runtime"):
            if key in res:
                first, second, third = (value(res[key], a) for a in (1, 2, 3))
                assert first < second < third, f"{rule}.{key} does not grow with the attempt"


@pytest.mark.slow
def test_first_attempt_times_fit_the_paper_grid_and_retries_fit_a_day():
    _, est = run_estimate(ROOT, ["presets/paper.yaml"], from_scratch=True)
    for rule, res in resources().items():
        if not res.get("gpu"):
            continue
        longest_min = est.max_job_s.get(rule, 0.0) / 60
        first, third = value(res["runtime"], 1), value(res["runtime"], 3)
        assert first >= 1.5 * longest_min, f"{rule}: {first} min for a job estimated at {longest_min:.0f} min"
        assert third <= 24 * 60, f"{rule}: its third attempt asks {third} min"
