"""Write envs/workflow.yaml (the rules' conda env) from requirements.lock, so both pin the same versions.

Usage: python tools/lock_to_env.py requirements.lock envs/workflow.yaml
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path


def pins(lock: Path) -> list[str]:
    return [
        line.strip() for line in lock.read_text().splitlines() if line.strip() and not line.startswith("#")
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


if __name__ == "__main__":
    Path(sys.argv[2]).write_text(render(Path(sys.argv[1])))
