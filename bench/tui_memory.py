"""Where the terminal client's memory goes at 50,000 incidents: its RSS sampled
every 10 ms through bench_tui.py's run (opening, the pages pulled, a steady
2,000 commands/s, a burst on reconnect, a live burst), each sample beside what
the client was doing then, and glibc's own account of its heap.

    .venv/bin/python bench/tui_memory.py [--incidents 50000] [--seconds 8] [--tracemalloc]

Printed: a timeline (RSS; glibc malloc's bytes in use and held, which hold the
frames' buffers and other large blocks, while Python's small objects live in
pymalloc's arenas outside it; the incidents held, the pages merged, the phase), the peak and what was happening at it, the RSS at the
end, and the state's own size per incident (its incidents, as deep as they go,
measured by walking them once at the end).

--tracemalloc also traces Python's allocations (slow: it changes the timing, not
what is allocated) and prints the top allocation sites at the peak of traced
memory. It is a measurement, not a test: nothing here fails on a number.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import os
import signal
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_tui import MeasuredApp, feed, free_port, head, keypresses, peak_rss_mib, pin, rss_mib, start_relay, start_server, wait_for  # noqa: E402

from opsmon.client.backoff import Backoff  # noqa: E402

MiB = 2**20


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


try:
    _libc = ctypes.CDLL("libc.so.6")
    _libc.mallinfo2.restype = _Mallinfo2
except (OSError, AttributeError):  # not glibc: no heap figures
    _libc = None


def heap_mib() -> tuple[float, float]:
    """glibc's heap: (bytes in use by malloc's callers, bytes it holds from the system) in MiB."""
    if _libc is None:
        return float("nan"), float("nan")
    info = _libc.mallinfo2()
    return (info.uordblks + info.hblkhd) / MiB, (info.arena + info.hblkhd) / MiB


class Sampler:
    """RSS every `every` seconds in a thread of its own, with what the app was doing."""

    def __init__(self, every: float = 0.01) -> None:
        self.every = every
        self.phase = "start"
        self.app: MeasuredApp | None = None
        self.samples: list[tuple[float, float, float, float, int, int, str]] = []
        self._stop = threading.Event()
        self._start = time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            app = self.app
            held = pages = 0
            if app is not None:
                held = len(app.state.incidents)
                connection = app.connection
                paging = connection.paging if connection is not None else None
                pages = paging.pages if paging is not None else -1
            used, held_heap = heap_mib()
            self.samples.append((time.perf_counter() - self._start, rss_mib(), used, held_heap, held, pages, self.phase))


def state_bytes(state: Any, by_type: dict[str, list[int]] | None = None) -> int:
    """The state's incidents, as deep as they go (each object counted once); `by_type`
    gets [count, bytes] per type name."""
    seen: set[int] = set()
    total = 0
    stack: list[Any] = [state.incidents]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, bool | int) and -5 <= obj <= 256:
            continue
        seen.add(id(obj))
        size = sys.getsizeof(obj)
        total += size
        if by_type is not None:
            entry = by_type.setdefault(type(obj).__name__, [0, 0])
            entry[0] += 1
            entry[1] += size
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple):
            stack.extend(obj)
        elif hasattr(obj, "__struct_fields__"):
            stack.extend(getattr(obj, name) for name in obj.__struct_fields__)
    return total


class Collections:
    """The cycle collector's passes in this process, by generation: how many and how long."""

    def __init__(self) -> None:
        self.took: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.took[info["generation"]].append(time.perf_counter() - self._started)

    def said(self) -> str:
        return "; ".join(f"gen {g}: {len(t)}, total {sum(t) * 1000:.0f} ms, max {max(t, default=0) * 1000:.1f} ms" for g, t in self.took.items())


def collections_by_type() -> Counter[str]:
    """The objects a full pass of the cycle collector walks, by type (not those gc.freeze() set aside)."""
    return Counter(type(o).__name__ for o in gc.get_objects())


async def run(args: argparse.Namespace) -> None:
    pin(0, "client")
    collections = Collections()
    sampler = Sampler()
    traced_peak: list[tuple[float, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        process, tokens = start_server(Path(tmp), port, args.incidents)
        url = f"ws://127.0.0.1:{port}/ws"
        relaying, relay_port = start_relay(port)
        try:
            feeders = [tokens["admin"], tokens["officer"], tokens["polisi"]]
            if args.tracemalloc:
                tracemalloc.start(8)
            with sampler:
                app = MeasuredApp(url=f"ws://127.0.0.1:{relay_port}/ws", token=tokens["officer"])
                app.backoff = Backoff(initial=0.05, maximum=0.2)
                sampler.app = app
                sampler.phase = "opening"
                gc.callbacks.append(collections)
                async with app.run_test(size=(200, 60)):
                    while app.welcome is None or app.repaints < 2 or app.painted_seq < app.welcome.seq:  # noqa: ASYNC110
                        await asyncio.sleep(0.01)
                    sampler.phase = "pages"

                    async def watch_traced() -> None:
                        while True:
                            current, _ = tracemalloc.get_traced_memory()
                            if not traced_peak or current > traced_peak[0][0]:
                                traced_peak[:] = [(current, tracemalloc.take_snapshot())]
                            await asyncio.sleep(0.5)

                    watcher = asyncio.ensure_future(watch_traced()) if args.tracemalloc else None
                    connection = app.connection
                    while connection is None or connection.paging is not None or len(app.state.incidents) < 2:  # noqa: ASYNC110
                        await asyncio.sleep(0.02)
                        connection = app.connection
                    sampler.phase = "steady"
                    feeding = asyncio.ensure_future(feed(url, feeders, rate=args.rate, seconds=args.seconds, tag="steady"))
                    await keypresses(app, feeding)
                    await wait_for(app, await head(url, tokens["wall"]), 30)
                    sampler.phase = "offline burst"
                    relaying.send_signal(signal.SIGUSR1)
                    while app.online:  # noqa: ASYNC110
                        await asyncio.sleep(0.01)
                    await feed(url, feeders, count=args.burst, tag="burst")
                    target = await head(url, tokens["wall"])
                    sampler.phase = "resume"
                    relaying.send_signal(signal.SIGUSR2)
                    await wait_for(app, target, 30)
                    sampler.phase = "live burst"
                    await feed(url, feeders, count=args.burst, tag="live")
                    await wait_for(app, await head(url, tokens["wall"]), 30)
                    sampler.phase = "end"
                    await asyncio.sleep(0.2)
                    if watcher is not None:
                        watcher.cancel()
                    end_rss, end_heap, run_peak = rss_mib(), heap_mib(), peak_rss_mib()
                    gc.callbacks.remove(collections)
                    sampler.phase = "measuring the state"  # this script's own walk: not the client's
                    held = len(app.state.incidents)
                    gc.collect()
                    tracked = collections_by_type()
                    by_type: dict[str, list[int]] = {}
                    size = state_bytes(app.state, by_type)
        finally:
            relaying.kill()
            relaying.wait()
            process.terminate()
            process.wait(30)
    samples = sampler.samples
    print(f"# {args.incidents:,} incidents, {len(samples)} samples every {sampler.every * 1000:.0f} ms; load average {os.getloadavg()[0]:.2f}")
    print("| t (s) | RSS MiB | malloc in use / held MiB | incidents held | pages merged | phase |")
    print("| --- | --- | --- | --- | --- | --- |")
    shown = -1.0
    peak = max((s for s in samples if s[6] != "measuring the state"), key=lambda s: s[1])
    for sample in samples:
        t, rss, used, held_heap, count, pages, phase = sample
        if phase == "measuring the state":
            break
        if t - shown >= args.every or sample is peak:
            shown = t
            mark = " **peak**" if sample is peak else ""
            print(f"| {t:.2f} | {rss:.0f}{mark} | {used:.0f} / {held_heap:.0f} | {count:,} | {pages} | {phase} |")
    t, rss, used, held_heap, count, pages, phase = peak
    print(
        f"peak RSS {rss:.0f} MiB (getrusage {run_peak:.0f}) at {t:.2f} s, phase {phase}: {count:,} incidents held, pages {pages}, malloc in use {used:.0f} MiB"
    )
    print(f"end RSS {end_rss:.0f} MiB, malloc in use / held {end_heap[0]:.0f} / {end_heap[1]:.0f} MiB")
    print(f"garbage collections from opening to the end: {collections.said()}")
    print(
        f"objects a full collection walks at the end: {sum(tracked.values()):,} ({gc.get_freeze_count():,} frozen apart); most: "
        + ", ".join(f"{n} {c:,}" for n, c in tracked.most_common(8))
    )
    print(f"state: {held:,} incidents, {size / MiB:.1f} MiB deep, {size / max(1, held):.0f} bytes per incident")
    for name, (count, total) in sorted(by_type.items(), key=lambda item: -item[1][1]):
        print(f"  {name}: {count:,} objects, {total / MiB:.1f} MiB, {total / max(1, held):.0f} bytes per incident")
    if traced_peak:
        current, snapshot = traced_peak[0]
        print(f"tracemalloc: peak sampled {current / MiB:.1f} MiB; top sites:")
        for stat in snapshot.statistics("traceback")[:12]:
            frames = " <- ".join(f"{Path(f.filename).name}:{f.lineno}" for f in reversed(list(stat.traceback)[-5:]))  # the allocating frame first
            print(f"  {stat.size / MiB:7.1f} MiB {stat.count:9,} blocks  {frames}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=50_000)
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--every", type=float, default=0.25, help="seconds between the timeline's printed rows (the peak is always printed)")
    parser.add_argument("--tracemalloc", action="store_true", help="trace Python's allocations too and print the top sites at the traced peak (slow)")
    parser.add_argument("--smoke", action="store_true", help="a small night, a short run (CI; its figures mean nothing)")
    args = parser.parse_args()
    if args.smoke:
        args.incidents, args.rate, args.seconds, args.burst = min(args.incidents, 500), 100.0, 1.0, 100
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
