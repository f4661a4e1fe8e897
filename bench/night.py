"""Cost flat as the night grows: `.venv/bin/python bench/night.py [--incidents N]`.

Loads a night of N incidents (default 50,000) into a real SQLite store
through the store API (decide + fold + `store.commit` in batches, as the
writer does, not N commands over the wire): every one acknowledged, half
resolved, about three notes each and a few with dozens, one in ten reported
twice (a fold), one in twenty merged into its neighbour. Then, in the same
run, against that night and against an empty one:

- `opsmon-server serve` on the database (pinned to core 0 like bench/fanout.py);
- a new viewer's hello -> welcome + snapshot, timed and weighed (median of 5, idle server);
  the same with a paged snapshot (`page` 100, 200 and 500), every page of one pulled,
  and a resume over a 20,000-event gap (streamed in pages);
- the server's RSS after start-up and the snapshots;
- bench/fanout.py's load generator (core 1): V viewers and R reports/s for D seconds;
  server CPU per report, delivery p99 and the result p99. The viewers resume at
  the head (no snapshot each: that is timed above), so this is the command path
  on the night; `--snapshots` has each take the snapshot first, as a crowd
  arriving at once would.

Prints one markdown table with the full night's figures as ratios to the
empty night's. The machine is shared: compare the ratios, not absolute figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = str(Path(__file__).resolve())  # run again as the flood beside the officer
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import fanout  # noqa: E402

from opsmon.core.clock import format_ts  # noqa: E402
from opsmon.core.config import load_config  # noqa: E402
from opsmon.core.domain import Decision, decide  # noqa: E402
from opsmon.core.fold import apply, touches  # noqa: E402
from opsmon.core.protocol import MAX_PAGE, Ack, Event, IncidentDraft, Merge, Note, Report, Resolve  # noqa: E402
from opsmon.core.records import Actor  # noqa: E402
from opsmon.core.state import Rules, State  # noqa: E402
from server.store.api import WriteBatch  # noqa: E402
from server.store.backends import open_store  # noqa: E402

OFFICER = Actor(name="petugas", agency="KPU")
COMMIT_EVERY = 5_000  # events per store transaction while loading
SNAPSHOTS = 5  # new viewers timed per night
RESUME_GAP = 20_000  # events behind the head a resuming client is timed at (the most a resume takes)
WHOLE_LOG_SECONDS = 3.0  # of the officer's round trips, quiet, then beside the whole log pulled (at most the load's duration)
PAGED_ROUNDS = 11  # new viewers timed per paged snapshot size (small: more of them, a steadier median)
PAGES = (100, 200, MAX_PAGE)  # paged snapshots timed: a screenful and more, the TUI's page, and the most the server sends
REPEATS = 1_000  # one trouble reported this many times, one report after another: each a note on one incident
REPEAT_PACE = 1 / 180  # seconds between them: under the officer token's 200 commands/s, over 4 connections (50/s each)
REPEATS_TIMED = 200  # the server's CPU per report over the first and the last this many of them


async def load_night(db: Path, count: int) -> dict[str, int]:
    """A night of `count` incidents written into `db` through the store API."""
    config = load_config(fanout.CONFIG)
    rules = Rules.from_config(config)
    regencies = sorted(rules.regencies)
    categories = sorted(rules.categories)
    state = State()
    start = datetime.now(UTC) - timedelta(hours=11)  # the whole night inside a snapshot's 24 hours
    spacing = timedelta(hours=10) / max(1, count)
    pending: list[tuple[Event, int | None, str | None]] = []
    touched: set[int] = set()
    kinds: dict[str, int] = {}

    async def flush(store: Any) -> None:
        if pending:
            await store.commit(WriteBatch(list(pending), incidents=[state.incidents[i] for i in touched]))
            pending.clear()
            touched.clear()

    async with open_store(db, synchronous="normal") as store:
        n = 0

        async def do(command: Any, now: datetime) -> Decision:
            nonlocal n
            n += 1
            decision = decide(state, command, OFFICER, None, now, rules)
            event = Event.of(state.seq + 1, format_ts(now), OFFICER, decision.payload)
            touched.update(touches(decision.payload, state))
            apply(state, event)
            pending.append((event, decision.incident, decision.regency))
            kinds[decision.kind] = kinds.get(decision.kind, 0) + 1
            if len(pending) >= COMMIT_EVERY:
                await flush(store)
            return decision

        ids: list[int] = []
        for i in range(count):
            now = start + spacing * i
            draft = IncidentDraft(
                regency=regencies[i % len(regencies)],
                category=categories[i % len(categories)],
                severity=("low", "medium", "high")[i % 3],
                title=f"Laporan malam {i}: kotak suara terlambat tiba",
                detail="Petugas KPPS melaporkan logistik belum lengkap; menunggu kiriman dari PPK.",
                location=f"Kec. {i % 97}, TPS {i:05d}",
            )
            incident = (await do(Report(id=f"r{i}", incident=draft), now)).incident
            assert incident is not None
            ids.append(incident)
            await do(Ack(id=f"a{i}", incident=incident), now)
            if i % 10 == 3:  # the same trouble reported again: folded
                await do(Report(id=f"d{i}", incident=draft), now + timedelta(seconds=1))
            notes = 60 if i % 500 == 7 else i % 7
            for k in range(notes):
                await do(Note(id=f"n{i}-{k}", incident=incident, text=f"Catatan {k}: sudah dihubungi, tim menuju lokasi {i}."), now)
            if i % 20 == 19:  # the same trouble as an unresolved neighbour's (odd ones stay open)
                await do(Merge(id=f"m{i}", incident=incident, into=ids[i - 2], note="laporan yang sama"), now)
            elif i % 2 == 0:
                await do(Resolve(id=f"x{i}", incident=incident, note="Selesai: logistik tiba dan dicek."), now)
        await flush(store)
    kinds["events"] = n
    kinds["notes"] = sum(len(i.notes) for i in state.incidents.values())
    return kinds


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def new_viewers(port: int, token: str, rounds: int, page: int | None = None) -> tuple[float, float, int]:
    """Seconds from connect to the snapshot for the first viewer (the snapshot built)
    and the median of the next ones (sharing it), and the snapshot's bytes
    (`page`: a paged snapshot of at most that many incidents)."""
    from websockets.asyncio.client import connect

    times, size = [], 0
    paged = {} if page is None else {"page": page}
    hello = json.dumps({"type": "hello", "token": token, "client": "bench/night", "epoch": None, "since": None, **paged})
    for _ in range(rounds):
        started = time.perf_counter()
        async with connect(f"ws://127.0.0.1:{port}/ws", max_size=None, compression=None, open_timeout=60) as ws:
            await ws.send(hello)
            while True:
                frame = await ws.recv()
                head = frame[:40] if isinstance(frame, bytes) else frame[:40].encode()
                if b'"type":"snapshot"' in head:
                    times.append(time.perf_counter() - started)
                    size = len(frame)
                    break
    return times[0], statistics.median(times[1:]), size


async def all_pages(port: int, token: str, page: int) -> tuple[float, int, int]:
    """Seconds from connect to the last page of a paged snapshot pulled (`incidents`
    with `after`, `page` at a time), the incidents held then, and the pages."""
    from websockets.asyncio.client import connect

    hello = json.dumps({"type": "hello", "token": token, "client": "bench/night", "epoch": None, "since": None, "page": page})
    started = time.perf_counter()
    async with connect(f"ws://127.0.0.1:{port}/ws", max_size=None, compression=None, open_timeout=60) as ws:
        await ws.send(hello)
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == "snapshot":
                break
        held = {i["id"] for i in frame["incidents"]}
        more, pages = frame["more"], 0
        after = None if more is None else more["after"]
        while after is not None:
            pages += 1
            await ws.send(json.dumps({"type": "incidents", "id": f"p{pages}", "since": more["since"], "after": after, "limit": page}))
            while True:
                answer = json.loads(await ws.recv())
                if answer["type"] == "result" and answer["id"] == f"p{pages}":
                    break
            held.update(i["id"] for i in answer["incidents"])
            after = answer.get("next")
        return time.perf_counter() - started, len(held), pages


async def resume_gap(port: int, token: str, epoch: str, since: int, head: int) -> tuple[float, int, int]:
    """Seconds from connect to the event at `head` for a client resuming at `since`,
    the frames and the bytes it took."""
    from websockets.asyncio.client import connect

    hello = json.dumps({"type": "hello", "token": token, "client": "bench/night", "epoch": epoch, "since": since})
    started, frames, size = time.perf_counter(), 0, 0
    async with connect(f"ws://127.0.0.1:{port}/ws", max_size=None, compression=None, open_timeout=60) as ws:
        await ws.send(hello)
        while True:
            frame = await ws.recv()
            frames, size = frames + 1, size + len(frame)
            body = json.loads(frame)
            last = body["events"][-1]["seq"] if body["type"] == "batch" else body.get("seq", 0) if body["type"] == "event" else 0
            if last >= head:
                return time.perf_counter() - started, frames, size


async def whole_log_beside_an_officer(port: int, officer: str, viewer: str, seconds: float, snapshots: bool = False) -> dict[str, float]:
    """An officer's report round trip (20 a second), first quiet, then while a viewer pulls
    the whole log (`incidents` in whole pages, as `opsmon list` and the sitrep do) back to
    back, reading every answer: what one token asking for the night costs everyone else.
    `snapshots`: the viewer's token instead reconnects without paging, back to back on
    four connections, each taking the whole snapshot (as an old or hostile client may).
    The flood runs in a process of its own (on the load generator's core): reading 45 MB
    frames in the officer's process would hold its own loop and be timed as the server's."""
    from websockets.asyncio.client import connect

    ws = await connect(f"ws://127.0.0.1:{port}/ws", max_size=None, compression=None, open_timeout=60)
    await ws.send(json.dumps({"type": "hello", "token": officer, "client": "bench/night", "epoch": None, "since": None, "page": 1}))
    while '"type":"snapshot"' not in str(await ws.recv())[:60]:
        pass
    asked, run = 0, secrets.token_hex(4)

    async def round_trips(until: float) -> list[float]:
        nonlocal asked
        times = []
        while time.monotonic() < until:
            asked += 1
            draft = {"regency": "6371", "category": "logistik", "severity": "low", "title": f"Cek {asked}", "location": f"TPS {asked}"}
            started = time.perf_counter()
            command_id = f"{run}-{asked}"  # new ids every run: a repeated id is answered from the log, not committed
            await ws.send(json.dumps({"type": "report", "id": command_id, "incident": draft}))
            await _answer(ws, command_id)
            times.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.05)
        return sorted(times)

    try:
        quiet = await round_trips(time.monotonic() + seconds)
        flood = await asyncio.create_subprocess_exec(
            *fanout.pinned(fanout.LOAD_CORE, sys.executable, HERE, "--flood", "whole-snapshots" if snapshots else "whole-log",
                           "--flood-port", str(port), "--flood-token", viewer, "--flood-seconds", str(seconds + 1)),
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        await asyncio.sleep(0.5)  # its connection and first requests under way
        flooded = await round_trips(time.monotonic() + seconds)
        out, _ = await flood.communicate()
        passes = json.loads(out.decode().strip().splitlines()[-1])
    finally:
        await ws.close()

    def q(times: list[float], p: float) -> float:
        return times[min(len(times) - 1, int(p * len(times)))]

    return {
        "quiet_p50": q(quiet, 0.5),
        "quiet_p99": q(quiet, 0.99),
        "flooded_p50": q(flooded, 0.5),
        "flooded_p99": q(flooded, 0.99),
        "pass_s": statistics.median(t for t, _ in passes) if passes else float("nan"),
        "pass_bytes": passes[0][1] if passes else 0,
        "passes": len(passes),
    }


async def repeats(port: int, token: str, pid: int, count: int, timed: int) -> tuple[float, float]:
    """One trouble reported `count` times, one report after another (each folded into the
    first as a note): the server's CPU seconds per report over the first `timed` repeats
    and over the last `timed` (the incident holding count - timed notes before them)."""
    from websockets.asyncio.client import connect

    hello = json.dumps({"type": "hello", "token": token, "client": "bench/night", "epoch": None, "since": None, "page": 1})
    draft = {"regency": "6371", "category": "logistik", "severity": "medium", "title": "Kotak suara rusak", "location": "Kec. Banjarmasin Utara, TPS 999"}
    per_report: list[float] = []
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(connect(f"ws://127.0.0.1:{port}/ws", max_size=None, compression=None, open_timeout=60)) for _ in range(4)]
        for ws in sockets:
            await ws.send(hello)
            while b'"type":"snapshot"' not in (frame[:40] if isinstance(frame := await ws.recv(), bytes) else frame[:40].encode()):
                pass
        for n in range(count + 1):  # the first report, then its repeats
            if n in (1, count + 1 - timed):
                before = fanout.cpu_seconds(pid)
            paced = asyncio.sleep(REPEAT_PACE)
            ws = sockets[n % len(sockets)]
            await ws.send(json.dumps({"type": "report", "id": f"repeat-{n}", "incident": draft}))
            answer = json.loads(await _answer(ws, f"repeat-{n}"))
            if not answer["ok"] or (n > 0 and not answer.get("duplicate")):
                raise RuntimeError(f"repeat {n} was not folded into the first report: {answer}")
            if n in (timed, count):
                per_report.append((fanout.cpu_seconds(pid) - before) / timed)
            await paced
    return per_report[0], per_report[1]


async def _answer(ws: Any, command_id: str) -> str:
    while True:
        frame = str(await ws.recv())
        if frame.startswith('{"type":"result"') and f'"id":"{command_id}"' in frame[:200]:
            return frame


async def flood(kind: str, port: int, viewer: str, seconds: float) -> list[tuple[float, int]]:
    """`--flood`: a viewer token pulling the whole log in whole pages back to back
    (whole-log), or reconnecting without paging on four connections, each taking the
    whole snapshot (whole-snapshots); each pass's seconds and bytes."""
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{port}/ws"
    until = time.monotonic() + seconds
    passes: list[tuple[float, int]] = []

    async def pull_every_incident() -> None:
        async with connect(url, max_size=None, compression=None, open_timeout=60) as ws:
            await ws.send(json.dumps({"type": "hello", "token": viewer, "client": "bench/night", "epoch": None, "since": None, "page": 1}))
            while '"type":"snapshot"' not in str(await ws.recv())[:60]:
                pass
            page = 0
            while time.monotonic() < until:
                started, size, after = time.perf_counter(), 0, 0
                while True:
                    page += 1
                    await ws.send(json.dumps({"type": "incidents", "id": f"w{page}", "after": after, "limit": MAX_PAGE, "whole": True}))
                    frame = await _answer(ws, f"w{page}")
                    size += len(frame)
                    after = json.loads(frame).get("next")
                    if after is None:
                        break
                passes.append((time.perf_counter() - started, size))

    async def reconnect_unpaged() -> None:
        hello = json.dumps({"type": "hello", "token": viewer, "client": "bench/night", "epoch": None, "since": None})
        while time.monotonic() < until:
            started = time.perf_counter()
            async with connect(url, max_size=None, compression=None, open_timeout=60) as ws:
                await ws.send(hello)
                while True:
                    frame = await ws.recv(decode=False)  # bytes: not decoded, not copied again
                    if b'"type":"snapshot"' in frame[:40]:
                        break
            passes.append((time.perf_counter() - started, len(frame)))

    tasks = [reconnect_unpaged() for _ in range(4)] if kind == "whole-snapshots" else [pull_every_incident()]
    # Past `until` a hello may still wait for its token's allowance: what was done by then counts.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*tasks), seconds + 2)
    return passes


async def identity(db: Path) -> tuple[str, int]:
    async with open_store(db) as store:
        return store.epoch, await store.head()


def run_night(
    label: str, count: int, work: Path, viewers: int, rate: int, duration: float, with_snapshots: bool, repeat_count: int = REPEATS
) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(dir=work, prefix=label))
    db = directory / "opsmon.db"
    officer, viewer = asyncio.run(fanout.make_tokens(db))
    started = time.perf_counter()
    kinds = asyncio.run(load_night(db, count)) if count else {"events": 0, "notes": 0}
    loaded = time.perf_counter() - started
    epoch, head = asyncio.run(identity(db))
    config = fanout.bench_config(directory, "none", "full", None)
    port = fanout.free_port()
    command = [sys.executable, "-m", "server.cli", "serve", "--config", str(config), "--db", str(db), "--port", str(port), "--log-level", "error"]
    began = time.perf_counter()
    server = subprocess.Popen(
        fanout.pinned(fanout.SERVER_CORE, *command), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline().decode()
        if "listening" not in line:
            raise RuntimeError(f"{label}: the server did not start: {line!r}")
        start_up = time.perf_counter() - began
        # A connection first, untimed: the process's first one pays for warming up.
        asyncio.run(new_viewers(port, viewer, 2, page=1))
        # Paged first: the whole snapshot's 45 MB of garbage would be collected in their time.
        paged = {size: asyncio.run(new_viewers(port, viewer, PAGED_ROUNDS, page=size)) for size in PAGES}
        pulled = asyncio.run(all_pages(port, viewer, MAX_PAGE))
        snapshot_s, shared_s, snapshot_bytes = asyncio.run(new_viewers(port, viewer, SNAPSHOTS))
        behind = min(RESUME_GAP, head)
        gap = (behind, *asyncio.run(resume_gap(port, viewer, epoch, head - behind, head))) if behind else None
        rss = rss_kib(server.pid)
        repeated = asyncio.run(repeats(port, officer, server.pid, repeat_count, min(REPEATS_TIMED, repeat_count // 3)))
        # After the resume, which is timed to the head read before start-up (the officer's reports move it).
        whole_log = asyncio.run(whole_log_beside_an_officer(port, officer, viewer, min(WHOLE_LOG_SECONDS, duration)))
        whole_snapshots = asyncio.run(whole_log_beside_an_officer(port, officer, viewer, min(WHOLE_LOG_SECONDS, duration), snapshots=True))
        # Viewers that resume at the head (the new viewers' snapshots are timed above):
        # the load measures the command path on this night. --snapshots: each takes one.
        resume = [] if with_snapshots else ["--epoch", epoch, "--since", str(head)]
        generator = subprocess.run(
            fanout.pinned(fanout.LOAD_CORE, sys.executable, str(Path(fanout.__file__).resolve()), "--role", "load", "--port", str(port),
                          "--server-pid", str(server.pid), "--viewers", str(viewers), "--rate", str(rate), "--duration", str(duration),
                          "--officer-token", officer, "--viewer-token", viewer, *resume),
            cwd=ROOT, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if generator.returncode != 0:
            raise RuntimeError(f"the load generator failed against the {label} night: {generator.stderr.strip().splitlines()[-1:]}")
        result = dict(json.loads(generator.stdout.strip().splitlines()[-1]))
        result["rss_after"] = rss_kib(server.pid)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(directory, ignore_errors=True)
    result.update(
        incidents=count,
        kinds=kinds,
        loaded=loaded,
        start_up=start_up,
        snapshot_s=snapshot_s,
        shared_s=shared_s,
        snapshot_bytes=snapshot_bytes,
        paged=paged,
        pulled=pulled,
        whole_log=whole_log,
        whole_snapshots=whole_snapshots,
        gap=gap,
        rss=rss,
        repeated=repeated,
        cpu_per_report=result["cpu"] / max(1, result["committed"]),
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=50_000, help="incidents in the full night (default 50,000)")
    parser.add_argument("--viewers", type=int, default=1000, help="viewers during the load (default 1,000)")
    parser.add_argument("--rate", type=int, default=200, help="reports/s during the load (default 200)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of load per night (default 8)")
    parser.add_argument("--snapshots", action="store_true", help="the load's viewers connect without resuming: each takes the night's snapshot first")
    parser.add_argument("--smoke", action="store_true", help="2,000 incidents and a small load: the whole path in seconds (CI; its figures mean nothing)")
    parser.add_argument("--flood", choices=("whole-log", "whole-snapshots"), help=argparse.SUPPRESS)  # the process beside the officer
    parser.add_argument("--flood-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--flood-token", help=argparse.SUPPRESS)
    parser.add_argument("--flood-seconds", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.flood:
        print(json.dumps(asyncio.run(flood(args.flood, args.flood_port, args.flood_token, args.flood_seconds))))
        return
    if args.smoke:
        args.incidents, args.viewers, args.rate, args.duration = 2_000, fanout.PROBES + 20, 20, 1.0
    if args.incidents < 1 or args.viewers <= fanout.PROBES or args.rate < 1 or args.duration <= 0:
        parser.error(f"--incidents at least 1, --viewers more than {fanout.PROBES}, --rate at least 1, --duration above 0")
    fanout.raise_open_files(args.viewers + 1000)
    gc.collect()
    print(
        f"# bench/night.py: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores ({fanout._cpu_model()}), "
        f"{args.viewers:,} viewers ({'each taking a snapshot' if args.snapshots else 'resuming at the head'}) and {args.rate:,} reports/s for {args.duration:g} s per night"
    )
    print(f"# load before: {fanout._uptime()}")
    with tempfile.TemporaryDirectory(prefix="opsmon-night-") as work:
        repeat_count = 300 if args.smoke else REPEATS
        empty = run_night("empty", 0, Path(work), args.viewers, args.rate, args.duration, args.snapshots, repeat_count)
        full = run_night("full", args.incidents, Path(work), args.viewers, args.rate, args.duration, args.snapshots, repeat_count)
    kinds = full["kinds"]
    print(
        f"# the night: {args.incidents:,} incidents, {kinds['events']:,} events ({kinds.get('incident.noted', 0):,} notes, "
        f"{kinds.get('incident.resolved', 0):,} resolved, {kinds.get('incident.duplicate', 0):,} folds, {kinds.get('incident.merged', 0):,} merges), "
        f"{kinds['notes']:,} notes held in the state; loaded through the store in {full['loaded']:.1f} s"
    )
    print()
    print("| figure | empty night | full night | full / empty |")
    print("| --- | --- | --- | --- |")

    def line(name: str, a: float, b: float, unit: str, digits: int = 1) -> None:
        ratio = b / a if a else float("nan")
        print(f"| {name} | {a:,.{digits}f} {unit} | {b:,.{digits}f} {unit} | {ratio:.2f}x |")

    line("server start-up (to listening)", empty["start_up"], full["start_up"], "s", 2)
    line("new viewer: welcome + snapshot, the first (built)", empty["snapshot_s"] * 1000, full["snapshot_s"] * 1000, "ms")
    line(f"new viewer: the next {SNAPSHOTS - 1} (shared), median", empty["shared_s"] * 1000, full["shared_s"] * 1000, "ms")
    line("snapshot bytes", empty["snapshot_bytes"] / 1024, full["snapshot_bytes"] / 1024, "KiB")
    for size in PAGES:
        line(f"paged (page {size}): welcome + snapshot, the first (built)", empty["paged"][size][0] * 1000, full["paged"][size][0] * 1000, "ms")
        line(f"paged (page {size}): the next {PAGED_ROUNDS - 1} (shared), median", empty["paged"][size][1] * 1000, full["paged"][size][1] * 1000, "ms")
        line(f"paged (page {size}): snapshot bytes", empty["paged"][size][2] / 1024, full["paged"][size][2] / 1024, "KiB")
    line(f"paged: every page pulled ({MAX_PAGE} a page), to the last", empty["pulled"][0] * 1000, full["pulled"][0] * 1000, "ms")
    e, f = empty["whole_log"], full["whole_log"]
    line("the whole log in whole pages (`opsmon list`, sitrep): one pass, median", e["pass_s"] * 1000, f["pass_s"] * 1000, "ms")
    line("the whole log in whole pages: bytes", e["pass_bytes"] / 1024, f["pass_bytes"] / 1024, "KiB")
    line("officer's report round trip, quiet, p99", e["quiet_p99"], f["quiet_p99"], "ms")
    line("officer's report round trip beside a viewer pulling the whole log back to back, p99", e["flooded_p99"], f["flooded_p99"], "ms")
    e, f = empty["whole_snapshots"], full["whole_snapshots"]
    line("officer's report round trip, quiet again, p99", e["quiet_p99"], f["quiet_p99"], "ms")
    line("officer's report round trip beside a viewer token reconnecting unpaged on 4 connections, p99", e["flooded_p99"], f["flooded_p99"], "ms")
    print(f"| whole snapshots that token got meanwhile | {e['passes']} | {f['passes']} | |")
    line("server RSS after start-up", empty["rss"] / 1024, full["rss"] / 1024, "MiB")
    line("server RSS after the load", empty["rss_after"] / 1024, full["rss_after"] / 1024, "MiB")
    timed = min(REPEATS_TIMED, repeat_count // 3)
    for n, which in enumerate((f"the first {timed}", f"the last {timed} ({repeat_count - timed:,} notes on it before them)")):
        line(f"server CPU per repeat report of one trouble, {which}", empty["repeated"][n] * 1000, full["repeated"][n] * 1000, "ms", 2)
    line("server CPU per report", empty["cpu_per_report"] * 1000, full["cpu_per_report"] * 1000, "ms", 2)
    line("delivery p99", empty["p99"], full["p99"], "ms")
    line("command answer p99", empty["result_p99"], full["result_p99"], "ms")
    line("events delivered", 100 * empty["delivered"], 100 * full["delivered"], "%")
    print(f"| viewers dropped | {empty['dropped']} | {full['dropped']} | |")
    print()
    per_incident = (full["rss"] - empty["rss"]) * 1024 / args.incidents
    print(f"# paged: the whole snapshot pulled in {full['pulled'][2]:,} pages after the first, {full['pulled'][1]:,} incidents held at the end")
    if full["gap"] is not None:
        behind, seconds, frames, size = full["gap"]
        print(f"# a resume over a {behind:,}-event gap (streamed in pages): {seconds * 1000:,.0f} ms to the last, {frames:,} frames, {size / 1024:,.0f} KiB")
    print(f"# memory per incident (RSS full - empty, after start-up): {per_incident:,.0f} bytes")
    for label, night in (("empty", empty), ("full", full)):
        first, last = night["repeated"]
        print(
            f"# one trouble reported {repeat_count:,} times on the {label} night: the last {timed} repeats cost {last / first:.2f}x the first {timed} (server CPU per report)"
        )
    for what, f in (("the whole log pulled", full["whole_log"]), ("whole snapshots taken (4 connections of one token, unpaged)", full["whole_snapshots"])):
        print(
            f"# {what} {f['passes']} times beside the officer: round trip p50 {f['flooded_p50']:.1f} ms, p99 {f['flooded_p99']:.1f} ms "
            f"against {f['quiet_p50']:.1f} / {f['quiet_p99']:.1f} ms quiet on the same night ({f['flooded_p99'] / f['quiet_p99']:.2f}x at p99)"
        )
    print(f"# load after: {fanout._uptime()}")


if __name__ == "__main__":
    main()
