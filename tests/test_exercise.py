"""Exercise mode: the log is marked (and a real server refuses it), the
server runs on scenario time so deadlines scale with the speed, every
screen says LATIHAN, and the simulator plays only the field on it."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from opsmon.core.clock import parse_ts
from opsmon.core.protocol import ExerciseInfo
from opsmon.training.exercise import ExerciseClock
from server.app import OpsmonServer
from server.auth import add_token
from server.exercise import Exercise, ExerciseSettings, prepare
from server.store.api import StoreError
from server.store.sqlite import SqliteStore
from tests.exercises import START, exercise_server
from tests.helpers import FakeClock, province
from tests.wire import Peer


@pytest.mark.parametrize("speed", [1.0, 60.0, 600.0])
async def test_a_critical_has_five_scenario_minutes_whatever_the_speed(tmp_path: Path, speed: float) -> None:
    async with exercise_server(tmp_path, speed=speed) as (server, base):
        peer = await Peer.open(server, server.tokens["officer"])
        assert peer.welcome["exercise"]["name"] == "Latihan Posko 12 Feb" and peer.welcome["exercise"]["speed"] == speed
        result = await peer.command("report", incident={"regency": "6371", "category": "keamanan", "severity": "critical", "title": "Kericuhan di TPS 021"})
        incident = server.server.state.incidents[result["incident"]]
        # Scenario time: reported at 05:00 WITA on 14 Feb 2024, due 5 scenario minutes later.
        assert parse_ts(incident.reported) == START
        assert parse_ts(incident.ack_due) - parse_ts(incident.reported) == timedelta(minutes=5)
        # Just under 5 scenario minutes of wall clock: not yet escalated; just over: escalated.
        base.advance(seconds=299 / speed)
        assert await server.server.deadlines.check() == 0
        base.advance(seconds=2 / speed)
        assert await server.server.deadlines.check() == 1
        assert server.server.state.incidents[incident.id].level == 1
        # Deadlines are checked as often in scenario time as on a real night.
        assert server.server.deadlines.every <= max(0.1, server.config.server.escalation_check_seconds / speed) + 1e-9
        await peer.close()


async def test_a_real_server_refuses_an_exercise_log_and_an_exercise_refuses_a_real_one(tmp_path: Path) -> None:
    async with exercise_server(tmp_path, speed=60) as (server, _):
        epoch = server.store.epoch
        assert epoch.startswith("latihan-")
    async with SqliteStore(tmp_path / "latihan.db") as store:
        with pytest.raises(StoreError, match=r"holds a training exercise \('Latihan Posko 12 Feb'\), never a real night: serve it with --exercise"):
            await prepare(store, None)
        # A reset keeps it an exercise: the next session's epoch says so too.
        new = await store.reset(keep_tokens=True)
        assert new.startswith("latihan-") and new != epoch
    # A real night's database with events is never turned into an exercise.
    from tests.helpers import running_server

    async with running_server(tmp_path, db_name="real.db") as real:
        peer = await Peer.open(real, real.tokens["officer"])
        assert peer.welcome.get("exercise") is None and not real.store.epoch.startswith("latihan-")
        assert (await peer.command("report", incident={"regency": "6371", "category": "keamanan", "severity": "low", "title": "x"}))["ok"]
        await peer.close()
    async with SqliteStore(tmp_path / "real.db") as store:
        with pytest.raises(StoreError, match=r"holds a real night \(1 events\): an exercise needs its own database"):
            await prepare(store, ExerciseSettings("Latihan", START, 60))


def test_serve_refuses_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from server.cli import main

    db = tmp_path / "latihan.db"

    async def mark() -> None:
        async with SqliteStore(db) as store:
            await prepare(store, ExerciseSettings("Latihan Posko 12 Feb", START, 60))

    asyncio.run(mark())
    assert main(["serve", "--db", str(db), "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds a training exercise ('Latihan Posko 12 Feb')" in err and "Traceback" not in err
    assert main(["serve", "--db", str(db), "--port", "0", "--speed", "60"]) == 2
    assert "--speed needs --exercise NAME" in capsys.readouterr().err
    assert main(["serve", "--db", str(db), "--port", "0", "--exercise", "Latihan\x1b[31m"]) == 2
    assert "may not contain control characters (U+001B)" in capsys.readouterr().err
    assert main(["serve", "--db", str(db), "--port", "0", "--exercise", "L", "--start", "besok"]) == 2
    assert "--start: 'besok' is not a time" in capsys.readouterr().err


async def test_a_restarted_exercise_goes_on_from_its_scenario_time_and_a_reset_starts_again(tmp_path: Path) -> None:
    base = FakeClock(datetime(2026, 2, 12, 1, 0, tzinfo=UTC))
    async with SqliteStore(tmp_path / "l.db") as store:
        first = await prepare(store, ExerciseSettings("L", START, 60), now=base())
        assert first is not None and first.clock.scenario == START
    base.advance(minutes=2)  # two real minutes later: two scenario hours
    async with SqliteStore(tmp_path / "l.db") as store:
        again = await prepare(store, ExerciseSettings("L", START, 60), now=base())
        assert again is not None and again.clock.scenario == START + timedelta(hours=2)
        await store.reset(keep_tokens=True)
    async with SqliteStore(tmp_path / "l.db") as store:
        fresh = await prepare(store, ExerciseSettings("L", START, 60), now=base())
        assert fresh is not None and fresh.clock.scenario == START


async def exercise_headers(info: ExerciseInfo, size: tuple[int, int]) -> tuple[list[str], datetime]:
    """The header's text on the dashboard and on an incident's screen (enter), for the
    fixed night's client with the server running exercise `info`; and the client's clock."""
    from opsmon.tui.widgets.status import HeaderBar
    from tests.tui_helpers import night_app, until

    app = night_app()
    assert app._preset is not None
    welcome, state = app._preset
    app._preset = (msgspec.structs.replace(welcome, exercise=info), state)
    texts = []
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.welcome is not None)
        await pilot.pause()
        for screen_keys in ([], ["enter"]):
            for key in screen_keys:
                await pilot.press(key)
            await pilot.pause()
            header = app.screen.query_one(HeaderBar).render()
            texts.append(header.plain if hasattr(header, "plain") else str(header))
        return texts, app.now()


async def test_every_screen_says_latihan_and_shows_scenario_time() -> None:
    scenario_now = datetime(2024, 2, 13, 22, 15, tzinfo=UTC)  # 06:15 WITA
    info = ExerciseInfo(
        name="Latihan Posko 12 Feb", speed=60.0, now=scenario_now.isoformat().replace("+00:00", "Z"), start="2024-02-13T21:00:00.000Z", scenario="hari-h"
    )
    texts, now = await exercise_headers(info, (80, 24))
    for text in texts:
        # At 80 columns the name gives way (LATIHAN and the speed stay), never the unacknowledged count.
        assert "LATIHAN (x60)" in text and "Blm-ack 6" in text, text
        assert "06:15" in text and "21:30" not in text, text  # scenario time, not the real clock (NOW is 21:30 WITA)
    assert now == scenario_now  # the fixed wall clock does not move: neither does scenario time


async def test_a_paused_exercise_at_80_columns_keeps_the_unacknowledged_count() -> None:
    """Walking the rekap exercise paused at x7200, the detail screen's header read
    `LATIHAN (x7200) DIJEDA  TPS 13584/13584 · Blm-ack …`: the count was cut. The speed
    and the deadlines' words give way now; LATIHAN and DIJEDA stay."""
    info = ExerciseInfo(
        name="Latihan Panjang",
        speed=7200.0,
        now="2024-02-16T10:49:00.000Z",
        start="2024-02-14T11:00:00.000Z",
        scenario="rekap",
        state="paused",
        deadlines="real",
    )
    for size in ((80, 24), (200, 24)):
        texts, _ = await exercise_headers(info, size)
        for text in texts:
            assert "LATIHAN" in text and "DIJEDA" in text and "-ack 6" in text and "…" not in text, text
            if size[0] == 200:  # room for all of it
                assert "LATIHAN: Latihan Panjang (x7200, tenggat waktu nyata) DIJEDA" in text, text


async def test_the_simulator_plays_only_the_field_on_an_exercise_server_by_default(tmp_path: Path) -> None:
    from opsmon.feeds.simulate import simulate

    async with exercise_server(tmp_path, speed=3600, base=None) as (server, base):
        # The wall clock here is the test's: move it along with the real one the simulator uses.
        import time

        began = time.monotonic()
        base_start = base.now

        def follow() -> datetime:
            return base_start + timedelta(seconds=time.monotonic() - began)

        server.server.clock = ExerciseClock(base_start, START, 3600, base=follow)
        server.server.exercise = Exercise(server.server.exercise.settings, server.server.clock)  # type: ignore[union-attr]
        tokens = [server.tokens["admin"], server.tokens["officer"], server.tokens["polisi"]]
        stats = await simulate(server.url, tokens, server.config, scenario="hari-h", seed=2, duration=2.0)
        assert stats.reports_only and stats.left_to_officers > 0 and stats.incidents >= 2
        kinds = {e.kind for e in await server.store.events_since(0)}
        assert kinds <= {"incident.reported", "incident.duplicate", "stage.updated", "incident.escalated"}, kinds
        # Events carry scenario time: 14 Feb 2024, in the first hours of the day.
        for incident in server.server.state.incidents.values():
            assert START <= parse_ts(incident.reported) <= START + timedelta(hours=4)
        assert json.dumps(stats.to_json())


async def test_a_reset_between_sessions_gives_connected_clients_the_empty_night(tmp_path: Path) -> None:
    import asyncio
    import socket

    from opsmon.client.backoff import Backoff
    from opsmon.client.connection import Connection
    from opsmon.core.protocol import Event, Welcome
    from opsmon.core.state import State
    from server.cli import main as server_main
    from tests.helpers import CONFIG_PATH

    with socket.socket() as probe:  # a port the second session can take again
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = province()
    db = tmp_path / "latihan.db"
    settings = ExerciseSettings("Latihan Posko 12 Feb", START, 60, "hari-h")

    @contextlib.asynccontextmanager
    async def session() -> AsyncIterator[OpsmonServer]:
        async with SqliteStore(db, synchronous="normal") as store:
            server = OpsmonServer(config, store, exercise=await prepare(store, settings))
            await server.start("127.0.0.1", port)
            try:
                yield server
            finally:
                await server.close()

    class Seen:
        def __init__(self) -> None:
            self.welcomes: list[Welcome] = []
            self.snapshots: list[State] = []

        def connected(self, welcome: Welcome) -> None:
            self.welcomes.append(welcome)

        def synced(self, state: State, events: list[Event] | None) -> None:
            if events is None:
                self.snapshots.append(state.copy())

        def disconnected(self, since: datetime, reason: str) -> None: ...
        def refused(self, reason: str) -> None: ...

    async with SqliteStore(db) as store:
        trainee = await add_token(store, "Trainee 1", "officer", "KPU", None, {r.code for r in config.regencies})
    seen = Seen()
    url = f"ws://127.0.0.1:{port}/ws"
    async with session() as first:
        connection = Connection(url, trainee, seen, backoff=Backoff(initial=0.05, maximum=0.2))
        task = asyncio.create_task(connection.run())
        peer = await Peer.open(url, trainee)
        for title in ("Kericuhan di TPS 021", "Logistik belum tiba di TPS 004"):
            assert (await peer.command("report", incident={"regency": "6371", "category": "keamanan", "severity": "high", "title": title}))["ok"]
        await peer.close()
        for _ in range(200):
            if len(connection.state.incidents) == 2:
                break
            await asyncio.sleep(0.02)
        assert len(connection.state.incidents) == 2
        old_epoch = first.store.epoch
    # Between sessions: a new epoch, an empty log, the same tokens.
    code = await asyncio.to_thread(server_main, ["reset", "--keep-tokens", "--db", str(db), "--config", str(CONFIG_PATH)])
    assert code == 0
    async with session() as second:
        for _ in range(300):
            if seen.welcomes[-1].epoch == second.store.epoch and connection.state.seq == 0 and connection.online:
                break
            await asyncio.sleep(0.02)
        new_epoch = second.store.epoch
        assert new_epoch != old_epoch and new_epoch.startswith("latihan-")
        assert seen.welcomes[-1].epoch == new_epoch  # the same token got in again
        assert seen.snapshots[-1].incidents == {} and seen.snapshots[-1].seq == 0  # the empty night
        assert connection.state.incidents == {}
        assert seen.welcomes[-1].exercise is not None and parse_ts(seen.welcomes[-1].exercise.now) < START + timedelta(minutes=5)  # the clock starts again
        await connection.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_a_sitrep_of_an_exercise_says_latihan_on_its_first_line() -> None:
    from opsmon.reports.sitrep import render, render_text
    from tests.nights import night_doc, sitrep_night

    welcome, state, events = sitrep_night()
    from opsmon.reports.sitrep import build
    from opsmon.training.sample_night import NOW, START

    info = ExerciseInfo(name="Latihan Posko 12 Feb", speed=60.0, now="2024-02-14T13:00:00.000Z", start="2024-02-13T21:00:00.000Z")
    doc = build(welcome.config, state, events, now=NOW, since=START, number=3, by="x", post="Posko", exercise=info)
    assert render_text(doc, "id").splitlines()[0].startswith("*LATIHAN: Latihan Posko 12 Feb · ")
    assert render(doc, "md", "en").decode().splitlines()[0].startswith("# EXERCISE: Latihan Posko 12 Feb · ")
    assert "LATIHAN" not in render_text(night_doc(), "id")  # a real night's report never says so
