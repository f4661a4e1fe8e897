"""A database the server cannot write is one clear line at start (what,
which path, which user) and a non-zero exit, never a traceback (issue 14
item 4, issue 13 item 3). The server runs as `nobody`, as a service user
would, from an installed venv; the read-only filesystem is a tmpfs the test
mounts and remounts read-only."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import CONFIG_PATH, free_port
from tests.installed import need_root, open_folder

pytestmark = pytest.mark.slow

SERVICE_USER = "nobody"


@pytest.fixture
def folder() -> Iterator[Path]:
    place = open_folder("opsmon-perm-")
    yield place
    shutil.rmtree(place, ignore_errors=True)


def give(path: Path, user: str = SERVICE_USER) -> None:
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


@pytest.fixture(scope="module")
def config() -> Iterator[Path]:
    """The province config where the service user can read it (the tree may sit under /root)."""
    place = open_folder("opsmon-perm-config-")
    shutil.copy(CONFIG_PATH, place / "config.toml")
    yield place / "config.toml"
    shutil.rmtree(place, ignore_errors=True)


def server(bin_dir: Path, config: Path, *args: str, user: str | None = SERVICE_USER) -> subprocess.CompletedProcess[str]:
    """`opsmon-server ARGS` as `user` (None: as root); it must stop by itself."""
    command = [str(bin_dir / "opsmon-server"), *args, "--config", str(config)]
    if user is not None:
        command = ["runuser", "-u", user, "--", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd="/")


def serve(bin_dir: Path, config: Path, db: Path, user: str | None = SERVICE_USER) -> subprocess.CompletedProcess[str]:
    return server(bin_dir, config, "serve", "--db", str(db), "--port", str(free_port()), "--host", "127.0.0.1", user=user)


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    print(lines[0])
    return lines[0]


def test_a_database_root_made_in_roots_folder(installed: Path, folder: Path, config: Path) -> None:
    """The deployment mistake: `token add` run as root makes the folder's database root's."""
    db = folder / "opsmon.db"
    assert server(installed, config, "token", "add", "Rahmat", "--role", "officer", "--agency", "KPU", "--db", str(db), user=None).returncode == 0
    line = one_line(serve(installed, config, db))
    assert str(folder) in line and f"user {SERVICE_USER}" in line and "not writable" in line and "owner root" in line, line


def test_a_database_owned_by_root_in_the_service_users_folder(installed: Path, folder: Path, config: Path) -> None:
    db = folder / "opsmon.db"
    assert server(installed, config, "token", "add", "Rahmat", "--role", "officer", "--agency", "KPU", "--db", str(db), user=None).returncode == 0
    give(folder)
    line = one_line(serve(installed, config, db))
    assert str(db) in line and "read-only" in line and f"user {SERVICE_USER}" in line and "owner root" in line, line


def test_a_read_only_database_file(installed: Path, folder: Path, config: Path) -> None:
    db = folder / "opsmon.db"
    give(folder)
    assert server(installed, config, "token", "add", "Rahmat", "--role", "officer", "--agency", "KPU", "--db", str(db)).returncode == 0
    db.chmod(0o444)
    line = one_line(serve(installed, config, db))
    assert str(db) in line and "read-only" in line and f"user {SERVICE_USER}" in line and "0444" in line, line


def test_a_read_only_folder(installed: Path, folder: Path, config: Path) -> None:
    db = folder / "opsmon.db"
    give(folder)
    assert server(installed, config, "token", "add", "Rahmat", "--role", "officer", "--agency", "KPU", "--db", str(db)).returncode == 0
    for leftover in folder.iterdir():
        if leftover != db:
            leftover.unlink()
    folder.chmod(0o555)
    line = one_line(serve(installed, config, db))
    assert str(folder) in line and "not writable" in line and f"user {SERVICE_USER}" in line, line


def test_a_read_only_filesystem(installed: Path, folder: Path, config: Path) -> None:
    need_root()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("this machine does not let root mount a tmpfs")
    try:
        db = folder / "opsmon.db"
        assert server(installed, config, "token", "add", "Rahmat", "--role", "officer", "--agency", "KPU", "--db", str(db), user=None).returncode == 0
        remount = subprocess.run(["mount", "-o", "remount,ro", str(folder)], capture_output=True, text=True)
        assert remount.returncode == 0, remount.stderr
        line = one_line(serve(installed, config, db, user=None))
        assert str(folder) in line and "read-only filesystem" in line, line
        # The token commands say the same, in one line.
        listed = one_line(server(installed, config, "token", "list", "--db", str(db), user=None))
        assert "read-only filesystem" in listed, listed
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
