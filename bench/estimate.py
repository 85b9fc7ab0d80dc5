"""Benchmark: the cost estimate (``make estimate``) against a measured run, rule by rule.

Run by hand (not part of the tests):

    .venv/bin/python bench/estimate.py --run                 # runs the default workflow in a scratch copy
    .venv/bin/python bench/estimate.py --log results.log     # or reads the log of a run you made

A run's log is what the workflow prints (one line per finished job: ``[ 7/123] rule  wildcards
12.3 s``, the project's logger plugin). For every rule the script prints the measured job-seconds
(summed over its jobs), the estimate of the same jobs on this machine's CPU (``plan.costs.CPU``),
and their ratio. The CPU constants were fitted to the default run this way; the target is every
model-loading rule within +-30% of its measured job-seconds. CPU speed on a shared 2-core machine
swings 2-3x from minute to minute: compare ratios from one run, not across runs.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from absorbprune.plan.costs import CPU, STAGES  # noqa: E402
from absorbprune.plan.estimate import run_estimate  # noqa: E402

LINE = re.compile(r"^\[\s*\d+/\d+\]\s+(\w+)\s+.*?\s([\d.]+) (s|min|h)$")
UNIT = {"s": 1.0, "min": 60.0, "h": 3600.0}


def measured(log: str) -> dict[str, tuple[int, float]]:
    """Rule -> (jobs, job-seconds) from a run's log."""
    out: dict[str, list[float]] = defaultdict(list)
    for line in log.splitlines():
        m = LINE.match(line.rstrip())
        if m:
            out[m.group(1)].append(float(m.group(2)) * UNIT[m.group(3)])
    return {rule: (len(v), sum(v)) for rule, v in out.items()}


def run_default(configfiles: list[str]) -> str:
    scratch = Path(tempfile.mkdtemp(prefix="bench-estimate-"))
    for name in ("Snakefile", "config.yaml"):
        shutil.copy2(ROOT / name, scratch / name)
    for name in ("rules", "envs", "profiles", "presets"):
        shutil.copytree(ROOT / name, scratch / name)
    shutil.copytree(ROOT / "src", scratch / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2"]
    cmd += ["--configfile", *[str(Path(c).resolve()) for c in configfiles]] if configfiles else []
    print(f"running {' '.join(cmd)} in {scratch} ...", flush=True)
    out = subprocess.run(cmd, cwd=scratch, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"the run failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out.stdout + out.stderr


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", action="store_true", help="run the workflow in a scratch copy first")
    source.add_argument("--log", type=Path, help="the printed log of a finished run")
    parser.add_argument("--configfile", nargs="*", default=[], help="the run's config files")
    args = parser.parse_args()
    log = run_default(args.configfile) if args.run else args.log.read_text()
    seen = measured(log)
    if not seen:
        raise SystemExit("no job lines in the log (the project's logger prints '[ n/N] rule ... s')")
    _, est = run_estimate(ROOT, args.configfile, from_scratch=True, on_gpu=False)
    print(f"estimate on {CPU.name} vs measured job-seconds, per rule")
    print(f"{'rule':22s} {'jobs':>5s} {'measured s':>11s} {'estimate s':>11s} {'ratio':>6s}")
    worst = 0.0
    for rule in sorted(seen, key=lambda r: -seen[r][1]):
        jobs, secs = seen[rule]
        guess = est.cpu_s.get(rule, 0.0)
        ratio = guess / secs if secs else float("nan")
        mark = " *" if rule in STAGES else ""
        if rule in STAGES:
            worst = max(worst, abs(ratio - 1))
        print(f"{rule:22s} {jobs:5d} {secs:11.1f} {guess:11.1f} {ratio:6.2f}{mark}")
    total = sum(s for _, s in seen.values())
    print(f"{'total':22s} {'':5s} {total:11.1f} {sum(est.cpu_s.values()):11.1f}")
    print(f"* model-loading rules (plan.costs.STAGES): largest deviation {worst:.0%} (target 30%)")


if __name__ == "__main__":
    main()
