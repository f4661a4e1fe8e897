"""The event store's interface: what the server, the token CLI, the demo and
the after-action report ask of a database, and the one factory that picks the
backend from the configured database.

- a path, or `sqlite:///night.db` (`sqlite:////abs/night.db`): SQLite, the
  embedded default (server/store.py, `SqliteStore`);
- `postgresql://user@host:port/db` (also `postgres://`): PostgreSQL
  (server/store_pg.py, `PostgresStore`). Query parameters other than the
  driver's own are server settings, e.g. `?search_path=night24` to keep a
  night in its own schema (created if missing).

Both keep the same semantics: a gap-free seq written in the commit's own
transaction (on PostgreSQL across any number of server replicas, see
`writing()` and server/store_pg.py), the state tables beside the log, tokens and command answers
(idempotency) in the same database. Some things exist only for a file:
the lock file beside it, SQLite's online backup API and `verify`; on
PostgreSQL they say so in one line (use pg_dump).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, runtime_checkable

from opsmon.core.protocol import Event
from opsmon.core.records import Incident, StageRow
from opsmon.core.state import State
from server.store import Attempt, CommandRecord, SqliteStore, StoreError, TokenChange, TokenRecord

__all__ = [
    "Attempt",
    "CommandRecord",
    "EventStore",
    "StoreError",
    "TokenChange",
    "TokenRecord",
    "WriteBatch",
    "backend_of",
    "open_store",
    "sqlite_path",
    "writing",
]

Backend = Literal["sqlite", "postgresql"]
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
PG_DUMP_HINT = "use pg_dump for a PostgreSQL database"


@runtime_checkable
class EventStore(Protocol):
    """An opened event store. Use `async with open_store(database) as store:`."""

    @property
    def backend(self) -> Backend: ...
    @property
    def location(self) -> str:
        """What to call the database in messages: a path, or the URL without its password."""

    @property
    def epoch(self) -> str: ...
    @property
    def created(self) -> str: ...
    @property
    def migration_backup(self) -> Path | str | None:
        """Where a schema migration copied the database first, if it did."""

    async def __aenter__(self) -> EventStore: ...
    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None: ...
    async def open(self) -> None: ...
    async def close(self) -> None: ...

    # --- identity, settings -------------------------------------------------
    async def get_meta(self, key: str) -> str | None: ...
    async def set_meta(self, key: str, value: str) -> None: ...
    async def new_epoch(self, reason: str) -> str: ...
    async def reset(self, *, keep_tokens: bool, reason: str = "reset") -> str: ...
    async def copy_beside(self, label: str) -> Path | str: ...
    async def probe(self) -> None: ...

    # --- state and the log --------------------------------------------------
    async def head(self) -> int: ...
    async def load_state(self) -> State: ...
    async def commit(
        self,
        events: list[tuple[Event, int | None, str | None]],
        incidents: Iterable[Incident] = (),
        stages: Iterable[StageRow] = (),
        commands: Iterable[CommandRecord] = (),
        token_changes: Iterable[int] = (),
    ) -> None: ...
    async def command_results(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], bytes]: ...
    async def events_since(self, since: int, limit: int | None = None) -> list[Event]: ...
    async def event_at(self, seq: int) -> Event | None: ...
    async def events_between(self, since: str | None = None, until: str | None = None) -> list[tuple[Event, int | None, str | None]]: ...
    async def incident_events(self, incident: int) -> list[Event]: ...
    async def history_by_regency(self) -> dict[str, int]: ...
    async def stages_with_history(self) -> set[str]: ...

    # --- exercises ----------------------------------------------------------
    async def record_attempts(self, attempts: Iterable[Attempt]) -> None: ...
    async def attempts(self) -> list[Attempt]: ...
    async def exercise(self) -> dict[str, Any] | None: ...
    async def mark_exercise(self, settings: dict[str, Any], reason: str) -> None: ...

    # --- tokens -------------------------------------------------------------
    async def add_token(self, record: TokenRecord, *, by: str = "", log_change: bool = False) -> TokenRecord | None: ...
    async def tokens(self) -> list[TokenRecord]: ...
    async def token_by_name(self, name: str) -> TokenRecord | None: ...
    async def token_by_hash(self, token_hash: str) -> TokenRecord | None: ...
    async def revoke_token(self, name: str, *, by: str = "") -> bool: ...
    async def active_token_hashes(self, now: str | None = None) -> set[str]: ...
    async def touch_tokens(self, used: dict[str, str]) -> None: ...
    async def token_changes(self, now: str) -> list[TokenChange]: ...

    # --- copy (opsmon-server copy) ------------------------------------------
    async def dump_table(self, table: str, columns: tuple[str, ...]) -> list[tuple[Any, ...]]: ...
    async def load_tables(self, tables: dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]]) -> None: ...


@runtime_checkable
class WriteBatch(Protocol):
    """One write batch (`async with writing(store, head) as batch:`): what the
    writer reads and commits while it decides. On PostgreSQL the seq lock is
    held and `missed` holds what other replicas committed since `head`; on
    SQLite (one writer per file) `missed` is empty."""

    @property
    def missed(self) -> list[Event]: ...
    async def command_results(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], bytes]: ...
    async def token_changes(self, now: str) -> list[TokenChange]: ...
    async def commit(
        self,
        events: list[tuple[Event, int | None, str | None]],
        incidents: Iterable[Incident] = (),
        stages: Iterable[StageRow] = (),
        commands: Iterable[CommandRecord] = (),
        token_changes: Iterable[int] = (),
    ) -> None: ...


class _SingleWriter:
    """A write batch on a store with one writer: nothing to fold, its own methods."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.missed: list[Event] = []

    async def command_results(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], bytes]:
        return await self.store.command_results(keys)

    async def token_changes(self, now: str) -> list[TokenChange]:
        return await self.store.token_changes(now)

    async def commit(
        self,
        events: list[tuple[Event, int | None, str | None]],
        incidents: Iterable[Incident] = (),
        stages: Iterable[StageRow] = (),
        commands: Iterable[CommandRecord] = (),
        token_changes: Iterable[int] = (),
    ) -> None:
        await self.store.commit(events, incidents, stages, commands, token_changes)


@contextlib.asynccontextmanager
async def writing(store: EventStore, head: int) -> AsyncIterator[WriteBatch]:
    """A write batch on `store` for a writer whose state is at `head`."""
    if store.backend == "postgresql":
        from server.store_pg import PostgresStore

        assert isinstance(store, PostgresStore)
        async with store.writing(head) as batch:
            yield batch
    else:
        yield _SingleWriter(store)


# What `opsmon-server copy` moves, table by table, in the SQLite store's column names.
COPY_TABLES: dict[str, tuple[str, ...]] = {
    "meta": ("key", "value"),
    "epochs": ("epoch", "started", "first_seq", "reason"),
    "events": ("seq", "epoch", "ts", "kind", "actor", "data", "incident", "regency"),
    "incidents": ("id", "regency", "status", "severity", "reported", "resolved", "body"),
    "stages": ("regency", "stage", "body"),
    "tokens": ("id", "name", "hash", "role", "agency", "regencies", "created", "revoked", "expires", "last_used", "expiry_logged"),
    "token_changes": ("id", "ts", "change", "name", "body", "logged"),
    "commands": ("user", "id", "ts", "result"),
    "attempts": ("id", "ts", "epoch", "user", "agency", "command", "incident", "code", "reason", "message"),
}


async def copy_database(source: EventStore, target: EventStore) -> dict[str, int]:
    """Every row of a night (events, state, tokens, answers, epochs, settings)
    from one opened store into another, empty one, in one transaction at the
    target; the target keeps the source's epoch, so clients resume across it.
    Returns the rows copied per table."""
    if await target.head() or await target.tokens():
        raise StoreError(f"{target.location} is not empty (it has events or tokens): copy into a new database")
    tables = {table: (columns, await source.dump_table(table, columns)) for table, columns in COPY_TABLES.items()}
    await target.load_tables(tables)
    return {table: len(rows) for table, (_, rows) in tables.items()}


def backend_of(database: str | Path) -> Backend:
    text = str(database)
    return "postgresql" if text.startswith(POSTGRES_SCHEMES) else "sqlite"


def sqlite_path(database: str | Path) -> Path:
    """The file a SQLite database names: a plain path, or `sqlite:///relative`
    / `sqlite:////absolute` (three slashes then the path, as SQLAlchemy writes it)."""
    text = str(database)
    if text.startswith("sqlite://"):
        rest = text[len("sqlite://") :]
        if not rest.startswith("/"):
            raise StoreError(f"{text}: a SQLite URL is sqlite:///relative/path.db or sqlite:////absolute/path.db")
        text = rest[1:]
        if not text:
            raise StoreError("sqlite:///: the URL names no file")
    elif "://" in text:
        scheme = text.split("://", 1)[0]
        raise StoreError(f"{text}: unknown database kind {scheme!r}: give a file path, sqlite:///FILE or postgresql://user@host/db")
    return Path(text)


def open_store(database: str | Path, *, synchronous: str = "full", check_writable: bool = False, exclusive: bool = False, shared: bool = False) -> EventStore:
    """The store for this database, not yet opened (`async with` opens it).

    `synchronous` is SQLite's durability setting (PostgreSQL commits are
    always durable). `check_writable` proves at open that writes work.
    `exclusive` (migrate, reset, copy) makes this the database's only user:
    on PostgreSQL a session advisory lock; SQLite's equivalent is the lock
    file (server/lock.py). `shared` (serve on PostgreSQL, where any number of
    replicas write one log) takes that lock shared: it waits for no replica,
    only for an exclusive holder."""
    if backend_of(database) == "postgresql":
        from server.store_pg import PostgresStore

        return PostgresStore(str(database), check_writable=check_writable, exclusive=exclusive, shared=shared)
    return SqliteStore(sqlite_path(database), synchronous=synchronous, check_writable=check_writable)
