"""Fan-out: every connection gets its own bounded queue and writer task.

An event is encoded once and put on every queue without waiting; each
writer drains its own queue, joining what piled up into one `batch` frame.
A client too slow to keep up fills its queue and is dropped (close 1013);
it resumes from its last seq when it comes back. Nobody waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from opsmon.protocol import CLOSE_TOO_SLOW

log = logging.getLogger("opsmon.hub")

BATCH_MAX_BYTES = 60 * 1024
BATCH_MAX_EVENTS = 500
_BATCH_OPEN = b'{"type":"batch","events":['


def batch_frames(events: Iterable[bytes]) -> list[bytes]:
    """Encoded events joined into as few `batch` frames as the limits allow
    (a resume backlog goes out as a handful of frames, not one per event)."""
    frames: list[bytes] = []
    parts: list[bytes] = []
    size = 0
    for event in events:
        if parts and (size + len(event) > BATCH_MAX_BYTES or len(parts) >= BATCH_MAX_EVENTS):
            frames.append(_join(parts))
            parts, size = [], 0
        parts.append(event)
        size += len(event)
    if parts:
        frames.append(_join(parts))
    return frames


def _join(parts: list[bytes]) -> bytes:
    return parts[0] if len(parts) == 1 else _BATCH_OPEN + b",".join(parts) + b"]}"


class Subscriber:
    """One connection's outbound side."""

    def __init__(self, connection: ServerConnection, limit: int, token_hash: str, user: str) -> None:
        self.connection = connection
        self.token_hash = token_hash
        self.user = user
        self.limit = limit
        # Unbounded deque guarded by our own limit, so the initial snapshot and
        # resume backlog can always be queued whole.
        self.queue: asyncio.Queue[tuple[bytes, bool]] = asyncio.Queue()
        self.dropped = False
        self.writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.writer = asyncio.create_task(self._write(), name=f"writer:{self.user}")

    def put(self, frame: bytes, *, is_event: bool) -> bool:
        """Queue a frame; False if the client is too far behind and was dropped."""
        return self.put_many((frame,), is_event=is_event)

    def put_many(self, frames: Iterable[bytes], *, is_event: bool) -> bool:
        """Queue frames that were committed together. The limit is checked
        before them, so one large commit never drops a client that was keeping up."""
        if self.dropped:
            return False
        if self.queue.qsize() >= self.limit:
            self.drop()
            return False
        for frame in frames:
            self.queue.put_nowait((frame, is_event))
        return True

    def drop(self) -> None:
        self.dropped = True
        log.warning("dropping %s: %d frames behind", self.user, self.queue.qsize())
        if self.writer is not None:
            self.writer.cancel()
        asyncio.create_task(self._close_slow())

    async def _close_slow(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self.connection.close(CLOSE_TOO_SLOW, "too far behind; reconnect and resume from your last seq")

    async def _write(self) -> None:
        try:
            while True:
                frame, is_event = await self.queue.get()
                if is_event and not self.queue.empty():
                    frame = self._batch(frame)
                await self.connection.send(frame, text=True)
        except (ConnectionClosed, asyncio.CancelledError):
            pass

    def _batch(self, first: bytes) -> bytes:
        """Join the events already waiting behind `first` into one frame."""
        parts = [first]
        size = len(first)
        while not self.queue.empty() and len(parts) < BATCH_MAX_EVENTS:
            frame, is_event = self.queue._queue[0]  # type: ignore[attr-defined]  # peek: stop at a non-event
            if not is_event or size + len(frame) > BATCH_MAX_BYTES:
                break
            self.queue.get_nowait()
            parts.append(frame)
            size += len(frame)
        return _join(parts)

    async def stop(self) -> None:
        if self.writer is not None:
            self.writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.writer


class Hub:
    """All subscribed connections."""

    def __init__(self) -> None:
        self.subscribers: dict[ServerConnection, Subscriber] = {}
        self.dropped_slow = 0

    def __len__(self) -> int:
        return len(self.subscribers)

    def add(self, subscriber: Subscriber, initial: Iterable[tuple[bytes, bool]]) -> None:
        for frame, is_event in initial:
            subscriber.queue.put_nowait((frame, is_event))
        self.subscribers[subscriber.connection] = subscriber
        subscriber.start()

    async def remove(self, connection: ServerConnection) -> None:
        subscriber = self.subscribers.pop(connection, None)
        if subscriber is not None:
            await subscriber.stop()

    def send(self, connection: ServerConnection, frame: bytes) -> None:
        """A frame for one connection, in order with its events."""
        subscriber = self.subscribers.get(connection)
        if subscriber is not None and not subscriber.put(frame, is_event=False):
            # Its own answers piled up unread: as behind as any slow reader.
            self.subscribers.pop(connection, None)
            self.dropped_slow += 1

    def publish(self, frames: list[bytes]) -> None:
        """Events for everyone, encoded once, in seq order; never waits."""
        for connection, subscriber in list(self.subscribers.items()):
            if not subscriber.put_many(frames, is_event=True):
                self.subscribers.pop(connection, None)
                self.dropped_slow += 1

    def by_token(self, hashes_alive: set[str]) -> list[Subscriber]:
        return [s for s in self.subscribers.values() if s.token_hash not in hashes_alive]
