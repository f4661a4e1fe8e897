"""The trainer's inject (issue 26 item 2): an incident sent now as a field desk,
recorded as an inject, shown to the trainees like any field report. A real
exercise server, real websockets, the wall clock moved by hand."""

from __future__ import annotations

from pathlib import Path

from tests.exercises import exercise_server
from tests.helpers import running_server
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
