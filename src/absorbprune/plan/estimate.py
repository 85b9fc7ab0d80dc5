"""What a run will cost before anything is submitted (``make estimate CONFIG=...``).

The jobs are the dry-run DAG's (``snakemake --dry-run``: every job with its rule and wildcards;
the Snakefile's ``localrules`` run beside the controller, never submitted), plus the jobs that only
appear once the selection checkpoints have run (``zeroshot_cell`` under
``evaluation.zeroshot.cells: selected``: one per group and seed, an upper bound). Each job's cost
is its stage's per-token model (``plan.costs``) on a GPU for the rules the SLURM profile gives one,
on this machine's CPU for the rest. Light: no torch.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .costs import A100, CPU, Context, Job, Machine, job_work

__all__ = [
    "Estimate",
    "after_checkpoints",
    "dry_run_jobs",
    "estimate",
    "header_line",
    "local_rules",
    "run_estimate",
    "stage_line",
]

log = logging.getLogger(__name__)


# ---- the DAG ---------------------------------------------------------------------------------
_RULE = re.compile(r"^(local)?(rule|checkpoint) (\w+):$")
_WILDCARDS = re.compile(r"^\s+wildcards: (.*)$")


def dry_run_jobs(
    workdir: Path, configfiles: Sequence[str], from_scratch: bool, extra: Sequence[str] = ()
) -> list[Job]:
    """Every job of ``snakemake --dry-run`` in ``workdir`` (``from_scratch``: as if nothing were
    built, ``--forceall``), with its rule, wildcards and whether it is a local rule."""
    cmd = [sys.executable, "-m", "snakemake", "--dry-run", "--workflow-profile", "none", "--cores", "1"]
    cmd += ["--configfile", *configfiles] if configfiles else []
    cmd += ["--forceall"] if from_scratch else []
    cmd += list(extra)
    out = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    jobs: list[Job] = []
    current: tuple[str, bool] | None = None
    for line in (out.stdout + out.stderr).splitlines():
        m = _RULE.match(line)
        if m:
            if current is not None:
                jobs.append(Job(current[0], {}, current[1]))
            current = (m.group(3), bool(m.group(1)))
            continue
        w = _WILDCARDS.match(line)
        if w and current is not None:
            pairs = (p.split("=", 1) for p in re.split(r", (?=\w+=)", w.group(1)))
            jobs.append(Job(current[0], dict(pairs), current[1]))
            current = None
    if current is not None:
        jobs.append(Job(current[0], {}, current[1]))
    return [j for j in jobs if j.rule != "all"]


def after_checkpoints(config: Mapping[str, Any]) -> list[Job]:
    """Jobs a dry run cannot list: under ``zeroshot.cells: selected``, one ``zeroshot_cell`` per
    selection group and seed (an upper bound: groups sharing a chosen cell share its job)."""
    zs = config["evaluation"]["zeroshot"]
    if zs.get("cells", "all") != "selected" or not zs["tasks"]:
        return []
    from .grid import selection_candidates

    groups = {c.group(): c for c in selection_candidates(dict(config))}
    return [
        Job("zeroshot_cell", {"model": c.model, "pruner": c.pruner}, False)
        for c in groups.values()
        for _ in config["calibration"]["seeds"]
    ]


def local_rules(snakefile: Path) -> set[str]:
    """The rules the Snakefile's ``localrules:`` directive names (they run beside the controller,
    never as cluster jobs; a dry run without a cluster executor does not mark them)."""
    names: set[str] = set()
    inside = False
    for line in snakefile.read_text().splitlines():
        if line.startswith("localrules:"):
            inside = True
            line = line.removeprefix("localrules:")
        elif inside and line and not line[0].isspace():
            inside = False
        if inside:
            names.update(n for n in re.split(r"[,\s]+", line.split("#")[0]) if n)
    return names


@dataclass
class Estimate:
    """Per rule: jobs, SLURM submissions, and seconds on the GPU (rules the cluster profile gives
    a GPU) and on CPUs."""

    jobs: Counter = field(default_factory=Counter)
    submitted: Counter = field(default_factory=Counter)
    gpu_s: defaultdict = field(default_factory=lambda: defaultdict(float))
    cpu_s: defaultdict = field(default_factory=lambda: defaultdict(float))
    max_job_s: defaultdict = field(default_factory=lambda: defaultdict(float))

    def table(self) -> list[dict[str, Any]]:
        rows = []
        for rule in sorted(self.jobs, key=lambda r: -(self.gpu_s[r] + self.cpu_s[r])):
            rows.append(
                {
                    "rule": rule,
                    "jobs": self.jobs[rule],
                    "submitted": self.submitted[rule],
                    "gpu_hours": self.gpu_s[rule] / 3600,
                    "cpu_hours": self.cpu_s[rule] / 3600,
                    "longest_job_min": self.max_job_s[rule] / 60,
                }
            )
        return rows


def estimate(
    jobs: Sequence[Job],
    config: Mapping[str, Any],
    gpu_rules: set[str],
    gpu: Machine = A100,
    cpu: Machine = CPU,
) -> Estimate:
    """The cost of ``jobs``: a rule in ``gpu_rules`` on ``gpu``, any other on ``cpu``."""
    alpha = "alphapruning" in config["grid"]["allocations"]
    c, est = (
        Context(config, svd_in_calibrate=alpha and not any(j.rule == "weight_stats" for j in jobs)),
        Estimate(),
    )
    for job in jobs:
        work = job_work(c, job)
        est.jobs[job.rule] += 1
        est.submitted[job.rule] += 0 if job.local else 1
        if job.rule in gpu_rules:
            s = work.seconds(gpu)
            est.gpu_s[job.rule] += s
        else:
            s = work.seconds(cpu)
            est.cpu_s[job.rule] += s
        est.max_job_s[job.rule] = max(est.max_job_s[job.rule], s)
    return est


def profile_gpu_rules(profile: Path) -> set[str]:
    """The rules a SLURM profile gives a GPU (``set-resources: <rule>: gpu``)."""
    import yaml

    prof = yaml.safe_load(profile.read_text()) or {}
    return {rule for rule, res in (prof.get("set-resources") or {}).items() if (res or {}).get("gpu")}


def _format(est: Estimate, title: str) -> str:
    rows = est.table()
    head = f"{'rule':22s} {'jobs':>7s} {'submitted':>9s} {'GPU-h':>9s} {'CPU-h':>8s} {'longest':>9s}"
    lines = [title, head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['rule']:22s} {r['jobs']:7d} {r['submitted']:9d} {r['gpu_hours']:9.1f} "
            f"{r['cpu_hours']:8.2f} {r['longest_job_min']:7.1f} m"
        )
    lines.append("-" * len(head))
    lines.append(
        f"{'total':22s} {sum(est.jobs.values()):7d} {sum(est.submitted.values()):9d} "
        f"{sum(est.gpu_s.values()) / 3600:9.1f} {sum(est.cpu_s.values()) / 3600:8.2f}"
    )
    return "\n".join(lines)


STAGE_MARK = "# STAGE-COST"


def stage_line(est: Estimate, n_cells: int) -> str:
    """The cost line a preset's header carries (below its ``# STAGE-COST`` line)."""
    return (
        f"# cells {n_cells}, jobs {sum(est.jobs.values())}, SLURM submissions "
        f"{sum(est.submitted.values())}, estimated {round(sum(est.gpu_s.values()) / 3600)} GPU-hours "
        "(one A100, assumed throughput), from scratch"
    )


def header_line(preset: Path) -> str | None:
    """The cost line a preset's header carries now (None: it has no ``# STAGE-COST`` mark)."""
    lines = preset.read_text().splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.startswith(STAGE_MARK):
            return lines[i + 1]
    return None


def write_header_line(preset: Path, line: str) -> None:
    lines = preset.read_text().splitlines(keepends=True)
    for i, old in enumerate(lines[:-1]):
        if old.startswith(STAGE_MARK):
            lines[i + 1] = line + "\n"
            preset.write_text("".join(lines))
            return
    raise ValueError(f"{preset}: no '{STAGE_MARK}' line in its header")


def load(root: Path, configfiles: Sequence[str]) -> dict[str, Any]:
    """``config.yaml`` with ``configfiles`` merged over it, validated (as the Snakefile does)."""
    from .config.files import merge, read_config_file
    from .config.validate import validate_config

    config: dict[str, Any] = read_config_file(root / "config.yaml")
    for path in configfiles:
        config = merge(config, read_config_file(root / path))
    return validate_config(config)


def run_estimate(
    root: Path,
    configfiles: Sequence[str],
    from_scratch: bool,
    on_gpu: bool = True,
    profile: str = "profiles/slurm/config.yaml",
) -> tuple[dict[str, Any], Estimate]:
    """The estimate of the workflow in ``root`` under ``configfiles``."""
    config = load(root, configfiles)
    local = local_rules(root / "Snakefile")
    jobs = [
        Job(j.rule, j.wildcards, j.local or j.rule in local)
        for j in dry_run_jobs(root, configfiles, from_scratch) + after_checkpoints(config)
    ]
    gpu_rules = profile_gpu_rules(root / profile) if on_gpu else set()
    return config, estimate(jobs, config, gpu_rules)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--configfile", nargs="*", default=[], help="as snakemake's (merged over config.yaml)"
    )
    parser.add_argument("--from-scratch", action="store_true", help="every job, as if nothing were built")
    parser.add_argument(
        "--profile", default="profiles/slurm/config.yaml", help="the profile naming the GPU rules"
    )
    parser.add_argument(
        "--on", choices=["gpu", "cpu"], default="gpu", help="cpu: the GPU rules on this CPU too"
    )
    parser.add_argument("--json", help="also write the table here")
    parser.add_argument(
        "--stage-header",
        action="store_true",
        help="print the cost line of the last config file's header (from scratch); with --write, rewrite it",
    )
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    root = Path.cwd()
    from_scratch = args.from_scratch or args.stage_header
    config, est = run_estimate(root, args.configfile, from_scratch, args.on == "gpu", args.profile)
    if args.stage_header:
        from .grid import cells

        line = stage_line(est, len(cells(config)))
        print(line)
        if args.write:
            write_header_line(root / args.configfile[-1], line)
        return
    where = f"GPU rules on {A100.name}, the rest on {CPU.name}" if args.on == "gpu" else f"on {CPU.name}"
    scope = "every job, from scratch" if from_scratch else "the jobs not yet done"
    print(_format(est, f"estimate for {' + '.join(['config.yaml', *args.configfile])} ({scope}; {where})"))
    if args.json:
        Path(args.json).write_text(json.dumps(est.table(), indent=1))


if __name__ == "__main__":
    main()
