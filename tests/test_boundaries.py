"""The server and the shared core never import Textual: a server box needs no UI stack."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

NO_UI_MODULES = [
    "opsmon.protocol",
    "opsmon.domain",
    "opsmon.config",
    "opsmon.client",
    "opsmon.geo",
    "server.app",
    "server.hub",
    "server.store",
    "server.auth",
    "server.cli",
]
NO_UI_FILES = sorted(
    [
        *(ROOT / "server").glob("*.py"),
        *(ROOT / "opsmon" / name for name in ("protocol.py", "domain.py", "config.py", "client.py", "geo.py")),
    ]
)


def test_importing_the_server_and_core_loads_no_textual() -> None:
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
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", NO_UI_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_textual_import_anywhere_in_the_source(path: Path) -> None:
    """Also imports inside functions, which a plain import would not run."""
    imported = _imports(path)
    assert not {name for name in imported if name.split(".")[0] == "textual"}
    assert not {name for name in imported if name.startswith("opsmon.tui")}


def test_the_scan_would_notice(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from textual.app import App\n    return App\n", encoding="utf-8")
    assert "textual.app" in _imports(sample)
