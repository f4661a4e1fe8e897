"""`opsmon demo`: a whole election night on one machine, in one command.

In one asyncio loop: an embedded OpsmonServer on a free loopback port with a
temporary SQLite database (or --db PATH to keep it), its own tokens (an
officer for the person at the screen, one simulator per agency desk, a
viewer for the wall), the simulator feeding it, and the TUI. Quitting the
TUI (q, ctrl+c) stops the simulator and the server and removes the
temporary database: no process, thread or file is left behind.

`--headless SECONDS` runs the server and the simulator without the TUI and
prints what the night did: for tests, and to see it work over a plain pipe.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opsmon.core.config import Config, ConfigError, load_config
from opsmon.core.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE, FeedError
from opsmon.core.records import StageRow
from opsmon.core.state import State
from opsmon.feeds.simulate import SimStats, scenario_for, simulate
from server.embed import Embedded, ExerciseRefused, ExerciseSettings, StoreError, TokenSpec, embedded_server

OFFICER = ("Petugas Posko", "officer", "KPU")
VIEWER = ("Layar Dinding", "viewer", "KPU")
# Admin tokens: a whole night compressed into seconds is more than an officer's rate allows.
SIMULATORS = (("Simulasi KPU", "admin", "KPU"), ("Simulasi Bawaslu", "admin", "Bawaslu"), ("Simulasi Polri", "admin", "Polri"))


@dataclass
class DemoServer:
    url: str
    officer: str
    viewer: str
    simulators: list[str]
    database: Path
    temporary: bool
    embedded: Embedded

    @property
    def state(self) -> State:
        return self.embedded.state

    @property
    def stages(self) -> list[StageRow]:
        return self.embedded.stages


@contextlib.asynccontextmanager
async def demo_server(config: Config, db: Path | None = None, exercise: ExerciseSettings | None = None) -> AsyncIterator[DemoServer]:
    """The embedded server with its tokens; on exit it is closed and a temporary database removed.

    `exercise`: run it as an exercise on scenario time, so the screens show the scenario's
    clock and deadlines scale with the speed. Each run starts the clock again."""
    folder: Path | None = None
    if db:
        database = db
    else:
        folder = Path(tempfile.mkdtemp(prefix="opsmon-demo-"))
        database = folder / "demo.db"
    tokens = [TokenSpec(*spec) for spec in (OFFICER, VIEWER, *SIMULATORS)]
    try:
        async with embedded_server(config, database, tokens, exercise=exercise, restart_clock=True) as running:
            secrets = running.tokens
            yield DemoServer(
                running.url,
                secrets[OFFICER[0]],
                secrets[VIEWER[0]],
                [secrets[spec[0]] for spec in SIMULATORS],
                database,
                folder is not None,
                running,
            )
    except ExerciseRefused as exc:
        raise FeedError(f"{exc} (an older demo's database: use another --db)", EXIT_USAGE) from None
    except StoreError as exc:
        raise FeedError(str(exc), EXIT_USAGE) from None
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def summary(demo: DemoServer, stats: SimStats | None, seconds: float) -> dict[str, Any]:
    state = demo.state
    statuses = {"open": 0, "acknowledged": 0, "resolved": 0}
    for incident in state.incidents.values():
        statuses[incident.status] = statuses.get(incident.status, 0) + 1
    rows = demo.stages
    return {
        "url": demo.url,
        "seconds": round(seconds, 1),
        "events": state.seq,
        "incidents": len(state.incidents),
        "incident_status": statuses,
        "escalated": sum(1 for i in state.incidents.values() if i.level > 0),
        "stages_moved": sum(1 for r in rows if r.status != "pending"),
        "stages_done": sum(1 for r in rows if r.status == "done"),
        "stages_blocked": sum(1 for r in rows if r.status == "blocked"),
        "stages": len(rows),
        "simulator": stats.to_json() if stats is not None else None,
        "database": None if demo.temporary else str(demo.database),
    }


async def _stop(task: asyncio.Task[SimStats], stop: asyncio.Event) -> SimStats | None:
    stop.set()
    try:
        return await asyncio.wait_for(task, 15)
    except (FeedError, TimeoutError, asyncio.CancelledError) as exc:
        if isinstance(exc, FeedError):
            print(f"opsmon demo: simulator: {exc.message}", file=sys.stderr)
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        return None


async def demo(
    config: Config,
    *,
    db: Path | None = None,
    seed: int | None = None,
    speed: float | None = None,
    scenario: str = "rekap",
    headless: float | None = None,
    wall: bool = False,
    lang: str = "id",
    bell: bool = True,
) -> tuple[int, dict[str, Any] | None]:
    night = scenario_for(scenario, config)
    import random
    import time

    seed = seed if seed is not None else random.randrange(1_000_000)
    if speed is None and headless is not None:
        # Headless: the whole night in the time given (as fast as the server's rate limit allows).
        speed = night.duration / headless
    settings = ExerciseSettings(name=f"Demo {night.name}", start=night.start, speed=speed or night.speed, scenario=night.name)
    async with demo_server(config, db, settings) as running:
        stop = asyncio.Event()
        # The demo plays the post's officers too (acks, notes, resolutions), for whoever just watches.
        play = simulate(
            running.url, running.simulators, config, scenario=night, seed=seed, speed=settings.speed, stop=stop, reports_only=False, duration=headless
        )
        task = asyncio.create_task(play, name="opsmon-demo-simulator")
        try:
            if headless is not None:
                began = time.monotonic()
                # The simulator stops itself at `headless` seconds; a little more for its last answers.
                await asyncio.wait({task}, timeout=headless + 15)
                stats = await _stop(task, stop)
                return EXIT_OK, summary(running, stats, time.monotonic() - began)
            from opsmon.core.geo import province_shape
            from opsmon.tui.app import OpsmonApp

            app = OpsmonApp(
                url=running.url,
                token=running.viewer if wall else running.officer,
                lang=lang,
                wall=wall,
                shape=province_shape(config.province.boundaries),
                sitrep=config.sitrep,
                sitrep_folder=config.sitrep_folder(),
                bell=bell,
                desks=config.desks(),  # the palette's "Fokus meja: ..."
                rosters=config.rosters,  # the handover screen's shift
            )
            await app.run_async()
            await _stop(task, stop)
            # A refused token or an unreachable server: Textual has printed the app's exit message.
            return int(app.return_code or 0), None
        finally:
            if not task.done():
                await _stop(task, stop)


def _quiet_logs() -> None:
    # The dashboard owns the terminal: the embedded server must not write on it.
    for name in ("opsmon", "websockets", "server"):
        logger = logging.getLogger(name)
        logger.addHandler(logging.NullHandler())
        logger.propagate = False


def print_summary(body: dict[str, Any]) -> None:
    st = body["incident_status"]
    sim = body["simulator"] or {}
    print(f"opsmon demo: server {body['url']} ran {body['seconds']} s with the simulator ({sim.get('sent', 0)} commands, {sim.get('ok', 0)} ok)")
    print(f"events: {body['events']}")
    print(f"incidents: {body['incidents']} ({st['open']} open, {st['acknowledged']} acknowledged, {st['resolved']} resolved; {body['escalated']} escalated)")
    print(f"stages: {body['stages_moved']} of {body['stages']} moved ({body['stages_done']} done, {body['stages_blocked']} blocked)")
    print(f"database: {'kept at ' + body['database'] if body['database'] else 'temporary, removed'}")
    if sim.get("skipped_past"):
        print(f"NOT PLAYED: {sim['skipped_past']} reports due before the simulator started")
    if sim.get("unsent"):
        # Said plainly: the time given was too short for the whole night.
        hours = sim.get("scenario_seconds", 0) / 3600
        print(
            f"NOT PLAYED: {sim['unsent']} of {sim['planned']} commands ({sim['unsent_reports']} reports) after {hours:.1f} scenario hours; "
            "give more seconds, or --speed lower to watch part of the night"
        )
    elif sim and not sim.get("skipped_past"):
        print(f"played: the whole night, all {sim.get('planned', 0)} commands")


def run_demo(args: argparse.Namespace) -> int:
    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError as exc:
        raise FeedError(f"config: {exc}", EXIT_USAGE) from None
    lang = getattr(args, "lang", None) or config.province.language
    if args.headless is None:
        try:
            import opsmon.tui.app  # noqa: F401
        except ImportError as exc:
            print(f"opsmon: error: the dashboard cannot start: {exc} (try `opsmon demo --headless 10`)", file=sys.stderr)
            return EXIT_FAILED
        _quiet_logs()
    code, body = asyncio.run(
        demo(
            config,
            db=Path(args.db).expanduser() if args.db else None,
            seed=args.seed,
            speed=args.speed,
            scenario=args.scenario,
            headless=args.headless,
            wall=bool(getattr(args, "wall", False)),
            lang=lang,
            bell=config.client.bell and not getattr(args, "no_bell", False),
        )
    )
    if body is not None:
        print_summary(body)
    return code
