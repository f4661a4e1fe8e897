"""Benchmark opsmon-server, by hand: `.venv/bin/python bench/bench_server.py`.

Starts the real server (`python -m server.cli serve`, its own process) on
loopback, once with `synchronous = "full"` and once with `"normal"`, and
measures over real websockets:

- commands/s and command latency (send -> result) for one client sending
  commands one after another;
- the same for M clients at once;
- fan-out latency: from an officer sending a command to each of S
  subscribers receiving the event.

Prints one table. Figures depend on the machine and its disk: `full` pays
one fsync of the WAL per command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from websockets.asyncio.client import ClientConnection, connect  # noqa: E402

from opsmon.core.config import load_config  # noqa: E402
from server.auth import add_token  # noqa: E402
from server.store.backends import open_store  # noqa: E402

CONFIG = ROOT / "config.toml"
REGENCIES = ["6301", "6302", "6303", "6304", "6305", "6306", "6307", "6308", "6309", "6310", "6311", "6371", "6372"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_config(directory: Path, synchronous: str) -> Path:
    """The shipped province with the rate limit and queue bound out of the way."""
    text = CONFIG.read_text(encoding="utf-8")
    for old, new in (
        ('synchronous = "full"', f'synchronous = "{synchronous}"'),
        # Per connection, and per token (all its connections together: 200/s by default).
        ("\ncommands_per_second = 50\n", "\ncommands_per_second = 1000000\ntoken_commands_per_second = 1000000\n"),
        ("client_queue_frames = 2000", "client_queue_frames = 1000000"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    path = directory / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def make_tokens(db: Path, officers: int, viewers: int) -> tuple[list[str], list[str]]:
    known = {r.code for r in load_config(CONFIG).regencies}
    async with open_store(db) as store:
        o = [await add_token(store, f"officer{n}", "officer", "KPU", None, known) for n in range(officers)]
        v = [await add_token(store, f"viewer{n}", "viewer", "Bawaslu", None, known) for n in range(viewers)]
    return o, v


class ServerProcess:
    def __init__(self, config: Path, db: Path) -> None:
        self.config, self.db, self.port = config, db, free_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def __aenter__(self) -> ServerProcess:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server.cli", "serve", "--config", str(self.config), "--db", str(self.db), "--port", str(self.port), "--log-level", "warning",
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        assert self.process.stdout is not None
        line = (await asyncio.wait_for(self.process.stdout.readline(), 20)).decode()
        if "listening" not in line:
            raise RuntimeError(f"server did not start: {line!r}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()


async def greet(url: str, token: str) -> ClientConnection:
    ws = await connect(url, max_size=None, max_queue=None)
    await ws.send(json.dumps({"type": "hello", "token": token, "client": "bench"}))
    assert json.loads(await ws.recv())["type"] == "welcome"
    assert json.loads(await ws.recv())["type"] == "snapshot"
    return ws


class Commander:
    """One officer sending commands one at a time and timing each answer."""

    def __init__(self, ws: ClientConnection, name: str) -> None:
        self.ws, self.name = ws, name
        self.count = 0
        self.latencies: list[float] = []
        self.sent_at: dict[int, float] = {}  # seq -> when its command was sent

    def command(self) -> dict[str, Any]:
        self.count += 1
        n = self.count
        regency = REGENCIES[n % len(REGENCIES)]
        if n % 3 == 0:
            # Counts that wrap around step back: said as corrections (a plain lower count is refused).
            return {"type": "stage", "regency": regency, "stage": "penghitungan", "done": n % 400, "correct": True, "note": "bench"}
        return {
            "type": "report",
            "incident": {"regency": regency, "category": "logistik", "severity": "medium", "title": f"{self.name} laporan {n}", "location": "TPS 001"},
        }

    async def run(self, commands: int) -> None:
        for _ in range(commands):
            message = self.command()
            message["id"] = f"{self.name}-{self.count}"
            started = time.perf_counter()
            await self.ws.send(json.dumps(message))
            while True:
                frame = json.loads(await self.ws.recv())
                if frame.get("type") == "result" and frame["id"] == message["id"]:
                    break
            self.latencies.append(time.perf_counter() - started)
            if not frame["ok"]:
                raise RuntimeError(f"refused: {frame}")
            self.sent_at[frame["seq"]] = started


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def sequential(url: str, token: str, commands: int) -> tuple[int, float, list[float]]:
    ws = await greet(url, token)
    commander = Commander(ws, "seq")
    await commander.run(10)  # warm up
    commander.latencies.clear()
    started = time.perf_counter()
    await commander.run(commands)
    elapsed = time.perf_counter() - started
    await ws.close()
    return commands, commands / elapsed, commander.latencies


async def concurrent(url: str, tokens: list[str], per_client: int) -> tuple[int, float, list[float]]:
    sockets = [await greet(url, t) for t in tokens]
    commanders = [Commander(ws, f"c{n}") for n, ws in enumerate(sockets)]
    started = time.perf_counter()
    await asyncio.gather(*(c.run(per_client) for c in commanders))
    elapsed = time.perf_counter() - started
    for ws in sockets:
        await ws.close()
    total = per_client * len(commanders)
    return total, total / elapsed, [x for c in commanders for x in c.latencies]


async def fan_out(url: str, officer: str, viewers: list[str], events: int) -> tuple[int, float, list[float]]:
    subscribers = [await greet(url, t) for t in viewers]
    received: list[dict[int, float]] = [{} for _ in subscribers]
    done = asyncio.Event()

    async def listen(index: int, ws: ClientConnection) -> None:
        seen = received[index]
        async for raw in ws:
            now = time.perf_counter()
            frame = json.loads(raw)
            batch = frame["events"] if frame.get("type") == "batch" else [frame] if frame.get("type") == "event" else []
            for event in batch:
                seen[event["seq"]] = now
            if len(seen) >= events and all(len(s) >= events for s in received):
                done.set()

    listeners = [asyncio.create_task(listen(i, ws)) for i, ws in enumerate(subscribers)]
    ws = await greet(url, officer)
    commander = Commander(ws, "fan")
    started = time.perf_counter()
    await commander.run(events)
    await asyncio.wait_for(done.wait(), 60)
    elapsed = time.perf_counter() - started
    latencies = [seen[seq] - sent for seen in received for seq, sent in commander.sent_at.items() if seq in seen]
    for task in listeners:
        task.cancel()
    for sub in (*subscribers, ws):
        await sub.close()
    return events * len(subscribers), events * len(subscribers) / elapsed, latencies


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commands", type=int, default=1000, help="commands for the sequential client")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients")
    parser.add_argument("--per-client", type=int, default=100, help="commands per concurrent client")
    parser.add_argument("--subscribers", type=int, default=50, help="viewers receiving the fan-out")
    parser.add_argument("--events", type=int, default=200, help="events sent to the subscribers")
    parser.add_argument("--modes", default="full,normal", help="PRAGMA synchronous modes to run")
    parser.add_argument("--dir", default=None, help="where to put the database (default: the system temp folder); use the disk you will deploy on")
    parser.add_argument("--smoke", action="store_true", help="the whole path at a load small enough for a few seconds (CI; its timings mean nothing)")
    args = parser.parse_args()
    if args.smoke:
        args.commands, args.clients, args.per_client, args.subscribers, args.events = 50, 3, 10, 5, 10

    rows = []
    for mode in args.modes.split(","):
        with tempfile.TemporaryDirectory(prefix="opsmon-bench-", dir=args.dir) as tmp:
            directory = Path(tmp)
            db = directory / "bench.db"
            officers, viewers = await make_tokens(db, args.clients + 2, args.subscribers)
            async with ServerProcess(bench_config(directory, mode), db) as server:
                n, rate, lat = await sequential(server.url, officers[0], args.commands)
                rows.append((mode, "1 client, sequential commands", n, "commands/s", rate, lat))
                n, rate, lat = await concurrent(server.url, officers[1 : args.clients + 1], args.per_client)
                rows.append((mode, f"{args.clients} clients at once", n, "commands/s", rate, lat))
                n, rate, lat = await fan_out(server.url, officers[-1], viewers, args.events)
                rows.append((mode, f"fan-out: command -> {args.subscribers} subscribers", n, "deliveries/s", rate, lat))

    print()
    where = args.dir or tempfile.gettempdir()
    print(f"opsmon-server benchmark  (python {sys.version.split()[0]}, {os.cpu_count()} CPUs, loopback, clients in one process, database in {where})")
    print("| synchronous | scenario | n | rate | unit | p50 ms | p99 ms | max ms |")
    print("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: |")
    for mode, scenario, n, unit, rate, lat in rows:
        print(f"| {mode} | {scenario} | {n} | {rate:.0f} | {unit} | {pct(lat, 0.5):.2f} | {pct(lat, 0.99):.2f} | {max(lat) * 1000:.2f} |")
    print("latency: command sent -> its result (commands), or -> the event at each subscriber (fan-out)")


if __name__ == "__main__":
    asyncio.run(main())
