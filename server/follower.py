"""Replicas (PostgreSQL): follow what the other replicas commit, by seq, into
this replica's state and out to its own clients."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from opsmon.core.fold import apply, touches
from opsmon.core.protocol import Event
from opsmon.core.wire import encode

if TYPE_CHECKING:
    from server.app import OpsmonServer

log = logging.getLogger("opsmon.server")

# How often a replica reads the log's head even when no notification came
# (a belt to LISTEN/NOTIFY's braces), and how many events one catch-up reads.
FOLLOW_POLL_SECONDS = 5.0
CATCH_UP_BATCH = 5_000


class Follower:
    """The events other replicas committed past this one's head."""

    def __init__(self, server: OpsmonServer) -> None:
        self.server = server
        self.behind = asyncio.Event()  # another replica committed past our head

    def wake(self, head: int | None) -> None:
        """From the listening connection: a commit up to `head` (None: look anyway)."""
        if head is None or head > self.server.state.seq:
            self.behind.set()

    async def run(self) -> None:
        """Read what other replicas committed, by seq, into the state and to this replica's clients."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FOLLOW_POLL_SECONDS):  # not wait_for: on 3.11 it can swallow a cancel
                    await self.behind.wait()
            self.behind.clear()
            try:
                await self.catch_up()
            except Exception as exc:  # the database away for a moment: the next round tries again
                log.warning("could not read other replicas' commits: %s: %s", type(exc).__name__, exc)
                await asyncio.sleep(0.5)
                self.behind.set()

    async def catch_up(self) -> int:
        """Fold every event committed past this replica's head; how many."""
        async with self.server.lock:
            return await self.catch_up_locked()

    async def catch_up_locked(self) -> int:
        total = 0
        while True:
            events = await self.server.store.events_since(self.server.state.seq, CATCH_UP_BATCH)
            self.fold(events)
            total += len(events)
            if len(events) < CATCH_UP_BATCH:
                return total

    def fold(self, events: list[Event]) -> None:
        """Events other replicas committed (in seq order, right after our head):
        into the state, and out to this replica's clients like its own."""
        if not events:
            return
        if events[0].seq != self.server.state.seq + 1:
            raise RuntimeError(f"seq {events[0].seq} does not follow this replica's head {self.server.state.seq}")
        for event in events:
            touched = touches(event, self.server.state)  # on the state before it (a reopened merge's chain)
            apply(self.server.state, event)
            self.server.queue.touch(self.server.state, touched)
        self.server.set_head(events[-1])
        self.server.metrics.events_followed += len(events)
        self.server.hub.publish([encode(event) for event in events])
