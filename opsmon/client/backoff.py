"""How long a client waits before trying a server again."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class Backoff:
    """Capped exponential backoff with jitter: each delay is drawn between half
    the ceiling and the ceiling, which doubles per attempt up to `maximum`."""

    initial: float = 0.5
    maximum: float = 30.0
    attempt: int = 0

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * (2**self.attempt))
        self.attempt += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0
