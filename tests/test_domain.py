"""The pure rules: no sockets, no database, just decide() and apply()."""

from __future__ import annotations

from datetime import timedelta

import pytest

from opsmon.core.clock import format_ts, parse_ts
from opsmon.core.domain import DomainError
from opsmon.core.events import IncidentAcknowledged
from opsmon.core.fold import apply
from opsmon.core.protocol import Ack, Escalate, Event, IncidentDraft, Note, Reopen, Report, Resolve, StageUpdate
from opsmon.core.records import Actor
from opsmon.core.state import State, stage_rows, stage_status
from opsmon.core.urgency import in_snapshot, is_overdue, urgency_key
from opsmon.core.wire import to_builtins
from tests.world import BUDI, RULES, SITI, T0, World


def test_report_makes_an_open_incident_with_its_deadline() -> None:
    w = World()
    event = w.do(Report(id="r", incident=IncidentDraft(regency="6371", category="logistik", severity="high", title="  Kotak suara rusak ", location="TPS 012")))
    assert event.kind == "incident.reported"
    incident = w.state.incidents[1]
    assert incident.id == 1 and incident.status == "open" and incident.level == 0
    assert incident.title == "Kotak suara rusak"
    assert incident.reporter == SITI and incident.reported == "2024-02-14T13:00:00.000Z"
    assert incident.ack_due == "2024-02-14T13:15:00.000Z"  # high: 15 minutes
    assert incident.notes == []
    assert w.report() == 2  # ids count up


def test_lifecycle_open_acknowledged_resolved_reopened() -> None:
    w = World()
    n = w.report()
    w.advance(minutes=3)
    w.do(Ack(id="a", incident=n), BUDI)
    incident = w.state.incidents[n]
    assert incident.status == "acknowledged" and incident.acknowledged_by == BUDI
    assert incident.acknowledged == "2024-02-14T13:03:00.000Z"
    assert incident.escalate_due is None
    w.advance(minutes=10)
    w.do(Resolve(id="s", incident=n, note="Kotak diganti"))
    incident = w.state.incidents[n]
    assert incident.status == "resolved" and incident.resolved_by == SITI
    assert incident.notes[-1].text == "Kotak diganti" and incident.notes[-1].kind == "resolved"
    w.advance(minutes=5)
    w.do(Reopen(id="o", incident=n, note="Rusak lagi"), BUDI)
    incident = w.state.incidents[n]
    assert incident.status == "open"
    assert incident.resolved is None and incident.resolved_by is None and incident.acknowledged is None
    # A reopened incident has a fresh acknowledgement deadline from the reopening.
    assert incident.ack_due == "2024-02-14T13:33:00.000Z"
    assert [note.kind for note in incident.notes] == ["resolved", "reopened"]
    # ...and can be acknowledged and resolved again.
    w.do(Ack(id="a2", incident=n))
    w.do(Resolve(id="s2", incident=n, note="Selesai"))
    assert w.state.incidents[n].status == "resolved"
    assert [e.kind for e in w.events] == [
        "incident.reported",
        "incident.acknowledged",
        "incident.resolved",
        "incident.reopened",
        "incident.acknowledged",
        "incident.resolved",
    ]
    assert [e.seq for e in w.events] == [1, 2, 3, 4, 5, 6]


def test_an_open_incident_can_be_resolved_directly() -> None:
    w = World()
    n = w.report()
    w.do(Resolve(id="s", incident=n, note="Laporan ganda"))
    assert w.state.incidents[n].status == "resolved"


def test_notes_keep_who_and_when() -> None:
    w = World()
    n = w.report()
    w.advance(minutes=1)
    w.do(Note(id="n1", incident=n, text="Petugas menuju lokasi"), BUDI)
    w.do(Note(id="n2", incident=n, text="Tiba"))
    notes = w.state.incidents[n].notes
    assert [(x.text, x.by, x.ts, x.kind) for x in notes] == [
        ("Petugas menuju lokasi", BUDI, "2024-02-14T13:01:00.000Z", "note"),
        ("Tiba", SITI, "2024-02-14T13:01:00.000Z", "note"),
    ]


def test_manual_escalation_raises_the_level_and_keeps_the_note() -> None:
    w = World()
    n = w.report()
    event = w.do(Escalate(id="e1", incident=n, note="Butuh Polres"))
    assert to_builtins(event.data) == {"incident": n, "level": 1, "note": "Butuh Polres"}
    w.do(Escalate(id="e2", incident=n))
    blank = w.do(Escalate(id="e2b", incident=n, note="   "))
    assert blank.data.note is None  # a blank note is no note
    incident = w.state.incidents[n]
    assert incident.level == 3
    assert [x.text for x in incident.notes] == ["Butuh Polres"]
    # An acknowledged incident can still be escalated by hand; a resolved one cannot.
    w.do(Ack(id="a", incident=n))
    w.do(Escalate(id="e3", incident=n))
    assert w.state.incidents[n].level == 4
    w.do(Resolve(id="s", incident=n, note="ok"))
    with pytest.raises(DomainError) as caught:
        w.do(Escalate(id="e4", incident=n))
    assert caught.value.code == "conflict"


def test_conflicts_say_who_and_when() -> None:
    w = World()
    n = w.report()
    w.advance(minutes=2)
    w.do(Ack(id="a", incident=n), BUDI)
    with pytest.raises(DomainError) as caught:
        w.do(Ack(id="a2", incident=n))
    error = caught.value
    assert error.code == "conflict" and error.status == "acknowledged"
    assert error.by == BUDI and error.at == "2024-02-14T13:02:00.000Z"
    assert "Polri/Budi" in error.message and "21:02 WITA" in error.message  # shown in WITA

    w.advance(minutes=1)
    w.do(Resolve(id="s", incident=n, note="ok"))
    for command in (Ack(id="a3", incident=n), Resolve(id="s2", incident=n, note="lagi")):
        with pytest.raises(DomainError) as caught:
            w.do(command, BUDI)
        assert caught.value.code == "conflict" and caught.value.by == SITI
        assert "already resolved by KPU/Siti at 21:03 WITA" in caught.value.message


def test_reopening_what_is_not_resolved_is_a_conflict() -> None:
    w = World()
    n = w.report()
    with pytest.raises(DomainError) as caught:
        w.do(Reopen(id="o", incident=n, note="?"))
    assert caught.value.code == "conflict" and caught.value.status == "open"


def test_nothing_changes_on_a_refusal() -> None:
    w = World()
    n = w.report()
    w.do(Ack(id="a", incident=n))
    before = w.state.as_builtins()
    with pytest.raises(DomainError):
        w.do(Ack(id="a2", incident=n))
    assert w.state.as_builtins() == before


@pytest.mark.parametrize(
    "command",
    [
        Ack(id="a", incident=99),
        Escalate(id="e", incident=99),
        Note(id="n", incident=99, text="x"),
        Resolve(id="s", incident=99, note="x"),
        Reopen(id="o", incident=99, note="x"),
    ],
    ids=lambda c: type(c).__name__,
)
def test_unknown_incident_is_not_found(command: object) -> None:
    with pytest.raises(DomainError) as caught:
        World().do(command)
    assert caught.value.code == "not_found" and "99" in caught.value.message


@pytest.mark.parametrize(
    ("draft", "word"),
    [
        (IncidentDraft(regency="9999", category="logistik", severity="high", title="x"), "regency"),
        (IncidentDraft(regency="6371", category="banjir_bandang", severity="high", title="x"), "category"),
        (IncidentDraft(regency="6371", category="logistik", severity="urgent", title="x"), "severity"),
        (IncidentDraft(regency="6371", category="logistik", severity="high", title="   "), "title"),
    ],
    ids=["regency", "category", "severity", "blank title"],
)
def test_invalid_reports(draft: IncidentDraft, word: str) -> None:
    w = World()
    with pytest.raises(DomainError) as caught:
        w.do(Report(id="r", incident=draft))
    assert caught.value.code == "invalid" and word in caught.value.message
    assert w.state.incidents == {}


def test_blank_texts_are_invalid() -> None:
    w = World()
    n = w.report()
    for command in (Note(id="n", incident=n, text="  "), Resolve(id="s", incident=n, note=" "), Reopen(id="o", incident=n, note="\n")):
        with pytest.raises(DomainError) as caught:
            w.do(command)
        assert caught.value.code == "invalid"


def test_scope_forbids_other_regencies() -> None:
    w = World()
    other = w.report(regency="6303")  # Banjar
    mine = w.report(regency="6371")
    scope = ["6371"]
    with pytest.raises(DomainError) as caught:
        w.do(Report(id="r", incident=IncidentDraft(regency="6303", category="logistik", severity="low", title="x")), scope=scope)
    assert caught.value.code == "forbidden" and "6303" in caught.value.message
    for command in (
        Ack(id="a", incident=other),
        Note(id="n", incident=other, text="x"),
        Escalate(id="e", incident=other),
        Resolve(id="s", incident=other, note="x"),
    ):
        with pytest.raises(DomainError) as caught:
            w.do(command, scope=scope)
        assert caught.value.code == "forbidden"
    with pytest.raises(DomainError) as caught:
        w.do(StageUpdate(id="st", regency="6303", stage="rekap_ppk", done=1), scope=scope)
    assert caught.value.code == "forbidden"
    # Its own regency is fine.
    w.do(Ack(id="a", incident=mine), scope=scope)
    w.do(StageUpdate(id="st", regency="6371", stage="rekap_ppk", done=1), scope=scope)


def test_stage_status_rules() -> None:
    assert stage_status(0, 5, False) == "pending"
    assert stage_status(3, 5, False) == "in_progress"
    assert stage_status(5, 5, False) == "done"
    assert stage_status(3, 5, True) == "blocked"
    assert stage_status(5, 5, True) == "blocked"
    assert stage_status(0, 1, False) == "pending" and stage_status(1, 1, False) == "done"


def test_stage_updates() -> None:
    w = World()
    assert ("6371", "rekap_ppk") not in w.state.stages  # untouched: implicit, done 0 of the config's 5
    w.advance(minutes=7)
    event = w.do(StageUpdate(id="s", regency="6371", stage="rekap_ppk", done=3, note="Kec. Banjarmasin Utara selesai"))
    row = w.state.stages[("6371", "rekap_ppk")]
    assert to_builtins(event.data) == {
        "regency": "6371",
        "stage": "rekap_ppk",
        "status": "in_progress",
        "done": 3,
        "total": 5,
        "note": "Kec. Banjarmasin Utara selesai",
        "updated": "2024-02-14T13:07:00.000Z",
    }
    assert row.status == "in_progress" and row.done == 3
    w.do(StageUpdate(id="s", regency="6371", stage="rekap_ppk", done=3, blocked=True, note="Saksi keberatan"))
    assert w.state.stages[("6371", "rekap_ppk")].status == "blocked"
    # Lifting a block is a stated correction (issue 20 defect 5), never the next plain count.
    with pytest.raises(DomainError, match="is blocked"):
        w.do(StageUpdate(id="s", regency="6371", stage="rekap_ppk", done=5))
    event = w.do(StageUpdate(id="s", regency="6371", stage="rekap_ppk", done=5, correct=True, note="Keberatan diselesaikan"))
    assert to_builtins(event.data)["corrected_status"] == "blocked"
    assert w.state.stages[("6371", "rekap_ppk")].status == "done"
    w.do(StageUpdate(id="s", regency="6371", stage="rekap_ppk", done=5))
    assert w.state.stages[("6371", "rekap_ppk")].note is None
    w.do(StageUpdate(id="s", regency="6371", stage="pemungutan", done=1940))
    assert w.state.stages[("6371", "pemungutan")].status == "done"


def test_a_stage_update_without_done_keeps_the_count() -> None:
    """`opsmon stage --blocked --note ...`: blocked, with the count the server has."""
    w = World()
    w.do(StageUpdate(id="s", regency="6372", stage="rekap_ppk", done=2))
    event = w.do(StageUpdate(id="s", regency="6372", stage="rekap_ppk", blocked=True, note="Listrik padam"))
    row = w.state.stages[("6372", "rekap_ppk")]
    assert (row.done, row.total, row.status, row.note) == (2, 5, "blocked", "Listrik padam")
    assert event.data.done == 2  # the event carries the count: folding needs no state
    w.do(StageUpdate(id="s", regency="6372", stage="rekap_ppk", correct=True, note="Listrik menyala"))  # unblocked (stated), count kept
    assert (w.state.stages[("6372", "rekap_ppk")].done, w.state.stages[("6372", "rekap_ppk")].status) == (2, "in_progress")


def test_the_province_stage_is_one_row_for_the_whole_province() -> None:
    w = World()
    shown = {(r.regency, r.stage) for r in stage_rows(w.state, RULES.stage_totals, "2024-02-14T12:00:00.000Z")}  # the snapshot's rows
    assert ("63", "rekap_provinsi") in shown and not any(r == "6371" for r, s in shown if s == "rekap_provinsi")
    w.do(StageUpdate(id="p", regency="63", stage="rekap_provinsi", done=1))
    row = w.state.stages[("63", "rekap_provinsi")]
    assert (row.done, row.total, row.status) == (1, 1, "done")
    refusals = [
        (StageUpdate(id="p", regency="6371", stage="rekap_provinsi", done=1), None, "bad_field", "invalid"),
        (StageUpdate(id="p", regency="63", stage="rekap_ppk", done=1), None, "bad_field", "invalid"),
        (StageUpdate(id="p", regency="63", stage="rekap_provinsi", done=2), None, "done_exceeds_total", "invalid"),
        (StageUpdate(id="p", regency="63", stage="rekap_provinsi", done=1), ["6371"], "scope", "forbidden"),
    ]
    for command, scope, reason, code in refusals:
        with pytest.raises(DomainError) as caught:
            w.do(command, scope=scope)
        assert (caught.value.code, caught.value.reason) == (code, reason), command
        if reason == "bad_field":
            assert caught.value.params["field"] == "regency"
    # The province code is not a regency: no incident can be reported there.
    with pytest.raises(DomainError) as caught:
        w.report(regency="63")
    assert caught.value.reason == "unknown_regency"


@pytest.mark.parametrize(
    ("command", "word"),
    [
        (StageUpdate(id="s", regency="6371", stage="rekap_ppk", done=6), "more than the 5"),
        (StageUpdate(id="s", regency="6371", stage="rekap_desa", done=1), "unknown stage"),
        (StageUpdate(id="s", regency="6399", stage="rekap_ppk", done=1), "unknown regency"),
    ],
    ids=["done > total", "stage", "regency"],
)
def test_invalid_stage_updates(command: StageUpdate, word: str) -> None:
    w = World()
    with pytest.raises(DomainError) as caught:
        w.do(command)
    assert caught.value.code == "invalid" and word in caught.value.message


# --- deadlines ---------------------------------------------------------------------


def test_escalation_at_the_deadline_and_every_interval() -> None:
    w = World()
    n = w.report("critical")  # ack 5 min, again every 5 min
    w.advance(minutes=4, seconds=59)
    assert w.escalate_due() == []
    w.advance(seconds=1)
    [first] = w.escalate_due()
    assert first.actor == Actor(name="system")
    assert first.data.incident == n and first.data.level == 1
    assert w.state.incidents[n].level == 1
    assert w.escalate_due() == []  # once per deadline, not at every check
    w.advance(minutes=4)
    assert w.escalate_due() == []
    w.advance(minutes=1)
    [second] = w.escalate_due()
    assert second.data.level == 2
    assert is_overdue(w.state.incidents[n], w.now)
    # Acknowledging stops it.
    w.do(Ack(id="a", incident=n))
    w.advance(hours=2)
    assert w.escalate_due() == []
    assert not is_overdue(w.state.incidents[n], w.now)


def test_a_long_outage_gives_one_escalation_not_a_burst() -> None:
    w = World()
    n = w.report("high")
    w.advance(minutes=15 + 15 * 3 + 7)  # deadline, then 3 intervals and a bit
    [event] = w.escalate_due()
    assert event.data.level == 1
    # The next one is due at the next interval boundary after now.
    assert parse_ts(w.state.incidents[n].escalate_due or "") == T0 + timedelta(minutes=15 * 5)
    assert w.escalate_due() == []


def test_low_severity_escalates_once_only() -> None:
    w = World()
    n = w.report("low")  # ack 4 h, escalate_minutes = 0
    w.advance(hours=3, minutes=59)
    assert w.escalate_due() == []
    w.advance(minutes=1)
    [event] = w.escalate_due()
    assert event.data.level == 1
    assert w.state.incidents[n].escalate_due is None
    w.advance(hours=24)
    assert w.escalate_due() == []
    assert w.state.incidents[n].level == 1


def test_resolved_and_reopened_deadlines() -> None:
    w = World()
    n = w.report("medium")
    w.do(Resolve(id="s", incident=n, note="ok"))
    w.advance(hours=5)
    assert w.escalate_due() == []
    w.do(Reopen(id="o", incident=n, note="belum"))
    w.advance(minutes=59)
    assert w.escalate_due() == []
    w.advance(minutes=1)
    [event] = w.escalate_due()
    assert event.data.level == 1


def test_several_incidents_escalate_together() -> None:
    w = World()
    a = w.report("critical")
    b = w.report("critical", regency="6303")
    c = w.report("high")
    w.advance(minutes=5)
    assert sorted(e.data.incident for e in w.escalate_due()) == [a, b]
    w.advance(minutes=10)
    assert sorted(e.data.incident for e in w.escalate_due()) == [a, b, c]


# --- views ---------------------------------------------------------------------------


def test_snapshot_window_and_queue_order() -> None:
    w = World()
    old = w.report("low")
    w.do(Resolve(id="s", incident=old, note="ok"))
    w.advance(hours=1)
    crit = w.report("critical")
    high = w.report("high")
    acked = w.report("critical")
    w.do(Ack(id="a", incident=acked))
    w.advance(hours=23)
    incidents = w.state.incidents
    assert in_snapshot(incidents[old], w.now)  # resolved exactly 24 h ago
    w.advance(seconds=1)
    assert not in_snapshot(incidents[old], w.now)
    assert all(in_snapshot(incidents[i], w.now) for i in (crit, high, acked))
    ordered = [i.id for i in sorted(incidents.values(), key=urgency_key)]
    assert ordered == [crit, high, acked, old]


def test_state_copy_is_deep() -> None:
    w = World()
    n = w.report()
    copy = w.state.copy()
    w.do(Note(id="n", incident=n, text="x"))
    assert copy.incidents[n].notes == [] and copy.seq == 1
    assert w.state.as_builtins() != copy.as_builtins()


def test_events_for_unknown_incidents_are_ignored_by_the_fold() -> None:
    w = World()
    state = State()
    apply(state, Event(seq=1, ts=format_ts(T0), kind="incident.acknowledged", actor=SITI, data=IncidentAcknowledged(incident=5)))
    assert state.seq == 1 and state.incidents == {}
    assert w.state.seq == 0
