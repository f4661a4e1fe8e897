"""Replicas on PostgreSQL, measured: `.venv/bin/python bench/replicas.py [--quick]`.

Three runs, each against real `opsmon-server serve` processes and a load
generator in a process of its own:

1. **viewers**: 1 replica, then 2 replicas, on one PostgreSQL database; for
   each, viewers in steps (split evenly over the replicas: cheap raw readers
   plus timing probes on every replica, as bench/fanout.py) while officers
   on the first replica send R reports/s. A step is *held* when p99 from a
   report being sent to a probe (on any replica) receiving its event is under
   250 ms and every event reached every probe. Prints each step and the most
   viewers held, and the ratio 2 replicas / 1.
2. **ingest**: durable commands/s: C officer connections each keeping W
   reports in flight for D seconds, against SQLite (`synchronous = "full"`),
   PostgreSQL with 1 replica and with 2 (the connections split over both).
   Both commit durably (SQLite fsyncs; PostgreSQL with synchronous_commit on).
3. **cross-replica delivery**: officers on replica A at R reports/s; one probe
   on A and one on B; p50/p99 from send to event on each, and what B adds.

The machine's 2 cores are shared by the replicas, PostgreSQL, the load
generator and whatever else runs (the load average is printed before and
after): the replicas are pinned one per core with taskset, nothing else is.

PostgreSQL is $OPSMON_BENCH_POSTGRES (default postgresql://postgres@127.0.0.1:5432/test);
each run uses a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fanout import (  # noqa: E402
    CONFIG,
    PROBES,
    Probe,
    RawViewer,
    _cpu_model,
    _uptime,
    free_port,
    make_tokens,
    pct,
    pinned,
    raise_open_files,
    report_message,
    sweeper,
)

POSTGRES = os.environ.get("OPSMON_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
HELD_P99_MS = 250.0
RUN = secrets.token_hex(3)  # command ids differ from run to run (the same ids would be answered `repeat`)
OFFICER_RATE = 40.0


def hello(token: str, client: str = "bench/replicas") -> str:
    return json.dumps({"type": "hello", "token": token, "client": client, "epoch": None, "since": None})


# --- the load generator (a process of its own) ---------------------------------------------------------------


async def settle(done: Any, timeout: float) -> None:
    """Poll `done()` until true or `timeout` seconds (the last events and answers arriving)."""
    give_up = time.perf_counter() + timeout
    while not done() and time.perf_counter() < give_up:  # noqa: ASYNC110 (frames arrive on other tasks: nothing to wait on)
        await asyncio.sleep(0.05)


async def open_client(url: str, token: str) -> Any:
    from websockets.asyncio.client import connect

    ws = await connect(url, max_size=None, max_queue=None, open_timeout=60, compression=None)
    await ws.send(hello(token))
    return ws


async def listen(probe: Probe, ws: Any) -> None:
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


async def officers_sending(urls: list[str], token: str, rate: float, duration: float, tag: str) -> tuple[dict[str, float], dict[str, int], list[float]]:
    """Open-loop reports at `rate`/s from rate/OFFICER_RATE connections on `urls`
    (round robin); returns (sent at, seq per id, result latencies)."""
    count = max(1, round(rate / OFFICER_RATE + 0.49))
    sockets = [await open_client(urls[i % len(urls)], token) for i in range(count)]
    sent: dict[str, float] = {}
    seqs: dict[str, int] = {}
    answered: list[float] = []

    async def answers(ws: Any) -> None:
        try:
            async for raw in ws:
                if '"type":"result"' in (raw if isinstance(raw, str) else raw.decode()):
                    frame = json.loads(raw)
                    if frame.get("ok"):
                        seqs[frame["id"]] = frame["seq"]
                        answered.append(time.perf_counter() - sent[frame["id"]])
        except Exception:
            pass

    readers = [asyncio.create_task(answers(ws)) for ws in sockets]
    begun = time.perf_counter()

    async def send(index: int, ws: Any) -> None:
        interval = count / rate
        start = begun + index * interval / count
        n = 0
        while (at := start + n * interval) <= begun + duration:
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            command_id = f"{tag}{RUN}-{index}-{n}"
            sent[command_id] = time.perf_counter()
            await ws.send(report_message(command_id, n))
            n += 1

    await asyncio.gather(*(send(i, ws) for i, ws in enumerate(sockets)))
    await settle(lambda: len(seqs) >= len(sent), 10)
    for task in readers:
        task.cancel()
    for ws in sockets:
        await ws.close()
    return sent, seqs, answered


async def load_viewers(args: argparse.Namespace) -> dict[str, Any]:
    """N viewers split over the replicas, probes on each, reports on the first."""
    urls = args.url
    raws: list[RawViewer] = []
    raw_hello = hello(args.viewer_token).encode()
    per = (args.viewers - PROBES * len(urls)) // len(urls)
    probes = {url: [Probe() for _ in range(PROBES)] for url in urls}
    listeners = []
    for url, group in probes.items():
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        # The probes connect spread among the other viewers, as bench/fanout.py's: probes
        # that all came last would time where a tick's writing ends, not the viewers' spread.
        steps = range(0, per, 100)  # in steps: the listen backlog is 100
        opened = 0
        for step, start in enumerate(steps):
            batch = [RawViewer() for _ in range(min(100, per - start))]
            if not all(await asyncio.gather(*(v.open(port, raw_hello) for v in batch))):
                raise RuntimeError("a viewer's handshake failed")
            raws += batch
            for probe in group[opened : PROBES * (step + 1) // len(steps)]:
                listeners.append(asyncio.create_task(listen(probe, await open_client(url, args.viewer_token))))
            opened = PROBES * (step + 1) // len(steps)
        for probe in group[opened:]:  # no other viewers here (a tiny step)
            listeners.append(asyncio.create_task(listen(probe, await open_client(url, args.viewer_token))))
    sweeping = asyncio.create_task(sweeper(raws))
    await asyncio.sleep(2.0)  # welcomes and snapshots out before the clock starts
    for group in probes.values():
        for probe in group:
            probe.received.clear()
    for viewer in raws:
        viewer.events = 0
    began = time.perf_counter()
    sent, seqs, _ = await officers_sending(urls[:1], args.officer_token, args.rate, args.duration, "v")
    elapsed = time.perf_counter() - began
    committed = set(seqs.values())
    await settle(lambda: all(committed <= p.received.keys() or p.closed for g in probes.values() for p in g), 10)
    sent_at = {seq: sent[cid] for cid, seq in seqs.items()}
    result: dict[str, Any] = {"viewers": args.viewers, "replicas": len(urls), "committed": len(sent_at), "sent": len(sent), "elapsed": elapsed}
    everything = []
    delivered = 0
    for n, group in enumerate(probes.values()):
        lat = [p.received[seq] - at for p in group for seq, at in sent_at.items() if seq in p.received]
        delivered += sum(len(sent_at.keys() & p.received.keys()) for p in group)
        everything += lat
        result[f"p99_{n}"] = pct(lat, 0.99)
    result["p50"] = pct(everything, 0.50)
    result["p99"] = pct(everything, 0.99)
    result["delivered"] = delivered / max(1, len(sent_at) * PROBES * len(urls))
    result["dropped"] = sum(v.closed for v in raws) + sum(p.closed for g in probes.values() for p in g)
    result["events_per_s"] = len(sent_at) / max(1e-9, elapsed)
    sweeping.cancel()
    for task in listeners:
        task.cancel()
    for viewer in raws:
        viewer.sock.close()
    return result


async def load_ingest(args: argparse.Namespace) -> dict[str, Any]:
    """C connections over the replicas, each keeping W reports in flight, for D seconds."""
    sockets = [await open_client(args.url[i % len(args.url)], args.officer_token) for i in range(args.connections)]
    ok = 0
    latencies: list[float] = []
    closed: list[str] = []  # connections the server closed during the run, and why
    stop_at = time.perf_counter() + args.duration

    async def officer(index: int, ws: Any) -> None:
        nonlocal ok
        sent: dict[str, float] = {}
        n = 0
        window = asyncio.Semaphore(args.window)

        async def reader() -> None:
            nonlocal ok
            try:
                async for raw in ws:
                    text = raw if isinstance(raw, str) else raw.decode()
                    if text.startswith('{"type":"result"'):
                        frame = json.loads(text)
                        if frame.get("ok") and time.perf_counter() <= stop_at:
                            ok += 1
                            latencies.append(time.perf_counter() - sent[frame["id"]])
                        window.release()
            finally:
                if time.perf_counter() < stop_at:  # the server closed it mid-run: said, not waited for
                    closed.append(f"{ws.close_code} {ws.close_reason}".strip())
                    for _ in range(args.window):
                        window.release()

        reading = asyncio.create_task(reader())
        while time.perf_counter() < stop_at and not closed:
            await window.acquire()
            command_id = f"i{RUN}-{index}-{n}"
            sent[command_id] = time.perf_counter()
            await ws.send(report_message(command_id, n))
            n += 1
        await asyncio.sleep(1.0)
        reading.cancel()

    began = time.perf_counter()
    await asyncio.gather(*(officer(i, ws) for i, ws in enumerate(sockets)))
    elapsed = min(time.perf_counter(), stop_at) - began
    for ws in sockets:
        await ws.close()
    if closed:
        raise RuntimeError(f"the server closed {len(closed)} of {len(sockets)} officer connections mid-run: {sorted(set(closed))}")
    return {"ok": ok, "per_s": ok / args.duration, "p50": pct(latencies, 0.5), "p99": pct(latencies, 0.99), "elapsed": elapsed}


async def load_cross(args: argparse.Namespace) -> dict[str, Any]:
    """Reports on A; one probe on A, one on B."""
    probes = [Probe(), Probe()]
    listeners = [asyncio.create_task(listen(p, await open_client(url, args.viewer_token))) for p, url in zip(probes, args.url, strict=True)]
    await asyncio.sleep(1.0)
    sent, seqs, _ = await officers_sending(args.url[:1], args.officer_token, args.rate, args.duration, "x")
    await settle(lambda: all(set(seqs.values()) <= p.received.keys() for p in probes), 5)
    sent_at = {seq: sent[cid] for cid, seq in seqs.items()}
    same = [probes[0].received[s] - at for s, at in sent_at.items() if s in probes[0].received]
    other = [probes[1].received[s] - at for s, at in sent_at.items() if s in probes[1].received]
    added = [probes[1].received[s] - probes[0].received[s] for s in sent_at if s in probes[0].received and s in probes[1].received]
    for task in listeners:
        task.cancel()
    return {
        "committed": len(sent_at),
        "a_p50": pct(same, 0.5),
        "a_p99": pct(same, 0.99),
        "b_p50": pct(other, 0.5),
        "b_p99": pct(other, 0.99),
        "added_p50": pct(added, 0.5),
        "added_p99": pct(added, 0.99),
        "delivered_b": len(other) / max(1, len(sent_at)),
    }


# --- the orchestrator ---------------------------------------------------------------------------------------------


def bench_config(directory: Path) -> Path:
    """The shipped province: pings out of the way of readers that never answer
    them, no connection limits (every viewer is one token on 127.0.0.1), no
    command rate limit per connection or per token (ingest: 32 connections of
    one officer token), durable SQLite."""
    text = CONFIG.read_text(encoding="utf-8")
    for old, new in (
        ("ping_interval_seconds = 20", "ping_interval_seconds = 600"),
        ('compression = "none"', 'compression = "none"\nmax_connections_per_token = 100000\nmax_connections_per_address = 100000'),
        ("\ncommands_per_second = 50\n", "\ncommands_per_second = 100000\ntoken_commands_per_second = 100000\n"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    path = directory / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def drop_schema(schema: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES)
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await connection.close()


class Replicas:
    """`count` opsmon-server serve processes on one database, one per core."""

    def __init__(self, count: int, database: str, config: Path) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        self.urls: list[str] = []
        for n in range(count):
            port = free_port()
            command = [sys.executable, "-m", "server.cli", "serve", "--config", str(config), "--db", database, "--port", str(port), "--log-level", "error"]
            if count > 1:
                command += ["--replica-name", "AB"[n]]
            process = subprocess.Popen(
                pinned(str(n % 2), *command), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"}
            )
            assert process.stdout is not None
            line = process.stdout.readline().decode()
            if "listening" not in line:
                self.stop()
                raise RuntimeError(f"replica {n} did not start: {line!r}")
            self.processes.append(process)
            self.urls.append(f"ws://127.0.0.1:{port}/ws")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def generate(role: str, urls: list[str], tokens: tuple[str, str], **options: Any) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--role", role, "--officer-token", tokens[0], "--viewer-token", tokens[1]]
    for url in urls:
        command += ["--url", url]
    for key, value in options.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"load generator ({role}) failed: {done.stderr.strip().splitlines()[-3:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def with_servers(count: int, backend: str, work: Path, run: Any) -> Any:
    schema = f"bench_{secrets.token_hex(4)}"
    database = f"{POSTGRES}?search_path={schema}" if backend == "postgresql" else str(work / f"{schema}.db")
    config = bench_config(work)
    tokens = asyncio.run(make_tokens(database))
    servers = Replicas(count, database, config)
    try:
        return run(servers.urls, tokens)
    finally:
        servers.stop()
        if backend == "postgresql":
            asyncio.run(drop_schema(schema))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs, fewer steps")
    parser.add_argument("--steps", default="500,1000,2000,3000,4000,5000", help="viewer counts to try (comma list)")
    parser.add_argument("--rate", type=float, default=100.0, help="reports/s during the viewer and cross-replica runs (default 100)")
    parser.add_argument("--only", choices=("viewers", "ingest", "cross"), action="append", help="run only these parts (repeatable)")
    parser.add_argument("--smoke", action="store_true", help="the whole path at a load small enough for a few seconds (CI; its timings mean nothing)")
    parser.add_argument("--role", choices=("viewers", "ingest", "cross"), help=argparse.SUPPRESS)
    parser.add_argument("--url", action="append", help=argparse.SUPPRESS)
    parser.add_argument("--viewers", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--duration", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--connections", type=int, default=32, help=argparse.SUPPRESS)
    parser.add_argument("--window", type=int, default=16, help=argparse.SUPPRESS)
    parser.add_argument("--officer-token", help=argparse.SUPPRESS)
    parser.add_argument("--viewer-token", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role is not None:
        runner = {"viewers": load_viewers, "ingest": load_ingest, "cross": load_cross}[args.role]
        print(json.dumps(asyncio.run(runner(args))))
        return

    parts = args.only or ["viewers", "ingest", "cross"]
    duration = 4.0 if args.quick else 8.0
    connections, window = 32, 16
    if args.smoke:
        duration, args.steps, args.rate, connections, window = 1.0, f"{PROBES + 20}", 20.0, 4, 4
    steps = [int(s) for s in args.steps.split(",")]
    raise_open_files(max(steps) + 2000)
    print(f"# bench/replicas.py: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores ({_cpu_model()}), {duration:g} s of load per run")
    print(f"# PostgreSQL {POSTGRES.rsplit('@', 1)[-1]}; replicas pinned one per core, PostgreSQL and the load generator not pinned")
    print(f"# load before: {_uptime()}")
    with tempfile.TemporaryDirectory(prefix="opsmon-replicas-") as folder:
        work = Path(folder)
        if "viewers" in parts:
            print()
            print(f"## viewers held at p99 < {HELD_P99_MS:g} ms, {args.rate:g} reports/s on replica A")
            print()
            print("| replicas | viewers | events/s | p50 ms | p99 ms | p99 on A | p99 on B | delivered | dropped | held |")
            print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
            held: dict[int, int] = {}
            for count in (1, 2):

                def sweep(urls: list[str], tokens: tuple[str, str], count: int = count) -> int:
                    best = 0
                    for viewers in steps:
                        r = generate("viewers", urls, tokens, viewers=viewers, rate=args.rate, duration=duration)
                        ok = r["p99"] < HELD_P99_MS and r["delivered"] >= 0.999 and r["dropped"] == 0
                        on_b = f"{r['p99_1']:.0f}" if count > 1 else "-"
                        print(
                            f"| {count} | {viewers:,} | {r['events_per_s']:.0f} | {r['p50']:.0f} | {r['p99']:.0f} | {r['p99_0']:.0f} | {on_b} "
                            f"| {100 * r['delivered']:.1f}% | {r['dropped']} | {'yes' if ok else 'no'} |",
                            flush=True,
                        )
                        if not ok:
                            break
                        best = viewers
                    return best

                held[count] = with_servers(count, "postgresql", work, sweep)
            ratio = held[2] / held[1] if held[1] else float("nan")
            print()
            print(f"most viewers held: 1 replica {held[1]:,}, 2 replicas {held[2]:,} ({ratio:.2f}x)")
        if "ingest" in parts:
            print()
            print(f"## ingest: durable commands/s ({connections} connections, {window} reports in flight each)")
            print()
            print("| database | replicas | commands/s | p50 ms | p99 ms |")
            print("| --- | --- | --- | --- | --- |")
            for backend, count in (("sqlite", 1), ("postgresql", 1), ("postgresql", 2)):
                r = with_servers(
                    count, backend, work, lambda urls, tokens: generate("ingest", urls, tokens, duration=duration, connections=connections, window=window)
                )
                name = 'SQLite (synchronous = "full")' if backend == "sqlite" else "PostgreSQL (synchronous_commit on)"
                print(f"| {name} | {count} | {r['per_s']:,.0f} | {r['p50']:.1f} | {r['p99']:.1f} |", flush=True)
        if "cross" in parts:
            print()
            print(f"## cross-replica delivery: {args.rate:g} reports/s on A, one probe on A and one on B")
            print()
            r = with_servers(2, "postgresql", work, lambda urls, tokens: generate("cross", urls, tokens, rate=args.rate, duration=duration))
            print("| events | on A p50 / p99 ms | on B p50 / p99 ms | B after A p50 / p99 ms | delivered on B |")
            print("| --- | --- | --- | --- | --- |")
            print(
                f"| {r['committed']} | {r['a_p50']:.1f} / {r['a_p99']:.1f} | {r['b_p50']:.1f} / {r['b_p99']:.1f} | {r['added_p50']:.1f} / {r['added_p99']:.1f} "
                f"| {100 * r['delivered_b']:.1f}% |"
            )
    print()
    print(f"# load after: {_uptime()}")


if __name__ == "__main__":
    if shutil.which("taskset") is None:
        print("# taskset not found: nothing pinned", file=sys.stderr)
    main()
