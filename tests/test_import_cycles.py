"""The loading path has no import cycle: among config, data, evaluator, suites, tasks, store, models and engine,
no layer imports (directly, or through any other module of evalkit) one that imports it back.

The graph is read with :mod:`ast` from every module of the installed packages (evalkit/, evaluators/, harness/,
leaderboard/, as pyproject's ``package-dir`` maps them). Imports at module level and inside functions count;
imports under ``if TYPE_CHECKING:`` do not (they never run), nor does a submodule's implicit import of its
parent package (only what an ``import`` statement names is an edge). Each layer is one node (a package with
all its modules); every other module is a node of its own, so a cycle through it is found too.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO

LAYERS = ("evalkit.config", "evalkit.data", "evalkit.evaluator", "evalkit.suites", "evalkit.tasks",
          "evalkit.store", "evalkit.models", "evalkit.engine")


@dataclass(frozen=True)
class Edge:
    source: str  # importing module
    target: str  # imported module
    where: str  # file:line of the import statement


def package_dirs() -> dict[str, Path]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    mapped = config["tool"]["setuptools"]["package-dir"]
    return {package: REPO / folder for package, folder in mapped.items()}


def modules() -> dict[str, Path]:
    """Every module name of the installed packages -> its file (a sub-package mapped elsewhere wins)."""
    dirs = package_dirs()
    out: dict[str, Path] = {}
    for package, folder in sorted(dirs.items(), key=lambda item: item[0].count(".")):
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([package, *parts])] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _statements(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: module level, in functions and classes, not under TYPE_CHECKING."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for other in child.orelse:
                yield from _statements(ast.Module(body=[other], type_ignores=[]))
            continue
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        yield from _statements(child)


def imports(name: str, path: Path, known: dict[str, Path]) -> list[Edge]:
    """The modules of ``known`` that ``name`` (the module in ``path``) imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    edges = []
    for statement in _statements(tree):
        where = f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}:{statement.lineno}"
        if isinstance(statement, ast.Import):
            targets = [alias.name for alias in statement.names]
        else:
            base = statement.module or ""
            if statement.level:
                parent = package.split(".")[: len(package.split(".")) - (statement.level - 1)]
                base = ".".join([*parent, *([base] if base else [])])
            # `from package import module` names the module; `from module import name`, the module.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in statement.names]
        for target in dict.fromkeys(targets):
            while target and target not in known:  # `import a.b.c` of a non-module name: its nearest module
                target = target.rpartition(".")[0]
            if target and target != name:
                edges.append(Edge(name, target, where))
    return edges


def node(module: str) -> str:
    return next((layer for layer in LAYERS if module == layer or module.startswith(layer + ".")), module)


def graph() -> dict[tuple[str, str], list[Edge]]:
    """(importing node, imported node) -> the import statements behind that edge."""
    known = modules()
    out: dict[tuple[str, str], list[Edge]] = {}
    for name, path in known.items():
        for edge in imports(name, path, known):
            a, b = node(edge.source), node(edge.target)
            if a != b:
                out.setdefault((a, b), []).append(edge)
    return out


def cycles(edges: dict[tuple[str, str], list[Edge]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    adjacent: dict[str, set[str]] = {}
    for a, b in edges:
        adjacent.setdefault(a, set()).add(b)
        adjacent.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(adjacent[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(adjacent):
        if v not in index:
            visit(v)
    return found


def test_the_layers_of_the_loading_path_import_no_cycle() -> None:
    edges = graph()
    bad = [c for c in cycles(edges) if any(n in LAYERS for n in c)]
    lines = []
    for component in bad:
        inside = set(component)
        lines.append(" <-> ".join(component) + ":")
        lines += [f"    {e.where}: {e.source} imports {e.target}"
                  for (a, b), found in sorted(edges.items()) if a in inside and b in inside for e in found[:3]]
    assert not bad, "import cycles:\n" + "\n".join(lines)


def test_the_scan_sees_real_edges_and_skips_type_checking_imports() -> None:
    edges = graph()
    assert ("evalkit.suites", "evalkit.tasks") in edges  # suites list task files
    assert ("evalkit.tasks", "evalkit.evaluator") in edges  # the task-file evaluator is an Evaluator
    assert ("evalkit.data", "evalkit.config") in edges  # a function-level import (data_root_from_env)
    # evaluator.py and config.py name the suites only under TYPE_CHECKING, for annotations.
    assert "TYPE_CHECKING" in (REPO / "evalkit" / "evaluator.py").read_text()
    assert ("evalkit.evaluator", "evalkit.suites") not in edges and ("evalkit.config", "evalkit.suites") not in edges
    assert "evalkit.evaluators.humaneval" in modules() and "evalkit.leaderboard.views.leaderboard" in modules()


def test_cycles_are_found_through_any_module(tmp_path: Path) -> None:
    edges: dict[tuple[str, str], list[Edge]] = {("a", "x"): [], ("x", "b"): [], ("b", "a"): [], ("b", "c"): []}
    assert cycles(edges) == [["a", "b", "x"]]
    source = tmp_path / "m.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import p.q\nelse:\n    import p.r\n"
                      "def f():\n    from p import q\n")
    known = {"m": source, "p": source, "p.q": source, "p.r": source}
    assert [(e.target, e.where.rsplit(":", 1)[1]) for e in imports("m", source, known)] == [("p.r", "5"), ("p.q", "7")]
