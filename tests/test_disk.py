"""A full disk under the running server (issue 13 item 3, issue 14 item 4).

The database lives on a small tmpfs the test mounts (CI runs as root, so it
can): commands are answered `unavailable` with nothing half-written,
/healthz says 503 with the reason, every client is told (the TUI's banner
shows it), and writing resumes by itself once space returns."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from opsmon.tui.app import OpsmonApp
from opsmon.tui.widgets.status import OfflineBanner
from tests.helpers import FakeClock, Running, running_server
from tests.wire import Peer, http_get, report


def _mount_tmpfs(size: str) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root (CI runs as root)")
    folder = Path(tempfile.mkdtemp(prefix="opsmon-disk-"))
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        folder.rmdir()
        pytest.skip(f"this machine does not let root mount a tmpfs: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
        with contextlib.suppress(OSError):
            folder.rmdir()


@pytest.fixture
def small_disk() -> Iterator[Path]:
    yield from _mount_tmpfs("4m")


def fill(folder: Path) -> Path:
    """Take every free byte of the filesystem; returns the file to remove."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        size = 65536
        while size:  # big blocks, then halves for the last bytes
            try:
                os.write(fd, b"\0" * size)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                size //= 2
    finally:
        os.close(fd)
    return filler


@contextlib.asynccontextmanager
async def served_on(folder: Path, clock: FakeClock) -> AsyncIterator[Running]:
    async with running_server(folder, clock=clock) as running:
        yield running


async def until(check: Callable[[], object], timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_full_disk_is_unavailable_then_recovers_by_itself(small_disk: Path, clock: FakeClock) -> None:
    async with served_on(small_disk, clock) as running:
        server = running.server
        officer = await Peer.open(running, running.tokens["officer"])
        wall = await Peer.open(running, running.tokens["wall"])
        assert (await officer.command("report", **report(title="sebelum penuh")))["ok"]
        filler = await asyncio.to_thread(fill, small_disk)
        # Commands now fail once the WAL must grow: big ones get there fast.
        refused = None
        for n in range(200):
            result = await officer.command("report", **report(title=f"penuh {n}", detail="x" * 4000))
            if not result["ok"]:
                refused = result
                break
        assert refused is not None, "the disk never filled"
        assert refused["code"] == "unavailable" and refused["reason"] == "unavailable"
        assert "disk is full" in refused["params"]["problem"]
        head = server.state.seq
        # Nothing half-written: what the server holds is what the file holds.
        assert await running.store.head() == head
        status, _, body = await http_get(running, "/healthz")
        assert status == 503
        health = json.loads(body)
        assert health["status"] == "unavailable" and "disk is full" in health["problem"]
        # /metrics says it too, for the alert (OpsmonCannotWrite), and counts the refusal by its reason.
        metrics = (await http_get(running, "/metrics"))[2].splitlines()
        assert "opsmon_can_write 0.0" in metrics and 'opsmon_refusals_total{reason="unavailable"} 1.0' in metrics
        told = await wall.until(lambda f: f.get("type") == "status")
        assert "disk is full" in told["problem"]
        # A client connecting now learns it from the welcome.
        late = await Peer.open(running, running.tokens["wall"])
        assert late.welcome["problem"] and "disk is full" in late.welcome["problem"]
        await late.close()
        # Space returns: the server notices without any command.
        await asyncio.to_thread(filler.unlink)
        cleared = await wall.until(lambda f: f.get("type") == "status", timeout=15)
        assert cleared["problem"] is None
        status, _, body = await http_get(running, "/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        assert "opsmon_can_write 1.0" in (await http_get(running, "/metrics"))[2].splitlines()
        again = await officer.command("report", **report(title="setelah pulih"))
        assert again["ok"] and again["seq"] == head + 1
        await officer.close()
        await wall.close()


async def test_the_banner_shows_the_server_cannot_save(small_disk: Path, clock: FakeClock) -> None:
    async with served_on(small_disk, clock) as running:
        officer = await Peer.open(running, running.tokens["officer"])
        app = OpsmonApp(url=running.url, token=running.tokens["wall"], clock=clock)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(lambda: app.welcome is not None)
            banner = app.dashboard.query_one(OfflineBanner)
            assert not banner.has_class("-offline")
            filler = await asyncio.to_thread(fill, small_disk)
            for n in range(200):
                if not (await officer.command("report", **report(title=f"penuh {n}", detail="x" * 4000)))["ok"]:
                    break
            await until(lambda: app.server_problem is not None)
            await pilot.pause(0.3)
            assert banner.has_class("-offline")
            assert "SERVER GAGAL MENYIMPAN: disk penuh; perintah ditolak sampai pulih" in banner.text  # one language on screen
            await asyncio.to_thread(filler.unlink)
            await until(lambda: app.server_problem is None)
            await pilot.pause(0.3)
            assert not banner.has_class("-offline")
        await officer.close()
