"""Which store a database names: the one module that knows every backend."""

from __future__ import annotations

from pathlib import Path

from server.store.api import EventStore, backend_of, sqlite_path
from server.store.sqlite import SqliteStore


def open_store(database: str | Path, *, synchronous: str = "full", check_writable: bool = False, exclusive: bool = False, shared: bool = False) -> EventStore:
    """The store for this database, not yet opened (`async with` opens it).

    `synchronous` is SQLite's durability setting (PostgreSQL commits are
    always durable). `check_writable` proves at open that writes work.
    `exclusive` (migrate, reset, copy) makes this the database's only user:
    on PostgreSQL a session advisory lock; SQLite's equivalent is the lock
    file (server/lock.py). `shared` (serve on PostgreSQL, where any number of
    replicas write one log) takes that lock shared: it waits for no replica,
    only for an exclusive holder."""
    # PostgreSQL imported here: asyncpg only when asked for.
    if backend_of(database) == "postgresql":
        from server.store.postgres import PostgresStore

        return PostgresStore(str(database), check_writable=check_writable, exclusive=exclusive, shared=shared)
    return SqliteStore(sqlite_path(database), synchronous=synchronous, check_writable=check_writable)
