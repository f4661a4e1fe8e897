"""What the TUI tests share: the terminal size, waiting on Pilot, the queue, the fixed night's app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
from textual.pilot import Pilot

from opsmon.client.session import Session
from opsmon.core.geo import province_shape
from opsmon.core.protocol import Command, IncidentDraft, Report
from opsmon.training.sample_night import NOW, fixed_night
from opsmon.tui.app import OpsmonApp
from opsmon.tui.widgets.queue import IncidentQueue
from tests.helpers import FakeClock, Running, province

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
            result = await session.request(
                Report(id=f"seed-{title}", incident=IncidentDraft(regency=regency, category="logistik", severity=severity, title=title))
            )
            assert result.ok, result
            ids.append(result.incident)
            clock.advance(minutes=3)
    finally:
        await session.close()
    return ids


async def act(server: Running, token: str, command: Command) -> None:
    """One command as `token`, from a session of its own; it must be carried out."""
    session = await Session.open(server.url, server.tokens[token])
    try:
        result = await session.request(command)
        assert result.ok, result
    finally:
        await session.close()


def queue_of(app: OpsmonApp) -> IncidentQueue:
    return app.dashboard.query_one(IncidentQueue)


def loaded(app: OpsmonApp, count: int) -> Callable[[], bool]:
    def check() -> bool:
        """the queue to show the incidents"""
        return app.welcome is not None and len(queue_of(app).incident_ids) == count

    return check


@contextlib.asynccontextmanager
async def client(server: Running, clock: FakeClock, count: int, token: str = "officer", **options: Any) -> AsyncIterator[tuple[OpsmonApp, Pilot[int]]]:
    """The terminal client as `token` on the test server, once its queue shows `count` incidents."""
    app = OpsmonApp(url=server.url, token=server.tokens[token], clock=clock, **options)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(app, count))
        yield app, pilot


def screen_lines(app: OpsmonApp) -> list[str]:
    """The characters on the terminal, row by row, as the compositor draws them."""
    return ["".join(segment.text for segment in strip) for strip in app.screen._compositor.render_strips()]


async def settle(pilot: Pilot[int]) -> None:
    await pilot.pause(0.2)
    await pilot.pause()


def night_app(*, wall: bool = False, lang: str = "id", role: str = "officer", regencies: list[str] | None = None) -> OpsmonApp:
    """The fixed night's app; `regencies`: the token is scoped to them (an officer of a Polres)."""
    config = province()
    welcome, state, events = fixed_night(config, role=role)
    if regencies is not None:
        welcome = msgspec.structs.replace(welcome, user=msgspec.structs.replace(welcome.user, regencies=regencies))
    shape = province_shape(config.province.boundaries)
    return OpsmonApp.with_state(welcome, state, lang=lang, wall=wall, clock=lambda: NOW, events=events, shape=shape, desks=config.desks())
