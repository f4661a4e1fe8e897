"""opsmon installed as a deployment installs it: a venv of the system's
Python that any user can run (the service user cannot run a Python under
/root), for tests that run the server as another user."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import ROOT

SYSTEM_PYTHON = Path("/usr/bin/python3")


def open_folder(prefix: str) -> Path:
    """A temporary folder every user may enter (pytest's tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("running the server as another user needs root (CI runs as root)")


@pytest.fixture(scope="session")
def installed() -> Iterator[Path]:
    """The `bin` folder of a venv with opsmon installed from this tree."""
    need_root()
    if not SYSTEM_PYTHON.exists():
        pytest.skip(f"{SYSTEM_PYTHON} (the system's Python, which a service user can run) is not on this machine")
    folder = open_folder("opsmon-venv-")
    venv = folder / "venv"
    made = subprocess.run([str(SYSTEM_PYTHON), "-m", "venv", str(venv)], capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", str(ROOT)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    try:
        yield venv / "bin"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
