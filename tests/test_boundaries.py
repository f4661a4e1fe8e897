"""The boundaries between the parts hold.

The import-linter contracts in pyproject.toml (`lint-imports`, also run by
CI) say who may import whom inside opsmon/ and server/; this module runs
them, and checks what they cannot see: what importing the server really
loads, tests/ and bench/ (not packages the linter analyses), and that the
top-level `server` package in this environment is opsmon's own.
"""

from __future__ import annotations

import ast
import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

NO_UI_MODULES = [
    "opsmon.core.protocol",
    "opsmon.core.domain",
    "opsmon.core.config",
    "opsmon.client.session",
    "opsmon.client.connection",
    "opsmon.core.geo",
    "opsmon.core.view",
    "opsmon.core.exits",
    "server.app",
    "server.hub",
    "server.store.api",
    "server.auth",
    "server.cli",
    "server.embed",
]


def test_the_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_importing_the_server_and_core_loads_no_textual() -> None:
    """At run time, through third-party packages too (which the contracts do not follow)."""
    code = (
        "import importlib, sys\n"
        f"for name in {NO_UI_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"loaded textual modules: {done.stdout.strip()}"


def _imports(path: Path) -> set[str]:
    """Every module a file imports, also inside functions (a plain import would not run those)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "tests").glob("test_*.py")), ids=lambda p: p.name)
def test_no_test_module_imports_another(path: Path) -> None:
    """What tests share lives in tests/helpers.py, processes.py, tui_helpers.py, world.py, ..."""
    assert not {name for name in _imports(path) if name.startswith("tests.test_")}


@pytest.mark.parametrize("path", sorted((ROOT / "bench").glob("*.py")), ids=lambda p: p.name)
def test_no_bench_imports_the_tests(path: Path) -> None:
    assert not {name for name in _imports(path) if name == "tests" or name.startswith("tests.")}


def test_the_scan_would_notice(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from tests.test_tui import until\n    import tests.helpers\n    return until\n", encoding="utf-8")
    assert {"tests.test_tui", "tests.helpers"} <= _imports(sample)


def test_the_server_package_installed_here_is_opsmons() -> None:
    """The server installs as top-level `server` (docs/layout.md): no other distribution here may ship one."""
    assert set(importlib.metadata.packages_distributions().get("server", [])) == {"opsmon"}
    import server

    assert Path(server.__file__).resolve().parent == ROOT / "server"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    """Which of the packages' modules each one imports when it runs: at module
    level and inside functions (from the ast of each file). Imports under
    `if TYPE_CHECKING:` are left out: they name a type for the checker and are
    never executed (the server's parts annotate `server: OpsmonServer`)."""
    files = {_module_name(path, root): path for package in packages for path in sorted((root / package).rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        typing_only = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
            for statement in node.body
            for inner in ast.walk(statement)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = here.split(".")[: len(here.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in node.names)
        graph[name] = {target for target in targets if target in files and target != name}
    return graph


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every group of modules that import each other, round and round (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        for target in sorted(graph[name]):
            if target not in index:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == name:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return circles


def test_no_import_circle_in_opsmon_or_the_server() -> None:
    """Each module can be read knowing only what it imports: no two modules import each other, however indirectly."""
    assert import_circles(import_graph(ROOT, ("opsmon", "server"))) == []


def test_the_circle_scan_would_notice(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "pkg" / "sub" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "pkg" / "a.py").write_text("from pkg.sub import b\n", encoding="utf-8")
    (tmp_path / "pkg" / "sub" / "b.py").write_text("def f():\n    from .c import g\n    return g\n", encoding="utf-8")
    (tmp_path / "pkg" / "sub" / "c.py").write_text("import pkg.a\n", encoding="utf-8")
    (tmp_path / "pkg" / "d.py").write_text("from typing import TYPE_CHECKING\nimport pkg.a\nif TYPE_CHECKING:\n    import pkg.e\n", encoding="utf-8")
    (tmp_path / "pkg" / "e.py").write_text("import pkg.d\n", encoding="utf-8")
    assert import_circles(import_graph(tmp_path, ("pkg",))) == [["pkg.a", "pkg.sub.b", "pkg.sub.c"]]
