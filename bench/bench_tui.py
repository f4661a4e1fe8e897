"""How the terminal client keeps up at 50,000 incidents: opening, keypresses and
repaints under a steady 2,000 events/s, and a burst of 1,000 events, against a
real server on loopback; an empty night beside it.

    .venv/bin/python bench/bench_tui.py [--incidents 50000] [--rate 2000] [--seconds 10] [--burst 1000]

Each night (empty, then bench/night.py's night of --incidents: half resolved,
notes on most) runs in a process of its own, so its RSS is its own. The app runs
headless (Textual's test driver) at 200x60 with the real Connection, through a
TCP relay (a process of its own) that can cut it off from the server; feeders
send stage updates and reports through their own sessions, straight to the
server (a third process). Printed figures:

- opening: from the app's start to the queue painting the snapshot's seq;
- keypress: j and k pressed in turn every 80-120 ms while the events arrive,
  from the key sent to the first frame composed with the cursor moved (in wall
  time, and in the client's own CPU time: other processes on its core count
  in the first only);
- repaints: coalesced redraws by the app (one per dirty 100 ms tick);
- frames: screen updates Textual composed for the terminal (every widget refresh
  that reached the compositor, so also the clock);
- lag: from the event's server timestamp to the redraw that showed it;
- RSS: the client process's, after opening and at the end, and its peak.

With two cores or more the client runs on the last core alone; the server, the
feeders and the relay share the first (an officer's laptop is not the server).

`--stretches N` prints (to stderr) the N longest busy stretches of the event
loop during the steady feed of the largest night, with what ran in each (a
thread samples the loop's stack while it is late; biased to where the loop
thread lets go of the GIL) and the collector's passes, and the N slowest keys'
way through Textual's message pumps.

It is a measurement, not a test: nothing here fails on a number.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import json
import os
import random
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import events
from textual._context import active_message_pump
from textual.message import Message

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opsmon.client.backoff import Backoff  # noqa: E402
from opsmon.client.session import Session  # noqa: E402
from opsmon.core.clock import parse_ts, utc_now  # noqa: E402
from opsmon.core.config import load_config  # noqa: E402
from opsmon.core.protocol import IncidentDraft, Report, StageUpdate  # noqa: E402
from opsmon.tui.app import OpsmonApp  # noqa: E402
from opsmon.tui.screens import dashboard as dashboard_screen  # noqa: E402
from opsmon.tui.widgets.queue import IncidentQueue  # noqa: E402

CONFIG_PATH = Path(__file__).resolve().parent.parent / "config.toml"
SERVER = str(Path(sys.executable).with_name("opsmon-server"))


# The officer's laptop is not the server: with two cores or more, the server, its feeders
# and the relay share the first, the client has the last to itself (as bench/fanout.py pins).
CORES = sorted(os.sched_getaffinity(0))


def pin(pid: int, side: str) -> None:
    """Keep `pid` (0: this process) on the server's core or on the client's."""
    if len(CORES) >= 2:
        os.sched_setaffinity(pid, {CORES[0]} if side == "server" else {CORES[-1]})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def relay(port: int, server_port: int) -> None:
    """Relay 127.0.0.1:port to the server; SIGUSR1 cuts every connection and
    stops listening (the client keeps retrying, refused), SIGUSR2 listens again."""
    loop = asyncio.get_running_loop()
    links: set[asyncio.StreamWriter] = set()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def link(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", server_port)
        links.update((client_writer, server_writer))
        try:
            await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))
        finally:
            links.difference_update((client_writer, server_writer))

    listening: list[asyncio.Server] = [await asyncio.start_server(link, "127.0.0.1", port)]

    def cut() -> None:
        listening.pop().close()
        for writer in list(links):
            writer.transport.abort()

    def mend() -> None:
        loop.create_task(asyncio.start_server(link, "127.0.0.1", port)).add_done_callback(lambda task: listening.append(task.result()))

    loop.add_signal_handler(signal.SIGUSR1, cut)
    loop.add_signal_handler(signal.SIGUSR2, mend)
    print("relay: listening", flush=True)
    await asyncio.Event().wait()


def start_relay(server_port: int) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--relay", str(port), str(server_port)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    process.stdout.readline()  # "relay: listening", its signal handlers in place
    pin(process.pid, "server")
    return process, port


def start_server(tmp: Path, port: int, incidents: int = 0) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """A real opsmon-server process, its per-connection rate limit lifted (we measure the client);
    with `incidents`, on bench/night.py's night of that many incidents."""
    text = CONFIG_PATH.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^commands_per_second = .*$", "commands_per_second = 100000", text)
    text = re.sub(r"(?m)^client_queue_frames = .*$", "client_queue_frames = 100000", text)
    text = re.sub(r"(?m)^synchronous = .*$", 'synchronous = "normal"', text)
    config = tmp / "config.toml"
    config.write_text(text, encoding="utf-8")
    db = str(tmp / "bench.db")
    tokens = {}
    for name, role, agency in (("admin", "admin", "KPU"), ("officer", "officer", "Bawaslu"), ("polisi", "officer", "Polri"), ("wall", "viewer", "KPU")):
        out = subprocess.run(
            [SERVER, "token", "add", name, "--role", role, "--agency", agency, "--config", str(config), "--db", db], check=True, capture_output=True, text=True
        )
        tokens[name] = out.stdout.strip().splitlines()[-1]
    if incidents:  # bench/night.py's night, written through the store API by a process of its own (not in this one's RSS)
        load = f"import asyncio, sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); import night; asyncio.run(night.load_night(__import__('pathlib').Path({db!r}), {incidents}))"
        subprocess.run([sys.executable, "-c", load], check=True, capture_output=True)
    log = (tmp / "server.log").open("wb")
    process = subprocess.Popen(
        [SERVER, "serve", "--config", str(config), "--db", db, "--port", str(port), "--log-level", os.environ.get("BENCH_SERVER_LOG", "warning")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    pin(process.pid, "server")
    for _ in range(100):
        if b"listening on" in (tmp / "server.log").read_bytes():
            break
        time.sleep(0.05)
    return process, tokens


class MeasuredApp(OpsmonApp):
    """The real app, counting its repaints and the lag of what each one shows."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.painted_seq = 0
        self.lags: list[float] = []  # seconds, one per event, at the repaint that showed it
        self.frames = 0
        self.key_lags: list[float] = []  # seconds, one per keypress, to the frame that showed it
        self.key_waits: list[float] = []  # seconds, one per keypress, from sent to its handler running
        self.key_frames: list[float] = []  # seconds, one per keypress, from its handler to the frame
        self.keys_sent: deque[float] = deque()  # when each key not yet handled was sent
        self.keys_handled: list[tuple[float, float]] = []  # (sent, handled) for keys handled and not yet on the screen
        # The client's own CPU time from each key sent to its frame: what it waited on the
        # client's work alone, whatever else the machine runs (the wall figures are the
        # scheduler's too when other processes share the client's core).
        self.key_cpu: list[float] = []
        self._cpu_at_sent: dict[float, float] = {}
        # Each key's way, sent -> [(when, where)] through the message pumps to its frame (--stretches).
        self.key_ways: dict[float, list[tuple[float, str]]] = {}
        self._key_way: dict[int, list[tuple[float, str]]] = {}  # id(Key event) -> its way

    def press(self, key: str) -> None:
        """A key as the terminal sends it; `key_lags` gets its time to the screen."""
        sent = time.perf_counter()
        self.keys_sent.append(sent)
        self._cpu_at_sent[sent] = time.process_time()
        event = events.Key(key, key)
        self.key_ways[sent] = self._key_way[id(event)] = [(sent, "sent")]
        event.set_sender(self)
        assert self._driver is not None
        self._driver.send_message(event)

    def _repaint(self) -> None:
        dirty = self._dirty
        super()._repaint()
        if not dirty:
            return
        now = utc_now()
        for event in self.recent_events:
            if event.seq > self.painted_seq:
                self.lags.append((now - parse_ts(event.ts)).total_seconds())
        self.painted_seq = self.state.seq

    def _display(self, screen: Any, renderable: Any) -> None:
        if renderable is not None and not self._batch_count:
            self.frames += 1
            # The first frame after a key's handler ran shows what it did.
            now = time.perf_counter()
            self.key_lags += [now - sent for sent, _ in self.keys_handled]
            self.key_cpu += [time.process_time() - self._cpu_at_sent.pop(sent) for sent, _ in self.keys_handled]
            for sent, _ in self.keys_handled:
                self.key_ways[sent].append((now, "frame"))
            self.key_frames += [now - handled for _, handled in self.keys_handled]
            self.keys_handled.clear()
        super()._display(screen, renderable)


def _command(n: int, tag: str, regencies: list[Any]) -> Any:
    regency = regencies[n % len(regencies)]
    if n % 10 == 0:
        severity = ("critical", "high", "medium", "low")[n % 4]
        return Report(id=f"{tag}-{n}", incident=IncidentDraft(regency=regency.code, category="logistik", severity=severity, title=f"bench {n}"))
    # Counts that wrap around step back: said as corrections (a plain lower count is refused).
    return StageUpdate(id=f"{tag}-{n}", regency=regency.code, stage="penghitungan", done=(n // 13) % regency.tps, correct=True, note="bench")


async def _feed(url: str, tokens: list[str], rate: float, seconds: float, count: int, tag: str) -> int:
    """`rate` commands a second for `seconds`; or, with count > 0, `count` commands at once."""
    regencies = list(load_config(CONFIG_PATH).regencies)
    # Feeders only send: a page of one, not the whole night (at 50,000 incidents the
    # whole snapshot is paced per token, and several feeders of one token would wait).
    sessions = [await Session.open(url, token, page=1) for token in tokens]
    # Ready: the process started and connected; the parent says when to begin.
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    pending: list[asyncio.Future[Any]] = []
    sent = 0
    try:
        if count:
            for n in range(count):
                pending.append(await sessions[n % len(sessions)].send(_command(n, tag, regencies)))
            sent = count
        else:
            start = time.perf_counter()
            while (elapsed := time.perf_counter() - start) < seconds:  # noqa: ASYNC110 - pacing, not waiting
                for _ in range(max(0, int(elapsed * rate) - sent)):
                    pending.append(await sessions[sent % len(sessions)].send(_command(sent, tag, regencies)))
                    sent += 1
                await asyncio.sleep(0.005)
        await asyncio.gather(*pending, return_exceptions=True)
    finally:
        for session in sessions:
            await session.close()
    return sent


async def feed(url: str, tokens: list[str], *, rate: float = 0, seconds: float = 0, count: int = 0, tag: str) -> int:
    """Feed from another process, so the client's event loop is the client's alone."""
    return await run_feed(await start_feed(url, tokens, rate=rate, seconds=seconds, count=count, tag=tag))


async def start_feed(url: str, tokens: list[str], *, rate: float = 0, seconds: float = 0, count: int = 0, tag: str) -> asyncio.subprocess.Process:
    """The feeder's process, started and connected, waiting for `run_feed`. Started before
    a measurement: the fork and exec hold the client's event loop for tens of ms (the
    first key of the steady feed was drawn 60-80 ms late in most runs when it was not)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--feed",
        url,
        ",".join(tokens),
        str(rate),
        str(seconds),
        str(count),
        tag,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    pin(process.pid, "server")
    assert process.stdout is not None
    if (await process.stdout.readline()).strip() != b"ready":
        raise RuntimeError(f"the {tag} feeder did not start")
    return process


async def run_feed(process: asyncio.subprocess.Process) -> int:
    """Let a started feeder go; the commands it sent."""
    out, _ = await process.communicate(b"go\n")
    return int(out.decode().strip().splitlines()[-1])


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def wait_for(app: MeasuredApp, seq: int, timeout: float) -> float:
    start = time.perf_counter()
    while app.painted_seq < seq:  # noqa: ASYNC110 - polling a counter the app bumps
        if time.perf_counter() - start > timeout:
            break
        await asyncio.sleep(0.01)
    return time.perf_counter() - start


async def head(url: str, token: str) -> int:
    # page=1: only the welcome's seq is wanted; a whole snapshot (45 MiB at 50,000) decoded
    # here, in the client's process, was the bench's own peak RSS, not the TUI's.
    session = await Session.open(url, token, page=1)
    try:
        return session.welcome.seq
    finally:
        await session.close()


def rss_mib() -> float:
    """This process's resident set now (MiB)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def key_hook(app: MeasuredApp) -> Callable[[Message], None]:
    """run_test's message_hook: each pump that dispatches a key notes when (--stretches)."""

    def dispatched(message: Message) -> None:
        way = app._key_way.get(id(message))
        if way is not None:
            way.append((time.perf_counter(), type(active_message_pump.get()).__name__))

    return dispatched


class MeasuredQueue(IncidentQueue):
    """The queue's j and k, telling the app a key was handled (keys arrive in order)."""

    def _handled(self) -> None:
        app = self.app
        if isinstance(app, MeasuredApp) and app.keys_sent:
            sent, now = app.keys_sent.popleft(), time.perf_counter()
            app.key_waits.append(now - sent)
            app.keys_handled.append((sent, now))
            app.key_ways[sent].append((now, "handler"))

    def action_cursor_down(self) -> None:
        super().action_cursor_down()
        self._handled()

    def action_cursor_up(self) -> None:
        super().action_cursor_up()
        self._handled()


# The dashboard composes this queue instead (the bench's process only): the same widget, counting keys.
dashboard_screen.IncidentQueue = MeasuredQueue  # type: ignore[misc]


async def stalls(until: asyncio.Future[Any], busy: list[tuple[float, float, float]], probe: StretchProbe | None = None) -> None:
    """The event loop's busy stretches: a wake-up every 5 ms that came late by more than
    10 ms records (start, wall ms, CPU ms) of the gap. CPU time is the client's own cost,
    whatever else the machine runs; wall time is what a key waited."""
    while not until.done():
        wall, cpu = time.perf_counter(), time.process_time()
        if probe is not None:
            probe.beat = wall
        await asyncio.sleep(0.005)
        late = time.perf_counter() - wall
        if late > 0.015:
            busy.append((wall, late * 1000, (time.process_time() - cpu) * 1000))


class StretchProbe:
    """What ran in the loop's longest busy stretches (--stretches): while `stalls` is late
    waking up, a thread samples the loop thread's stack every millisecond (or as soon as
    it gets the GIL), and the collector's passes are timed, so each stretch can be told
    with what filled it."""

    SKIP = ("asyncio/", "threading.py", "selectors.py", "bench_tui.py")

    def __init__(self) -> None:
        self.beat = time.perf_counter()  # when `stalls` last went to sleep: the stretch's start
        self.samples: dict[float, list[tuple[str, ...]]] = {}  # stretch start -> stacks, outermost first
        self.collections: list[tuple[float, float, int]] = []  # (start, ms, generation)
        self._gc_start = 0.0
        self._stop = False
        self._loop_thread = threading.get_ident()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> StretchProbe:
        gc.callbacks.append(self._collected)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        self._thread.join()
        gc.callbacks.remove(self._collected)

    def _collected(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            self.collections.append((self._gc_start, (time.perf_counter() - self._gc_start) * 1000, info["generation"]))

    def _sample(self) -> None:
        while not self._stop:
            time.sleep(0.001)
            beat = self.beat
            if time.perf_counter() - beat < 0.010:
                continue
            frame = sys._current_frames().get(self._loop_thread)
            stack: list[str] = []
            while frame is not None:
                code = frame.f_code
                where = code.co_filename
                if not any(skip in where for skip in self.SKIP):
                    short = where.rsplit("site-packages/", 1)[-1].removeprefix(f"{CONFIG_PATH.parent}/").removesuffix(".py")
                    stack.append(f"{short}:{code.co_name}")
                frame = frame.f_back
            self.samples.setdefault(beat, []).append(tuple(reversed(stack)))

    def report(self, busy: list[tuple[float, float, float]], top: int) -> str:
        """The `top` longest of `busy` (stalls') by CPU: for each, the collector's passes in it,
        the functions most often on the stack (share of its samples) and the innermost ones."""
        lines = [f"## the {top} longest busy stretches by CPU (of {len(busy)} over 15 ms)"]
        for gen in (0, 1, 2):  # every pass of the feed, not only those inside a stretch
            times = [ms for _, ms, g in self.collections if g == gen]
            lines.append(f"collections gen{gen}: {len(times)}, {sum(times):.0f} ms in all, longest {max(times, default=0):.0f} ms")
        for start, wall, cpu in sorted(busy, key=lambda stretch: -stretch[2])[:top]:
            stacks = self.samples.get(start, [])
            passes = [(ms, gen) for at, ms, gen in self.collections if start <= at <= start + wall / 1000]
            gcs = ", ".join(f"gen{gen} {ms:.0f} ms" for ms, gen in passes if gen or ms >= 1) or "none over 1 ms"
            lines.append(f"- wall {wall:.0f} ms, CPU {cpu:.0f} ms, {len(stacks)} samples; collections: {gcs}")
            counts: dict[str, int] = {}
            for stack in stacks:
                for name in set(stack):
                    counts[name] = counts.get(name, 0) + 1
            depth = {name: min(s.index(name) for s in stacks if name in s) for name in counts}
            shown = sorted(counts, key=lambda n: (-counts[n], -depth[n]))[:14]
            for name in sorted(shown, key=lambda n: (-counts[n], depth[n])):
                lines.append(f"    {counts[name] * 100 // max(1, len(stacks)):3d}%  {name}")
            leaves: dict[str, int] = {}
            for stack in stacks:
                if stack:
                    leaves[stack[-1]] = leaves.get(stack[-1], 0) + 1
            lines.append("    innermost: " + ", ".join(f"{name} {n * 100 // len(stacks)}%" for name, n in sorted(leaves.items(), key=lambda x: -x[1])[:6]))
        return "\n".join(lines)


def slowest_keys(app: MeasuredApp, busy: list[tuple[float, float, float]], top: int) -> str:
    """The `top` slowest keys of the steady feed, each hop of its way (ms after it was sent)
    and the busy stretches that overlapped it."""
    ways = sorted((way for way in app.key_ways.values() if way[-1][1] == "frame"), key=lambda way: way[0][0] - way[-1][0])[:top]
    lines = [f"## the {top} slowest keys: ms after sent at each pump that dispatched it"]
    for way in ways:
        sent, shown = way[0][0], way[-1][0]
        hops = " ".join(f"{where}+{(when - sent) * 1000:.0f}" for when, where in way[1:])
        overlap = [f"{wall:.0f}/{cpu:.0f}" for start, wall, cpu in busy if start < shown and start + wall / 1000 > sent]
        lines.append(f"- {(shown - sent) * 1000:.0f} ms: {hops}; stretches (wall/CPU ms): {', '.join(overlap) or 'none'}")
    return "\n".join(lines)


async def keypresses(app: MeasuredApp, until: asyncio.Future[Any]) -> int:
    """j and k in turn, every 80-120 ms, until `until` is done: the officer moving
    through the queue while the events arrive. Returns how many were pressed."""
    pressed = 0
    queue = app.dashboard.query_one(IncidentQueue)
    while not until.done():
        if len(queue.incidents) >= 2:  # an empty night: its first reports give the cursor somewhere to go
            app.press("j" if pressed % 2 == 0 else "k")
            pressed += 1
        await asyncio.sleep(random.uniform(0.08, 0.12))
    return pressed


async def one_night(args: argparse.Namespace, incidents: int) -> list[tuple[str, str]]:
    """Every figure for one night (this process's own: its RSS is this night's)."""
    pin(0, "client")
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        process, tokens = start_server(Path(tmp), port, incidents)
        url = f"ws://127.0.0.1:{port}/ws"
        relaying, relay_port = start_relay(port)
        try:
            feeders = [tokens["admin"], tokens["officer"], tokens["polisi"]]
            app = MeasuredApp(url=f"ws://127.0.0.1:{relay_port}/ws", token=tokens["officer"])
            app.backoff = Backoff(initial=0.05, maximum=0.2)
            opening = time.perf_counter()
            async with app.run_test(size=(200, 60), message_hook=key_hook(app) if args.stretches else None):
                # Until the queue shows the snapshot (the welcome's seq painted), not just the first frame.
                while app.welcome is None or app.repaints < 2 or app.painted_seq < app.welcome.seq:  # noqa: ASYNC110 - polling counters the app bumps
                    await asyncio.sleep(0.01)
                rows += [
                    ("incidents in the snapshot", f"{len(app.state.incidents):,}"),
                    ("opening: start to the queue painted (ms)", f"{(time.perf_counter() - opening) * 1000:.0f}"),
                    ("RSS after opening / peak so far (MiB)", f"{rss_mib():.0f} / {peak_rss_mib():.0f}"),
                ]

                # 1. a steady rate, the officer pressing j and k through it
                app.lags.clear()
                repaints0, frames0, seq0 = app.repaints, app.frames, app.painted_seq
                app.key_lags.clear()
                app.key_waits.clear()
                app.key_frames.clear()
                app.key_cpu.clear()
                feeder = await start_feed(url, feeders, rate=args.rate, seconds=args.seconds, tag="steady")
                started, cpu0 = time.perf_counter(), time.process_time()
                feeding = asyncio.ensure_future(run_feed(feeder))
                profile = cProfile.Profile() if args.profile and incidents == max(args.incidents, 0) else None
                if profile is not None:
                    profile.enable()
                busy_stretches: list[tuple[float, float, float]] = []
                probe = StretchProbe() if args.stretches and incidents == max(args.incidents, 0) else None
                with probe or contextlib.nullcontext():
                    watching = asyncio.ensure_future(stalls(feeding, busy_stretches, probe))
                    pressed = await keypresses(app, feeding)
                    await watching
                if probe is not None:
                    print(probe.report(busy_stretches, args.stretches), file=sys.stderr, flush=True)
                    print(slowest_keys(app, busy_stretches, args.stretches), file=sys.stderr, flush=True)
                if profile is not None:
                    profile.disable()
                    profile.dump_stats(args.profile)
                sent = feeding.result()
                fed = time.perf_counter() - started
                busy = (time.process_time() - cpu0) / fed  # the client's CPU over the feed: its own cost, whatever else runs
                target = await head(url, tokens["wall"])
                drain = await wait_for(app, target, 30)
                took = time.perf_counter() - started
                lags, keys = app.lags[:], app.key_lags[:]
                rows += [
                    (f"steady: events sent at {args.rate:g}/s for {args.seconds:g} s (feeder start to end)", f"{sent} ({sent / fed:.0f}/s)"),
                    ("steady: events the client folded and painted", f"{app.painted_seq - seq0}"),
                    (
                        "steady: keypresses (j/k), to the frame showing the cursor moved: count, p50 / p99 / max (ms)",
                        f"{len(keys)} of {pressed}, " + " / ".join(f"{percentile(keys, p) * 1000:.0f}" for p in (50, 99, 100)),
                    ),
                    (
                        "steady: keypress to its frame in the client's CPU time, p50 / p99 / max (ms)",
                        " / ".join(f"{percentile(app.key_cpu, p) * 1000:.0f}" for p in (50, 99, 100)),
                    ),
                    (
                        "steady: of which key sent to its handler done / handler done to the frame, p50 / p99 (ms)",
                        " / ".join(f"{percentile(part, p) * 1000:.0f}" for part in (app.key_waits, app.key_frames) for p in (50, 99)),
                    ),
                    ("steady: the client's CPU while fed (share of one core)", f"{busy:.0%}"),
                    (
                        "steady: event loop busy stretches over 15 ms: count, wall p50 / max, CPU p50 / p90 / max (ms)",
                        f"{len(busy_stretches)}, "
                        + " / ".join(f"{percentile([w for _, w, _ in busy_stretches], p):.0f}" for p in (50, 100))
                        + ", "
                        + " / ".join(f"{percentile([c for _, _, c in busy_stretches], p):.0f}" for p in (50, 90, 100)),
                    ),
                    ("steady: repaints (coalesced redraws)", f"{app.repaints - repaints0} ({(app.repaints - repaints0) / took:.1f}/s)"),
                    ("steady: frames composed", f"{app.frames - frames0}"),
                    ("steady: event lag p50 / p95 / p99 / max (ms)", " / ".join(f"{percentile(lags, p) * 1000:.0f}" for p in (50, 95, 99, 100))),
                    ("steady: median event lag, first second -> last second (ms)", _drift(lags, args.seconds)),
                    ("steady: painted everything, after the feeder finished (ms)", f"{drain * 1000:.0f}"),
                ]

                # 2. a burst arriving at once: the client offline while it happens, then resuming
                relaying.send_signal(signal.SIGUSR1)  # the relay drops the client and refuses it: it keeps retrying
                while app.online:  # noqa: ASYNC110 - polling a counter the app bumps
                    await asyncio.sleep(0.01)
                before = app.state.seq
                await feed(url, feeders, count=args.burst, tag="burst")
                target = await head(url, tokens["wall"])
                await asyncio.sleep(0.3)
                repaints0, frames0 = app.repaints, app.frames
                relaying.send_signal(signal.SIGUSR2)
                resumed = await wait_for(app, target, 30)
                await asyncio.sleep(0.3)  # count any trailing repaint too
                rows += [
                    ("resume burst: events delivered at once on reconnect", f"{target - before}"),
                    ("resume burst: repaints to show them all", f"{app.repaints - repaints0}"),
                    ("resume burst: back online to painted (ms)", f"{resumed * 1000:.0f}"),
                ]

                # 3. the same burst live: as fast as the server commits it
                app.lags.clear()
                repaints0 = app.repaints
                started = time.perf_counter()
                sent = await feed(url, feeders, count=args.burst, tag="live")
                target = await head(url, tokens["wall"])
                await wait_for(app, target, 30)
                took = time.perf_counter() - started
                rows += [
                    ("live burst: events, feeder start to painted (ms)", f"{sent}, {took * 1000:.0f}"),
                    ("live burst: repaints", f"{app.repaints - repaints0}"),
                    ("live burst: event lag p50 / max (ms)", f"{percentile(app.lags, 50) * 1000:.0f} / {percentile(app.lags, 100) * 1000:.0f}"),
                    ("RSS at the end / peak (MiB)", f"{rss_mib():.0f} / {peak_rss_mib():.0f}"),
                ]
        finally:
            relaying.kill()
            relaying.wait()
            process.terminate()
            stopping = time.perf_counter()
            while process.poll() is None and time.perf_counter() - stopping < 30:  # noqa: ASYNC110 - a child process
                await asyncio.sleep(0.05)
            if process.poll() is None:
                print("note: opsmon-server did not stop within 30 s of SIGTERM; killed", file=sys.stderr)
                process.kill()
            rows.append(("opsmon-server: SIGTERM to exit (ms)", f"{(time.perf_counter() - stopping) * 1000:.0f}"))
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument(
        "--incidents", type=int, default=50_000, help="the full night holds this many incidents (bench/night.py's night); 0: the empty night only"
    )
    parser.add_argument("--smoke", action="store_true", help="the whole path at a load small enough for a few seconds (CI; its timings mean nothing)")
    parser.add_argument("--profile", default="", help="write cProfile stats of the client over the steady feed of the largest night to this file")
    parser.add_argument(
        "--stretches", type=int, default=0, help="print the N longest busy stretches of the largest night's steady feed, with what ran in each (to stderr)"
    )
    parser.add_argument("--one-night", type=int, default=None, help=argparse.SUPPRESS)  # a child: one night's rows as JSON
    args = parser.parse_args()
    if args.smoke:
        args.rate, args.seconds, args.burst = 100.0, 1.0, 100
        args.incidents = min(args.incidents, 500)
    if args.one_night is not None:
        print(json.dumps(await one_night(args, args.one_night)))
        return
    nights = [0, args.incidents] if args.incidents else [0]
    results: list[list[tuple[str, str]]] = []
    for incidents in nights:
        command = [
            sys.executable,
            __file__,
            "--one-night",
            str(incidents),
            "--rate",
            str(args.rate),
            "--seconds",
            str(args.seconds),
            "--burst",
            str(args.burst),
            "--incidents",
            str(args.incidents),
            *(["--profile", args.profile] if args.profile else []),
            *(["--stretches", str(args.stretches)] if args.stretches else []),
        ]
        child = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
        out, _ = await child.communicate()
        if child.returncode != 0:
            sys.exit(f"bench_tui: the night of {incidents} incidents failed (exit {child.returncode})")
        results.append([(label, value) for label, value in json.loads(out.decode().strip().splitlines()[-1])])
        print(f"# night of {incidents:,} incidents: " + "; ".join(f"{label}: {value}" for label, value in results[-1][:3]), flush=True)
    print("| measure | " + " | ".join("empty night" if n == 0 else f"{n:,} incidents" for n in nights) + " |")
    print("| --- |" + " --- |" * len(nights))
    for index, (label, _) in enumerate(results[0]):
        print(f"| {label} | " + " | ".join(night[index][1] for night in results) + " |")


def _drift(lags: list[float], seconds: float) -> str:
    """Lag growing over the run would show as a later median above the first."""
    if len(lags) < 20:
        return "n/a"
    chunk = max(1, len(lags) // max(1, int(seconds)))
    return f"{statistics.median(lags[:chunk]) * 1000:.0f} -> {statistics.median(lags[-chunk:]) * 1000:.0f}"


if __name__ == "__main__":
    if len(sys.argv) == 8 and sys.argv[1] == "--feed":
        _, _, feed_url, feed_tokens, feed_rate, feed_seconds, feed_count, feed_tag = sys.argv
        print(asyncio.run(_feed(feed_url, feed_tokens.split(","), float(feed_rate), float(feed_seconds), int(feed_count), feed_tag)))
    elif len(sys.argv) == 4 and sys.argv[1] == "--relay":
        asyncio.run(relay(int(sys.argv[2]), int(sys.argv[3])))
    else:
        asyncio.run(main())
