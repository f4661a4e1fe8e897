"""One database, one writer, one history (issue 14, items 1 to 3).

A second server on a database stops at once, naming the first; a reset or
a restored copy is a new history, and a client that held the old one is
given the new one whole (a snapshot), never a mix of the two."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from opsmon.client.backoff import Backoff
from opsmon.client.connection import Connection
from opsmon.core.protocol import Event, Welcome
from opsmon.core.state import State
from opsmon.core.wire import event_digest
from opsmon.tui.app import OpsmonApp
from opsmon.tui.widgets.queue import IncidentQueue
from server.app import OpsmonServer
from server.auth import add_token
from server.lock import DatabaseLock, lock_path
from server.store.sqlite import SqliteStore
from tests.helpers import free_port, province
from tests.processes import opsmon_server as cli
from tests.processes import server_process
from tests.wire import Peer, report


@contextlib.asynccontextmanager
async def serving(db: Path, port: int = 0) -> AsyncIterator[OpsmonServer]:
    """A real server on `db`, on `port` (0: any free one)."""
    async with SqliteStore(db, synchronous="normal") as store:
        server = OpsmonServer(province(), store)
        await server.start("127.0.0.1", port)
        try:
            yield server
        finally:
            await server.close()


async def officer_token(db: Path) -> str:
    async with SqliteStore(db, synchronous="normal") as store:
        return await add_token(store, "Rahmat", "officer", "KPU", None, {r.code for r in province().regencies})


def url(server: OpsmonServer) -> str:
    return f"ws://127.0.0.1:{server.port}/ws"


async def report_titles(server: OpsmonServer, token: str, *titles: str) -> None:
    peer = await Peer.open(url(server), token)
    for title in titles:
        assert (await peer.command("report", **report(title=title)))["ok"]
    await peer.close()


class Watcher:
    """A Listener that remembers every welcome and whether the last sync was a snapshot."""

    def __init__(self) -> None:
        self.welcomes: list[Welcome] = []
        self.snapshots = 0
        self.changed = asyncio.Event()

    def connected(self, welcome: Welcome) -> None:
        self.welcomes.append(welcome)

    def synced(self, state: State, events: list[Event] | None) -> None:
        if events is None:
            self.snapshots += 1
        self.changed.set()

    def disconnected(self, since: Any, reason: str) -> None:
        pass

    def refused(self, reason: str) -> None:
        raise AssertionError(reason)


@contextlib.asynccontextmanager
async def following(url: str, token: str) -> AsyncIterator[tuple[Connection, Watcher]]:
    """A client connection running on `url` (the server may come and go), stopped at the end."""
    watcher = Watcher()
    connection = Connection(url, token, watcher)
    follower = asyncio.create_task(connection.run())
    try:
        yield connection, watcher
    finally:
        await connection.stop()
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower


async def until(check: Any, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def titles(state: State) -> list[str]:
    return sorted(i.title for i in state.incidents.values())


def restore(copy: Path, db: Path) -> None:
    """What an operator does: the old file back in place, its WAL gone."""
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copy(copy, db)


# --- item 1: one writer --------------------------------------------------------------------


@pytest.mark.slow
async def test_a_second_server_on_the_same_database_stops_at_once_naming_the_first(tmp_path: Path) -> None:
    db = tmp_path / "opsmon.db"
    token = cli("token", "add", "Rahmat", "--role", "officer", "--agency", "KPU", "--db", str(db)).stdout.strip().splitlines()[-1]
    async with server_process(db) as first:
        assert first.process is not None
        second = await asyncio.to_thread(cli, "serve", "--db", str(db), "--port", str(free_port()), timeout=20)
        assert second.returncode != 0
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert f"pid {first.process.pid}" in lines[0] and f"port {first.port}" in lines[0], lines[0]
        assert "Traceback" not in second.stderr + second.stdout
        # The first keeps serving, and the token CLI still writes beside it.
        peer = await Peer.open(first.url, token)
        assert (await peer.command("report", **report()))["ok"]
        await peer.close()
        added = await asyncio.to_thread(cli, "token", "add", "Dinding", "--role", "viewer", "--agency", "KPU", "--db", str(db))
        assert added.returncode == 0, added.stderr
        wall = await Peer.open(first.url, added.stdout.strip().splitlines()[-1])
        assert wall.snapshot is not None and len(wall.snapshot["incidents"]) == 1
        await wall.close()
        # reset refuses too while the server has the file.
        refused = await asyncio.to_thread(cli, "reset", "--keep-tokens", "--db", str(db))
        assert refused.returncode != 0 and f"pid {first.process.pid}" in refused.stderr
    # Once the first is gone (even killed), the lock goes with it.
    async with server_process(db) as again:
        peer = await Peer.open(again.url, token)
        assert len(peer.snapshot["incidents"]) == 1  # type: ignore[index]
        await peer.close()


# --- item 2: one identity per history --------------------------------------------------------


async def test_a_client_away_across_a_reset_comes_back_to_the_new_night_only(tmp_path: Path) -> None:
    """The trainer's case: a fresh session on the same tokens. The client that
    was away shows the new night alone, not both."""
    db = tmp_path / "opsmon.db"
    token = await officer_token(db)
    port = free_port()
    async with following(f"ws://127.0.0.1:{port}/ws", token) as (connection, watcher):
        async with serving(db, port) as server:
            await report_titles(server, token, "lama 1", "lama 2", "lama 3")
            await until(lambda: connection.state.seq == 3)
            old_epoch = server.store.epoch
        done = await asyncio.to_thread(cli, "reset", "--keep-tokens", "--db", str(db))
        assert done.returncode == 0, done.stderr
        assert "new epoch" in done.stdout
        async with serving(db, port) as server:
            assert server.store.epoch != old_epoch
            await report_titles(server, token, "baru 1")  # the same token still works
            await until(lambda: titles(connection.state) == ["baru 1"])
            assert connection.epoch == server.store.epoch
            assert connection.state.incidents.keys() == server.state.incidents.keys()
            assert connection.state.incidents[1].title == "baru 1"  # `#1` is the new night's #1


async def test_a_client_holding_another_copy_of_the_history_gets_a_snapshot_never_a_mix(tmp_path: Path) -> None:
    """Same epoch, a copy taken at seq 3 then written on: the client holds
    events 4 and 5 of the original, the copy has other events 4..7."""
    db = tmp_path / "opsmon.db"
    copy = tmp_path / "copy.db"
    token = await officer_token(db)
    port = free_port()
    async with following(f"ws://127.0.0.1:{port}/ws", token) as (connection, watcher):
        async with serving(db, port) as server:
            await report_titles(server, token, "a", "b", "c")
            source, target = sqlite3.connect(db), sqlite3.connect(copy)
            source.backup(target)
            source.close()
            target.close()
            await report_titles(server, token, "original 4", "original 5")
            await until(lambda: connection.state.seq == 5)
        # Another server (no lock file memory) on the copy, written on past seq 5.
        async with serving(copy, free_port()) as other:
            await report_titles(other, token, "copy 4", "copy 5", "copy 6", "copy 7")
        snapshots = watcher.snapshots
        async with serving(copy, port) as other:
            await until(lambda: connection.online and connection.state.seq == other.state.seq)
            assert connection.epoch == other.store.epoch  # the same epoch: only the digest told them apart
            assert watcher.snapshots == snapshots + 1
            assert titles(connection.state) == ["a", "b", "c", "copy 4", "copy 5", "copy 6", "copy 7"]
            assert connection.held_digest() == other.head_digest


async def test_a_client_with_the_same_history_still_resumes(tmp_path: Path) -> None:
    db = tmp_path / "opsmon.db"
    token = await officer_token(db)
    async with serving(db) as server:
        await report_titles(server, token, "a", "b")
        first = await Peer.open(url(server), token)
        digest = first.snapshot["digest"]  # type: ignore[index]
        held = await server.store.event_at(2)
        assert held is not None and digest == event_digest(held) == server.head_digest
        await first.close()
        await report_titles(server, token, "c")
        peer = await Peer.open(url(server), token, epoch=server.store.epoch, since=2)
        await peer.send("")  # nothing: just read what the resume sends
        events = await peer.wait_events(1)
        assert [e["seq"] for e in events] == [3]
        await peer.close()


async def test_the_digest_of_an_event_is_the_same_on_both_sides(tmp_path: Path) -> None:
    """The server's digest of what it committed equals the client's of what it received."""
    db = tmp_path / "opsmon.db"
    token = await officer_token(db)
    async with serving(db) as server, following(url(server), token) as (connection, _):
        await until(lambda: connection.online)
        await report_titles(server, token, "Kotak suara rusak — “TPS 012”")
        peer = await Peer.open(url(server), token)
        await peer.command("stage", regency="6371", stage="logistik", done=5, note="catatan")
        await peer.command("escalate", incident=1)
        await peer.close()
        await until(lambda: connection.state.seq == server.state.seq == 3)
        assert connection.held_digest() == server.head_digest


@pytest.mark.slow
async def test_a_restored_copy_gets_a_new_epoch(tmp_path: Path) -> None:
    """Yesterday's copy put back in place of the file: the server sees it is
    behind what it last wrote there, and starts a new epoch."""
    db = tmp_path / "opsmon.db"
    token = cli("token", "add", "Rahmat", "--role", "officer", "--agency", "KPU", "--db", str(db)).stdout.strip().splitlines()[-1]
    yesterday = tmp_path / "yesterday.db"
    async with server_process(db) as proc:
        peer = await Peer.open(proc.url, token)
        for n in range(3):
            assert (await peer.command("report", **report(title=f"hari 1 #{n}")))["ok"]
        source, target = sqlite3.connect(db), sqlite3.connect(yesterday)
        source.backup(target)
        source.close()
        target.close()
        for n in range(3):
            assert (await peer.command("report", **report(title=f"hari 2 #{n}")))["ok"]
        epoch = peer.welcome["epoch"]
        await peer.close()
        await proc.stop()
    restore(yesterday, db)
    async with server_process(db) as proc:
        peer = await Peer.open(proc.url, token, epoch=epoch, since=7)
        assert peer.welcome["epoch"] != epoch
        snapshot = await peer.next()
        assert snapshot["type"] == "snapshot" and snapshot["seq"] == 4  # 1 is the token.added event, then three reports
        await peer.close()
        code, out, err = await proc.stop()
    assert "was replaced" in err and "new epoch" in err, err


async def test_the_lock_file_notes_the_head_once_for_a_run_of_commits_and_the_last_at_a_clean_stop(tmp_path: Path) -> None:
    """The restore check reads (epoch, seq, digest) from the lock file: a run of
    commits rewrites it once now and once when the second is up (not once
    each), and a clean stop leaves the last head there for the next server."""
    db = tmp_path / "opsmon.db"
    lock = DatabaseLock(db)
    lock.acquire()
    heads = [{"epoch": "e1", "seq": seq, "digest": f"d{seq}"} for seq in range(1, 51)]
    for head in heads:
        lock.head_moved(lambda head=head: head)
    assert json.loads(lock_path(db).read_text())["seq"] == 1  # the first at once, the rest planned
    for _ in range(100):  # the planned rewrite, a second after the first, holds the newest
        if json.loads(lock_path(db).read_text())["seq"] == 50:
            break
        await asyncio.sleep(0.05)
    assert json.loads(lock_path(db).read_text())["seq"] == 50
    lock.head_moved(lambda: {"epoch": "e1", "seq": 51, "digest": "d51"})  # within the second: planned
    lock.release()
    after = DatabaseLock(db)
    after.acquire()
    assert after.previous["seq"] == 51 and after.previous["digest"] == "d51"
    after.release()


# --- item 3: a copy that is behind -------------------------------------------------------------


async def test_a_database_behind_a_client_says_so_and_gives_a_snapshot(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A file copy that missed the WAL's last commits: the client holds seq 5,
    the database only 3 (same epoch)."""
    db = tmp_path / "opsmon.db"
    token = await officer_token(db)
    async with serving(db) as server:
        await report_titles(server, token, "a", "b", "c")
        epoch = server.store.epoch
    caplog.set_level(logging.WARNING, logger="opsmon.server")
    async with serving(db) as server:
        peer = await Peer.open(url(server), token, epoch=epoch, since=5)
        frame = await peer.next()
        assert frame["type"] == "snapshot" and frame["seq"] == 3
        await peer.close()
    said = [r.getMessage() for r in caplog.records if "behind what clients saw" in r.getMessage()]
    assert said and "seq 5" in said[0] and "head is 3" in said[0], caplog.text


async def test_the_officers_screen_after_a_restore_shows_only_the_restored_history(tmp_path: Path) -> None:
    """The trainer's case on the screen: the queue shows the copy's incidents
    and nothing of what only the old file had, so `#5` is the copy's #5."""
    db = tmp_path / "opsmon.db"
    copy = tmp_path / "copy.db"
    token = await officer_token(db)
    port = free_port()
    async with serving(db, port) as server:
        await report_titles(server, token, "a", "b", "c")
        source, target = sqlite3.connect(db), sqlite3.connect(copy)
        source.backup(target)
        source.close()
        target.close()
        app = OpsmonApp(url=url(server), token=token)
        app.backoff = Backoff(initial=0.05, maximum=0.2)
        async with app.run_test(size=(120, 40)) as pilot:
            queue = app.dashboard.query_one(IncidentQueue)
            await report_titles(server, token, "lama 4", "lama 5")
            await until(lambda: len(queue.incident_ids) == 5)
            await server.close()
            async with serving(copy, free_port()) as other:  # written on elsewhere, then put in place
                await report_titles(other, token, "salinan 4", "salinan 5", "salinan 6")
            async with serving(copy, port) as other:
                await until(lambda: app.online and app.state.seq == 6 and len(queue.incident_ids) == 6)
                await pilot.pause(0.3)
                assert sorted(i.title for i in app.state.incidents.values()) == ["a", "b", "c", "salinan 4", "salinan 5", "salinan 6"]
                assert app.state.incidents[5].title == "salinan 5"
                assert sorted(queue.incident_ids) == sorted(other.state.incidents)
