"""HTTP beside the websocket: /ws's Origin check, /healthz and /metrics."""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Awaitable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from server.connections import peer_address
from server.hooks import ACK_PATH

if TYPE_CHECKING:
    from server.app import OpsmonServer

log = logging.getLogger("opsmon.server")


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

    def render(self, connected: int, head: int, dropped_slow: int, *, replica: str | None = None, timers: bool = True, dedup_examined: int = 0) -> str:
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
            "# HELP opsmon_dedup_candidates_examined_total Incidents a report's duplicate search looked at (the dedup index's matches).",
            "# TYPE opsmon_dedup_candidates_examined_total counter",
            f"opsmon_dedup_candidates_examined_total {dedup_examined}",
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


class Http:
    """Answers a request before the websocket handshake (None: go on to the websocket)."""

    def __init__(self, server: OpsmonServer) -> None:
        self.server = server
        self.metrics_networks = [ipaddress.ip_network(n, strict=False) for n in server.settings.metrics_allow]

    def metrics_allowed(self, address: str) -> bool:
        """Whether [server] metrics_allow covers `address` (an IPv4-mapped IPv6 address counts as its IPv4)."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.metrics_networks)

    def respond(self, connection: ServerConnection, request: Request) -> Response | None | Awaitable[Response]:
        path = request.path.split("?", 1)[0]
        if path == ACK_PATH:  # an acknowledgement from a chat bot or an SMS gateway (server/hooks.py)
            return self.server.hooks.respond(connection, request)
        if path == "/ws":
            origin = request.headers.get("Origin")
            # Browsers always send Origin; other clients (the TUI, feeders) send none.
            if origin is not None and origin not in self.server.settings.allowed_origins:
                log.warning("refused a websocket from %s: Origin %s is not in [server] allowed_origins", peer_address(connection), origin)
                self.server.metrics.error("origin")
                return connection.respond(HTTPStatus.FORBIDDEN, f"origin {origin} may not open this websocket (see [server] allowed_origins)\n")
            connections = self.server.connections
            address = peer_address(connection)
            wait = connections.hello_wait(address)
            if wait > 0:
                # Too many failed hellos from here lately: no websocket, no token check, until the bucket refills.
                log.warning("refused a websocket from %s: too many failed hellos (failed_hellos_per_minute)", address)
                self.server.metrics.error("hello_throttled")
                retry = max(1, round(wait))
                response = connection.respond(
                    HTTPStatus.TOO_MANY_REQUESTS,
                    f"too many failed hellos from {address}; try again in {retry} s (the limit is [server] failed_hellos_per_minute)\n",
                )
                response.headers["Retry-After"] = str(retry)
                return response
            if connections.crowded():
                self.server.metrics.error("too_many_connections")
                return connection.respond(
                    HTTPStatus.SERVICE_UNAVAILABLE, "the server holds as many connections as its open-file limit allows; try again later\n"
                )
            return None
        if path == "/healthz":
            # Anyone may ask (a load balancer, a phone on the LAN): no host name,
            # pid or connection counts here; those are in /metrics, for metrics_allow.
            health: dict[str, Any] = {
                "status": "ok",
                "seq": self.server.state.seq,
                "epoch": self.server.store.epoch,
                "timers": self.server.holds_timers,
            }
            if self.server.problem is not None:
                health.update(status="unavailable", problem=self.server.problem)
            status = HTTPStatus.OK if self.server.problem is None else HTTPStatus.SERVICE_UNAVAILABLE
            response = connection.respond(status, json.dumps(health) + "\n")
            # respond() already set text/plain; Headers is a multidict, so replace, don't add.
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "application/json"
            return response
        if path == "/metrics":
            address = peer_address(connection)
            if not self.metrics_allowed(address):
                self.server.metrics.error("metrics_forbidden")
                log.warning("refused /metrics to %s: not in [server] metrics_allow", address)
                return connection.respond(HTTPStatus.FORBIDDEN, f"/metrics is not open to {address} (see [server] metrics_allow)\n")
            body = self.server.metrics.render(
                len(self.server.hub),
                self.server.state.seq,
                self.server.hub.dropped_slow,
                replica=self.server.replica_name,
                timers=self.server.holds_timers,
                dedup_examined=self.server.state.dedup_examined,
            )
            response = connection.respond(HTTPStatus.OK, body)
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
            return response
        return connection.respond(HTTPStatus.NOT_FOUND, f"not found: the websocket is at /ws; see also /healthz, /metrics and {ACK_PATH}\n")
