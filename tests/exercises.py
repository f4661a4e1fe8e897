"""A real exercise server on scenario time, whose wall clock the test moves by hand."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from opsmon.training.exercise import ExerciseClock
from opsmon.training.roster import Trainee
from server.app import OpsmonServer
from server.auth import add_token
from server.exercise import Exercise, ExerciseSettings, prepare
from server.store.sqlite import SqliteStore
from tests.helpers import STANDARD_TOKENS, FakeClock, Running, province

START = datetime(2024, 2, 13, 21, 0, tzinfo=UTC)  # 14 Feb 05:00 WITA


@contextlib.asynccontextmanager
async def exercise_server(
    tmp_path: Path,
    *,
    speed: float,
    base: FakeClock | None = None,
    name: str = "Latihan Posko 12 Feb",
    roster: tuple[Trainee, ...] = (),
    deadlines: str = "scenario",
) -> AsyncIterator[tuple[Running, FakeClock]]:
    """A real exercise server whose wall clock the test moves by hand."""
    config = province()
    base = base or FakeClock(datetime(2026, 2, 12, 1, 0, tzinfo=UTC))
    async with SqliteStore(tmp_path / "latihan.db", synchronous="normal") as store:
        tokens = {}
        for token_name, (role, agency, regencies) in STANDARD_TOKENS.items():
            if await store.token_by_name(token_name) is None:
                tokens[token_name] = await add_token(store, token_name, role, agency, regencies, {r.code for r in config.regencies})
        prepared = await prepare(store, ExerciseSettings(name, START, speed, "hari-h", roster=roster, deadlines=deadlines), now=base())
        assert prepared is not None
        clock = ExerciseClock(prepared.clock.real, prepared.clock.scenario, prepared.clock.speed, base=base)
        running = Exercise(prepared.settings, clock, prepared.state)
        server = OpsmonServer(config, store, exercise=running)
        await server.start("127.0.0.1", 0)
        try:
            yield Running(server, store, config, tmp_path / "latihan.db", tokens), base
        finally:
            await server.close()
