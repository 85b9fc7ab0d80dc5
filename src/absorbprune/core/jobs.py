"""What every rule script does first: logging to the rule's log, threads, network, provenance.

A rule script is a ten-line adapter: ``job = start(snakemake)``, call one function of a stage
module, write ``snakemake.output`` with ``job.provenance(...)``.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from typing import Any

from .network import set_network
from .provenance import make_provenance

__all__ = ["PROGRESS", "Job", "set_threads", "start"]

# Long steps log their progress here; in a job it prints on the terminal and in the job's log.
PROGRESS = logging.getLogger("absorbprune.progress")


@dataclass
class Job:
    """The running job: its Snakemake object and parameters as a plain dict."""

    smk: Any
    stage: str
    params: dict[str, Any]

    def provenance(self, seeds: dict[str, int] | None = None, **extra: Any) -> dict[str, Any]:
        """Provenance of this job's outputs (resolved params, config + hash, git, libraries, seeds)."""
        record = make_provenance(self.stage, self.params, self.smk.config, seeds)
        record.update(extra)
        return record


def set_threads(n: int) -> None:
    """Cap the job's compute threads at ``n`` without importing torch for jobs that never use it.

    The OpenMP/MKL variables cover a torch imported later (they are read when it loads; a table-only
    job then skips torch's two-second import); an already imported torch is set directly.
    """
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)


def start(smk: Any, stage: str) -> Job:
    """Route logging, warnings and tqdm to the rule's log; set torch threads and the network switches.

    Args:
        smk: the ``snakemake`` object Snakemake injects into a script.
        stage: the pipeline stage name recorded in provenance.
    """
    terminal = sys.stderr
    if smk.log:
        stream = open(smk.log[0], "a", buffering=1)
        try:  # the process's stderr too: subprocesses (lm-eval runs `git describe`) and C libraries
            terminal = os.fdopen(os.dup(2), "w", buffering=1)
            os.dup2(stream.fileno(), 2)
        except OSError:
            pass
        sys.stderr = stream  # tqdm and warnings write to sys.stderr
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[logging.StreamHandler(sys.stderr)],
        force=True,
    )
    if smk.log:  # progress of long steps reaches the terminal as well as the job's log
        to_terminal = logging.StreamHandler(terminal)
        cell = "/".join(str(v) for v in dict(smk.wildcards.items()).values())
        to_terminal.setFormatter(logging.Formatter(f"      {smk.rule} {cell}: %(message)s"))
        PROGRESS.handlers = [to_terminal]
    logging.captureWarnings(True)
    set_network(bool(smk.config.get("allow_network", False)))
    set_threads(max(1, int(smk.threads)))
    params = {k: v for k, v in smk.params.items()}
    logging.getLogger(stage).info("job %s: params %s", stage, params)
    return Job(smk=smk, stage=stage, params=params)
