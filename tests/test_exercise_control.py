"""The trainer's seat (issue 26 items 1 and 4): pause, resume and end an exercise
live, and deadlines in scenario or real minutes. A real exercise server, real
websockets, the wall clock moved by hand."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

from opsmon.core.clock import parse_ts
from opsmon.feeds.simulate import simulate
from opsmon.tui.app import OpsmonApp
from tests.exercises import START, exercise_server
from tests.helpers import running_server
from tests.processes import opsmon
from tests.tui_helpers import screen_lines, settle, until
from tests.wire import Peer

CRITICAL = {"regency": "6371", "category": "keamanan", "severity": "critical", "title": "Kericuhan di TPS 021 Kel. Kelayan Selatan"}


async def test_a_pause_stops_the_clock_and_the_escalations_and_resume_goes_on_from_there(tmp_path: Path) -> None:
    async with exercise_server(tmp_path, speed=60) as (server, base):
        trainer = await Peer.open(server, server.tokens["admin"])
        officer = await Peer.open(server, server.tokens["officer"])
        report = await officer.command("report", incident=CRITICAL)
        incident = report["incident"]
        base.advance(seconds=4)  # four scenario minutes on: one left before its ack deadline
        paused = await trainer.command("exercise", action="pause", note="evaluasi tengah latihan")
        assert paused["ok"], paused
        stood = server.server.clock()
        assert stood == START + timedelta(minutes=4)
        base.advance(seconds=600)  # ten real minutes of pause: ten scenario hours at x60, had it run
        assert server.server.clock() == stood
        assert await server.server.deadlines.check() == 0  # no escalation while paused
        assert server.server.state.incidents[incident].level == 0
        # A client connecting now is told the clock stands still, and where.
        late = await Peer.open(server, server.tokens["wall"])
        assert late.welcome["exercise"]["state"] == "paused" and parse_ts(late.welcome["exercise"]["now"]) == stood
        # Every client saw the event, at the scenario time of the pause.
        event = next(e for e in await officer.wait_events(2) if e["kind"] == "exercise.clock")
        assert event["data"] == {"state": "paused", "note": "evaluasi tengah latihan"} and parse_ts(event["ts"]) == stood
        resumed = await trainer.command("exercise", action="resume")
        assert resumed["ok"]
        base.advance(seconds=2)
        assert server.server.clock() == stood + timedelta(minutes=2)  # on from where it stood, at the speed
        await server.server.deadlines.check()
        assert server.server.state.incidents[incident].level == 1  # now it is overdue
        for peer in (trainer, officer, late):
            await peer.close()


async def test_end_freezes_the_record(tmp_path: Path) -> None:
    async with exercise_server(tmp_path, speed=60) as (server, base):
        trainer = await Peer.open(server, server.tokens["admin"])
        officer = await Peer.open(server, server.tokens["officer"])
        incident = (await officer.command("report", incident=CRITICAL))["incident"]
        ended = await trainer.command("exercise", action="end", note="latihan selesai")
        base.advance(hours=5)  # after the end, no deadline ever passes
        assert ended["ok"]
        head = server.server.state.seq
        refused = await officer.command("ack", incident=incident)
        assert (refused["ok"], refused["code"], refused["reason"]) == (False, "conflict", "exercise_ended")
        again = await trainer.command("exercise", action="resume")
        assert (again["ok"], again["reason"], again["params"]) == (False, "exercise_state", {"action": "resume", "state": "ended"})
        assert await server.server.deadlines.check() == 0
        assert server.server.state.seq == head  # nothing more written
        await trainer.close()
        await officer.close()


async def test_only_the_trainers_admin_token_and_only_on_an_exercise(tmp_path: Path) -> None:
    async with exercise_server(tmp_path, speed=60) as (server, _):
        officer = await Peer.open(server, server.tokens["officer"])
        refused = await officer.command("exercise", action="pause")
        assert (refused["ok"], refused["code"], refused["reason"]) == (False, "forbidden", "admin_only")
        assert server.server.state.seq == 0 and server.server.exercise is not None and server.server.exercise.state == "running"
        trainer = await Peer.open(server, server.tokens["admin"])
        twice = await trainer.command("exercise", action="resume")
        assert (twice["code"], twice["reason"]) == ("conflict", "exercise_state")
        await officer.close()
        await trainer.close()
    async with running_server(tmp_path, db_name="malam.db") as real:
        admin = await Peer.open(real, real.tokens["admin"])
        refused = await admin.command("exercise", action="pause")
        assert (refused["ok"], refused["code"], refused["reason"]) == (False, "invalid", "not_exercise")
        await admin.close()


async def test_a_restarted_server_stays_paused(tmp_path: Path) -> None:
    async with exercise_server(tmp_path, speed=60) as (server, base):
        trainer = await Peer.open(server, server.tokens["admin"])
        base.advance(seconds=30)
        await trainer.command("exercise", action="pause")
        stood = server.server.clock()
        tokens = server.tokens
        await trainer.close()
    base.advance(hours=2)
    async with exercise_server(tmp_path, speed=60, base=base) as (again, _):
        assert again.server.exercise is not None and again.server.exercise.state == "paused"
        assert again.server.clock() == stood
        peer = await Peer.open(again, tokens["officer"])
        assert peer.welcome["exercise"]["state"] == "paused"
        await peer.close()


async def test_real_time_deadlines_give_a_critical_five_real_minutes(tmp_path: Path) -> None:
    async with exercise_server(tmp_path, speed=60, deadlines="real") as (server, base):
        officer = await Peer.open(server, server.tokens["officer"])
        assert officer.welcome["exercise"]["deadlines"] == "real"
        result = await officer.command("report", incident=CRITICAL)
        assert result["ok"], result
        incident = server.server.state.incidents[result["incident"]]
        assert parse_ts(incident.ack_due) - parse_ts(incident.reported) == timedelta(minutes=5 * 60)  # 300 scenario minutes
        base.advance(seconds=4 * 60 + 59)
        assert await server.server.deadlines.check() == 0
        base.advance(seconds=2)
        assert await server.server.deadlines.check() == 1
        await officer.close()


async def test_the_screens_say_paused_and_their_clock_stands_still(tmp_path: Path) -> None:
    async with exercise_server(tmp_path, speed=60) as (server, base):
        app = OpsmonApp(url=server.url, token=server.tokens["officer"], clock=base)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.welcome is not None)
            assert "DIJEDA" not in app.exercise_words()
            trainer = await Peer.open(server, server.tokens["admin"])
            await trainer.command("exercise", action="pause")
            await until(pilot, lambda: "DIJEDA" in app.exercise_words())
            stood = app.now()
            base.advance(seconds=120)
            assert app.now() == stood
            await trainer.command("exercise", action="resume")
            await until(pilot, lambda: "DIJEDA" not in app.exercise_words())
            base.advance(seconds=1)
            assert app.now() > stood
            await settle(pilot)
            await trainer.close()


async def test_the_cli_pauses_and_the_simulated_field_waits(tmp_path: Path) -> None:
    # `opsmon exercise pause` as the trainer types it; the simulator sends nothing while paused.
    async with exercise_server(tmp_path, speed=3600) as (server, _):
        paused = await asyncio.to_thread(opsmon, "exercise", "pause", "--url", server.url, "--token", server.tokens["admin"], "--note", "jeda")
        assert paused.returncode == 0, paused.stderr
        assert "exercise paused" in paused.stdout
        refused = await asyncio.to_thread(opsmon, "exercise", "pause", "--url", server.url, "--token", server.tokens["officer"], "--lang", "id")
        assert refused.returncode != 0 and "hanya token admin pelatih" in refused.stderr
        head = server.server.state.seq
        stats = await simulate(server.url, [server.tokens["admin"]], server.config, scenario="hari-h", seed=2, duration=1.5)
        assert stats.sent == 0 and stats.paused_seconds > 0
        assert server.server.state.seq == head


async def test_a_fast_forwarded_exercise_sums_its_alerts_up_in_one_line(tmp_path: Path) -> None:
    # At x7200 a notice per incident would come faster than anyone reads it (issue 26 item 5).
    async with exercise_server(tmp_path, speed=7200) as (server, base):
        app = OpsmonApp(url=server.url, token=server.tokens["officer"], clock=base)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.welcome is not None)
            field = await Peer.open(server, server.tokens["polisi"])
            for n in range(4):
                await field.command("report", incident={**CRITICAL, "title": f"Kericuhan {n}", "location": f"TPS 00{n}"})
            await until(pilot, lambda: any("4 kritis baru" in line for line in screen_lines(app)))
            await settle(pilot)
            lines = screen_lines(app)
            assert [line for line in lines if "LATIHAN x7200: 4 kritis baru" in line]
            assert not any("KRITIS baru #" in notice for notice in app.notices)  # no notice per incident
            assert all(any(f"Kericuhan {n}" in line for line in lines) for n in range(4))  # every one in the queue
            await field.close()
    # At x60 each critical is said by name, as on a real night.
    (tmp_path / "slow").mkdir()
    async with exercise_server(tmp_path / "slow", speed=60) as (server, base):
        app = OpsmonApp(url=server.url, token=server.tokens["officer"], clock=base)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.welcome is not None)
            field = await Peer.open(server, server.tokens["polisi"])
            await field.command("report", incident=CRITICAL)
            await until(pilot, lambda: any("KRITIS baru #1" in notice for notice in app.notices))
            await field.close()


async def test_at_80_columns_an_exercise_s_long_name_gives_way_before_the_unacknowledged_count(tmp_path: Path) -> None:
    # Seen on the demo at 80x24: "LATIHAN: Demo rekap (x720)" and five-digit TPS counts cut the
    # header to "Blm-ack…", the count a duty officer reads first. The name gives way, LATIHAN never.
    async with exercise_server(tmp_path, speed=720, name="Simulasi Rekapitulasi Kalimantan Selatan Gelombang Kedua") as (server, base):
        officer = await Peer.open(server, server.tokens["officer"])
        assert (await officer.command("report", incident=CRITICAL))["ok"]
        wide = "LATIHAN: Simulasi Rekapitulasi Kalimantan Selatan Gelombang Kedua (x720)"
        for size, says, unacked in (((80, 24), "LATIHAN (x720)", "Blm-ack 1"), ((200, 40), wide, "belum di-ack 1")):
            app = OpsmonApp(url=server.url, token=server.tokens["officer"], clock=base)
            async with app.run_test(size=size) as pilot:
                await until(pilot, lambda app=app: app.state is not None and len(app.state.incidents) == 1)
                await settle(pilot)
                header = screen_lines(app)[0]
                assert says in header and unacked in header, header
        await officer.close()


async def test_a_sitrep_since_a_time_of_day_reads_it_on_the_scenario_clock(tmp_path: Path) -> None:
    """`opsmon sitrep --since 05:00` in an exercise is the scenario's 05:00: a trainer's
    preview of the morning counted nothing (its period began on today's real date,
    after the scenario's 'now') before it was read on the report's own clock."""
    async with exercise_server(tmp_path, speed=60) as (server, base):
        officer = await Peer.open(server, server.tokens["officer"])
        base.advance(seconds=60)  # scenario 06:00 WITA, an hour after START
        assert (await officer.command("report", incident=CRITICAL))["ok"]
        since = await asyncio.to_thread(opsmon, "sitrep", "--format", "json", "--since", "05:00", "--url", server.url, "--token", server.tokens["officer"])
        assert since.returncode == 0, since.stderr
        doc = json.loads(since.stdout)
        assert parse_ts(doc["since"]) == START  # 14 Feb 2024 05:00 WITA, not today's date
        assert doc["incidents"]["reported"] == 1
        # A moment after the scenario's now is refused in one line, not shown as a quiet night.
        later = await asyncio.to_thread(opsmon, "sitrep", "--since", "2024-02-15 05:00", "--url", server.url, "--token", server.tokens["officer"])
        assert later.returncode == 2 and "--since 2024-02-15 05:00: after the report's end (14/02/2024 06:0" in later.stderr, later.stderr
        assert "Traceback" not in later.stderr
        await officer.close()
