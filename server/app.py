"""opsmon-server: one province's server, composed of its parts by concern:
server.connections (the handshake, per-connection counts), server.writer (the
command path, group commit, audit lines), server.follower (other replicas'
commits), server.http (/healthz, /metrics, the Origin check) and
server.timers (escalations and wake-ups, token sweep, reports, backups, the
write probe, the timer lock). This module starts and stops them, and `run`
serves a database until a signal.

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
import logging
import signal
import socket
import ssl
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from websockets.asyncio.server import Server, serve

from opsmon.core.clock import format_ts, parse_ts, utc_now
from opsmon.core.config import Config
from opsmon.core.domain import Decision
from opsmon.core.events import StageUpdated
from opsmon.core.protocol import MAX_FRAME_BYTES, Event, RosterInfo, Status
from opsmon.core.state import Rules, State, stage_status
from opsmon.core.view import window_closes
from opsmon.core.wire import encode, event_digest
from opsmon.training.exercise import on_calendar
from server.connections import Connections, gated
from server.drift import compare, refuse, remember
from server.exercise import Attendance, Exercise, ExerciseSettings, exercise_rules, prepare, roster_line
from server.follower import Follower
from server.gctune import tune
from server.hooks import Hooks
from server.http import Http
from server.hub import Hub
from server.lock import DatabaseLock
from server.metrics import Metrics
from server.notify import Notifier, load_channels
from server.pages import QueueIndex
from server.store.api import MOVED_KEY, EventStore, StoreError, Transaction, backend_of, sqlite_path
from server.store.backends import open_store
from server.timers import Backups, DatabaseWatch, Deadlines, ServeLease, SitrepSchedule, TimerLock, TokenSweep, WriteProbe
from server.writer import Writer

if TYPE_CHECKING:
    from server.store.postgres import PostgresStore

log = logging.getLogger("opsmon.server")

Clock = Callable[[], datetime]

# Sockets accepted per turn of the event loop, and the kernel's queue of
# connections waiting to be accepted (capped by net.core.somaxconn).
ACCEPTS_PER_TURN = 16
LISTEN_QUEUE = 1024


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
        # Tokens live in real time, an exercise or not: `token add --expires` names a moment of
        # the real day, and `token list`'s last use is one (a 2024 scenario would never reach it).
        self.wall_clock: Clock = exercise.clock.base if exercise is not None else clock
        self.rules = exercise_rules(Rules.from_config(config), exercise)
        self.settings = config.server
        self.state = State()
        # Paged snapshots' first page and counts, kept in step with the state (server/pages.py).
        self.queue = QueueIndex()
        self.hub = Hub(self.settings.broadcast_max_delay_ms / 1000)
        self.metrics = Metrics(self)
        self.lock = asyncio.Lock()
        # An exercise's panels judge the stage windows on its scenario's calendar.
        self.config_info = on_calendar(config.info(), exercise.settings.start) if exercise is not None else config.info()
        self._server: Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # The event at state.seq (None at seq 0) and its event_digest once something asked:
        # a snapshot, the lock file (at most once a second), not every commit.
        self._head: Event | None = None
        self._head_digest: str | None = None
        # Called after every commit: the lock file remembers (epoch, seq, head_digest).
        self.on_commit: Callable[[], None] | None = None
        # Why writes fail right now (a full or read-only disk), or None: what
        # /healthz, the welcome and `status` frames report.
        self.problem: str | None = None
        # An exercise's expected trainees against who is connected (said on change, in `status`).
        self.attendance: Attendance | None = None
        # --accept-config-change: serve even if the config drops a regency with history.
        self.accept_config_change = False
        # Replicas (PostgreSQL): this one's name in /healthz, /metrics and the
        # log (default host:port); whether it runs the timers (always, on SQLite).
        self.replica_name: str | None = None
        self.holds_timers = store.backend != "postgresql"
        # Its parts, by concern: each holds this server for the state they share.
        self.connections = Connections(self)
        self.writer = Writer(self)
        self.hub.commands_waiting = self.writer.waiting
        self.follower = Follower(self)
        self.http = Http(self)
        self.deadlines = Deadlines(self)
        self.sitreps = SitrepSchedule(self)
        self.tokens = TokenSweep(self)
        self.backups = Backups(self)
        self.probe = WriteProbe(self)
        self.timer_lock = TimerLock(self)
        self.database_watch = DatabaseWatch(self)
        self.lease = ServeLease(self)
        self.notifier = Notifier(self)
        self.hooks = Hooks(self)

    @property
    def replicated(self) -> PostgresStore | None:
        """The store, if other replicas may write it too (PostgreSQL)."""
        if self.store.backend != "postgresql":
            return None
        from server.store.postgres import PostgresStore

        assert isinstance(self.store, PostgresStore)
        return self.store

    # --- life cycle -------------------------------------------------------------

    def set_head(self, event: Event | None) -> None:
        """The event now at state.seq; its digest is computed when first asked for."""
        self._head, self._head_digest = event, None

    @property
    def head_digest(self) -> str | None:
        """event_digest of the event at state.seq (None at seq 0)."""
        if self._head_digest is None and self._head is not None:
            self._head_digest = event_digest(self._head)
        return self._head_digest

    async def start(self, host: str | None = None, port: int | None = None) -> None:
        # The people's channels (secrets, read from their files): a bad one stops the start (ConfigError).
        self.notifier.channels = load_channels(self.config)
        self.state = await self.store.load_state()
        self.queue.build(self.state)
        if self.exercise is not None:
            self.state.exercise_state = self.exercise.state  # the tables keep incidents and stages; the clock is in meta
            self.attendance = await Attendance.load(self.store, self.exercise.settings)
        # Histories and resumes are read on a connection of their own, beside the writer's.
        await self.store.open_reader()
        if self.replicated is not None:
            self.holds_timers = await self.replicated.hold_timers()
        self.set_head(await self.store.event_at(self.state.seq) if self.state.seq else None)
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
                await self.writer.write([Decision(drift.event_data())])
            log.warning("config change accepted by %s: %s", drift.event_data().by, "; ".join(drift.lines))
        await remember(self.store, self.config, drift)
        if self.holds_timers:
            await self.tokens.log_changes()  # made while the server was down
        self._server = await serve(
            self.connections.handle,
            host if host is not None else self.settings.host,
            port if port is not None else self.settings.port,
            process_request=self.http.respond,
            max_size=MAX_FRAME_BYTES,
            ping_interval=self.settings.ping_interval_seconds,
            ping_timeout=self.settings.ping_timeout_seconds,
            # Declined unless configured: compressing every frame once per
            # connection costs more than a LAN saves (docs/deploy.md, "Fan-out and compression").
            compression="deflate" if self.settings.compression == "deflate" else None,
            close_timeout=5,
            ssl=self.ssl_context,
            # Counted from TCP accept; the handshake (TLS included) must end within this.
            create_connection=gated(self.connections),
            open_timeout=self.settings.handshake_timeout_seconds,
            # asyncio takes at most `backlog` sockets off the listen queue per turn of
            # the loop: a flood of connects waits its turn in the kernel, not in front
            # of the commands already connected (the queue itself is made longer below).
            backlog=ACCEPTS_PER_TURN,
        )
        for listening in self._server.sockets:
            with listening.dup() as sock:  # the same socket: a reconnect storm still finds room
                sock.listen(LISTEN_QUEUE)
        if self.replica_name is None:
            self.replica_name = f"{socket.gethostname()}:{self.port}"
        if self.replicated is not None:
            await self.lease.check()  # its heartbeat lease (what reset and migrate check), from the start
        self._tasks = [
            asyncio.create_task(self.writer.run(), name="writer"),
            asyncio.create_task(self.deadlines.run(), name="escalations"),
            asyncio.create_task(self.tokens.run(), name="revocations"),
        ]
        if self.replicated is not None:
            self._tasks += [
                asyncio.create_task(self.replicated.follow(self.follower.wake), name="listen"),
                asyncio.create_task(self.follower.run(), name="follow"),
                asyncio.create_task(self.timer_lock.run(), name="timer-lock"),
                asyncio.create_task(self.database_watch.run(), name="database-watch"),
                asyncio.create_task(self.lease.run(), name="lease"),
            ]
        if self.notifier.active:
            self._tasks.append(asyncio.create_task(self.notifier.run(), name="notifications"))
        if self.config.sitrep.every_minutes > 0:
            self._tasks.append(asyncio.create_task(self.sitreps.run(), name="sitreps"))
        if self.settings.backup_dir:
            self._tasks.append(asyncio.create_task(self.backups.run(), name="backups"))
        self._warn_past_windows()
        log.info(
            "listening on %s, epoch %s, seq %d%s",
            ", ".join(self.addresses), self.store.epoch, self.state.seq,
            f", replica {self.replica_name} ({'runs the timers' if self.holds_timers else 'another replica runs the timers'})" if self.replicated is not None else "",
        )  # fmt: skip

    def roster(self, joining: str | None = None) -> RosterInfo | None:
        """Who of an exercise's expected trainees is not connected (with `joining`, about to be)."""
        if self.attendance is None:
            return None
        return self.attendance.info(self.hub.connected_names() | ({joining} if joining else set()))

    async def reload_roster(self) -> None:
        """Tokens were added or revoked: the expected trainees again (a --roster stays as it is), said if that changes who is absent."""
        if self.attendance is None or self.exercise is None or self.exercise.settings.roster:
            return
        last = self.attendance.last
        self.attendance = await Attendance.load(self.store, self.exercise.settings)
        self.attendance.last = last
        self.roster_moved()

    def roster_moved(self) -> None:
        """A connection came or went: if who of the expected is absent changed, every client hears it (a `status`)."""
        if self.attendance is None:
            return
        changed = self.attendance.changed(self.hub.connected_names())
        if changed is not None:
            self.hub.announce(encode(Status(problem=self.problem, roster=changed)))

    async def exercise_moved(self, state: str, ts: str) -> None:
        """The trainer paused, resumed or ended the exercise (an `exercise.clock` event
        just committed): the clock stands still or runs on from the event's scenario time."""
        if self.exercise is None:
            return
        self.exercise = self.exercise.moved(state, parse_ts(ts))
        self.clock = self.exercise.clock
        await self.exercise.remember(self.store)
        self.deadlines.due.set()  # a resumed clock's deadlines are checked at once
        log.info("exercise %s: %s at scenario time %s", self.exercise.settings.name, state, ts)

    def _warn_past_windows(self) -> None:
        """A real night whose every stage window closed weeks ago is served with last
        election's schedule: every panel would say late. Say so once, at start."""
        if self.exercise is not None:
            return
        closes = [end for stage in self.config_info.stages if (end := window_closes(stage)) is not None]
        now = self.clock()
        if closes and max(closes) < now - timedelta(days=30):
            newest = max(closes).astimezone(self.config_info.tz)
            log.warning(
                "every stage window in the config closed by %s: the panels will show every unfinished stage late (!JADWAL); set [[stages]] closes to this election's dates",
                newest.strftime("%d %b %Y"),
            )

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
            if self.probe.task is not None:
                self._tasks.append(self.probe.task)
            self._tasks += self.writer.reads  # histories being read: the store closes after this
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self.hub.drain()  # what was committed goes out before the 1001
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

        async def plan(state: State, _batch: Transaction) -> tuple[list[Decision], list[int]]:
            return changed(state), []  # decided again on the latest state: a replica may have written them

        if changed(self.state):
            async with self.lock:
                await self.writer.write([], planner=plan)


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
            moved = await store.get_meta(MOVED_KEY)
            if moved is not None:
                raise StoreError(
                    f"{store.location} was copied to {moved} (opsmon-server copy) and is not served any more: serve the copy "
                    f"(--db or [server] database); this one holds the same epoch {store.epoch}, so serving both would run two nights under one name"
                )
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
                held, serving = lock, server
                server.on_commit = lambda: held.head_moved(lambda: {"epoch": serving.store.epoch, "seq": serving.state.seq, "digest": serving.head_digest})
            await server.start(host, port)
            if lock is not None:
                lock.update(port=server.port, host=host, epoch=store.epoch, seq=server.state.seq, digest=server.head_digest)
            tokens = len(await store.active_token_hashes())
            if tokens == 0:
                log.warning("0 tokens: add one with opsmon-server token add NAME --role officer --agency KPU --config ... (same database: %s)", store.location)
            else:
                log.info("%d active token(s) in %s", tokens, store.location)
            tune()  # the night is loaded: freeze it out of the collector's way (server/gctune.py)
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
                said = await roster_line(store, running.settings)
                if said is not None:
                    print(f"opsmon-server: {said}", flush=True)
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
