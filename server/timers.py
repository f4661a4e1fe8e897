"""The server's timers, each a small class: `check()` (or `write()`, `now()`)
does one round and is what tests drive; `run()` is the loop the server starts.

On PostgreSQL one replica runs the timers that write (escalations, snooze
wake-ups, token changes, situation reports): the one holding the timer lock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from websockets.exceptions import ConnectionClosed

from opsmon.core.clock import format_ts, parse_ts, utc_now
from opsmon.core.config import config_relative
from opsmon.core.domain import Decision, due_escalations, due_wakeups, number_sitrep
from opsmon.core.events import PAYLOAD_TYPES, SitrepNumbered
from opsmon.core.geo import province_shape
from opsmon.core.protocol import CLOSE_POLICY, Error
from opsmon.core.state import State
from opsmon.core.wire import encode
from server.auth import local_time
from server.backup import BackupError, BackupInfo, backup_database, rotate
from server.connections import peer_address
from server.exercise import record_seen
from server.store.api import LAST_BACKUP_KEY, StoreError, TokenChange, Transaction, sqlite_path
from server.writer import describe_write_failure

if TYPE_CHECKING:
    from server.app import OpsmonServer

log = logging.getLogger("opsmon.server")

REVOCATION_CHECK_SECONDS = 1.0
PROBE_SECONDS = 2.0
# Replicas: how often a replica tries to take (or checks it still holds) the
# timer lock, so a dead holder's timers move within a few seconds.
TIMER_LOCK_SECONDS = 1.0
# Replicas: how often /metrics' look at the database (up, last backup) is refreshed.
DATABASE_WATCH_SECONDS = 5.0
# Replicas: how often each renews its heartbeat lease and checks its serving lock
# and the night's epoch (the lease itself: server.store.postgres.LEASE_SECONDS).
HEARTBEAT_SECONDS = 1.0


class Deadlines:
    """Escalation deadlines and snooze wake-ups: one timer, because a snooze
    that ends restarts its deadline (decided together, in that order)."""

    def __init__(self, server: OpsmonServer) -> None:
        self.server = server
        self.due = asyncio.Event()  # the timer lock was just taken: check at once

    @property
    def every(self) -> float:
        """How often deadlines are checked: on scenario time, as often in scenario seconds as on a real night (within reason)."""
        every = self.server.settings.escalation_check_seconds
        if self.server.exercise is None:
            return every
        return min(every, max(0.1, every / self.server.exercise.settings.speed))

    async def check(self) -> int:
        """End every snooze that has run out, and escalate every incident left
        unacknowledged past its deadline; returns how many escalations."""
        async with self.server.lock:
            now = self.server.clock()
            wakeups: list[Decision] = []
            decisions: list[Decision] = []

            async def plan(state: State, _batch: Transaction) -> tuple[list[Decision], list[int]]:
                # Decided again under the write lock, on the state with every
                # other replica's commits folded in: an escalation another
                # replica already wrote is not due any more, so none is written twice.
                # Escalations are decided on the state before the wake-ups: a snooze
                # that ends now restarts the deadline, it does not escalate at once.
                wakeups[:] = due_wakeups(state, now, self.server.rules)
                decisions[:] = due_escalations(state, now, self.server.rules)
                return [*wakeups, *decisions], []

            if due_wakeups(self.server.state, now, self.server.rules) or due_escalations(self.server.state, now, self.server.rules):
                if not await self.server.writer.write([], planner=plan):
                    return 0
                for wakeup in wakeups:
                    log.info("woke incident #%s (regency %s): its snooze ran out", wakeup.incident, wakeup.regency)
                for decision in decisions:
                    incident = self.server.state.incidents.get(decision.incident or -1)
                    severity = incident.severity if incident is not None else "?"
                    log.info(
                        "escalated incident #%s (regency %s, %s) to level %s: not acknowledged by its deadline",
                        decision.incident, decision.regency, severity, getattr(decision.payload, "level", "?"),
                        extra={"audit": {"who": "system", "command": "escalate", "incident": decision.incident, "regency": decision.regency, "outcome": "ok", "seq": self.server.state.seq}},
                    )  # fmt: skip
            return len(decisions)

    async def run(self) -> None:
        while True:
            if self.server.holds_timers:  # one replica runs the timers (always this one on SQLite)
                try:
                    await self.check()
                except Exception:  # a failed check must not end the loop; the next one retries
                    log.exception("deadline check failed")
            self.due.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.every):  # not wait_for: on 3.11 it can swallow a cancel
                    await self.due.wait()


class SitrepSchedule:
    """A situation report on the clock ([sitrep] every_minutes)."""

    def __init__(self, server: OpsmonServer) -> None:
        self.server = server

    async def write(self) -> list[Path]:
        """Number the post's next situation report (a `sitrep.numbered` event, as
        `opsmon sitrep --save` does: one numbering for the post, wherever its reports
        are written), then save it in every configured format into [sitrep] folder,
        covering its period from the log; returns the files."""
        from opsmon.reports.sitrep import Ledger, build, render

        ledger = Ledger(self.server.config.sitrep_folder())
        formats, lang = self.server.config.sitrep.formats, self.server.config.province.language

        async def plan(state: State, _batch: Transaction) -> tuple[list[Decision], list[int]]:
            return [number_sitrep(state, self.server.clock())], []  # on the latest state: under the seq lock on PostgreSQL

        async with self.server.lock:
            committed = await self.server.writer.write([], planner=plan)
        numbered = next((e for e in committed if isinstance(e.data, SitrepNumbered)), None)
        if numbered is None or not isinstance(numbered.data, SitrepNumbered):
            raise RuntimeError("situation report not numbered: the event log could not be written")
        period = numbered.data
        events = [e for e in await self.server.store.events_since(period.after) if e.seq <= numbered.seq]
        doc = build(
            self.server.config_info,
            self.server.state,
            events,
            now=parse_ts(period.until),
            since=parse_ts(period.since) if period.since is not None else None,
            number=period.number,
            by="opsmon-server",
            post=self.server.config.sitrep.post,
            signatory=self.server.config.sitrep.signature(),
        )

        def write() -> list[Path]:
            # Off the event loop: a PDF takes a moment, and commands must not wait for it.
            shape = province_shape(self.server.config.province.boundaries) if "pdf" in formats else None
            return ledger.keep(doc, {fmt: render(doc, fmt, lang, shape=shape) for fmt in formats}, seq=numbered.seq, epoch=self.server.store.epoch)

        paths = await asyncio.to_thread(write)
        log.info("situation report No. %d written: %s", period.number, ", ".join(str(p) for p in paths))
        return paths

    async def run(self) -> None:
        every = self.server.config.sitrep.every_minutes * 60
        while True:
            # On the clock: every 60 minutes is at :00, every 30 at :00 and :30.
            await asyncio.sleep(every - self.server.clock().timestamp() % every)
            if not self.server.holds_timers:  # another replica writes this one
                continue
            if self.server.exercise is not None and self.server.exercise.state != "running":
                continue  # a paused or ended exercise's clock stands still: nothing new to report
            try:
                await self.write()
            except Exception:  # a report that failed (a full disk) must not stop the next one
                log.exception("situation report failed")


class TokenSweep:
    """Tokens revoked, expired or added by another process: connections closed,
    changes logged as events, last uses saved."""

    def __init__(self, server: OpsmonServer) -> None:
        self.server = server

    async def run(self) -> None:
        """Tokens are added and revoked by `opsmon-server token`, another process,
        and expire on their own: look every second, close what was opened with a
        token no longer good, write the changes into the event log, and save
        when each token was last used."""
        while True:
            await asyncio.sleep(REVOCATION_CHECK_SECONDS)
            try:
                await self.check()
            except Exception:
                log.exception("token check failed")

    async def check(self) -> None:
        alive = await self.server.store.active_token_hashes(format_ts(self.server.wall_clock()))
        for subscriber in self.server.hub.by_token(alive):
            record = await self.server.store.token_by_hash(subscriber.token_hash)
            tz = self.server.config.province.tz
            if record is not None and record.revoked is None and record.expires is not None:
                at = record.expires
                why, reason = f"token expired at {local_time(at, tz)}", "token_expired"
            else:
                at = record.revoked if record is not None and record.revoked else ""
                why, reason = (f"token revoked at {local_time(at, tz)}" if at else "token revoked"), "token_revoked"
            log.info("closing %s's connection from %s: %s", subscriber.user, peer_address(subscriber.connection), why)
            with contextlib.suppress(ConnectionClosed):
                # `at` as every time on the wire (RFC 3339 UTC): the client shows it on its own clock.
                await subscriber.connection.send(encode(Error(code="unauthorized", message=why, reason=reason, params={"at": at})), text=True)
                await subscriber.connection.close(CLOSE_POLICY, why)
            await self.server.hub.remove(subscriber.connection)
        if self.server.holds_timers:
            await self.log_changes()
        if self.server.connections.used:
            used, self.server.connections.used = self.server.connections.used, {}
            async with self.server.lock:
                await self.server.store.touch_tokens(used)
                if self.server.exercise is not None:  # the after-action report tells "never connected" from "did nothing"
                    records = [await self.server.store.token_by_hash(token_hash) for token_hash in used]
                    await record_seen(self.server.store, {r.name for r in records if r is not None})

    async def log_changes(self) -> None:
        """Token added, revoked, expired: each an event in the log (kind
        `token.added` etc., by `system`; never the secret or its hash)."""
        # Under the lock: reading and marking the changes must not interleave with
        # a write (one connection), nor two rounds log one change twice.
        async with self.server.lock:
            changes: list[TokenChange] = []
            now = format_ts(self.server.wall_clock())  # an expiry is a moment of the real day (OpsmonServer.wall_clock)

            async def plan(_state: State, batch: Transaction) -> tuple[list[Decision], list[int]]:
                # Read in the write batch: on PostgreSQL under the seq lock, so two replicas never log one change twice.
                changes[:] = await batch.token_changes(now)
                return [Decision(msgspec.convert({**c.body, "at": c.ts}, PAYLOAD_TYPES[f"token.{c.change}"])) for c in changes], [c.id for c in changes]

            if not await self.server.writer.write([], planner=plan):  # nothing to log, or not saved (logged as such): the next round tries again
                return
        for change in changes:
            log.info("token %s: %s%s", change.change, change.name, _token_change_detail(change.body, self.server.config.province.tz))
        if changes:
            await self.server.reload_roster()  # without --roster, an exercise expects every officer token it has now


def _token_change_detail(body: dict[str, Any], tz: tzinfo) -> str:
    """The change's fields for the log line, its expiry in the province's time (WITA), as every other time there."""
    shown = {**body, "expires": local_time(body["expires"], tz)} if body.get("expires") else body
    parts = [f"{key} {shown[key]}" for key in ("role", "agency", "expires", "by") if shown.get(key)]
    if body.get("regencies"):
        parts.append("regencies " + ",".join(body["regencies"]))
    return f" ({', '.join(parts)})" if parts else ""


class Backups:
    """Rotating backups into [server] backup_dir: SQLite's backup API, or on
    PostgreSQL pg_dump of the schema, taken by the replica that runs the timers."""

    def __init__(self, server: OpsmonServer) -> None:
        self.server = server

    @property
    def folder(self) -> Path:
        return Path(config_relative(self.server.config, self.server.settings.backup_dir))

    async def now(self) -> BackupInfo | None:
        """One rotating backup into [server] backup_dir, the oldest beyond
        backup_keep removed. Taken from a connection of its own (SQLite's backup
        API) in a thread, so writes go on meanwhile. None if it failed (logged)."""
        prefix, suffix = self.prefix
        folder = self.folder
        stamp = utc_now().strftime("%Y%m%dT%H%M%SZ")
        target = folder / f"{prefix}-{stamp}-seq{self.server.state.seq:08d}{suffix}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if target.exists():  # two in the same second at the same seq: the same copy
                return None
            store = self.server.replicated
            if store is not None:
                from server.pgbackup import backup_postgres  # asyncpg's: loaded only for PostgreSQL

                dumped = await backup_postgres(store.dsn, target)  # pg_dump, and the time in the schema's meta
                info = BackupInfo(dumped.path, dumped.seq, dumped.epoch, dumped.bytes, dumped.seconds)
            else:
                info = await asyncio.to_thread(backup_database, sqlite_path(self.server.store.location), target)
        except (BackupError, StoreError, OSError) as exc:
            log.error("backup failed: %s", exc)
            return None
        removed = rotate(folder, prefix, self.server.settings.backup_keep, suffix)
        self.server.metrics.backed_up()
        log.info(
            "backup written: %s (seq %d, %d KiB, %.2f s)%s",
            info.path, info.seq, info.bytes // 1024, info.seconds, f"; removed {len(removed)} older: {', '.join(p.name for p in removed)}" if removed else "",
        )  # fmt: skip
        return info

    @property
    def prefix(self) -> tuple[str, str]:
        """The backups' names: (prefix, suffix). SQLite: the file's stem, `.db`;
        PostgreSQL: the schema's name (`opsmon` for the default one), `.sql`."""
        store = self.server.replicated
        if store is None:
            return sqlite_path(self.server.store.location).stem, ".db"
        from server.pgbackup import libpq_url

        return libpq_url(store.dsn)[1] or "opsmon", ".sql"

    def remember_newest(self) -> None:
        """The newest backup already in the folder (a restart keeps /metrics' last backup time).
        PostgreSQL's comes from the schema's meta (DatabaseWatch): any replica may have taken it."""
        if self.server.replicated is not None:
            return
        prefix, suffix = self.prefix
        with contextlib.suppress(OSError):
            times = [path.stat().st_mtime for path in self.folder.glob(f"{prefix}-*{suffix}")]
            if times:
                self.server.metrics.backed_up(max(times))

    async def run(self) -> None:
        self.remember_newest()
        while True:
            await asyncio.sleep(self.server.settings.backup_every_minutes * 60)
            if not self.server.holds_timers:  # replicas: the one that runs the timers backs up
                continue
            try:
                await self.now()
            except Exception:  # the next round tries again
                log.exception("backup failed")


class DatabaseWatch:
    """Replicas (PostgreSQL): a look at the database every few seconds, for
    GET /metrics: whether it answers (opsmon_postgres_up), and when the last
    `opsmon-server backup` (pg_dump) was taken (meta `last_backup`, written by
    that command), for opsmon_seconds_since_last_backup."""

    def __init__(self, server: OpsmonServer) -> None:
        self.server = server

    async def check(self) -> None:
        metrics = self.server.metrics
        try:
            async with asyncio.timeout(DATABASE_WATCH_SECONDS):
                last_backup = await self.server.store.get_meta(LAST_BACKUP_KEY)
        except Exception as exc:  # the database away, a timeout: down until the next look works
            if metrics.database_up:
                log.warning("the database %s does not answer (%s: %s)", self.server.store.location, type(exc).__name__, exc)
            metrics.database_up = False
            return
        if not metrics.database_up:
            log.warning("the database %s answers again", self.server.store.location)
        metrics.database_up = True
        if last_backup:
            with contextlib.suppress(ValueError):
                metrics.backed_up(parse_ts(last_backup).timestamp())

    async def run(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(DATABASE_WATCH_SECONDS)


class WriteProbe:
    """While writes fail, a small one every few seconds, so the server says it
    is well again without waiting for the next command."""

    def __init__(self, server: OpsmonServer) -> None:
        self.server = server
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Writes fail: probe, unless a probe already runs."""
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self.run(), name="write-probe")

    async def check(self) -> None:
        """One small write: the problem clears if it works, or is updated."""
        async with self.server.lock:
            if self.server.problem is None:
                return
            try:
                await self.server.store.probe()
            except Exception as exc:
                self.server.writer.trouble(describe_write_failure(exc))
            else:
                self.server.writer.trouble(None)

    async def run(self) -> None:
        while self.server.problem is not None:
            await asyncio.sleep(PROBE_SECONDS)
            await self.check()


class TimerLock:
    """Replicas (PostgreSQL): keep asking for the timer lock: free (its holder
    died or stopped), it is taken within TIMER_LOCK_SECONDS; held, its
    connection is checked."""

    def __init__(self, server: OpsmonServer) -> None:
        self.server = server

    async def check(self) -> None:
        store = self.server.replicated
        assert store is not None
        try:
            held = await store.hold_timers()
        except Exception:  # never the end of the loop (and of the timers): the next round asks again
            log.exception("could not check the timer lock")
            held = False
        if held != self.server.holds_timers:
            self.server.holds_timers = held
            if held:
                log.warning("replica %s runs the timers now (escalations, snooze wake-ups, token changes, reports)", self.server.replica_name)
                self.server.deadlines.due.set()
            else:
                log.warning("replica %s no longer holds the timer lock: another replica runs the timers", self.server.replica_name)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(TIMER_LOCK_SECONDS)
            await self.check()


class ServeLease:
    """Replicas (PostgreSQL): every HEARTBEAT_SECONDS, keep the serving lock and
    this replica's heartbeat lease (what migrate, reset and copy check), and
    watch the night's epoch. The lock's session lost: taken again at once; not to
    be had (a reset or migrate holds it): this replica stops serving (writes
    refused `unavailable`, /healthz 503, no timers) until it has it again. The
    night reset under it: it rejoins the new one (its state reloaded, its
    clients closed so they come back for a snapshot)."""

    def __init__(self, server: OpsmonServer) -> None:
        self.server = server
        self.closing: set[asyncio.Task[None]] = set()

    async def check(self) -> None:
        store = self.server.replicated
        assert store is not None
        self.closing = {task for task in self.closing if not task.done()}
        try:
            epoch = await store.beat(self.server.replica_name or "?", self.server.state.seq)
        except Exception as exc:
            self.fence(str(exc))
            return
        if epoch != store.epoch:
            await self.rejoin(epoch)
            await self.server.probe.check()  # its writes' failures were the old night's
        if store.fenced is not None:
            log.warning("replica %s serves again (it holds the serving lock, epoch %s)", self.server.replica_name, store.epoch)
            store.fenced = None
            await self.server.probe.check()  # writes work again: /healthz and the clients hear it now

    def fence(self, why: str) -> None:
        store = self.server.replicated
        assert store is not None
        if store.fenced is None:
            log.error("replica %s stops serving: %s", self.server.replica_name, why)
        store.fenced = why
        self.server.writer.trouble(f"not serving: {why}")
        if self.server.holds_timers:
            self.server.holds_timers = False
            log.warning("replica %s no longer holds the timer lock: another replica runs the timers", self.server.replica_name)

    async def rejoin(self, epoch: str) -> None:
        """The database holds another night than this replica: take it up, and send every client for a snapshot."""
        store = self.server.replicated
        assert store is not None
        async with self.server.lock:
            old, old_seq = store.epoch, self.server.state.seq
            # Everything read before anything changes: a failed read leaves the replica
            # on its old epoch, whose writes the epoch check keeps refusing.
            state = await store.load_state()
            head = await store.event_at(state.seq) if state.seq else None
            created = str(await store.get_meta("created") or "")
            self.server.state, store.epoch, store.created = state, epoch, created
            self.server.set_head(head)
            log.warning(
                "replica %s: the database's night is epoch %s (was %s at seq %d; reset by another process): rejoined at seq %d; its clients reconnect for a snapshot",
                self.server.replica_name, epoch, old, old_seq, self.server.state.seq,
            )  # fmt: skip
            for connection in list(self.server.hub.subscribers):
                # 1012 (service restart): every client comes back, and its resume under the old epoch gets a snapshot.
                await self.server.hub.remove(connection)
                self.closing.add(asyncio.create_task(connection.close(code=1012, reason="the night was reset: reconnect for a snapshot")))

    async def run(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await self.check()
            except Exception:  # never the end of the heartbeat: its lease would run out under a live replica
                log.exception("replica %s: the heartbeat round failed", self.server.replica_name)
