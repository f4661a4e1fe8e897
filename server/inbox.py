"""The writer's inbox: one queue per connection, served in turn.

A single FIFO puts one connection's flood in front of everyone: an officer's
note waits behind thousands of a feeder's reports. Here each connection has
its own queue, the writer takes one command from each waiting connection in
turn (round robin) when it builds a batch, and a connection with
`limit` commands waiting stops being read (`room`): its flood waits in its
own socket (TCP pushes back on the sender), not in the server's memory and
not in front of the others. Order within a connection is kept, so a
connection's history request still sees the writes it sent before it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")

# Commands one connection may have waiting for the writer before the server
# stops reading its socket (it is not refused: it waits at its own connection).
PENDING_PER_CONNECTION = 32


class Inbox(Generic[T]):
    """Per-connection FIFO queues served round robin."""

    def __init__(self, key: Callable[[T], Hashable], limit: int = PENDING_PER_CONNECTION) -> None:
        self._key = key
        self.limit = limit
        self._queues: dict[Hashable, deque[T]] = {}
        self._ready: deque[Hashable] = deque()  # connections with something queued, in turn order
        self._pending: dict[Hashable, int] = {}  # queued or being written, per connection
        self._room: dict[Hashable, asyncio.Event] = {}
        self._nonempty = asyncio.Event()
        self.closed = False
        self._held: set[Hashable] = set()  # a read of theirs is being answered: their next waits for it

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def pending(self, owner: Hashable) -> int:
        return self._pending.get(owner, 0)

    def put(self, item: T) -> None:
        owner = self._key(item)
        queue = self._queues.get(owner)
        if queue is None:
            queue = self._queues[owner] = deque()
            if owner not in self._held:  # else: not its turn until its read is answered
                self._ready.append(owner)
        queue.append(item)
        self._pending[owner] = self._pending.get(owner, 0) + 1
        self._nonempty.set()

    async def room(self, owner: Hashable) -> None:
        """Wait until `owner` has fewer than `limit` commands waiting."""
        while not self.closed and self._pending.get(owner, 0) >= self.limit:
            event = self._room.setdefault(owner, asyncio.Event())
            event.clear()
            await event.wait()

    def done(self, items: list[T]) -> None:
        """These items are answered: their connections may send more."""
        for item in items:
            owner = self._key(item)
            if owner in self._held:
                self._held.discard(owner)
                if owner in self._queues and owner not in self._ready:
                    self._ready.append(owner)
                    self._nonempty.set()
            left = self._pending.get(owner, 0) - 1
            if left > 0:
                self._pending[owner] = left
            else:
                self._pending.pop(owner, None)
            if left < self.limit:
                event = self._room.pop(owner, None)
                if event is not None:
                    event.set()

    def close(self) -> None:
        """The writer stopped: nobody waits for room any more (the server is closing)."""
        self.closed = True
        for event in self._room.values():
            event.set()
        self._room.clear()

    async def ready(self) -> None:
        """Wait until something is queued (nothing is taken)."""
        while not self._ready:
            self._nonempty.clear()
            await self._nonempty.wait()

    def next_owner(self) -> Hashable | None:
        """Whose command the next batch starts with (None: nothing queued)."""
        return self._ready[0] if self._ready else None

    async def take(self, most: int, alone: Callable[[T], bool]) -> list[T]:
        """The next batch: one item from each connection in turn, up to `most`.
        An item for which `alone(item)` holds (a read that must see the writes
        before it) comes back by itself when it is first in line; otherwise
        its connection sits out the rest of this batch."""
        await self.ready()
        first = self._queues[self._ready[0]][0]
        if alone(first):
            owner = self._ready.popleft()
            self._held.add(owner)
            return [self._pop(owner)]
        batch: list[T] = []
        skipped: list[Hashable] = []
        while self._ready and len(batch) < most:
            owner = self._ready.popleft()
            if alone(self._queues[owner][0]):
                skipped.append(owner)  # after this batch is committed
                continue
            batch.append(self._pop(owner))
        self._ready.extendleft(reversed(skipped))  # first in line next time
        return batch

    def _pop(self, owner: Hashable) -> T:
        queue = self._queues[owner]
        item = queue.popleft()
        if not queue:
            del self._queues[owner]
        elif owner not in self._held:
            self._ready.append(owner)
        return item
