"""The SQLite event store: a file in WAL mode, through aiosqlite.

The events table is the truth; incidents and stages hold the current state
so a restart needs no replay. Each command is one transaction that appends
its event(s), updates the state rows and records the command's answer, so
nothing a client was told succeeded can be lost, and a repeated command id
finds its first answer. The shared method bodies are server/store/core.py's;
here is what only SQLite has: the file, its schema versions, its backup API.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, cast

import aiosqlite

from opsmon.core.clock import format_ts, utc_now
from opsmon.core.filemodes import create_private
from server.store.api import LogEntry, RepeatedCommand, StoreError, WriteBatch
from server.store.core import Sql, StoreCore, event_row, stored_version

SCHEMA_VERSION = 4

# One entry per schema version; a database at version N runs MIGRATIONS[N:].
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE events (
        seq      INTEGER PRIMARY KEY,
        epoch    TEXT NOT NULL,
        ts       TEXT NOT NULL,
        kind     TEXT NOT NULL,
        actor    TEXT NOT NULL,
        data     TEXT NOT NULL,
        incident INTEGER,
        regency  TEXT
    );
    CREATE INDEX events_by_incident ON events (incident) WHERE incident IS NOT NULL;
    CREATE TABLE incidents (
        id       INTEGER PRIMARY KEY,
        regency  TEXT NOT NULL,
        status   TEXT NOT NULL,
        severity TEXT NOT NULL,
        reported TEXT NOT NULL,
        resolved TEXT,
        body     TEXT NOT NULL
    );
    CREATE TABLE stages (
        regency TEXT NOT NULL,
        stage   TEXT NOT NULL,
        body    TEXT NOT NULL,
        PRIMARY KEY (regency, stage)
    );
    CREATE TABLE tokens (
        name      TEXT PRIMARY KEY,
        hash      TEXT NOT NULL UNIQUE,
        role      TEXT NOT NULL,
        agency    TEXT NOT NULL,
        regencies TEXT,
        created   TEXT NOT NULL,
        revoked   TEXT
    );
    CREATE TABLE commands (
        user   TEXT NOT NULL,
        id     TEXT NOT NULL,
        ts     TEXT NOT NULL,
        result BLOB NOT NULL,
        PRIMARY KEY (user, id)
    );
    """,
    # 2: every epoch this file has had and why it began (created, reset, a
    # restored copy detected), so a history's identity can be traced.
    """
    CREATE TABLE epochs (
        epoch     TEXT PRIMARY KEY,
        started   TEXT NOT NULL,
        first_seq INTEGER NOT NULL,
        reason    TEXT NOT NULL
    );
    INSERT INTO epochs (epoch, started, first_seq, reason)
        SELECT e.value, COALESCE(c.value, ''), 0, 'created'
        FROM meta e LEFT JOIN meta c ON c.key = 'created' WHERE e.key = 'epoch';
    """,
    # 3: tokens may expire and remember their last use; a name given a new token
    # keeps its revoked ones (one active token per name); token changes wait in
    # token_changes until the server writes them into the event log.
    """
    CREATE TABLE tokens_v2 (
        id        INTEGER PRIMARY KEY,
        name      TEXT NOT NULL,
        hash      TEXT NOT NULL UNIQUE,
        role      TEXT NOT NULL,
        agency    TEXT NOT NULL,
        regencies TEXT,
        created   TEXT NOT NULL,
        revoked   TEXT,
        expires   TEXT,
        last_used TEXT,
        expiry_logged INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO tokens_v2 (name, hash, role, agency, regencies, created, revoked)
        SELECT name, hash, role, agency, regencies, created, revoked FROM tokens;
    DROP TABLE tokens;
    ALTER TABLE tokens_v2 RENAME TO tokens;
    CREATE UNIQUE INDEX tokens_active_name ON tokens (name) WHERE revoked IS NULL;
    CREATE TABLE token_changes (
        id     INTEGER PRIMARY KEY AUTOINCREMENT,
        ts     TEXT NOT NULL,
        change TEXT NOT NULL,
        name   TEXT NOT NULL,
        body   TEXT NOT NULL,
        logged INTEGER NOT NULL DEFAULT 0
    );
    """,
    # 4: an incident's notes in rows of their own, out of its row's body: a new note
    # writes one row, not the incident's every note again (a report repeated a
    # thousand times cost a thousand notes rewritten per repeat).
    """
    CREATE TABLE notes (
        incident INTEGER NOT NULL,
        n        INTEGER NOT NULL,
        body     TEXT NOT NULL,
        PRIMARY KEY (incident, n)
    ) WITHOUT ROWID;
    INSERT INTO notes (incident, n, body)
        SELECT i.id, CAST(j.key AS INTEGER), j.value FROM incidents i, json_each(CAST(i.body AS TEXT), '$.notes') j;
    UPDATE incidents SET body = json_set(CAST(body AS TEXT), '$.notes', json('[]')) WHERE json_array_length(CAST(body AS TEXT), '$.notes') > 0;
    """,
]

APPEND = "INSERT INTO events (seq, epoch, ts, kind, actor, data, incident, regency) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"

ATTEMPTS_SCHEMA = """
    CREATE TABLE IF NOT EXISTS attempts (
        id       INTEGER PRIMARY KEY,
        ts       TEXT NOT NULL,
        epoch    TEXT NOT NULL,
        user     TEXT NOT NULL,
        agency   TEXT,
        command  TEXT NOT NULL,
        incident INTEGER,
        code     TEXT NOT NULL,
        reason   TEXT,
        message  TEXT NOT NULL
    )
"""


class SqliteSql:
    """`Sql` on one aiosqlite connection in autocommit mode; a transaction is BEGIN IMMEDIATE."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    async def execute(self, sql: str, *params: Any) -> int:
        cur = await self.db.execute(sql, params)
        return cur.rowcount

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.db.executemany(sql, rows)

    async def fetch(self, sql: str, *params: Any) -> list[Any]:
        # One trip to aiosqlite's thread (a cursor's execute, fetchall and close were three).
        return list(await self.db.execute_fetchall(sql, params))

    async def fetchrow(self, sql: str, *params: Any) -> Any | None:
        rows = await self.fetch(sql, *params)  # the callers' queries name one row (a key, or LIMIT 1)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *params: Any) -> Any:
        row = await self.fetchrow(sql, *params)
        return None if row is None else row[0]

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteSql]:
        await self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self
            await self.db.execute("COMMIT")
        except BaseException:
            await _rollback(self.db)
            raise


class SqliteStore(StoreCore):
    """The SQLite event store (server.store.api.EventStore). Use
    `async with open_store(path) as store:`."""

    backend: Literal["sqlite"] = "sqlite"
    refuses_repeats = True  # commit(): the commands table's key, one writer per file

    def __init__(self, path: str | Path, *, synchronous: str = "full", check_writable: bool = False) -> None:
        self.path = Path(path)
        self.synchronous = synchronous
        # serve: prove at start that this user can write the file, its WAL and folder.
        self.check_writable = check_writable
        # Where the migration of an older schema copied the file first, if it did.
        self.migration_backup: Path | None = None
        self._db: aiosqlite.Connection | None = None
        self._sql: SqliteSql | None = None
        self._reader_db: aiosqlite.Connection | None = None
        self._answers: sqlite3.Connection | None = None  # the writer's look-up of answers given, on the loop's thread
        self.epoch = ""
        self.created = ""

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("store is not open")
        return self._db

    async def open(self) -> None:
        if self.path.parent and not self.path.parent.exists():
            raise StoreError(f"{self.path}: folder {self.path.parent} does not exist")
        try:
            # A new database is the owner's only (tokens' hashes, every note); SQLite
            # gives its -wal and -shm files the database file's mode.
            create_private(self.path)
            self._db = await _connect(self.path)
            self._sql = SqliteSql(self._db)
            await self.db.execute("PRAGMA journal_mode=WAL")
            # FULL: the WAL is synced at every commit, so a committed command
            # survives a power cut as well as a crash of the process.
            await self.db.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
            await self.db.execute("PRAGMA foreign_keys=ON")
            await self.db.execute("PRAGMA busy_timeout=5000")
            await self._migrate()
            await self._attempts_table()
            if self.check_writable:
                async with self.sql.transaction() as tx:
                    await tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('opened', ?)", format_ts(utc_now()))
        except aiosqlite.DatabaseError as exc:
            await self.close()
            raise StoreError(self._explain(exc)) from None
        except StoreError:
            await self.close()
            raise

    def _explain(self, exc: Exception) -> str:
        """One line for a database that cannot be opened: what, which path, which user."""
        from server.lock import user_name, why_not_writable

        text = str(exc)
        if "not a database" in text or "malformed" in text:
            return f"{self.path} is not an SQLite database ({text}): point [server] database or --db at a new file, and opsmon creates it"
        if isinstance(exc, sqlite3.OperationalError) and any(word in text for word in ("readonly", "unable to open", "disk I/O", "read-only")):
            for path in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
                why = why_not_writable(path)
                if why is not None:
                    return f"cannot write the database: {why}"
            return f"cannot write the database {self.path} as user {user_name()}: {text}"
        if "full" in text:
            return f"cannot write the database {self.path}: the disk is full ({text})"
        return f"{self.path}: not a usable opsmon database ({text})"

    async def open_reader(self) -> None:
        """A second connection, read-only, in a thread of its own: WAL lets it
        read what is committed while the writer writes, so a history or a
        resume's events never queue behind a commit, nor a commit behind them."""
        if self._reader_db is not None:
            return
        try:
            self._reader_db = await _connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
            await self._reader_db.execute("PRAGMA busy_timeout=5000")
            await self._reader_db.execute("PRAGMA query_only=ON")
        except aiosqlite.DatabaseError as exc:
            await self.close()
            raise StoreError(self._explain(exc)) from None
        self._reader = SqliteSql(self._reader_db)

    async def close(self) -> None:
        if self._answers is not None:
            answers, self._answers = self._answers, None
            answers.close()
        if self._reader_db is not None:
            reader, self._reader_db, self._reader = self._reader_db, None, None
            await reader.close()
        if self._db is not None:
            db, self._db, self._sql = self._db, None, None
            await db.close()

    async def _migrate(self) -> None:
        async with self.db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name") as cur:
            tables = [str(row[0]) async for row in cur]
        found, epoch = (await self.get_meta("schema_version"), await self.get_meta("epoch")) if "meta" in tables else (None, None)
        new_file = "point [server] database or --db at a new file"
        version = stored_version(str(self.path), tables, found, epoch, instead_meta=new_file, instead_tables=new_file)
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has opsmon schema version {version}, newer than this opsmon knows ({SCHEMA_VERSION}): it was written by a newer opsmon; upgrade opsmon, or serve another file"
            )
        if 0 < version < SCHEMA_VERSION:
            try:
                self.migration_backup = await self.copy_beside(f"schema-v{version}")
            except StoreError as exc:
                raise StoreError(f"schema version {version} needs migrating to {SCHEMA_VERSION}, but {exc}; nothing was changed") from None
        if version < SCHEMA_VERSION:
            async with self.sql.transaction() as tx:
                for script in MIGRATIONS[version:]:
                    for statement in filter(str.strip, script.split(";")):
                        await tx.execute(statement)
                if version == 0:
                    epoch = secrets.token_hex(8)
                    await tx.executemany(
                        "INSERT INTO meta (key, value) VALUES (?, ?)",
                        [("epoch", epoch), ("created", format_ts(utc_now())), ("schema_version", str(SCHEMA_VERSION))],
                    )
                    await tx.execute("INSERT INTO epochs (epoch, started, first_seq, reason) VALUES (?, ?, 0, 'created')", epoch, format_ts(utc_now()))
                else:
                    await tx.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", str(SCHEMA_VERSION))
        self.epoch = await self.get_meta("epoch") or ""
        self.created = await self.get_meta("created") or ""

    async def copy_beside(self, label: str) -> Path:
        """A whole copy of the file (SQLite's backup API, WAL included) beside
        it, e.g. before changing its schema or emptying it."""
        stamp = utc_now().strftime("%Y%m%dT%H%M%SZ")
        target = self.path.with_name(f"{self.path.name}.{label}-{stamp}.bak")

        def copy() -> None:
            source = sqlite3.connect(self.path)
            try:
                dest = sqlite3.connect(target)
                try:
                    source.backup(dest)
                finally:
                    dest.close()
            finally:
                source.close()

        try:
            await asyncio.to_thread(copy)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"the copy to {target} failed ({exc})") from None
        return target

    async def _attempts_table(self) -> None:
        """The table of refused attempts (the after-action report's), created
        beside the versioned schema so it needs no schema version of its own."""
        async with self.db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='attempts'") as cur:
            if await cur.fetchone() is not None:
                return
        with contextlib.suppress(sqlite3.OperationalError):  # a read-only file: nothing to record into anyway
            await self.db.execute(ATTEMPTS_SCHEMA)

    @property
    def sql(self) -> SqliteSql:
        if self._sql is None:
            raise StoreError("store is not open")
        return self._sql

    async def append(self, sql: Sql, events: Sequence[LogEntry], head: int | None) -> None:
        # One writer per file (the lock file): its seq follows the head by construction.
        await sql.executemany(APPEND, [event_row(self.epoch, event, incident, regency) for event, incident, regency in events])

    async def commit(self, batch: WriteBatch) -> None:
        """The writer's group commit in one trip to aiosqlite's thread: BEGIN, every
        executemany and COMMIT run there together (they were one trip each), so a
        batch costs the event loop one hop and one wake-up, whatever it writes."""
        writes = [(APPEND, [event_row(self.epoch, event, incident, regency) for event, incident, regency in batch.events])] if batch.events else []
        writes += self.state_writes(batch)

        def run(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            try:
                for sql, rows in writes:
                    db.executemany(sql, rows)
                db.execute("COMMIT")
            except BaseException as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.IntegrityError) and "commands." in str(exc):  # "UNIQUE constraint failed: commands.user, commands.id"
                    raise RepeatedCommand(str(exc)) from None
                raise

        connection = self.db
        # aiosqlite's own queue (its thread, in order with every other statement); typed here, untyped there.
        in_its_thread = cast(Callable[..., Awaitable[None]], connection._execute)
        await in_its_thread(run, connection._conn)

    async def command_results(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], bytes]:
        """The stored answers of any of these (user, command id) pairs, read on the
        event loop's own thread from a read-only connection of its own: a primary-key
        look-up of a batch's keys takes tens of microseconds, less than a trip to
        aiosqlite's thread and back (two thread wake-ups, about 0.5 ms under load),
        so a group commit makes one trip (its commit), not two. WAL: it sees every
        commit the writer finished, and the writer's lock orders the two."""
        if self._db is None:
            raise StoreError("store is not open")
        if self._answers is None:
            self._answers = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
            self._answers.execute("PRAGMA busy_timeout=5000")
        found: dict[tuple[str, str], bytes] = {}
        for start in range(0, len(keys), 400):  # SQLite caps bound parameters
            where, params = _command_keys(keys[start : start + 400])
            for user, command_id, result in self._answers.execute(f"SELECT user, id, result FROM commands WHERE {where}", params):
                found[(user, command_id)] = bytes(result)
        return found

    async def command_results_on(self, sql: Sql, keys: list[tuple[str, str]]) -> dict[tuple[str, str], bytes]:
        """The stored answers of any of these (user, command id) pairs, in one query."""
        found: dict[tuple[str, str], bytes] = {}
        for start in range(0, len(keys), 400):  # SQLite caps bound parameters
            where, params = _command_keys(keys[start : start + 400])
            for user, command_id, result in await sql.fetch(f"SELECT user, id, result FROM commands WHERE {where}", *params):
                found[(user, command_id)] = bytes(result)
        return found


async def _connect(database: str | Path, *, uri: bool = False) -> aiosqlite.Connection:
    """aiosqlite.connect in autocommit mode. When the file cannot be opened (a database
    another user owns), aiosqlite queues its worker thread's stop without waiting for it:
    wait here, or a server that exits at once with one line has the thread print a
    traceback into a closed event loop."""
    connection = aiosqlite.connect(database, uri=uri, isolation_level=None)
    try:
        return await connection
    except BaseException:
        worker = getattr(connection, "_thread", None)  # aiosqlite 0.22's; absent, nothing to wait for
        if worker is not None and worker.is_alive():
            await asyncio.to_thread(worker.join, 5.0)
        raise


def _command_keys(chunk: list[tuple[str, str]]) -> tuple[str, list[str]]:
    """The WHERE clause and parameters naming these (user, command id) pairs."""
    return " OR ".join(["(user = ? AND id = ?)"] * len(chunk)), [part for key in chunk for part in key]


async def _rollback(db: aiosqlite.Connection) -> None:
    """Undo the transaction a failed or cancelled write left open. A write
    cancelled while its COMMIT was running has nothing left to undo (aiosqlite
    runs the COMMIT anyway): say so by re-raising the original error, not this one."""
    try:
        await db.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        if "no transaction is active" not in str(exc):
            raise
