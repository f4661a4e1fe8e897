"""Several opsmon-server replicas on one PostgreSQL database: every one a full
endpoint, one gap-free seq across them, fan-out by LISTEN/NOTIFY, one epoch,
one idempotency store, timers on exactly one, revocations everywhere.

Replicas are real servers on free loopback ports: in this process (each with
its own store, pool and listening connection, as a process would have) where
a test moves the clock by hand, as real `opsmon-server serve` processes where
one must die by kill -9."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from websockets.exceptions import ConnectionClosed

from opsmon.client.session import Session
from opsmon.core.config import Config
from opsmon.core.fold import fold
from opsmon.core.protocol import IncidentDraft, Report
from opsmon.core.state import State
from server.app import OpsmonServer
from server.auth import add_token
from server.store.api import EventStore
from server.store.backends import open_store
from tests.backends import Databases
from tests.helpers import STANDARD_TOKENS, FakeClock, Running, province
from tests.processes import serving
from tests.wire import Peer, http_get, report


async def _tokens(database: str, config: Config) -> dict[str, str]:
    """The standard test tokens, written once into the shared database."""
    async with open_store(database) as store:
        known = {r.code for r in config.regencies}
        return {name: await add_token(store, name, role, agency, regencies, known) for name, (role, agency, regencies) in STANDARD_TOKENS.items()}


@contextlib.asynccontextmanager
async def replicas(count: int, database: str, tmp_path: Path, *, clock: FakeClock | None = None, config: Config | None = None) -> AsyncIterator[list[Running]]:
    """`count` servers on one database, started one after the other, each with a store of its own."""
    config = config or province()
    tokens = await _tokens(database, config)
    async with contextlib.AsyncExitStack() as stack:
        running: list[Running] = []
        for n in range(count):
            store: EventStore = await stack.enter_async_context(open_store(database, shared=True))
            server = OpsmonServer(config, store, **({"clock": clock} if clock is not None else {}))
            server.replica_name = "ABCDEFG"[n]
            await server.start("127.0.0.1", 0)
            stack.push_async_callback(server.close)
            running.append(Running(server, store, config, tmp_path / "unused.db", tokens, database))
        yield running


async def _until(check: Any, timeout: float = 10.0, every: float = 0.05) -> None:
    """Wait until `check()` (sync or async) is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(every)


async def _deafen(running: Running) -> None:
    """Stop a replica hearing of other replicas' commits (its LISTEN and its
    follower), so what it knows of them comes only from its own writes' fold."""
    for task in running.server._tasks:
        if task.get_name() in ("listen", "follow"):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _health(running: Running) -> dict[str, Any]:
    status, _, body = await http_get(running, "/healthz")
    assert status == 200, body
    return dict(json.loads(body))


# --- one log, every replica a full endpoint ------------------------------------------------------------------


async def test_a_report_on_one_replica_reaches_a_viewer_on_another(pg: Databases, tmp_path: Path) -> None:
    async with replicas(2, pg.url(), tmp_path) as (a, b):
        wall = await Peer.open(b, b.tokens["wall"])
        officer = await Peer.open(a, a.tokens["officer"])
        assert officer.welcome["epoch"] == wall.welcome["epoch"] == a.store.epoch == b.store.epoch  # one epoch
        sent = await officer.command("report", **report(title="Kotak suara basah"))
        assert sent["ok"] and sent["seq"] == 1
        [event] = await wall.wait_events(1)
        assert event["seq"] == 1 and event["kind"] == "incident.reported" and event["data"]["title"] == "Kotak suara basah"
        assert event["actor"] == {"name": "officer", "agency": "Bawaslu"}
        # B's own state has it too: its snapshot and /healthz, and a command on B decides on it.
        await _until(lambda: b.server.state.seq == 1)
        health = await _health(b)
        assert (health["seq"], health["epoch"]) == (1, a.store.epoch)
        assert 'opsmon_replica_info{replica="B"} 1.0' in (await http_get(b, "/metrics"))[2].splitlines()
        late = await Peer.open(b, b.tokens["wall"])
        assert late.snapshot is not None and [i["title"] for i in late.snapshot["incidents"]] == ["Kotak suara basah"]
        polisi = await Peer.open(b, b.tokens["polisi"])
        acked = await polisi.command("ack", incident=1)
        assert acked["ok"] and acked["seq"] == 2
        seen = await officer.wait_events(2)  # and back to A's clients
        assert seen[1]["kind"] == "incident.acknowledged" and seen[1]["actor"]["name"] == "polisi"
        for peer in (wall, officer, late, polisi):
            await peer.close()


async def test_an_ack_on_one_replica_conflicts_with_one_already_made_on_another(pg: Databases, tmp_path: Path, clock: FakeClock) -> None:
    async with replicas(2, pg.url(), tmp_path, clock=clock) as (a, b):
        officer = await Peer.open(a, a.tokens["officer"])
        polisi = await Peer.open(b, b.tokens["polisi"])
        assert (await officer.command("report", **report()))["incident"] == 1
        await _until(lambda: b.server.state.seq == 1)
        clock.advance(minutes=4)
        # A acks; B never hears of it (no LISTEN, no follower): the ack on B
        # folds A's commit under the seq lock before deciding.
        await _deafen(b)
        assert (await officer.command("ack", incident=1))["ok"]
        assert b.server.state.seq == 1
        again = await polisi.command("ack", incident=1)
        assert again["ok"] is False and again["code"] == "conflict" and again["reason"] == "already", again
        assert again["by"] == {"name": "officer", "agency": "Bawaslu"} and again["at"] == "2024-02-14T13:04:00.000Z"
        assert "Bawaslu/officer" in again["message"] and "21:04 WITA" in again["message"]
        assert a.server.state.seq == b.server.state.seq == await a.store.head() == 2
        await officer.close()
        await polisi.close()


async def test_seq_order_is_the_same_on_every_replica(pg: Databases, tmp_path: Path) -> None:
    """Officers on both replicas at once: one gap-free seq, and every viewer on
    every replica sees the same events in the same order as the log."""
    config = province()
    config = msgspec.structs.replace(config, server=msgspec.structs.replace(config.server, commands_per_second=10_000.0, token_commands_per_second=10_000.0))
    async with replicas(2, pg.url(), tmp_path, config=config) as (a, b):
        walls = [await Peer.open(r, r.tokens["wall"]) for r in (a, b)]
        officers = [await Peer.open(r, r.tokens[name]) for r in (a, b) for name in ("officer", "polisi")]

        async def burst(peer: Peer, who: int) -> list[dict[str, Any]]:
            ids = [f"o{who}-{n}" for n in range(40)]
            for command_id in ids:
                await peer.send({"type": "report", "id": command_id, **report(title=f"laporan {command_id}")})
            results = []
            for command_id in ids:
                results.append(await peer.until(lambda f, c=command_id: f.get("type") == "result" and f.get("id") == c, timeout=20))  # type: ignore[misc]
            return results

        answers = await asyncio.gather(*(burst(peer, n) for n, peer in enumerate(officers)))
        assert all(r["ok"] for rs in answers for r in rs)
        seqs = sorted(r["seq"] for rs in answers for r in rs)
        assert seqs == list(range(1, 161))  # gap-free, none twice
        log = await a.store.events_since(0)
        assert [e.seq for e in log] == seqs
        for wall in walls:
            events = await wall.wait_events(160, timeout=20)
            assert [(e["seq"], e["data"]["title"]) for e in events] == [(e.seq, e.data.title) for e in log]
        # Both replicas' states are the fold of the log (and of each other).
        folded = fold(State(), log).as_builtins()
        await _until(lambda: b.server.state.seq == 160)
        assert a.server.state.as_builtins()["incidents"] == b.server.state.as_builtins()["incidents"] == folded["incidents"]
        for peer in walls + officers:
            await peer.close()


async def test_a_command_carried_out_on_one_replica_is_a_repeat_on_another(pg: Databases, tmp_path: Path) -> None:
    async with replicas(2, pg.url(), tmp_path) as (a, b):
        on_a = await Peer.open(a, a.tokens["officer"])
        first = await on_a.command("report", id="sekali-saja", **report())
        assert first["ok"] and first["seq"] == 1
        on_b = await Peer.open(b, b.tokens["officer"])
        again = await on_b.command("report", id="sekali-saja", **report())
        assert again.get("repeat") is True and {k: v for k, v in again.items() if k != "repeat"} == first
        assert await b.store.head() == 1
        await on_a.close()
        await on_b.close()


async def test_a_client_resumes_on_another_replica_with_exactly_the_missed_events(pg: Databases, tmp_path: Path) -> None:
    async with replicas(2, pg.url(), tmp_path) as (a, b):
        officer = await Peer.open(a, a.tokens["officer"])
        wall = await Peer.open(a, a.tokens["wall"])
        await officer.command("report", **report(title="satu"))
        await wall.wait_events(1)
        await wall.close()
        await officer.command("report", **report(title="dua"))
        await officer.command("report", **report(title="tiga"))
        # At once on B: it may not have read seq 3 yet, and reads it before answering.
        back = await Peer.open(b, b.tokens["wall"], epoch=wall.welcome["epoch"], since=1)
        assert back.welcome["seq"] == 3 and back.snapshot is None
        assert [e["data"]["title"] for e in await back.wait_events(2)] == ["dua", "tiga"]
        assert await back.quiet() == []
        await officer.close()
        await back.close()


async def test_a_replica_whose_listening_connection_drops_catches_up_by_seq(pg: Databases, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import asyncpg

    from tests.backends import POSTGRES_URL

    async with replicas(2, pg.url(), tmp_path) as (a, b):
        wall = await Peer.open(b, b.tokens["wall"])
        officer = await Peer.open(a, a.tokens["officer"])
        await officer.command("report", **report(title="satu"))
        await wall.wait_events(1)
        # PostgreSQL ends B's listening session (a restart, a network cut); A commits meanwhile.
        listener = getattr(b.store, "listener_pid", None)
        admin = await asyncpg.connect(POSTGRES_URL)
        try:
            assert str(await admin.fetchval("SELECT application_name FROM pg_stat_activity WHERE pid = $1", listener)).startswith("opsmon-server listen ")
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", listener)
        finally:
            await admin.close()
        for title in ("dua", "tiga"):
            await officer.command("report", **report(title=title))
        # B reconnects, listens again, and reads what it missed by seq: nothing skipped, nothing twice.
        events = await wall.wait_events(3, timeout=10)
        assert [(e["seq"], e["data"]["title"]) for e in events] == [(1, "satu"), (2, "dua"), (3, "tiga")]
        await _until(lambda: "listening for other replicas' commits again" in caplog.text, timeout=10)
        await officer.command("report", **report(title="empat"))
        assert [e["seq"] for e in await wall.wait_events(4)] == [1, 2, 3, 4]  # and it hears new ones again
        assert await wall.quiet() == []
        await wall.close()
        await officer.close()


# --- timers on exactly one replica ----------------------------------------------------------------------------


@pytest.mark.parametrize("count", [2, 3])
async def test_escalation_fires_exactly_once_with_several_replicas(count: int, pg: Databases, tmp_path: Path, clock: FakeClock) -> None:
    config = province()
    config = msgspec.structs.replace(config, server=msgspec.structs.replace(config.server, escalation_check_seconds=0.05))
    async with replicas(count, pg.url(), tmp_path, clock=clock, config=config) as group:
        holders = [r.server.replica_name for r in group if (await _health(r))["timers"]]
        assert holders == ["A"]  # the first one up took the timer lock; the others wait for it
        walls = [await Peer.open(r, r.tokens["wall"]) for r in group]
        officer = await Peer.open(group[-1], group[-1].tokens["officer"])
        await officer.command("report", **report(severity="critical"))  # ack within 5 min, again every 5
        clock.advance(minutes=5, seconds=1)
        for wall in walls:
            events = await wall.wait_events(2)
            assert events[1]["kind"] == "incident.escalated" and events[1]["data"]["level"] == 1
        # Even if every replica ran the deadlines at the same moment, the fold
        # under the seq lock lets exactly one of them write the next escalation.
        clock.advance(minutes=5)
        for r in group[1:]:
            await _deafen(r)
        done = await asyncio.gather(*(r.server.deadlines.check() for r in group))
        assert sorted(done) == [0] * (count - 1) + [1]
        for r in group:  # not by a refused commit: nobody's writes failed
            assert (await _health(r))["status"] == "ok" and r.server.problem is None
        await walls[0].wait_events(3)
        assert await walls[0].quiet(0.3) == []
        escalations = [e for e in await group[0].store.events_since(0) if e.kind == "incident.escalated"]
        assert [e.data.level for e in escalations] == [1, 2]
        for peer in [*walls, officer]:
            await peer.close()


async def test_the_timers_move_when_their_replica_stops(pg: Databases, tmp_path: Path, clock: FakeClock) -> None:
    config = province()
    config = msgspec.structs.replace(config, server=msgspec.structs.replace(config.server, escalation_check_seconds=0.05))
    async with replicas(2, pg.url(), tmp_path, clock=clock, config=config) as (a, b):
        assert (await _health(a))["timers"] and not (await _health(b))["timers"]
        wall = await Peer.open(b, b.tokens["wall"])
        officer = await Peer.open(b, b.tokens["officer"])
        await officer.command("report", **report(severity="critical"))
        await a.server.close()
        await a.store.close()  # its session ends: the timer lock is free
        await _until(lambda: b.server.holds_timers, timeout=10)
        assert (await _health(b))["timers"]
        clock.advance(minutes=5, seconds=1)
        events = await wall.wait_events(2)
        assert events[1]["kind"] == "incident.escalated" and events[1]["actor"] == {"name": "system"}
        _, _, metrics = await http_get(b, "/metrics")
        assert "opsmon_timer_holder 1.0" in metrics.splitlines() and 'opsmon_replica_info{replica="B"} 1.0' in metrics.splitlines()
        await wall.close()
        await officer.close()


# --- tokens ---------------------------------------------------------------------------------------------------


async def test_revoking_a_token_closes_its_connections_on_every_replica(pg: Databases, tmp_path: Path) -> None:
    async with replicas(2, pg.url(), tmp_path) as (a, b):
        walls = [await Peer.open(r, r.tokens["wall"]) for r in (a, b)]
        other = await Peer.open(b, b.tokens["officer"])
        assert await a.store.revoke_token("wall")
        for wall in walls:
            code, frames = await wall.closed(timeout=5)
            assert code == 1008 and any(f.get("type") == "error" and f["code"] == "unauthorized" for f in frames)
        assert (await other.command("report", **report()))["ok"]
        # Logged once, by the replica that runs the timers, whichever the revocation was made on.
        await _until(lambda: any(e.get("kind") == "token.revoked" for e in other.events), timeout=5)
        await other.quiet(0.5)
        assert [e["kind"] for e in other.events].count("token.revoked") == 1
        await other.close()


async def test_serve_shares_the_database_and_reset_waits_for_every_replica(pg: Databases) -> None:
    url = pg.url()
    async with open_store(url, shared=True), open_store(url, shared=True):
        from server.store.api import StoreError

        with pytest.raises(StoreError, match="is in use by another opsmon-server"):
            await open_store(url, exclusive=True).open()
    async with open_store(url, exclusive=True):
        with pytest.raises(StoreError, match="is being migrated, reset or copied"):
            await open_store(url, shared=True).open()


# --- kill -9 in the middle of a burst -------------------------------------------------------------------------


class Officer:
    """An officer's client at protocol level: sends reports one after another;
    when its replica dies it reconnects to the other, resumes from its last
    seq and sends again, with the same id, the command it had no answer to."""

    def __init__(self, token: str, urls: list[str], name: str) -> None:
        self.token = token
        self.urls = urls
        self.name = name
        self.peer: Peer | None = None
        self.events: list[dict[str, Any]] = []
        self.ok: dict[str, int] = {}  # title -> seq, for every command answered ok
        self.moved = False

    async def connect(self, url: str) -> None:
        if self.peer is None:
            self.peer = await Peer.open(url, self.token)
            self.epoch = self.peer.welcome["epoch"]
        else:
            seen = self.seq
            self.peer = await Peer.open(url, self.token, epoch=self.epoch, since=seen)
            assert self.peer.snapshot is None  # resumed, not a snapshot
            self.moved = True

    @property
    def seq(self) -> int:
        assert self.peer is not None
        return self.peer.seq

    async def run(self, count: int) -> None:
        n = 0
        while n < count:
            title = f"{self.name} {n}"
            command_id = f"{self.name}-{n}"
            assert self.peer is not None
            try:
                await self.peer.send({"type": "report", "id": command_id, **report(title=title)})
                result = await self.peer.until(lambda f, c=command_id: f.get("type") == "result" and f.get("id") == c, timeout=15)  # type: ignore[misc]
            except ConnectionClosed:
                self.events += self.peer.events
                await self.connect(self.urls[1])  # the other replica
                continue  # the same command, the same id
            assert result["ok"], result
            self.ok[title] = result["seq"]
            n += 1


async def test_kill_minus_nine_of_a_replica_in_a_burst_loses_nothing_and_doubles_nothing(pg: Databases, tmp_path: Path) -> None:
    url = pg.url()
    config = province()
    tokens = await _tokens(url, config)
    async with serving("--db", url, "--port", "0", "--replica-name", "A") as a, serving("--db", url, "--port", "0", "--replica-name", "B") as b:
        urls = {name: re.search(r"(ws://\S+/ws)", s.first_line).group(1) for name, s in (("A", a), ("B", b))}  # type: ignore[union-attr]
        assert "replica A, runs the timers" in a.first_line and "replica B" in b.first_line
        officers = []
        for n, (name, role) in enumerate([("officer", "A"), ("polisi", "A"), ("bjm", "B"), ("admin", "B")]):
            here, there = (urls["A"], urls["B"]) if role == "A" else (urls["B"], urls["A"])
            officer = Officer(tokens[name], [here, there], f"p{n}")
            await officer.connect(here)
            officers.append(officer)
        wall_a = Officer(tokens["wall"], [urls["A"], urls["B"]], "wall")
        await wall_a.connect(urls["A"])
        assert wall_a.peer is not None
        watching = asyncio.ensure_future(wall_a.peer.closed(timeout=60))  # reads every frame until A goes
        bursts = [asyncio.ensure_future(o.run(60)) for o in officers]
        # Kill A when the burst is well under way (its clients mid-command).
        await _until(lambda: sum(len(o.ok) for o in officers) >= 60, timeout=30, every=0.01)
        a.process.kill()
        await a.process.wait()
        await asyncio.gather(*bursts)
        assert officers[0].moved and officers[1].moved and not officers[2].moved
        async with open_store(url) as store:
            log = await store.events_since(0)
        # Every command answered ok is in the log exactly once, at the seq it was told.
        titles = [e.data.title for e in log]
        assert len(titles) == len(set(titles)) == 240
        by_title = {e.data.title: e.seq for e in log}
        for officer in officers:
            assert len(officer.ok) == 60 and all(by_title[t] == seq for t, seq in officer.ok.items())
        assert [e.seq for e in log] == list(range(1, 241))  # no gap
        # A's clients, resumed on B, saw every event once, in order: nothing missed.
        await watching
        wall_a.events += wall_a.peer.events
        await wall_a.connect(urls["B"])
        for client in [*officers, wall_a]:
            assert client.peer is not None
            await client.peer.wait_events(240 - len(client.events), timeout=15)
            seen = [e["seq"] for e in client.events + client.peer.events]
            assert seen == list(range(1, 241)), (client.name, seen[:5], len(seen))
            await client.peer.close()
        assert "replica B runs the timers now" in await b.until_logged("runs the timers now")


# --- split brain: a replica that loses its serving lock, a night reset under it ---------------------------------


async def _terminate_sessions(*running: Running) -> int:
    """PostgreSQL ends every session of these replicas (pg_terminate_backend, as after a restart or a failover)."""
    import asyncpg

    from tests.backends import POSTGRES_URL

    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        ended = 0
        for replica in running:
            tag = getattr(replica.store, "session_tag", "")
            assert tag
            ended += int(
                await admin.fetchval(
                    "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name LIKE 'opsmon-server %' AND application_name LIKE '%' || $1",
                    tag,
                )
            )
        return ended
    finally:
        await admin.close()


async def _pause(running: Running, name: str) -> None:
    for task in running.server._tasks:
        if task.get_name() == name:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _reset(url: str) -> Any:
    from tests.processes import opsmon_server

    return opsmon_server("reset", "--keep-tokens", "--db", url)


async def test_reset_is_refused_while_replicas_whose_sessions_were_terminated_still_serve(
    pg: Databases, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = pg.url()
    async with replicas(2, url, tmp_path) as (a, b):
        officer = await Peer.open(a, a.tokens["officer"])
        assert (await officer.command("report", **report(title="sebelum")))["ok"]
        epoch = a.store.epoch
        # Both replicas' heartbeats held back for a moment, so the reset below surely
        # comes before either has noticed: their locks are free, their leases are not.
        for replica in (a, b):
            await _pause(replica, "lease")
        assert await _terminate_sessions(a, b) >= 4  # each: its lock's session, the listener, the timer lock's, the pool
        done = await asyncio.to_thread(_reset, url)
        for replica in (a, b):
            replica.server._tasks.append(asyncio.create_task(replica.server.lease.run(), name="lease"))
        assert done.returncode != 0, done.stdout
        assert "still served by 2 replica(s)" in done.stderr and "replica A (pid" in done.stderr and "replica B (pid" in done.stderr, done.stderr
        # Each replica takes its lock again and goes on serving the same night.
        await _until(lambda: caplog.text.count("took the serving lock again") >= 2, timeout=10)
        assert a.store.fenced is None and b.store.fenced is None
        sent = await officer.command("report", **report(title="sesudah"))
        if not sent["ok"]:  # the first write may meet a pool connection PostgreSQL ended: "send it again"
            assert sent["code"] == "unavailable"
            sent = await officer.command("report", **report(title="sesudah"))
        assert sent["ok"] and sent["seq"] == 2
        for replica in (a, b):
            health = await _health(replica)
            assert (health["status"], health["epoch"]) == ("ok", epoch)
        # Both hold their share of the lock again: a reset is still refused, now by the lock itself.
        done = await asyncio.to_thread(_reset, url)
        assert done.returncode != 0 and "is in use by another opsmon-server (replica A (pid" in done.stderr, done.stderr
        await officer.close()


async def test_a_replica_that_missed_a_reset_writes_nothing_into_the_new_night_and_rejoins_it(pg: Databases, tmp_path: Path) -> None:
    import asyncpg

    url = pg.url()
    async with replicas(1, url, tmp_path) as (a,):
        officer = await Peer.open(a, a.tokens["officer"])
        assert (await officer.command("report", **report(title="malam lama")))["ok"]
        old = a.store.epoch
        # A frozen replica: its heartbeat stops, its lease runs out, PostgreSQL ends its sessions.
        await _pause(a, "lease")
        await _pause(a, "timer-lock")
        admin = await asyncpg.connect(url)
        try:
            await admin.execute("UPDATE replicas SET lease_until = now() - interval '1 second'")
        finally:
            await admin.close()
        await _terminate_sessions(a)
        done = await asyncio.to_thread(_reset, url)
        assert done.returncode == 0, done.stderr
        async with open_store(url) as store:
            new = store.epoch
        assert new != old
        # Its writes are refused under the seq lock: nothing of the old night enters the new one.
        for _ in range(2):
            refused = await officer.command("report", **report(title="salah malam"))
            assert not refused["ok"] and refused["code"] == "unavailable", refused
        async with open_store(url) as store:
            assert await store.head() == 0
        # Its write probe does not call it healthy meanwhile (no 200/503 flapping for the proxy).
        await a.server.probe.check()
        status, _, body = await http_get(a, "/healthz")
        assert status == 503 and "reset under this replica" in body
        # Its next heartbeat sees the new night: it rejoins, and sends its clients for a snapshot.
        await a.server.lease.check()
        code, _ = await officer.closed(timeout=5)
        assert code == 1012
        assert a.store.epoch == new and a.server.state.seq == 0 and not a.server.state.incidents
        health = await _health(a)
        assert health["epoch"] == new
        back = await Peer.open(a, a.tokens["officer"], epoch=old, since=1)
        assert back.welcome["epoch"] == new
        snapshot = await back.next()  # its resume under the old epoch: a snapshot of the new night
        assert snapshot["type"] == "snapshot" and snapshot["epoch"] == new and snapshot["incidents"] == []
        await _until(lambda: a.server.problem is None, timeout=10)
        sent = await back.command("report", **report(title="malam baru"))
        assert sent["ok"] and sent["seq"] == 1
        await back.close()


async def test_a_replica_that_cannot_retake_its_lock_stops_serving(pg: Databases, tmp_path: Path) -> None:
    import asyncpg

    from server.store.postgres import LOCK_SERVE

    url = pg.url()
    async with replicas(1, url, tmp_path) as (a,):
        officer = await Peer.open(a, a.tokens["officer"])
        assert a.server.holds_timers
        # Another process takes the serving lock exclusively the moment A's session is gone.
        key = a.store._key  # type: ignore[attr-defined]
        await _pause(a, "lease")  # so the lock is surely taken before A's next heartbeat
        await _terminate_sessions(a)
        other = await asyncpg.connect(url)
        try:
            await _until(lambda: other.fetchval("SELECT pg_try_advisory_lock($1, $2)", LOCK_SERVE, key), timeout=5)
            a.server._tasks.append(asyncio.create_task(a.server.lease.run(), name="lease"))
            await _until(lambda: a.store.fenced is not None, timeout=5)
            status, _, body = await http_get(a, "/healthz")
            assert status == 503 and "not serving" in body and "lost the serving lock" in body
            refused = await officer.command("report", **report())
            assert not refused["ok"] and refused["code"] == "unavailable" and "send it again" in refused["message"]
            assert not a.server.holds_timers  # a stale replica holds no timer lock
            await a.server.timer_lock.check()
            assert not a.server.holds_timers
            # A feeder's session sends such a command again, with its id, until the deadline: not a refusal.
            feeder = await Session.open(a.url, a.tokens["polisi"], on_frame=lambda _: None)
            waiting = asyncio.ensure_future(
                feeder.request(Report(id="sabar-1", incident=IncidentDraft(regency="6371", category="logistik", severity="low", title="sabar")), timeout=30)
            )
            await _until(lambda: feeder.resent_unavailable >= 1, timeout=10)
            assert not waiting.done()
        finally:
            await other.close()  # the lock is free again: A takes it back and serves
        answered = await waiting
        assert answered.ok and answered.seq is not None
        await feeder.close()
        await _until(lambda: a.store.fenced is None and a.server.problem is None, timeout=10)
        assert (await _health(a))["status"] == "ok"
        assert (await officer.command("report", **report()))["ok"]
        await _until(lambda: a.server.holds_timers, timeout=5)
        await officer.close()
