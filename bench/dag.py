"""Benchmark: how fast Snakemake plans the grid (the workflow's own overhead, no job runs).

Run by hand (not part of the tests):  .venv/bin/python bench/dag.py [--finished DIR] [--repeats 3]

Measured in throw-away copies of the workflow, side by side in one run:

* ``paper dry run``: ``snakemake --dry-run --configfile presets/paper.yaml`` on an empty results
  directory (five 7-8B models x 2 pruners x 5 allocations x 11 correction variants x 4 sparsities
  x 3 seeds: 14,684 jobs before the selection checkpoints add the zero-shot jobs, one prune_evaluate
  per cell; `make estimate` counts them all). Target: under 10 s.
* ``micro no-op``: ``snakemake`` (a real invocation, not a dry run) on the finished micro grid,
  which must find nothing to do. Target: under 15 s. The micro grid is run first unless
  ``--finished`` names a directory holding a finished copy (e.g. a previous run of this script).
* ``parse``: ``snakemake --list-rules``, the Snakefile parse and config validation alone that every
  cluster job repeats when it starts.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def copy_workflow(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "config.yaml"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("rules", "envs", "profiles", "presets"):
        shutil.copytree(ROOT / name, dest / name, dirs_exist_ok=True)
    skip = shutil.ignore_patterns("*.egg-info", "__pycache__")
    shutil.copytree(ROOT / "src", dest / "src", ignore=skip, dirs_exist_ok=True)
    shutil.copy2(ROOT / "tests" / "configs" / "micro.yaml", dest / "micro.yaml")
    return dest


def timed(workdir: Path, *args: str) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return seconds, out.stdout + out.stderr


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--finished", type=Path, help="a copy of the workflow with the micro grid finished")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bench-dag-"))
    paper = copy_workflow(scratch / "paper")
    if args.finished:
        micro = args.finished
    else:
        micro = copy_workflow(scratch / "micro")
        print(f"running the micro grid once in {micro} ...", flush=True)
        seconds, _ = timed(micro, "--configfile", "micro.yaml")
        print(f"  micro grid from a clean start: {seconds:.0f} s")

    rows = []
    for name, workdir, cli, target in (
        ("paper dry run", paper, ["--dry-run", "--configfile", "presets/paper.yaml"], 10.0),
        ("micro no-op", micro, ["--configfile", "micro.yaml"], 15.0),
        ("parse (--list-rules)", micro, ["--list-rules", "--configfile", "micro.yaml"], None),
    ):
        runs = []
        for _ in range(args.repeats):
            seconds, text = timed(workdir, *cli)
            runs.append(seconds)
        jobs = ""
        if "total" in text:
            jobs = next(line.split()[-1] for line in text.splitlines() if line.strip().startswith("total"))
        if name == "micro no-op" and "Nothing to be done" not in text:
            raise SystemExit("the finished micro grid is not a no-op:\n" + text[-3000:])
        rows.append((name, jobs or "-", min(runs), statistics.median(runs), target))

    print(f"\n{'step':<22}{'jobs':>7}{'min s':>9}{'median s':>10}{'target s':>10}  met")
    for name, jobs, best, median, target in rows:
        met = "-" if target is None else ("yes" if median < target else "NO")
        shown = "-" if target is None else f"{target:.0f}"
        print(f"{name:<22}{jobs:>7}{best:>9.2f}{median:>10.2f}{shown:>10}  {met}")
    print(f"\nworkflow copies kept in {scratch}")


if __name__ == "__main__":
    main()
