"""End to end: the real server on loopback, real websockets, every row of the protocol."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State as WsState

from opsmon.client.session import Session
from opsmon.core.config import Config, ConfigError, parse_config
from opsmon.core.fold import fold
from opsmon.core.protocol import Ack, Batch, Event, Snapshot
from opsmon.core.state import State
from server import connections
from server.app import OpsmonServer
from server.auth import add_token
from server.store.backends import open_store
from tests.backends import Databases
from tests.helpers import CONFIG_PATH, ROOT, FakeClock, Running, province, running_server, shipped
from tests.wire import Peer, http_get, report, stalled_socket


@pytest.fixture
async def server(backend_server: Running) -> Running:
    """Every test here runs once on each store backend (tests.backends)."""
    return backend_server


# --- session ---------------------------------------------------------------------------


async def test_welcome_names_the_user_and_describes_the_province(server: Running) -> None:
    peer = await Peer.open(server, server.tokens["bjm"])
    w = peer.welcome
    assert w["protocol"] == 1
    assert w["epoch"] == server.store.epoch and len(w["epoch"]) > 0
    assert w["seq"] == 0
    assert w["user"] == {"name": "bjm", "role": "officer", "agency": "KPU", "regencies": ["6371"]}
    config = w["config"]
    assert len(config["regencies"]) == 13
    bjm = next(r for r in config["regencies"] if r["code"] == "6371")
    assert {k: bjm[k] for k in ("code", "name", "short", "kecamatan", "tps")} == {
        "code": "6371",
        "name": "Kota Banjarmasin",
        "short": "Banjarmasin",
        "kecamatan": 5,
        "tps": 1940,
    }
    assert [s["key"] for s in config["stages"]] == ["logistik", "pemungutan", "penghitungan", "rekap_ppk", "rekap_kabkota", "rekap_provinsi"]
    assert config["stages"][3]["unit"] == "kecamatan" and config["stages"][3]["label"]["en"] == "Sub-district recapitulation"
    assert [s["scope"] for s in config["stages"]] == ["regency"] * 5 + ["province"]
    assert config["province"]["code"] == "63"
    assert len(config["categories"]) == 14 and {"key": "logistik"}.items() <= config["categories"][4].items()
    assert [(s["key"], s["ack_minutes"], s["escalate_minutes"]) for s in config["severities"]] == [
        ("critical", 5, 5),
        ("high", 15, 15),
        ("medium", 60, 60),
        ("low", 240, 0),
    ]
    wall = await Peer.open(server, server.tokens["wall"])
    assert wall.welcome["user"] == {"name": "wall", "role": "viewer", "agency": "KPU", "regencies": None}
    await peer.close()
    await wall.close()


async def test_snapshot_has_every_stage_row(server: Running) -> None:
    peer = await Peer.open(server, server.tokens["wall"])
    snap = peer.snapshot
    assert snap is not None
    assert snap["epoch"] == server.store.epoch and snap["seq"] == 0
    rows = snap["stages"]
    assert len(rows) == 13 * 5 + 1  # and one row for the province plenary
    assert rows[-1]["regency"] == "63" and rows[-1]["stage"] == "rekap_provinsi" and rows[-1]["total"] == 1
    assert {(r["regency"], r["stage"]) for r in rows} == set(server.server.rules.stage_totals)
    row = next(r for r in rows if (r["regency"], r["stage"]) == ("6302", "rekap_ppk"))
    assert row["status"] == "pending" and row["done"] == 0 and row["total"] == 22 and row["note"] is None
    assert snap["incidents"] == []
    await peer.close()


async def test_the_province_plenary_travels_in_snapshots_and_resumes(server: Running) -> None:
    admin = await Peer.open(server, server.tokens["admin"])
    follower = await Peer.open(server, server.tokens["wall"])
    assert (await admin.command("stage", regency="6371", stage="rekap_ppk", done=3))["ok"]
    result = await admin.command("stage", regency="63", stage="rekap_provinsi", done=0, blocked=True, note="Menunggu 2 kab/kota")
    assert result["ok"] and result["seq"] == 2
    await follower.wait_events(1)
    epoch, since = follower.welcome["epoch"], follower.seq
    await follower.close()
    # Lifting the block is said (issue 20 defect 5): a plain count over it is refused.
    assert (await admin.command("stage", regency="63", stage="rekap_provinsi", done=1))["reason"] == "stage_blocked"
    assert (await admin.command("stage", regency="63", stage="rekap_provinsi", done=1, correct=True, note="Semua kab/kota lengkap"))["ok"]
    resumed = await Peer.open(server, server.tokens["wall"], epoch=epoch, since=since)
    events = await resumed.wait_events(2)
    assert [(e["data"]["regency"], e["data"]["stage"], e["data"]["status"]) for e in events] == [
        ("63", "rekap_provinsi", "blocked"),
        ("63", "rekap_provinsi", "done"),
    ]
    fresh = await Peer.open(server, server.tokens["wall"])
    assert fresh.snapshot is not None
    province_rows = [r for r in fresh.snapshot["stages"] if r["stage"] == "rekap_provinsi"]
    assert [(r["regency"], r["done"], r["total"], r["status"]) for r in province_rows] == [("63", 1, 1, "done")]
    refused = await admin.command("stage", regency="6371", stage="rekap_provinsi", done=1)
    assert refused["code"] == "invalid" and refused["reason"] == "bad_field" and refused["params"]["field"] == "regency"
    for peer in (admin, resumed, fresh):
        await peer.close()


async def test_snapshot_incidents_are_unresolved_and_recently_resolved(server: Running, clock: FakeClock) -> None:
    officer = await Peer.open(server, server.tokens["officer"])
    old = (await officer.command("report", **report(title="lama")))["incident"]
    await officer.command("resolve", incident=old, note="selesai")
    clock.advance(hours=2)
    recent = (await officer.command("report", **report(title="baru")))["incident"]
    open_one = (await officer.command("report", **report(title="terbuka")))["incident"]
    acked = (await officer.command("report", **report(title="diakui")))["incident"]
    await officer.command("ack", incident=acked)
    clock.advance(hours=20)
    await officer.command("resolve", incident=recent, note="selesai")
    clock.advance(hours=3)  # `old` was resolved 25 h ago, `recent` 3 h ago

    wall = await Peer.open(server, server.tokens["wall"])
    assert wall.snapshot is not None
    incidents = {i["id"]: i for i in wall.snapshot["incidents"]}
    assert set(incidents) == {recent, open_one, acked}
    assert incidents[recent]["status"] == "resolved" and incidents[acked]["status"] == "acknowledged"
    assert incidents[open_one]["title"] == "terbuka" and incidents[open_one]["status"] == "open"
    assert wall.snapshot["seq"] == 7
    await officer.close()
    await wall.close()


# --- the seven commands ------------------------------------------------------------------


async def test_every_command_is_answered_then_broadcast(server: Running, clock: FakeClock) -> None:
    officer = await Peer.open(server, server.tokens["officer"])
    polisi = await Peer.open(server, server.tokens["polisi"])
    wall = await Peer.open(server, server.tokens["wall"])

    r = await officer.command("report", **report(severity="critical", detail="Segel rusak", location="Kec. Banjarmasin Utara, TPS 012"))
    assert r == {"type": "result", "id": r["id"], "ok": True, "seq": 1, "incident": 1}
    clock.advance(minutes=2)
    assert (await polisi.command("ack", incident=1))["seq"] == 2
    assert (await polisi.command("escalate", incident=1, note="Butuh Polres"))["seq"] == 3
    assert (await officer.command("note", incident=1, text="Tim menuju lokasi"))["seq"] == 4
    assert (await officer.command("resolve", incident=1, note="Kotak diganti"))["seq"] == 5
    assert (await polisi.command("reopen", incident=1, note="Segel kedua rusak"))["seq"] == 6
    stage = await officer.command("stage", regency="6371", stage="rekap_ppk", done=3, note="3 dari 5 PPK")
    assert stage["ok"] and stage["seq"] == 7 and "incident" not in stage

    events = await wall.wait_events(7)
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5, 6, 7]
    assert [e["kind"] for e in events] == [
        "incident.reported",
        "incident.acknowledged",
        "incident.escalated",
        "incident.noted",
        "incident.resolved",
        "incident.reopened",
        "stage.updated",
    ]
    reported = events[0]["data"]
    assert reported["id"] == 1 and reported["status"] == "open" and reported["level"] == 0
    assert reported["location"] == "Kec. Banjarmasin Utara, TPS 012" and reported["detail"] == "Segel rusak"
    assert reported["reporter"] == {"name": "officer", "agency": "Bawaslu"}
    assert reported["reported"] == "2024-02-14T13:00:00.000Z" and reported["ack_due"] == "2024-02-14T13:05:00.000Z"
    assert events[1]["actor"] == {"name": "polisi", "agency": "Polri"} and events[1]["ts"] == "2024-02-14T13:02:00.000Z"
    assert events[1]["data"] == {"incident": 1}
    assert events[2]["data"] == {"incident": 1, "level": 1, "note": "Butuh Polres"}
    assert events[3]["data"] == {"incident": 1, "text": "Tim menuju lokasi"}
    assert events[4]["data"] == {"incident": 1, "note": "Kotak diganti"}
    assert {"incident": 1, "note": "Segel kedua rusak"}.items() <= events[5]["data"].items()
    assert events[6]["data"] == {
        "regency": "6371",
        "stage": "rekap_ppk",
        "status": "in_progress",
        "done": 3,
        "total": 5,
        "note": "3 dari 5 PPK",
        "updated": "2024-02-14T13:02:00.000Z",
    }
    # The sender gets its result before the event it caused.
    kinds = [f["type"] for f in officer.frames]
    assert kinds[0] == "result"
    # Everybody saw the same log.
    assert (await officer.wait_events(7)) == events
    assert (await polisi.wait_events(7)) == events
    # A newcomer's snapshot is the fold of those events.
    late = await Peer.open(server, server.tokens["wall"])
    assert late.snapshot is not None and late.snapshot["seq"] == 7
    [incident] = late.snapshot["incidents"]
    assert incident["status"] == "open" and incident["level"] == 1 and incident["acknowledged"] is None
    # Its last three notes; the one before them is counted (the history has it).
    assert [n["text"] for n in incident["notes"]] == ["Tim menuju lokasi", "Kotak diganti", "Segel kedua rusak"] and incident["notes_before"] == 1
    row = next(r for r in late.snapshot["stages"] if (r["regency"], r["stage"]) == ("6371", "rekap_ppk"))
    assert row == events[6]["data"]
    for peer in (officer, polisi, wall, late):
        await peer.close()


async def test_blocked_and_done_stages(server: Running) -> None:
    officer = await Peer.open(server, server.tokens["bjm"])
    blocked = await officer.command("stage", regency="6371", stage="rekap_kabkota", done=0, blocked=True, note="Saksi keberatan")
    assert blocked["ok"]
    done = await officer.command("stage", regency="6371", stage="pemungutan", done=1940)
    assert done["ok"]
    events = await officer.wait_events(2)
    assert [e["data"]["status"] for e in events] == ["blocked", "done"]
    await officer.close()


async def test_history_of_one_incident(server: Running) -> None:
    officer = await Peer.open(server, server.tokens["officer"])
    await officer.command("report", **report())
    await officer.command("report", **report(regency="6303"))
    await officer.command("note", incident=1, text="x")
    wall = await Peer.open(server, server.tokens["wall"])
    answer = await wall.command("history", incident=1)
    assert answer["ok"] and [e["seq"] for e in answer["events"]] == [1, 3]
    missing = await wall.command("history", incident=42)
    assert missing["ok"] is False and missing["code"] == "not_found"
    await officer.close()
    await wall.close()


async def test_history_sees_the_commands_sent_before_it(server: Running) -> None:
    """Read your writes: a history asked for right after a note includes it, and
    answers arrive in the order the commands were sent."""
    officer = await Peer.open(server, server.tokens["officer"])
    await officer.send({"type": "report", "id": "r", **report()})
    await officer.send({"type": "note", "id": "n", "incident": 1, "text": "Tim menuju lokasi"})
    await officer.send({"type": "history", "id": "h", "incident": 1})
    history = await officer.until(lambda f: f.get("id") == "h")
    assert history["ok"], history
    assert [e["kind"] for e in history["events"]] == ["incident.reported", "incident.noted"]
    assert [f["id"] for f in officer.frames if f["type"] == "result"] == ["r", "n", "h"]
    await officer.close()


# --- refusals ------------------------------------------------------------------------------


def all_commands(incident: int) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("report", report()),
        ("ack", {"incident": incident}),
        ("escalate", {"incident": incident}),
        ("note", {"incident": incident, "text": "x"}),
        ("resolve", {"incident": incident, "note": "x"}),
        ("reopen", {"incident": incident, "note": "x"}),
        ("stage", {"regency": "6371", "stage": "rekap_ppk", "done": 1}),
    ]


async def test_a_viewer_may_only_read(server: Running) -> None:
    officer = await Peer.open(server, server.tokens["officer"])
    await officer.command("report", **report())
    await officer.wait_events(1)
    wall = await Peer.open(server, server.tokens["wall"])
    for type_, fields in all_commands(1):
        result = await wall.command(type_, **fields)
        assert result["ok"] is False and result["code"] == "forbidden", (type_, result)
        assert "viewer" in result["message"]
        assert (result["reason"], result["params"]) == ("read_only", {"role": "viewer"})
    assert await officer.quiet() == []  # no event came of it
    assert server.server.state.seq == 1
    await officer.close()
    await wall.close()


async def test_a_scoped_officer_may_act_only_on_their_regency(server: Running) -> None:
    officer = await Peer.open(server, server.tokens["officer"])
    await officer.command("report", **report(regency="6303"))  # 1: Banjar
    await officer.command("report", **report(regency="6371"))  # 2: Banjarmasin
    bjm = await Peer.open(server, server.tokens["bjm"])
    refused = [
        await bjm.command("report", **report(regency="6303")),
        await bjm.command("ack", incident=1),
        await bjm.command("escalate", incident=1),
        await bjm.command("note", incident=1, text="x"),
        await bjm.command("resolve", incident=1, note="x"),
        await bjm.command("stage", regency="6303", stage="rekap_ppk", done=1),
    ]
    for result in refused:
        assert result["ok"] is False and result["code"] == "forbidden", result
        assert "6371" in result["message"] and "6303" in result["message"]
        assert (result["reason"], result["params"]) == ("scope", {"regency": "6303", "regencies": ["6371"]})
    assert server.server.state.seq == 2
    assert (await bjm.command("ack", incident=2))["ok"]
    assert (await bjm.command("stage", regency="6371", stage="rekap_ppk", done=1))["ok"]
    await officer.close()
    await bjm.close()


@pytest.mark.parametrize(
    ("type_", "fields", "code", "says", "reason", "params"),
    [
        ("ack", {"incident": 99}, "not_found", "99", "not_found", {"incident": 99}),
        ("note", {"incident": 99, "text": "x"}, "not_found", "99", "not_found", {"incident": 99}),
        ("resolve", {"incident": 99, "note": "x"}, "not_found", "99", "not_found", {"incident": 99}),
        ("history", {"incident": 99}, "not_found", "99", "not_found", {"incident": 99}),
        ("report", report(regency="6399"), "invalid", "regency", "unknown_regency", {"regency": "6399"}),
        ("report", report(category="kebakaran"), "invalid", "category", "unknown_category", {"category": "kebakaran"}),
        ("report", report(severity="urgent"), "invalid", "severity", "unknown_severity", {"severity": "urgent"}),
        ("report", report(title="   "), "invalid", "title", "blank", {"field": "incident.title"}),
        ("stage", {"regency": "6371", "stage": "rekap_desa", "done": 1}, "invalid", "stage", "unknown_stage", {"stage": "rekap_desa"}),
        ("stage", {"regency": "6399", "stage": "rekap_ppk", "done": 1}, "invalid", "regency", "unknown_regency", {"regency": "6399"}),
        (
            "stage",
            {"regency": "6371", "stage": "rekap_ppk", "done": 6},
            "invalid",
            "more than the 5",
            "done_exceeds_total",
            {"done": 6, "total": 5, "regency": "6371", "stage": "rekap_ppk"},
        ),
        (
            "stage",
            {"regency": "6371", "stage": "rekap_kabkota", "done": 2},
            "invalid",
            "more than the 1",
            "done_exceeds_total",
            {"done": 2, "total": 1, "regency": "6371", "stage": "rekap_kabkota"},
        ),
        ("note", {"incident": 1, "text": " "}, "invalid", "blank", "blank", {"field": "text"}),
        ("resolve", {"incident": 1, "note": "  "}, "invalid", "required", "note_required", {"command": "resolve"}),
    ],
)
async def test_refusals(server: Running, type_: str, fields: dict[str, Any], code: str, says: str, reason: str, params: dict[str, Any]) -> None:
    officer = await Peer.open(server, server.tokens["officer"])
    await officer.command("report", **report())
    result = await officer.command(type_, **fields)
    assert result["ok"] is False and result["code"] == code and says in result["message"], result
    assert (result["reason"], result["params"]) == (reason, params)
    assert server.server.state.seq == 1 and await server.store.head() == 1
    await officer.close()


async def test_conflicts_name_who_and_when(server: Running, clock: FakeClock) -> None:
    officer = await Peer.open(server, server.tokens["officer"])
    polisi = await Peer.open(server, server.tokens["polisi"])
    await officer.command("report", **report())
    clock.advance(minutes=4)
    await polisi.command("ack", incident=1)
    again = await officer.command("ack", incident=1)
    assert again["ok"] is False and again["code"] == "conflict"
    assert "Polri/polisi" in again["message"] and "21:04 WITA" in again["message"]
    assert again["status"] == "acknowledged" and again["by"] == {"name": "polisi", "agency": "Polri"} and again["at"] == "2024-02-14T13:04:00.000Z"
    assert again["reason"] == "already"
    assert again["params"] == {"status": "acknowledged", "by": {"name": "polisi", "agency": "Polri"}, "at": "2024-02-14T13:04:00.000Z"}
    clock.advance(minutes=1)
    await officer.command("resolve", incident=1, note="ok")
    for type_, fields in (("resolve", {"note": "lagi"}), ("ack", {}), ("escalate", {})):
        result = await polisi.command(type_, incident=1, **fields)
        assert result["code"] == "conflict" and "resolved by Bawaslu/officer at 21:05 WITA" in result["message"], result
    not_resolved = await officer.command("reopen", incident=1, note="x")
    assert not_resolved["ok"]  # resolved, so it may be reopened...
    twice = await polisi.command("reopen", incident=1, note="x")
    assert twice["code"] == "conflict" and "not resolved" in twice["message"]  # ...but only once
    assert (twice["reason"], twice["params"]) == ("not_resolved", {"status": "open"})
    assert server.server.state.seq == 4
    await officer.close()
    await polisi.close()


# --- idempotency -----------------------------------------------------------------------------


def assert_repeat_of(again: dict[str, Any], first: dict[str, Any]) -> None:
    """`again` is `first` unchanged; an added `"repeat": true` marker is allowed."""
    assert again.get("repeat", True) is True, again
    assert {k: v for k, v in again.items() if k != "repeat"} == first


async def test_a_repeated_command_id_gets_the_first_answer_and_no_second_event(server: Running) -> None:
    officer = await Peer.open(server, server.tokens["officer"])
    wall = await Peer.open(server, server.tokens["wall"])
    first = await officer.command("report", id="laporan-1", **report())
    second = await officer.command("report", id="laporan-1", **report(title="sent again"))
    assert first == {"type": "result", "id": "laporan-1", "ok": True, "seq": 1, "incident": 1}
    # The first answer again (marked as a repeat, if the server says so).
    assert_repeat_of(second, first)
    ack = await officer.command("ack", id="ack-1", incident=1)
    # After a reconnect, too.
    await officer.close()
    officer = await Peer.open(server, server.tokens["officer"], epoch=server.store.epoch, since=2)
    assert_repeat_of(await officer.command("ack", id="ack-1", incident=1), ack)
    assert_repeat_of(await officer.command("report", id="laporan-1", **report()), first)
    events = await wall.wait_events(2)
    assert await wall.quiet() == []
    assert [e["kind"] for e in events] == ["incident.reported", "incident.acknowledged"]
    assert server.server.state.seq == 2 and await server.store.head() == 2
    # Ids are per user: somebody else's "laporan-1" is a new command.
    other = await Peer.open(server, server.tokens["polisi"])
    assert (await other.command("report", id="laporan-1", **report()))["incident"] == 2
    for peer in (officer, wall, other):
        await peer.close()


async def test_repeats_survive_a_restart(databases: Databases, tmp_path: Path, clock: FakeClock) -> None:
    async with running_server(tmp_path, clock=clock, database=databases.url()) as running:
        tokens = running.tokens
        officer = await Peer.open(running, tokens["officer"])
        first = await officer.command("report", id="r-1", **report())
        await officer.close()
    async with running_server(tmp_path, clock=clock, database=databases.url()) as running:
        officer = await Peer.open(running, tokens["officer"])
        assert_repeat_of(await officer.command("report", id="r-1", **report()), first)
        assert running.server.state.seq == 1
        await officer.close()


async def test_report_numbers_survive_a_restart_and_a_viewer_may_not_take_one(databases: Databases, tmp_path: Path, clock: FakeClock) -> None:
    async with running_server(tmp_path, clock=clock, database=databases.url()) as running:
        tokens = running.tokens
        officer = await Peer.open(running, tokens["officer"])
        first = await officer.command("sitrep")
        assert first["ok"] and first["sitrep"] == {"number": 1, "since": None, "until": "2024-02-14T13:00:00.000Z", "after": 0}
        wall = await Peer.open(running, tokens["wall"])
        refused = await wall.command("sitrep")
        assert (refused["ok"], refused["reason"]) == (False, "read_only")
        await officer.close()
        await wall.close()
    clock.advance(hours=1)
    async with running_server(tmp_path, clock=clock, database=databases.url()) as running:
        officer = await Peer.open(running, tokens["officer"])
        second = await officer.command("sitrep")
        assert second["sitrep"] == {"number": 2, "since": "2024-02-14T13:00:00.000Z", "until": "2024-02-14T14:00:00.000Z", "after": first["seq"]}
        wall = await Peer.open(running, tokens["wall"])  # a new connection's snapshot says which report was the last
        assert wall.snapshot is not None and wall.snapshot["sitrep"] == {"number": 2, "until": "2024-02-14T14:00:00.000Z", "seq": second["seq"]}
        await officer.close()
        await wall.close()


# --- resume ------------------------------------------------------------------------------------


async def test_resume_gets_exactly_the_missed_events(server: Running) -> None:
    officer = await Peer.open(server, server.tokens["officer"])
    follower = await Peer.open(server, server.tokens["wall"])
    for n in range(3):
        await officer.command("report", **report(title=f"sebelum {n}"))
    await follower.wait_events(3)
    epoch, since = follower.welcome["epoch"], follower.seq
    assert since == 3
    await follower.close()

    for n in range(5):
        await officer.command("report", **report(title=f"selama {n}"))
    await officer.command("ack", incident=4)
    back = await Peer.open(server, server.tokens["wall"], epoch=epoch, since=since)
    assert back.welcome["seq"] == 9
    missed = await back.wait_events(6)
    assert [e["seq"] for e in missed] == [4, 5, 6, 7, 8, 9]
    assert [e["data"].get("title") for e in missed[:5]] == [f"selama {n}" for n in range(5)]
    assert not any(f["type"] == "snapshot" for f in back.frames)
    # Then live events continue with no gap and no duplicate.
    await officer.command("note", incident=4, text="x")
    events = await back.wait_events(7)
    assert [e["seq"] for e in events] == list(range(4, 11))
    assert await back.quiet() == []
    await officer.close()
    await back.close()


async def test_resume_at_the_head_gets_nothing_but_live_events(server: Running) -> None:
    officer = await Peer.open(server, server.tokens["officer"])
    await officer.command("report", **report())
    back = await Peer.open(server, server.tokens["wall"], epoch=server.store.epoch, since=1)
    assert await back.quiet() == []
    await officer.command("ack", incident=1)
    assert [e["seq"] for e in await back.wait_events(1)] == [2]
    await officer.close()
    await back.close()


@pytest.mark.parametrize(
    ("epoch", "since"), [("another-epoch", 1), (None, 1), ("SAME", 99), ("SAME", -1)], ids=["other epoch", "no epoch", "since ahead", "negative"]
)
async def test_anything_but_a_valid_resume_gets_a_snapshot(server: Running, epoch: str | None, since: int) -> None:
    officer = await Peer.open(server, server.tokens["officer"])
    await officer.command("report", **report())
    await officer.command("ack", incident=1)
    real_epoch = server.store.epoch
    ws = await connect(server.url)
    await ws.send(json.dumps({"type": "hello", "token": server.tokens["wall"], "epoch": real_epoch if epoch == "SAME" else epoch, "since": since}))
    welcome = json.loads(await asyncio.wait_for(ws.recv(), 3))
    snapshot = json.loads(await asyncio.wait_for(ws.recv(), 3))
    assert welcome["type"] == "welcome" and welcome["epoch"] == real_epoch
    assert snapshot["type"] == "snapshot" and snapshot["seq"] == 2 and snapshot["incidents"][0]["status"] == "acknowledged"
    await ws.close()
    await officer.close()


async def test_a_new_database_is_a_new_epoch(databases: Databases, tmp_path: Path) -> None:
    async with (
        running_server(tmp_path, db_name="a.db", database=databases.url("a.db")) as a,
        running_server(tmp_path, db_name="b.db", database=databases.url("b.db")) as b,
    ):
        assert a.store.epoch != b.store.epoch


# --- malformed input ------------------------------------------------------------------------------


async def test_malformed_frames_are_answered_and_the_connection_stays(server: Running) -> None:
    officer = await Peer.open(server, server.tokens["officer"])
    for frame, says in [
        ("{oops", "not valid JSON"),
        ("[]", "JSON object"),
        (json.dumps({"incident": 1}), "type"),
        (json.dumps({"type": "dance"}), "unknown message type"),
        (json.dumps({"type": "ack", "incident": 1}), "id"),
        (json.dumps({"type": "ack", "id": "x" * 65, "incident": 1}), "id"),
        (json.dumps({"type": "hello", "token": server.tokens["officer"]}), "already greeted"),
    ]:
        await officer.send(frame)
        answer = await officer.until(lambda f: f["type"] in ("error", "result"))
        assert answer["type"] == "error" and answer["code"] == "bad_message" and says in answer["message"], (frame, answer)
    # Still open, still working.
    assert (await officer.command("report", **report()))["ok"]
    await officer.close()


@pytest.mark.parametrize(
    ("fields", "says", "reason", "params"),
    [
        ({"type": "ack", "incident": "one"}, "incident", "bad_field", {"field": "incident", "problem": "Expected `int`, got `str`"}),
        (
            {"type": "report", "incident": {"regency": "6371", "category": "logistik", "severity": "high", "title": "x" * 201}},
            "title",
            "too_long",
            {"field": "incident.title", "max": 200},
        ),
        (
            {"type": "report", "incident": {"regency": "6371", "category": "logistik", "severity": "high", "title": "x", "detail": "d" * 4001}},
            "detail",
            "too_long",
            {"field": "incident.detail", "max": 4000},
        ),
        (
            {"type": "report", "incident": {"regency": "6371", "category": "logistik", "severity": "high", "title": ""}},
            "title",
            "blank",
            {"field": "incident.title"},
        ),
        ({"type": "note", "incident": 1, "text": "t" * 4001}, "text", "too_long", {"field": "text", "max": 4000}),
        ({"type": "resolve", "incident": 1}, "note", "bad_field", {"field": "note", "problem": "missing"}),
        (
            {"type": "stage", "regency": "6371", "stage": "rekap_ppk", "done": "3"},
            "done",
            "bad_field",
            {"field": "done", "problem": "Expected `int | null`, got `str`"},
        ),
        ({"type": "stage", "regency": "6371", "stage": "rekap_ppk", "done": -1}, "done", "bad_field", {"field": "done", "problem": "Expected `int` >= 0"}),
        ({"type": "teleport"}, "unknown message type", "bad_field", {"field": "type", "problem": "unknown message type 'teleport'"}),
    ],
)
async def test_a_malformed_command_with_an_id_gets_invalid(server: Running, fields: dict[str, Any], says: str, reason: str, params: dict[str, Any]) -> None:
    officer = await Peer.open(server, server.tokens["officer"])
    await officer.send({"id": "c-bad", **fields})
    answer = await officer.until(lambda f: f["type"] in ("error", "result"))
    assert answer["type"] == "result" and answer["id"] == "c-bad" and answer["ok"] is False and answer["code"] == "invalid"
    assert says in answer["message"]
    assert (answer["reason"], answer["params"]) == (reason, params)
    assert server.server.state.seq == 0 and await server.store.head() == 0
    assert (await officer.command("report", **report()))["ok"]
    await officer.close()


async def test_persistent_garbage_closes_with_1008(server: Running) -> None:
    officer = await Peer.open(server, server.tokens["officer"])
    limit = server.config.server.bad_frames_per_minute
    for n in range(limit + 1):
        await officer.send(f"garbage {n}")
    code, frames = await officer.closed()
    assert code == 1008
    errors = [f for f in frames if f.get("type") == "error"]
    assert len(errors) >= limit and all(e["code"] == "bad_message" for e in errors)
    assert server.server.state.seq == 0


async def test_a_frame_over_64_kib_closes_with_1009(server: Running) -> None:
    officer = await Peer.open(server, server.tokens["officer"])
    await officer.send({"type": "note", "id": "big", "incident": 1, "text": "x" * (65 * 1024)})
    code, _ = await officer.closed()
    assert code == 1009
    # Others are unaffected.
    other = await Peer.open(server, server.tokens["officer"])
    assert (await other.command("report", **report()))["ok"]
    await other.close()


async def test_a_frame_just_under_the_limit_is_fine(server: Running) -> None:
    officer = await Peer.open(server, server.tokens["officer"])
    result = await officer.command("report", **report(detail="d" * 4000, location="l" * 200))
    assert result["ok"]
    await officer.send(json.dumps({"type": "note", "id": "n", "incident": 1, "text": "t" * 4000, "pad": "p" * (60 * 1024)}))
    answer = await officer.until(lambda f: f["type"] == "result")
    assert answer["ok"]
    await officer.close()


# --- authentication -----------------------------------------------------------------------------------


async def _refused(server: Running, first: str) -> tuple[int | None, list[dict[str, Any]]]:
    ws = await connect(server.url)
    await ws.send(first)
    frames = []
    try:
        while True:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), 3)))
    except Exception:  # ConnectionClosed, normally
        pass
    return ws.close_code, frames


@pytest.mark.parametrize(
    "first",
    [
        json.dumps({"type": "hello", "token": "ops_not-a-real-token"}),
        json.dumps({"type": "hello", "token": ""}),
        json.dumps({"type": "ack", "id": "a", "incident": 1}),
        "not even json",
        json.dumps({"type": "hello"}),
    ],
    ids=["bad token", "empty token", "command first", "garbage first", "hello without token"],
)
async def test_no_valid_hello_is_unauthorized_and_1008(server: Running, first: str) -> None:
    code, frames = await _refused(server, first)
    assert code == 1008
    assert [f["type"] for f in frames] == ["error"] and frames[0]["code"] == "unauthorized"


async def test_unauthenticated_clients_cannot_see_anything(server: Running) -> None:
    officer = await Peer.open(server, server.tokens["officer"])
    await officer.command("report", **report(title="rahasia"))
    _, frames = await _refused(server, json.dumps({"type": "hello", "token": "wrong"}))
    assert "rahasia" not in json.dumps(frames)
    await officer.close()


async def test_revoking_a_token_closes_its_live_connection(server: Running) -> None:
    bjm = await Peer.open(server, server.tokens["bjm"])
    other = await Peer.open(server, server.tokens["officer"])
    assert await server.store.revoke_token("bjm")
    code, frames = await bjm.closed(timeout=3)
    assert code == 1008
    assert any(f.get("type") == "error" and f["code"] == "unauthorized" for f in frames)
    # It cannot come back; others stay.
    code, _ = await _refused(server, json.dumps({"type": "hello", "token": server.tokens["bjm"]}))
    assert code == 1008
    assert (await other.command("report", **report()))["ok"]
    await other.close()


async def test_revoking_with_the_cli_closes_the_live_connection(server: Running) -> None:
    wall = await Peer.open(server, server.tokens["wall"])
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server.cli", "token", "revoke", "wall", "--config", str(CONFIG_PATH), "--db", server.database,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0, err
    assert "revoked wall" in out.decode()
    code, _ = await wall.closed(timeout=3)
    assert code == 1008


# --- HTTP --------------------------------------------------------------------------------------------------


async def test_healthz(server: Running) -> None:
    officer = await Peer.open(server, server.tokens["officer"])
    await officer.command("report", **report())
    status, content_type, body = await http_get(server, "/healthz")
    assert status == 200 and content_type.startswith("application/json")
    health = json.loads(body)
    # Minimal, for anyone who asks: no host name, pid or connection count (issue 22).
    assert health == {"status": "ok", "seq": 1, "epoch": server.store.epoch, "timers": True}
    assert socket.gethostname() not in body and str(os.getpid()) not in body
    # Which replica and how many clients is /metrics' to say, to the addresses it allows.
    _, _, metrics = await http_get(server, "/metrics")
    assert "opsmon_connections 1.0" in metrics.splitlines()
    assert f'opsmon_replica_info{{replica="{socket.gethostname()}:{server.server.port}"}} 1.0' in metrics.splitlines()
    await officer.close()


async def raw_get(port: int, path: str, source: str) -> tuple[int, str]:
    """A plain HTTP GET to the server from the loopback address `source`."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    answer = (await reader.read()).decode(errors="replace")
    writer.close()
    return int(answer.split(" ", 2)[1]), answer.split("\r\n\r\n", 1)[1]


async def test_metrics_answer_only_the_addresses_in_metrics_allow(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "opsmon.server")
    config = with_server(province(), metrics_allow=("127.0.0.1/32",))
    async with running_server(tmp_path, config=config) as running:
        port = running.server.port
        status, body = await raw_get(port, "/metrics", "127.0.0.1")
        assert status == 200 and "opsmon_connections 0.0" in body
        # Another address (a phone on the LAN, here 127.0.0.2): 403, nothing of the metrics, a log line.
        status, body = await raw_get(port, "/metrics", "127.0.0.2")
        assert status == 403 and body == "/metrics is not open to 127.0.0.2 (see [server] metrics_allow)\n"
        assert "refused /metrics to 127.0.0.2: not in [server] metrics_allow" in caplog.text
        # /healthz still answers it, minimal.
        status, body = await raw_get(port, "/healthz", "127.0.0.2")
        assert status == 200 and set(json.loads(body)) == {"status", "seq", "epoch", "timers"}
    # A network covers its addresses; an empty list closes /metrics to everyone.
    async with running_server(tmp_path, config=with_server(province(), metrics_allow=("127.0.0.0/8",))) as running:
        assert (await raw_get(running.server.port, "/metrics", "127.0.0.2"))[0] == 200
    async with running_server(tmp_path, config=with_server(province(), metrics_allow=())) as running:
        assert (await raw_get(running.server.port, "/metrics", "127.0.0.1"))[0] == 403


@pytest.mark.parametrize("bad", ["localhost", "10.0.0.0/33", "192.168.1"])
def test_a_bad_metrics_allow_entry_is_named(bad: str) -> None:
    data = shipped()
    data["server"]["metrics_allow"] = ["127.0.0.1/32", bad]
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert str(caught.value) == f"server.metrics_allow[1]: {bad!r} is not an address or network like 127.0.0.1/32 or 10.0.0.0/24"


def with_server(config: Config, **settings: object) -> Config:
    return msgspec.structs.replace(config, server=msgspec.structs.replace(config.server, **settings))


async def test_metrics(server: Running) -> None:
    officer = await Peer.open(server, server.tokens["officer"])
    await officer.command("report", **report())
    await officer.command("ack", incident=7)
    await officer.send("junk")
    await officer.until(lambda f: f["type"] == "error")
    status, content_type, body = await http_get(server, "/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    lines = body.splitlines()
    assert "opsmon_connections 1.0" in lines
    assert "opsmon_head_seq 1.0" in lines
    assert "opsmon_events_total 1.0" in lines
    assert 'opsmon_commands_total{outcome="ok",type="report"} 1.0' in lines
    assert 'opsmon_commands_total{outcome="not_found",type="ack"} 1.0' in lines
    assert 'opsmon_errors_total{code="bad_message"} 1.0' in lines
    assert "opsmon_command_latency_seconds_count 2.0" in lines
    # The refused ack, by its reason too (what an operator charts and alerts on).
    assert 'opsmon_refusals_total{reason="not_found"} 1.0' in lines
    assert "# TYPE opsmon_command_latency_seconds histogram" in lines
    # Every sample line is `name{labels} value` with a number.
    for line in lines:
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            assert name.startswith("opsmon_") and float(value) >= 0
    await officer.close()


async def test_other_paths_are_404(server: Running) -> None:
    status, _, body = await http_get(server, "/")
    assert status == 404 and "/ws" in body


# --- automatic escalation ------------------------------------------------------------------------------------


async def test_the_server_escalates_what_nobody_acknowledges(databases: Databases, tmp_path: Path, clock: FakeClock) -> None:
    async with running_server(tmp_path, clock=clock, database=databases.url()) as running:
        tokens = running.tokens
        officer = await Peer.open(running, tokens["officer"])
        wall = await Peer.open(running, tokens["wall"])
        await officer.command("report", **report(severity="critical"))  # ack within 5 min, again every 5
        await officer.command("report", **report(severity="high"))  # ack within 15 min
        await officer.command("report", **report(severity="critical"))
        await officer.command("ack", incident=3)
        clock.advance(minutes=4)
        assert await running.server.deadlines.check() == 0
        clock.advance(minutes=1, seconds=1)
        assert await running.server.deadlines.check() == 1
        events = await wall.wait_events(5)
        escalated = events[4]
        assert escalated["kind"] == "incident.escalated"
        assert escalated["actor"] == {"name": "system"}
        assert escalated["data"]["incident"] == 1 and escalated["data"]["level"] == 1
        assert escalated["ts"] == "2024-02-14T13:05:01.000Z"
        assert await running.server.deadlines.check() == 0  # not again before the interval
        clock.advance(minutes=5)
        assert await running.server.deadlines.check() == 1
        assert (await wall.wait_events(6))[5]["data"]["level"] == 2
        await officer.close()
        await wall.close()

    # The server is down while the next deadlines pass; after a restart on the
    # same database it escalates from the stored timestamps.
    clock.advance(minutes=7)
    async with running_server(tmp_path, clock=clock, database=databases.url()) as running:
        # The escalation loop checks at start-up, so follow from seq 6 to see it all.
        wall = await Peer.open(running, tokens["wall"], epoch=running.store.epoch, since=6)
        await running.server.deadlines.check()
        events = await wall.wait_events(2)
        assert sorted((e["data"]["incident"], e["data"]["level"]) for e in events) == [(1, 3), (2, 1)]
        assert all(e["actor"] == {"name": "system"} for e in events)
        assert [e["seq"] for e in events] == [7, 8]
        assert await running.server.deadlines.check() == 0  # nothing twice
        assert await wall.quiet() == []
        assert running.server.state.incidents[3].level == 0  # acknowledged: never escalated
        await wall.close()


async def test_the_escalation_loop_runs_by_itself(databases: Databases, tmp_path: Path, clock: FakeClock) -> None:
    config = province()
    config = msgspec.structs.replace(config, server=msgspec.structs.replace(config.server, escalation_check_seconds=0.05))
    async with running_server(tmp_path, clock=clock, config=config, database=databases.url()) as running:
        wall = await Peer.open(running, running.tokens["wall"])
        officer = await Peer.open(running, running.tokens["officer"])
        await officer.command("report", **report(severity="critical"))
        clock.advance(minutes=6)
        [_, escalated] = await wall.wait_events(2)
        assert escalated["kind"] == "incident.escalated" and escalated["actor"] == {"name": "system"}
        await wall.close()
        await officer.close()


# --- fan-out -----------------------------------------------------------------------------------------------


async def test_a_stalled_client_is_dropped_without_delaying_the_others(databases: Databases, tmp_path: Path) -> None:
    config = province()
    config = msgspec.structs.replace(
        config, server=msgspec.structs.replace(config.server, client_queue_frames=200, commands_per_second=10_000.0, token_commands_per_second=10_000.0)
    )
    async with running_server(tmp_path, config=config, database=databases.url()) as running:
        port = running.server.port
        fast = await Peer.open(running, running.tokens["wall"])
        slow = await Peer.open(running, running.tokens["polisi"], sock=stalled_socket(port), max_queue=1, compression=None)
        # `slow` never reads from here on.
        officer = await Peer.open(running, running.tokens["officer"])
        total = 0
        while running.server.hub.dropped_slow == 0:
            assert total < 3000, "the stalled client was never dropped"
            ids = [f"big-{total + n}" for n in range(50)]
            for command_id in ids:
                await officer.send({"type": "report", "id": command_id, **report(detail=secrets.token_hex(1900))})
            await officer.until(lambda f, last=ids[-1]: f.get("type") == "result" and f["id"] == last, timeout=10)
            total += len(ids)
        assert all(f["ok"] for f in officer.frames if f["type"] == "result")
        # The fast client got every event while the slow one was stalled.
        events = await fast.wait_events(total, timeout=10)
        assert [e["seq"] for e in events] == list(range(1, total + 1))
        _, _, metrics = await http_get(running, "/metrics")
        assert "opsmon_connections 2.0" in metrics.splitlines()
        assert "opsmon_slow_clients_dropped_total 1.0" in metrics.splitlines()
        # When it reads again, it finds what was sent before the drop, in order, then 1013...
        code, _ = await slow.closed(timeout=10)
        assert code == 1013
        since = slow.seq
        assert [e["seq"] for e in slow.events] == list(range(1, since + 1))
        assert since < total
        # ...and resumes from its last seq with nothing lost.
        back = await Peer.open(running, running.tokens["polisi"], epoch=running.store.epoch, since=since)
        missed = await back.wait_events(total - since, timeout=10)
        assert [e["seq"] for e in missed] == list(range(since + 1, total + 1))
        for peer in (fast, officer, back):
            await peer.close()


async def test_events_may_come_batched_and_clients_accept_both(server: Running) -> None:
    """A burst reaches a Session as events or batches; together they are the log in order."""
    officer = await Peer.open(server, server.tokens["officer"])
    session = await Session.open(server.url, server.tokens["wall"])
    assert isinstance(await session.next_frame(), Snapshot)
    await asyncio.gather(*(officer.send({"type": "report", "id": f"burst-{n}", **report()}) for n in range(60)))
    seqs: list[int] = []
    while len(seqs) < 60:
        frame = await session.next_frame(timeout=3)
        seqs += [e.seq for e in (frame.events if isinstance(frame, Batch) else [frame] if isinstance(frame, Event) else [])]
    assert seqs == list(range(1, 61))
    assert (await session.request(Ack(id="x", incident=1))).code == "forbidden"
    await session.close()
    await officer.close()


# --- shutdown ---------------------------------------------------------------------------------------------------


async def test_graceful_close_sends_1001(databases: Databases, tmp_path: Path) -> None:
    async with running_server(tmp_path, database=databases.url()) as running:
        peers = [await Peer.open(running, running.tokens[name]) for name in ("officer", "wall")]
        await peers[0].command("report", **report())
        await running.server.close()
        for peer in peers:
            code, _ = await peer.closed()
            assert code == 1001
    # And the database was left consistent: it opens and holds the event.
    async with running_server(tmp_path, database=databases.url()) as running:
        assert running.server.state.seq == 1 and running.server.state.incidents[1].title == "Kotak suara rusak"


# --- limits ---------------------------------------------------------------------------------------------------


async def history_burst(peer: Peer, count: int) -> list[dict[str, Any]]:
    """`count` history commands sent without waiting; their results, once all are answered, in order."""
    for n in range(count):
        await peer.send({"type": "history", "id": f"h{n}", "incident": 1})
    answers = 0

    def counted(frame: dict[str, Any]) -> bool:
        nonlocal answers
        answers += frame.get("type") == "result"
        return answers == count

    await peer.until(counted, timeout=10)
    return sorted((f for f in peer.frames if f["type"] == "result"), key=lambda f: int(f["id"][1:]))


async def test_a_flood_of_commands_is_rate_limited_without_losing_the_connection(server: Running) -> None:
    wall = await Peer.open(server, server.tokens["wall"])
    burst = int(server.config.server.commands_per_second * 4)  # the bucket holds 4 s worth
    count = burst + 60
    results = await history_burst(wall, count)  # every command is answered, one way or the other
    assert [r["id"] for r in results] == [f"h{n}" for n in range(count)]
    limited = [r for r in results if r["code"] == "rate_limited"]
    assert 0 < len(limited) <= count - burst
    assert all(r["code"] == "not_found" for r in results[:burst])
    assert "slow down" in limited[0]["message"]
    assert (limited[0]["reason"], limited[0]["params"]) == ("rate_limited", {"rate": 50.0, "role": "viewer"})
    # Still connected.
    assert (await wall.command("history", incident=2))["code"] in ("not_found", "rate_limited")
    await wall.close()


async def test_an_admin_token_may_send_faster_for_bulk_imports(server: Running) -> None:
    """What an officer's connection may not send in a burst, an admin's may."""
    count = int(server.config.server.commands_per_second * 4) + 60  # past an officer's bucket
    assert count < server.config.server.admin_commands_per_second * 4
    admin = await Peer.open(server, server.tokens["admin"])
    codes = {f["code"] for f in await history_burst(admin, count)}
    assert codes == {"not_found"}  # answered, none rate-limited
    await admin.close()


async def test_no_hello_in_time_is_unauthorized(server: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connections, "HELLO_TIMEOUT_SECONDS", 0.2)
    ws = await connect(server.url)
    frame = json.loads(await asyncio.wait_for(ws.recv(), 3))
    assert frame["type"] == "error" and frame["code"] == "unauthorized" and "hello" in frame["message"]
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 3)
    assert ws.close_code == 1008


async def test_closing_while_commands_are_being_written(databases: Databases, tmp_path: Path) -> None:
    """Shutdown never cuts a write in half: close() returns promptly, and on
    restart the log, the state tables and what clients were told all agree.
    (Before the fix, a close landing on a COMMIT left the event on disk but not
    in memory: close() hung, and every later command failed on a reused seq.)"""
    config = province()
    known = {r.code for r in config.regencies}
    for attempt in range(12):
        db = tmp_path / f"run{attempt}.db"
        async with open_store(databases.url(db.name), synchronous="full") as store:
            token = await add_token(store, "officer", "officer", "KPU", None, known)
            server = OpsmonServer(config, store)
            await server.start("127.0.0.1", 0)
            peer = await Peer.open(f"ws://127.0.0.1:{server.port}/ws", token)
            for n in range(120):
                await peer.send({"type": "report", "id": f"burst-{n}", **report(title=f"burst {n}")})
            await asyncio.sleep(0.001 * attempt)
            closing = asyncio.ensure_future(server.close())
            done, _ = await asyncio.wait({closing}, timeout=10)
            assert closing in done, "close() hung"
            await peer.closed()
            results = [f for f in peer.frames if f.get("type") == "result"]
            # Nobody is told "not saved, send it again" about a command that was saved.
            assert all(f["ok"] for f in results), [f for f in results if not f["ok"]][:1]
            answered = {f["seq"]: f["id"] for f in results}
        async with running_server(tmp_path, db_name=db.name, database=databases.url(db.name)) as running:
            restarted = running.server
            log = fold(State(), await running.store.events_since(0))
            assert log.as_builtins() == restarted.state.as_builtins()
            assert restarted.state.seq >= max(answered, default=0)
            for seq, command_id in answered.items():
                assert restarted.state.incidents[seq].title == command_id.replace("-", " ")
            peer = await Peer.open(running, token)
            # Commands cut off by the shutdown are sent again: each is carried out exactly once.
            for n in range(120):
                await peer.send({"type": "report", "id": f"burst-{n}", **report(title=f"burst {n}")})
            await peer.until(lambda f: f.get("id") == "burst-119", timeout=10)
            assert restarted.state.seq == 120 and len(restarted.state.incidents) == 120
            assert all(f["ok"] for f in peer.frames if f.get("type") == "result")
            await peer.close()


async def test_a_storage_failure_is_answered_and_the_server_recovers(server: Running) -> None:
    """The database going away is a refusal the client can act on, never a
    command left unanswered; when it is back, commands work again."""
    officer = await Peer.open(server, server.tokens["officer"])
    assert (await officer.command("report", **report()))["ok"]
    await server.store.close()  # the database is gone (a disk failure, say)
    try:
        failed = await officer.command("ack", incident=1)
        assert failed["ok"] is False and failed["code"] == "unavailable", failed
        assert "send it again" in failed["message"]
        assert failed["reason"] == "unavailable" and "could not save" in failed["params"]["problem"]
    finally:
        await server.store.open()
    retried = await officer.command("ack", id=failed["id"], incident=1)
    assert retried["ok"] and retried["seq"] == 2
    assert server.server.state.seq == 2 and await server.store.head() == 2
    await officer.close()


async def test_a_config_change_reaches_the_snapshot(databases: Databases, tmp_path: Path) -> None:
    """The operator edits config.toml between runs: an official TPS count replaces
    an estimate, a stage is dropped. The snapshot follows the config it is sent with."""
    config = province()
    async with running_server(tmp_path, config=config, database=databases.url()) as running:
        tokens = running.tokens
        officer = await Peer.open(running, tokens["officer"])
        await officer.command("stage", regency="6301", stage="pemungutan", done=1000)
        await officer.command("stage", regency="6301", stage="rekap_kabkota", done=1)
        await officer.close()
    official = [msgspec.structs.replace(r, tps=900, tps_estimated=False) if r.code == "6301" else r for r in config.regencies]
    edited = msgspec.structs.replace(config, regencies=tuple(official), stages=config.stages[:4])
    async with running_server(tmp_path, config=edited, database=databases.url()) as running:
        wall = await Peer.open(running, tokens["wall"])
        assert wall.snapshot is not None
        rows = {(r["regency"], r["stage"]): r for r in wall.snapshot["stages"]}
        assert set(rows) == set(running.server.rules.stage_totals)  # 13 x 4, nothing else
        assert [s["key"] for s in wall.welcome["config"]["stages"]] == ["logistik", "pemungutan", "penghitungan", "rekap_ppk"]
        # The new total is in the log (by `system`), and what was done is capped to it.
        voting = rows[("6301", "pemungutan")]
        assert voting["total"] == 900 and voting["done"] == 900 and voting["status"] == "done"
        back = await Peer.open(running, tokens["wall"], epoch=running.store.epoch, since=2)
        await back.wait_events(1)
        changed = [e for e in back.events if e["kind"] == "stage.updated"]
        assert [e.kind for e in await running.store.events_since(2)].count("stage.updated") == 1
        # One event: the row an officer moved. Untouched rows (logistik,
        # penghitungan) take the config's total without one.
        assert [(e["actor"], e["data"]["stage"]) for e in changed] == [({"name": "system"}, "pemungutan")]
        assert changed[0]["data"] == voting
        assert rows[("6301", "logistik")]["status"] == "pending" and rows[("6301", "logistik")]["total"] == 900
        assert rows[("6301", "penghitungan")]["done"] == 0 and rows[("6301", "penghitungan")]["total"] == 900
        head = await running.store.head()
        await wall.close()
        await back.close()
    # A restart with the same config writes nothing more: the log already says it.
    async with running_server(tmp_path, config=edited, database=databases.url()) as running:
        assert await running.store.head() == head
        log = fold(State(), await running.store.events_since(0))
        for key in [key for key in log.stages if key not in running.server.rules.stage_totals]:
            del log.stages[key]  # the dropped stage's rows: history, not shown
        assert log.as_builtins() == running.server.state.as_builtins()


async def test_stage_rows_come_from_the_log_alone(databases: Databases, tmp_path: Path) -> None:
    """A fresh database writes no event and stores no stage row, yet the snapshot
    lists every configured row at zero; after a night, a fold of the log from
    seq 0 with an empty State is the server's state, stages included."""
    config = province()
    async with running_server(tmp_path, config=config, database=databases.url()) as running:
        assert await running.store.head() == 0 and running.server.state.stages == {}
        wall = await Peer.open(running, running.tokens["wall"])
        assert wall.snapshot is not None
        rows = {(r["regency"], r["stage"]): r for r in wall.snapshot["stages"]}
        assert list(rows) == list(running.server.rules.stage_totals)  # every stage of every regency, in config order
        assert all(r["done"] == 0 and r["status"] == "pending" and r["total"] == running.server.rules.stage_totals[k] for k, r in rows.items())
        officer = await Peer.open(running, running.tokens["officer"])
        for result in [
            await officer.command("stage", regency="6371", stage="penghitungan", done=12),
            await officer.command("stage", regency="6303", stage="logistik", blocked=True, note="Jalan putus"),
            await officer.command("report", **report(title="Kotak suara rusak")),
        ]:
            assert result["ok"], result
        log = fold(State(), await running.store.events_since(0))
        assert log.as_builtins() == running.server.state.as_builtins()
        assert set(log.stages) == {("6371", "penghitungan"), ("6303", "logistik")}
        await officer.close()
        await wall.close()
    async with running_server(tmp_path, config=config, database=databases.url()) as running:
        assert await running.store.head() == 3  # a restart with the same config writes nothing
        assert (await running.store.load_state()).as_builtins() == log.as_builtins()


async def test_a_client_that_stops_answering_pings_is_dropped(databases: Databases, tmp_path: Path) -> None:
    config = province()
    config = msgspec.structs.replace(config, server=msgspec.structs.replace(config.server, ping_interval_seconds=0.1, ping_timeout_seconds=0.2))
    async with running_server(tmp_path, config=config, database=databases.url()) as running:
        alive = await Peer.open(running, running.tokens["officer"])
        silent = await Peer.open(running, running.tokens["wall"])
        silent.ws.transport.pause_reading()  # the laptop's lid is shut: no pongs

        def server_side(name: str) -> list[WsState]:
            return [s.connection.state for s in running.server.hub.subscribers.values() if s.user == name]

        for _ in range(100):  # the server gives up on it (then waits for its close frame)
            if server_side("wall") != [WsState.OPEN]:
                break
            await asyncio.sleep(0.05)
        assert server_side("wall") != [WsState.OPEN]
        # The one that answers pings stays, however long it is idle.
        assert server_side("officer") == [WsState.OPEN]
        assert (await alive.command("report", **report()))["ok"]
        await alive.close()
        silent.ws.transport.abort()


async def test_commands_arriving_while_the_writer_is_busy_share_one_commit(tmp_path: Path) -> None:
    """Under load the writer waits `group_commit_wait_ms` for more commands before a
    group commit: reports sent a few milliseconds apart from five officers are one
    transaction (one disk sync), each answered ok only after it, each its own event."""
    config = msgspec.structs.replace(province(), server=msgspec.structs.replace(province().server, group_commit_wait_ms=50))
    async with running_server(tmp_path, config=config) as running:
        commits: list[int] = []  # events per transaction, as the store is asked to commit them
        store_commit = running.store.commit

        async def counted(batch: Any) -> None:
            await store_commit(batch)
            commits.append(len(batch.events))

        running.store.commit = counted  # type: ignore[method-assign]
        officers = [await Peer.open(running, running.tokens["officer"]) for _ in range(5)]
        first = await officers[0].command("report", **report(title="Kotak suara pertama"))
        assert first["ok"] and commits == [1]  # the writer was idle: committed at once, alone
        ids = []
        for n, officer in enumerate(reversed(officers)):  # the writer is busy now: these gather
            ids.append(f"gather-{n}")
            await officer.send({"type": "report", "id": ids[-1], **report(title=f"Kotak suara {n}")})
            await asyncio.sleep(0.003)
        answers = [await o.until(lambda f, i=i: f.get("type") == "result" and f.get("id") == i) for o, i in zip(reversed(officers), ids, strict=True)]
        assert all(a["ok"] for a in answers), answers
        assert sorted(a["seq"] for a in answers) == [2, 3, 4, 5, 6]
        assert commits[0] == 1 and sum(commits[1:]) == 5
        assert max(commits[1:]) >= 3, commits  # without the wait, one commit each (sent 3 ms apart)
        for officer in officers:
            await officer.close()
