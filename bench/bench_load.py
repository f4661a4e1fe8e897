"""Load benchmark: the simulator drives a real server at fixed command rates.

For each rate a fresh `opsmon-server serve` process (its own Python process,
so client and server do not share a CPU; a real SQLite file in a temporary
folder; the config's durability setting unless --synchronous says otherwise)
listens on a free loopback port; `opsmon simulate --rate` sends a
valid mix (60% stage updates, reports, acks, notes, resolves) over as many
connections as the server's per-connection limit (commands_per_second in
config.toml) requires. Prints one table: offered rate, achieved rate (answered
ok per second), and command latency (send to result, as the client sees it).

    .venv/bin/python bench/bench_load.py [--rates 100,300,500] [--seconds 5] [--synchronous full|normal]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from opsmon.core.config import Config, load_config  # noqa: E402
from opsmon.feeds.feeder import percentile  # noqa: E402
from opsmon.feeds.simulate import connections_for, simulate  # noqa: E402


def server_config(config_path: Path, synchronous: str | None, folder: Path) -> Path:
    """The province config, with the durability setting under test."""
    text = config_path.read_text(encoding="utf-8")
    if synchronous:
        text = re.sub(r'(?m)^synchronous = ".*"$', f'synchronous = "{synchronous}"', text)
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def one_rate(config: Config, config_file: Path, rate: float, seconds: float, folder: Path) -> dict[str, float]:
    db = folder / f"bench-{rate:g}.db"
    base = [sys.executable, "-m", "server.cli"]
    made = await asyncio.create_subprocess_exec(
        *base,
        "token",
        "add",
        "bench",
        "--role",
        "admin",  # a bulk feeder's token: an officer's all its connections together may send 200/s
        "--agency",
        "KPU",
        "--config",
        str(config_file),
        "--db",
        str(db),
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    out, _ = await made.communicate()
    if made.returncode != 0:
        raise SystemExit("could not create a token")
    token = out.decode().strip().splitlines()[-1]
    server = await asyncio.create_subprocess_exec(
        *base,
        "serve",
        "--config",
        str(config_file),
        "--db",
        str(db),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--log-level",
        "warning",
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        if server.stdout is None:
            raise SystemExit("no server output")
        line = (await asyncio.wait_for(server.stdout.readline(), 15)).decode()
        url = re.search(r"ws://\S+/ws", line)
        if url is None:
            raise SystemExit(f"server did not start: {line!r}")
        stats = await simulate(url.group(0), [token], config, rate=rate, duration=seconds, seed=1)
    finally:
        server.send_signal(signal.SIGTERM)
        await server.wait()
    return {
        "offered": rate,
        "connections": connections_for(rate, config),
        "sent": stats.sent,
        "ok": stats.ok,
        "refused": sum(stats.refused.values()),
        "achieved": stats.ok / stats.elapsed,
        "p50": percentile(stats.latencies, 0.5) * 1000,
        "p99": percentile(stats.latencies, 0.99) * 1000,
        "max": max(stats.latencies, default=0.0) * 1000,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="100,300,500", help="commands a second, comma-separated")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long each rate runs")
    parser.add_argument("--synchronous", choices=["full", "normal"], help="SQLite durability (default: the config's)")
    parser.add_argument("--config", help="province config (default: ./config.toml)")
    parser.add_argument("--smoke", action="store_true", help="the whole path at a load small enough for a few seconds (CI; its timings mean nothing)")
    args = parser.parse_args()
    if args.smoke:
        args.rates, args.seconds = "50", 1.0
    folder_holder = tempfile.TemporaryDirectory(prefix="opsmon-bench-")
    folder = Path(folder_holder.name)
    config_file = server_config(Path(args.config) if args.config else ROOT / "config.toml", args.synchronous, folder)
    config = load_config(config_file)
    rates = [float(r) for r in args.rates.split(",")]
    print(
        f"opsmon load: {args.seconds:g} s per rate, synchronous={config.server.synchronous}, {config.server.commands_per_second:g} commands/s allowed per connection"
    )
    print("| offered/s | conns | sent | ok | refused | achieved/s | p50 ms | p99 ms | max ms |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    with folder_holder:
        for rate in rates:
            r = await one_rate(config, config_file, rate, args.seconds, folder)
            print(
                f"| {r['offered']:g} | {r['connections']:d} | {r['sent']:d} | {r['ok']:d} | {r['refused']:d} | {r['achieved']:.1f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['max']:.2f} |"
            )


if __name__ == "__main__":
    asyncio.run(main())
