"""Issue 25, on the officer's screen and in the sitrep: who is on duty for the officer's
ground (the header, moving at the handover), the chain step in the queue, whom each
escalation told and on which channel (the detail), a failed message as a notice, and the
shift the sitrep names. Against a real server with [[people]] and [[rosters]]."""

from __future__ import annotations

import json
from pathlib import Path

import websockets
from msgspec.structs import replace

from opsmon.client.session import Session
from opsmon.core.config import Config, load_config
from opsmon.core.events import ShiftHandover
from opsmon.core.protocol import Handover, IncidentDraft, Report
from opsmon.core.view import shift_began
from opsmon.tui.app import OpsmonApp
from server.auth import add_token
from tests.helpers import CONFIG_PATH, FakeClock, Running, running_server
from tests.receivers import webhook
from tests.tui_helpers import queue_of, screen_lines, settle, until

PEOPLE = """
[notify]
group_seconds = 0
retry_seconds = 1
max_attempts = 2
check_seconds = 60

[[people]]
name = "Brigpol Andi Saputra"
agency = "Polri"
position = "Polres Tanah Bumbu"
regencies = ["6310"]
channels_file = "andi.urls"

[[people]]
name = "Bripka Sari Wulandari"
agency = "Polri"
position = "Polres Tanah Bumbu"
regencies = ["6310"]
channels_file = "sari.urls"

[[people]]
name = "AKP Budi"
agency = "Polri"
position = "Kasubbag Ops"
channels_file = "budi.urls"

[[people]]
name = "Iptu Rudi"
agency = "Polri"
position = "Piket Polda"

[[people]]
name = "Siti Aminah"
agency = "KPU"
position = "KPU Provinsi"

[[rosters]]
desk = "Polri"
regencies = ["6310"]

[[rosters.shifts]]
start = "07:00"
end = "19:00"
people = ["Bripka Sari Wulandari"]
supervisor = "AKP Budi"

[[rosters.shifts]]
start = "19:00"
end = "07:00"
people = ["Brigpol Andi Saputra"]
supervisor = "AKP Budi"

[[rosters]]
desk = "Polri"

[[rosters.shifts]]
start = "00:00"
end = "12:00"
people = ["Iptu Rudi"]

[[rosters.shifts]]
start = "12:00"
end = "00:00"
people = ["Iptu Rudi"]

[[rosters]]
desk = "KPU"

[[rosters.shifts]]
start = "08:00"
end = "20:00"
people = ["Siti Aminah"]

[[rosters.shifts]]
start = "20:00"
end = "08:00"
people = ["Siti Aminah"]

[[chains]]
severities = ["critical"]
repeat = 0

[[chains.levels]]
notify = ["desk"]

[[chains.levels]]
notify = ["supervisor"]
after_minutes = 5
"""


def post_config(folder: Path, urls: dict[str, str] | None = None) -> Config:
    """The shipped config with the post's people, rosters and a chain; each channels file beside it."""
    text = CONFIG_PATH.read_text(encoding="utf-8")
    shipped_notify = text.index("\n[notify]\n")
    text = text[:shipped_notify] + text[text.index("\n\n", shipped_notify + 1) :]  # the test's own [notify]
    path = folder / "config.toml"
    text = text.replace("escalation_check_seconds = 5\n", "escalation_check_seconds = 600\n", 1)  # the test runs the checks
    path.write_text(text + PEOPLE, encoding="utf-8")
    channels = {
        "andi.urls": "tgram://123456:AAEsecret/987654",
        "sari.urls": "mailto://posko:PASSWORD@127.0.0.1:9?to=sari@example.org",
        "budi.urls": "json://127.0.0.1:9/budi",
    }
    channels.update(urls or {})
    for name, url in channels.items():
        (folder / name).write_text(f"# {name}\n{url}\n", encoding="utf-8")
    return load_config(path)


def duty_line(app: OpsmonApp) -> str:
    """The header's second line: who is on duty."""
    return screen_lines(app)[1]


async def test_the_header_names_who_is_on_duty_for_a_tanah_bumbu_officer_and_moves_at_the_handover(tmp_path: Path, clock: FakeClock) -> None:
    config = post_config(tmp_path)
    async with running_server(tmp_path, clock=clock, config=config) as server:
        known = {r.code for r in config.regencies}
        token = await add_token(server.store, "tanbu", "officer", "Polri", ["6310"], known)
        app = OpsmonApp(url=server.url, token=token, clock=clock, desk="Polri", remember_in=None, desks=config.desks())
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: "Piket" in duty_line(app))
            # 21:00 WITA: Tanah Bumbu's own Polri roster (not the province's Iptu Rudi), until 07:00.
            line = duty_line(app)
            assert line.strip() == "Piket Polri: Brigpol Andi Saputra (Polres Tanah Bumbu) s.d. 07:00"
            assert "Rudi" not in line and "Siti" not in line  # another roster, another desk
            clock.advance(hours=10)  # 07:00 WITA: the handover
            await until(pilot, lambda: "Sari" in duty_line(app))
            assert duty_line(app).strip() == "Piket Polri: Bripka Sari Wulandari (Polres Tanah Bumbu) s.d. 19:00"
            assert "Andi" not in duty_line(app)


async def test_the_whole_province_sees_each_desk_in_one_short_line_at_80_columns(tmp_path: Path, clock: FakeClock) -> None:
    config = post_config(tmp_path)
    async with running_server(tmp_path, clock=clock, config=config) as server:
        app = OpsmonApp(url=server.url, token=server.tokens["admin"], clock=clock, remember_in=None, desks=config.desks())
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: "Piket" in duty_line(app))
            await settle(pilot)
            lines = screen_lines(app)
            # Each desk's province roster, in the post's order; each its own handover time.
            assert lines[1].strip() == "Piket · KPU: Siti Aminah s.d. 08:00 · Polri: Iptu Rudi s.d. 00:00"
            assert all(len(row) <= 80 for row in lines)


async def test_a_viewer_gets_the_rosters_and_names_but_never_a_channel(tmp_path: Path, clock: FakeClock) -> None:
    config = post_config(tmp_path)
    async with running_server(tmp_path, clock=clock, config=config) as server:
        for token in ("wall", "officer"):
            async with websockets.connect(server.url) as ws:
                await ws.send(f'{{"type": "hello", "token": "{server.tokens[token]}", "client": "tests", "epoch": null, "since": null}}')
                welcome = await ws.recv()
            assert isinstance(welcome, str)
            assert '"rosters":[' in welcome and '"Brigpol Andi Saputra"' in welcome and '"position":"Polres Tanah Bumbu"' in welcome
            for secret in ("mailto:", "tgram:", "json:", "AAEsecret", "PASSWORD", "channels_file", ".urls", "quiet_hours"):
                assert secret not in welcome, secret


async def report_riot(server: Running) -> int:
    """A critical riot in Tanah Bumbu: the Polri desk's (keamanan), the chain's."""
    session = await Session.open(server.url, server.tokens["admin"])
    try:
        result = await session.request(
            Report(id="riot", incident=IncidentDraft(regency="6310", category="keamanan", severity="critical", title="Massa mendatangi PPK Kusan Hilir"))
        )
    finally:
        await session.close()
    assert result.ok and isinstance(result.incident, int), result
    return result.incident


async def test_the_queue_shows_the_step_the_detail_names_who_was_told_and_a_failed_message_is_a_notice(tmp_path: Path, clock: FakeClock) -> None:
    with webhook() as good, webhook(status=500) as bad:
        config = post_config(tmp_path, {"andi.urls": good.url(), "budi.urls": bad.url()})
        async with running_server(tmp_path, clock=clock, config=config) as server:
            incident = await report_riot(server)
            app = OpsmonApp(url=server.url, token=server.tokens["polisi"], clock=clock, remember_in=None, desks=config.desks())
            async with app.run_test(size=(80, 24)) as pilot:
                await until(pilot, lambda: queue_of(app).incident_ids == [incident])
                clock.advance(minutes=5, seconds=1)  # the ack deadline: L1, the desk on duty (Brigpol Andi)
                assert await server.server.deadlines.check() == 1
                await server.server.notifier.check()
                assert len(good.received) == 1
                clock.advance(minutes=5)  # L2: the supervisor, whose channel answers 500
                assert await server.server.deadlines.check() == 1
                for _ in range(2):  # max_attempts 2, retry 1 s
                    await server.server.notifier.check()
                    clock.advance(seconds=2)
                assert len(bad.received) == 2
                # The failure stands on the notice line, in words (reverse video, never colour alone).
                failed = f"Pemberitahuan L2 ke AKP Budi (json) GAGAL: #{incident} Tanah Bumbu"
                await until(pilot, lambda: any(failed in line for line in screen_lines(app)))
                # The queue's row says the chain's step, before its title.

                def row() -> str:
                    return next(line for line in screen_lines(app) if f"#{incident} " in line).split(f"#{incident}")[0]

                await until(pilot, lambda: "L2" in row())
                assert "!LEWAT L2" in row()
                assert all(len(line) <= 80 for line in screen_lines(app))
                await pilot.press("enter")
                await until(pilot, lambda: type(app.screen).__name__ == "IncidentScreen")
                # Whom each step told, on which channel, and how it went: a line each.
                await until(pilot, lambda: any(line.strip() == "L2 AKP Budi: json GAGAL" for line in screen_lines(app)))
                lines = [line.strip() for line in screen_lines(app)]
                assert "Eskalasi      L2" in lines
                assert "Diberitahu    L1 Brigpol Andi Saputra: json terkirim" in lines
                assert not any("127.0.0.1" in line for line in lines)  # the scheme, never the URL


async def test_the_sitrep_names_who_was_on_duty_as_its_period_ended(tmp_path: Path, clock: FakeClock) -> None:
    config = post_config(tmp_path)
    config = replace(config, sitrep=replace(config.sitrep, every_minutes=60, formats=("text", "json", "md")))
    async with running_server(tmp_path, clock=clock, config=config) as server:
        await report_riot(server)
        clock.advance(minutes=30)  # 21:30 WITA: the night shift
        text, doc, md = await server.server.sitreps.write()
        duty = json.loads(doc.read_text(encoding="utf-8"))["duty"]
        # As data: every roster's shift at the period's end, by desk, the province's roster first.
        assert [(d["desk"], d["regencies"], d["start"], d["end"], [p["name"] for p in d["people"]], d["supervisor"]) for d in duty] == [
            ("KPU", [], "20:00", "08:00", ["Siti Aminah"], None),
            ("Polri", [], "12:00", "00:00", ["Iptu Rudi"], None),
            ("Polri", ["6310"], "19:00", "07:00", ["Brigpol Andi Saputra"], "AKP Budi"),
        ]
        assert duty[2]["until"] == "2024-02-14T23:00:00.000Z" and duty[2]["people"][0]["position"] == "Polres Tanah Bumbu"
        assert "channels" not in json.dumps(duty) and "tgram" not in json.dumps(duty)
        # In words, in Indonesian, on a phone: a line a roster, before the closing.
        said = text.read_text(encoding="utf-8")
        assert "*Piket jaga pukul 21:30 WITA*\nKPU: Siti Aminah (20:00-08:00)\nPolri: Iptu Rudi (12:00-00:00)\n" in said
        assert "Polri Tanah Bumbu: Brigpol Andi Saputra (19:00-07:00), pengawas AKP Budi\n" in said
        assert said.index("Piket jaga") < said.index("Demikian laporan") and len(said) < 4000
        assert "## Piket jaga pukul 21:30 WITA" in md.read_text(encoding="utf-8")
        clock.advance(hours=10)  # 07:30: the handover happened; the next report names the day shift
        text, doc, md = await server.server.sitreps.write()
        assert "Polri Tanah Bumbu: Bripka Sari Wulandari (07:00-19:00), pengawas AKP Budi" in text.read_text(encoding="utf-8")


async def test_a_polres_officer_hands_over_the_shift_of_the_regency_s_own_roster(tmp_path: Path, clock: FakeClock) -> None:
    """The handover records the shift that holds for the officer's regencies (Tanah Bumbu's own
    Polri roster, 19:00-07:00 at 21:00 WITA), not the province's roster (Iptu Rudi, 12:00-00:00),
    which is what a province token hands over; the screen and `opsmon handover` name the same."""
    config = post_config(tmp_path)
    async with running_server(tmp_path, clock=clock, config=config) as server:
        known = {r.code for r in config.regencies}
        tanbu = await add_token(server.store, "tanbu", "officer", "Polri", ["6310"], known)
        for n, token in enumerate((tanbu, server.tokens["admin"])):
            session = await Session.open(server.url, token)
            try:
                result = await session.request(Handover(id=f"h-{n}", desk="Polri", step="confirm"))
                assert result.ok, result
            finally:
                await session.close()
        handovers = [e.data for e in await server.store.events_since(0) if isinstance(e.data, ShiftHandover)]
        assert [h.shift for h in handovers] == ["19:00-07:00", "12:00-00:00"]
        # The sheet the screen and the CLI print begins the same shift (21:00 WITA: at 19:00).
        began, span = shift_began(config.info().rosters, "Polri", ["6310"], clock(), config.province.tz)
        assert (span, began.astimezone(config.province.tz).strftime("%H:%M")) == ("19:00-07:00", "19:00")
