from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.helpers import FakeClock, Running, running_server
from tests.installed import installed  # noqa: F401  (a session fixture: opsmon in a venv any user can run)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def server(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Running]:
    async with running_server(tmp_path, clock=clock) as running:
        yield running
