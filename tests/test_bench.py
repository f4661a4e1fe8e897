"""The benchmarks cannot rot: every script in bench/ takes --smoke (the whole
path it measures, at a load small enough for a few seconds), which .ci/run
runs after the tests. Here: no script lacks it, and one cheap one runs."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

SCRIPTS = sorted((ROOT / "bench").glob("*.py"))
TABLE_RULE = re.compile(r"(?m)^\| *:?-{3,}:? *\|")  # the | --- | under a markdown table's header; .ci/run greps the same


def options(script: Path) -> set[str]:
    """The option strings a script's argparse parser is given."""
    found = set()
    for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument":
            found |= {arg.value for arg in node.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)}
    return found


def test_there_are_benchmarks() -> None:
    assert len(SCRIPTS) >= 9


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_benchmark_takes_smoke(script: Path) -> None:
    assert "--smoke" in options(script), f"bench/{script.name} has no --smoke: .ci/run runs every bench/*.py with it"


def test_a_benchmark_runs_end_to_end_in_smoke_mode() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "triage.py"), "--smoke"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert TABLE_RULE.search(done.stdout), done.stdout
    assert "incident.duplicate" in done.stdout  # the repeat case was decided, not only the floor
