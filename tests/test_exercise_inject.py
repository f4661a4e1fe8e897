"""The trainer's inject (issue 26 item 2): an incident sent now as a field desk,
recorded as an inject, shown to the trainees like any field report. A real
exercise server, real websockets, the wall clock moved by hand."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from textual.command import CommandPalette
from textual.widgets import Input

from opsmon.cli import main
from opsmon.core.events import IncidentReported
from opsmon.core.protocol import Event
from opsmon.core.wire import decode_server, encode
from opsmon.tui.app import OpsmonApp
from opsmon.tui.palette import commands
from tests.exercises import exercise_server
from tests.helpers import running_server
from tests.processes import opsmon
from tests.tui_helpers import loaded, screen_lines, settle, until
from tests.wire import Peer

FLOOD = {
    "regency": "6303",
    "category": "bencana",
    "severity": "high",
    "title": "Banjir setinggi lutut di TPS 004 Desa Sungai Tabuk",
    "location": "TPS 004 Desa Sungai Tabuk",
}


async def test_an_inject_comes_as_the_chosen_desk_and_is_marked_in_the_record(tmp_path: Path) -> None:
    async with exercise_server(tmp_path, speed=60) as (server, _):
        trainee = await Peer.open(server, server.tokens["officer"])
        trainer = await Peer.open(server, server.tokens["admin"])
        sent = await trainer.command("report", incident=FLOOD, inject=True, desk="Polri")
        assert sent["ok"] and not sent.get("duplicate"), sent
        event = next(e for e in await trainee.wait_events(1) if e["kind"] == "incident.reported")
        # The trainee's stream shows a field report from Polri's desk, not the trainer.
        assert event["actor"] == {"name": "Lapangan Polri", "agency": "Polri"}
        assert event["data"]["reporter"] == {"name": "Lapangan Polri", "agency": "Polri"}
        assert event["data"]["inject"] is True
        incident = server.server.state.incidents[sent["incident"]]
        assert incident.inject and incident.reporter.agency == "Polri"
        # The same trouble again is a new incident (an inject is never folded as a duplicate) ...
        again = await trainer.command("report", incident=FLOOD, inject=True, desk="KPU", reporter="PPK Sungai Tabuk")
        assert again["ok"] and again["incident"] != sent["incident"] and not again.get("duplicate")
        assert server.server.state.incidents[again["incident"]].reporter.name == "PPK Sungai Tabuk"
        # ... while a field report of it is folded into the open one, and carries no mark.
        field = await trainee.command("report", incident=FLOOD)
        assert field["duplicate"]
        plain = await trainee.command("report", incident={**FLOOD, "location": "TPS 009", "title": "Banjir di TPS 009"})
        assert plain["ok"] and not server.server.state.incidents[plain["incident"]].inject
        reported = [e for e in await trainee.wait_events(4) if e["kind"] == "incident.reported"]
        assert "inject" not in reported[-1]["data"]  # a field report's event is as it always was
        await trainee.close()
        await trainer.close()


async def test_only_the_trainers_admin_token_injects_and_only_on_an_exercise(tmp_path: Path) -> None:
    async with exercise_server(tmp_path, speed=60) as (server, _):
        officer = await Peer.open(server, server.tokens["officer"])
        refused = await officer.command("report", incident=FLOOD, inject=True, desk="KPU")
        assert (refused["ok"], refused["code"], refused["reason"], refused["params"]) == (False, "forbidden", "inject_admin_only", {"role": "officer"})
        trainer = await Peer.open(server, server.tokens["admin"])
        bad_desk = await trainer.command("report", incident=FLOOD, inject=True, desk="TNI")
        assert (bad_desk["ok"], bad_desk["reason"]) == (False, "unknown_agency")
        no_desk = await trainer.command("report", incident=FLOOD, inject=True)
        assert (no_desk["ok"], no_desk["reason"], no_desk["params"]["field"]) == (False, "bad_field", "desk")
        desk_alone = await officer.command("report", incident=FLOOD, desk="KPU")
        assert (desk_alone["ok"], desk_alone["reason"]) == (False, "bad_field")
        assert server.server.state.seq == 0  # nothing written
        await officer.close()
        await trainer.close()
    async with running_server(tmp_path, db_name="malam.db") as real:
        admin = await Peer.open(real, real.tokens["admin"])
        refused = await admin.command("report", incident=FLOOD, inject=True, desk="KPU")
        assert (refused["ok"], refused["code"], refused["reason"]) == (False, "invalid", "inject_not_exercise")
        assert real.server.state.seq == 0
        await admin.close()


async def test_the_cli_injects_typed_or_from_the_scenario_and_the_report_lists_who_handled_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with exercise_server(tmp_path, speed=60) as (server, clock):
        trainee = await Peer.open(server, server.tokens["officer"])  # Bawaslu
        # The server runs hari-h: its 5th [[inject]] is KPU's queue at TPS 012 in Banjarmasin.
        listed = await asyncio.to_thread(opsmon, "exercise", "inject", "--list", "--url", server.url, "--token", server.tokens["admin"])
        assert listed.returncode == 0, listed.stderr
        assert any(line.split()[0] == "5" and "Antrean pemilih DPTb" in line for line in listed.stdout.splitlines())
        prepared = await asyncio.to_thread(opsmon, "exercise", "inject", "--from-scenario", "5", "--url", server.url, "--token", server.tokens["admin"])
        assert prepared.returncode == 0, prepared.stderr
        assert prepared.stdout.strip() == "inject: incident 1 sent as KPU (seq 1)"
        typed = await asyncio.to_thread(
            opsmon,
            "exercise", "inject", "--desk", "polri", "--regency", "Banjar", "--category", "bencana", "--severity", "high",
            "--title", FLOOD["title"], "--location", FLOOD["location"], "--reporter", "Pos Pam Sungai Tabuk",
            "--url", server.url, "--token", server.tokens["admin"],
        )  # fmt: skip
        assert typed.returncode == 0, typed.stderr
        first, second = server.server.state.incidents[1], server.server.state.incidents[2]
        assert (first.reporter.agency, first.regency, first.inject) == ("KPU", "6371", True)
        assert (second.reporter.name, second.reporter.agency, second.regency) == ("Pos Pam Sungai Tabuk", "Polri", "6303")
        clock.advance(seconds=3)  # three scenario minutes
        assert (await trainee.command("ack", incident=1))["ok"]
        refused = await asyncio.to_thread(
            opsmon, "exercise", "inject", "--from-scenario", "1", "--url", server.url, "--token", server.tokens["officer"], "--lang", "id"
        )
        assert refused.returncode == 3 and "hanya token admin pelatih yang mengirim inject" in refused.stderr, refused
        shows = {token: await asyncio.to_thread(opsmon, "show", "1", "--url", server.url, "--token", server.tokens[token]) for token in ("admin", "officer")}
        assert "by KPU/Lapangan KPU (inject: the trainer sent it)" in shows["admin"].stdout, shows["admin"]
        assert "by KPU/Lapangan KPU" in shows["officer"].stdout and "inject" not in shows["officer"].stdout
        for token in ("admin", "officer"):
            listed = await asyncio.to_thread(opsmon, "list", "--json", "--url", server.url, "--token", server.tokens[token])
            shown = await asyncio.to_thread(opsmon, "show", "1", "--json", "--url", server.url, "--token", server.tokens[token])
            assert listed.returncode == 0 and shown.returncode == 0, (listed.stderr, shown.stderr)
            assert ('"inject"' in listed.stdout + shown.stdout) is (token == "admin"), token  # a trainee's JSON is a field report's
        await server.server.tokens.check()
        await trainee.close()
        db = server.db_path
    assert await asyncio.to_thread(main, ["exercise", "report", "--db", str(db), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    injects = {i["id"]: i for i in report["injects"]}
    assert set(injects) == {1, 2}
    assert (injects[1]["desk"], injects[1]["handled_by"], injects[1]["time_to_ack_minutes"]) == ("KPU", ["Bawaslu/officer"], 3.0)
    assert (injects[2]["desk"], injects[2]["reporter"], injects[2]["handled_by"], injects[2]["status"]) == ("Polri", "Pos Pam Sungai Tabuk", [], "open")
    assert await asyncio.to_thread(main, ["exercise", "report", "--db", str(db)]) == 0
    md = capsys.readouterr().out
    assert "## Inject pelatih" in md
    assert "| 14 Feb 05:00 WITA | KPU/Lapangan KPU | #1 Banjarmasin: Antrean pemilih DPTb" in md
    assert "| Bawaslu/officer | 3 | - | tidak |" in md
    assert "| Polri/Pos Pam Sungai Tabuk | #2 Banjar: Banjir setinggi lutut" in md and "| belum ada | - | - |" in md
    pdf = tmp_path / "laporan.pdf"
    assert await asyncio.to_thread(main, ["exercise", "report", "--db", str(db), "--format", "pdf", "--output", str(pdf)]) == 0
    pdfium = pytest.importorskip("pypdfium2", reason="pypdfium2 is in the test extra: pip install -e '.[test]'")
    first = pdfium.PdfDocument(pdf.read_bytes())[0].get_textpage().get_text_range()
    assert "Inject pelatih" in first and "Polri/Pos Pam Sungai Tabuk" in first  # on the summary page, as a table
    head = next(line for line in md.splitlines() if line.startswith("### #1 "))
    assert "Antrean pemilih DPTb" in head and head.endswith("(inject)")  # the trainer's report marks it in the timelines too


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--desk", "KPU", "--regency", "6371"], "an inject needs --category, --severity, --title (or --from-scenario N; --list shows the scenario's)"),
        (
            ["--from-scenario", "2", "--scenario", "hari-h"],
            "--from-scenario 2: hari-h has no incident inject 2 (its incident injects: 1, 4, 5, 6, 7; see --list)",
        ),
        (["--from-scenario", "1", "--scenario", "hari-h", "--desk", "TNI"], "--desk 'TNI' is not one of KPU, Bawaslu, Polri"),
        (["--from-scenario", "1", "--scenario", "nope.toml"], "unknown scenario 'nope.toml' (known: rekap, hari-h, or a .toml file)"),
        (["--from-scenario", "1", "--scenario", "hari-h", "--regency", "Atlantis"], "unknown regency 'Atlantis' (known: "),
        (["--from-scenario", "1", "--scenario", "hari-h", "--severity", "urgent"], "unknown severity 'urgent' (known: "),
        (["--from-scenario", "1", "--scenario", "hari-h", "--title", " "], "--title must be 1 to 200 characters"),
        (["--from-scenario", "1", "--scenario", "hari-h", "--reporter", " "], "--reporter must be 1 to 100 characters"),
    ],
)
def test_the_clis_bad_arguments_are_one_line_and_send_nothing(args: list[str], said: str, capsys: pytest.CaptureFixture[str]) -> None:
    # The URL is never dialled: every one of these is refused before a connection.
    assert main(["exercise", "inject", *args, "--url", "ws://127.0.0.1:9/ws", "--token", "x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"opsmon: error: {said}"), err


async def test_a_trainee_sees_an_inject_as_a_field_report_and_only_the_trainer_sees_the_mark(tmp_path: Path) -> None:
    async with exercise_server(tmp_path, speed=60) as (server, clock):
        trainer = await Peer.open(server, server.tokens["admin"])

        async def detail_as(token: str) -> str:
            """The queue, then the incident's detail screen, as `token` sees them."""
            app = OpsmonApp(url=server.url, token=server.tokens[token], clock=clock)
            async with app.run_test(size=(120, 40)) as pilot:
                await until(pilot, lambda: app.welcome is not None)
                if not server.server.state.incidents:
                    sent = await trainer.command("report", incident=FLOOD, inject=True, desk="Polri")
                    assert sent["ok"], sent
                await until(pilot, loaded(app, 1))
                await settle(pilot)
                queue = "\n".join(screen_lines(app))
                assert "Banjir setinggi lutut" in queue and "inject" not in queue.casefold()
                await pilot.press("enter")  # the incident's detail
                timeline = app.screen.query_one("#detail-timeline")
                await until(pilot, lambda: "Lapangan Polri" in str(timeline.render()))
                await settle(pilot)
                return "\n".join(screen_lines(app))

        trainee = await detail_as("officer")
        # The trainee's detail: Polri's field desk reported it, and nothing says the trainer sent it.
        assert "Polri/Lapangan Polri" in trainee
        assert "inject" not in trainee.casefold() and "pelatih" not in trainee.casefold()
        # The trainer's (an admin token) says so.
        seat = await detail_as("admin")
        assert "Polri/Lapangan Polri" in seat and "dikirim pelatih" in seat
        await trainer.close()


async def test_the_trainers_palette_opens_the_inject_dialog_and_a_trainee_gets_the_report(tmp_path: Path) -> None:
    async with exercise_server(tmp_path, speed=60) as (server, clock):
        trainee = await Peer.open(server, server.tokens["polisi"])
        # A trainee's palette has no inject.
        seat = OpsmonApp(url=server.url, token=server.tokens["officer"], clock=clock)
        async with seat.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: seat.welcome is not None)
            assert not [c for c in commands(seat, seat.screen) if c.title == "Inject insiden"]
        app = OpsmonApp(url=server.url, token=server.tokens["admin"], clock=clock)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.welcome is not None and app.lookup is not None)
            await pilot.press("ctrl+p")
            await until(pilot, lambda: isinstance(app.screen, CommandPalette))
            await pilot.press(*"Inject insiden")
            await pilot.pause(0.3)
            await pilot.press("enter")
            await until(pilot, lambda: type(app.screen).__name__ == "InjectModal")
            # A desk that is no agency is said in the dialog, and nothing is sent.
            await pilot.press(*"TNI", "enter", *"Banjar", "enter", *"bencana", "enter", *"high", "enter", *FLOOD["title"], "enter", "enter", "enter")
            await until(pilot, lambda: "meja harus KPU, Bawaslu atau Polri" in str(app.screen.query_one("#error").render()))
            assert server.server.state.seq == 0
            app.screen.query_one("#inject-desk", Input).value = ""
            await pilot.press(*"polri", "enter", "enter", "enter", "enter", "enter", *FLOOD["location"], "enter", "enter")
            await until(pilot, lambda: "inject terkirim: insiden #1 sebagai Polri" in app.notices)
            assert type(app.screen).__name__ != "InjectModal"  # closed once the server took it
        event = next(e for e in await trainee.wait_events(1) if e["kind"] == "incident.reported")
        assert event["actor"] == {"name": "Lapangan Polri", "agency": "Polri"}
        assert (event["data"]["regency"], event["data"]["title"], event["data"]["inject"]) == ("6303", FLOOD["title"], True)
        await trainee.close()


async def test_an_injects_event_folds_and_encodes_back_the_same_and_a_restarted_server_keeps_the_mark(tmp_path: Path) -> None:
    async with exercise_server(tmp_path, speed=60) as (server, _):
        trainer = await Peer.open(server, server.tokens["admin"])
        assert (await trainer.command("report", incident=FLOOD, inject=True, desk="Bawaslu"))["ok"]
        frame = next(e for e in await trainer.wait_events(1) if e["kind"] == "incident.reported")
        await trainer.close()
        tokens = server.tokens
    # The event as a client decodes it: the same JSON again (its digest holds), and the incident it folds to is marked.
    event = decode_server(json.dumps({"type": "event", **frame}))
    assert isinstance(event, Event) and isinstance(event.data, IncidentReported)
    assert json.loads(encode(event)) == {"type": "event", **frame}
    assert event.data.as_incident().inject
    async with exercise_server(tmp_path, speed=60) as (again, _):
        assert again.server.state.incidents[1].inject  # read back from the database
        peer = await Peer.open(again, tokens["officer"])
        assert peer.snapshot is not None and peer.snapshot["incidents"][0]["inject"] is True
        await peer.close()
