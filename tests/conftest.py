from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.backends import BACKENDS, Databases, require_postgres
from tests.helpers import FakeClock, Running, running_server
from tests.installed import installed  # noqa: F401  (a session fixture: opsmon in a venv any user can run)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def server(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Running]:
    async with running_server(tmp_path, clock=clock) as running:
        yield running


@pytest.fixture(params=BACKENDS)
async def databases(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Databases]:
    """Fresh databases of each store backend (the server tests run on both)."""
    if request.param == "postgresql":
        await require_postgres()
    found = Databases(request.param, tmp_path)
    try:
        yield found
    finally:
        await found.drop()


@pytest.fixture
async def backend_server(databases: Databases, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Running]:
    """The `server` fixture, once on each store backend."""
    async with running_server(tmp_path, clock=clock, database=databases.url()) as running:
        yield running
