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
