"""opsmon-server: the websocket handler, HTTP health and metrics, escalations.

Every write goes: authenticate -> validate (protocol) -> decide (domain)
-> commit (store) -> answer the sender -> broadcast (hub). One lock orders
the writes so seq order is commit order is broadcast order.

Replicas (PostgreSQL): any number of servers serve one log. Each write batch
runs under the database's seq lock and first folds what the others committed
(server.store.api.writing), so the rules decide on the latest state; each
replica follows the others' commits (LISTEN/NOTIFY with the head seq, then
the events by seq in one query) into its state and its own clients. The
timers (escalations, snooze wake-ups, token changes, situation reports) run
on the one replica holding the timer lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sqlite3
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from opsmon.core.config import Config, config_relative
from opsmon.core.domain import Decision, DomainError, Rules, State, apply, decide, due_escalations, due_wakeups, in_snapshot, stage_rows, stage_status, touches
from opsmon.core.geo import province_shape
from opsmon.core.protocol import (
    CLOSE_POLICY,
    HELLO_TIMEOUT_SECONDS,
    MAX_FRAME_BYTES,
    PAYLOAD_TYPES,
    PROTOCOL_VERSION,
    SYSTEM,
    WRITE_COMMANDS,
    BadMessage,
    Error,
    Event,
    Hello,
    History,
    IncidentDuplicate,
    Result,
    Snapshot,
    StageUpdated,
    Status,
    User,
    Welcome,
    decode_client,
    decode_result,
    encode,
    event_digest,
    format_ts,
    parse_ts,
    utc_now,
)
from opsmon.core.ratelimit import TokenBucket
from server.auth import identify, local_time
from server.backup import BackupError, BackupInfo, backup_database, rotate
from server.drift import compare, refuse, remember
from server.exercise import Exercise, ExerciseSettings, prepare
from server.hub import Hub, Subscriber, batch_frames
from server.lock import DatabaseLock
from server.logs import quote
from server.store.api import (
    PG_DUMP_HINT,
    Attempt,
    CommandRecord,
    EventStore,
    StoreError,
    TokenChange,
    WriteBatch,
    Writer,
    backend_of,
    open_store,
    sqlite_path,
    writing,
)

if TYPE_CHECKING:
    from server.store.postgres import PostgresStore

log = logging.getLogger("opsmon.server")

# A client further behind than this gets a snapshot instead of the missed events.
RESUME_LIMIT = 20_000
REVOCATION_CHECK_SECONDS = 1.0
# Close code for a connection turned away for now (too many connections): the
# client retries later, unlike 1008, which tells it its token is no good.
CLOSE_TRY_AGAIN_LATER = 1013

WRITE_BATCH_MAX = 256
PROBE_SECONDS = 2.0
# Replicas: how often a replica tries to take (or checks it still holds) the
# timer lock, so a dead holder's timers move within a few seconds.
TIMER_LOCK_SECONDS = 1.0
# How often a replica reads the log's head even when no notification came
# (a belt to LISTEN/NOTIFY's braces), and how many events one catch-up reads.
FOLLOW_POLL_SECONDS = 5.0
CATCH_UP_BATCH = 5_000


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


Clock = Callable[[], datetime]
# The system's decisions for a write batch, made on the latest state (after the
# fold): the decisions, and the ids of the token changes they log.
Planner = Callable[[State, Writer], Awaitable[tuple[list[Decision], list[int]]]]


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


def _as_repeat(frame: bytes) -> bytes:
    """A stored answer, marked as the answer to a repeated command id."""
    result = decode_result(frame)
    return encode(msgspec.structs.replace(result, repeat=True))


class Metrics:
    """Counters for GET /metrics, in Prometheus text format."""

    BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

    def __init__(self) -> None:
        self.connections_total = 0
        self.events_total = 0
        self.events_followed = 0
        self.commands: dict[tuple[str, str], int] = {}
        self.errors: dict[str, int] = {}
        self.latency_buckets = [0] * len(self.BUCKETS)
        self.latency_sum = 0.0
        self.latency_count = 0

    def command(self, kind: str, outcome: str, seconds: float) -> None:
        self.commands[(kind, outcome)] = self.commands.get((kind, outcome), 0) + 1
        self.latency_sum += seconds
        self.latency_count += 1
        for i, bound in enumerate(self.BUCKETS):
            if seconds <= bound:
                self.latency_buckets[i] += 1

    def error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1

    def render(self, connected: int, head: int, dropped_slow: int, *, replica: str | None = None, timers: bool = True) -> str:
        lines = [
            "# HELP opsmon_connections Connected, authenticated websocket clients.",
            "# TYPE opsmon_connections gauge",
            f"opsmon_connections {connected}",
            "# HELP opsmon_connections_total Websocket clients ever authenticated.",
            "# TYPE opsmon_connections_total counter",
            f"opsmon_connections_total {self.connections_total}",
            "# HELP opsmon_head_seq Sequence number of the newest event.",
            "# TYPE opsmon_head_seq gauge",
            f"opsmon_head_seq {head}",
            "# HELP opsmon_events_total Events committed since the server started.",
            "# TYPE opsmon_events_total counter",
            f"opsmon_events_total {self.events_total}",
            "# HELP opsmon_slow_clients_dropped_total Clients dropped for falling too far behind.",
            "# TYPE opsmon_slow_clients_dropped_total counter",
            f"opsmon_slow_clients_dropped_total {dropped_slow}",
            "# HELP opsmon_events_followed_total Events other replicas committed, read from the database and broadcast here.",
            "# TYPE opsmon_events_followed_total counter",
            f"opsmon_events_followed_total {self.events_followed}",
            "# HELP opsmon_timer_holder 1 if this replica runs the timers (escalations, wake-ups, reports).",
            "# TYPE opsmon_timer_holder gauge",
            f"opsmon_timer_holder {int(timers)}",
            "# HELP opsmon_commands_total Commands answered, by type and outcome.",
            "# TYPE opsmon_commands_total counter",
        ]
        for (kind, outcome), count in sorted(self.commands.items()):
            lines.append(f'opsmon_commands_total{{type="{kind}",outcome="{outcome}"}} {count}')
        lines += ["# HELP opsmon_errors_total Errors sent, by code.", "# TYPE opsmon_errors_total counter"]
        for code, count in sorted(self.errors.items()):
            lines.append(f'opsmon_errors_total{{code="{code}"}} {count}')
        lines += [
            "# HELP opsmon_command_latency_seconds Time from a command's arrival to its answer.",
            "# TYPE opsmon_command_latency_seconds histogram",
        ]
        for bound, count in zip(self.BUCKETS, self.latency_buckets, strict=True):
            lines.append(f'opsmon_command_latency_seconds_bucket{{le="{bound}"}} {count}')
        lines.append(f'opsmon_command_latency_seconds_bucket{{le="+Inf"}} {self.latency_count}')
        lines.append(f"opsmon_command_latency_seconds_sum {self.latency_sum:.6f}")
        lines.append(f"opsmon_command_latency_seconds_count {self.latency_count}")
        if replica is not None:
            name = replica.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
            lines += ["# HELP opsmon_replica_info This replica's name.", "# TYPE opsmon_replica_info gauge", f'opsmon_replica_info{{replica="{name}"}} 1']
        return "\n".join(lines) + "\n"


class OpsmonServer:
    """One province's server. `await start()`, then `await close()`."""

    def __init__(
        self, config: Config, store: EventStore, *, clock: Clock = utc_now, ssl_context: ssl.SSLContext | None = None, exercise: Exercise | None = None
    ) -> None:
        self.config = config
        self.ssl_context = ssl_context
        self.store = store
        # An exercise runs on scenario time: every event, deadline and snapshot window uses it.
        self.exercise = exercise
        self.clock: Clock = exercise.clock if exercise is not None else clock
        self.rules = Rules.from_config(config)
        self.settings = config.server
        self.state = State()
        self.hub = Hub(self.settings.broadcast_max_delay_ms / 1000)
        self.metrics = Metrics()
        self.lock = asyncio.Lock()
        self._config_info = config.info()
        self._server: Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._inbox: asyncio.Queue[_Pending] = asyncio.Queue()
        self._per_address: dict[str, int] = {}
        self._per_token: dict[str, int] = {}
        self._used: dict[str, str] = {}  # token hash -> last use, written by the token watcher
        # event_digest of the event at state.seq (None at seq 0).
        self.head_digest: str | None = None
        # Called after every commit with (epoch, seq, digest): the lock file remembers them.
        self.on_commit: Callable[[str, int, str | None], None] | None = None
        # Why writes fail right now (a full or read-only disk), or None: what
        # /healthz, the welcome and `status` frames report.
        self.problem: str | None = None
        # --accept-config-change: serve even if the config drops a regency with history.
        self.accept_config_change = False
        self._probe: asyncio.Task[None] | None = None
        # Replicas (PostgreSQL): this one's name in /healthz, /metrics and the
        # log (default host:port); whether it runs the timers (always, on SQLite).
        self.replica_name: str | None = None
        self.holds_timers = store.backend != "postgresql"
        self._behind = asyncio.Event()  # another replica committed past our head
        self._timers_due = asyncio.Event()  # the timer lock was just taken: check at once

    @property
    def replicated(self) -> PostgresStore | None:
        """The store, if other replicas may write it too (PostgreSQL)."""
        if self.store.backend != "postgresql":
            return None
        from server.store.postgres import PostgresStore

        assert isinstance(self.store, PostgresStore)
        return self.store

    # --- life cycle -------------------------------------------------------------

    async def start(self, host: str | None = None, port: int | None = None) -> None:
        self.state = await self.store.load_state()
        if self.replicated is not None:
            self.holds_timers = await self.replicated.hold_timers()
        head_event = await self.store.event_at(self.state.seq) if self.state.seq else None
        self.head_digest = event_digest(head_event) if head_event is not None else None
        drift = await compare(self.store, self.config, self.state, self.rules.stage_totals)
        for line in drift.lines:
            log.warning("%s", line)
        if not self.accept_config_change:
            refuse(drift)
        # Rows of a regency or stage no longer in the config are history, not
        # part of the picture: clients could not even name them.
        for key in [key for key in self.state.stages if key not in self.rules.stage_totals]:
            del self.state.stages[key]
        await self._reconcile_stage_totals()
        if drift.new_drops or (drift.dropped_stages and self.accept_config_change):
            # Who let the config drop what: in the log, for the export.
            async with self.lock:
                await self._write([Decision(drift.event_data())])
            log.warning("config change accepted by %s: %s", drift.event_data().by, "; ".join(drift.lines))
        await remember(self.store, self.config, drift)
        if self.holds_timers:
            await self._log_token_changes()  # made while the server was down
        self._server = await serve(
            self._handle,
            host if host is not None else self.settings.host,
            port if port is not None else self.settings.port,
            process_request=self._http,
            max_size=MAX_FRAME_BYTES,
            ping_interval=self.settings.ping_interval_seconds,
            ping_timeout=self.settings.ping_timeout_seconds,
            # Declined unless configured: compressing every frame once per
            # connection costs more than a LAN saves (README, "Compression").
            compression="deflate" if self.settings.compression == "deflate" else None,
            close_timeout=5,
            ssl=self.ssl_context,
        )
        if self.replica_name is None:
            self.replica_name = f"{socket.gethostname()}:{self.port}"
        self._tasks = [
            asyncio.create_task(self._writer(), name="writer"),
            asyncio.create_task(self._escalation_loop(), name="escalations"),
            asyncio.create_task(self._revocation_loop(), name="revocations"),
        ]
        if self.replicated is not None:
            self._tasks += [
                asyncio.create_task(self.replicated.follow(self._wake_follower), name="listen"),
                asyncio.create_task(self._follow_loop(), name="follow"),
                asyncio.create_task(self._timer_lock_loop(), name="timer-lock"),
            ]
        if self.config.sitrep.every_minutes > 0:
            self._tasks.append(asyncio.create_task(self._sitrep_loop(), name="sitreps"))
        if self.settings.backup_dir and self.store.backend != "sqlite":
            log.warning("[server] backup_dir is for a SQLite file: %s", PG_DUMP_HINT)
        elif self.settings.backup_dir:
            self._tasks.append(asyncio.create_task(self._backup_loop(), name="backups"))
        log.info(
            "listening on %s, epoch %s, seq %d%s",
            ", ".join(self.addresses), self.store.epoch, self.state.seq,
            f", replica {self.replica_name} ({'runs the timers' if self.holds_timers else 'another replica runs the timers'})" if self.replicated is not None else "",
        )  # fmt: skip

    @property
    def addresses(self) -> list[str]:
        if self._server is None:
            return []
        return [f"{s.getsockname()[0]}:{s.getsockname()[1]}" for s in self._server.sockets]

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        return int(next(iter(self._server.sockets)).getsockname()[1])

    async def close(self) -> None:
        """Stop: close every connection with 1001 (going away), then stop tasks."""
        # Every write holds the lock: taking it waits for the one in progress, so
        # no task is cancelled half-way through a transaction (a COMMIT cut off
        # that way lands on disk but not in memory, and the next write reuses its seq).
        async with self.lock:
            if self._probe is not None:
                self._tasks.append(self._probe)
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self.hub.flush()  # what was committed goes out before the 1001
        if self._server is not None:
            self._server.close(close_connections=True)
            await self._server.wait_closed()
        for connection in list(self.hub.subscribers):
            await self.hub.remove(connection)

    async def _reconcile_stage_totals(self) -> None:
        """A config whose totals changed (an official TPS count replacing an
        estimate) is written into the log as stage updates by `system`."""
        updated = format_ts(self.clock())

        def changed(state: State) -> list[Decision]:
            decisions = []
            for key, total in self.rules.stage_totals.items():
                row = state.stages.get(key)
                if row is not None and row.total != total:  # an untouched row takes the config's total as it is
                    done = min(row.done, total)
                    status = "blocked" if row.status == "blocked" else stage_status(done, total, False)
                    changed = StageUpdated(regency=row.regency, stage=row.stage, status=status, done=done, total=total, note=row.note, updated=updated)
                    decisions.append(Decision(changed, row.regency))
            return decisions

        async def plan(state: State, _batch: Writer) -> tuple[list[Decision], list[int]]:
            return changed(state), []  # decided again on the latest state: a replica may have written them

        if changed(self.state):
            async with self.lock:
                await self._write([], planner=plan)

    # --- HTTP -----------------------------------------------------------------------

    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/ws":
            origin = request.headers.get("Origin")
            # Browsers always send Origin; other clients (the TUI, feeders) send none.
            if origin is not None and origin not in self.settings.allowed_origins:
                log.warning("refused a websocket from %s: Origin %s is not in [server] allowed_origins", _address(connection), origin)
                self.metrics.error("origin")
                return connection.respond(HTTPStatus.FORBIDDEN, f"origin {origin} may not open this websocket (see [server] allowed_origins)\n")
            return None
        if path == "/healthz":
            health: dict[str, Any] = {
                "status": "ok",
                "seq": self.state.seq,
                "epoch": self.store.epoch,
                "clients": len(self.hub),
                "replica": self.replica_name,
                "pid": os.getpid(),
                "timers": self.holds_timers,
            }
            if self.problem is not None:
                health.update(status="unavailable", problem=self.problem)
            status = HTTPStatus.OK if self.problem is None else HTTPStatus.SERVICE_UNAVAILABLE
            response = connection.respond(status, json.dumps(health) + "\n")
            # respond() already set text/plain; Headers is a multidict, so replace, don't add.
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "application/json"
            return response
        if path == "/metrics":
            body = self.metrics.render(len(self.hub), self.state.seq, self.hub.dropped_slow, replica=self.replica_name, timers=self.holds_timers)
            response = connection.respond(HTTPStatus.OK, body)
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
            return response
        return connection.respond(HTTPStatus.NOT_FOUND, "not found: the websocket is at /ws; see also /healthz and /metrics\n")

    # --- connections ----------------------------------------------------------------

    async def _handle(self, connection: ServerConnection) -> None:
        address = _address(connection)
        self._per_address[address] = self._per_address.get(address, 0) + 1
        try:
            limit = self.settings.max_connections_per_address
            if self._per_address[address] > limit:
                log.warning("turned away a connection from %s: it already has %d open (max_connections_per_address)", address, limit)
                await self._turn_away(
                    connection, f"more than {limit} connections from {address}; close some first (the limit is [server] max_connections_per_address)"
                )
                return
            session = await self._greet(connection, address)
            if session is None:
                return
            user, token_hash = session
            try:
                await self._serve_commands(connection, user, token_hash)
            except ConnectionClosed:
                pass
            finally:
                await self.hub.remove(connection)
                left = self._per_token.get(token_hash, 1) - 1
                if left > 0:
                    self._per_token[token_hash] = left
                else:
                    self._per_token.pop(token_hash, None)
        finally:
            left = self._per_address[address] - 1
            if left > 0:
                self._per_address[address] = left
            else:
                del self._per_address[address]

    async def _turn_away(self, connection: ServerConnection, message: str) -> None:
        """Too many connections: say so, and close with 1013 so the client tries again later."""
        self.metrics.error("too_many_connections")
        with contextlib.suppress(ConnectionClosed):
            await connection.send(encode(Error(code="too_many_connections", message=message)), text=True)
            await connection.close(CLOSE_TRY_AGAIN_LATER, message[:120])

    async def _refuse(self, connection: ServerConnection, message: str, detail: str = "") -> None:
        """A failed hello: the client hears `message`; the log names the address and why."""
        log.warning("refused a hello from %s: %s", _address(connection), detail or message)
        self.metrics.error("unauthorized")
        with contextlib.suppress(ConnectionClosed):
            await connection.send(encode(Error(code="unauthorized", message=message)), text=True)
            await connection.close(CLOSE_POLICY, message[:120])

    async def _greet(self, connection: ServerConnection, address: str) -> tuple[User, str] | None:
        """hello -> welcome -> snapshot or the missed events; subscribe."""
        try:
            frame = await asyncio.wait_for(connection.recv(), HELLO_TIMEOUT_SECONDS)
        except TimeoutError:
            await self._refuse(connection, f"no hello within {HELLO_TIMEOUT_SECONDS:.0f} seconds")
            return None
        except ConnectionClosed:
            return None
        try:
            hello = decode_client(frame)
        except BadMessage as exc:
            await self._refuse(connection, f"the first message must be a valid hello ({exc})")
            return None
        if not isinstance(hello, Hello):
            await self._refuse(connection, "the first message must be hello")
            return None
        found = await identify(self.store, hello.token, self.clock(), self.config.province.tz)
        if found.user is None:
            await self._refuse(connection, found.refusal, found.detail)
            return None
        user, token_hash = found.user, found.hash
        limit = self.settings.max_connections_per_token
        if self._per_token.get(token_hash, 0) >= limit:
            log.warning("turned away %s from %s: the token already has %d connections open (max_connections_per_token)", user.name, address, limit)
            await self._turn_away(
                connection, f"token {user.name!r} already has {limit} connections open; close one first (the limit is [server] max_connections_per_token)"
            )
            return None
        self._per_token[token_hash] = self._per_token.get(token_hash, 0) + 1
        self._used[token_hash] = format_ts(self.clock())
        self.metrics.connections_total += 1

        async with self.lock:
            if self.replicated is not None and hello.epoch == self.store.epoch and hello.since is not None and hello.since > self.state.seq:
                # It saw events on another replica that this one has not read yet.
                await self._catch_up_locked()
            head = self.state.seq
            welcome = Welcome(
                protocol=PROTOCOL_VERSION,
                epoch=self.store.epoch,
                seq=head,
                user=user,
                config=self._config_info,
                problem=self.problem,
                exercise=self.exercise.info() if self.exercise is not None else None,
            )
            frames = [encode(welcome)]
            since = hello.since if hello.epoch == self.store.epoch else None
            resume = since is not None and 0 <= since <= head and head - since <= RESUME_LIMIT
            why = "snapshot"
            if since is not None and since > head:
                # The client saw events this file does not have: a file copy
                # that missed its WAL, or a restore. It gets this history whole.
                why = f"snapshot: it holds seq {since}, this database only {head}"
                log.warning(
                    "%s holds seq %d of epoch %s but this database's head is %d: the database is behind what clients saw (a copy made with cp, or an old restore?); sending a snapshot",
                    user.name, since, self.store.epoch, head,
                )  # fmt: skip
            elif since is not None and resume and since > 0 and hello.digest is not None:
                held = await self.store.event_at(since)
                if held is None or event_digest(held) != hello.digest:
                    resume, why = False, f"snapshot: its event {since} is not this database's"
                    log.warning(
                        "%s holds a different event at seq %d of epoch %s (digest %s): another copy of the history; sending a snapshot",
                        user.name,
                        since,
                        self.store.epoch,
                        hello.digest,
                    )
            if since is not None and resume:
                backlog = batch_frames(encode(event) for event in await self.store.events_since(since))
                frames += backlog
            else:
                frames.append(encode(self._snapshot()))
            subscriber = Subscriber(connection, self.settings.client_queue_frames, token_hash, user.name)
            self.hub.add(subscriber, frames)
        log.info("%s (%s, %s) connected from %s, %s", user.name, user.role, user.agency, address, f"resuming after {hello.since}" if resume else why)
        return user, token_hash

    def _snapshot(self) -> Snapshot:
        now = self.clock()
        return Snapshot(
            epoch=self.store.epoch,
            seq=self.state.seq,
            stages=stage_rows(self.state, self.rules.stage_totals, self.store.created),  # in config order, untouched ones at zero
            incidents=[i for i in self.state.incidents.values() if in_snapshot(i, now)],
            digest=self.head_digest,
        )

    async def _serve_commands(self, connection: ServerConnection, user: User, token_hash: str) -> None:
        rate = self.settings.rate_for(user.role)
        limit = TokenBucket(rate, rate * 4)  # bursts up to 4x the rate
        bad_frames: deque[float] = deque()
        limited_since, limited_more = -1.0, 0
        async for frame in connection:
            started = time.perf_counter()
            self._used[token_hash] = format_ts(self.clock())
            try:
                message = decode_client(frame)
            except BadMessage as exc:
                now = time.monotonic()
                bad_frames.append(now)
                while bad_frames and bad_frames[0] < now - 60:
                    bad_frames.popleft()
                if exc.command_id is not None:
                    invalid = Result(id=exc.command_id, ok=False, code="invalid", message=str(exc), reason=exc.reason, params=exc.params)
                    self._audit(user, None, _frame_type(frame), "invalid", result=invalid)
                    self._answer(connection, invalid, "unknown", started)
                else:
                    log.info("bad message from %s (%s): %s", user.name, _address(connection), exc)
                    self.metrics.error("bad_message")
                    self.hub.send(connection, encode(Error(code="bad_message", message=str(exc))))
                if len(bad_frames) > self.settings.bad_frames_per_minute:
                    await asyncio.sleep(0.05)  # let the error frame go out first
                    await connection.close(CLOSE_POLICY, "too many malformed messages")
                    return
                continue
            if isinstance(message, Hello):
                self.metrics.error("bad_message")
                self.hub.send(connection, encode(Error(code="bad_message", message="already greeted: hello is only the first message")))
                continue
            kind = str(message.__struct_config__.tag)
            if not limit.take():
                refusal = Result(
                    id=message.id,
                    ok=False,
                    code="rate_limited",
                    message=f"more than {rate:g} commands a second for a {user.role} token; slow down",
                    reason="rate_limited",
                    params={"rate": rate, "role": user.role},
                )
                # A flood is one line a second, not one per frame.
                now = time.monotonic()
                if now - limited_since >= 1.0:
                    if limited_more:
                        log.info("refused %d more command(s) from %s (%s): rate_limited", limited_more, user.name, user.agency)
                    self._audit(user, message, kind, "rate_limited", result=refusal)
                    limited_since, limited_more = now, 0
                else:
                    limited_more += 1
                self._answer(connection, refusal, kind, started)
                continue
            if isinstance(message, History):
                # Through the writer's queue, so it sees the commands sent before it.
                await self._command(connection, user, message, kind, started)
                continue
            if not isinstance(message, WRITE_COMMANDS):  # pragma: no cover - the union is closed
                continue
            if not user.may_act():
                refusal = Result(
                    id=message.id, ok=False, code="forbidden", message=f"a {user.role} token may only read", reason="read_only", params={"role": user.role}
                )
                self._audit(user, message, kind, "forbidden", result=refusal)
                self._answer(connection, refusal, kind, started)
                continue
            await self._command(connection, user, message, kind, started)

    def _audit(self, user: User, command: Any, kind: str, outcome: str, *, seq: int | None = None, result: Result | None = None) -> None:
        """One line per command carried out or refused: who (name, agency, role;
        the token is named after the person), what, on which incident or
        regency, and how it ended."""
        incident = getattr(command, "incident", None)
        regency = getattr(command, "regency", None)
        parts = [kind]
        if isinstance(incident, int):
            known = self.state.incidents.get(incident)
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

    def _answer(self, connection: ServerConnection, result: Result, kind: str, started: float) -> None:
        self._reply(connection, encode(result), kind, "ok" if result.ok else (result.code or "error"), started)

    def _reply(self, connection: ServerConnection, frame: bytes, kind: str, outcome: str, started: float) -> None:
        """Send an encoded answer and count it: `outcome` is "ok", "repeat" or the refusal code."""
        self.metrics.command(kind, outcome, time.perf_counter() - started)
        if outcome not in ("ok", "repeat"):
            self.metrics.error(outcome)
        self.hub.send(connection, frame)

    def _unavailable(self, batch: Sequence[_Pending | Decision], exc: Exception) -> None:
        """Tell every command of a batch that was not saved that nothing changed."""
        problem = describe_write_failure(exc)
        self._trouble(problem)
        message = f"the server could not save this command ({problem.removeprefix('could not save: ')}); nothing was changed, send it again"
        for item in batch:
            if isinstance(item, _Pending):
                result = Result(id=item.command.id, ok=False, code="unavailable", message=message, reason="unavailable", params={"problem": problem})
                self._audit(item.user, item.command, item.kind, "unavailable", result=result)
                self._answer(item.connection, result, item.kind, item.started)

    def _trouble(self, problem: str | None) -> None:
        """Writes started or stopped failing: say so once, to the log and every client."""
        if problem == self.problem:
            return
        if problem is None:
            log.warning("writing works again (was: %s)", self.problem)
        else:
            log.error("cannot write the database %s: %s; commands are answered unavailable until it clears", self.store.location, problem)
        self.problem = problem
        self.hub.announce(encode(Status(problem=problem)))
        if problem is not None and (self._probe is None or self._probe.done()):
            self._probe = asyncio.create_task(self._probe_loop(), name="write-probe")

    async def _probe_loop(self) -> None:
        """While writes fail, try a small one every few seconds, so the server
        says it is well again without waiting for the next command."""
        while self.problem is not None:
            await asyncio.sleep(PROBE_SECONDS)
            async with self.lock:
                if self.problem is None:
                    return
                try:
                    await self.store.probe()
                except Exception as exc:
                    self._trouble(describe_write_failure(exc))
                else:
                    self._trouble(None)

    async def _history(self, connection: ServerConnection, message: History, started: float) -> None:
        if message.incident not in self.state.incidents:
            refusal = Result(
                id=message.id, ok=False, code="not_found", message=f"no incident {message.incident}", reason="not_found", params={"incident": message.incident}
            )
            self._answer(connection, refusal, "history", started)
            return
        events = await self.store.incident_events(message.incident)
        self._answer(connection, Result(id=message.id, ok=True, incident=message.incident, events=events), "history", started)

    async def _command(self, connection: ServerConnection, user: User, command: Any, kind: str, started: float) -> None:
        """Queue a command for the writer; its answer comes back through the hub, in order."""
        self._inbox.put_nowait(_Pending(connection, user, command, kind, started))

    async def _writer(self) -> None:
        """Group commit: every command waiting is decided in order and committed
        in one transaction, so the disk sync is paid once per batch, not per command."""
        carry: _Pending | None = None
        while True:
            first, carry = carry or await self._inbox.get(), None
            if isinstance(first.command, History):
                # A read: answered once every write queued before it is committed.
                try:
                    await self._history(first.connection, first.command, first.started)
                except Exception as exc:
                    log.exception("history failed")
                    refusal = Result(
                        id=first.command.id,
                        ok=False,
                        code="unavailable",
                        message=f"the server could not read the history ({type(exc).__name__})",
                        reason="unavailable",
                        params={"problem": f"could not read ({type(exc).__name__})"},
                    )
                    self._answer(first.connection, refusal, first.kind, first.started)
                continue
            batch = [first]
            while not self._inbox.empty() and len(batch) < WRITE_BATCH_MAX:
                item = self._inbox.get_nowait()
                if isinstance(item.command, History):
                    carry = item  # the batch ends here; the read comes after it
                    break
                batch.append(item)
            async with self.lock:
                try:
                    await self._write(batch)
                except Exception as exc:
                    # The writer must outlive any failure: if it died, every
                    # later command would wait for ever. (_write answers its own
                    # failures; this is for a bug in it.)
                    log.exception("write failed; %d command(s) not applied", len(batch))
                    self._unavailable(batch, exc)

    def _wake_follower(self, head: int | None) -> None:
        """From the listening connection: a commit up to `head` (None: look anyway)."""
        if head is None or head > self.state.seq:
            self._behind.set()

    async def _follow_loop(self) -> None:
        """Read what other replicas committed, by seq, into the state and to this replica's clients."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FOLLOW_POLL_SECONDS):  # not wait_for: on 3.11 it can swallow a cancel
                    await self._behind.wait()
            self._behind.clear()
            try:
                await self.catch_up()
            except Exception as exc:  # the database away for a moment: the next round tries again
                log.warning("could not read other replicas' commits: %s: %s", type(exc).__name__, exc)
                await asyncio.sleep(0.5)
                self._behind.set()

    async def catch_up(self) -> int:
        """Fold every event committed past this replica's head; how many."""
        async with self.lock:
            return await self._catch_up_locked()

    async def _catch_up_locked(self) -> int:
        total = 0
        while True:
            events = await self.store.events_since(self.state.seq, CATCH_UP_BATCH)
            self._fold(events)
            total += len(events)
            if len(events) < CATCH_UP_BATCH:
                return total

    def _fold(self, events: list[Event]) -> None:
        """Events other replicas committed (in seq order, right after our head):
        into the state, and out to this replica's clients like its own."""
        if not events:
            return
        if events[0].seq != self.state.seq + 1:
            raise RuntimeError(f"seq {events[0].seq} does not follow this replica's head {self.state.seq}")
        for event in events:
            apply(self.state, event)
        self.head_digest = event_digest(events[-1])
        self.metrics.events_followed += len(events)
        self.hub.publish([encode(event) for event in events])

    async def _timer_lock_loop(self) -> None:
        """Keep asking for the timer lock: free (its holder died or stopped), it is
        taken within TIMER_LOCK_SECONDS; held, its connection is checked."""
        store = self.replicated
        assert store is not None
        while True:
            await asyncio.sleep(TIMER_LOCK_SECONDS)
            try:
                held = await store.hold_timers()
            except Exception:  # never the end of the loop (and of the timers): the next round asks again
                log.exception("could not check the timer lock")
                held = False
            if held != self.holds_timers:
                self.holds_timers = held
                if held:
                    log.warning("replica %s runs the timers now (escalations, snooze wake-ups, token changes, reports)", self.replica_name)
                    self._timers_due.set()
                else:
                    log.warning("replica %s no longer holds the timer lock: another replica runs the timers", self.replica_name)

    async def _write(self, batch: Sequence[_Pending | Decision], *, planner: Planner | None = None) -> list[Event]:
        """Decide, number, commit, then answer and broadcast; returns the events
        committed (none if the batch was not saved: its commands are told so).
        Call with the lock held.

        The batch runs under the store's write lock (server.store.api.writing):
        on PostgreSQL, what other replicas committed since our head is folded
        first, so every rule (a conflicting ack, a repeated command id, a due
        escalation) decides on the latest state. `planner` makes the system's
        decisions from that state, with the ids of the token changes they log."""
        now = self.clock()
        ts = format_ts(now)
        items: list[_Pending | Decision] = list(batch)
        events: list[tuple[Event, int | None, str | None]] = []
        records: list[CommandRecord] = []
        replies: list[tuple[ServerConnection, bytes, str, str, float]] = []
        attempts: list[Attempt] = []
        audits: list[tuple[_Pending, str, int | None, Result | None]] = []
        trial = self.state
        try:
            async with writing(self.store, self.state.seq) as pending_batch:
                self._fold(pending_batch.missed)
                change_ids: list[int] = []
                if planner is not None:
                    planned, change_ids = await planner(self.state, pending_batch)
                    items += planned
                # Decide against a fork: memory changes only once the disk has.
                trial = self.state.fork()
                keys = [(p.user.name, p.command.id) for p in items if isinstance(p, _Pending)]
                answered = await pending_batch.command_results(keys) if keys else {}
                touched_incidents: set[int] = set()
                touched_stages: set[tuple[str, str]] = set()
                for item in items:
                    if isinstance(item, Decision):
                        decision, actor, pending = item, SYSTEM, None
                    else:
                        pending, actor = item, item.user.actor
                        key = (pending.user.name, pending.command.id)
                        if key in answered:
                            replies.append((pending.connection, _as_repeat(answered[key]), pending.kind, "repeat", pending.started))
                            audits.append((pending, "repeat", None, None))
                            continue
                        try:
                            decision = decide(trial, pending.command, actor, pending.user.regencies, now, self.rules)
                        except DomainError as exc:
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
                            replies.append((pending.connection, encode(result), pending.kind, exc.code, pending.started))
                            audits.append((pending, exc.code, None, result))
                            if self.exercise is not None:
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
                    apply(trial, event)
                    events.append((event, decision.incident, decision.regency))
                    if isinstance(decision.payload, StageUpdated):
                        touched_stages.add((decision.payload.regency, decision.payload.stage))
                    else:
                        touched_incidents.update(touches(decision.payload))  # a merge: the one merged into gains its reports
                    if pending is not None:
                        duplicate = isinstance(decision.payload, IncidentDuplicate)
                        frame = encode(Result(id=pending.command.id, ok=True, seq=event.seq, incident=decision.incident, duplicate=duplicate))
                        answered[(pending.user.name, pending.command.id)] = frame
                        records.append(CommandRecord(pending.user.name, pending.command.id, frame))
                        replies.append((pending.connection, frame, pending.kind, "ok", pending.started))
                        audits.append((pending, "ok", event.seq, Result(id=pending.command.id, ok=True, seq=event.seq, incident=decision.incident)))
                if events:
                    await pending_batch.commit(
                        WriteBatch(
                            events,
                            incidents=[trial.incidents[i] for i in touched_incidents],
                            stages=[trial.stages[k] for k in touched_stages],
                            commands=records,
                            token_changes=change_ids,
                        )
                    )
        except Exception as exc:
            commands = sum(1 for item in items if isinstance(item, _Pending))
            if _expected_write_error(exc):
                log.error("commit failed; %d command(s) not applied: %s", commands, exc)  # expected trouble: no traceback
            else:
                log.exception("commit failed; %d command(s) not applied", commands)
            self._unavailable(items, exc)
            return []
        if events:
            self.state = trial
            self.metrics.events_total += len(events)
            self._trouble(None)
            self.head_digest = event_digest(events[-1][0])
            if self.on_commit is not None:
                self.on_commit(self.store.epoch, self.state.seq, self.head_digest)
        if attempts:
            try:
                await self.store.record_attempts(attempts)
            except Exception:  # the trainees' refusals are for the report: never worth a lost answer
                log.exception("could not record %d refused attempt(s)", len(attempts))
        for done, outcome, seq, answer in audits:  # once committed: an "ok" line is a promise kept
            self._audit(done.user, done.command, done.kind, outcome, seq=seq, result=answer)
        for connection, frame, kind, outcome, started in replies:
            self._reply(connection, frame, kind, outcome, started)
        if events:
            self.hub.publish([encode(event) for event, _, _ in events])
        return [event for event, _, _ in events]

    # --- background -----------------------------------------------------------------

    @property
    def deadline_check_seconds(self) -> float:
        """How often deadlines are checked: on scenario time, as often in scenario seconds as on a real night (within reason)."""
        every = self.settings.escalation_check_seconds
        if self.exercise is None:
            return every
        return min(every, max(0.1, every / self.exercise.settings.speed))

    async def check_deadlines(self) -> int:
        """End every snooze that has run out, and escalate every incident left
        unacknowledged past its deadline; returns how many escalations."""
        async with self.lock:
            now = self.clock()
            wakeups: list[Decision] = []
            decisions: list[Decision] = []

            async def plan(state: State, _batch: Writer) -> tuple[list[Decision], list[int]]:
                # Decided again under the write lock, on the state with every
                # other replica's commits folded in: an escalation another
                # replica already wrote is not due any more, so none is written twice.
                # Escalations are decided on the state before the wake-ups: a snooze
                # that ends now restarts the deadline, it does not escalate at once.
                wakeups[:] = due_wakeups(state, now, self.rules)
                decisions[:] = due_escalations(state, now, self.rules)
                return [*wakeups, *decisions], []

            if due_wakeups(self.state, now, self.rules) or due_escalations(self.state, now, self.rules):
                if not await self._write([], planner=plan):
                    return 0
                for wakeup in wakeups:
                    log.info("woke incident #%s (regency %s): its snooze ran out", wakeup.incident, wakeup.regency)
                for decision in decisions:
                    incident = self.state.incidents.get(decision.incident or -1)
                    severity = incident.severity if incident is not None else "?"
                    log.info(
                        "escalated incident #%s (regency %s, %s) to level %s: not acknowledged by its deadline",
                        decision.incident, decision.regency, severity, getattr(decision.payload, "level", "?"),
                        extra={"audit": {"who": "system", "command": "escalate", "incident": decision.incident, "regency": decision.regency, "outcome": "ok", "seq": self.state.seq}},
                    )  # fmt: skip
            return len(decisions)

    async def _escalation_loop(self) -> None:
        while True:
            if self.holds_timers:  # one replica runs the timers (always this one on SQLite)
                try:
                    await self.check_deadlines()
                except Exception:  # a failed check must not end the loop; the next one retries
                    log.exception("deadline check failed")
            self._timers_due.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.deadline_check_seconds):  # not wait_for: on 3.11 it can swallow a cancel
                    await self._timers_due.wait()

    async def write_sitrep(self) -> list[Path]:
        """Write a situation report in every configured format into [sitrep] folder,
        covering what happened since the last one there; returns the files."""
        from opsmon.reports.sitrep import Ledger, build, render

        ledger = Ledger(self.config.sitrep_folder())
        last = ledger.last()
        same_epoch = last is not None and last.epoch == self.store.epoch
        events = await self.store.events_since(last.seq if last is not None and same_epoch else 0)
        seq = self.state.seq
        doc = build(
            self._config_info,
            self.state,
            events,
            now=self.clock(),
            since=parse_ts(last.at) if last is not None and same_epoch else None,
            number=ledger.next_number(),
            by="opsmon-server",
            post=self.config.sitrep.post,
        )
        formats, lang = self.config.sitrep.formats, self.config.province.language

        def write() -> list[Path]:
            # Off the event loop: a PDF takes a moment, and commands must not wait for it.
            shape = province_shape(self.config.province.boundaries) if "pdf" in formats else None
            return ledger.write(doc, {fmt: render(doc, fmt, lang, shape=shape) for fmt in formats}, seq=seq, epoch=self.store.epoch)

        paths = await asyncio.to_thread(write)
        log.info("situation report No. %d written: %s", doc["number"], ", ".join(str(p) for p in paths))
        return paths

    async def _sitrep_loop(self) -> None:
        every = self.config.sitrep.every_minutes * 60
        while True:
            # On the clock: every 60 minutes is at :00, every 30 at :00 and :30.
            await asyncio.sleep(every - self.clock().timestamp() % every)
            if not self.holds_timers:  # another replica writes this one
                continue
            try:
                await self.write_sitrep()
            except Exception:  # a report that failed (a full disk) must not stop the next one
                log.exception("situation report failed")

    async def _revocation_loop(self) -> None:
        """Tokens are added and revoked by `opsmon-server token`, another process,
        and expire on their own: look every second, close what was opened with a
        token no longer good, write the changes into the event log, and save
        when each token was last used."""
        while True:
            await asyncio.sleep(REVOCATION_CHECK_SECONDS)
            try:
                await self.check_tokens()
            except Exception:
                log.exception("token check failed")

    async def check_tokens(self) -> None:
        alive = await self.store.active_token_hashes(format_ts(self.clock()))
        for subscriber in self.hub.by_token(alive):
            record = await self.store.token_by_hash(subscriber.token_hash)
            if record is not None and record.revoked is None and record.expires is not None:
                why = f"token expired at {local_time(record.expires, self.config.province.tz)}"
            else:
                why = "token revoked"
            log.info("closing %s's connection from %s: %s", subscriber.user, _address(subscriber.connection), why)
            with contextlib.suppress(ConnectionClosed):
                await subscriber.connection.send(encode(Error(code="unauthorized", message=why)), text=True)
                await subscriber.connection.close(CLOSE_POLICY, why)
            await self.hub.remove(subscriber.connection)
        if self.holds_timers:
            await self._log_token_changes()
        if self._used:
            used, self._used = self._used, {}
            async with self.lock:
                await self.store.touch_tokens(used)

    @property
    def backup_folder(self) -> Path:
        return Path(config_relative(self.config, self.settings.backup_dir))

    async def backup_now(self) -> BackupInfo | None:
        """One rotating backup into [server] backup_dir, the oldest beyond
        backup_keep removed. Taken from a connection of its own (SQLite's backup
        API) in a thread, so writes go on meanwhile. None if it failed (logged)."""
        if self.store.backend != "sqlite":
            log.error("backup: %s", PG_DUMP_HINT)
            return None
        source = sqlite_path(self.store.location)
        folder = self.backup_folder
        stamp = utc_now().strftime("%Y%m%dT%H%M%SZ")
        target = folder / f"{source.stem}-{stamp}-seq{self.state.seq:08d}.db"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if target.exists():  # two in the same second at the same seq: the same copy
                return None
            info = await asyncio.to_thread(backup_database, source, target)
        except (BackupError, OSError) as exc:
            log.error("backup failed: %s", exc)
            return None
        removed = rotate(folder, source.stem, self.settings.backup_keep)
        log.info(
            "backup written: %s (seq %d, %d KiB, %.2f s)%s",
            info.path, info.seq, info.bytes // 1024, info.seconds, f"; removed {len(removed)} older: {', '.join(p.name for p in removed)}" if removed else "",
        )  # fmt: skip
        return info

    async def _backup_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.backup_every_minutes * 60)
            try:
                await self.backup_now()
            except Exception:  # the next round tries again
                log.exception("backup failed")

    async def _log_token_changes(self) -> None:
        """Token added, revoked, expired: each an event in the log (kind
        `token.added` etc., by `system`; never the secret or its hash)."""
        # Under the lock: reading and marking the changes must not interleave with
        # a write (one connection), nor two rounds log one change twice.
        async with self.lock:
            changes: list[TokenChange] = []
            now = format_ts(self.clock())

            async def plan(_state: State, batch: Writer) -> tuple[list[Decision], list[int]]:
                # Read in the write batch: on PostgreSQL under the seq lock, so two replicas never log one change twice.
                changes[:] = await batch.token_changes(now)
                return [Decision(msgspec.convert({**c.body, "at": c.ts}, PAYLOAD_TYPES[f"token.{c.change}"])) for c in changes], [c.id for c in changes]

            if not await self._write([], planner=plan):  # nothing to log, or not saved (logged as such): the next round tries again
                return
        for change in changes:
            log.info("token %s: %s%s", change.change, change.name, _token_change_detail(change.body))


def _token_change_detail(body: dict[str, Any]) -> str:
    parts = [f"{key} {body[key]}" for key in ("role", "agency", "expires", "by") if body.get(key)]
    if body.get("regencies"):
        parts.append("regencies " + ",".join(body["regencies"]))
    return f" ({', '.join(parts)})" if parts else ""


def _frame_type(frame: str | bytes) -> str:
    """The `type` of a frame that did not decode, for the log ("unknown" if it has none)."""
    try:
        body = json.loads(frame)
    except ValueError:
        return "unknown"
    kind = body.get("type") if isinstance(body, dict) else None
    return kind if isinstance(kind, str) and kind.isidentifier() and len(kind) <= 32 else "unknown"


def _address(connection: ServerConnection) -> str:
    """The peer's IP address (no port): what the per-address limit counts."""
    remote = connection.remote_address
    return str(remote[0]) if remote else "unknown"


async def run(
    config: Config,
    database: str,
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    accept_config_change: bool = False,
    exercise: ExerciseSettings | None = None,
    replica_name: str | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT, then close connections (1001) and the database.

    SQLite: holds the database's lock file for its whole life, so a second
    server on the same file stops at once (raises LockError naming the first).
    PostgreSQL: any number of servers may serve one database (replicas); each
    holds the database's advisory lock shared, so migrate, reset and copy wait
    until every one has stopped (StoreError if one of those is running)."""
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: None if stop.done() else stop.set_result(None))
    # The lock file is SQLite's; PostgreSQL replicas share the store's advisory lock (shared=True).
    lock = DatabaseLock(sqlite_path(database)) if backend_of(database) == "sqlite" else None
    if lock is not None:
        lock.acquire("serve")
    try:
        async with open_store(database, synchronous=config.server.synchronous, check_writable=True, shared=lock is None) as store:
            if store.migration_backup is not None:
                log.warning(
                    "migrated %s to schema version %s; the file as it was is kept at %s",
                    store.location,
                    await store.get_meta("schema_version"),
                    store.migration_backup,
                )
            if lock is not None:
                await _check_identity(store, lock)
            running = await prepare(store, exercise)
            server = OpsmonServer(config, store, ssl_context=ssl_context, exercise=running)
            server.accept_config_change = accept_config_change
            server.replica_name = replica_name
            if lock is not None:
                held = lock
                server.on_commit = lambda epoch, seq, digest: held.update(epoch=epoch, seq=seq, digest=digest)
            await server.start(host, port)
            if lock is not None:
                lock.update(port=server.port, host=host, epoch=store.epoch, seq=server.state.seq, digest=server.head_digest)
            tokens = len(await store.active_token_hashes())
            if tokens == 0:
                log.warning("0 tokens: add one with opsmon-server token add NAME --role officer --agency KPU --config ... (same database: %s)", store.location)
            else:
                log.info("%d active token(s) in %s", tokens, store.location)
            scheme = "wss" if ssl_context is not None else "ws"
            replica = f", replica {server.replica_name}{', runs the timers' if server.holds_timers else ''}" if lock is None else ""
            print(
                f"opsmon-server: listening on {scheme}://{host}:{server.port}/ws (database {store.location}, epoch {store.epoch}, seq {server.state.seq}, {tokens} token{'' if tokens == 1 else 's'}{replica})",
                flush=True,
            )
            if running is not None:
                moment = running.clock().astimezone(config.province.tz)
                print(
                    f"opsmon-server: LATIHAN {running.settings.name!r}: scenario time {moment:%d %b %H:%M} {config.province.timezone_name} at x{running.settings.speed:g}; deadlines run on it",
                    flush=True,
                )
            await stop
            log.info("shutting down")
            await server.close()
    finally:
        if lock is not None:
            lock.release()
    print("opsmon-server: stopped cleanly", flush=True)


async def _check_identity(store: EventStore, lock: DatabaseLock) -> None:
    """A database that is behind what a server last wrote to this path, or that
    holds another event at that seq, was replaced (a restore, a copy): its
    history may diverge from what clients saw, so it gets a new epoch."""
    previous = lock.previous
    if previous.get("epoch") != store.epoch or not isinstance(previous.get("seq"), int):
        return
    seen, head = int(previous["seq"]), await store.head()
    if seen > head:
        why = f"its head is seq {head} but a server here last wrote seq {seen} of epoch {store.epoch}"
    elif seen > 0:
        held = await store.event_at(seen)
        if held is None or event_digest(held) == previous.get("digest"):
            return
        why = f"its event at seq {seen} is not the one a server here last wrote"
    else:
        return
    old = store.epoch
    epoch = await store.new_epoch(f"replaced: {why}")
    log.warning("%s was replaced (restored or copied): %s; new epoch %s (was %s), so every client takes a snapshot", store.location, why, epoch, old)
