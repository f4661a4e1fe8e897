"""The terminal client against the real server on loopback, driven by real key presses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from textual.pilot import Pilot

from opsmon.client import Session
from opsmon.protocol import IncidentDraft, Report, Snapshot
from opsmon.tui.app import OpsmonApp
from opsmon.tui.widgets.queue import IncidentQueue
from tests.helpers import FakeClock, Running

SIZE = (120, 40)


async def until(pilot: Pilot[int], condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Let the app run until `condition()` holds (or fail, saying so)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {condition.__doc__ or condition}")
        await pilot.pause(0.05)


async def report(server: Running, clock: FakeClock, incidents: list[tuple[str, str, str]], token: str = "admin") -> list[int]:
    """Report (regency, severity, title) incidents, three minutes apart; returns their ids."""
    session = await Session.open(server.url, server.tokens[token])
    ids = []
    try:
        for regency, severity, title in incidents:
            result = await session.request(Report(id=f"seed-{title}", incident=IncidentDraft(regency=regency, category="logistik", severity=severity, title=title)))
            assert result.ok, result
            ids.append(result.incident)
            clock.advance(minutes=3)
    finally:
        await session.close()
    return ids


async def server_view(server: Running) -> dict[int, str]:
    """What a second client sees: incident id -> status."""
    session = await Session.open(server.url, server.tokens["wall"])
    try:
        snapshot = await session.next_frame()
        assert isinstance(snapshot, Snapshot)
        return {i.id: i.status for i in snapshot.incidents}
    finally:
        await session.close()


def queue_of(app: OpsmonApp) -> IncidentQueue:
    return app.dashboard.query_one(IncidentQueue)


def loaded(app: OpsmonApp, count: int) -> Callable[[], bool]:
    def check() -> bool:
        """the queue to show the incidents"""
        return app.welcome is not None and len(queue_of(app).incident_ids) == count

    return check


async def test_a_right_after_launch_acknowledges_the_most_urgent(server: Running, clock: FakeClock) -> None:
    ids = await report(server, clock, [("6371", "high", "Kotak suara rusak"), ("6303", "critical", "Kericuhan di PPK"), ("6302", "low", "Listrik padam")])
    app = OpsmonApp(url=server.url, token=server.tokens["officer"], clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(app, 3))
        critical = ids[1]
        assert queue_of(app).selected_id == critical  # the most urgent unacknowledged, preselected
        assert app.focused is queue_of(app)
        await pilot.press("a")
        await until(pilot, lambda: any("di-ack oleh Bawaslu/officer" in n for n in app.notices))
        assert app.notices[-1] == f"#{critical} di-ack oleh Bawaslu/officer"
        assert (await server_view(server))[critical] == "acknowledged"
        await until(pilot, lambda: app.state.incidents[critical].status == "acknowledged")
