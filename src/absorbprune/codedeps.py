"""Which package modules a rule script runs: its imports, followed through the package.

Snakemake tracks a script's own file but not what it imports. The rules add these modules to each
job's inputs, so editing a module reruns exactly the jobs whose scripts import it, directly or
through another module (imports inside functions included: they run in the job too), and their
downstream. Parsed with ``ast``; nothing is imported. Light: the Snakefile calls it at parse time.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

__all__ = ["module_imports", "script_modules"]

PACKAGE = "absorbprune"


def _resolve(node: ast.ImportFrom | ast.Import, current: str) -> list[str]:
    """Package modules named by one import statement in module ``current`` (``absorbprune.x``)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name == PACKAGE or a.name.startswith(PACKAGE + ".")]
    if node.level:  # relative: from .x import y / from . import x
        base = current.rsplit(".", node.level)[0]
        module = f"{base}.{node.module}" if node.module else base
    else:
        module = node.module or ""
    if module != PACKAGE and not module.startswith(PACKAGE + "."):
        return []
    # `from absorbprune import tables` names a module; `from .tables import X` names one module
    return [module] + [f"{module}.{a.name}" for a in node.names]


@functools.cache
def module_imports(path: Path, name: str) -> tuple[str, ...]:
    """Package modules a file imports anywhere in its body (candidates; non-modules kept)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.update(_resolve(node, name))
    return tuple(sorted(found))


def script_modules(script: str | Path, package_dir: str | Path) -> list[Path]:
    """Every module of the package ``script`` runs, transitively, as paths below ``package_dir``
    (the ``src/absorbprune`` directory), sorted.

    Raises:
        FileNotFoundError: the script does not exist.
    """
    package_dir = Path(package_dir)
    script = Path(script)
    if not script.is_file():
        raise FileNotFoundError(f"rule script {str(script)!r} does not exist")

    def file_of(module: str) -> Path | None:
        """The module's file, a package's __init__.py, or None (a name imported from a module)."""
        rel = module.removeprefix(PACKAGE).lstrip(".").replace(".", "/")
        candidates = [package_dir / f"{rel}.py", package_dir / rel / "__init__.py"] if rel else []
        candidates = candidates or [package_dir / "__init__.py"]
        return next((c for c in candidates if c.is_file()), None)

    seen: dict[str, Path] = {}
    todo = list(module_imports(script, f"{PACKAGE}.__script__"))
    while todo:
        module = todo.pop()
        path = file_of(module)
        if path is None or module in seen:
            continue
        seen[module] = path
        # relative imports in a package's __init__ resolve against the package itself
        todo.extend(module_imports(path, f"{module}.__init__" if path.name == "__init__.py" else module))
        if "." in module:  # importing a submodule runs its packages' __init__ first
            todo.append(module.rpartition(".")[0])
    return sorted(seen.values())
