"""Write envs/workflow.yaml (the rules' conda env) from requirements.lock, so both pin the same versions,
and its post-deploy script from requirements-nodeps.lock (a conda env file cannot say --no-deps;
Snakemake runs ``<env>.post-deploy.sh`` inside a new env right after creating it).

Usage: python tools/lock_to_env.py requirements.lock envs/workflow.yaml [requirements-nodeps.lock]
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path


def pins(lock: Path) -> list[str]:
    return [
        line.split("#", 1)[0].strip()
        for line in lock.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]


def render(lock: Path) -> str:
    py = ".".join(platform.python_version_tuple()[:2])
    lines = [
        "# Conda environment of every rule (snakemake --sdm conda). Generated from requirements.lock by",
        "# tools/lock_to_env.py (`make envs`); tests/test_layout.py checks the two pin the same versions.",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        f"  - python={py}",
        "  - pip",
        "  - pip:",
    ]
    lines += [f"      - {pin}" for pin in pins(lock)]
    lines += ["      - -e ..  # the absorbprune package itself (path relative to this file)"]
    return "\n".join(lines) + "\n"


def render_post_deploy(nodeps: Path) -> str:
    lines = [
        "#!/usr/bin/env bash",
        "# Generated from requirements-nodeps.lock by tools/lock_to_env.py (`make envs`). Snakemake runs it",
        "# in the new conda env: packages whose declared dependencies this workflow does not need.",
        "set -euo pipefail",
    ]
    lines += [f"python -m pip install --no-deps {pin}" for pin in pins(nodeps)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    env = Path(sys.argv[2])
    env.write_text(render(Path(sys.argv[1])))
    if len(sys.argv) > 3:
        script = env.with_name(env.stem + ".post-deploy.sh")
        script.write_text(render_post_deploy(Path(sys.argv[3])))
        script.chmod(0o755)
