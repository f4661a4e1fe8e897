"""The server's timers, each driven through its own seam (one round, no loop,
no socket) on a real SQLite file: what a duty officer or an IT officer would
notice if a timer did its round wrong."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import msgspec

from opsmon.core.config import Config
from opsmon.core.domain import decide
from opsmon.core.protocol import IncidentDraft, Report, Snooze
from opsmon.core.records import Actor
from server.app import OpsmonServer
from server.auth import add_token
from server.store.backends import open_store
from tests.helpers import FakeClock, province

OFFICER = Actor(name="officer", agency="Bawaslu")


@contextlib.asynccontextmanager
async def quiet_server(tmp_path: Path, clock: FakeClock, config: Config | None = None) -> AsyncIterator[OpsmonServer]:
    """A server on its database, not started: no loop runs a timer, the test does."""
    async with open_store(str(tmp_path / "opsmon.db"), synchronous="normal") as store:
        server = OpsmonServer(config or province(), store, clock=clock)
        server.state = await store.load_state()
        yield server


async def report(server: OpsmonServer, severity: str) -> int:
    """A report decided as an officer's and written through the writer (as a
    decision: no connection waits for its answer); the new incident's id."""
    command = Report(id=f"r{server.state.seq}", incident=IncidentDraft(regency="6371", category="logistik", severity=severity, title="Kotak suara rusak"))
    async with server.lock:
        await server.writer.write([decide(server.state, command, OFFICER, None, server.clock(), server.rules)])
    return max(server.state.incidents)


async def test_the_deadline_timer_escalates_an_unacknowledged_incident_once_per_interval(tmp_path: Path, clock: FakeClock) -> None:
    async with quiet_server(tmp_path, clock) as server:
        incident = await report(server, "critical")  # acknowledge within 5 minutes, escalate again every 5
        clock.advance(minutes=4)
        assert await server.deadlines.check() == 0
        clock.advance(minutes=1, seconds=1)
        assert await server.deadlines.check() == 1
        assert await server.deadlines.check() == 0  # not twice for one deadline
        assert server.state.incidents[incident].level == 1
        events = await server.store.events_since(0)
        assert [e.kind for e in events] == ["incident.reported", "incident.escalated"]
        assert events[1].actor.name == "system" and events[1].data.level == 1


async def test_the_deadline_timer_wakes_a_snooze_that_ran_out_without_escalating_it_at_once(tmp_path: Path, clock: FakeClock) -> None:
    async with quiet_server(tmp_path, clock) as server:
        incident = await report(server, "critical")
        snooze = Snooze(id="s1", incident=incident, minutes=10, note="polisi sudah di lokasi")
        async with server.lock:
            await server.writer.write([decide(server.state, snooze, OFFICER, None, server.clock(), server.rules)])
        clock.advance(minutes=9)
        assert await server.deadlines.check() == 0
        assert server.state.incidents[incident].snoozed_until is not None
        clock.advance(minutes=2)
        assert await server.deadlines.check() == 0  # woken: its deadline counts again from now
        assert server.state.incidents[incident].snoozed_until is None
        assert (await server.store.events_since(0))[-1].kind == "incident.unsnoozed"
        clock.advance(minutes=5, seconds=1)
        assert await server.deadlines.check() == 1


async def test_the_token_sweep_logs_an_added_and_an_expired_token_once_each(tmp_path: Path, clock: FakeClock) -> None:
    async with quiet_server(tmp_path, clock) as server:
        known = {r.code for r in server.config.regencies}
        await add_token(server.store, "Relawan", "officer", "KPU", None, known, expires=clock.now + timedelta(hours=3), log_change=True)
        await server.tokens.check()
        await server.tokens.check()
        clock.advance(hours=3)
        await server.tokens.check()
        await server.tokens.check()
        events = await server.store.events_since(0)
        assert [(e.kind, e.actor.name, getattr(e.data, "name", None)) for e in events] == [
            ("token.added", "system", "Relawan"),
            ("token.expired", "system", "Relawan"),
        ]


async def test_the_backup_timer_writes_a_copy_named_by_its_seq_and_keeps_only_the_newest(tmp_path: Path, clock: FakeClock) -> None:
    config = province()
    folder = tmp_path / "backups"
    config = msgspec.structs.replace(config, server=msgspec.structs.replace(config.server, backup_dir=str(folder), backup_keep=1))
    async with quiet_server(tmp_path, clock, config) as server:
        await report(server, "high")
        first = await server.backups.now()
        assert first is not None and first.seq == 1 and first.path.name.endswith("-seq00000001.db")
        await report(server, "high")
        second = await server.backups.now()
        assert second is not None and second.seq == 2
        assert sorted(p.name for p in folder.iterdir()) == [second.path.name]  # backup_keep = 1


async def test_the_write_probe_clears_the_problem_once_a_write_works(tmp_path: Path, clock: FakeClock) -> None:
    async with quiet_server(tmp_path, clock) as server:
        server.problem = "could not save: the disk is full (database or disk is full)"
        await server.probe.check()
        assert server.problem is None
