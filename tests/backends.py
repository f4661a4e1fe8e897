"""Fresh databases of each store backend for one test: a SQLite file in the
test's tmp_path, or a PostgreSQL schema of its own (dropped afterwards).

PostgreSQL is the one at $OPSMON_TEST_POSTGRES (default 127.0.0.1:5432,
database test, user postgres, trust auth). Where it cannot be reached its
cases skip, saying why; in CI (CI=true) they fail instead, so a CI run never
passes having tested one backend only."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.store.api import Backend

BACKENDS: tuple[Backend, ...] = ("sqlite", "postgresql")
POSTGRES_URL = os.environ.get("OPSMON_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

_reachable: str | None = None  # "" when reachable, else why not (asked once per session)


async def require_postgres() -> None:
    global _reachable
    if _reachable is None:
        import asyncpg

        try:
            connection = await asyncpg.connect(POSTGRES_URL, timeout=5)
            await connection.close()
            _reachable = ""
        except Exception as exc:  # any failure to connect is the reason to report
            _reachable = f"{type(exc).__name__}: {exc}"
    if _reachable:
        message = f"PostgreSQL at {POSTGRES_URL} is not reachable ({_reachable})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: CI tests both store backends", pytrace=False)
        pytest.skip(f"{message}: the PostgreSQL cases need it (start it, or set OPSMON_TEST_POSTGRES)")


class Databases:
    """`url(name)`: the database named `name` for this test (the same name gives
    the same database, so a test can restart a server on it)."""

    def __init__(self, backend: Backend, tmp_path: Path) -> None:
        self.backend = backend
        self.tmp_path = tmp_path
        self.prefix = f"t{secrets.token_hex(5)}"
        self.schemas: set[str] = set()

    def url(self, name: str = "opsmon.db") -> str:
        if self.backend == "sqlite":
            return str(self.tmp_path / name)
        schema = f"{self.prefix}_{re.sub(r'[^a-z0-9]', '_', name.lower())}"
        self.schemas.add(schema)
        return f"{POSTGRES_URL}?search_path={schema}"

    async def drop(self) -> None:
        """Every schema this test made, and the copies a reset or migration made beside them."""
        if self.backend != "postgresql" or not self.schemas:
            return
        import asyncpg

        connection = await asyncpg.connect(POSTGRES_URL, timeout=5)
        try:
            rows = await connection.fetch("SELECT nspname FROM pg_namespace WHERE nspname LIKE $1", f"{self.prefix}\\_%")
            for (schema,) in rows:
                await connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
        finally:
            await connection.close()


@contextlib.asynccontextmanager
async def fresh_databases(backend: Backend, tmp_path: Path) -> AsyncIterator[Databases]:
    """This test's databases of `backend` (PostgreSQL: skips or fails where it is not reachable)."""
    if backend == "postgresql":
        await require_postgres()
    found = Databases(backend, tmp_path)
    try:
        yield found
    finally:
        await found.drop()
