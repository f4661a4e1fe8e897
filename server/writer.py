"""The command path: each connection's commands (rate limits, malformed frames,
read-only tokens), the group-commit writer that decides and commits them in
order, the answers and the audit line for each.

Every write goes: validate (protocol) -> decide (domain) -> commit (store)
-> answer the sender -> broadcast (hub), with the server's lock held, so seq
order is commit order is broadcast order."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

import msgspec
from websockets.asyncio.server import ServerConnection

from opsmon.core.clock import format_ts, parse_ts
from opsmon.core.domain import Decision, DomainError, decide, inject_reporter
from opsmon.core.events import ExerciseClockChanged, IncidentDuplicate, SitrepNumbered, StageUpdated
from opsmon.core.fold import apply, touches
from opsmon.core.protocol import (
    CLOSE_POLICY,
    MAX_HISTORY_PAGE,
    MAX_PAGE,
    MAX_UNPAGED,
    WRITE_COMMANDS,
    ChannelAnswer,
    Error,
    Event,
    ExerciseControl,
    Hello,
    History,
    Incidents,
    NotifyTest,
    Report,
    Result,
    SitrepPeriod,
    Status,
)
from opsmon.core.ratelimit import TokenBucket
from opsmon.core.records import INCIDENT_STATUSES, SYSTEM, Attempt, Incident, User
from opsmon.core.state import State
from opsmon.core.wire import BadMessage, decode_peeked, decode_result, encode, peek_client
from server.connections import peer_address
from server.inbox import Inbox
from server.logs import quote
from server.pages import page_of
from server.store.api import CommandRecord, RepeatedCommand, StoreError, Transaction, WriteBatch, writing

if TYPE_CHECKING:
    from server.app import OpsmonServer

log = logging.getLogger("opsmon.server")

WRITE_BATCH_MAX = 256
# The writer counts as busy (and gathers for `group_commit_wait_ms`) when its last
# batch was taken within this many waits: a quiet night's command is committed at once.
BUSY_WAITS = 25
# A read-only token's write counts this many times towards refused_commands_per_minute.
FORBIDDEN_WEIGHT = 5

# The system's decisions for a write batch, made on the latest state (after the
# fold): the decisions, and the ids of the token changes they log.
Planner = Callable[[State, Transaction], Awaitable[tuple[list[Decision], list[int]]]]


def describe_write_failure(exc: BaseException) -> str:
    """A failed write in a few words a monitor and a screen can show."""
    text = str(exc)
    if "full" in text:
        why = f"the disk is full ({text})"
    elif "readonly" in text or "read-only" in text:
        why = f"the database is read-only ({text})"
    elif "disk I/O" in text:
        why = f"the disk failed ({text})"
    else:
        why = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return f"could not save: {why}"


def _expected_write_error(exc: BaseException) -> bool:
    """Trouble a write meets (a full disk, the database away): logged without a traceback."""
    return isinstance(exc, sqlite3.OperationalError | OSError | StoreError) or type(exc).__module__.startswith("asyncpg")


@dataclass(frozen=True)
class _Pending:
    """A command waiting for the writer."""

    connection: ServerConnection
    user: User
    command: Any
    kind: str
    started: float


class _LookUpFirst(Exception):
    """A command refused when its id was not looked up: it may be a retry, whose answer is the first one."""


def _as_repeat(frame: bytes) -> bytes:
    """A stored answer, marked as the answer to a repeated command id."""
    result = decode_result(frame)
    return encode(msgspec.structs.replace(result, repeat=True))


# The `type` of every command that writes: a read-only token's are refused before they are validated.
_WRITE_KINDS = frozenset(str(command.__struct_config__.tag) for command in WRITE_COMMANDS)
_NOTIFY_TEST = str(NotifyTest.__struct_config__.tag)
_KNOWN_KINDS = _WRITE_KINDS | {"history", "incidents", "hello", _NOTIFY_TEST}
_ADMIN_KINDS = frozenset({str(ExerciseControl.__struct_config__.tag), _NOTIFY_TEST})  # the trainer's, the IT officer's
# Answered beside the writer, after their connection's earlier writes; they write nothing
# (notify_test sends a test message to a person's channels, which may take the channel's timeout).
_READS = (History, Incidents, NotifyTest)


def _known_kind(kind: str) -> str:
    """A frame's `type` for the metrics and the log: one the protocol knows, else "unknown"."""
    return kind if kind in _KNOWN_KINDS else "unknown"


def _frame_type(frame: str | bytes) -> str:
    """The `type` of a frame that did not decode, for the log ("unknown" if it has none)."""
    try:
        body = json.loads(frame)
    except ValueError:
        return "unknown"
    kind = body.get("type") if isinstance(body, dict) else None
    return kind if isinstance(kind, str) and kind.isidentifier() and len(kind) <= 32 else "unknown"


class Writer:
    """Commands in, answers and events out, in commit order."""

    def __init__(self, server: OpsmonServer) -> None:
        self.server = server
        # One queue per connection, served in turn; a connection with too many
        # commands waiting is not read until the writer catches up (server.inbox).
        self.inbox: Inbox[_Pending] = Inbox(lambda item: item.connection)
        self.reads: set[asyncio.Task[None]] = set()  # history answers under way
        self.committing = False  # a group commit is being decided, committed and answered

    async def serve(self, connection: ServerConnection, user: User, token_hash: str) -> None:
        """Read a connection's frames. Limits come before the per-field checks:
        the frame size (websockets, 1009), then the rate, then the role, and
        only then is every string of the frame validated. A connection whose
        frames keep being refused is read no faster than its rate, and closed
        1008 past `refused_commands_per_minute` (malformed: `bad_frames_per_minute`)."""
        settings = self.server.settings
        rate = settings.rate_for(user.role)
        limit = TokenBucket(rate, rate * 4)  # bursts up to 4x the rate
        shared = self.server.connections.token_bucket(token_hash, user.role)  # and the token's, over all its connections
        bad_frames: deque[float] = deque()
        refused: deque[float] = deque()
        limited_since, limited_more = -1.0, 0
        noted = -1.0  # when this connection's last use was noted for the token sweep

        def too_many(window: deque[float], most: int) -> bool:
            now = time.monotonic()
            window.append(now)
            while window and window[0] < now - 60:
                window.popleft()
            return len(window) > most

        async for frame in connection:
            started = time.perf_counter()
            if started - noted >= 1.0:  # a token's last use to the second is enough: not a timestamp per frame
                self.server.connections.used[token_hash] = format_ts(self.server.wall_clock())
                noted = started
            try:
                peek = peek_client(frame)
                kind = peek.kind
                alone = limit.take()
                if not alone or not shared.take():
                    # Over this connection's rate, or over the token's own across all its connections.
                    over = rate if not alone else shared.rate
                    refusal = Result(
                        id=peek.command_id or "",
                        ok=False,
                        code="rate_limited",
                        message=f"more than {over:g} commands a second for this {user.role} token"
                        + ("" if not alone else " (all its connections together)")
                        + "; slow down",
                        reason="rate_limited",
                        params={"rate": over, "role": user.role},
                    )
                    # A flood is one line a second, not one per frame.
                    now = time.monotonic()
                    if now - limited_since >= 1.0:
                        if limited_more:
                            log.info("refused %d more command(s) from %s (%s): rate_limited", limited_more, user.name, user.agency)
                        self.audit(user, peek, _known_kind(kind), "rate_limited", result=refusal)
                        limited_since, limited_more = now, 0
                    else:
                        limited_more += 1
                    if peek.command_id is not None:
                        self.answer(connection, refusal, _known_kind(kind), started)
                    else:
                        self.server.metrics.error("rate_limited")
                        self.server.hub.send(connection, encode(Error(code="rate_limited", message=refusal.message or "")))
                    if too_many(refused, settings.refused_commands_per_minute):
                        await self.close_refused(connection, user)
                        return
                    # Throttled: this socket is not read again before a token is back.
                    await asyncio.sleep(max(limit.wait(), shared.wait()))
                    continue
                if (kind in _WRITE_KINDS and not user.may_act()) or (kind in _ADMIN_KINDS and user.role != "admin"):
                    if kind == _NOTIFY_TEST:  # any role but admin: its own words, a viewer's too
                        words, reason = "only an admin token sends a test notification", "notify_admin_only"
                    elif not user.may_act():
                        words, reason = f"this {user.role} token may only read", "read_only"
                    else:
                        words, reason = "only the trainer's admin token pauses, resumes or ends an exercise", "admin_only"
                    refusal = Result(id=peek.command_id or "", ok=False, code="forbidden", message=words, reason=reason, params={"role": user.role})
                    self.audit(user, peek, kind, "forbidden", result=refusal)
                    if peek.command_id is not None:
                        self.answer(connection, refusal, kind, started)
                    else:
                        self.server.metrics.error("forbidden")
                        self.server.hub.send(connection, encode(Error(code="forbidden", message=refusal.message or "")))
                    # No client of a read-only token sends writes (the wall's keys never do):
                    # each one counts several times towards the refusals that close it.
                    for _ in range(FORBIDDEN_WEIGHT - 1):
                        too_many(refused, settings.refused_commands_per_minute)
                    if too_many(refused, settings.refused_commands_per_minute):
                        await self.close_refused(connection, user)
                        return
                    continue
                message = decode_peeked(peek)
                if isinstance(message, Report) and message.inject and user.role != "admin":
                    refusal = Result(
                        id=message.id,
                        ok=False,
                        code="forbidden",
                        message="only the trainer's admin token sends an inject",
                        reason="inject_admin_only",
                        params={"role": user.role},
                    )
                    self.audit(user, peek, kind, "forbidden", result=refusal)
                    self.answer(connection, refusal, kind, started)
                    if too_many(refused, settings.refused_commands_per_minute):
                        await self.close_refused(connection, user)
                        return
                    continue
            except BadMessage as exc:
                if exc.command_id is not None:
                    invalid = Result(id=exc.command_id, ok=False, code="invalid", message=str(exc), reason=exc.reason, params=exc.params)
                    self.audit(user, None, _frame_type(frame), "invalid", result=invalid)
                    self.answer(connection, invalid, "unknown", started)
                else:
                    log.info("bad message from %s (%s): %s", user.name, peer_address(connection), exc)
                    self.server.metrics.error("bad_message")
                    self.server.hub.send(connection, encode(Error(code="bad_message", message=str(exc))))
                if too_many(bad_frames, settings.bad_frames_per_minute):
                    await asyncio.sleep(0.05)  # let the error frame go out first
                    await connection.close(CLOSE_POLICY, "too many malformed messages")
                    return
                if too_many(refused, settings.refused_commands_per_minute):
                    await self.close_refused(connection, user)
                    return
                continue
            if isinstance(message, Hello):
                self.server.metrics.error("bad_message")
                self.server.hub.send(connection, encode(Error(code="bad_message", message="already greeted: hello is only the first message")))
                continue
            kind = str(message.__struct_config__.tag)
            if isinstance(message, _READS):
                # Through the writer's queue, so it sees the commands sent before it.
                await self.command(connection, user, message, kind, started)
                continue
            if not isinstance(message, WRITE_COMMANDS):  # pragma: no cover - the union is closed
                continue
            await self.command(connection, user, message, kind, started)

    async def close_refused(self, connection: ServerConnection, user: User) -> None:
        """A connection that keeps sending what is refused: closed 1008 (docs/protocol.md)."""
        limit = self.server.settings.refused_commands_per_minute
        log.warning("closed %s's connection from %s: more than %d refused commands in a minute", user.name, peer_address(connection), limit)
        self.server.metrics.error("too_many_refused")
        await asyncio.sleep(0.05)  # let the last refusal go out first
        await connection.close(CLOSE_POLICY, "too many refused commands")

    def audit(self, user: User, command: Any, kind: str, outcome: str, *, seq: int | None = None, result: Result | None = None) -> None:
        """One line per command carried out or refused: who (name, agency, role;
        the token is named after the person), what, on which incident or
        regency, and how it ended."""
        if not log.isEnabledFor(logging.INFO):
            return  # not written at this log level: not composed either
        incident = getattr(command, "incident", None)
        regency = getattr(command, "regency", None)
        parts = [kind]
        if isinstance(incident, int):
            known = self.server.state.incidents.get(incident)
            regency = regency or (known.regency if known is not None else None)
            parts.append(f"incident #{incident}" + (f" (regency {regency})" if regency else ""))
        elif incident is not None:  # a report's draft
            regency = getattr(incident, "regency", None)
            parts.append(f"regency {regency}, {getattr(incident, 'severity', '?')}, {quote(str(getattr(incident, 'title', '')), 60)}")
            incident = result.incident if result is not None and result.ok else None
        elif regency:
            parts.append(f"regency {regency}")
        stage = getattr(command, "stage", None)
        if isinstance(stage, str):
            parts.append(f"stage {stage} done {getattr(command, 'done', '?')}" + (" blocked" if getattr(command, "blocked", False) else ""))
        into = getattr(command, "into", None)
        if isinstance(into, int):
            parts.append(f"into #{into}")
        if outcome == "ok":
            how = f"ok, seq {seq}" + (f", incident #{incident}" if kind == "report" and incident is not None else "")
        elif outcome == "repeat":
            how = "already done (same command id): first answer sent again"
        else:
            how = (
                f"refused {outcome}"
                + (f" ({result.reason})" if result is not None and result.reason else "")
                + (f": {result.message}" if result is not None else "")
            )
        fields = {
            "audit": {
                "who": user.name,
                "agency": user.agency,
                "role": user.role,
                "token": user.name,
                "command": kind,
                "command_id": getattr(command, "id", None),
                "incident": incident if isinstance(incident, int) else None,
                "regency": regency,
                "outcome": "ok" if outcome == "ok" else "repeat" if outcome == "repeat" else "refused",
                "code": None if outcome in ("ok", "repeat") else outcome,
                "reason": result.reason if result is not None else None,
                "seq": seq,
            }
        }
        log.info(
            "%s by %s (%s %s): %s -> %s",
            "command" if outcome in ("ok", "repeat") else "refused",
            user.name,
            user.agency,
            user.role,
            " ".join(parts),
            how,
            extra=fields,
        )

    def answer(self, connection: ServerConnection, result: Result, kind: str, started: float) -> None:
        self.reply(connection, encode(result), kind, "ok" if result.ok else (result.code or "error"), started, result.reason)

    def reply(self, connection: ServerConnection, frame: bytes, kind: str, outcome: str, started: float, reason: str | None = None) -> None:
        """Send an encoded answer and count it: `outcome` is "ok", "repeat" or the refusal code,
        `reason` a refusal's reason (counted by reason in /metrics; the code if it has none)."""
        self.server.metrics.command(kind, outcome, time.perf_counter() - started)
        if outcome not in ("ok", "repeat"):
            self.server.metrics.error(outcome)
            self.server.metrics.refused(reason or outcome)
        self.server.hub.send(connection, frame)

    def unavailable(self, batch: Sequence[_Pending | Decision], exc: Exception) -> None:
        """Tell every command of a batch that was not saved that nothing changed."""
        problem = describe_write_failure(exc)
        self.trouble(problem)
        message = f"the server could not save this command ({problem.removeprefix('could not save: ')}); nothing was changed, send it again"
        for item in batch:
            if isinstance(item, _Pending):
                result = Result(id=item.command.id, ok=False, code="unavailable", message=message, reason="unavailable", params={"problem": problem})
                self.audit(item.user, item.command, item.kind, "unavailable", result=result)
                self.answer(item.connection, result, item.kind, item.started)

    def trouble(self, problem: str | None) -> None:
        """Writes started or stopped failing: say so once, to the log and every client."""
        if problem == self.server.problem:
            return
        if problem is None:
            log.warning("writing works again (was: %s)", self.server.problem)
        else:
            log.error("cannot write the database %s: %s; commands are answered unavailable until it clears", self.server.store.location, problem)
        self.server.problem = problem
        self.server.hub.announce(encode(Status(problem=problem)))
        if problem is not None:
            self.server.probe.start()

    async def history(self, connection: ServerConnection, message: History, started: float) -> None:
        if message.incident not in self.server.state.incidents:
            refusal = Result(
                id=message.id, ok=False, code="not_found", message=f"no incident {message.incident}", reason="not_found", params={"incident": message.incident}
            )
            self.answer(connection, refusal, "history", started)
            return
        # Read on the store's reader (its own connection), not under the server's lock:
        # the writer goes on committing meanwhile. The answer holds the events up to
        # the head as it is now (committed, and broadcast); later ones come as events.
        head = self.server.state.seq
        if message.after is not None or message.limit is not None:
            # A page: the events after `after`, at most `limit`; `next` while there may be more.
            limit = min(message.limit or MAX_HISTORY_PAGE, MAX_HISTORY_PAGE)
            rows, after = await self.server.store.incident_timeline_page(message.incident, head, message.after or 0, limit)
            self.answer(
                connection, Result(id=message.id, ok=True, seq=head, incident=message.incident, events=cast(list[Event], rows), next=after), "history", started
            )
            return
        # The stored events as the wire writes them (msgspec.Raw), not decoded and encoded again.
        events = cast(list[Event], await self.server.store.incident_timeline(message.incident, until=head))
        self.answer(connection, Result(id=message.id, ok=True, incident=message.incident, events=events), "history", started)

    def incidents(self, connection: ServerConnection, user: User, message: Incidents, started: float) -> None:
        """Incidents from the folded state (the whole log, unlike a snapshot), in id
        order: those with `status`, those reported or resolved since `since` and every
        one not resolved; a scoped token gets its regencies' only. Bad filters are
        refused `invalid`, naming the field."""

        def refuse(field: str, problem: str, example: str = "") -> None:
            value = getattr(message, field)
            text = f"{field}: {value!r} is {problem}{example}"
            refusal = Result(id=message.id, ok=False, code="invalid", message=text, reason="bad_field", params={"field": field, "problem": problem})
            self.answer(connection, refusal, "incidents", started)

        if message.status is not None and message.status not in INCIDENT_STATUSES:
            refuse("status", f"not one of {', '.join(INCIDENT_STATUSES)}")
            return
        since = None
        if message.since is not None:
            try:
                since = parse_ts(message.since)
            except ValueError:
                since = None
            if since is None or since.tzinfo is None:
                refuse("since", "not an RFC 3339 time with an offset", " (e.g. 2024-02-14T08:00:00Z)")
                return

        def chosen(incident: Incident) -> bool:
            if user.regencies is not None and incident.regency not in user.regencies:
                return False
            if message.status is not None and incident.status != message.status:
                return False
            if since is None or incident.resolved is None:
                return True
            return parse_ts(incident.reported) >= since or parse_ts(incident.resolved) >= since

        if message.after is not None or message.limit is not None:
            # A page: bounded work, read at the head as it is now (its `seq`). A paged
            # snapshot's rest covers every regency, as the snapshot it completes; a
            # `whole` page (lists, reports) is the unpaged answer in pieces.
            limit = min(message.limit or MAX_PAGE, MAX_PAGE)
            scope = frozenset(user.regencies) if message.whole and user.regencies is not None else None
            page, after = page_of(self.server.state, message.after or 0, limit, since, message.status, whole=bool(message.whole), regencies=scope)
            self.answer(connection, Result(id=message.id, ok=True, seq=self.server.state.seq, incidents=page, next=after), "incidents", started)
            return
        held = len(self.server.state.incidents)
        if held > MAX_UNPAGED:
            # The whole log in one frame costs what the night has piled up: in pages.
            text = f"the night holds {held} incidents, more than {MAX_UNPAGED} in one answer: ask in pages (after, limit, whole)"
            params: dict[str, object] = {"incidents": held, "most": MAX_UNPAGED, "limit": MAX_PAGE}
            self.answer(connection, Result(id=message.id, ok=False, code="invalid", message=text, reason="page_it", params=params), "incidents", started)
            return
        found = [i for _, i in sorted(self.server.state.incidents.items()) if chosen(i)]
        self.answer(connection, Result(id=message.id, ok=True, incidents=found), "incidents", started)

    async def notify_test(self, connection: ServerConnection, user: User, message: NotifyTest, started: float) -> None:
        """One test message to each of the person's channels (server/notify.py's send_test,
        as `opsmon-server notify test`), off the writer, each bounded by the channel's
        timeout; answered with each channel's line, scheme and answer. Writes nothing."""
        from server.notify import send_test

        config = self.server.config
        person = next((p.name for p in config.people if p.name == message.person), None)
        if person is None:
            refusal = Result(
                id=message.id,
                ok=False,
                code="not_found",
                message=f"no person named {message.person!r} in [[people]]",
                reason="unknown_person",
                params={"person": message.person},
            )
            self.answer(connection, refusal, _NOTIFY_TEST, started)
            return
        channels = self.server.notifier.channels.get(person, ())
        if not channels:
            refusal = Result(
                id=message.id,
                ok=False,
                code="invalid",
                message=f"{person} has no channels_file: nothing to send to",
                reason="no_channels",
                params={"person": person},
            )
            self.answer(connection, refusal, _NOTIFY_TEST, started)
            return
        drill = self.server.exercise.settings.name if self.server.exercise is not None else None
        answers = await send_test(config, person, channels, drill)
        said = "; ".join(f"channel {c.index} ({c.scheme}) {'ok' if a.ok else 'FAILED'}: {a.text}" for c, a in answers)
        log.info("test notification to %s by %s (%s): %s", person, user.name, user.agency, said)
        found = [ChannelAnswer(channel=c.index, scheme=c.scheme, ok=a.ok, answer=a.text) for c, a in answers]
        self.answer(connection, Result(id=message.id, ok=True, channels=found), _NOTIFY_TEST, started)

    async def read(self, pending: _Pending) -> None:
        """Answer a read (history, incidents) beside the writer (its connection's next
        command waits for it, the others' do not)."""
        try:
            if isinstance(pending.command, Incidents):
                self.incidents(pending.connection, pending.user, pending.command, pending.started)
            elif isinstance(pending.command, NotifyTest):
                await self.notify_test(pending.connection, pending.user, pending.command, pending.started)
            else:
                await self.history(pending.connection, pending.command, pending.started)
        except Exception as exc:
            log.exception("%s failed", pending.kind)
            refusal = Result(
                id=pending.command.id,
                ok=False,
                code="unavailable",
                message=f"the server could not read the {pending.kind} ({type(exc).__name__})",
                reason="unavailable",
                params={"problem": f"could not read ({type(exc).__name__})"},
            )
            self.answer(pending.connection, refusal, pending.kind, pending.started)
        finally:
            self.inbox.done([pending])

    async def command(self, connection: ServerConnection, user: User, command: Any, kind: str, started: float) -> None:
        """Queue a command for the writer; its answer comes back through the hub,
        in order. With too many of its commands waiting, the connection is not
        read until the writer has answered some (its flood waits at its own socket)."""
        self.inbox.put(_Pending(connection, user, command, kind, started))
        await self.inbox.room(connection)

    async def run(self) -> None:
        """Group commit: the commands waiting, one from each connection in turn,
        are decided in order and committed in one transaction, so the disk sync
        is paid once per batch, not per command."""
        try:
            await self._run()
        finally:
            self.inbox.close()  # a connection waiting for room must not hold up the close

    async def _run(self) -> None:
        wait = self.server.settings.group_commit_wait_ms / 1000
        last_taken, last_size, last_owner = -1.0, 0, None
        while True:
            if wait > 0:
                await self.inbox.ready()
                # Under load each commit's sync and thread hop is paid by however few commands it
                # carries: a moment's wait lets the next ones share it. Not after a quiet spell, and
                # not for one client sending a command at a time (nobody else would join it).
                busy = time.monotonic() - last_taken < BUSY_WAITS * wait
                if busy and (last_size > 1 or self.inbox.next_owner() is not last_owner):
                    await asyncio.sleep(wait)
            last_taken = time.monotonic()
            batch = await self.inbox.take(WRITE_BATCH_MAX, lambda item: isinstance(item.command, _READS))
            last_size, last_owner = len(batch), batch[0].connection
            if isinstance(batch[0].command, _READS):
                # A read: every write its connection sent before it is committed.
                task = asyncio.create_task(self.read(batch[0]), name=batch[0].kind)
                self.reads.add(task)
                task.add_done_callback(self.reads.discard)
                continue
            try:
                async with self.server.lock:
                    self.committing = True
                    try:
                        await self.write(batch)
                    except Exception as exc:
                        # The writer must outlive any failure: if it died, every
                        # later command would wait for ever. (_write answers its own
                        # failures; this is for a bug in it.)
                        log.exception("write failed; %d command(s) not applied", len(batch))
                        self.unavailable(batch, exc)
                    finally:
                        self.committing = False
            finally:
                self.inbox.done(batch)

    def waiting(self) -> bool:
        """A command waits for the writer, or for its commit and answer."""
        return self.committing or self.inbox.next_owner() is not None

    async def write(self, batch: Sequence[_Pending | Decision], *, planner: Planner | None = None, look_up: bool = False) -> list[Event]:
        """Decide, number, commit, then answer and broadcast; returns the events
        committed (none if the batch was not saved: its commands are told so).
        Call with the lock held.

        The batch runs under the store's write lock (server.store.api.writing):
        on PostgreSQL, what other replicas committed since our head is folded
        first, so every rule (a conflicting ack, a repeated command id, a due
        escalation) decides on the latest state. `planner` makes the system's
        decisions from that state, with the ids of the token changes they log.

        A command id already answered is a retry whose answer was lost with its
        connection: rare. Where the commit refuses one (`refuses_repeats`), the batch's
        ids are looked up only when it does, or when a command is refused (a retry's
        second decision may be), and the batch is decided again (`look_up`)."""
        now = self.server.clock()
        ts = format_ts(now)
        last_until = self.server.state.sitrep_until
        if last_until is not None and ts <= last_until:
            # Nothing written after a report was numbered falls inside its period (since,
            # until]: the next report covers it, even at the same millisecond (a paused exercise).
            now = parse_ts(last_until) + timedelta(milliseconds=1)
            ts = format_ts(now)
        items: list[_Pending | Decision] = list(batch)
        events: list[tuple[Event, int | None, str | None]] = []
        records: list[CommandRecord] = []
        replies: list[tuple[ServerConnection, bytes, str, str, float, str | None]] = []
        attempts: list[Attempt] = []
        audits: list[tuple[_Pending, str, int | None, Result | None]] = []
        trial = self.server.state
        earliest: float | None = None  # perf_counter when the first command that made an event was read
        try:
            async with writing(self.server.store, self.server.state.seq) as pending_batch:
                self.server.follower.fold(pending_batch.missed)
                change_ids: list[int] = []
                if planner is not None:
                    planned, change_ids = await planner(self.server.state, pending_batch)
                    items += planned
                # Decide against a fork: memory changes only once the disk has.
                trial = self.server.state.fork()
                keys = [(p.user.name, p.command.id) for p in items if isinstance(p, _Pending)]
                looked_up = bool(keys) and (look_up or not pending_batch.refuses_repeats)
                answered = await pending_batch.command_results(keys) if looked_up else {}
                touched_incidents: set[int] = set()
                touched_stages: set[tuple[str, str]] = set()
                for item in items:
                    if isinstance(item, Decision):
                        decision, actor, pending = item, item.actor or SYSTEM, None
                    else:
                        pending, actor = item, item.user.actor
                        if isinstance(pending.command, Report) and pending.command.inject:
                            actor = inject_reporter(pending.command)  # the trainees see a field desk's report (the audit line names the trainer)
                        key = (pending.user.name, pending.command.id)
                        if key in answered:
                            replies.append((pending.connection, _as_repeat(answered[key]), pending.kind, "repeat", pending.started, None))
                            audits.append((pending, "repeat", None, None))
                            continue
                        try:
                            decision = decide(trial, pending.command, actor, pending.user.regencies, now, self.server.rules)
                        except DomainError as exc:
                            if not looked_up:
                                raise _LookUpFirst from None
                            result = Result(
                                id=pending.command.id,
                                ok=False,
                                code=exc.code,
                                message=exc.message,
                                status=exc.status,
                                by=exc.by,
                                at=exc.at,
                                reason=exc.reason,
                                params=exc.params,
                            )
                            replies.append((pending.connection, encode(result), pending.kind, exc.code, pending.started, exc.reason))
                            audits.append((pending, exc.code, None, result))
                            if self.server.exercise is not None:
                                attempts.append(
                                    Attempt(
                                        ts,
                                        pending.user.name,
                                        pending.user.agency,
                                        pending.kind,
                                        getattr(pending.command, "incident", None),
                                        exc.code,
                                        exc.reason,
                                        exc.message,
                                    )
                                )
                            continue
                    event = Event.of(trial.seq + 1, ts, actor, decision.payload)
                    if isinstance(decision.payload, StageUpdated):
                        touched_stages.add((decision.payload.regency, decision.payload.stage))
                    else:
                        # On the state before the event: a reopened merge gives back the reports up its chain.
                        touched_incidents.update(touches(decision.payload, trial))
                    apply(trial, event)
                    events.append((event, decision.incident, decision.regency))
                    if pending is not None:
                        earliest = pending.started if earliest is None else min(earliest, pending.started)
                        duplicate = isinstance(decision.payload, IncidentDuplicate)
                        numbered = decision.payload
                        period = (
                            SitrepPeriod(number=numbered.number, since=numbered.since, until=numbered.until, after=numbered.after)
                            if isinstance(numbered, SitrepNumbered)
                            else None
                        )
                        frame = encode(Result(id=pending.command.id, ok=True, seq=event.seq, incident=decision.incident, duplicate=duplicate, sitrep=period))
                        answered[(pending.user.name, pending.command.id)] = frame
                        records.append(CommandRecord(pending.user.name, pending.command.id, frame))
                        replies.append((pending.connection, frame, pending.kind, "ok", pending.started, None))
                        audits.append((pending, "ok", event.seq, Result(id=pending.command.id, ok=True, seq=event.seq, incident=decision.incident)))
                if events:
                    before = self.server.state.incidents  # the fork's base: what the store holds
                    await pending_batch.commit(
                        WriteBatch(
                            events,
                            incidents=[trial.incidents[i] for i in touched_incidents],
                            notes_stored={i: len(before[i].notes) for i in touched_incidents if i in before},
                            stages=[trial.stages[k] for k in touched_stages],
                            commands=records,
                            token_changes=change_ids,
                        )
                    )
        except Exception as exc:
            if not look_up and isinstance(exc, _LookUpFirst | RepeatedCommand):
                return await self.write(batch, planner=planner, look_up=True)
            commands = sum(1 for item in items if isinstance(item, _Pending))
            if _expected_write_error(exc):
                log.error("commit failed; %d command(s) not applied: %s", commands, exc)  # expected trouble: no traceback
            else:
                log.exception("commit failed; %d command(s) not applied", commands)
            self.unavailable(items, exc)
            return []
        if events:
            self.server.state = trial.settled()
            self.server.queue.touch(self.server.state, touched_incidents)
            for event, _, _ in events:
                if isinstance(event.data, ExerciseClockChanged):
                    await self.server.exercise_moved(event.data.state, event.ts)
            self.server.metrics.events_total += len(events)
            self.server.metrics.committed()
            self.trouble(None)
            self.server.set_head(events[-1][0])
            if self.server.on_commit is not None:
                self.server.on_commit()
        if attempts:
            try:
                await self.server.store.record_attempts(attempts)
            except Exception:  # the trainees' refusals are for the report: never worth a lost answer
                log.exception("could not record %d refused attempt(s)", len(attempts))
        for done, outcome, seq, answer in audits:  # once committed: an "ok" line is a promise kept
            self.audit(done.user, done.command, done.kind, outcome, seq=seq, result=answer)
        for connection, frame, kind, outcome, started, reason in replies:
            self.reply(connection, frame, kind, outcome, started, reason)
        if events:
            # The tick's deadline counts from when the first of these commands was read.
            received = None if earliest is None else asyncio.get_running_loop().time() - (time.perf_counter() - earliest)
            self.server.hub.publish([encode(event) for event, _, _ in events], received)
        return [event for event, _, _ in events]

    # --- background -----------------------------------------------------------------
