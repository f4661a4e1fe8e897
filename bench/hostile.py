"""Hostile clients against a real server, in one run: `.venv/bin/python bench/hostile.py [--smoke] [--seconds 10]`.

Issue 22's attacks 1-4 and 10, each against its own fresh `opsmon-server serve`
(its own Python process, the shipped config.toml unchanged, a temporary SQLite
file, a free loopback port, and the systemd default of 1,024 open files), with
ONE honest officer beside it sending notes, acks and un-acks on its own
incident at a steady 10 commands/s, ONE viewer reading every event, a newcomer
connecting (hello, welcome) once a second and a `/healthz` probe twice a second.
Each attack runs `--seconds` quiet, then `--seconds` under attack (the attacker
in a process of its own, so its work does not delay the officer's clock, and
from its own address, 127.0.0.2, so per-address limits fall on it and not on
the honest clients at 127.0.0.1); then up to 5 s for the officer's last answers.

  1   dedup flood: one token scoped to regency 6371, 20 connections x 49 reports/s, every location distinct
  2   notes flood: 20 connections x 49 notes/s of 4,000 characters on one incident, and a viewer
      asking that incident's history twice a second and never reading its socket
  3a  a viewer token, 20 connections x 49 notes/s of 4,000 characters (every one refused)
  3b  84 hellos/s, each a new connection with a bad token and a 64 KiB hello
  4   1,500 TCP connections that start the HTTP upgrade and trickle a header byte every 5 s, never finishing it
  10  10 connections x 10 frames/s of JSON nested 30,000 deep (reconnecting when closed)

Printed, one row per attack: the honest officer's round trip (command sent to
its `result`) p50/p99 quiet and under attack and the ratio, answers still
missing 5 s after the attack, the server's RSS (VmRSS from /proc, the most seen
in the phase), the server's CPU seconds in each phase (what it spent, whatever
else the machine did meanwhile) and the attacker's (which shares this machine's
cores with the server and the officer; on a LAN it is another machine), the slowest /healthz, newcomers that failed, server log lines in
the phase, what became of the attacker's connections, and the issue's targets:
p99 under attack <= 3x quiet and < 100 ms with nothing unanswered; RSS < 300 MiB;
the attacker throttled or closed (a handshake refused HTTP 429 or 503 counts
as throttled). Loopback only; the machine's load is printed:
compare within a run. `--smoke`: every attack at a tiny load for 1.5 s (CI;
its timings mean nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SELF = Path(__file__).resolve()
ROOT = SELF.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fanout import CONFIG, make_tokens, pct, raise_open_files  # noqa: E402

SERVER_FILES = 1024  # systemd's default LimitNOFILE
OFFICER_RATE = 10.0  # the honest officer's commands a second
GRACE = 5.0  # seconds after the attack for the officer's last answers
ATTACKER_REGENCY = "6371"
# The attacker's sockets come from another loopback address (Linux routes all of
# 127/8 to lo): per-address limits then fall on the attacker, not on the honest
# officer, viewer and newcomers at 127.0.0.1, as on a post's LAN.
ATTACKER_ADDRESS = "127.0.0.2"
OFFICER_REGENCY = "6301"
NOTE = ("Catatan panjang tentang kotak suara di TPS 012 " * 100)[:4000]


@dataclass
class Attack:
    key: str
    title: str
    connections: int
    rate: float  # per connection a second (3b: hellos a second in all)
    smoke_connections: int
    smoke_rate: float

    def load(self, smoke: bool) -> tuple[int, float]:
        return (self.smoke_connections, self.smoke_rate) if smoke else (self.connections, self.rate)


ATTACKS = [
    Attack("1", "dedup flood (scoped officer, distinct locations)", 20, 49, 2, 10),
    Attack("2", "notes flood on one incident + unread history", 20, 49, 2, 10),
    Attack("3a", "viewer sending 4,000-char notes (refused)", 20, 49, 2, 10),
    Attack("3b", "failed 64 KiB hellos", 1, 84, 1, 10),
    Attack("4", "half-open TCP (handshake never finished)", 1500, 0, 50, 0),
    Attack("10", "deeply nested JSON", 10, 10, 2, 5),
]


def describe(attack: Attack, smoke: bool) -> str:
    n, r = attack.load(smoke)
    if attack.key == "3b":
        return f"{r:g} hellos/s"
    if attack.key == "4":
        return f"{n:,} sockets"
    extra = " + history 2/s unread" if attack.key == "2" else ""
    return f"{n} x {r:g}/s{extra}"


# --- frames on a bare socket ---------------------------------------------------------------------------


def masked_text(payload: bytes) -> bytes:
    """One masked text frame of any length (a client's frame, as a raw socket sends it)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        header = bytes([0x81, 0x80 | n])
    elif n < 65536:
        header = bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([0x81, 0x80 | 127]) + n.to_bytes(8, "big")
    body = (int.from_bytes(payload, "big") ^ int.from_bytes((mask * (n // 4 + 1))[:n], "big")).to_bytes(n, "big") if n else b""
    return header + mask + body


UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def refused_or_failed(exc: BaseException) -> str:
    """What a failed websocket connect says in the attacker's counts: a handshake the
    server refused with an HTTP status (429: throttled, 503: full) is named by it."""
    from websockets.exceptions import InvalidStatus

    if isinstance(exc, InvalidStatus):
        return f"refused HTTP {exc.response.status_code}"
    return f"connect failed ({type(exc).__name__})"


def attacker_socket() -> socket.socket:
    """A non-blocking TCP socket bound to the attacker's own loopback address."""
    sock = socket.socket()
    sock.bind((ATTACKER_ADDRESS, 0))
    sock.setblocking(False)
    return sock


def hello(token: str, client: str = "bench/hostile") -> str:
    return json.dumps({"type": "hello", "token": token, "client": client, "epoch": None, "since": None})


# --- the attacker (its own process) --------------------------------------------------------------------


class Tally:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def frame(self, raw: str | bytes) -> None:
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        if text.startswith('{"type":"result"'):
            answer = json.loads(text)
            self.counts["ok" if answer.get("ok") else f"refused {answer.get('code')}"] += 1
        elif text.startswith('{"type":"error"'):
            self.counts[f"error {json.loads(text).get('code')}"] += 1


async def attacker(args: argparse.Namespace) -> dict[str, Any]:
    from websockets.asyncio.client import ClientConnection, connect
    from websockets.exceptions import ConnectionClosed

    url = f"ws://127.0.0.1:{args.port}/ws"
    tally = Tally()
    counts = tally.counts
    stop = asyncio.Event()
    sent = 0

    async def open_ws(token: str) -> ClientConnection | None:
        try:
            ws = await connect(url, max_size=None, compression=None, open_timeout=10, ping_interval=None, local_addr=(ATTACKER_ADDRESS, 0))
        except Exception as exc:
            counts[refused_or_failed(exc)] += 1
            return None
        await ws.send(hello(token))
        try:
            while True:  # welcome, then snapshot
                first = await asyncio.wait_for(ws.recv(), 30)
                if '"type":"snapshot"' in first[:40] or '"type":"error"' in first[:40]:
                    tally.frame(first)
                    break
        except (ConnectionClosed, TimeoutError):
            record_close(ws)
            return None
        return ws

    def record_close(ws: ClientConnection) -> None:
        code = ws.close_code
        counts[f"closed {code}" if code is not None else "closed"] += 1

    async def reader(ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                tally.frame(raw)
        except ConnectionClosed:
            pass
        if not stop.is_set():
            record_close(ws)

    async def paced(ws: ClientConnection, rate: float, make: Any) -> None:
        nonlocal sent
        start, n = time.perf_counter(), 0
        while not stop.is_set():
            await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
            try:
                await ws.send(make(n))
            except ConnectionClosed:
                return
            sent += 1
            n += 1

    tag = os.getpid()
    hellos = [0]  # 3b: hellos answered
    tasks: list[asyncio.Task[Any]] = []
    kind = args.kind

    async def flood(token: str, make_for: Any) -> None:
        sockets = [ws for ws in await asyncio.gather(*(open_ws(token) for _ in range(args.connections))) if ws is not None]
        for index, ws in enumerate(sockets):
            tasks.append(asyncio.create_task(reader(ws)))
            tasks.append(asyncio.create_task(paced(ws, args.rate, make_for(index))))

    if kind == "1":

        def reports(index: int) -> Any:
            return lambda n: json.dumps(
                {
                    "type": "report",
                    "id": f"d{tag}-{index}-{n}",
                    "incident": {
                        "regency": ATTACKER_REGENCY,
                        "category": "logistik",
                        "severity": "low",
                        "title": f"Laporan {index}-{n}",
                        "location": f"Desa {index}-{n}, TPS {n % 900:03d}",
                    },
                }
            )

        await flood(args.officer_token, reports)
    elif kind == "2":
        first = await open_ws(args.officer_token)
        if first is None:
            raise SystemExit("the attacker could not connect")
        await first.send(
            json.dumps(
                {
                    "type": "report",
                    "id": f"n{tag}",
                    "incident": {"regency": ATTACKER_REGENCY, "category": "logistik", "severity": "low", "title": "Sasaran", "location": "Sasaran"},
                }
            )
        )
        while True:
            answer = json.loads(await first.recv())
            if answer.get("type") == "result":
                incident = answer["incident"]
                break
        await first.close()

        def notes(index: int) -> Any:
            return lambda n: json.dumps({"type": "note", "id": f"n{tag}-{index}-{n}", "incident": incident, "text": f"{n} {NOTE}"[:4000]})

        await flood(args.officer_token, notes)
        tasks.append(asyncio.create_task(unread_history(args.port, args.viewer_token, incident, stop, counts)))
    elif kind == "3a":

        def refused(index: int) -> Any:
            return lambda n: json.dumps({"type": "note", "id": f"v{tag}-{index}-{n}", "incident": 1, "text": NOTE})

        await flood(args.viewer_token, refused)
    elif kind == "3b":
        loops = 8
        for _ in range(loops):
            tasks.append(asyncio.create_task(bad_hellos(args.port, args.rate / loops, stop, counts, hellos)))
    elif kind == "4":
        raise_open_files(args.connections + 500)
        tasks.append(asyncio.create_task(half_open(args.port, args.connections, stop, counts)))
    elif kind == "10":
        nested = "[" * 30000 + "]" * 30000

        async def nester(index: int) -> None:
            nonlocal sent
            while not stop.is_set():
                ws = await open_ws(args.viewer_token)
                if ws is None:
                    await asyncio.sleep(0.2)
                    continue
                read = asyncio.create_task(reader(ws))
                await paced(ws, args.rate, lambda n: nested)
                await read
                counts["reconnects"] += 1

        for index in range(args.connections):
            tasks.append(asyncio.create_task(nester(index)))
    print("attacking", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # EOF: stop
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"sent": sent + hellos[0], "counts": dict(counts)}


async def unread_history(port: int, token: str, incident: int, stop: asyncio.Event, counts: Counter[str]) -> None:
    """A viewer that asks an incident's history twice a second and never reads its socket."""
    sock = attacker_socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(sock, UPGRADE)
    head = await loop.sock_recv(sock, 4096)
    if not head.startswith(b"HTTP/1.1 101"):
        counts["history viewer refused"] += 1
        return
    await loop.sock_sendall(sock, masked_text(hello(token).encode()))
    n = 0
    try:
        while not stop.is_set():
            await asyncio.wait_for(loop.sock_sendall(sock, masked_text(json.dumps({"type": "history", "id": f"h{n}", "incident": incident}).encode())), 5)
            counts["history asked (never read)"] += 1
            n += 1
            await asyncio.sleep(0.5)
    except (OSError, TimeoutError):
        counts["history viewer cut off"] += 1
    finally:
        sock.close()


async def bad_hellos(port: int, rate: float, stop: asyncio.Event, counts: Counter[str], sent: list[int]) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    big = hello(f"ops_{'x' * 43}", "b" * 64000)  # a 64 KiB frame, under the 64 KiB limit
    start, n = time.perf_counter(), 0
    while not stop.is_set():
        await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
        n += 1
        try:
            async with connect(f"ws://127.0.0.1:{port}/ws", max_size=None, compression=None, open_timeout=10, local_addr=(ATTACKER_ADDRESS, 0)) as ws:
                await ws.send(big)
                sent[0] += 1
                try:
                    raw = await asyncio.wait_for(ws.recv(), 10)
                    text = raw if isinstance(raw, str) else raw.decode()
                    counts[f"error {json.loads(text).get('code')}" if '"error"' in text[:20] else "answered"] += 1
                    await asyncio.wait_for(ws.recv(), 10)
                except ConnectionClosed:
                    pass
                counts[f"closed {ws.close_code}"] += 1
        except Exception as exc:
            counts[refused_or_failed(exc)] += 1


async def half_open(port: int, count: int, stop: asyncio.Event, counts: Counter[str]) -> None:
    loop = asyncio.get_running_loop()
    sockets: list[socket.socket] = []

    async def one() -> None:
        sock = attacker_socket()
        try:
            await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), 3)
            await loop.sock_sendall(sock, b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            sockets.append(sock)
        except (OSError, TimeoutError) as exc:
            counts[f"connect failed ({type(exc).__name__})"] += 1
            sock.close()

    closed: set[int] = set()
    trickling = asyncio.create_task(trickle(sockets, closed, stop))
    try:
        for start in range(0, count, 100):  # in steps: the listen backlog is 100
            await asyncio.gather(*(one() for _ in range(min(100, count - start))))
        await trickling
    finally:  # the task is cancelled at the end (perhaps before every socket is open): count then
        trickling.cancel()
        counts["opened"] = len(sockets)
        counts["closed by server"] = len(closed)
        counts["kept open"] = len(sockets) - len(closed)
        for sock in sockets:
            sock.close()


async def trickle(sockets: list[socket.socket], closed: set[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        await asyncio.sleep(1.0)
        for sock in sockets:
            if sock.fileno() in closed:
                continue
            try:
                if sock.recv(4096) == b"":
                    closed.add(sock.fileno())
            except BlockingIOError:
                pass
            except OSError:
                closed.add(sock.fileno())
        if int(time.monotonic()) % 5 == 0:  # trickle: one header byte every 5 s
            for sock in sockets:
                if sock.fileno() not in closed:
                    try:
                        sock.send(b"X")
                    except OSError:
                        closed.add(sock.fileno())


# --- the honest officer, the viewer, the newcomer, the probes (this process) ------------------------------


@dataclass
class Phase:
    sent: dict[str, float] = field(default_factory=dict)
    answered: dict[str, float] = field(default_factory=dict)
    rss: int = 0
    healthz: float = 0.0
    newcomers: int = 0
    newcomers_failed: int = 0
    log_lines: int = 0
    cpu: float = 0.0  # the server's CPU seconds (user + system) in the phase
    attacker_cpu: float = 0.0  # the attacker process's, likewise (on a real LAN, another machine's)

    def latencies(self) -> list[float]:
        return [self.answered[i] - t for i, t in self.sent.items() if i in self.answered]

    def unanswered(self) -> int:
        return sum(1 for i in self.sent if i not in self.answered)


def cpu_of(pid: int) -> float:
    """A process's CPU seconds so far, user and system (/proc/PID/stat): what the
    server spent, whatever else the machine was doing meanwhile."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_of(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


async def healthz(port: int) -> float:
    started = time.perf_counter()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        await asyncio.wait_for(reader.read(), 10)
        writer.close()
    except (OSError, TimeoutError):
        return 10.0
    return time.perf_counter() - started


async def measure(attack: Attack, smoke: bool, seconds: float, port: int, server_pid: int, log: Path, tokens: dict[str, str]) -> dict[str, Any]:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    url = f"ws://127.0.0.1:{port}/ws"
    phase = Phase()
    quiet, attacked = phase, Phase()
    viewer_events = 0
    viewer_closed = False

    async def welcomed(token: str) -> Any:
        ws = await connect(url, max_size=None, compression=None, open_timeout=10)
        await ws.send(hello(token))
        while '"type":"snapshot"' not in (await asyncio.wait_for(ws.recv(), 10))[:40]:
            pass
        return ws

    viewer = await welcomed(tokens["viewer"])
    officer = await welcomed(tokens["officer"])

    async def view() -> None:
        nonlocal viewer_events, viewer_closed
        try:
            async for raw in viewer:
                viewer_events += 1 if isinstance(raw, str) else 0
        except ConnectionClosed:
            pass
        viewer_closed = True

    incident_answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def answers() -> None:
        try:
            async for raw in officer:
                if isinstance(raw, str) and raw.startswith('{"type":"result"'):
                    answer = json.loads(raw)
                    if answer["id"] == "own":
                        incident_answer.set_result(answer["incident"])
                    else:
                        for p in (quiet, attacked):
                            if answer["id"] in p.sent:
                                p.answered[answer["id"]] = time.perf_counter()
        except ConnectionClosed:
            pass

    background = [asyncio.create_task(view()), asyncio.create_task(answers())]
    own = {"regency": OFFICER_REGENCY, "category": "logistik", "severity": "high", "title": "Kotak suara rusak", "location": "TPS 001"}
    await officer.send(json.dumps({"type": "report", "id": "own", "incident": own}))
    incident = await asyncio.wait_for(incident_answer, 10)

    def command(n: int) -> dict[str, Any]:
        step = n % 4
        if step == 1:
            return {"type": "ack", "id": f"c{n}", "incident": incident}
        if step == 3:
            return {"type": "unack", "id": f"c{n}", "incident": incident, "note": "Salah tekan"}
        return {"type": "note", "id": f"c{n}", "incident": incident, "text": f"Catatan {n}"}

    async def officer_loop() -> None:
        start, n = time.perf_counter(), 0
        while True:
            await asyncio.sleep(max(0.0, start + n / OFFICER_RATE - time.perf_counter()))
            message = command(n)
            phase.sent[message["id"]] = time.perf_counter()
            await officer.send(json.dumps(message))
            n += 1

    async def probes() -> None:
        while True:
            phase.healthz = max(phase.healthz, await healthz(port))
            await asyncio.sleep(0.5)

    async def sampler() -> None:
        while True:
            phase.rss = max(phase.rss, rss_of(server_pid))
            await asyncio.sleep(0.1)

    async def newcomers() -> None:
        while True:
            current = phase
            current.newcomers += 1
            try:
                ws = await asyncio.wait_for(welcomed(tokens["viewer"]), 5)
                await ws.close()
            except Exception:
                current.newcomers_failed += 1
            await asyncio.sleep(1.0)

    def log_lines() -> int:
        return log.read_bytes().count(b"\n")

    attacker_process = await asyncio.create_subprocess_exec(
        sys.executable, str(SELF), "--role", "attack", "--kind", attack.key, "--port", str(port),
        "--connections", str(attack.load(smoke)[0]), "--rate", str(attack.load(smoke)[1]),
        "--officer-token", tokens["attacker_officer"], "--viewer-token", tokens["attacker_viewer"],
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    loops = [asyncio.create_task(f()) for f in (officer_loop, probes, sampler, newcomers)]
    lines, cpu = log_lines(), cpu_of(server_pid)
    attacker_cpu = cpu_of(attacker_process.pid)
    await asyncio.sleep(seconds)
    quiet.log_lines, lines = log_lines() - lines, log_lines()
    quiet.cpu, cpu = cpu_of(server_pid) - cpu, cpu_of(server_pid)
    phase = attacked
    assert attacker_process.stdin is not None and attacker_process.stdout is not None
    attacker_process.stdin.write(b"go\n")
    await attacker_process.stdin.drain()
    await asyncio.sleep(seconds)
    attacked.cpu = cpu_of(server_pid) - cpu
    attacked.attacker_cpu = cpu_of(attacker_process.pid) - attacker_cpu
    loops[0].cancel()  # the officer stops sending; the probes go on through the grace
    attacker_process.stdin.close()
    give_up = time.perf_counter() + GRACE
    while time.perf_counter() < give_up:
        if not attacked.unanswered():
            break
        await asyncio.sleep(0.05)
    for task in loops:
        task.cancel()
    attacked.log_lines = log_lines() - lines
    try:
        out, _ = await asyncio.wait_for(attacker_process.communicate(), 30)
        report = json.loads(out.decode().strip().splitlines()[-1])
    except (TimeoutError, ValueError, IndexError):
        attacker_process.kill()
        report = {"sent": 0, "counts": {"attacker did not report": 1}}
    for task in background:
        task.cancel()
    for ws in (viewer, officer):
        await ws.close()
    return {"quiet": quiet, "attacked": attacked, "attacker": report, "viewer_closed": viewer_closed, "viewer_events": viewer_events}


# --- the orchestrator ------------------------------------------------------------------------------------


async def template_db(folder: Path) -> tuple[Path, dict[str, str]]:
    from opsmon.core.config import load_config
    from server.auth import add_token
    from server.store.backends import open_store

    db = folder / "template.db"
    officer, viewer = await make_tokens(db)
    known = {r.code for r in load_config(CONFIG).regencies}
    async with open_store(db) as store:
        attacker_officer = await add_token(store, "penyerang", "officer", "KPU", [ATTACKER_REGENCY], known)
        attacker_viewer = await add_token(store, "tab-liar", "viewer", "Bawaslu", None, known)
    return db, {"officer": officer, "viewer": viewer, "attacker_officer": attacker_officer, "attacker_viewer": attacker_viewer}


def limit_files() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (SERVER_FILES, hard if hard == resource.RLIM_INFINITY else max(hard, SERVER_FILES)))


def run_attack(attack: Attack, smoke: bool, seconds: float, work: Path, template: Path, tokens: dict[str, str]) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(dir=work))
    db = directory / "opsmon.db"
    for part in template.parent.glob(template.name + "*"):
        shutil.copy(part, directory / part.name.replace(template.name, db.name))
    config = directory / "config.toml"
    shutil.copy(CONFIG, config)
    log = directory / "server.log"
    with log.open("wb") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--config", str(config), "--db", str(db), "--host", "127.0.0.1", "--port", "0", "--log-level", "warning"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=log_file, preexec_fn=limit_files, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        try:
            assert server.stdout is not None
            line = server.stdout.readline().decode()
            found = re.search(r"ws://127\.0\.0\.1:(\d+)/ws", line)
            if found is None:
                raise RuntimeError(f"the server did not start: {line!r} {log.read_text()[-500:]}")
            return asyncio.run(measure(attack, smoke, seconds, int(found.group(1)), server.pid, log, tokens))
        finally:
            server.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(10)
            server.kill()  # nothing once it has exited
            server.wait()
            shutil.rmtree(directory, ignore_errors=True)


def attacker_fate(key: str, counts: dict[str, int]) -> tuple[str, bool]:
    """What happened to the attacker's connections, and whether that meets the target (throttled or closed)."""
    shown = ", ".join(f"{v:,} {k}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
    # A handshake refused 429 (too many failed hellos) or 503 (no room) is the server throttling the address.
    throttled = any(k.startswith(("refused rate_limited", "error too_many", "closed 1013", "refused HTTP 429", "refused HTTP 503")) for k in counts)
    closed = any(k.startswith("closed 10") and k != "closed 1011" for k in counts)
    if throttled:
        verdict, met = "throttled", True
    elif key == "3b":  # every bad hello is closed 1008 by design: the target is that the address is slowed down
        verdict, met = "not throttled", False
    elif key == "4":
        met = counts.get("closed by server", 0) > 0 and counts.get("kept open", 0) == 0
        verdict = "closed" if met else "kept"
    elif "closed 1011" in counts:  # the server's own error, not a limit (item 10: bad_message, then 1008)
        verdict, met = "closed by an internal error (1011)", False
    else:
        verdict, met = ("closed", True) if closed else ("kept", False)
    return f"{verdict}: {shown}", met


def ms(value: float) -> str:
    return "inf" if value == float("inf") else f"{value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, help="seconds quiet and seconds under attack, per attack (default 10; --smoke 1.5)")
    parser.add_argument("--only", action="append", metavar="KEY", help="run only these attacks (1, 2, 3a, 3b, 4, 10; repeatable)")
    parser.add_argument("--smoke", action="store_true", help="every attack at a tiny load for 1.5 s (CI; its timings mean nothing)")
    parser.add_argument("--role", choices=("attack",), help=argparse.SUPPRESS)
    for hidden, kind in (("kind", str), ("port", int), ("connections", int), ("rate", float), ("officer-token", str), ("viewer-token", str)):
        parser.add_argument(f"--{hidden}", type=kind, help=argparse.SUPPRESS)  # the attacker process's
    args = parser.parse_args()
    if args.role == "attack":
        sys.stdin.readline()  # "go"
        print(json.dumps(asyncio.run(attacker(args))), flush=True)
        return
    seconds = args.seconds or (1.5 if args.smoke else 10.0)
    attacks = [a for a in ATTACKS if not args.only or a.key in args.only]
    if not attacks:
        parser.error(f"--only: one of {', '.join(a.key for a in ATTACKS)}")
    raise_open_files(4000)
    print(
        f"# bench/hostile.py{' --smoke' if args.smoke else ''}: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
        f"{seconds:g} s quiet then {seconds:g} s under attack, each attack on a fresh server (shipped config.toml, SQLite, {SERVER_FILES} open files)"
    )
    print(f"# honest officer: note/ack/note/unack at {OFFICER_RATE:g}/s on its own incident; one viewer; a newcomer a second; /healthz twice a second")
    print(f"# load before: {Path('/proc/loadavg').read_text().split()[:3]}")
    print()
    print(
        "| attack | load | p50 quiet ms | p50 attack ms | p99 quiet ms | p99 attack ms | p99 ratio | unanswered | p99 target "
        "| RSS quiet MiB | RSS attack MiB | RSS target | server CPU s (quiet / attack) | attacker CPU s | /healthz max ms (quiet / attack) | newcomers failed | log lines (quiet / attack) | viewer | attacker's connections | attacker target |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |")
    failures = 0
    with tempfile.TemporaryDirectory(prefix="opsmon-hostile-") as work:
        template, tokens = asyncio.run(template_db(Path(work)))
        for attack in attacks:
            r = run_attack(attack, args.smoke, seconds, Path(work), template, tokens)
            quiet, attacked = r["quiet"], r["attacked"]
            q50, q99 = pct(quiet.latencies(), 0.5), pct(quiet.latencies(), 0.99)
            a50, a99 = pct(attacked.latencies(), 0.5), pct(attacked.latencies(), 0.99)
            if attacked.unanswered() > len(attacked.sent) * 0.01:
                a99 = float("inf")
            ratio = a99 / q99 if q99 else float("inf")
            p99_ok = a99 <= 3 * q99 and a99 < 100 and attacked.unanswered() == 0
            rss_ok = attacked.rss < 300 * 2**20
            fate, fate_ok = attacker_fate(attack.key, r["attacker"]["counts"])
            failures += not (p99_ok and rss_ok and fate_ok)
            sent = "" if attack.key == "4" else f", {r['attacker']['sent']:,} sent"  # 4 sends no frame
            viewer = "dropped" if r["viewer_closed"] else f"kept ({r['viewer_events']:,} frames)"
            print(
                f"| {attack.key} {attack.title} | {describe(attack, args.smoke)}{sent} | {ms(q50)} | {ms(a50)} | {ms(q99)} | {ms(a99)} | {ms(ratio)}x "
                f"| {attacked.unanswered()}/{len(attacked.sent)} | {'pass' if p99_ok else 'FAIL'} | {quiet.rss / 2**20:.0f} | {attacked.rss / 2**20:.0f} | {'pass' if rss_ok else 'FAIL'} "
                f"| {quiet.cpu:.2f} / {attacked.cpu:.2f} | {attacked.attacker_cpu:.2f} | {quiet.healthz * 1000:.0f} / {attacked.healthz * 1000:.0f} | {attacked.newcomers_failed}/{attacked.newcomers} "
                f"| {quiet.log_lines} / {attacked.log_lines:,} | {viewer} | {fate} | {'pass' if fate_ok else 'FAIL'} |",
                flush=True,
            )
    print()
    print(f"# load after: {Path('/proc/loadavg').read_text().split()[:3]}")
    print(
        f"# {failures} of {len(attacks)} attacks miss a target (p99 <= 3x quiet and < 100 ms, nothing unanswered; RSS < 300 MiB; attacker throttled or closed)"
    )


if __name__ == "__main__":
    main()
