"""What a history's identity costs the writer, by hand: `.venv/bin/python bench/identity.py`.

After every commit `serve` computes the head event's digest and writes
(epoch, seq, digest) into the lock file beside the database, so a restored
copy is recognised at the next start. This measures both against the floor
they ride on, a one-event commit of the real store (`synchronous = "full"`,
the default), in the same run on the same disk, and prints one table.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from opsmon.core.events import IncidentReported  # noqa: E402
from opsmon.core.protocol import Event  # noqa: E402
from opsmon.core.records import SYSTEM  # noqa: E402
from opsmon.core.wire import event_digest  # noqa: E402
from server.lock import DatabaseLock  # noqa: E402
from server.store.api import WriteBatch  # noqa: E402
from server.store.sqlite import SqliteStore  # noqa: E402


def event(seq: int) -> Event:
    ts = "2024-02-14T13:00:00.000Z"
    incident = IncidentReported(
        id=seq, regency="6371", category="logistik", severity="high", title="Kotak suara rusak", detail="x" * 200, location="", status="open", level=0,
        reported=ts, reporter=SYSTEM, acknowledged=None, acknowledged_by=None, resolved=None, resolved_by=None, ack_due=ts, notes=[],
    )  # fmt: skip
    return Event.of(seq, ts, SYSTEM, incident)


async def commits(folder: Path, count: int) -> float:
    """Seconds per one-event commit."""
    async with SqliteStore(folder / "bench.db", synchronous="full") as store:
        started = time.perf_counter()
        for seq in range(1, count + 1):
            await store.commit(WriteBatch([(event(seq), None, "6371")]))
        return (time.perf_counter() - started) / count


def per_call(count: int, call: object) -> float:
    started = time.perf_counter()
    for n in range(count):
        call(n)  # type: ignore[operator]
    return (time.perf_counter() - started) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=500)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--dir", default=None, help="where to put the database (default: the system temp folder)")
    parser.add_argument("--smoke", action="store_true", help="the whole path at a load small enough for a few seconds (CI; its timings mean nothing)")
    args = parser.parse_args()
    if args.smoke:
        args.commits, args.calls = 20, 500
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        floor = asyncio.run(commits(folder, args.commits))
        lock = DatabaseLock(folder / "bench.db")
        lock.acquire("bench")
        try:
            update = per_call(args.calls, lambda n: lock.update(epoch="0123456789abcdef", seq=n, digest="0123456789abcdef"))
        finally:
            lock.release()
        sample = event(1)
        digest = per_call(args.calls, lambda n: event_digest(sample))
    print("| what | per commit | x commit |")
    print("| --- | ---: | ---: |")
    print(f"| commit of one event (floor, full) | {floor * 1e6:.0f} us | {1:.2f} |")
    print(f"| lock file update | {update * 1e6:.1f} us | {update / floor:.3f} |")
    print(f"| digest of the head event | {digest * 1e6:.1f} us | {digest / floor:.3f} |")
    print(f"| both, added to each commit | {(update + digest) * 1e6:.1f} us | {(update + digest) / floor:.3f} |")


if __name__ == "__main__":
    main()
