"""GET /metrics: what an operator alerts on, through prometheus_client.

The server keeps plain counts as things happen (a command answered, a
refusal, an error frame, a commit, a backup); the collector turns them, and
the gauges read at scrape time (can write, seconds since the last commit
and backup, connections by role, client queue bytes, the PostgreSQL
connection and serving lock, epoch, head seq, timers), into metric families.
Each server has a registry of its own, never prometheus_client's global
one: tests run several servers in one process, and a registry shared between
them would mix their figures. The names are listed in docs/monitoring.md;
deploy/prometheus/opsmon-rules.yml and deploy/grafana/opsmon.json use them
(tests/test_monitoring.py checks every name they use is exported).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from opsmon.core.records import ROLES
from server.gctune import PAUSES

if TYPE_CHECKING:
    from server.app import OpsmonServer
    from server.hub import Subscriber

# The Prometheus text format (0.0.4), what generate_latest writes.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """Counts kept as things happen, exported by `render()` (a registry per server)."""

    BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

    def __init__(self, server: OpsmonServer | None = None) -> None:
        self.server = server
        self.connections_total = 0
        self.events_total = 0
        self.commits_total = 0  # group commits that wrote events: events_total / commits_total events a disk sync
        self.events_followed = 0
        self.commands: dict[tuple[str, str], int] = {}
        self.errors: dict[str, int] = {}
        self.refusals: dict[str, int] = {}
        self.latency_buckets = [0] * len(self.BUCKETS)
        self.latency_sum = 0.0
        self.latency_count = 0
        self.started = time.time()
        # When (Unix time) this server last committed, and the last backup was taken (None: none yet).
        self.last_commit: float | None = None
        self.last_backup: float | None = None
        # PostgreSQL: whether the last look at the database worked (server.timers.DatabaseWatch).
        self.database_up = True
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))

    def command(self, kind: str, outcome: str, seconds: float) -> None:
        self.commands[(kind, outcome)] = self.commands.get((kind, outcome), 0) + 1
        self.latency_sum += seconds
        self.latency_count += 1
        for i, bound in enumerate(self.BUCKETS):
            if seconds <= bound:
                self.latency_buckets[i] += 1

    def error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1

    def refused(self, reason: str) -> None:
        """A command answered ok=false, by its reason (docs/protocol.md's reason codes)."""
        self.refusals[reason] = self.refusals.get(reason, 0) + 1

    def committed(self) -> None:
        self.last_commit = time.time()
        self.commits_total += 1

    def backed_up(self, at: float | None = None) -> None:
        """A backup was taken `at` (Unix time; now if None). An older one than the last known changes nothing."""
        at = time.time() if at is None else at
        if self.last_backup is None or at > self.last_backup:
            self.last_backup = at

    def since(self, moment: float | None) -> float:
        """Seconds since `moment` (Unix time), or since this server started if there was none."""
        return max(0.0, time.time() - (moment if moment is not None else self.started))

    def render(self) -> bytes:
        """The Prometheus text format of this server's registry."""
        return generate_latest(self.registry)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


class _Collector(Collector):
    """Every opsmon metric, read when /metrics is asked."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        yield from self._counts()
        server = m.server
        if server is None:
            return
        subscribers = list(server.hub.subscribers.values())
        yield _gauge("opsmon_connections", "Connected, authenticated websocket clients.", len(server.hub))
        by_role = GaugeMetricFamily("opsmon_connections_by_role", "Connected, authenticated websocket clients, by their token's role.", labels=["role"])
        roles = dict.fromkeys(ROLES, 0)
        for subscriber in subscribers:
            roles[subscriber.role] = roles.get(subscriber.role, 0) + 1
        for role, count in sorted(roles.items()):
            by_role.add_metric([role], count)
        yield by_role
        backlogs = [_backlog(s) for s in subscribers]
        yield _gauge("opsmon_client_queue_bytes", "Bytes waiting for clients (queued here and in their sockets' buffers), all clients together.", sum(backlogs))
        yield _gauge(
            "opsmon_client_queue_bytes_max",
            "Bytes waiting for the client furthest behind (dropped past [server] client_queue_bytes).",
            max(backlogs, default=0),
        )
        yield _counter("opsmon_slow_clients_dropped", "Clients dropped for falling too far behind.", server.hub.dropped_slow)
        yield _counter("opsmon_broadcast_ticks", "Ticks of fan-out: each one frame (or a few) written to every viewer.", server.hub.ticks)
        yield _gauge("opsmon_head_seq", "Sequence number of the newest event.", server.state.seq)
        epoch = GaugeMetricFamily("opsmon_epoch_info", "The epoch (which night's log) this server serves.", labels=["epoch"])
        epoch.add_metric([server.store.epoch], 1)
        yield epoch
        yield _gauge(
            "opsmon_can_write",
            "1 if this server can save commands now, 0 while writes fail (a full or read-only disk, the database away).",
            int(server.problem is None),
        )
        yield _gauge(
            "opsmon_seconds_since_last_commit",
            "Seconds since this server last committed an event (since it started, if it has not yet).",
            m.since(m.last_commit),
        )
        yield _gauge(
            "opsmon_seconds_since_last_backup",
            "Seconds since the last backup (SQLite: [server] backup_dir; PostgreSQL: opsmon-server backup), or since this server started if none is known.",
            m.since(m.last_backup),
        )
        yield _gauge(
            "opsmon_last_commit_timestamp_seconds", "When this server last committed an event (Unix time; 0: not since it started).", m.last_commit or 0
        )
        yield _gauge("opsmon_last_backup_timestamp_seconds", "When the last backup known here was taken (Unix time; 0: none known).", m.last_backup or 0)
        yield _gauge("opsmon_timer_holder", "1 if this replica runs the timers (escalations, wake-ups, reports).", int(server.holds_timers))
        yield _counter(
            "opsmon_dedup_candidates_examined", "Incidents a report's duplicate search looked at (the dedup index's matches).", server.state.dedup_examined
        )
        store = server.replicated
        if store is not None:
            yield _gauge("opsmon_postgres_up", "1 if this replica's last look at its PostgreSQL database worked (every few seconds).", int(m.database_up))
            yield _gauge(
                "opsmon_serving_lock_held",
                "1 if this replica holds the database's serving lock (the shared advisory lock that keeps migrate, reset and copy out).",
                int(store.serving_lock_held),
            )
        if server.replica_name is not None:
            info = GaugeMetricFamily("opsmon_replica_info", "This replica's name.", labels=["replica"])
            info.add_metric([server.replica_name], 1)
            yield info

    def _counts(self) -> Iterator[Metric]:
        m = self.metrics
        yield _counter("opsmon_connections", "Websocket clients ever authenticated.", m.connections_total)
        yield _counter("opsmon_events", "Events committed since the server started.", m.events_total)
        yield _counter("opsmon_commits", "Group commits that wrote events (each one disk sync): events over commits is events a sync.", m.commits_total)
        yield _counter("opsmon_events_followed", "Events other replicas committed, read from the database and broadcast here.", m.events_followed)
        commands = CounterMetricFamily("opsmon_commands", "Commands answered, by type and outcome.", labels=["type", "outcome"])
        for (kind, outcome), count in sorted(m.commands.items()):
            commands.add_metric([kind, outcome], count)
        yield commands
        refusals = CounterMetricFamily("opsmon_refusals", "Commands refused (answered ok=false), by reason.", labels=["reason"])
        for reason, count in sorted(m.refusals.items()):
            refusals.add_metric([reason], count)
        yield refusals
        errors = CounterMetricFamily("opsmon_errors", "Errors sent, by code.", labels=["code"])
        for code, count in sorted(m.errors.items()):
            errors.add_metric([code], count)
        yield errors
        buckets = [(str(bound), float(count)) for bound, count in zip(m.BUCKETS, m.latency_buckets, strict=True)]
        buckets.append(("+Inf", float(m.latency_count)))
        yield HistogramMetricFamily("opsmon_command_latency_seconds", "Time from a command's arrival to its answer.", buckets=buckets, sum_value=m.latency_sum)
        collections = CounterMetricFamily(
            "opsmon_gc_collections", "Garbage collections since start-up, by generation (server/gctune.py).", labels=["generation"]
        )
        paused = CounterMetricFamily("opsmon_gc_pause_seconds", "Seconds the process spent in garbage collections, by generation.", labels=["generation"])
        longest = GaugeMetricFamily("opsmon_gc_pause_longest_seconds", "The longest garbage collection pause, by generation.", labels=["generation"])
        for generation in range(3):
            collections.add_metric([str(generation)], PAUSES.count[generation])
            paused.add_metric([str(generation)], PAUSES.seconds[generation])
            longest.add_metric([str(generation)], PAUSES.longest[generation])
        yield from (collections, paused, longest)
        yield _gauge("opsmon_gc_frozen_objects", "Objects frozen out of the collector's way after start-up (gc.freeze).", gc.get_freeze_count())


def _backlog(subscriber: Subscriber) -> int:
    try:
        return subscriber.backlog()
    except (AttributeError, OSError):  # a socket closing under us: nothing waits for it any more
        return 0
