"""The SLURM integration tests need a reachable cluster: `tools/slurm_local.sh start` (or
`make test-slurm`, which starts and stops it around them). They fail, not skip, when it is down;
deselect them with `-m "not slurm"` on a machine without one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

import pytest

# The names tools/slurm_local.sh registers (same environment variables override both).
PARTITION = os.environ.get("SLURM_LOCAL_PARTITION", "local")
ACCOUNT = os.environ.get("SLURM_LOCAL_ACCOUNT", "absorbprune")


@dataclass(frozen=True)
class Cluster:
    partition: str
    account: str


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slurm: needs a running SLURM cluster (tools/slurm_local.sh start)")


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="session", autouse=True)
def slurm_cluster() -> Cluster:
    """The partition and account to submit to; fails with what to do when the cluster is unusable."""
    hint = "Start the local cluster with `tools/slurm_local.sh start` (or run `make test-slurm`)."
    for tool in ("sinfo", "squeue", "sacct", "sbatch", "scancel"):
        if shutil.which(tool) is None:
            pytest.fail(f"`{tool}` is not installed: no SLURM client here. {hint}", pytrace=False)
    try:
        out = _run("sinfo", "-h", "-o", "%R %a", "-p", PARTITION)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`sinfo` got no answer within 30 s from the SLURM controller. {hint}", pytrace=False)
    if out.returncode != 0:
        pytest.fail(f"`sinfo` cannot reach a SLURM controller: {out.stderr.strip()}\n{hint}", pytrace=False)
    if f"{PARTITION} up" not in out.stdout:
        pytest.fail(
            f"partition {PARTITION!r} is missing or not up (sinfo: {out.stdout!r}). {hint}", pytrace=False
        )
    user = (
        os.environ.get("USER") or subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    )
    assoc = _run(
        "sacctmgr",
        "-n",
        "-P",
        "show",
        "assoc",
        "where",
        f"user={user}",
        f"account={ACCOUNT}",
        "format=account",
    )
    if assoc.returncode != 0 or ACCOUNT not in assoc.stdout.split():
        pytest.fail(
            f"account {ACCOUNT!r} is not associated with user {user!r} in slurmdbd "
            f"({assoc.stderr.strip() or 'no association'}). {hint}",
            pytrace=False,
        )
    config = _run("scontrol", "show", "config").stdout
    if "job_comment" not in config:
        pytest.fail(
            "sacct does not keep job comments (AccountingStoreFlags=job_comment), which the tests use "
            f"to map SLURM jobs to rules. {hint}",
            pytrace=False,
        )
    return Cluster(partition=PARTITION, account=ACCOUNT)
