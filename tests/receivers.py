"""Real receivers on loopback for the notification tests: a webhook (HTTP)
server and an SMTP server (aiosmtpd), each recording what arrived."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from tests.helpers import free_port


@dataclass
class Hook:
    """A webhook that answers `status` (200 by default) and keeps every request."""

    port: int = 0
    status: int = 200
    received: list[dict[str, Any]] = field(default_factory=list)

    def url(self, path: str = "/hook") -> str:
        return f"json://127.0.0.1:{self.port}{path}"

    def keys(self) -> list[str]:
        """The idempotency keys received, one entry per request."""
        return [r["headers"].get("X-Opsmon-Key", "") for r in self.received]


@contextlib.contextmanager
def webhook(port: int | None = None, status: int = 200) -> Iterator[Hook]:
    hook = Hook(port=port or free_port(), status=status)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8")
            hook.received.append({"path": self.path, "headers": dict(self.headers), "json": json.loads(body)})
            self.send_response(hook.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", hook.port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Mailbox:
    port: int
    messages: list[Any] = field(default_factory=list)

    def url(self, to: str) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=posko@example.org&to={to}&mode=insecure"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@contextlib.contextmanager
def smtp() -> Iterator[Mailbox]:
    box = Mailbox(port=free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
