"""What every rule script does first: logging to the rule's log, threads, network, provenance.

A rule script is a ten-line adapter: ``job = start(snakemake)``, call one function of a stage
module, write ``snakemake.output`` with ``job.provenance(...)``.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import Any

from .network import set_network
from .provenance import make_provenance

__all__ = ["Job", "start"]


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


def start(smk: Any, stage: str) -> Job:
    """Route logging, warnings and tqdm to the rule's log; set torch threads and the network switches.

    Args:
        smk: the ``snakemake`` object Snakemake injects into a script.
        stage: the pipeline stage name recorded in provenance.
    """
    if smk.log:
        stream = open(smk.log[0], "a", buffering=1)
        sys.stderr = stream  # tqdm and warnings write to sys.stderr
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[logging.StreamHandler(sys.stderr)],
        force=True,
    )
    logging.captureWarnings(True)
    set_network(bool(smk.config.get("allow_network", False)))
    import torch

    torch.set_num_threads(max(1, int(smk.threads)))
    params = {k: v for k, v in smk.params.items()}
    logging.getLogger(stage).info("job %s: params %s", stage, params)
    return Job(smk=smk, stage=stage, params=params)
