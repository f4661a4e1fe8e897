"""The token bucket: the server's per-connection command limit and the feeders' pacing.

The server refuses a command (`rate_limited`) when its connection's bucket
is empty (server/app.py); a feeder waits for its own bucket, of the same
rate, before it sends (opsmon/feeds/feeder.py `Pacer`), so a batch stays under the
limit instead of collecting refusals. One bucket, so both sides count alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """`rate` tokens a second, holding at most `capacity` (the burst); it starts full."""

    def __init__(self, rate: float, capacity: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.clock = clock
        self.last = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now

    def take(self, count: float = 1.0) -> bool:
        """`count` tokens (at most the capacity) if they are there (True), else False and nothing taken."""
        self._refill()
        count = min(count, self.capacity)
        if self.tokens >= count:
            self.tokens -= count
            return True
        return False

    def wait(self, count: float = 1.0) -> float:
        """Seconds until `count` tokens (at most the capacity) will be there (0 if they are)."""
        self._refill()
        return max(0.0, (min(count, self.capacity) - self.tokens) / self.rate)
