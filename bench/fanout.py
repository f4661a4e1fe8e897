"""Fan-out against its floor, in one run: `.venv/bin/python bench/fanout.py [--quick]`.

For each load (N viewers, R reports/s) it starts, one after the other,

- **floor**: a bare websockets broadcast server (no validation, no storage):
  it answers each command at once and joins the events every 50 ms into one
  frame for `websockets.broadcast`, the transport's floor;
- **opsmon**: `opsmon-server serve` with the shipped config (its own
  database, `synchronous = "full"`, compression declined),

each pinned with `taskset` to core 0, and drives it from a load generator
pinned to core 1 with the same load: N viewers, almost all cheap raw
readers (a websocket handshake offering permessage-deflate, as `opsmon`
and most clients do, then bytes counted, not parsed) and a few timing
probes (real websockets clients that parse every frame, connected spread among
the raw readers so that they sample every place in a tick's writing order), and R reports/s
sent open-loop by 8 officers, each with a token and a connection of its own
(more where one would pass 40/s: under the 50 commands/s connection limit),
in a process of their own on the load generator's core, so an answer is read
when it comes, not after the viewers' sweep (`--role officers`). It prints, for each server, p50/p95/p99/max from a command
being sent to a probe receiving its event, p99 from sent to its `result`,
the fraction of events delivered to all viewers, clients dropped and the
server's CPU seconds, then the ratios opsmon/floor.

Loopback only. The load generator shares core 1 with whatever else runs on
the machine (uptime is printed): compare ratios within one run, not
absolute figures across runs; `--repeat K` runs each load K times (floor
and opsmon back to back each time) and reports the median and range.

Profiles: `FANOUT_PROFILE=FILE` runs opsmon under cProfile; `FANOUT_PYSPY=FILE`
(py-spy on PATH) samples each server (`KIND` in FILE becomes floor or opsmon)
during the load's clock only, as raw stacks, every thread;
`FANOUT_PYSPY_GIL=1` only the thread holding the GIL (Python's own CPU).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

ROOT = Path(__file__).resolve().parent.parent
HERE = str(Path(__file__).resolve())  # run again as the load generator and the officers
sys.path.insert(0, str(ROOT))

CONFIG = ROOT / "config.toml"
REGENCIES = ["6301", "6302", "6303", "6304", "6305", "6306", "6307", "6308", "6309", "6310", "6311", "6371", "6372"]
SERVER_CORE, LOAD_CORE = "0", "1"
PROBES = 20
OFFICERS = 8  # officers sending the reports, each with a token of its own (as at the post)
OFFICER_RATE = 40.0  # reports/s per officer connection: under the 50/s limit
EVENT_MARK = b'"type":"event"'  # once per event, in an event frame or a batch
FLOOR_TICK = 0.05
SWEEP = 0.1  # seconds between a raw viewer's reads
LOADS = [(1000, 200), (5000, 100), (200, 1000)]
CURVE = [250, 500, 1000, 2000]  # --curve: viewers at 200 reports/s (and 5,000 without --smoke)
P99_TARGET = 250.0  # ms: --curve says how many viewers one core serves under it
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def report_message(command_id: str, n: int) -> str:
    """The officers' `n`th report: one trouble at one place, the regencies in turn
    (so each regency's first is an incident and the rest repeats folded into it)."""
    return json.dumps(
        {
            "type": "report",
            "id": command_id,
            "incident": {
                "regency": REGENCIES[n % len(REGENCIES)],
                "category": "logistik",
                "severity": "medium",
                "title": f"Laporan {command_id}",
                "location": "Kec. Banjarmasin Utara, TPS 012",
            },
        }
    )


def officer_count(rate: float) -> int:
    """The issue's 8 officers (a token each), more where each would pass OFFICER_RATE."""
    return max(OFFICERS, round(rate / OFFICER_RATE + 0.49))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads), from /proc."""
    user, system = cpu_split(pid)
    return user + system


def cpu_split(pid: int) -> tuple[float, float]:
    """User and system CPU of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# --- the floor: a bare broadcast server ---------------------------------------------------------------


async def floor_server(port: int) -> None:
    import msgspec
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    clients: set[ServerConnection] = set()
    pending: list[bytes] = []
    seq = 0

    async def handle(ws: ServerConnection) -> None:
        nonlocal seq
        clients.add(ws)
        try:
            async for raw in ws:
                message = msgspec.json.decode(raw)
                if message.get("type") != "report":
                    continue
                seq += 1
                await ws.send(msgspec.json.encode({"type": "result", "id": message["id"], "ok": True, "seq": seq}), text=True)
                pending.append(
                    msgspec.json.encode(
                        {
                            "type": "event",
                            "seq": seq,
                            "ts": "2024-02-14T13:00:00.000Z",
                            "kind": "incident.reported",
                            "actor": {"name": "officer", "agency": "KPU"},
                            "data": message["incident"],
                        }
                    )
                )
        except Exception:
            pass
        finally:
            clients.discard(ws)

    async def ticker() -> None:
        nonlocal pending
        while True:
            await asyncio.sleep(FLOOR_TICK)
            if pending:
                frame = b'{"type":"batch","events":[' + b",".join(pending) + b"]}"
                pending = []
                broadcast(clients, frame, text=True)

    async with serve(handle, "127.0.0.1", port, compression=None, ping_interval=None, max_size=None):
        print("floor: listening", flush=True)
        await ticker()


# --- the load generator ----------------------------------------------------------------------------------


class RawViewer:
    """A viewer that offers permessage-deflate, says hello, then only counts
    events. It is a bare socket read in sweeps every SWEEP seconds: the kernel
    holds what arrives in between, so the server's work (one write per frame)
    is what it would be for a client reading at once, at a fraction of the
    load generator's CPU (which would otherwise bound what is measured)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.events = 0
        self.tail = b""
        self.closed = False
        self.deflate = False

    async def open(self, port: int, hello: bytes) -> bool:
        loop = asyncio.get_running_loop()
        await loop.sock_connect(self.sock, ("127.0.0.1", port))
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        await loop.sock_sendall(
            self.sock,
            (
                "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
            ).encode(),
        )
        header = b""
        while b"\r\n\r\n" not in header:
            chunk = await loop.sock_recv(self.sock, 65536)
            if not chunk:
                return False
            header += chunk
        head, rest = header.split(b"\r\n\r\n", 1)
        self.deflate = b"permessage-deflate" in head.lower()
        self.count(rest)
        await loop.sock_sendall(self.sock, _masked_text(hello))
        return head.startswith(b"HTTP/1.1 101")

    def count(self, data: bytes) -> None:
        self.events += data.count(EVENT_MARK) + (self.tail + data[: len(EVENT_MARK) - 1]).count(EVENT_MARK)
        self.tail = data[-(len(EVENT_MARK) - 1) :]

    def sweep(self) -> None:
        """Read whatever the kernel holds."""
        while not self.closed:
            try:
                data = self.sock.recv(1 << 18)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self.closed = True
                return
            self.count(data)


async def sweeper(viewers: list[RawViewer]) -> None:
    while True:
        for start in range(0, len(viewers), 250):
            for viewer in viewers[start : start + 250]:
                viewer.sweep()
            await asyncio.sleep(0)  # let the probes read between slices
        await asyncio.sleep(SWEEP)


def _masked_text(payload: bytes) -> bytes:
    mask = secrets.token_bytes(4)
    length = len(payload)
    header = bytes([0x81, 0x80 | length]) if length < 126 else bytes([0x81, 0x80 | 126]) + length.to_bytes(2, "big")
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def gc_figures(port: int) -> tuple[float, float, float, float, float, float] | None:
    """opsmon-server's garbage collection so far, from its /metrics: seconds paused,
    full collections, the longest pause (s); and its events, group commits and
    fan-out ticks so far; None from a server without them."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            body = response.read().decode()
    except OSError:
        return None
    seconds = full = longest = events = commits = ticks = 0.0
    found = False
    for line in body.splitlines():
        if line.startswith("opsmon_events_total "):
            events = float(line.rsplit(" ", 1)[1])
        elif line.startswith("opsmon_commits_total "):
            commits = float(line.rsplit(" ", 1)[1])
        elif line.startswith("opsmon_broadcast_ticks_total "):
            ticks = float(line.rsplit(" ", 1)[1])
        if line.startswith("opsmon_gc_pause_seconds_total{"):
            seconds += float(line.rsplit(" ", 1)[1])
            found = True
        elif line.startswith('opsmon_gc_collections_total{generation="2"}'):
            full = float(line.rsplit(" ", 1)[1])
        elif line.startswith("opsmon_gc_pause_longest_seconds{"):
            longest = max(longest, float(line.rsplit(" ", 1)[1]))
    return (seconds, full, longest, events, commits, ticks) if found else None


@dataclass
class Probe:
    received: dict[int, float] = field(default_factory=dict)
    closed: bool = False


@dataclass
class Officer:
    sent: dict[str, float] = field(default_factory=dict)
    results: dict[str, tuple[int, float]] = field(default_factory=dict)


def hello(args: argparse.Namespace, token: str) -> str:
    # --epoch/--since (bench/night.py): viewers that resume at the head, so the load
    # measures the command path on a big night, not a thousand snapshots at once.
    return json.dumps({"type": "hello", "token": token, "client": "bench/fanout", "epoch": args.epoch, "since": args.since})


async def open_client(args: argparse.Namespace, token: str) -> ClientConnection:
    from websockets.asyncio.client import connect

    ws = await connect(f"ws://127.0.0.1:{args.port}/ws", max_size=None, max_queue=None, open_timeout=60)  # offers permessage-deflate
    await ws.send(hello(args, token))
    return ws


async def officers(args: argparse.Namespace) -> None:
    """`--role officers`: the officers, in a process of their own beside the viewers'
    (on the load generator's core): an answer is read when it arrives, not after the
    viewers' sweep and the probes' parsing in the same loop (which put tens of ms into
    the answer p99 at 5,000 viewers, the server's own being under 50). Connects, says
    "ready", sends from the `go BEGUN` it is given for the load's duration, then
    prints what each officer sent and was answered (perf_counter: the same clock as
    the probes') and its own CPU."""
    count = officer_count(args.rate)
    crew = [Officer() for _ in range(count)]
    tokens = args.officer_token.split(",")
    sockets = [await open_client(args, tokens[n % len(tokens)]) for n in range(count)]

    async def answers(officer: Officer, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                if isinstance(raw, bytes) and raw.startswith(b'{"type":"result"') or isinstance(raw, str) and raw.startswith('{"type":"result"'):
                    frame = json.loads(raw)
                    if frame.get("ok"):
                        officer.results[frame["id"]] = (frame["seq"], time.perf_counter())
        except Exception:
            pass

    readers = [asyncio.create_task(answers(o, ws)) for o, ws in zip(crew, sockets, strict=True)]
    print("ready", flush=True)
    begun = float((await asyncio.to_thread(sys.stdin.readline)).split()[1])
    cpu_before = cpu_seconds(os.getpid())

    async def send(index: int, officer: Officer, ws: ClientConnection) -> None:
        interval = count / args.rate
        start = begun + index * interval / count
        n = 0
        while True:
            at = start + n * interval
            if at > begun + args.duration:
                return
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            command_id = f"o{index}-{n}"
            officer.sent[command_id] = time.perf_counter()
            await ws.send(report_message(command_id, n))
            n += 1

    await asyncio.gather(*(send(i, o, ws) for i, (o, ws) in enumerate(zip(crew, sockets, strict=True))))
    give_up = time.perf_counter() + 10  # every answer, or give up
    while time.perf_counter() < give_up:
        if sum(len(o.results) for o in crew) >= sum(len(o.sent) for o in crew):
            break
        await asyncio.sleep(0.05)
    cpu = cpu_seconds(os.getpid()) - cpu_before
    for task in readers:
        task.cancel()
    print(json.dumps({"officers": [{"sent": o.sent, "results": o.results} for o in crew], "cpu": cpu}), flush=True)


async def load(args: argparse.Namespace) -> dict[str, Any]:
    raw_hello = hello(args, args.viewer_token).encode()

    # The probes connect spread among the other viewers, not after them all: a server
    # writes to its viewers in some order (opsmon in the order they connected, from a
    # new place each tick; the floor in its set's order), and probes that all came
    # last would time the end of every tick, not the viewers' spread.
    raws: list[RawViewer] = []
    probe_sockets: list[ClientConnection] = []
    steps = range(0, args.viewers - PROBES, 100)  # in steps: the listen backlog is 100
    for step, start in enumerate(steps):
        batch = [RawViewer() for _ in range(min(100, args.viewers - PROBES - start))]
        if not all(await asyncio.gather(*(v.open(args.port, raw_hello) for v in batch))):
            raise RuntimeError("a viewer's handshake failed")
        raws += batch
        while len(probe_sockets) < PROBES * (step + 1) // len(steps):
            probe_sockets.append(await open_client(args, args.viewer_token))
    sweeping = asyncio.create_task(sweeper(raws))
    probes = [Probe() for _ in probe_sockets]

    async def listen(probe: Probe, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                now = time.perf_counter()
                frame = json.loads(raw)
                kind = frame.get("type")
                for event in frame["events"] if kind == "batch" else [frame] if kind == "event" else []:
                    probe.received[event["seq"]] = now
        except Exception:
            pass
        probe.closed = True

    listeners = [asyncio.create_task(listen(p, ws)) for p, ws in zip(probes, probe_sockets, strict=True)]
    crew = await asyncio.create_subprocess_exec(
        sys.executable, HERE, "--role", "officers", "--port", str(args.port), "--rate", str(args.rate),
        "--duration", str(args.duration), "--officer-token", args.officer_token, *([] if args.epoch is None else ["--epoch", args.epoch]),
        *([] if args.since is None else ["--since", str(args.since)]), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert crew.stdin is not None and crew.stdout is not None
    if (await crew.stdout.readline()).strip() != b"ready":
        raise RuntimeError("the officers did not connect")
    # Welcome and snapshot delivered everywhere before the clock starts: wait for the server to go idle.
    settle = time.perf_counter() + 30
    while time.perf_counter() < settle:
        before = cpu_seconds(args.server_pid)
        await asyncio.sleep(0.25)
        if cpu_seconds(args.server_pid) - before < 0.02:
            break
    for viewer in raws:
        viewer.events = 0
    for probe in probes:
        probe.received.clear()

    gc_before = await asyncio.to_thread(gc_figures, args.port)
    cpu_before = cpu_seconds(args.server_pid)
    split_before = cpu_split(args.server_pid)
    own_before = cpu_seconds(os.getpid())
    begun = time.perf_counter()
    if os.environ.get("FANOUT_BEGUN"):
        os.close(os.open(os.environ["FANOUT_BEGUN"], os.O_CREAT | os.O_WRONLY))  # FANOUT_PYSPY: the profile starts now
    crew.stdin.write(f"go {begun!r}\n".encode())
    await crew.stdin.drain()
    told = json.loads((await crew.stdout.read()).decode().strip().splitlines()[-1])
    await crew.wait()
    officers = [Officer(sent=o["sent"], results={cid: (seq, at) for cid, (seq, at) in o["results"].items()}) for o in told["officers"]]
    sent = sum(len(o.sent) for o in officers)
    # Let the last events arrive: every result, and every probe holding every event, or give up.
    give_up = time.perf_counter() + 10
    while time.perf_counter() < give_up:
        committed = {seq for o in officers for seq, _ in o.results.values()}
        if len(committed) >= sent and all(committed <= p.received.keys() or p.closed for p in probes):
            break
        await asyncio.sleep(0.05)
    committed = {seq for o in officers for seq, _ in o.results.values()}
    for _ in range(30):  # and every raw viewer, swept every SWEEP seconds
        if all(v.events >= len(committed) or v.closed for v in raws):
            break
        await asyncio.sleep(SWEEP)
    cpu = cpu_seconds(args.server_pid) - cpu_before
    split_after = cpu_split(args.server_pid)
    own = cpu_seconds(os.getpid()) - own_before + told["cpu"]
    gc_after = await asyncio.to_thread(gc_figures, args.port)
    elapsed = time.perf_counter() - begun

    sent_at = {seq: o.sent[cid] for o in officers for cid, (seq, _) in o.results.items()}
    to_result = [at - o.sent[cid] for o in officers for cid, (_, at) in o.results.items()]
    to_viewer = [p.received[seq] - sent_at[seq] for p in probes for seq in sent_at if seq in p.received]
    committed_count = len(sent_at)
    delivered_raw = sum(min(v.events, committed_count) for v in raws)
    delivered_probes = sum(len(sent_at.keys() & p.received.keys()) for p in probes)
    deflate = sum(v.deflate for v in raws) + sum(
        bool(ws.response and "permessage-deflate" in ws.response.headers.get("Sec-WebSocket-Extensions", "")) for ws in probe_sockets
    )
    result = {
        "sent": sent,
        "committed": committed_count,
        "p50": pct(to_viewer, 0.50),
        "p95": pct(to_viewer, 0.95),
        "p99": pct(to_viewer, 0.99),
        "max": pct(to_viewer, 1.0),
        "result_p99": pct(to_result, 0.99),
        # Raw readers cannot count what they cannot read: with deflate accepted, probes only.
        "delivered": (delivered_probes if any(v.deflate for v in raws) else delivered_raw + delivered_probes)
        / max(1, committed_count * (PROBES if any(v.deflate for v in raws) else args.viewers)),
        "dropped": sum(v.closed for v in raws) + sum(p.closed for p in probes),
        "cpu": cpu,
        "cpu_user": split_after[0] - split_before[0],
        "cpu_system": split_after[1] - split_before[1],
        "load_cpu": own,
        "elapsed": elapsed,
        "deflate_connections": deflate,
        # opsmon's /metrics (server/gctune.py); None for the floor, which has none.
        "gc_seconds": None if gc_after is None or gc_before is None else gc_after[0] - gc_before[0],
        "gc_full": None if gc_after is None or gc_before is None else gc_after[1] - gc_before[1],
        "gc_longest_ms": None if gc_after is None else gc_after[2] * 1000,
        # Events a group commit (a disk sync each) and fan-out ticks in the load's time (opsmon only).
        "per_commit": None if gc_after is None or gc_before is None else (gc_after[3] - gc_before[3]) / max(1.0, gc_after[4] - gc_before[4]),
        "ticks": None if gc_after is None or gc_before is None else gc_after[5] - gc_before[5],
    }
    for task in (*listeners, sweeping):
        task.cancel()
    for viewer in raws:
        viewer.sock.close()
    return result


# --- the orchestrator -----------------------------------------------------------------------------------


def bench_config(directory: Path, compression: str, synchronous: str, max_delay: float | None, gather: float | None = None) -> Path:
    """The shipped province; pings out of the way of readers that never answer them,
    and no connection limits (every viewer shares one token and one address)."""
    text = CONFIG.read_text(encoding="utf-8")
    one_host = f'compression = "{compression}"\nmax_connections_per_token = 100000\nmax_connections_per_address = 100000'  # every viewer is 127.0.0.1
    for old, new in (
        ("ping_interval_seconds = 20", "ping_interval_seconds = 600"),
        ('compression = "none"', one_host),
        ('synchronous = "full"', f'synchronous = "{synchronous}"'),
    ):
        assert old in text, old
        text = text.replace(old, new)
    if max_delay is not None:
        text = text.replace("broadcast_max_delay_ms = 50", f"broadcast_max_delay_ms = {max_delay:g}")
    if gather is not None:
        assert "group_commit_wait_ms = 5" in text
        text = text.replace("group_commit_wait_ms = 5", f"group_commit_wait_ms = {gather:g}")
    path = directory / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def make_tokens(db: str | Path, officers: int = 1) -> tuple[str, str]:
    """`officers` officers' tokens (comma-separated) and a viewer's (a SQLite path or a
    PostgreSQL URL; bench/replicas.py too)."""
    from opsmon.core.config import load_config
    from server.auth import add_token
    from server.store.backends import open_store

    known = {r.code for r in load_config(CONFIG).regencies}
    async with open_store(db) as store:
        tokens = [await add_token(store, f"petugas-{n + 1}" if officers > 1 else "petugas", "officer", "KPU", None, known) for n in range(officers)]
        viewer = await add_token(store, "dinding", "viewer", "Bawaslu", None, known)
    return ",".join(tokens), viewer


def pinned(core: str, *command: str) -> list[str]:
    return ["taskset", "-c", core, *command] if shutil.which("taskset") and os.cpu_count() and os.cpu_count() >= 2 else list(command)  # type: ignore[operator]


def run_one(
    kind: str, viewers: int, rate: int, duration: float, work: Path, synchronous: str, max_delay: float | None, gather: float | None = None
) -> dict[str, Any]:
    port = free_port()
    directory = Path(tempfile.mkdtemp(dir=work))
    officer_token = viewer_token = "-"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if kind == "floor":
        command = [sys.executable, str(Path(__file__).resolve()), "--role", "floor", "--port", str(port)]
    else:
        compression = "deflate" if kind == "opsmon+deflate" else "none"
        if kind == "opsmon+gc-defaults":
            env["OPSMON_GC_DEFAULTS"] = "1"  # server/gctune.py: CPython's thresholds, nothing frozen
        config, db = bench_config(directory, compression, synchronous, max_delay, gather), directory / "opsmon.db"
        officer_token, viewer_token = asyncio.run(make_tokens(db, officer_count(rate)))
        profile = ["-m", "cProfile", "-o", args_profile] if (args_profile := os.environ.get("FANOUT_PROFILE")) else []
        serve = ["serve", "--config", str(config), "--db", str(db), "--port", str(port), "--log-level", "error"]
        if kind == "opsmon+uvloop":  # the same server on uvloop's event loop (--uvloop; measured, not shipped)
            starter = "import sys, uvloop; uvloop.install(); from server.cli import main; sys.exit(main(sys.argv[1:]))"
            command = [sys.executable, "-c", starter, *serve]
        else:
            command = [sys.executable, *profile, "-m", "server.cli", *serve]
    server = subprocess.Popen(pinned(SERVER_CORE, *command), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        assert server.stdout is not None
        line = server.stdout.readline().decode()
        if "listening" not in line:
            raise RuntimeError(f"{kind} did not start: {line!r}")
        spy: list[subprocess.Popen[bytes]] = []
        if spy_to := os.environ.get("FANOUT_PYSPY"):
            spy_to = spy_to.replace("KIND", kind)
            # A sampled profile of the server during the load's clock only (py-spy record,
            # raw stacks; FANOUT_PYSPY_GIL=1: only the thread holding the GIL, i.e. Python's CPU).
            begun = directory / "begun"
            env["FANOUT_BEGUN"] = str(begun)

            def start_spy() -> None:
                while not begun.exists() and server.poll() is None:
                    time.sleep(0.01)
                gil = ["--gil"] if os.environ.get("FANOUT_PYSPY_GIL") else []
                command = [
                    "py-spy",
                    "record",
                    "--pid",
                    str(server.pid),
                    "--rate",
                    "500",
                    "--threads",
                    *gil,
                    "--format",
                    "raw",
                    "--output",
                    spy_to,
                    "--duration",
                    str(int(duration)),
                ]
                spy.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

            threading.Thread(target=start_spy, daemon=True).start()
        generator = subprocess.run(
            pinned(LOAD_CORE, sys.executable, str(Path(__file__).resolve()), "--role", "load", "--port", str(port), "--server-pid", str(server.pid),
                   "--viewers", str(viewers), "--rate", str(rate), "--duration", str(duration), "--officer-token", officer_token, "--viewer-token", viewer_token),
            cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
        )  # fmt: skip
        if generator.returncode != 0:
            raise RuntimeError(f"load generator failed against {kind}: {generator.stderr.strip().splitlines()[-1:]}")
        for process in spy:
            process.wait(30)
        return dict(json.loads(generator.stdout.strip().splitlines()[-1]))
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(directory, ignore_errors=True)


def raise_open_files(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise SystemExit(f"bench/fanout.py: {needed} open files needed, the hard limit is {hard} (raise it with ulimit -Hn)")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))  # inherited by both children


def row(name: str, r: dict[str, Any]) -> str:
    return (
        f"| {name} | {r['p50']:.0f} | {r['p95']:.0f} | {r['p99']:.0f} | {r['max']:.0f} | {r['result_p99']:.0f} "
        f"| {100 * r['delivered']:.1f}% | {r['dropped']} | {r['cpu']:.2f} s ({r['cpu_user']:.2f} user, {r['cpu_system']:.2f} system) | {r['load_cpu']:.2f} s | {_gc(r)} | {_commits(r)} |"
    )


def _commits(r: dict[str, Any]) -> str:
    if r.get("per_commit") is None:
        return "-"
    return f"{r['per_commit']:.2f}, {r['ticks']:.0f} ticks"


def _gc(r: dict[str, Any]) -> str:
    if r.get("gc_seconds") is None:
        return "-"
    return f"{1000 * r['gc_seconds']:.0f} ms, {r['gc_full']:.0f} full, longest {r['gc_longest_ms']:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s of load per run instead of 8")
    parser.add_argument("--duration", type=float, help="seconds of load per run")
    parser.add_argument("--load", action="append", metavar="N,R", help="viewers,reports/s (repeatable; default the three of issue 9)")
    parser.add_argument("--no-deflate-row", action="store_true", help='skip opsmon with compression = "deflate" at the first load')
    parser.add_argument("--synchronous", choices=("full", "normal"), default="full", help="opsmon-server's [server] synchronous (default the shipped full)")
    parser.add_argument("--max-delay-ms", type=float, help="opsmon-server's [server] broadcast_max_delay_ms (default the shipped 50)")
    parser.add_argument("--group-commit-wait-ms", type=float, help="opsmon-server's [server] group_commit_wait_ms (default the shipped 5)")
    parser.add_argument("--gc-defaults", action="store_true", help="also run opsmon with CPython's GC defaults (OPSMON_GC_DEFAULTS=1) at each load")
    parser.add_argument("--uvloop", action="store_true", help="also run opsmon on uvloop's event loop at each load (needs uvloop installed)")
    parser.add_argument("--curve", action="store_true", help="the growth curve: 250, 500, 1,000, 2,000 (and 5,000 without --smoke) viewers at 200 reports/s")
    parser.add_argument("--smoke", action="store_true", help="the whole path at a load small enough for a few seconds (CI; its timings mean nothing)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="K",
        help="run each load K times (floor, then opsmon, each time): ratios as the median and range; --curve decides on the median",
    )
    parser.add_argument("--role", choices=("floor", "load", "officers"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--viewers", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--epoch", help=argparse.SUPPRESS)
    parser.add_argument("--since", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--officer-token", help=argparse.SUPPRESS)
    parser.add_argument("--viewer-token", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.curve:
        args.load = [f"{n},200" for n in CURVE + ([] if args.smoke else [5000])]
        args.duration = args.duration or (1.0 if args.smoke else None)
    elif args.smoke:
        args.quick, args.load, args.duration = False, [f"{PROBES + 20},20"], 1.0  # not quick: the deflate row too
    if args.role == "floor":
        asyncio.run(floor_server(args.port))
        return
    if args.role == "load":
        print(json.dumps(asyncio.run(load(args))))
        return
    if args.role == "officers":
        asyncio.run(officers(args))
        return

    if args.uvloop:
        try:
            import uvloop  # noqa: F401
        except ImportError:
            parser.error("--uvloop: uvloop is not installed (pip install uvloop)")
    loads = LOADS
    if args.load:
        try:
            loads = [(int(n), int(r)) for n, r in (item.split(",") for item in args.load)]
        except ValueError:
            parser.error("--load takes VIEWERS,RATE, e.g. --load 1000,200")
    if any(n <= PROBES or r <= 0 for n, r in loads):
        parser.error(f"--load: more than {PROBES} viewers and a positive rate")
    if args.repeat < 1:
        parser.error("--repeat: at least 1")
    duration = args.duration or (3.0 if args.quick else 8.0)
    raise_open_files(max(n for n, _ in loads) + 1000)
    print(
        f"# bench/fanout.py: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores ({_cpu_model()}), {duration:g} s of load per run, opsmon synchronous = {args.synchronous}, broadcast_max_delay_ms = {args.max_delay_ms or '50 (shipped)'}, "
        f"group_commit_wait_ms = {'5 (shipped)' if args.group_commit_wait_ms is None else f'{args.group_commit_wait_ms:g}'}"
    )
    print(
        f"# server on core {SERVER_CORE}, load generator on core {LOAD_CORE}; {PROBES} probes, officers at {OFFICER_RATE:g} reports/s each; viewers offer permessage-deflate"
    )
    print(f"# load before: {_uptime()}")
    print()
    print(
        "| N, R | server | p50 ms | p95 ms | p99 ms | max ms | p99 result ms | delivered | dropped | server CPU | load CPU | GC paused | events a commit, ticks |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    ratios: list[tuple[int, int, list[dict[str, float]]]] = []  # per load, one entry per repetition
    with tempfile.TemporaryDirectory(prefix="opsmon-fanout-") as work:
        for index, (n, r) in enumerate(loads):
            runs = []
            for repetition in range(args.repeat):  # floor and opsmon back to back each time: the machine's load moves
                kinds = ["floor", "opsmon"] + (
                    ["opsmon+deflate"] if index == 0 and repetition == 0 and not args.no_deflate_row and not args.quick and not args.curve else []
                )
                kinds += ["opsmon+gc-defaults"] if args.gc_defaults else []
                kinds += ["opsmon+uvloop"] if args.uvloop else []
                results = {}
                for kind in kinds:
                    results[kind] = run_one(kind, n, r, duration, Path(work), args.synchronous, args.max_delay_ms, args.group_commit_wait_ms)
                    print(row(f"{n:,}, {r:,}".replace("|", "") + f" | {kind}", results[kind]), flush=True)
                floor, ours = results["floor"], results["opsmon"]
                runs.append(
                    {
                        "p99": ours["p99"] / floor["p99"],
                        "cpu": ours["cpu"] / floor["cpu"],
                        "ours_p99": ours["p99"],
                        "answer": ours["result_p99"],
                        "floor_answer": floor["result_p99"],
                        "delivered": ours["delivered"],
                        "dropped": ours["dropped"],
                    }
                )
            ratios.append((n, r, runs))
    print()
    many = args.repeat > 1
    print("| N, R | p99 opsmon/floor | CPU opsmon/floor | opsmon p99 ms | answer p99 ms | floor answer p99 ms | opsmon delivered | opsmon dropped |" if not many else
          f"| N, R | p99 opsmon/floor, median (range of {args.repeat}) | CPU opsmon/floor, median (range) | opsmon p99 ms, median (range) | answer p99 ms, median (range) | floor answer p99 ms, median (range) | opsmon delivered (least) | opsmon dropped (all runs) |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for n, r, runs in ratios:
        keys = (("p99", "x"), ("cpu", "x"), ("ours_p99", ""), ("answer", ""), ("floor_answer", ""))
        cells = [_spread([run[key] for run in runs], unit) for key, unit in keys]
        print(f"| {n:,}, {r:,} | {' | '.join(cells)} | {100 * min(run['delivered'] for run in runs):.1f}% | {sum(int(run['dropped']) for run in runs)} |")
    if args.curve:
        held = [(n, statistics.median(run["ours_p99"] for run in runs)) for n, _r, runs in ratios]
        under = [n for n, p99 in held if p99 < P99_TARGET]
        over = [n for n, p99 in held if p99 >= P99_TARGET]
        print()
        if under:
            best = max(under)
            bound = f" (the next load, {min(n for n in over if n > best):,} viewers, was over)" if any(n > best for n in over) else " (the largest load tried)"
            what = "median opsmon p99" if many else "opsmon p99"
            print(f"# viewers on one core at {what} < {P99_TARGET:.0f} ms: {best:,}{bound}; 20,000 viewers need {-(-20000 // best)} such cores (processes)")
        else:
            print(f"# no load tried kept p99 under {P99_TARGET:.0f} ms")
    print()
    print(f"# load after: {_uptime()}")


def _spread(values: list[float], unit: str) -> str:
    """One figure, or the median and the range of several."""

    def text(value: float) -> str:
        return f"{value:.2f}{unit}" if unit else f"{value:.0f}"

    if len(values) == 1:
        return text(values[0])
    return f"{text(statistics.median(values))} ({text(min(values))} to {text(max(values))})"


def _uptime() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__().replace("'", "")


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


if __name__ == "__main__":
    main()
