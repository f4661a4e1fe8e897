"""Benchmark online backups, by hand: `.venv/bin/python bench/backup.py [--events N]`.

Fills a database with N events (a night's worth of reports) through the real
server in this process, then measures, with one officer sending commands
one after another over a real websocket:

- the command latency with no backup running (the floor, measured in this run);
- the same while `backup_database` copies the live file in a thread, again
  and again (what `opsmon-server backup` and `[server] backup_dir` do);
- how long one backup of that file takes, and its size.

Prints one table; the latency is given as a ratio to the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from opsmon.client.session import Session  # noqa: E402
from opsmon.core.config import load_config  # noqa: E402
from opsmon.core.protocol import IncidentDraft, Report  # noqa: E402
from server.app import OpsmonServer  # noqa: E402
from server.auth import add_token  # noqa: E402
from server.backup import backup_database  # noqa: E402
from server.store.sqlite import SqliteStore  # noqa: E402

REGENCIES = ["6301", "6302", "6303", "6304", "6305", "6306", "6307", "6308", "6309", "6310", "6311", "6371", "6372"]


def command(n: int) -> Report:
    draft = IncidentDraft(regency=REGENCIES[n % len(REGENCIES)], category="logistik", severity="medium", title=f"Laporan {n}", detail="x" * 200)
    return Report(id=f"bench-{n}", incident=draft)


async def latencies(session: Session, start: int, count: int) -> list[float]:
    out = []
    for n in range(start, start + count):
        began = time.perf_counter()
        result = await session.request(command(n))
        assert result.ok, result
        out.append(time.perf_counter() - began)
    return out


def file_size(db: Path) -> int:
    return sum(path.stat().st_size for path in (db, Path(f"{db}-wal")) if path.exists())


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def main(events: int, samples: int) -> None:
    config = load_config(ROOT / "config.toml")
    config = msgspec.structs.replace(config, server=msgspec.structs.replace(config.server, admin_commands_per_second=1e6))
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "opsmon.db"
        async with SqliteStore(db, synchronous="full") as store:
            token = await add_token(store, "bench", "admin", "KPU", None, {r.code for r in config.regencies})
            server = OpsmonServer(config, store)
            await server.start("127.0.0.1", 0)
            session = await Session.open(f"ws://127.0.0.1:{server.port}/ws", token, on_frame=lambda _: None)
            # Fill: many commands in flight at once (group commit), so this is quick.
            for start in range(0, events, 500):
                futures = [await session.send(command(n)) for n in range(start, min(events, start + 500))]
                await asyncio.gather(*futures)
            size = file_size(db)
            taken: list[float] = []

            def keep_backing_up(stop: threading.Event, tag: int) -> None:
                n = 0
                while n == 0 or not stop.is_set():  # at least one copy a round, however short the round
                    target = Path(tmp) / f"copy-{tag}-{n}.db"
                    began = time.perf_counter()
                    backup_database(db, target)
                    taken.append(time.perf_counter() - began)
                    target.unlink()
                    n += 1

            # Alternate the two in rounds, so the machine's own ups and downs fall on both.
            floor: list[float] = []
            during: list[float] = []
            next_id = events
            rounds = 6
            for tag in range(rounds):
                floor += await latencies(session, next_id, samples // rounds)
                next_id += samples // rounds
                stop = threading.Event()
                worker = threading.Thread(target=keep_backing_up, args=(stop, tag))
                worker.start()
                during += await latencies(session, next_id, samples // rounds)
                next_id += samples // rounds
                stop.set()
                worker.join()
            await session.close()
            await server.close()
    p50, p99 = statistics.median(floor), percentile(floor, 0.99)
    b50, b99 = statistics.median(during), percentile(during, 0.99)
    print(f"database: {events} events, {size / 1e6:.1f} MB; {samples} sequential commands each way, synchronous=full")
    print("| measure | no backup (floor) | backups running back to back | ratio |")
    print("| --- | --- | --- | --- |")
    print(f"| command latency p50 | {p50 * 1000:.2f} ms | {b50 * 1000:.2f} ms | {b50 / p50:.2f} |")
    print(f"| command latency p99 | {p99 * 1000:.2f} ms | {b99 * 1000:.2f} ms | {b99 / p99:.2f} |")
    print(f"| one backup of the file | | {statistics.median(taken):.2f} s (median of {len(taken)}) | |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--smoke", action="store_true", help="the whole path at a load small enough for a few seconds (CI; its timings mean nothing)")
    args = parser.parse_args()
    if args.smoke:
        args.events, args.samples = 500, 60
    asyncio.run(main(args.events, args.samples))
