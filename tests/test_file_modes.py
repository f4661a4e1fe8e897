"""Secret files (issue 22 item 13): the database, its WAL and a backup are
created the owner's only, whatever the umask; a TLS key or token file the
group or world may read is named in a warning with the chmod that fixes it;
`--token-file` keeps a token out of `ps` for every client command."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.backup import backup_database
from server.tls import server_ssl_context
from tests.helpers import ROOT, running_server
from tests.pki import make_pki
from tests.wire import Peer, report


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextlib.contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


async def test_the_database_its_wal_and_a_backup_are_the_owners_only(tmp_path: Path) -> None:
    with umask(0o022):  # the usual umask: files would be 0644
        async with running_server(tmp_path) as running:
            officer = await Peer.open(running, running.tokens["officer"])
            assert (await officer.command("report", **report()))["ok"]
            db = running.db_path
            for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
                assert path.exists() and mode(path) == 0o600, (path, oct(mode(path)))
            backup = backup_database(db, tmp_path / "cadangan.db")
            assert mode(backup.path) == 0o600
            await officer.close()
        # the control: a file made the ordinary way under this umask is world-readable
        (tmp_path / "biasa.txt").write_text("x")
        assert mode(tmp_path / "biasa.txt") == 0o644


def test_an_existing_database_keeps_the_mode_its_owner_gave_it(tmp_path: Path) -> None:
    db = tmp_path / "opsmon.db"
    db.touch(mode=0o640)
    db.chmod(0o640)

    async def open_it() -> None:
        async with running_server(tmp_path):
            pass

    asyncio.run(open_it())
    assert mode(db) == 0o640


@pytest.mark.parametrize(("key_mode", "says"), [(0o666, "its group and everyone (mode 0666)"), (0o640, "its group (mode 0640)"), (0o600, None)])
def test_a_tls_key_others_may_read_is_named_with_the_fix(tmp_path: Path, caplog: pytest.LogCaptureFixture, key_mode: int, says: str | None) -> None:
    caplog.set_level(logging.WARNING, "opsmon.server")
    pki = make_pki(tmp_path)
    pki.key.chmod(key_mode)
    server_ssl_context(str(pki.cert), str(pki.key))  # still served: a warning, not a refusal
    if says is None:
        assert "TLS private key" not in caplog.text
    else:
        assert f"the TLS private key {pki.key} may be read by {says}: chmod 600 {pki.key}" in caplog.text


def opsmon(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("OPSMON_TOKEN", None)
    return subprocess.run([sys.executable, "-m", "opsmon.cli", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)


@pytest.mark.parametrize(("file_mode", "warned"), [(0o644, True), (0o640, True), (0o600, False)])
def test_a_token_file_others_may_read_is_warned_about(tmp_path: Path, file_mode: int, warned: bool) -> None:
    token_file = tmp_path / "viewer.token"
    token_file.write_text("ops_notarealtoken\n")
    token_file.chmod(file_mode)
    # Nothing listens on port 1: the token is read (and its file checked) before connecting.
    ran = opsmon("ack", "1", "--url", "ws://127.0.0.1:1/ws", "--token-file", str(token_file))
    assert ran.returncode != 0 and "Traceback" not in ran.stderr
    assert ("opsmon: warning: the token file" in ran.stderr) is warned, ran.stderr
    if warned:
        assert f"chmod 600 {token_file}" in ran.stderr
    assert "ops_notarealtoken" not in ran.stderr  # never the token itself


@pytest.mark.parametrize(("file_mode", "who"), [(0o666, "its group and everyone"), (0o620, "its group"), (0o602, "everyone")])
@pytest.mark.parametrize("command", ["ack", "simulate"])
def test_a_token_file_others_may_write_is_not_read(tmp_path: Path, file_mode: int, who: str, command: str) -> None:
    """Someone who may change the file could put their token in it: the command refuses before using it."""
    token_file = tmp_path / "viewer.token"
    token_file.write_text("ops_notarealtoken\n")
    token_file.chmod(file_mode)
    args = ["ack", "1"] if command == "ack" else ["simulate", "--duration", "1"]
    ran = opsmon(*args, "--url", "ws://127.0.0.1:1/ws", "--token-file", str(token_file))
    assert ran.returncode == 2 and "Traceback" not in ran.stderr and len(ran.stderr.strip().splitlines()) == 1, ran.stderr
    assert f"{token_file} may be written by {who} (mode {file_mode:04o})" in ran.stderr and f"chmod 600 {token_file}" in ran.stderr
    assert "ops_notarealtoken" not in ran.stderr


def test_every_client_command_that_takes_a_token_takes_a_token_file() -> None:
    for command in ("web", "report", "stage", "sitrep", "import", "ack"):
        assert "--token-file FILE" in opsmon(command, "--help").stdout, command
