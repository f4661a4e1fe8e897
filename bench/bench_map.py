"""What the province map costs: rasterising per size, and the wall under a flood of events.

    .venv/bin/python bench/bench_map.py [--rate 2000] [--seconds 5]

1. Rasterisation (opsmon.core.geo): the first grid at each size, then the cached lookup.
2. The wall at 220x60 (headless), fed `--rate` stage updates a second folded into its
   state for `--seconds`, once with the map and once without (the floor, same run):
   repaints, how often the map's text was rebuilt, and the time spent repainting.

A measurement, not a test: nothing here fails on a number.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opsmon.core.clock import format_ts  # noqa: E402
from opsmon.core.config import load_config  # noqa: E402
from opsmon.core.events import StageUpdated  # noqa: E402
from opsmon.core.fold import apply  # noqa: E402
from opsmon.core.geo import province_shape  # noqa: E402
from opsmon.core.protocol import Event  # noqa: E402
from opsmon.core.records import Actor  # noqa: E402
from opsmon.training.sample_night import NOW, fixed_night  # noqa: E402
from opsmon.tui.app import OpsmonApp  # noqa: E402
from opsmon.tui.widgets.provincemap import ProvinceMap  # noqa: E402

CONFIG_PATH = Path(__file__).resolve().parent.parent / "config.toml"


def rasterisation() -> None:
    config = load_config(CONFIG_PATH)
    print("| map size (cells) | first grid | cached lookup |")
    print("| --- | ---: | ---: |")
    for size in [(46, 30), (60, 36), (77, 49), (150, 90)]:
        shape = province_shape(config.province.boundaries)
        assert shape is not None
        began = time.perf_counter()
        shape.grid(*size)
        first = time.perf_counter() - began
        began = time.perf_counter()
        for _ in range(100_000):
            shape.grid(*size)
        cached = (time.perf_counter() - began) / 100_000
        print(f"| {size[0]}x{size[1]} | {first * 1000:.1f} ms | {cached * 1e9:.0f} ns |")


async def flood(with_map: bool, rate: float, seconds: float) -> tuple[int, int, float, int]:
    config = load_config(CONFIG_PATH)
    welcome, state, events = fixed_night(config, role="viewer")
    shape = province_shape(config.province.boundaries) if with_map else None
    clock = [NOW]
    app = OpsmonApp.with_state(welcome, state, wall=True, clock=lambda: clock[0], events=events, shape=shape)
    spent = 0.0
    original = app._repaint

    def timed() -> None:
        nonlocal spent
        began = time.perf_counter()
        original()
        spent += time.perf_counter() - began

    app._repaint = timed  # type: ignore[method-assign]
    folded = 0
    async with app.run_test(size=(220, 60)) as pilot:
        await pilot.pause(0.3)
        base = app.repaints
        seq = state.seq
        row = state.stages[("6303", "penghitungan")]
        began = time.monotonic()
        while time.monotonic() - began < seconds:
            for _ in range(int(rate / 20)):  # 50 ms of events at a time
                seq += 1
                done = (row.done + seq) % row.total
                data = StageUpdated(
                    regency=row.regency, stage=row.stage, status="in_progress", done=done, total=row.total, note=None, updated=format_ts(clock[0])
                )
                event = Event.of(seq, format_ts(clock[0] + timedelta(milliseconds=seq)), Actor(name="bench"), data)
                apply(app.state, event)
                app.recent_events.append(event)
                folded += 1
            app.mark_dirty()
            await asyncio.sleep(0.05)
        repaints = app.repaints - base
        draws = app.screen.query_one(ProvinceMap).draws
    return repaints, draws, spent, folded


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--smoke", action="store_true", help="the whole path at a load small enough for a few seconds (CI; its timings mean nothing)")
    args = parser.parse_args()
    if args.smoke:
        args.rate, args.seconds = 200, 0.5
    rasterisation()
    print()
    floor = asyncio.run(flood(False, args.rate, args.seconds))
    mapped = asyncio.run(flood(True, args.rate, args.seconds))
    print(
        f"| wall 220x60, asked {args.rate:.0f} events/s for {args.seconds:g} s | events folded (per s) | repaints | map text rebuilt | repaint time per repaint |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, (repaints, draws, spent, folded) in (("without the map (floor)", floor), ("with the map", mapped)):
        print(
            f"| {name} | {folded} ({folded / args.seconds:.0f}/s) | {repaints} | {draws if name == 'with the map' else '-'} | {spent / max(1, repaints) * 1000:.2f} ms |"
        )
    ratio = (mapped[2] / max(1, mapped[0])) / max(1e-9, floor[2] / max(1, floor[0]))
    print(f"\nrepaint time with the map / without: {ratio:.2f}")


if __name__ == "__main__":
    main()
