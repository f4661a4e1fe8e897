"""The store core: row encoding and decoding, and every method whose body is
the same on each backend, written once over `Sql` (a connection, a pool or a
transaction, with `?` placeholders). A backend (server/store/sqlite.py,
server/store/postgres.py) subclasses `StoreCore` and supplies only what its
dialect needs: opening and migrating, the `Sql` it runs on, how events are
appended (seq checks, notify), how command answers are looked up, and the
few SQL fragments that differ (`user` column, JSON access)."""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Protocol, Self

import msgspec

from opsmon.core.clock import format_ts, utc_now
from opsmon.core.events import SitrepNumbered
from opsmon.core.protocol import Event
from opsmon.core.records import Actor, Attempt, Incident, NoteEntry, StageRow
from opsmon.core.state import State
from opsmon.core.wire import decode_payload
from opsmon.training.exercise import EXERCISE_EPOCH_PREFIX, is_exercise_epoch
from server.store.api import LogEntry, StoreError, TokenChange, TokenRecord, Transaction, WriteBatch

_SEQ_MAX = 2**63 - 1  # no `until`: every seq
TOKEN_COLUMNS = "name, hash, role, agency, regencies, created, revoked, expires, last_used, id"
EVENT_COLUMNS = "seq, ts, kind, actor, data"

encoder = msgspec.json.Encoder()
_incident_decoder = msgspec.json.Decoder(Incident)
_stage_decoder = msgspec.json.Decoder(StageRow)
_note_decoder = msgspec.json.Decoder(NoteEntry)
_actor_decoder = msgspec.json.Decoder(Actor)


def stored_version(where: str, tables: list[str], found: object, epoch: object, *, instead_meta: str, instead_tables: str) -> int:
    """The opsmon schema version a database holds, from its tables and its meta's
    `schema_version` and `epoch` (0: a new, empty one). A meta table without an opsmon
    version, or other programs' tables, is never written into: StoreError naming
    `where`, then what to do instead (each dialect says it in its own terms)."""
    if "meta" in tables:
        if found is None or not str(found).isdigit() or epoch is None:
            raise StoreError(f"{where} is not an opsmon database (its meta table has no opsmon schema version): {instead_meta}")
        return int(str(found))
    if tables:
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise StoreError(f"{where} is not an opsmon database (it holds other tables: {shown}): opsmon will not write into it; {instead_tables}")
    return 0


def without_notes(incident: Incident) -> Incident:
    """An incident as its row stores it: its notes are in the notes table."""
    return msgspec.structs.replace(incident, notes=[]) if incident.notes else incident


# The notes table's rows as `attach_notes` takes them (load_state, and `verify` on a file).
NOTE_ROWS = "SELECT incident, body FROM notes ORDER BY incident, n"


def attach_notes(incidents: dict[int, Incident], rows: Iterable[Any]) -> None:
    """The notes table's (incident, body) rows, in (incident, n) order, given back to
    the incidents their rows hold without them. Notes of an incident with no row
    are left out (`opsmon-server verify` names such an incident)."""
    current, notes = None, None
    for incident_id, body in rows:
        if incident_id != current:
            current = incident_id
            found = incidents.get(int(incident_id))
            notes = found.notes if found is not None else None
        if notes is not None:
            notes.append(_note_decoder.decode(body))


def event_row(epoch: str, event: Event, incident: int | None, regency: str | None) -> tuple[Any, ...]:
    return (event.seq, epoch, event.ts, event.kind, encoder.encode(event.actor).decode(), encoder.encode(event.data).decode(), incident, regency)


def row_event(row: Any) -> Event:
    seq, ts, kind, actor, data = row
    return Event(seq=seq, ts=ts, kind=kind, actor=_actor_decoder.decode(actor), data=decode_payload(kind, data))


def _utf8(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def raw_event(row: Any) -> msgspec.Raw:
    """A stored event as `encode(row_event(row))` writes it, from its stored JSON:
    the actor and data columns are that encoder's output already."""
    seq, ts, kind, actor, data = row
    return msgspec.Raw(
        b'{"type":"event","seq":%d,"ts":%s,"kind":%s,"actor":%s,"data":%s}' % (int(seq), encoder.encode(ts), encoder.encode(kind), _utf8(actor), _utf8(data))
    )


def token_record(row: Any) -> TokenRecord:
    name, token_hash, role, agency, regencies, created, revoked, expires, last_used, token_id = row
    return TokenRecord(name, token_hash, role, agency, None if regencies is None else json.loads(regencies), created, revoked, expires, last_used, token_id)


class Sql(Protocol):
    """What the shared bodies run SQL on. `?` marks a parameter."""

    async def execute(self, sql: str, *params: Any) -> int:
        """Run one statement; the number of rows it changed."""

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...
    async def fetch(self, sql: str, *params: Any) -> list[Any]: ...
    async def fetchrow(self, sql: str, *params: Any) -> Any | None: ...
    async def fetchval(self, sql: str, *params: Any) -> Any: ...
    def transaction(self) -> AbstractAsyncContextManager[Sql]:
        """A write transaction (the one already open, inside one)."""


class SingleWriter:
    """A write batch on a store with one writer: nothing to fold, its own methods."""

    def __init__(self, store: StoreCore) -> None:
        self.store = store
        self.missed: list[Event] = []
        self.refuses_repeats = store.refuses_repeats

    async def command_results(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], bytes]:
        return await self.store.command_results(keys)

    async def token_changes(self, now: str) -> list[TokenChange]:
        return await self.store.token_changes(now)

    async def commit(self, batch: WriteBatch) -> None:
        await self.store.commit(batch)


class StoreCore:
    """The method bodies every backend shares (server.store.api.EventStore)."""

    # Whether commit() raises RepeatedCommand for a command id already answered (api.Transaction).
    refuses_repeats = False
    # The dialect's column for the SQLite store's `user` (a reserved word in PostgreSQL).
    USER_COLUMN = "user"
    # A stage update's stage key, and "a merge into incident ?", read from the event's JSON data.
    STAGE_KEY_SQL = "json_extract(data, '$.stage')"
    MERGED_INTO_SQL = "json_extract(data, '$.into') = ?"

    epoch: str
    created: str
    # The reader open_reader() opened, if any (see `reads`).
    _reader: Sql | None = None

    @property
    def sql(self) -> Sql:
        """The open database, outside any transaction."""
        raise NotImplementedError

    @property
    def reads(self) -> Sql:
        """Where the log is read for answers (a history, a resume's events, one
        event): the reader `open_reader` opened, so a long read neither waits for
        the writer nor holds it up; without one, the store's own connection."""
        return self._reader if self._reader is not None else self.sql

    async def open_reader(self) -> None:
        """Open a read-only connection of its own for `reads` (the server does,
        at start; a command-line tool needs none). Closed by `close`."""

    @property
    def location(self) -> str:
        raise NotImplementedError

    async def open(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    # --- dialect hooks ------------------------------------------------------------

    def body(self, value: Any) -> Any:
        """A state row's JSON body as the dialect stores it."""
        return encoder.encode(value)

    def snapshot(self) -> AbstractAsyncContextManager[Sql]:
        """Where load_state reads the head and the state rows together."""
        return contextlib.nullcontext(self.sql)

    def write_transaction(self) -> AbstractAsyncContextManager[Sql]:
        """The transaction a commit outside `writing()` runs in."""
        return self.sql.transaction()

    async def append(self, sql: Sql, events: Sequence[LogEntry], head: int | None) -> None:
        """Append the events to the log (`head`: the log's head if read under the writer's lock)."""
        raise NotImplementedError

    async def command_results_on(self, sql: Sql, keys: list[tuple[str, str]]) -> dict[tuple[str, str], bytes]:
        raise NotImplementedError

    def loadable(self, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Rows another backend dumped, in this dialect's types."""
        return rows

    async def after_load(self, sql: Sql, table: str, columns: tuple[str, ...]) -> None:
        """What a table needs after its rows were replaced (e.g. its id sequence moved on)."""

    def column(self, name: str) -> str:
        return self.USER_COLUMN if name == "user" else name

    # --- identity, settings -------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        value = await self.sql.fetchval("SELECT value FROM meta WHERE key = ?", key)
        return None if value is None else str(value)

    async def set_meta(self, key: str, value: str) -> None:
        await self.sql.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", key, value)

    async def fresh_epoch(self) -> str:
        # An exercise log's epochs say so (opsmon.training.exercise), whatever made them new.
        prefix = EXERCISE_EPOCH_PREFIX if await self.get_meta("exercise") is not None else ""
        return prefix + secrets.token_hex(8)

    async def new_epoch(self, reason: str) -> str:
        """Give the log a new identity (clients holding the old one take a snapshot)."""
        epoch = await self.fresh_epoch()
        async with self.sql.transaction() as tx:
            head = int(await tx.fetchval("SELECT COALESCE(MAX(seq), 0) FROM events"))
            await tx.execute("UPDATE meta SET value = ? WHERE key = 'epoch'", epoch)
            await tx.execute("INSERT INTO epochs (epoch, started, first_seq, reason) VALUES (?, ?, ?, ?)", epoch, format_ts(utc_now()), head, reason)
        self.epoch = epoch
        return epoch

    async def epochs(self) -> list[tuple[str, str, str]]:
        rows = await self.sql.fetch("SELECT epoch, started, reason FROM epochs ORDER BY started, first_seq")
        return [(str(e), str(s), str(r)) for e, s, r in rows]

    async def reset(self, *, keep_tokens: bool, reason: str = "reset") -> str:
        """A fresh night: an empty log under a new epoch; tokens kept if asked."""
        epoch = await self.fresh_epoch()
        now = format_ts(utc_now())
        async with self.sql.transaction() as tx:
            for table in ("events", "incidents", "notes", "stages", "commands", "attempts") + (() if keep_tokens else ("tokens", "token_changes")):
                await tx.execute(f"DELETE FROM {table}")
            await tx.execute("UPDATE meta SET value = ? WHERE key = 'epoch'", epoch)
            await tx.execute("UPDATE meta SET value = ? WHERE key = 'created'", now)
            await tx.execute("DELETE FROM meta WHERE key = 'config_seen'")
            await tx.execute("INSERT INTO epochs (epoch, started, first_seq, reason) VALUES (?, ?, 0, ?)", epoch, now, reason)
        self.epoch, self.created = epoch, now
        return epoch

    async def probe(self) -> None:
        """A small real write (8 KiB, then removed): does the disk take writes again?"""
        async with self.sql.transaction() as tx:
            await tx.execute(
                "INSERT INTO meta (key, value) VALUES ('probe', ?) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", secrets.token_hex(4096)
            )
        async with self.sql.transaction() as tx:
            await tx.execute("DELETE FROM meta WHERE key = 'probe'")

    # --- exercises: refused attempts, the exercise's settings ------------------------

    async def record_attempts(self, attempts: Iterable[Attempt]) -> None:
        """Refused commands, with the token's name: who tried what, and why it was refused."""
        rows = [(a.ts, self.epoch, a.user, a.agency, a.command, a.incident, a.code, a.reason, a.message) for a in attempts]
        if rows:
            async with self.sql.transaction() as tx:
                await tx.executemany(
                    f"INSERT INTO attempts (ts, epoch, {self.USER_COLUMN}, agency, command, incident, code, reason, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )

    async def attempts(self) -> list[Attempt]:
        rows = await self.sql.fetch(
            f"SELECT ts, {self.USER_COLUMN}, agency, command, incident, code, reason, message FROM attempts WHERE epoch = ? ORDER BY id", self.epoch
        )
        return [Attempt(*row) for row in rows]

    async def exercise(self) -> dict[str, Any] | None:
        """The exercise this log holds (name, start, speed, scenario), or None for a real night."""
        text = await self.get_meta("exercise")
        return None if text is None else dict(json.loads(text))

    async def mark_exercise(self, settings: dict[str, Any], reason: str) -> None:
        """Make this (empty) log an exercise's: its settings, and a new epoch that says so."""
        await self.set_meta("exercise", json.dumps(settings, ensure_ascii=False))
        if not is_exercise_epoch(self.epoch):
            await self.new_epoch(reason)

    # --- state --------------------------------------------------------------------

    async def head(self) -> int:
        return int(await self.sql.fetchval("SELECT COALESCE(MAX(seq), 0) FROM events") or 0)

    async def load_state(self) -> State:
        """The current state from the state tables: exactly the rows events made
        (a stage row no event has touched is implicit, `domain.stage_row`)."""
        async with self.snapshot() as sql:
            state = State(seq=int(await sql.fetchval("SELECT COALESCE(MAX(seq), 0) FROM events") or 0))
            for (body,) in await sql.fetch("SELECT body FROM incidents"):
                incident = _incident_decoder.decode(body)
                state.incidents[incident.id] = incident
            attach_notes(state.incidents, await sql.fetch(NOTE_ROWS))
            for (body,) in await sql.fetch("SELECT body FROM stages"):
                row = _stage_decoder.decode(body)
                state.stages[(row.regency, row.stage)] = row
            # The last situation report numbered: the next one numbers on from it.
            for row in await sql.fetch(f"SELECT {EVENT_COLUMNS} FROM events WHERE kind = ? ORDER BY seq DESC LIMIT 1", SitrepNumbered.KIND):
                numbered = row_event(tuple(row))
                if isinstance(numbered.data, SitrepNumbered):
                    state.sitrep_number, state.sitrep_until, state.sitrep_seq = numbered.data.number, numbered.data.until, numbered.seq
        return state

    async def commit(self, batch: WriteBatch) -> None:
        """One transaction: append events, update state rows, remember the answers
        (and mark the token changes these events carry as logged)."""
        async with self.write_transaction() as tx:
            await self.write(tx, batch, head=None)

    def writing(self, head: int) -> AbstractAsyncContextManager[Transaction]:
        """A write batch for a writer whose state is at `head` (one writer: its own methods)."""
        return contextlib.nullcontext(SingleWriter(self))

    async def write(self, tx: Sql, batch: WriteBatch, head: int | None) -> None:
        """The batch's writes, in the transaction `tx`."""
        if batch.events:
            await self.append(tx, batch.events, head)
        for sql, rows in self.state_writes(batch):
            await tx.executemany(sql, rows)

    def state_writes(self, batch: WriteBatch) -> list[tuple[str, list[tuple[Any, ...]]]]:
        """What a batch writes besides the log, as (statement, rows) for executemany:
        its state rows, its commands' answers, its token changes marked logged."""
        writes: list[tuple[str, list[tuple[Any, ...]]]] = []
        # An incident's row holds it without its notes; its notes are rows of their own,
        # only the new ones written: a note on an incident with a thousand costs one row.
        incident_rows = [(i.id, i.regency, i.status, i.severity, i.reported, i.resolved, self.body(without_notes(i))) for i in batch.incidents]
        stored = batch.notes_stored
        note_rows = [(i.id, n, self.body(i.notes[n])) for i in batch.incidents for n in range(stored.get(i.id, 0), len(i.notes))]
        if incident_rows:
            writes.append(
                (
                    "INSERT INTO incidents (id, regency, status, severity, reported, resolved, body) VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET regency = EXCLUDED.regency, status = EXCLUDED.status, severity = EXCLUDED.severity, "
                    "reported = EXCLUDED.reported, resolved = EXCLUDED.resolved, body = EXCLUDED.body",
                    incident_rows,
                )
            )
        if note_rows:
            # Upserted: a note written again (its count not known) is the same note.
            writes.append(("INSERT INTO notes (incident, n, body) VALUES (?, ?, ?) ON CONFLICT (incident, n) DO UPDATE SET body = EXCLUDED.body", note_rows))
        stage_rows = [(s.regency, s.stage, self.body(s)) for s in batch.stages]
        if stage_rows:
            writes.append(
                ("INSERT INTO stages (regency, stage, body) VALUES (?, ?, ?) ON CONFLICT (regency, stage) DO UPDATE SET body = EXCLUDED.body", stage_rows)
            )
        if batch.commands:
            now = format_ts(utc_now())
            writes.append(
                (f"INSERT INTO commands ({self.USER_COLUMN}, id, ts, result) VALUES (?, ?, ?, ?)", [(c.user, c.id, now, c.result) for c in batch.commands])
            )
        if batch.token_changes:
            writes.append(("UPDATE token_changes SET logged = 1 WHERE id = ?", [(i,) for i in batch.token_changes]))
        return writes

    async def command_results(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], bytes]:
        """The stored answers of any of these (user, command id) pairs."""
        return await self.command_results_on(self.sql, keys)

    # --- events -------------------------------------------------------------------

    async def events_since(self, since: int, limit: int | None = None, until: int | None = None) -> list[Event]:
        """The events after seq `since` (up to seq `until`, at most `limit` of them), in seq order."""
        sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE seq > ?"
        params: tuple[Any, ...] = (since,)
        if until is not None:
            sql, params = sql + " AND seq <= ?", (*params, until)
        sql += " ORDER BY seq"
        if limit is not None:
            sql, params = sql + " LIMIT ?", (*params, limit)
        return [row_event(row) for row in await self.reads.fetch(sql, *params)]

    async def raw_events_since(self, since: int, limit: int, until: int) -> list[tuple[int, bytes]]:
        """`events_since` as (seq, the event as the wire writes it), made from the stored
        JSON without decoding and encoding it again: a streamed resume's pages."""
        rows = await self.reads.fetch(f"SELECT {EVENT_COLUMNS} FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?", since, until, limit)
        return [(int(row[0]), bytes(raw_event(row))) for row in rows]

    async def history_by_regency(self) -> dict[str, int]:
        """How many events name each regency."""
        rows = await self.sql.fetch("SELECT regency, COUNT(*) FROM events WHERE regency IS NOT NULL GROUP BY regency")
        return {str(regency): int(count) for regency, count in rows}

    async def stages_with_history(self) -> set[str]:
        """The stage keys any stage update in the log names."""
        rows = await self.sql.fetch(f"SELECT DISTINCT {self.STAGE_KEY_SQL} FROM events WHERE kind = 'stage.updated'")
        return {str(row[0]) for row in rows if row[0] is not None}

    async def event_at(self, seq: int) -> Event | None:
        row = await self.reads.fetchrow(f"SELECT {EVENT_COLUMNS} FROM events WHERE seq = ?", seq)
        return None if row is None else row_event(row)

    async def events_between(self, since: str | None = None, until: str | None = None) -> list[LogEntry]:
        """Every event with since <= ts < until (timestamps as the protocol writes
        them, so text order is time order), with its incident and regency."""
        rows = await self.sql.fetch(
            f"SELECT {EVENT_COLUMNS}, incident, regency FROM events WHERE ts >= ? AND ts < ? ORDER BY seq", since or "", until or "\uffff"
        )
        return [(row_event(tuple(row)[:5]), row[5], row[6]) for row in rows]

    async def incident_events(self, incident: int, until: int | None = None) -> list[Event]:
        """Its timeline: its own events, and the merges of others into it (up to seq `until`)."""
        return [row_event(row) for row in await self._timeline_rows(incident, until)]

    async def incident_timeline(self, incident: int, until: int | None = None) -> list[msgspec.Raw]:
        """`incident_events` as the wire writes each event, made from the stored JSON
        without decoding it and encoding it again: a `history` answer's events, at a
        fraction of the server's time for a long timeline."""
        return [raw_event(row) for row in await self._timeline_rows(incident, until)]

    async def incident_timeline_page(self, incident: int, until: int, after: int, limit: int) -> tuple[list[msgspec.Raw], int | None]:
        """One page of `incident_timeline`: its events after seq `after`, at most `limit`,
        and the `after` of the next page (None: this was the last)."""
        rows = await self._timeline_rows(incident, until, after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return [raw_event(row) for row in rows], (int(rows[-1][0]) if more else None)

    async def _timeline_rows(self, incident: int, until: int | None, after: int = 0, limit: int | None = None) -> list[Any]:
        top = _SEQ_MAX if until is None else until
        sql = (
            f"SELECT {EVENT_COLUMNS} FROM events WHERE incident = ? AND seq > ? AND seq <= ? "
            f"UNION SELECT {EVENT_COLUMNS} FROM events WHERE kind = 'incident.merged' AND {self.MERGED_INTO_SQL} AND seq > ? AND seq <= ? ORDER BY seq"
        )
        params: tuple[Any, ...] = (incident, after, top, incident, after, top)
        if limit is not None:
            sql, params = sql + " LIMIT ?", (*params, limit)
        return await self.reads.fetch(sql, *params)

    # --- tokens -------------------------------------------------------------------

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
        async with self.sql.transaction() as tx:
            await tx.execute(
                "INSERT INTO tokens (name, hash, role, agency, regencies, created, revoked, expires) VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
                record.name, record.hash, record.role, record.agency, None if record.regencies is None else json.dumps(record.regencies), record.created, record.expires,
            )  # fmt: skip
            if log_change:
                await self._token_change(tx, "added", record.name, body, record.created)
        return existing

    async def _token_change(self, tx: Sql, change: str, name: str, body: dict[str, Any], ts: str) -> None:
        await tx.execute("INSERT INTO token_changes (ts, change, name, body) VALUES (?, ?, ?, ?)", ts, change, name, json.dumps(body))

    async def tokens(self) -> list[TokenRecord]:
        """Every token, active or not: by name, then oldest first."""
        return [token_record(row) for row in await self.sql.fetch(f"SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY name, id")]

    async def token_by_name(self, name: str) -> TokenRecord | None:
        """The name's active token, else its most recent one."""
        row = await self.sql.fetchrow(f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE name = ? ORDER BY revoked IS NULL DESC, id DESC LIMIT 1", name)
        return None if row is None else token_record(row)

    async def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        row = await self.sql.fetchrow(f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = ?", token_hash)
        return None if row is None else token_record(row)

    async def revoke_token(self, name: str, *, by: str = "") -> bool:
        ts = format_ts(utc_now())
        async with self.sql.transaction() as tx:
            revoked = await tx.execute("UPDATE tokens SET revoked = ? WHERE name = ? AND revoked IS NULL", ts, name) > 0
            if revoked:
                await self._token_change(tx, "revoked", name, {"name": name, "by": by or None}, ts)
        return revoked

    async def active_token_hashes(self, now: str | None = None) -> set[str]:
        """Hashes of tokens neither revoked nor (when `now` is given) expired by `now`."""
        if now is None:
            rows = await self.sql.fetch("SELECT hash FROM tokens WHERE revoked IS NULL")
        else:
            rows = await self.sql.fetch("SELECT hash FROM tokens WHERE revoked IS NULL AND (expires IS NULL OR expires > ?)", now)
        return {str(row[0]) for row in rows}

    async def touch_tokens(self, used: dict[str, str]) -> None:
        """Remember when each token (by hash) was last used."""
        if not used:
            return
        async with self.sql.transaction() as tx:
            await tx.executemany(
                "UPDATE tokens SET last_used = ? WHERE hash = ? AND (last_used IS NULL OR last_used < ?)", [(ts, h, ts) for h, ts in used.items()]
            )

    async def token_changes(self, now: str) -> list[TokenChange]:
        """Token changes not yet in the event log, oldest first; an expiry passed
        by `now` and not yet logged becomes one (recorded here, so it is logged once)."""
        return await self.token_changes_on(self.sql, now)

    async def token_changes_on(self, sql: Sql, now: str) -> list[TokenChange]:
        expired = await sql.fetch(
            "SELECT id, name, expires FROM tokens WHERE revoked IS NULL AND expires IS NOT NULL AND expires <= ? AND expiry_logged = 0", now
        )
        if expired:
            async with sql.transaction() as tx:
                for token_id, name, expires in expired:
                    await tx.execute("UPDATE tokens SET expiry_logged = 1 WHERE id = ?", token_id)
                    await self._token_change(tx, "expired", name, {"name": name, "expired": expires}, expires)
        rows = await sql.fetch("SELECT id, ts, change, name, body FROM token_changes WHERE logged = 0 ORDER BY id")
        return [TokenChange(row[0], row[1], row[2], row[3], json.loads(row[4])) for row in rows]

    # --- copy (opsmon-server copy) ----------------------------------------------------

    async def dump_table(self, table: str, columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
        select = ", ".join(c if self.column(c) == c else f'{self.column(c)} AS "{c}"' for c in columns)
        return [tuple(row) for row in await self.sql.fetch(f"SELECT {select} FROM {table}")]

    async def load_tables(self, tables: dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]]) -> None:
        """Replace these tables' rows (the meta table keeps its own schema version)."""
        async with self.sql.transaction() as tx:
            for table, (columns, rows) in tables.items():
                if table == "meta":
                    await tx.execute("DELETE FROM meta WHERE key <> 'schema_version'")
                    rows = [r for r in rows if r[0] != "schema_version"]
                else:
                    await tx.execute(f"DELETE FROM {table}")
                names = ", ".join(self.column(c) for c in columns)
                marks = ", ".join("?" * len(columns))
                await tx.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", self.loadable(table, columns, rows))
                await self.after_load(tx, table, columns)
            self.epoch = str(await tx.fetchval("SELECT value FROM meta WHERE key = 'epoch'") or "")
            self.created = str(await tx.fetchval("SELECT value FROM meta WHERE key = 'created'") or "")
