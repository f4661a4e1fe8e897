"""The PostgreSQL event store, through asyncpg (server.store.api.EventStore).

The same semantics as the SQLite store (server/store/sqlite.py): each write batch is
one transaction that appends its events, updates the state rows and records
the commands' answers; seq is gap-free and checked against the head inside
that transaction; tokens, their changes and the refused attempts live in the
same schema. Timestamps are text in the protocol's format and every text
column sorts bytewise (COLLATE "C"), so text order is time order, as in SQLite.

Replicas: any number of `opsmon-server serve` processes share one schema
(`shared=True`, a shared session advisory lock that `migrate`, `reset` and
`copy`, which take it exclusively (`exclusive=True`), wait out). Every write
batch is one transaction under a transaction-level advisory lock (the seq
lock): it reads the events other replicas committed since the writer's head
(`writing(head)`, so the domain rules decide on the latest state), numbers
its own after the log's head, and sends `NOTIFY` with the new head seq
(only the number: a notification is limited to 8,000 bytes). `follow()`
LISTENs for those on a connection of its own and reconnects when it drops;
the follower reads the new events by seq. `hold_timers()` is the session
advisory lock that makes exactly one replica run the timers. `beat()` keeps
the serving lock (taken again if its session was lost) and renews the
replica's heartbeat lease in the `replicas` table, which migrate, reset and
copy check besides the lock, since a lock is lost with its session; every
write batch checks the night's epoch under the seq lock, so a replica that
missed a reset writes nothing into the new night.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import re
import secrets
import socket
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import asyncpg

from opsmon.core.clock import format_ts, utc_now
from opsmon.core.protocol import Event
from server.store.api import LogEntry, StoreError, TokenChange, WriteBatch
from server.store.core import EVENT_COLUMNS, Sql, StoreCore, encoder, event_row, row_event, stored_version

log = logging.getLogger("opsmon.store")

PG_SCHEMA_VERSION = 3
POOL_SIZE = 4
# Connections for the log reads of the server's answers (open_reader), beside the pool.
READ_POOL_SIZE = 2
CONNECT_TIMEOUT_SECONDS = 10
# The advisory locks of one schema: (class, the schema's key). SERVE is held
# shared by every replica and exclusively by migrate/reset/copy; SEQ for the
# length of one write transaction; TIMERS by the one replica that runs them.
LOCK_SERVE, LOCK_SEQ, LOCK_TIMERS = 1, 2, 3
# Every replica writes a heartbeat row (the `replicas` table) every second
# (server.timers.HEARTBEAT_SECONDS), on
# the connection holding its share of the serving lock, with a lease that runs
# LEASE_SECONDS on the database's clock. migrate, reset and copy refuse while
# any lease is live: a replica whose lock session was dropped (pg_terminate_backend,
# a PostgreSQL restart) still counts until it has retaken the lock or stopped.
LEASE_SECONDS = 10.0
# The listening connection is asked to answer this often, so one that died
# without a word (no RST) is found and replaced.
FOLLOW_PING_SECONDS = 2.0
# A connection holding the timer lock: PostgreSQL drops a peer that stops
# answering keepalives after about idle + interval * count seconds, freeing the lock.
KEEPALIVES = {"tcp_keepalives_idle": "3", "tcp_keepalives_interval": "1", "tcp_keepalives_count": "2"}

# One entry per schema version; a schema at version N runs PG_MIGRATIONS[N:].
PG_MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE events (
        seq      BIGINT PRIMARY KEY,
        epoch    TEXT COLLATE "C" NOT NULL,
        ts       TEXT COLLATE "C" NOT NULL,
        kind     TEXT COLLATE "C" NOT NULL,
        actor    TEXT NOT NULL,
        data     TEXT NOT NULL,
        incident BIGINT,
        regency  TEXT COLLATE "C"
    );
    CREATE INDEX events_by_incident ON events (incident) WHERE incident IS NOT NULL;
    CREATE TABLE incidents (
        id       BIGINT PRIMARY KEY,
        regency  TEXT COLLATE "C" NOT NULL,
        status   TEXT COLLATE "C" NOT NULL,
        severity TEXT COLLATE "C" NOT NULL,
        reported TEXT COLLATE "C" NOT NULL,
        resolved TEXT COLLATE "C",
        body     TEXT NOT NULL
    );
    CREATE TABLE stages (
        regency TEXT COLLATE "C" NOT NULL,
        stage   TEXT COLLATE "C" NOT NULL,
        body    TEXT NOT NULL,
        PRIMARY KEY (regency, stage)
    );
    CREATE TABLE epochs (
        epoch     TEXT COLLATE "C" PRIMARY KEY,
        started   TEXT COLLATE "C" NOT NULL,
        first_seq BIGINT NOT NULL,
        reason    TEXT NOT NULL
    );
    CREATE TABLE tokens (
        id        BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        name      TEXT COLLATE "C" NOT NULL,
        hash      TEXT COLLATE "C" NOT NULL UNIQUE,
        role      TEXT NOT NULL,
        agency    TEXT NOT NULL,
        regencies TEXT,
        created   TEXT COLLATE "C" NOT NULL,
        revoked   TEXT COLLATE "C",
        expires   TEXT COLLATE "C",
        last_used TEXT COLLATE "C",
        expiry_logged INTEGER NOT NULL DEFAULT 0
    );
    CREATE UNIQUE INDEX tokens_active_name ON tokens (name) WHERE revoked IS NULL;
    CREATE TABLE token_changes (
        id     BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        ts     TEXT COLLATE "C" NOT NULL,
        change TEXT NOT NULL,
        name   TEXT COLLATE "C" NOT NULL,
        body   TEXT NOT NULL,
        logged INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE commands (
        username TEXT COLLATE "C" NOT NULL,
        id       TEXT COLLATE "C" NOT NULL,
        ts       TEXT COLLATE "C" NOT NULL,
        result   BYTEA NOT NULL,
        PRIMARY KEY (username, id)
    );
    CREATE TABLE attempts (
        id       BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        ts       TEXT COLLATE "C" NOT NULL,
        epoch    TEXT COLLATE "C" NOT NULL,
        username TEXT NOT NULL,
        agency   TEXT,
        command  TEXT NOT NULL,
        incident BIGINT,
        code     TEXT NOT NULL,
        reason   TEXT,
        message  TEXT NOT NULL
    );
    """,
    # 2: the replicas' heartbeats, each with a lease (what reset/migrate/copy check).
    """
    CREATE TABLE replicas (
        name        TEXT COLLATE "C" PRIMARY KEY,
        host        TEXT NOT NULL,
        pid         BIGINT NOT NULL,
        epoch       TEXT COLLATE "C" NOT NULL,
        head        BIGINT NOT NULL,
        seen        TIMESTAMPTZ NOT NULL,
        lease_until TIMESTAMPTZ NOT NULL
    );
    """,
    # 3: an incident's notes in rows of their own (as SQLite's schema 4).
    """
    CREATE TABLE notes (
        incident BIGINT NOT NULL,
        n        INTEGER NOT NULL,
        body     TEXT NOT NULL,
        PRIMARY KEY (incident, n)
    );
    INSERT INTO notes (incident, n, body)
        SELECT i.id, j.n - 1, j.note::text FROM incidents i, jsonb_array_elements(i.body::jsonb -> 'notes') WITH ORDINALITY AS j(note, n);
    UPDATE incidents SET body = jsonb_set(body::jsonb, '{notes}', '[]'::jsonb)::text WHERE jsonb_array_length(body::jsonb -> 'notes') > 0;
    """,
]

# The tables `opsmon-server copy` moves, in the SQLite store's column names
# (PostgreSQL says `username` where SQLite says `user`, a reserved word here).
_PG_COLUMN = {"user": "username"}

if TYPE_CHECKING:
    # A connection lent by the pool (what a transaction runs on).
    Conn = asyncpg.pool.PoolConnectionProxy[Any]

_CONNECT_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError)


def redact(dsn: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urllib.parse.urlsplit(dsn)
    if parts.password is None:
        return dsn
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


# A schema opsmon makes from `?search_path=NAME`: what PostgreSQL reads the
# same quoted or not (lower case, digits, underscore; at most 63 bytes), so
# the schema it creates is the one the connection's search_path finds.
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def quote_ident(name: str) -> str:
    """`name` as a PostgreSQL identifier: double-quoted, inner quotes doubled."""
    if "\x00" in name:
        raise StoreError("a PostgreSQL name cannot hold a NUL character")
    return '"' + name.replace('"', '""') + '"'


def _search_schema(dsn: str) -> str | None:
    """The first schema a `?search_path=` in the URL names, if any; a name
    that is not a plain lower-case identifier is refused, before any SQL."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(dsn).query)
    paths = query.get("search_path")
    if not paths:
        return None
    first = paths[0].split(",")[0].strip()
    if not first:
        return None
    if not SCHEMA_NAME.fullmatch(first):
        raise StoreError(
            f"?search_path={first!r}: a schema name is lower-case letters, digits and underscores, "
            "starting with a letter or underscore, at most 63 characters (like ?search_path=pemilu_2024)"
        )
    return first


def _text(value: Any) -> Any:
    return bytes(value).decode() if isinstance(value, bytes | bytearray | memoryview) else value


def _blob(value: Any) -> Any:
    return value.encode() if isinstance(value, str) else bytes(value) if isinstance(value, bytearray | memoryview) else value


@functools.lru_cache(maxsize=512)
def numbered(sql: str) -> str:
    """The shared SQL's `?` placeholders as asyncpg's `$1, $2, ...`."""
    first, *rest = sql.split("?")
    return first + "".join(f"${n}{part}" for n, part in enumerate(rest, 1))


def _changed(status: str) -> int:
    """The rows a statement changed, from its status ("UPDATE 3", "INSERT 0 1")."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PgSql:
    """`Sql` on the pool (each call its own transaction) or on one connection in a transaction."""

    def __init__(self, on: Any, *, in_transaction: bool = False) -> None:
        self.on = on
        self.in_transaction = in_transaction

    async def execute(self, sql: str, *params: Any) -> int:
        return _changed(await self.on.execute(numbered(sql), *params))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.on.executemany(numbered(sql), rows)

    async def fetch(self, sql: str, *params: Any) -> list[Any]:
        return list(await self.on.fetch(numbered(sql), *params))

    async def fetchrow(self, sql: str, *params: Any) -> Any | None:
        return await self.on.fetchrow(numbered(sql), *params)

    async def fetchval(self, sql: str, *params: Any) -> Any:
        return await self.on.fetchval(numbered(sql), *params)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgSql]:
        if self.in_transaction:
            yield self
            return
        async with self.on.acquire() as con, con.transaction():
            yield PgSql(con, in_transaction=True)


class PostgresStore(StoreCore):
    """An event store in one PostgreSQL schema. Use `async with open_store(url) as store:`."""

    backend: Literal["postgresql"] = "postgresql"
    USER_COLUMN = "username"
    STAGE_KEY_SQL = "data::jsonb ->> 'stage'"
    MERGED_INTO_SQL = "data::jsonb -> 'into' = to_jsonb(?::bigint)"

    def __init__(self, dsn: str, *, check_writable: bool = False, exclusive: bool = False, shared: bool = False) -> None:
        self.dsn = dsn
        self.check_writable = check_writable
        self.exclusive = exclusive
        self.shared = shared and not exclusive
        self.migration_backup: str | None = None
        self.epoch = ""
        self.created = ""
        self._pool: asyncpg.Pool[Any] | None = None
        self._sql: PgSql | None = None
        self._read_pool: asyncpg.Pool[Any] | None = None
        self._holder: asyncpg.Connection[Any] | None = None
        self._key = 0  # the schema's advisory lock key (hashtext of database:schema)
        self._timers: asyncpg.Connection[Any] | None = None
        self._timers_held = False
        # The server process (pg_stat_activity.pid) of the connection follow() listens on.
        self.listener_pid: int | None = None
        # Why this replica must not write now (its serving lock lost and not
        # retaken, or the night reset under it), or None: writes are refused.
        self.fenced: str | None = None
        self._beat_name: str | None = None  # the name its heartbeat row has
        self.lease_seconds = LEASE_SECONDS
        # Every connection of this store says so in pg_stat_activity.application_name.
        self.session_tag = f"{os.getpid()}.{secrets.token_hex(3)}"

    @property
    def channel(self) -> str:
        """The NOTIFY channel of this schema's log: its payload is the new head seq."""
        return f"opsmon_{self._key & 0xFFFFFFFF:08x}"

    @property
    def location(self) -> str:
        return redact(self.dsn)

    @property
    def serving_lock_held(self) -> bool:
        """Whether the session holding the serving lock (shared, or exclusive) is still connected (GET /metrics)."""
        return self._holder is not None and not self._holder.is_closed()

    @property
    def sql(self) -> PgSql:
        if self._sql is None:
            raise StoreError("store is not open")
        return self._sql

    @property
    def pool(self) -> asyncpg.Pool[Any]:
        if self._pool is None:
            raise StoreError("store is not open")
        return self._pool

    async def open(self) -> None:
        try:
            schema = _search_schema(self.dsn)
            if schema is not None:
                # A night in its own schema: made on first use, like a new SQLite file.
                first = await asyncpg.connect(self.dsn, timeout=CONNECT_TIMEOUT_SECONDS)
                try:
                    await first.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
                finally:
                    await first.close()
            if self.exclusive or self.shared:
                self._holder = await self._connect("serve")
                self._key = int(await self._holder.fetchval("SELECT hashtext(current_database() || ':' || COALESCE(current_schema(), ''))"))
                if self.exclusive and not await self._holder.fetchval("SELECT pg_try_advisory_lock($1, $2)", LOCK_SERVE, self._key):
                    who = await self._lock_holders(self._holder)
                    raise StoreError(
                        f"{self.location} is in use by another opsmon-server ({who}: it holds the database's advisory lock): stop that one (every replica) first"
                    )
                if self.shared and not await self._holder.fetchval("SELECT pg_try_advisory_lock_shared($1, $2)", LOCK_SERVE, self._key):
                    raise StoreError(
                        f"{self.location} is being migrated, reset or copied by another opsmon-server (it holds the database's advisory lock): wait for it to finish"
                    )
            self._pool = await asyncpg.create_pool(
                self.dsn,
                min_size=1,
                max_size=POOL_SIZE,
                timeout=CONNECT_TIMEOUT_SECONDS,
                server_settings={"application_name": f"opsmon-server {self.session_tag}"},
            )
            self._sql = PgSql(self._pool)
            if not self._key:
                self._key = int(await self._pool.fetchval("SELECT hashtext(current_database() || ':' || COALESCE(current_schema(), ''))"))
            await self._migrate()
            if self.exclusive:
                # The lock is free, but a replica whose lock session was dropped may
                # still serve: its heartbeat's lease says so until it runs out.
                live = await self.live_replicas()
                if live:
                    raise StoreError(
                        f"{self.location} is still served by {len(live)} replica(s), by their heartbeat: {'; '.join(live)}: "
                        f"stop every replica first (a replica killed without stopping counts until its lease runs out, {LEASE_SECONDS:g} s)"
                    )
        except StoreError:
            await self.close()
            raise
        except _CONNECT_ERRORS as exc:
            await self.close()
            raise StoreError(f"cannot use the PostgreSQL database {self.location}: {type(exc).__name__}: {exc}") from None

    async def live_replicas(self) -> list[str]:
        """The replicas whose heartbeat lease has not run out, each as "NAME (pid P on HOST, seen S s ago)"."""
        async with self.pool.acquire() as con:
            return await self._replicas_on(con)

    @staticmethod
    async def _replicas_on(con: Any) -> list[str]:
        if await con.fetchval("SELECT to_regclass('replicas')") is None:
            return []
        rows = await con.fetch("SELECT name, pid, host, EXTRACT(EPOCH FROM now() - seen) FROM replicas WHERE lease_until > now() ORDER BY name")
        return [f"replica {name} (pid {pid} on {host}, seen {max(0.0, float(ago)):.1f} s ago)" for name, pid, host, ago in rows]

    async def _lock_holders(self, con: Any) -> str:
        """Who holds the serving lock: the replicas by their heartbeat, else the sessions holding it."""
        with contextlib.suppress(*_CONNECT_ERRORS):
            live = await self._replicas_on(con)
            if live:
                return "; ".join(live)
            rows = await con.fetch(
                "SELECT a.pid, COALESCE(host(a.client_addr), 'local socket'), a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.objid::bigint = ($2::bigint & 4294967295) AND l.objsubid = 2 AND l.granted ORDER BY a.pid",
                LOCK_SERVE,
                self._key,
            )
            if rows:
                return "; ".join(f"PostgreSQL session {pid} from {addr}{f' ({app})' if app else ''}" for pid, addr, app in rows)
        return "a holder that could not be named"

    async def open_reader(self) -> None:
        """A pool of its own for the log reads (histories, resumes): a long read
        never takes a connection the writer, the follower or the timers need."""
        if self._read_pool is not None:
            return
        try:
            self._read_pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=READ_POOL_SIZE, timeout=CONNECT_TIMEOUT_SECONDS)
        except _CONNECT_ERRORS as exc:
            raise StoreError(f"cannot use the PostgreSQL database {self.location}: {type(exc).__name__}: {exc}") from None
        self._reader = PgSql(self._read_pool)

    async def close(self) -> None:
        read_pool, self._read_pool, self._reader = self._read_pool, None, None
        if read_pool is not None:
            await read_pool.close()
        if self._beat_name is not None and self._pool is not None:
            with contextlib.suppress(*_CONNECT_ERRORS):  # stopped cleanly: its lease ends now, not in LEASE_SECONDS
                await self._pool.execute("DELETE FROM replicas WHERE name = $1 AND pid = $2", self._beat_name, os.getpid(), timeout=5)
        pool, self._pool, self._sql = self._pool, None, None
        holder, self._holder = self._holder, None
        timers, self._timers, self._timers_held = self._timers, None, False
        if pool is not None:
            await pool.close()
        for connection in (holder, timers):
            if connection is not None:
                with contextlib.suppress(*_CONNECT_ERRORS):
                    await connection.close(timeout=5)  # ends the session: its advisory locks go with it

    @contextlib.asynccontextmanager
    async def _tx(self) -> AsyncIterator[Conn]:
        async with self.pool.acquire() as con, con.transaction():
            yield con

    async def _migrate(self) -> None:
        async with self._tx() as con:
            # Two processes opening a new schema at once: one creates it, the other waits and sees it.
            await con.execute("SELECT pg_advisory_xact_lock(hashtext('opsmon-migrate:' || current_database()))")
            schema = await con.fetchval("SELECT current_schema()")
            if schema is None:
                raise StoreError(f"{self.location}: no schema to create the tables in (the search_path names none that exists)")
            tables = [str(r[0]) for r in await con.fetch("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")]
            found, epoch = (None, None)
            if "meta" in tables:
                found = await con.fetchval("SELECT value FROM meta WHERE key = 'schema_version'")
                epoch = await con.fetchval("SELECT value FROM meta WHERE key = 'epoch'")
            version = stored_version(
                f"{self.location} (schema {schema})",
                tables,
                found,
                epoch,
                instead_meta="use another database or schema",
                instead_tables="use another database, or a schema of its own with ?search_path=NAME",
            )
            if version > PG_SCHEMA_VERSION:
                raise StoreError(
                    f"{self.location} has opsmon PostgreSQL schema version {version}, newer than this opsmon knows ({PG_SCHEMA_VERSION}): upgrade opsmon, or use another database"
                )
            for script in PG_MIGRATIONS[version:]:
                await con.execute(script)
            now = format_ts(utc_now())
            if version == 0:
                epoch = secrets.token_hex(8)
                await con.executemany(
                    "INSERT INTO meta (key, value) VALUES ($1, $2)", [("epoch", epoch), ("created", now), ("schema_version", str(PG_SCHEMA_VERSION))]
                )
                await con.execute("INSERT INTO epochs (epoch, started, first_seq, reason) VALUES ($1, $2, 0, 'created')", epoch, now)
            elif version < PG_SCHEMA_VERSION:
                await con.execute("UPDATE meta SET value = $1 WHERE key = 'schema_version'", str(PG_SCHEMA_VERSION))
            if self.check_writable:
                await con.execute("INSERT INTO meta (key, value) VALUES ('opened', $1) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", now)
            self.epoch = str(await con.fetchval("SELECT value FROM meta WHERE key = 'epoch'") or "")
            self.created = str(await con.fetchval("SELECT value FROM meta WHERE key = 'created'") or "")

    async def copy_beside(self, label: str) -> str:
        """A whole copy of this schema's tables into a new schema beside it
        (e.g. before a reset): the PostgreSQL counterpart of SQLite's copy file."""
        stamp = utc_now().strftime("%Y%m%dt%H%M%Sz")
        async with self._tx() as con:
            schema = str(await con.fetchval("SELECT current_schema()"))
            target = re.sub(r"[^a-z0-9_]", "_", f"{schema}_{label}_{stamp}".lower())[:63]
            await con.execute(f"CREATE SCHEMA {quote_ident(target)}")
            for (table,) in await con.fetch("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"):
                new, old = f"{quote_ident(target)}.{quote_ident(table)}", f"{quote_ident(schema)}.{quote_ident(table)}"
                await con.execute(f"CREATE TABLE {new} (LIKE {old} INCLUDING ALL)")
                if table != "replicas":  # the live replicas' heartbeats are not the night's
                    await con.execute(f"INSERT INTO {new} SELECT * FROM {old}")
        return f"schema {target}"

    async def probe(self) -> None:
        """The write probe: fails while this replica may not serve, or serves another night than the database's."""
        if self.fenced is not None:
            raise StoreError(f"this replica is not serving: {self.fenced}")
        epoch = await self.pool.fetchval("SELECT value FROM meta WHERE key = 'epoch'")
        if epoch != self.epoch:
            raise StoreError(f"the database's night is epoch {epoch}, not {self.epoch} (it was reset under this replica)")
        await super().probe()

    # --- the dialect's part of the shared bodies ----------------------------------------

    def body(self, value: Any) -> Any:
        return encoder.encode(value).decode()

    @contextlib.asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Sql]:
        # One snapshot for the head and the rows: other replicas write meanwhile.
        async with self.pool.acquire() as con, con.transaction(isolation="repeatable_read", readonly=True):
            yield PgSql(con, in_transaction=True)

    @contextlib.asynccontextmanager
    async def write_transaction(self) -> AsyncIterator[Sql]:
        async with self.sql.transaction() as tx:
            await tx.execute("SELECT pg_advisory_xact_lock($1, $2)", LOCK_SEQ, self._key)
            yield tx

    @contextlib.asynccontextmanager
    async def writing(self, head: int) -> AsyncIterator[PgWrite]:
        """One write batch across replicas: a transaction holding the seq lock,
        with the events committed since `head` (by other replicas) read under
        it. Its commit() numbers after them; the transaction commits when the
        block ends, and the lock goes with it, so commit order is seq order."""
        if self.fenced is not None:
            raise StoreError(f"this replica is not serving: {self.fenced}")
        async with self._tx() as con:
            await con.execute("SELECT pg_advisory_xact_lock($1, $2)", LOCK_SEQ, self._key)
            # The night this replica serves, checked under the seq lock: a replica
            # that missed a reset writes nothing into the new night.
            epoch = await con.fetchval("SELECT value FROM meta WHERE key = 'epoch'")
            if epoch != self.epoch:
                raise StoreError(f"the database's night is epoch {epoch}, not {self.epoch} (it was reset under this replica)")
            rows = await con.fetch(f"SELECT {EVENT_COLUMNS} FROM events WHERE seq > $1 ORDER BY seq", head)
            missed = [row_event(row) for row in rows]
            # The log's head, read under the lock: the writer's, and what it missed (the seq is gap-free).
            yield PgWrite(self, PgSql(con, in_transaction=True), missed, missed[-1].seq if missed else head)

    async def append(self, sql: Sql, events: Sequence[LogEntry], head: int | None) -> None:
        """The events, in the batch's transaction, the seq lock held: their seq
        checked to follow the log's head (read here unless the caller read it under the lock)."""
        if head is None:
            head = int(await sql.fetchval("SELECT COALESCE(MAX(seq), 0) FROM events"))
        seqs = [event.seq for event, _, _ in events]
        if seqs != list(range(head + 1, head + 1 + len(seqs))):
            raise StoreError(f"seq {seqs[0]} does not follow the log's head {head}: another writer on {self.location}?")
        # One statement (one round trip) for the events and the NOTIFY, delivered on commit
        # to every replica listening (server.app follows it): its payload is the new head seq.
        columns = list(zip(*(event_row(self.epoch, event, incident, regency) for event, incident, regency in events), strict=True))
        # Inserted only if the log's head is still `head` (a database replaced under a writer: refused, no gap).
        added = await sql.fetchval(
            "WITH added AS (INSERT INTO events (seq, epoch, ts, kind, actor, data, incident, regency) "
            "SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[]) "
            "WHERE (SELECT COALESCE(MAX(seq), 0) FROM events) = $10 RETURNING seq) "
            "SELECT COUNT(*) FROM (SELECT pg_notify($9, MAX(seq)::text) FROM added HAVING COUNT(*) > 0) AS told",
            *columns,
            self.channel,
            head,
        )
        if not added:
            actual = int(await sql.fetchval("SELECT COALESCE(MAX(seq), 0) FROM events"))
            raise StoreError(f"seq {seqs[0]} does not follow the log's head {actual}: another writer on {self.location}?")

    async def command_results_on(self, sql: Sql, keys: list[tuple[str, str]]) -> dict[tuple[str, str], bytes]:
        if not keys:
            return {}
        rows = await sql.fetch(
            "SELECT c.username, c.id, c.result FROM commands c JOIN unnest($1::text[], $2::text[]) AS k(username, id) ON c.username = k.username AND c.id = k.id",
            [k[0] for k in keys],
            [k[1] for k in keys],
        )
        return {(str(user), str(command_id)): bytes(result) for user, command_id, result in rows}

    def loadable(self, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        binary = {i for i, c in enumerate(columns) if (table, c) == ("commands", "result")}
        return [tuple(_blob(v) if i in binary else _text(v) for i, v in enumerate(row)) for row in rows]

    async def after_load(self, sql: Sql, table: str, columns: tuple[str, ...]) -> None:
        if "id" in columns and table in ("tokens", "token_changes", "attempts"):
            await sql.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST(COALESCE(MAX(id), 0), 1), MAX(id) IS NOT NULL) FROM {table}")

    # --- replicas ---------------------------------------------------------------

    async def follow(self, wake: Callable[[int | None], None]) -> None:
        """Forever: LISTEN on this log's channel on a connection of its own and
        call `wake(head)` for every commit (any replica's), and `wake(None)`
        after every (re)connect, since commits made while not listening send
        nothing: the caller catches up by seq. A dropped connection (found at
        once, or by a ping every FOLLOW_PING_SECONDS) is replaced, with backoff."""
        delay = 0.1

        def notified(_connection: asyncpg.Connection[Any] | Conn, _pid: int, _channel: str, payload: object) -> None:
            wake(int(payload) if isinstance(payload, str) and payload.isdigit() else None)

        while True:
            connection: asyncpg.Connection[Any] | None = None
            try:
                connection = await self._connect("listen")
                self.listener_pid = connection.get_server_pid()
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _c, event=lost: event.set())
                await connection.add_listener(self.channel, notified)
                if delay > 0.1:
                    log.warning("listening for other replicas' commits again on %s", self.location)
                delay = 0.1
                wake(None)
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(FOLLOW_PING_SECONDS):  # not wait_for: on 3.11 it can swallow a cancel
                            await lost.wait()
                    if not lost.is_set():
                        await connection.fetchval("SELECT 1", timeout=FOLLOW_PING_SECONDS)
                raise ConnectionError("the listening connection closed")
            except (*_CONNECT_ERRORS, ConnectionError) as exc:
                log.warning("lost the connection that listens for other replicas' commits (%s: %s); reconnecting", type(exc).__name__, exc)
            finally:
                if connection is not None:
                    connection.terminate()
            wake(None)  # catch up by seq, whatever the notifications missed
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _connect(self, role: str) -> asyncpg.Connection[Any]:
        """A connection of its own (the serving lock's, the listener's, the timer lock's), with
        short keepalives so a dead peer's session (and its locks) goes in seconds."""
        return await asyncpg.connect(
            self.dsn, timeout=CONNECT_TIMEOUT_SECONDS, server_settings={**KEEPALIVES, "application_name": f"opsmon-server {role} {self.session_tag}"}
        )

    async def beat(self, name: str, head: int) -> str:
        """One heartbeat (HEARTBEAT_SECONDS apart): the serving lock checked on its
        own session, taken again if that session was lost (pg_terminate_backend, a
        PostgreSQL restart), and this replica's lease renewed on it. Returns the
        database's epoch (another than `self.epoch`: the night was reset under it).
        Raises StoreError if the lock cannot be had: this replica must not serve."""
        self._beat_name = name
        holder = self._holder
        if holder is not None and not holder.is_closed():
            try:
                return await self._renew(holder, name, head)
            except _CONNECT_ERRORS as exc:
                log.warning("lost the serving lock's PostgreSQL session (%s: %s); taking the lock again", type(exc).__name__, exc)
                holder.terminate()
        self._holder = None
        try:
            holder = await self._connect("serve")
        except _CONNECT_ERRORS as exc:
            raise StoreError(f"the serving lock's session is lost and PostgreSQL cannot be reached ({type(exc).__name__}: {exc})") from None
        try:
            if not await holder.fetchval("SELECT pg_try_advisory_lock_shared($1, $2)", LOCK_SERVE, self._key, timeout=CONNECT_TIMEOUT_SECONDS):
                who = await self._lock_holders(holder)
                raise StoreError(f"lost the serving lock and cannot take it again: {who} holds it (a migrate, reset or copy)")
            epoch = await self._renew(holder, name, head)
        except BaseException:
            holder.terminate()
            raise
        self._holder = holder
        log.warning("took the serving lock again on %s", self.location)
        return epoch

    async def _renew(self, con: asyncpg.Connection[Any], name: str, head: int) -> str:
        epoch = await con.fetchval(
            "WITH beat AS (INSERT INTO replicas (name, host, pid, epoch, head, seen, lease_until) "
            "VALUES ($1, $2, $3, $4, $5, now(), now() + make_interval(secs => $6)) "
            "ON CONFLICT (name) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid, epoch = EXCLUDED.epoch, head = EXCLUDED.head, "
            "seen = EXCLUDED.seen, lease_until = EXCLUDED.lease_until RETURNING 1) "
            "SELECT value FROM meta WHERE key = 'epoch'",
            name,
            socket.gethostname(),
            os.getpid(),
            self.epoch,
            head,
            self.lease_seconds,
            timeout=CONNECT_TIMEOUT_SECONDS,
        )
        return str(epoch or "")

    async def hold_timers(self) -> bool:
        """Whether this process holds the timer lock now: taken if free (a session
        advisory lock on a connection of its own, with short keepalives so a dead
        holder's lock is freed in seconds), checked if held. False once that
        connection is lost: another replica may have the lock by then."""
        if self.fenced is not None:
            # A replica that may not serve must not run the timers: the lock goes with its session.
            connection, self._timers, self._timers_held = self._timers, None, False
            if connection is not None:
                connection.terminate()
            return False
        try:
            if self._timers is None or self._timers.is_closed():
                self._timers_held = False
                self._timers = await self._connect("timers")
            if self._timers_held:
                await self._timers.fetchval("SELECT 1", timeout=CONNECT_TIMEOUT_SECONDS)
            else:
                self._timers_held = bool(
                    await self._timers.fetchval("SELECT pg_try_advisory_lock($1, $2)", LOCK_TIMERS, self._key, timeout=CONNECT_TIMEOUT_SECONDS)
                )
        except _CONNECT_ERRORS as exc:
            if self._timers_held:
                log.warning("lost the timer lock's connection (%s: %s)", type(exc).__name__, exc)
            connection, self._timers, self._timers_held = self._timers, None, False
            if connection is not None:
                connection.terminate()
        return self._timers_held


class PgWrite:
    """One write batch inside `PostgresStore.writing()`: the seq lock is held,
    `missed` are the events other replicas committed since the writer's head,
    and everything read or written here is in the batch's transaction (so a
    command id carried out on another replica is seen, and a token change is
    logged once)."""

    # The look-up is a query in the batch's own transaction, under its lock: cheap beside
    # a conflict, which would abort that transaction.
    refuses_repeats = False

    def __init__(self, store: PostgresStore, sql: PgSql, missed: list[Event], head: int) -> None:
        self._store = store
        self._sql = sql
        self.missed = missed
        self._head = head

    async def command_results(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], bytes]:
        return await self._store.command_results_on(self._sql, keys)

    async def token_changes(self, now: str) -> list[TokenChange]:
        return await self._store.token_changes_on(self._sql, now)

    async def commit(self, batch: WriteBatch) -> None:
        """Write the batch (it is committed when `writing()`'s block ends)."""
        await self._store.write(self._sql, batch, head=self._head)
