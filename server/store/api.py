"""The event store's interface: what the server, the token CLI, the demo and
the after-action report ask of a database, the records it keeps, and the one
factory that picks the backend from the configured database.

- a path, or `sqlite:///night.db` (`sqlite:////abs/night.db`): SQLite, the
  embedded default (server/store/sqlite.py, `SqliteStore`);
- `postgresql://user@host:port/db` (also `postgres://`): PostgreSQL
  (server/store/postgres.py, `PostgresStore`). Query parameters other than the
  driver's own are server settings, e.g. `?search_path=night24` to keep a
  night in its own schema (created if missing).

Both keep the same semantics: a gap-free seq written in the commit's own
transaction (on PostgreSQL across any number of server replicas, see
`writing()` and server/store/postgres.py), the state tables beside the log, tokens and command answers
(idempotency) in the same database. Some things exist only for a file:
the lock file beside it and SQLite's online backup API (`[server]
backup_dir`); on PostgreSQL, `backup`, `restore` and `verify` go through
pg_dump and psql (server/pgbackup.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, runtime_checkable

import msgspec

from opsmon.core.protocol import Event
from opsmon.core.records import Attempt, Incident, StageRow
from opsmon.core.state import State

Backend = Literal["sqlite", "postgresql"]
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
# meta key: when `opsmon-server backup` last dumped this PostgreSQL database (RFC 3339), read for /metrics.
LAST_BACKUP_KEY = "last_backup"

# An event as the log keeps it: with the incident and the regency it concerns (for queries).
LogEntry = tuple[Event, int | None, str | None]


class StoreError(RuntimeError):
    """The database cannot be used (newer schema, unreadable file)."""


class RepeatedCommand(StoreError):
    """A batch's commit met a command id already answered (the commands table's key):
    nothing was written. Raised only by a Transaction whose `refuses_repeats` is true."""


@dataclass(frozen=True)
class TokenRecord:
    name: str
    hash: str
    role: str
    agency: str
    regencies: list[str] | None
    created: str
    revoked: str | None
    expires: str | None = None
    last_used: str | None = None
    id: int = 0


@dataclass(frozen=True)
class TokenChange:
    """A token added, revoked or expired, not yet written into the event log.
    `body` is what the event's data says: never the secret, never its hash."""

    id: int
    ts: str
    change: str  # "added", "revoked", "expired"
    name: str
    body: dict[str, Any]


@dataclass(frozen=True)
class CommandRecord:
    """One command's answer, remembered so the same id gets the same answer."""

    user: str
    id: str
    result: bytes


@dataclass(frozen=True)
class WriteBatch:
    """What one transaction writes: the events appended to the log, the state
    rows they changed, the answers of the commands they carry out, and the
    token changes they log (marked logged, so each is logged once)."""

    events: Sequence[LogEntry]
    incidents: Sequence[Incident] = ()
    stages: Sequence[StageRow] = ()
    commands: Sequence[CommandRecord] = ()
    token_changes: Sequence[int] = ()
    # How many of each incident's notes are stored already (notes are only ever
    # appended): only the ones after are written. An incident not named here has
    # all its notes written.
    notes_stored: Mapping[int, int] = field(default_factory=dict)


@runtime_checkable
class Transaction(Protocol):
    """One write batch in progress (`async with writing(store, head) as writer:`):
    what the writer reads and commits while it decides. On PostgreSQL the seq
    lock is held and `missed` holds what other replicas committed since `head`;
    on SQLite (one writer per file) `missed` is empty."""

    @property
    def missed(self) -> list[Event]: ...
    @property
    def refuses_repeats(self) -> bool:
        """commit() raises RepeatedCommand for a command id already answered: the writer
        may decide a batch before looking its ids up, and look them up only then."""

    async def command_results(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], bytes]: ...
    async def token_changes(self, now: str) -> list[TokenChange]: ...
    async def commit(self, batch: WriteBatch) -> None: ...


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
    async def epochs(self) -> list[tuple[str, str, str]]:
        """Every epoch this database has had, oldest first: (epoch, started, reason)."""

    async def reset(self, *, keep_tokens: bool, reason: str = "reset") -> str: ...
    async def copy_beside(self, label: str) -> Path | str: ...
    async def probe(self) -> None: ...

    # --- state and the log --------------------------------------------------
    async def head(self) -> int: ...
    async def load_state(self) -> State: ...
    async def commit(self, batch: WriteBatch) -> None: ...
    def writing(self, head: int) -> AbstractAsyncContextManager[Transaction]: ...
    async def command_results(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], bytes]: ...
    async def open_reader(self) -> None:
        """A read-only connection of its own for the log reads below (the server's answers)."""

    async def events_since(self, since: int, limit: int | None = None, until: int | None = None) -> list[Event]: ...
    async def event_at(self, seq: int) -> Event | None: ...
    async def raw_events_since(self, since: int, limit: int, until: int) -> list[tuple[int, bytes]]: ...
    async def events_between(self, since: str | None = None, until: str | None = None) -> list[LogEntry]: ...
    async def incident_events(self, incident: int, until: int | None = None) -> list[Event]: ...
    async def incident_timeline(self, incident: int, until: int | None = None) -> list[msgspec.Raw]: ...
    async def incident_timeline_page(self, incident: int, until: int, after: int, limit: int) -> tuple[list[msgspec.Raw], int | None]: ...
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


def writing(store: EventStore, head: int) -> AbstractAsyncContextManager[Transaction]:
    """A write batch on `store` for a writer whose state is at `head`."""
    return store.writing(head)


# What `opsmon-server copy` moves, table by table, in the SQLite store's column names.
# The meta key `opsmon-server copy` sets in its source: where the night went
# and when. `serve` refuses a database holding it (server.app.run).
MOVED_KEY = "moved_to"

COPY_TABLES: dict[str, tuple[str, ...]] = {
    "meta": ("key", "value"),
    "epochs": ("epoch", "started", "first_seq", "reason"),
    "events": ("seq", "epoch", "ts", "kind", "actor", "data", "incident", "regency"),
    "incidents": ("id", "regency", "status", "severity", "reported", "resolved", "body"),
    "notes": ("incident", "n", "body"),
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
    # A source copied before is marked moved: the mark is the source's, not the night's.
    meta_columns, meta_rows = tables["meta"]
    tables["meta"] = (meta_columns, [row for row in meta_rows if row[0] != MOVED_KEY])
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
