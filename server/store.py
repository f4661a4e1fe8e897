"""The event store: an SQLite file in WAL mode, through aiosqlite.

The events table is the truth; incidents and stages hold the current state
so a restart needs no replay. Each command is one transaction that appends
its event(s), updates the state rows and records the command's answer, so
nothing a client was told succeeded can be lost, and a repeated command id
finds its first answer.

Everything that touches SQL lives here, behind one small interface, so that
a PostgreSQL backend could replace it without touching the domain.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import aiosqlite
import msgspec

from opsmon.core.clock import format_ts, utc_now
from opsmon.core.protocol import Event
from opsmon.core.records import Actor, Incident, StageRow
from opsmon.core.state import State
from opsmon.core.wire import decode_payload
from opsmon.training.exercise import EXERCISE_EPOCH_PREFIX, is_exercise_epoch

SCHEMA_VERSION = 3

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
]

_incident_decoder = msgspec.json.Decoder(Incident)
_stage_decoder = msgspec.json.Decoder(StageRow)
_encoder = msgspec.json.Encoder()


class StoreError(RuntimeError):
    """The database cannot be used (newer schema, unreadable file)."""


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


TOKEN_COLUMNS = "name, hash, role, agency, regencies, created, revoked, expires, last_used, id"


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


@dataclass(frozen=True)
class Attempt:
    """A command the server refused, kept for the after-action report (ts in the log's time)."""

    ts: str
    user: str
    agency: str | None
    command: str
    incident: int | None
    code: str
    reason: str | None
    message: str


@dataclass(frozen=True)
class CommandRecord:
    """One command's answer, remembered so the same id gets the same answer."""

    user: str
    id: str
    result: bytes


def event_row(epoch: str, event: Event, incident: int | None, regency: str | None) -> tuple[Any, ...]:
    return (event.seq, epoch, event.ts, event.kind, _encoder.encode(event.actor).decode(), _encoder.encode(event.data).decode(), incident, regency)


class SqliteStore:
    """The SQLite event store (server.store_api.EventStore). Use
    `async with open_store(path) as store:`."""

    backend: Literal["sqlite"] = "sqlite"

    def __init__(self, path: str | Path, *, synchronous: str = "full", check_writable: bool = False) -> None:
        self.path = Path(path)
        self.synchronous = synchronous
        # serve: prove at start that this user can write the file, its WAL and folder.
        self.check_writable = check_writable
        # Where the migration of an older schema copied the file first, if it did.
        self.migration_backup: Path | None = None
        self._db: aiosqlite.Connection | None = None
        self.epoch = ""
        self.created = ""

    async def __aenter__(self) -> SqliteStore:
        await self.open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

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
            self._db = await aiosqlite.connect(self.path, isolation_level=None)
            await self.db.execute("PRAGMA journal_mode=WAL")
            # FULL: the WAL is synced at every commit, so a committed command
            # survives a power cut as well as a crash of the process.
            await self.db.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
            await self.db.execute("PRAGMA foreign_keys=ON")
            await self.db.execute("PRAGMA busy_timeout=5000")
            await self._migrate()
            await self._attempts_table()
            if self.check_writable:
                await self.db.execute("BEGIN IMMEDIATE")
                try:
                    await self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('opened', ?)", (format_ts(utc_now()),))
                    await self.db.execute("COMMIT")
                except BaseException:
                    await _rollback(self.db)
                    raise
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

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    async def _migrate(self) -> None:
        async with self.db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='meta'") as cur:
            has_meta = await cur.fetchone() is not None
        async with self.db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name") as cur:
            tables = [str(row[0]) async for row in cur]
        version = 0
        if has_meta:
            found = await self._meta("schema_version")
            if found is None or not found.isdigit() or await self._meta("epoch") is None:
                raise StoreError(
                    f"{self.path} is not an opsmon database (its meta table has no opsmon schema version): point [server] database or --db at a new file"
                )
            version = int(found)
        elif tables:
            shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
            raise StoreError(
                f"{self.path} is not an opsmon database (it holds other tables: {shown}): opsmon will not write into it; point [server] database or --db at a new file"
            )
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
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                for script in MIGRATIONS[version:]:
                    for statement in filter(str.strip, script.split(";")):
                        await self.db.execute(statement)
                if version == 0:
                    epoch = secrets.token_hex(8)
                    await self.db.executemany(
                        "INSERT INTO meta (key, value) VALUES (?, ?)",
                        [("epoch", epoch), ("created", format_ts(utc_now())), ("schema_version", str(SCHEMA_VERSION))],
                    )
                    await self.db.execute("INSERT INTO epochs (epoch, started, first_seq, reason) VALUES (?, ?, 0, 'created')", (epoch, format_ts(utc_now())))
                else:
                    await self.db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
                await self.db.execute("COMMIT")
            except BaseException:
                await _rollback(self.db)
                raise
        self.epoch = await self._meta("epoch") or ""
        self.created = await self._meta("created") or ""

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

    async def _fresh_epoch(self) -> str:
        # An exercise log's epochs say so (opsmon.training.exercise), whatever made them new.
        prefix = EXERCISE_EPOCH_PREFIX if await self._meta("exercise") is not None else ""
        return prefix + secrets.token_hex(8)

    # --- exercises: refused attempts, the exercise's settings --------------------

    async def _attempts_table(self) -> None:
        """The table of refused attempts (the after-action report's), created
        beside the versioned schema so it needs no schema version of its own."""
        async with self.db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='attempts'") as cur:
            if await cur.fetchone() is not None:
                return
        with contextlib.suppress(sqlite3.OperationalError):  # a read-only file: nothing to record into anyway
            await self.db.execute(ATTEMPTS_SCHEMA)

    async def record_attempts(self, attempts: Iterable[Attempt]) -> None:
        """Refused commands, with the token's name: who tried what, and why it was refused."""
        rows = [(a.ts, self.epoch, a.user, a.agency, a.command, a.incident, a.code, a.reason, a.message) for a in attempts]
        if rows:
            await self.db.executemany(
                "INSERT INTO attempts (ts, epoch, user, agency, command, incident, code, reason, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
            )

    async def attempts(self) -> list[Attempt]:
        async with self.db.execute(
            "SELECT ts, user, agency, command, incident, code, reason, message FROM attempts WHERE epoch = ? ORDER BY id", (self.epoch,)
        ) as cur:
            return [Attempt(*row) async for row in cur]

    async def exercise(self) -> dict[str, Any] | None:
        """The exercise this log holds (name, start, speed, scenario), or None for a real night."""
        text = await self._meta("exercise")
        return None if text is None else dict(json.loads(text))

    async def mark_exercise(self, settings: dict[str, Any], reason: str) -> None:
        """Make this (empty) log an exercise's: its settings, and a new epoch that says so."""
        await self.set_meta("exercise", json.dumps(settings, ensure_ascii=False))
        if not is_exercise_epoch(self.epoch):
            await self.new_epoch(reason)

    async def new_epoch(self, reason: str) -> str:
        """Give the log a new identity (clients holding the old one take a snapshot)."""
        epoch = await self._fresh_epoch()
        await self.db.execute("BEGIN IMMEDIATE")
        try:
            await self.db.execute("UPDATE meta SET value = ? WHERE key = 'epoch'", (epoch,))
            await self.db.execute(
                "INSERT INTO epochs (epoch, started, first_seq, reason) VALUES (?, ?, ?, ?)", (epoch, format_ts(utc_now()), await self.head(), reason)
            )
            await self.db.execute("COMMIT")
        except BaseException:
            await _rollback(self.db)
            raise
        self.epoch = epoch
        return epoch

    async def reset(self, *, keep_tokens: bool, reason: str = "reset") -> str:
        """A fresh night: an empty log under a new epoch; tokens kept if asked."""
        epoch = await self._fresh_epoch()
        now = format_ts(utc_now())
        await self.db.execute("BEGIN IMMEDIATE")
        try:
            for table in ("events", "incidents", "stages", "commands", "attempts") + (() if keep_tokens else ("tokens", "token_changes")):
                await self.db.execute(f"DELETE FROM {table}")
            await self.db.execute("UPDATE meta SET value = ? WHERE key = 'epoch'", (epoch,))
            await self.db.execute("UPDATE meta SET value = ? WHERE key = 'created'", (now,))
            await self.db.execute("DELETE FROM meta WHERE key = 'config_seen'")
            await self.db.execute("INSERT INTO epochs (epoch, started, first_seq, reason) VALUES (?, ?, 0, ?)", (epoch, now, reason))
            await self.db.execute("COMMIT")
        except BaseException:
            await _rollback(self.db)
            raise
        self.epoch, self.created = epoch, now
        return epoch

    async def probe(self) -> None:
        """A small real write (8 KiB, then removed): does the disk take writes again?"""
        for sql, params in (
            ("INSERT OR REPLACE INTO meta (key, value) VALUES ('probe', ?)", (secrets.token_hex(4096),)),
            ("DELETE FROM meta WHERE key = 'probe'", ()),
        ):
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                await self.db.execute(sql, params)
                await self.db.execute("COMMIT")
            except BaseException:
                await _rollback(self.db)
                raise

    async def get_meta(self, key: str) -> str | None:
        return await self._meta(key)

    async def set_meta(self, key: str, value: str) -> None:
        await self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    async def _meta(self, key: str) -> str | None:
        async with self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cur:
            row = await cur.fetchone()
        return None if row is None else str(row[0])

    # --- state ------------------------------------------------------------------

    async def head(self) -> int:
        async with self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM events") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def load_state(self) -> State:
        """The current state from the state tables: exactly the rows events made
        (a stage row no event has touched is implicit, `domain.stage_row`)."""
        state = State(seq=await self.head())
        async with self.db.execute("SELECT body FROM incidents") as cur:
            async for (body,) in cur:
                incident = _incident_decoder.decode(body)
                state.incidents[incident.id] = incident
        async with self.db.execute("SELECT body FROM stages") as cur:
            async for (body,) in cur:
                row = _stage_decoder.decode(body)
                state.stages[(row.regency, row.stage)] = row
        return state

    async def commit(
        self,
        events: list[tuple[Event, int | None, str | None]],
        incidents: Iterable[Incident] = (),
        stages: Iterable[StageRow] = (),
        commands: Iterable[CommandRecord] = (),
        token_changes: Iterable[int] = (),
    ) -> None:
        """One transaction: append events, update state rows, remember the answers
        (and mark the token changes these events carry as logged)."""
        db = self.db
        await db.execute("BEGIN IMMEDIATE")
        try:
            await db.executemany(
                "INSERT INTO events (seq, epoch, ts, kind, actor, data, incident, regency) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [event_row(self.epoch, event, incident, regency) for event, incident, regency in events],
            )
            incident_rows = [(i.id, i.regency, i.status, i.severity, i.reported, i.resolved, _encoder.encode(i)) for i in incidents]
            if incident_rows:
                await db.executemany(
                    "INSERT OR REPLACE INTO incidents (id, regency, status, severity, reported, resolved, body) VALUES (?, ?, ?, ?, ?, ?, ?)", incident_rows
                )
            stage_rows = [(s.regency, s.stage, _encoder.encode(s)) for s in stages]
            if stage_rows:
                await db.executemany("INSERT OR REPLACE INTO stages (regency, stage, body) VALUES (?, ?, ?)", stage_rows)
            command_rows = [(c.user, c.id, format_ts(utc_now()), c.result) for c in commands]
            if command_rows:
                await db.executemany("INSERT INTO commands (user, id, ts, result) VALUES (?, ?, ?, ?)", command_rows)
            change_ids = [(i,) for i in token_changes]
            if change_ids:
                await db.executemany("UPDATE token_changes SET logged = 1 WHERE id = ?", change_ids)
            await db.execute("COMMIT")
        except BaseException:
            await _rollback(db)
            raise

    async def command_results(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], bytes]:
        """The stored answers of any of these (user, command id) pairs, in one query."""
        found: dict[tuple[str, str], bytes] = {}
        for start in range(0, len(keys), 400):  # SQLite caps bound parameters
            chunk = keys[start : start + 400]
            where = " OR ".join(["(user = ? AND id = ?)"] * len(chunk))
            params = [part for key in chunk for part in key]
            async with self.db.execute(f"SELECT user, id, result FROM commands WHERE {where}", params) as cur:
                async for user, command_id, result in cur:
                    found[(user, command_id)] = bytes(result)
        return found

    # --- events -----------------------------------------------------------------

    async def events_since(self, since: int, limit: int | None = None) -> list[Event]:
        sql = "SELECT seq, ts, kind, actor, data FROM events WHERE seq > ? ORDER BY seq"
        params: tuple[Any, ...] = (since,)
        if limit is not None:
            sql += " LIMIT ?"
            params = (since, limit)
        async with self.db.execute(sql, params) as cur:
            return [_row_event(row) async for row in cur]

    async def history_by_regency(self) -> dict[str, int]:
        """How many events name each regency."""
        async with self.db.execute("SELECT regency, COUNT(*) FROM events WHERE regency IS NOT NULL GROUP BY regency") as cur:
            return {str(regency): int(count) async for regency, count in cur}

    async def stages_with_history(self) -> set[str]:
        """The stage keys any stage update in the log names."""
        async with self.db.execute("SELECT DISTINCT json_extract(data, '$.stage') FROM events WHERE kind = 'stage.updated'") as cur:
            return {str(row[0]) async for row in cur if row[0] is not None}

    async def event_at(self, seq: int) -> Event | None:
        async with self.db.execute("SELECT seq, ts, kind, actor, data FROM events WHERE seq = ?", (seq,)) as cur:
            row = await cur.fetchone()
        return None if row is None else _row_event(row)

    async def events_between(self, since: str | None = None, until: str | None = None) -> list[tuple[Event, int | None, str | None]]:
        """Every event with since <= ts < until (timestamps as the protocol writes
        them, so text order is time order), with its incident and regency."""
        sql = "SELECT seq, ts, kind, actor, data, incident, regency FROM events WHERE ts >= ? AND ts < ? ORDER BY seq"
        async with self.db.execute(sql, (since or "", until or "\uffff")) as cur:
            return [(_row_event(row[:5]), row[5], row[6]) async for row in cur]

    async def incident_events(self, incident: int) -> list[Event]:
        """Its timeline: its own events, and the merges of others into it."""
        sql = (
            "SELECT seq, ts, kind, actor, data FROM events WHERE incident = ? "
            "UNION SELECT seq, ts, kind, actor, data FROM events WHERE kind = 'incident.merged' AND json_extract(data, '$.into') = ? ORDER BY seq"
        )
        async with self.db.execute(sql, (incident, incident)) as cur:
            return [_row_event(row) async for row in cur]

    # --- tokens -----------------------------------------------------------------

    async def add_token(self, record: TokenRecord, *, by: str = "", log_change: bool = False) -> TokenRecord | None:
        """Add a token. A name whose token is revoked may be given a new one: the
        revoked token stays in the table, revoked (and its revocation stays in the
        log); the revoked record is returned so the caller can say so.
        `log_change=True` (what `opsmon-server token add` does) has the server
        write it into the event log; fixtures and the demo's own tokens are not."""
        existing = await self.token_by_name(record.name)
        if existing is not None and existing.revoked is None:
            raise StoreError(f"a token named {record.name!r} already exists; revoke it first or choose another name")
        body = {"name": record.name, "role": record.role, "agency": record.agency, "regencies": record.regencies, "expires": record.expires, "by": by or None}
        await self.db.execute("BEGIN IMMEDIATE")
        try:
            await self.db.execute(
                "INSERT INTO tokens (name, hash, role, agency, regencies, created, revoked, expires) VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
                (
                    record.name,
                    record.hash,
                    record.role,
                    record.agency,
                    None if record.regencies is None else json.dumps(record.regencies),
                    record.created,
                    record.expires,
                ),
            )
            if log_change:
                await self._token_change("added", record.name, body, record.created)
            await self.db.execute("COMMIT")
        except BaseException:
            await _rollback(self.db)
            raise
        return existing

    async def _token_change(self, change: str, name: str, body: dict[str, Any], ts: str) -> None:
        await self.db.execute("INSERT INTO token_changes (ts, change, name, body) VALUES (?, ?, ?, ?)", (ts, change, name, json.dumps(body)))

    async def tokens(self) -> list[TokenRecord]:
        """Every token, active or not: by name, then oldest first."""
        async with self.db.execute(f"SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY name, id") as cur:
            return [_token(row) async for row in cur]

    async def token_by_name(self, name: str) -> TokenRecord | None:
        """The name's active token, else its most recent one."""
        async with self.db.execute(f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE name = ? ORDER BY revoked IS NULL DESC, id DESC LIMIT 1", (name,)) as cur:
            row = await cur.fetchone()
        return None if row is None else _token(row)

    async def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        async with self.db.execute(f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = ?", (token_hash,)) as cur:
            row = await cur.fetchone()
        return None if row is None else _token(row)

    async def revoke_token(self, name: str, *, by: str = "") -> bool:
        ts = format_ts(utc_now())
        await self.db.execute("BEGIN IMMEDIATE")
        try:
            cur = await self.db.execute("UPDATE tokens SET revoked = ? WHERE name = ? AND revoked IS NULL", (ts, name))
            revoked = cur.rowcount > 0
            if revoked:
                await self._token_change("revoked", name, {"name": name, "by": by or None}, ts)
            await self.db.execute("COMMIT")
        except BaseException:
            await _rollback(self.db)
            raise
        return revoked

    async def active_token_hashes(self, now: str | None = None) -> set[str]:
        """Hashes of tokens neither revoked nor (when `now` is given) expired by `now`."""
        sql = "SELECT hash FROM tokens WHERE revoked IS NULL"
        params: tuple[str, ...] = ()
        if now is not None:
            sql, params = sql + " AND (expires IS NULL OR expires > ?)", (now,)
        async with self.db.execute(sql, params) as cur:
            return {str(row[0]) async for row in cur}

    async def touch_tokens(self, used: dict[str, str]) -> None:
        """Remember when each token (by hash) was last used."""
        if not used:
            return
        await self.db.execute("BEGIN IMMEDIATE")
        try:
            await self.db.executemany(
                "UPDATE tokens SET last_used = ? WHERE hash = ? AND (last_used IS NULL OR last_used < ?)", [(ts, h, ts) for h, ts in used.items()]
            )
            await self.db.execute("COMMIT")
        except BaseException:
            await _rollback(self.db)
            raise

    async def token_changes(self, now: str) -> list[TokenChange]:
        """Token changes not yet in the event log, oldest first; an expiry passed
        by `now` and not yet logged becomes one (recorded here, so it is logged once)."""
        async with self.db.execute(
            "SELECT id, name, expires FROM tokens WHERE revoked IS NULL AND expires IS NOT NULL AND expires <= ? AND expiry_logged = 0", (now,)
        ) as cur:
            expired = [row async for row in cur]
        if expired:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                for token_id, name, expires in expired:
                    await self.db.execute("UPDATE tokens SET expiry_logged = 1 WHERE id = ?", (token_id,))
                    await self._token_change("expired", name, {"name": name, "expired": expires}, expires)
                await self.db.execute("COMMIT")
            except BaseException:
                await _rollback(self.db)
                raise
        async with self.db.execute("SELECT id, ts, change, name, body FROM token_changes WHERE logged = 0 ORDER BY id") as cur:
            return [TokenChange(row[0], row[1], row[2], row[3], json.loads(row[4])) async for row in cur]

    # --- copy (opsmon-server copy) --------------------------------------------------

    async def dump_table(self, table: str, columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
        async with self.db.execute(f"SELECT {', '.join(columns)} FROM {table}") as cur:
            return [tuple(row) async for row in cur]

    async def load_tables(self, tables: dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]]) -> None:
        """Replace these tables' rows (the meta table keeps its own schema version)."""
        await self.db.execute("BEGIN IMMEDIATE")
        try:
            for table, (columns, rows) in tables.items():
                if table == "meta":
                    await self.db.execute("DELETE FROM meta WHERE key <> 'schema_version'")
                    rows = [r for r in rows if r[0] != "schema_version"]
                else:
                    await self.db.execute(f"DELETE FROM {table}")
                marks = ", ".join("?" * len(columns))
                await self.db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
            await self.db.execute("COMMIT")
        except BaseException:
            await _rollback(self.db)
            raise
        self.epoch = await self._meta("epoch") or ""
        self.created = await self._meta("created") or ""


# The name other modules (and older branches) import; new code uses store_api.open_store.
Store = SqliteStore


async def _rollback(db: aiosqlite.Connection) -> None:
    """Undo the transaction a failed or cancelled write left open. A write
    cancelled while its COMMIT was running has nothing left to undo (aiosqlite
    runs the COMMIT anyway): say so by re-raising the original error, not this one."""
    try:
        await db.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        if "no transaction is active" not in str(exc):
            raise


_actor_decoder = msgspec.json.Decoder(Actor)


def _row_event(row: Any) -> Event:
    seq, ts, kind, actor, data = row
    return Event(seq=seq, ts=ts, kind=kind, actor=_actor_decoder.decode(actor), data=decode_payload(kind, data))


def _token(row: Any) -> TokenRecord:
    name, token_hash, role, agency, regencies, created, revoked, expires, last_used, token_id = row
    return TokenRecord(name, token_hash, role, agency, None if regencies is None else json.loads(regencies), created, revoked, expires, last_used, token_id)
