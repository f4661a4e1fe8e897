"""Garbage collection for a process that holds many long-lived connections.

At start-up the server loads the whole night (every incident, its notes,
the dedup index) and then holds thousands of connections, each a handful
of objects that live as long as the socket. CPython's collector would walk
all of them again and again: each young collection promotes survivors, and
a full collection (which visits every tracked object) followed at 5,000
connections with pauses of 70 to 150 ms (issue 24). So, once started:

- `gc.freeze()` moves everything alive after start-up (the loaded state,
  the modules, the config) to the permanent generation, which no collection
  visits again;
- the young generation's threshold is raised from 700 to GEN0 allocations:
  the command path allocates many short-lived objects per command (frames,
  Structs, dicts) that reference counting frees, so young collections were
  mostly work for nothing; generations 1 and 2 keep CPython's ratios.

`PAUSES` times every collection through `gc.callbacks` (per generation:
how many, seconds in all, the longest), exported in /metrics, so the
effect is measured where it runs (bench/fanout.py prints it).
`OPSMON_GC_DEFAULTS=1` in the environment keeps CPython's defaults (the
pauses still timed): bench/fanout.py --gc-defaults compares the two.
"""

from __future__ import annotations

import gc
import os
import time
from typing import Any

GEN0, GEN1, GEN2 = 50_000, 10, 10


class GcPauses:
    """Collections and the time they took, per generation (a gc.callbacks hook)."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self.longest = [0.0, 0.0, 0.0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        generation = int(info.get("generation", 2))
        took = time.perf_counter() - self._started
        self.count[generation] += 1
        self.seconds[generation] += took
        self.longest[generation] = max(self.longest[generation], took)


PAUSES = GcPauses()


def tune() -> None:
    """After start-up (the state loaded, the socket open): freeze what is alive,
    raise the young generation's threshold, and time every collection from now on."""
    if os.environ.get("OPSMON_GC_DEFAULTS") != "1":
        gc.collect()
        gc.freeze()
        gc.set_threshold(GEN0, GEN1, GEN2)
    if PAUSES not in gc.callbacks:
        gc.callbacks.append(PAUSES)
