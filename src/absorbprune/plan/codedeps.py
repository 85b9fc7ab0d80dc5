"""Which package code a rule script runs, and a hash of what that code does.

Snakemake tracks a script's own file but not what it imports. ``script_modules`` follows a
script's imports through the package (imports inside functions included: they run in the job too;
so do the ``"absorbprune.module:attribute"`` references a registry imports on use);
``code_hash`` hashes those modules with their comments, docstrings and formatting removed (their
``ast``), plus the package data files a module declares in ``__data__``. Every rule passes the hash
as a param, so Snakemake's params trigger reruns exactly the jobs whose code changed what it does,
and their downstream, while a comment, a docstring or a reformatting reruns nothing. Parsed with
``ast``; nothing is imported. Light: the Snakefile calls it at parse time.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import re
from pathlib import Path

__all__ = ["calls", "code_hash", "module_imports", "normalized_code", "script_modules"]

PACKAGE = "absorbprune"
# A registry entry names its implementation as "absorbprune.module:attribute" and imports it when
# used (registry.base.load_ref): the module runs in the job as surely as an import.
_REF = re.compile(r"^absorbprune(\.[A-Za-z_][A-Za-z0-9_]*)+:[A-Za-z_][A-Za-z0-9_]*$")


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
def _parse(text: str, filename: str) -> ast.Module:
    """A module's tree, parsed once per content (an edited file is parsed again)."""
    return ast.parse(text, filename=filename)


def _type_checking_only(tree: ast.Module) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks: imports for annotations, which never
    run in a job."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = getattr(test, "id", None) or getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                skipped.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skipped


def module_imports(path: Path, name: str) -> tuple[str, ...]:
    """Package modules a file imports anywhere in its body, ``if TYPE_CHECKING:`` blocks aside
    (candidates; non-modules kept)."""
    tree = _parse(path.read_text(), str(path))
    skipped = _type_checking_only(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.update(_resolve(node, name))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _REF.match(node.value):
            found.add(node.value.partition(":")[0])  # a registry entry's "module:attribute"
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


_DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if not isinstance(node, _DOCUMENTED):
            continue
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            if isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _data_files(tree: ast.Module) -> tuple[str, ...]:
    """The ``__data__`` tuple of a module: package data files or directories (relative to the
    module) it reads."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__data__" for t in node.targets
        ):
            return tuple(ast.literal_eval(node.value))
    return ()


@functools.cache
def _normalized(text: str, filename: str) -> tuple[str, tuple[str, ...]]:
    tree = ast.parse(text, filename=filename)  # a fresh tree: stripping changes it
    return ast.dump(_strip_docstrings(tree), include_attributes=False), _data_files(tree)


def normalized_code(path: Path) -> tuple[str, tuple[str, ...]]:
    """A module's code without comments, docstrings or formatting (its ``ast`` dump), and the data
    files it declares."""
    return _normalized(path.read_text(), str(path))


def code_hash(script: str | Path, package_dir: str | Path) -> str:
    """sha256 (16 hex digits) of what the package code ``script`` runs does: every module of
    :func:`script_modules` as :func:`normalized_code`, and the bytes of its ``__data__`` files.

    The same on every machine with the same Python minor version (``ast.dump``'s format is
    Python's)."""
    package_dir = Path(package_dir)
    h = hashlib.sha256()
    for path in script_modules(script, package_dir):
        dump, data = normalized_code(path)
        h.update(f"{path.relative_to(package_dir).as_posix()}\n{dump}\n".encode())
        for name in data:  # a file, or every file below a directory
            target = path.parent / name
            files = sorted(p for p in target.rglob("*") if p.is_file()) if target.is_dir() else [target]
            for file in files:
                rel = file.relative_to(package_dir).as_posix()
                h.update(rel.encode() + b"\n" + file.read_bytes() + b"\n")
    return h.hexdigest()[:16]


def calls(script: str | Path, package_dir: str | Path, function: str) -> bool:
    """Whether ``script`` or a package module it runs (:func:`script_modules`) calls a function
    named ``function`` (``function(...)`` or ``x.function(...)``). Used to find the rules that load
    a whole model, which the cluster profile must give a GPU."""

    def named(node: ast.AST) -> bool:
        if not isinstance(node, ast.Call):
            return False
        f = node.func
        return (isinstance(f, ast.Name) and f.id == function) or (
            isinstance(f, ast.Attribute) and f.attr == function
        )

    for path in [Path(script), *script_modules(script, package_dir)]:
        if any(named(n) for n in ast.walk(_parse(path.read_text(), str(path)))):
            return True
    return False
