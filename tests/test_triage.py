"""Triage verbs: duplicates folded, snooze, assign, severity, un-ack, merge.

First the pure rules (decide/apply, no sockets), then the real server on
loopback: results, refusals with their reason codes, timers, restarts."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from opsmon.core.clock import format_ts
from opsmon.core.config import ConfigError, parse_config
from opsmon.core.domain import DomainError, decide, due_wakeups
from opsmon.core.events import IncidentAssigned
from opsmon.core.fold import apply, fold
from opsmon.core.protocol import Ack, Assign, Event, IncidentDraft, Merge, Owner, Report, Resolve, SeverityChange, Snooze, Unack
from opsmon.core.records import SYSTEM, Actor, Incident
from opsmon.core.state import State
from opsmon.core.urgency import is_overdue, urgency_key
from opsmon.core.wire import convert, decode_client, to_builtins
from tests.helpers import CONFIG_PATH, FakeClock, Running, running_server
from tests.wire import Peer, report
from tests.world import BUDI, RULES, SITI, T0, World

RAHMAT = Owner(name="Rahmat", agency="Bawaslu")


def draft(
    location: str = "Kec. Banjarmasin Utara, TPS 012", severity: str = "medium", category: str = "logistik", regency: str = "6371", title: str = "Listrik padam"
) -> IncidentDraft:
    return IncidentDraft(regency=regency, category=category, severity=severity, title=title, detail="PLN dihubungi", location=location)


def wake(w: World) -> list[Event]:
    return [w._commit(d.payload, SYSTEM) for d in due_wakeups(w.state, w.now, RULES)]


# --- duplicates -------------------------------------------------------------------------


def test_a_repeat_report_folds_into_the_open_incident() -> None:
    w = World()
    w.do(Report(id="1", incident=draft()))
    w.advance(minutes=10)
    event = w.do(Report(id="2", incident=draft(location="  kec. banjarmasin   UTARA, tps 012 ", title="Mati lampu")), BUDI)
    assert event.kind == "incident.duplicate"
    assert to_builtins(event.data) == {"incident": 1, "title": "Mati lampu", "detail": "PLN dihubungi", "severity": "medium"}
    incident = w.state.incidents[1]
    assert len(w.state.incidents) == 1 and incident.reports == 2
    assert incident.notes[-1].kind == "duplicate" and incident.notes[-1].by == BUDI and "Mati lampu" in incident.notes[-1].text
    assert incident.severity == "medium" and incident.ack_due == "2024-02-14T14:00:00.000Z"  # unchanged


def test_a_more_severe_repeat_raises_the_severity_and_tightens_the_deadline() -> None:
    w = World()
    w.do(Report(id="1", incident=draft(severity="low")))
    w.advance(minutes=10)
    w.do(Report(id="2", incident=draft(severity="critical")), BUDI)
    incident = w.state.incidents[1]
    assert incident.severity == "critical" and incident.reports == 2
    assert incident.ack_due == incident.escalate_due == "2024-02-14T13:15:00.000Z"  # now + 5 min
    w.advance(minutes=1)
    w.do(Report(id="3", incident=draft(severity="high")))  # less severe: no change
    assert w.state.incidents[1].severity == "critical" and w.state.incidents[1].reports == 3


@pytest.mark.parametrize(
    ("second", "minutes"),
    [
        (draft(location=""), 1),  # an empty location never folds
        (draft(location="TPS 013"), 1),
        (draft(category="keamanan"), 1),
        (draft(regency="6303"), 1),
        (draft(), 31),  # outside the 30-minute window
    ],
)
def test_what_does_not_fold(second: IncidentDraft, minutes: int) -> None:
    w = World()
    w.do(Report(id="1", incident=draft(location="" if not second.location else "Kec. Banjarmasin Utara, TPS 012")))
    w.advance(minutes=minutes)
    assert w.do(Report(id="2", incident=second)).kind == "incident.reported"
    assert len(w.state.incidents) == 2


def test_a_resolved_incident_does_not_take_repeats() -> None:
    w = World()
    w.do(Report(id="1", incident=draft()))
    w.do(Resolve(id="2", incident=1, note="Listrik menyala"))
    assert w.do(Report(id="3", incident=draft())).kind == "incident.reported"


# --- snooze --------------------------------------------------------------------------------


def test_a_snoozed_incident_is_not_escalated_and_wakes_with_a_fresh_deadline() -> None:
    w = World()
    n = w.report(severity="critical")  # ack within 5 minutes
    w.advance(minutes=2)
    event = w.do(Snooze(id="s", incident=n, minutes=30, note="Menunggu PLN"))
    assert to_builtins(event.data) == {"incident": n, "until": "2024-02-14T13:32:00.000Z", "note": "Menunggu PLN"}
    incident = w.state.incidents[n]
    assert incident.snoozed_until == "2024-02-14T13:32:00.000Z" and incident.escalate_due is None
    w.advance(minutes=20)
    assert not is_overdue(incident, w.now)
    assert w.escalate_due() == [] and wake(w) == []
    w.advance(minutes=15)  # 13:37, the snooze ended at 13:32
    woke = wake(w)
    assert [e.kind for e in woke] == ["incident.unsnoozed"] and woke[0].actor == SYSTEM
    incident = w.state.incidents[n]
    assert incident.snoozed_until is None
    assert incident.ack_due == incident.escalate_due == "2024-02-14T13:37:00.000Z"  # counted from 13:32
    assert [e.data.level for e in w.escalate_due()] == [1]


def test_snooze_by_hand_zero_wakes_and_resolved_refuses() -> None:
    w = World()
    n = w.report()
    with pytest.raises(DomainError) as exc:
        w.do(Snooze(id="s", incident=n, minutes=0, note="x"))
    assert exc.value.code == "conflict" and exc.value.reason == "not_snoozed"
    w.do(Snooze(id="s", incident=n, minutes=60, note="x"))
    w.advance(minutes=5)
    event = w.do(Snooze(id="s", incident=n, minutes=0, note="PLN tidak datang"), BUDI)
    assert event.kind == "incident.unsnoozed" and event.data.ack_due == "2024-02-14T13:20:00.000Z"
    assert w.state.incidents[n].notes[-1].kind == "unsnoozed"
    w.do(Resolve(id="r", incident=n, note="ok"))
    with pytest.raises(DomainError) as exc:
        w.do(Snooze(id="s", incident=n, minutes=5, note="x"))
    assert exc.value.code == "conflict" and exc.value.status == "resolved"


def test_snoozed_sort_below_live_ones() -> None:
    w = World()
    a = w.report(severity="critical")
    b = w.report(severity="low")
    w.do(Snooze(id="s", incident=a, minutes=10, note="x"))
    order = sorted(w.state.incidents.values(), key=urgency_key)
    assert [i.id for i in order] == [b, a]


# --- assign, severity, unack, merge ------------------------------------------------------------


def test_assign_take_hand_over_and_release() -> None:
    w = World()
    n = w.report()
    event = w.do(Assign(id="a", incident=n, to=Owner(name="Siti", agency="KPU")))
    assert to_builtins(event.data) == {"incident": n, "owner": {"name": "Siti", "agency": "KPU"}}
    assert w.state.incidents[n].owner == SITI
    w.do(Assign(id="b", incident=n, to=RAHMAT), BUDI)
    assert w.state.incidents[n].owner == Actor(name="Rahmat", agency="Bawaslu")
    with pytest.raises(DomainError) as exc:
        w.do(Assign(id="c", incident=n, to=RAHMAT))
    assert exc.value.reason == "unchanged"
    with pytest.raises(DomainError) as exc:
        w.do(Assign(id="c", incident=n, to=Owner(name="Rahmat", agency="TNI")))
    assert exc.value.code == "invalid" and exc.value.reason == "unknown_agency" and exc.value.params == {"agency": "TNI"}
    with pytest.raises(DomainError) as exc:
        w.do(Assign(id="c", incident=n, to=Owner(name="Rah\x1bmat", agency="KPU")))
    assert exc.value.reason == "control_character" and exc.value.params == {"field": "to.name", "characters": ["U+001B"]}
    w.do(Assign(id="d", incident=n, to=None))
    assert w.state.incidents[n].owner is None


def test_severity_change_recomputes_the_deadline() -> None:
    w = World()
    n = w.report(severity="low")
    w.advance(minutes=10)
    event = w.do(SeverityChange(id="s", incident=n, severity="critical", note="Massa berkumpul"))
    assert event.data.ack_due == event.data.escalate_due == "2024-02-14T13:15:00.000Z"
    incident = w.state.incidents[n]
    assert incident.severity == "critical" and incident.notes[-1].kind == "severity"
    with pytest.raises(DomainError) as exc:
        w.do(SeverityChange(id="s", incident=n, severity="critical", note="x"))
    assert exc.value.reason == "unchanged"
    with pytest.raises(DomainError) as exc:
        w.do(SeverityChange(id="s", incident=n, severity="urgent", note="x"))
    assert exc.value.reason == "unknown_severity"
    w.do(Ack(id="a", incident=n))
    w.do(SeverityChange(id="s2", incident=n, severity="high", note="Reda"))
    assert w.state.incidents[n].escalate_due is None  # acknowledged: nothing to escalate


def test_unack_reopens_with_a_fresh_deadline() -> None:
    w = World()
    n = w.report(severity="high")
    with pytest.raises(DomainError) as exc:
        w.do(Unack(id="u", incident=n, note="salah tekan"))
    assert exc.value.code == "conflict" and exc.value.reason == "not_acknowledged"
    w.do(Ack(id="a", incident=n), BUDI)
    w.advance(minutes=20)
    w.do(Unack(id="u", incident=n, note="salah tekan"), BUDI)
    incident = w.state.incidents[n]
    assert incident.status == "open" and incident.acknowledged is None and incident.acknowledged_by is None
    assert incident.ack_due == incident.escalate_due == "2024-02-14T13:35:00.000Z"
    assert incident.notes[-1].kind == "unacknowledged" and incident.notes[-1].text == "salah tekan"


def test_merge_resolves_one_into_the_other() -> None:
    w = World()
    a = w.report(title="Listrik padam")
    w.do(Report(id="x", incident=draft(location="TPS 1")))
    w.do(Report(id="y", incident=draft(location="TPS 1")), BUDI)  # b has 2 reports
    b = 2
    event = w.do(Merge(id="m", incident=b, into=a, note="Sama: gardu induk"))
    assert to_builtins(event.data) == {"incident": b, "into": a, "note": "Sama: gardu induk", "reports": 2, "title": "Listrik padam"}
    merged, target = w.state.incidents[b], w.state.incidents[a]
    assert merged.status == "resolved" and merged.merged_into == a and merged.escalate_due is None
    assert target.reports == 3 and target.notes[-1].kind == "merged"
    with pytest.raises(DomainError) as exc:
        w.do(Merge(id="m", incident=b, into=a))  # already merged
    assert exc.value.code == "conflict" and exc.value.status == "resolved"
    with pytest.raises(DomainError) as exc:
        w.do(Merge(id="m", incident=a, into=b))  # into a resolved one
    assert exc.value.code == "conflict" and exc.value.reason == "into_resolved"
    with pytest.raises(DomainError) as exc:
        w.do(Merge(id="m", incident=a, into=a))
    assert exc.value.reason == "same_incident"
    with pytest.raises(DomainError) as exc:
        w.do(Merge(id="m", incident=a, into=99))
    assert exc.value.code == "not_found"


def test_merge_needs_scope_on_both() -> None:
    w = World()
    a = w.report(regency="6303")
    b = w.report(regency="6371")
    with pytest.raises(DomainError) as exc:
        w.do(Merge(id="m", incident=b, into=a), scope=["6371"])
    assert exc.value.code == "forbidden"


def test_old_stored_incidents_still_decode_and_fold() -> None:
    """An incident stored before the triage fields existed."""
    old = {
        "id": 1, "regency": "6371", "category": "logistik", "severity": "high", "title": "t", "detail": "", "location": "",
        "status": "open", "level": 0, "reported": "2024-02-14T13:00:00.000Z", "reporter": {"name": "a", "agency": "KPU"},
        "acknowledged": None, "acknowledged_by": None, "resolved": None, "resolved_by": None,
        "ack_due": "2024-02-14T13:15:00.000Z", "notes": [],
    }  # fmt: skip
    incident = convert(old, Incident)
    assert (incident.reports, incident.owner, incident.snoozed_until, incident.merged_into) == (1, None, None, None)
    state = State(incidents={1: incident})
    apply(
        state,
        Event(
            seq=1, ts="2024-02-14T13:01:00.000Z", kind="incident.assigned", actor=SITI, data=IncidentAssigned(incident=1, owner=Actor(name="a", agency="KPU"))
        ),
    )
    assert state.incidents[1].owner == Actor(name="a", agency="KPU")


@pytest.mark.parametrize(
    ("frame", "says"),
    [
        ({"type": "snooze", "id": "1", "incident": 1, "minutes": 1441, "note": "x"}, "1440"),
        ({"type": "snooze", "id": "1", "incident": 1, "minutes": 10}, "note"),
        ({"type": "assign", "id": "1", "incident": 1}, "to"),
        ({"type": "assign", "id": "1", "incident": 1, "to": {"name": "", "agency": "KPU"}}, "name"),
        ({"type": "severity", "id": "1", "incident": 1, "severity": "high"}, "note"),
        ({"type": "unack", "id": "1", "incident": 1, "note": ""}, "note"),
        ({"type": "merge", "id": "1", "incident": 1}, "into"),
    ],
)
def test_malformed_triage_commands_name_the_field(frame: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        decode_client(json.dumps(frame))


# --- the server --------------------------------------------------------------------------------


async def test_a_duplicate_report_is_answered_with_the_incident_it_joined(server: Running, clock: FakeClock) -> None:
    officer = await Peer.open(server, server.tokens["officer"])
    polisi = await Peer.open(server, server.tokens["polisi"])
    first = await officer.command("report", **report(location="TPS 012"))
    clock.advance(minutes=5)
    second = await polisi.command("report", **report(location="tps 012", title="Kotak rusak lagi"))
    assert first["incident"] == second["incident"] == 1
    assert second["ok"] is True and second["duplicate"] is True and "duplicate" not in first
    events = await officer.wait_events(2)
    assert events[1]["kind"] == "incident.duplicate" and events[1]["actor"] == {"name": "polisi", "agency": "Polri"}
    assert server.server.state.incidents[1].reports == 2
    again = await polisi.command("report", id="r-again", **report(location="tps 012"))
    repeat = await polisi.command("report", id="r-again", **report(location="tps 012"))
    assert repeat["repeat"] is True and repeat["duplicate"] is True and repeat["seq"] == again["seq"]
    assert server.server.state.incidents[1].reports == 3
    await officer.close()
    await polisi.close()


async def test_every_verb_over_the_wire(server: Running, clock: FakeClock) -> None:
    officer = await Peer.open(server, server.tokens["officer"])
    wall = await Peer.open(server, server.tokens["wall"])
    await officer.command("report", **report(severity="critical"))
    await officer.command("report", **report(severity="high", title="Lain"))
    steps: list[tuple[str, dict[str, Any], str]] = [
        ("assign", {"incident": 1, "to": {"name": "Rahmat", "agency": "Bawaslu"}}, "incident.assigned"),
        ("snooze", {"incident": 1, "minutes": 15, "note": "Menunggu PLN"}, "incident.snoozed"),
        ("snooze", {"incident": 1, "minutes": 0, "note": "PLN datang"}, "incident.unsnoozed"),
        ("severity", {"incident": 1, "severity": "medium", "note": "Reda"}, "incident.severity_changed"),
        ("ack", {"incident": 1}, "incident.acknowledged"),
        ("unack", {"incident": 1, "note": "salah tekan"}, "incident.unacknowledged"),
        ("merge", {"incident": 2, "into": 1}, "incident.merged"),
    ]
    for type_, fields, kind in steps:
        result = await officer.command(type_, **fields)
        assert result["ok"] is True, (type_, result)
        event = (await wall.wait_events(result["seq"]))[-1]
        assert event["kind"] == kind and event["seq"] == result["seq"]
        # a viewer may not
        refused = await wall.command(type_, **fields)
        assert refused["ok"] is False and refused["code"] == "forbidden"
    one, two = server.server.state.incidents[1], server.server.state.incidents[2]
    assert one.owner == Actor(name="Rahmat", agency="Bawaslu") and one.severity == "medium" and one.status == "open" and one.reports == 2
    assert two.status == "resolved" and two.merged_into == 1
    # what a restart loads is what the server holds
    loaded = await server.store.load_state()
    assert loaded.incidents[1] == one and loaded.incidents[2] == two
    history = await officer.command("history", incident=1)
    assert [e["kind"] for e in history["events"]][-2:] == ["incident.unacknowledged", "incident.merged"]  # the merge into it is in its timeline
    await officer.close()
    await wall.close()


async def test_triage_refusals_carry_reason_codes(server: Running) -> None:
    officer = await Peer.open(server, server.tokens["officer"])
    bjm = await Peer.open(server, server.tokens["bjm"])
    await officer.command("report", **report(regency="6303"))
    await officer.command("report", **report(regency="6371", title="b"))
    cases = [
        (officer, "unack", {"incident": 1, "note": "x"}, "conflict", "not_acknowledged"),
        (officer, "snooze", {"incident": 1, "minutes": 0, "note": "x"}, "conflict", "not_snoozed"),
        (officer, "severity", {"incident": 1, "severity": "high", "note": "x"}, "conflict", "unchanged"),
        (officer, "assign", {"incident": 1, "to": {"name": "A", "agency": "TNI"}}, "invalid", "unknown_agency"),
        (officer, "merge", {"incident": 1, "into": 1}, "invalid", "same_incident"),
        (bjm, "merge", {"incident": 2, "into": 1}, "forbidden", None),
        (bjm, "snooze", {"incident": 1, "minutes": 5, "note": "x"}, "forbidden", None),
        (bjm, "assign", {"incident": 1, "to": None}, "forbidden", None),
    ]
    for peer, type_, fields, code, reason in cases:
        result = await peer.command(type_, **fields)
        assert result["ok"] is False and result["code"] == code, (type_, result)
        if reason is not None:
            assert result["reason"] == reason, result
    assert server.server.state.seq == 2
    await officer.close()
    await bjm.close()


async def test_escalation_skips_a_snoozed_incident_across_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    async with running_server(tmp_path, clock=clock) as running:
        officer = await Peer.open(running, running.tokens["officer"])
        await officer.command("report", **report(severity="critical"))  # ack within 5 minutes
        await officer.command("report", **report(severity="critical", title="Lain"))
        assert (await officer.command("snooze", incident=1, minutes=30, note="Menunggu PLN"))["ok"]
        tokens = running.tokens
        await officer.close()
    clock.advance(minutes=20)  # the server is down past both deadlines
    async with running_server(tmp_path, clock=clock) as running:
        assert running.server.state.incidents[1].snoozed_until == "2024-02-14T13:30:00.000Z"
        await running.server.deadlines.check()
        escalated = {e.data.incident for e in await running.store.events_since(0) if e.kind == "incident.escalated"}
        assert escalated == {2}  # the snoozed one is left alone
        seq = running.server.state.seq
    clock.advance(minutes=11)  # 13:31: the snooze ended at 13:30, while the server was down again
    async with running_server(tmp_path, clock=clock) as running:
        wall = await Peer.open(running, tokens["wall"], epoch=running.store.epoch, since=seq)
        await running.server.deadlines.check()
        woke = [e for e in await running.store.events_since(seq) if e.data.incident == 1]
        assert [e.kind for e in woke] == ["incident.unsnoozed"] and woke[0].actor == SYSTEM
        assert woke[0].data.ack_due == "2024-02-14T13:35:00.000Z"  # counted from the end of the snooze
        assert running.server.state.incidents[1].level == 0
        clock.advance(minutes=4)
        await running.server.deadlines.check()
        assert running.server.state.incidents[1].level == 1  # and escalated once that deadline passed
        log = fold(State(), await running.store.events_since(0))
        assert log.as_builtins() == running.server.state.as_builtins()
        await wall.close()


@pytest.mark.parametrize(("value", "problem"), [(-1, "must be at least 0"), (1441, "must be at most 1440"), ("30", "must be an integer")])
def test_dedup_minutes_is_validated(value: Any, problem: str) -> None:
    data = tomllib.loads(CONFIG_PATH.read_text(encoding="utf-8"))
    data["triage"]["dedup_minutes"] = value
    with pytest.raises(ConfigError, match=rf"triage\.dedup_minutes: {problem}"):
        parse_config(data)
    data["triage"] = {"dedup_minute": 5}
    with pytest.raises(ConfigError, match=r"triage\.dedup_minute: unknown key"):
        parse_config(data)
    del data["triage"]
    assert parse_config(data).triage.dedup_minutes == 30


def test_dedup_minutes_zero_never_folds() -> None:
    rules = dataclasses.replace(RULES, dedup_minutes=0)
    state = State()
    decision = decide(state, Report(id="1", incident=draft()), SITI, None, T0, rules)
    apply(state, Event.of(1, format_ts(T0), SITI, decision.payload))
    assert decide(state, Report(id="2", incident=draft()), SITI, None, T0, rules).kind == "incident.reported"
