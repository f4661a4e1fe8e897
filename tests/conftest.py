from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.backends import BACKENDS, Databases, fresh_databases
from tests.helpers import FakeClock, Running, running_server
from tests.installed import installed  # noqa: F401  (a session fixture: opsmon in a venv any user can run)
from tests.server_thread import ServerThread, server_in_thread


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
    async with fresh_databases(request.param, tmp_path) as found:
        yield found


@pytest.fixture
async def pg(tmp_path: Path) -> AsyncIterator[Databases]:
    """A fresh schema per test on the real PostgreSQL (fails in CI if there is none)."""
    async with fresh_databases("postgresql", tmp_path) as found:
        yield found


@pytest.fixture
async def backend_server(databases: Databases, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Running]:
    """The `server` fixture, once on each store backend."""
    async with running_server(tmp_path, clock=clock, database=databases.url()) as running:
        yield running


@pytest.fixture
def live(tmp_path: Path) -> Iterator[ServerThread]:
    """The server on a thread of its own, for the synchronous `opsmon` CLI."""
    with server_in_thread(tmp_path) as running:
        yield running
