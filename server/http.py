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
from server.metrics import CONTENT_TYPE

if TYPE_CHECKING:
    from server.app import OpsmonServer

log = logging.getLogger("opsmon.server")


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
        self.server.connections.forwarded(connection, request)  # the client's address, from a trusted proxy's X-Forwarded-For
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
            response = connection.respond(HTTPStatus.OK, self.server.metrics.render().decode())
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = CONTENT_TYPE
            return response
        return connection.respond(HTTPStatus.NOT_FOUND, f"not found: the websocket is at /ws; see also /healthz, /metrics and {ACK_PATH}\n")
