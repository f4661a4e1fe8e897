"""A raw protocol peer for end-to-end tests: plain JSON over a real websocket."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import urllib.error
import urllib.request
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.helpers import Running

FRAME_TIMEOUT = 3.0
_ids = itertools.count(1)


def new_id() -> str:
    return f"cmd-{next(_ids)}"


def flatten(frame: dict[str, Any]) -> list[dict[str, Any]]:
    """The events a frame carries: one event, a batch of them, or none."""
    if frame.get("type") == "event":
        return [frame]
    if frame.get("type") == "batch":
        return list(frame["events"])
    return []


class Peer:
    """One websocket speaking the protocol; keeps every event it was sent."""

    def __init__(self, ws: ClientConnection, welcome: dict[str, Any]) -> None:
        self.ws = ws
        self.welcome = welcome
        self.snapshot: dict[str, Any] | None = None
        self.events: list[dict[str, Any]] = []
        self.frames: list[dict[str, Any]] = []  # every non-event frame read after the welcome and snapshot
        self.since: int | None = None  # the seq it resumed after, if it did

    @classmethod
    async def open(cls, running: Running | str, token: str, *, epoch: str | None = None, since: int | None = None, **connect_args: Any) -> Peer:
        """Connect and greet; with no `since`, also read the snapshot."""
        url = running if isinstance(running, str) else running.url
        # No receive flow control by default, so closing never waits behind unread frames.
        connect_args.setdefault("max_queue", None)
        ws = await connect(url, max_size=None, open_timeout=FRAME_TIMEOUT, close_timeout=1, **connect_args)
        await ws.send(json.dumps({"type": "hello", "token": token, "client": "tests", "epoch": epoch, "since": since}))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT))
        assert welcome["type"] == "welcome", welcome
        peer = cls(ws, welcome)
        peer.since = since if since is not None and epoch is not None else None
        if since is None or epoch is None:
            snapshot = await peer.next()
            assert snapshot["type"] == "snapshot", snapshot
            peer.snapshot = snapshot
            peer.frames.clear()
        return peer

    @property
    def seq(self) -> int:
        """The newest seq this peer knows of."""
        if self.events:
            return int(self.events[-1]["seq"])
        if self.snapshot is not None:
            return int(self.snapshot["seq"])
        return self.since if self.since is not None else int(self.welcome["seq"])

    async def next(self, timeout: float = FRAME_TIMEOUT) -> dict[str, Any]:
        """The next frame, whatever it is (events are also kept)."""
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.events += flatten(frame)
        if frame.get("type") not in ("event", "batch"):
            self.frames.append(frame)
        return frame

    async def until(self, want: Any, timeout: float = FRAME_TIMEOUT) -> dict[str, Any]:
        """Read frames until one satisfies `want`; keeps what it passes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.next(max(0.01, deadline - loop.time()))
            if want(frame):
                return frame

    async def send(self, message: dict[str, Any] | str) -> None:
        await self.ws.send(message if isinstance(message, str) else json.dumps(message))

    async def command(self, type_: str, *, id: str | None = None, **fields: Any) -> dict[str, Any]:
        """Send a command and return its result frame."""
        command_id = id or new_id()
        await self.send({"type": type_, "id": command_id, **fields})
        return await self.until(lambda f: f.get("type") == "result" and f.get("id") == command_id)

    async def wait_events(self, count: int, timeout: float = FRAME_TIMEOUT) -> list[dict[str, Any]]:
        """Read until this peer holds at least `count` events; returns them all."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.events) < count:
            await self.next(max(0.01, deadline - loop.time()))
        return self.events

    async def quiet(self, seconds: float = 0.2) -> list[dict[str, Any]]:
        """Frames that arrive within `seconds` (to show that nothing more comes)."""
        got = []
        try:
            while True:
                got.append(await self.next(seconds))
        except TimeoutError:
            return got

    async def closed(self, timeout: float = FRAME_TIMEOUT) -> tuple[int | None, list[dict[str, Any]]]:
        """Read until the server closes; the close code and the frames before it."""
        got = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                got.append(await self.next(max(0.01, deadline - loop.time())))
        except ConnectionClosed:
            pass
        return self.ws.close_code, got

    async def close(self) -> None:
        await self.ws.close()


async def http_get(running: Running, path: str) -> tuple[int, str, str]:
    """(status, content type, body) of a plain HTTP GET to the server."""

    def get() -> tuple[int, str, str]:
        try:
            with urllib.request.urlopen(running.http + path, timeout=FRAME_TIMEOUT) as response:
                return response.status, response.headers.get("Content-Type", ""), response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()

    return await asyncio.to_thread(get)


def report(regency: str = "6371", severity: str = "high", category: str = "logistik", title: str = "Kotak suara rusak", **extra: Any) -> dict[str, Any]:
    return {"incident": {"regency": regency, "category": category, "severity": severity, "title": title, **extra}}


def stalled_socket(port: int) -> socket.socket:
    """A TCP socket with a tiny receive window, for a client that never reads."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock
