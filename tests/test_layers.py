"""Layers: every import in lockbuild/ runs down the declared order; heavy libraries have one home.

The order (DESIGN.md §3), lowest first: the root leaves; ``inputs``, ``build``, ``store``;
``index``, ``resolution``, ``trust``, ``output`` (siblings that do not import each other);
``app``; ``cli``; and the two entry points ``lockbuild.tasks`` and ``lockbuild.__main__``.
Every import counts: at module level, inside functions and under ``TYPE_CHECKING`` (an import
under ``TYPE_CHECKING`` is allowed against the order only where :data:`TYPE_CHECKING_ONLY`
declares it). :data:`KNOWN_DEBT` lists the imports that still run against the order today, each
with the names it may carry and why; the list may only shrink.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "lockbuild"

LEAVES: tuple[str, ...] = ("errors", "hashing", "instants", "models", "urls")
"""Root modules (layer 0): plain values and pure helpers, importing only ``errors``."""

LAYER: dict[str, int] = {
    "lockbuild": 0,  # the package itself: ``__version__``
    **dict.fromkeys(LEAVES, 0),
    "inputs": 1,
    "build": 1,
    "store": 1,
    "index": 2,
    "resolution": 2,
    "trust": 2,
    "output": 2,
    "app": 3,
    "cli": 4,
    "tasks": 5,  # lockbuild/tasks.py: ``from lockbuild.tasks import *`` in a project's dodo.py
    "__main__": 5,  # python -m lockbuild
}
"""The layer of each unit: a subpackage, a root leaf, or an entry point."""

_BASE = frozenset({"lockbuild", *LEAVES})

MAY_IMPORT: dict[str, frozenset[str]] = {
    "lockbuild": frozenset(),
    **{leaf: frozenset({"lockbuild", "errors"} - {leaf}) for leaf in LEAVES},
    "inputs": _BASE,
    "build": _BASE,
    "store": _BASE,
    "index": _BASE | {"build", "store", "inputs.environment", "inputs.lockfile"},
    "resolution": _BASE | {"inputs.environment", "inputs.lockfile"},
    "trust": _BASE | {"store", "inputs.lockfile"},
    "output": _BASE,
    "app": _BASE | {"inputs", "build", "store", "index", "resolution", "trust", "output"},
    "cli": _BASE | {"inputs", "store", "app"},
    "tasks": frozenset({"app"}),
    "__main__": frozenset({"cli"}),
}
"""What each unit may import besides its own modules: units, or single modules (``pkg.module``)."""

SIBLINGS = ("index", "resolution")
"""Never import each other: the index client satisfies the resolver's ``PackageSource``
protocol structurally (resolvelib's provider/source separation)."""

TYPE_CHECKING_ONLY: dict[tuple[str, str], str] = {
    ("lockbuild.index.client", "lockbuild.resolution.source"): (
        "the client names the PackageSource protocol it satisfies, for the type checker only"
    ),
}
"""Imports allowed against the order only under ``if TYPE_CHECKING:``: (importer, imported)."""

KNOWN_DEBT: dict[tuple[str, str], tuple[frozenset[str], str]] = {}
"""Imports that run against the order today: (importer, imported) -> (names, why)."""

HOMES: dict[str, str] = {
    "requests": "index",
    "urllib3": "index",
    "diskcache": "store",
    "fsspec": "store",
    "resolvelib": "resolution",
    "subprocess": "build",
    "pyproject_hooks": "build",
    "doit": "app",
}
"""The one subpackage that may import each heavy library (``pyproject_hooks`` runs builds in
subprocesses; ``fsspec`` is the remote tier's, when there is one)."""

REQUIRED_HOMES = ("requests", "diskcache", "resolvelib", "subprocess", "doit")
"""Libraries that must be found, so that the home check cannot pass by finding nothing."""


@dataclass(frozen=True)
class Import:
    """One import statement's view of one imported module."""

    importer: str
    target: str
    """A dotted lockbuild module, or the top-level name of another distribution."""
    names: tuple[str, ...]
    path: Path
    line: int
    in_function: bool
    type_checking: bool

    def where(self) -> str:
        try:
            shown: Path | str = self.path.relative_to(PACKAGE.parent)
        except ValueError:
            shown = self.path
        place = " inside a function" if self.in_function else ""
        place += " under TYPE_CHECKING" if self.type_checking else ""
        return f"{shown}:{self.line}{place}"


def module_name(path: Path, package: Path = PACKAGE) -> str:
    """``lockbuild/index/http.py`` -> ``lockbuild.index.http``; ``__init__`` names its package."""
    parts = [package.name, *path.relative_to(package).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name."""
    return {module_name(path, package): path for path in sorted(package.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _walk(
    node: ast.AST, in_function: bool = False, type_checking: bool = False
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool, bool]]:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node, in_function, type_checking
        return
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        in_function = True
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        for child in node.body:
            yield from _walk(child, in_function, True)
        for child in node.orelse:
            yield from _walk(child, in_function, type_checking)
        return
    for child in ast.iter_child_nodes(node):
        yield from _walk(child, in_function, type_checking)


def _resolve(name: str, known: Iterable[str]) -> str:
    """The longest known lockbuild module that ``name`` starts with."""
    parts = name.split(".")
    known = set(known)
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return name


def collect_imports(package: Path = PACKAGE) -> list[Import]:
    """Every import of every module under ``package``, wherever it is written."""
    found = modules(package)
    result = []
    for importer, path in found.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node, in_function, type_checking in _walk(tree):
            flags = {"in_function": in_function, "type_checking": type_checking}
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = _resolve(alias.name, found)
                    if target.split(".")[0] != package.name:
                        target = alias.name.split(".")[0]
                    result.append(Import(importer, target, (), path, node.lineno, **flags))
                continue
            base = node.module or ""
            if node.level:
                anchor = importer.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            if base.split(".")[0] != package.name:
                names = tuple(alias.name for alias in node.names)
                result.append(
                    Import(importer, base.split(".")[0], names, path, node.lineno, **flags)
                )
                continue
            by_target: dict[str, list[str]] = {}
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                target = submodule if submodule in found else _resolve(base, found)
                by_target.setdefault(target, []).append(alias.name)
            for target, names in by_target.items():
                result.append(Import(importer, target, tuple(names), path, node.lineno, **flags))
    return result


def unit(module: str) -> str:
    """The unit a lockbuild module belongs to: its subpackage, or itself at the root."""
    parts = module.split(".")
    return parts[0] if len(parts) == 1 else parts[1]


def _allowed(importer_unit: str, target: str) -> bool:
    for allowed in MAY_IMPORT.get(importer_unit, frozenset()):
        if "." in allowed:
            name = f"lockbuild.{allowed}"
            if target == name or target.startswith(name + "."):
                return True
        elif unit(target) == allowed:
            return True
    return False


def is_lockbuild(item: Import) -> bool:
    return item.target.split(".")[0] == "lockbuild"


def violations(imports: Iterable[Import]) -> list[str]:
    """One message per import that runs against the order and is not declared."""
    problems = []
    for item in imports:
        if not is_lockbuild(item):
            continue
        source, target = unit(item.importer), unit(item.target)
        if source == target or _allowed(source, item.target):
            continue
        edge = (item.importer, item.target)
        if item.type_checking and edge in TYPE_CHECKING_ONLY:
            continue
        debt = KNOWN_DEBT.get(edge)
        if debt is not None and set(item.names) <= debt[0]:
            continue
        extra = f" ({', '.join(item.names)})" if item.names else ""
        allowed = ", ".join(sorted(MAY_IMPORT.get(source, frozenset()))) or "nothing"
        problems.append(
            f"{item.where()}: {item.importer} (layer {LAYER.get(source, '?')} {source}) imports "
            f"{item.target}{extra} (layer {LAYER.get(target, '?')} {target}); "
            f"{source} may import only: {allowed}"
        )
    return problems


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(name for name in modules() if unit(name) not in LAYER)
    assert not unplaced, f"modules of no known layer (add their unit to LAYER): {unplaced}"


def test_the_declared_order_runs_one_way() -> None:
    upward = [
        f"{source} -> {allowed}"
        for source, targets in MAY_IMPORT.items()
        for allowed in targets
        if LAYER[allowed.split(".")[0]] > LAYER[source]
        or (
            LAYER[allowed.split(".")[0]] == LAYER[source] and allowed not in {"lockbuild", "errors"}
        )
    ]
    assert not upward, f"MAY_IMPORT allows imports that do not run down: {upward}"
    assert set(MAY_IMPORT) == set(LAYER)


def test_imports_run_down_the_order() -> None:
    problems = violations(collect_imports())
    assert not problems, "imports against the layer order:\n" + "\n".join(problems)


def test_index_and_resolution_never_import_each_other() -> None:
    crossing = [
        f"{item.where()}: {item.importer} imports {item.target}"
        for item in collect_imports()
        if is_lockbuild(item)
        and {unit(item.importer), unit(item.target)} == set(SIBLINGS)
        and not (item.type_checking and (item.importer, item.target) in TYPE_CHECKING_ONLY)
        and (item.importer, item.target) not in KNOWN_DEBT
    ]
    assert not crossing, "index and resolution are siblings:\n" + "\n".join(crossing)


def test_known_debt_is_still_owed() -> None:
    names_by_edge: dict[tuple[str, str], set[str]] = {}
    for item in collect_imports():
        names_by_edge.setdefault((item.importer, item.target), set()).update(item.names)
    paid = {
        edge: sorted(names - names_by_edge.get(edge, set()))
        for edge, (names, _why) in KNOWN_DEBT.items()
        if names - names_by_edge.get(edge, set())
    }
    assert not paid, f"paid off: remove these names from KNOWN_DEBT: {paid}"


def test_heavy_libraries_have_one_home() -> None:
    homes: dict[str, set[str]] = {}
    strays = []
    for item in collect_imports():
        if is_lockbuild(item) or item.target not in HOMES:
            continue
        homes.setdefault(item.target, set()).add(item.importer)
        if unit(item.importer) != HOMES[item.target]:
            strays.append(f"{item.where()}: {item.target} belongs to {HOMES[item.target]}/ only")
    assert not strays, "\n".join(strays)
    missing = [library for library in REQUIRED_HOMES if library not in homes]
    assert not missing, f"never imported (is the scan blind?): {missing}"


def test_the_check_catches_an_import_against_the_order(tmp_path: Path) -> None:
    package = tmp_path / "lockbuild"
    (package / "inputs").mkdir(parents=True)
    (package / "app").mkdir()
    for path in ("__init__.py", "inputs/__init__.py", "app/__init__.py", "app/pipeline.py"):
        (package / path).write_text('"""x"""\n')
    (package / "inputs" / "settings.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from lockbuild.app import pipeline\n"
        "def late():\n"
        "    from ..app.pipeline import compile_lock\n"
    )
    problems = violations(collect_imports(package))
    assert len(problems) == 2, problems
    assert "inputs/settings.py:3 under TYPE_CHECKING: lockbuild.inputs.settings" in problems[0]
    assert "inputs/settings.py:5 inside a function" in problems[1]
    assert "imports lockbuild.app.pipeline (compile_lock) (layer 3 app)" in problems[1]


def test_the_public_paths_stay() -> None:
    import lockbuild.app.tasks as tasks
    import lockbuild.cli
    import lockbuild.tasks as public

    assert callable(lockbuild.cli.main)
    assert public.__all__ == tasks.__all__
    assert public.task_lock is tasks.task_lock
    assert public.load_project is tasks.load_project
