"""Typed event payloads against the wire as earlier versions wrote it.

tests/golden/events-v1.jsonl holds event frames exactly as the version with
untyped (dict) payloads wrote them: its first 28 lines are what `scenario()`
below decided then (every incident kind, stage updates), then token and
config events as that server logged them, events of the shapes older servers
wrote (an incident reported before the triage fields, an escalation without a
note, a reopening without deadlines), and a kind this version does not know.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsmon.core.clock import format_ts
from opsmon.core.config import load_config
from opsmon.core.domain import Decision, decide, due_escalations, due_wakeups
from opsmon.core.events import PAYLOAD_TYPES, IncidentMerged, IncidentReported, StageUpdated
from opsmon.core.fold import apply, concerns, fold, touches
from opsmon.core.protocol import (
    Ack,
    Assign,
    Batch,
    Escalate,
    Event,
    IncidentDraft,
    Merge,
    Note,
    Owner,
    Reopen,
    Report,
    Resolve,
    SeverityChange,
    Snooze,
    StageUpdate,
    Unack,
)
from opsmon.core.records import SYSTEM, Actor
from opsmon.core.state import Rules, State
from opsmon.core.wire import BadMessage, convert_event, decode_payload, decode_server, encode, event_digest
from server.store.api import WriteBatch
from server.store.backends import open_store
from tests.backends import Databases
from tests.helpers import CONFIG_PATH

GOLDEN = Path(__file__).parent / "golden" / "events-v1.jsonl"
LINES = GOLDEN.read_text(encoding="utf-8").splitlines()
DECIDED = 28  # the lines scenario() reproduces


def scenario() -> list[str]:
    """Every kind the domain writes, by real decisions at fixed times, as frames."""
    rules = Rules.from_config(load_config(CONFIG_PATH))
    state = State()
    now = datetime(2024, 2, 14, 13, tzinfo=UTC)
    siti, budi = Actor(name="Siti", agency="KPU"), Actor(name="Budi Ünal", agency="Polri")
    lines: list[str] = []

    def commit(decision: Decision, actor: Actor) -> None:
        event = Event.of(state.seq + 1, format_ts(now), actor, decision.payload)
        apply(state, event)
        lines.append(encode(event).decode())

    def do(command: Any, actor: Actor = siti) -> None:
        commit(decide(state, command, actor, None, now, rules), actor)

    def draft(**fields: str) -> IncidentDraft:
        base = {"regency": "6371", "category": "logistik", "severity": "medium", "title": "Listrik padam", "detail": "PLN dihubungi", "location": "TPS 012"}
        return IncidentDraft(**{**base, **fields})

    steps: list[tuple[float, Any, Actor | None]] = [
        (0, Report(id="1", incident=draft()), siti),
        (1, Report(id="2", incident=draft(title="Mati lampu")), budi),  # a repeat
        (1, Report(id="3", incident=draft(severity="critical", detail="")), budi),  # a more severe repeat
        (1, Escalate(id="4", incident=1, note="Butuh Polres"), siti),
        (1, Escalate(id="5", incident=1), siti),
        (1, Note(id="6", incident=1, text="baris satu\nbaris dua"), siti),
        (1, Ack(id="7", incident=1), siti),
        (1, Snooze(id="8", incident=1, minutes=30, note="Menunggu PLN"), siti),
        (31, "wake", None),  # acknowledged: no escalation
        (0, Unack(id="9", incident=1, note="salah tekan"), siti),
        (1, Snooze(id="10", incident=1, minutes=10, note="tunggu"), siti),
        (1, Snooze(id="11", incident=1, minutes=0, note="PLN datang"), siti),  # woken by a person
        (1, Assign(id="12", incident=1, to=Owner(name="Rahmat", agency="Bawaslu")), siti),
        (1, Assign(id="13", incident=1, to=None), siti),
        (1, SeverityChange(id="14", incident=1, severity="high", note="massa bubar"), siti),
        (1, Report(id="15", incident=draft(regency="6303", location="Pasar", severity="critical", title="Kotak hilang")), siti),
        (20, "escalate", None),  # automatic
        (1, Snooze(id="16", incident=2, minutes=5, note="tunggu"), siti),
        (6, "wake", None),  # open: a new deadline
        (1, Report(id="17", incident=draft(regency="6303", location="Gudang", title="Surat suara basah")), siti),
        (1, Merge(id="18", incident=3, into=1, note="Sama"), siti),
        (1, Report(id="19", incident=draft(regency="6303", location="Gudang 2", title="Tinta habis")), siti),
        (1, Merge(id="20", incident=4, into=2), siti),
        (1, Resolve(id="21", incident=1, note="Selesai — lampu menyala"), siti),
        (1, Reopen(id="22", incident=1, note="padam lagi"), siti),
        (1, StageUpdate(id="23", regency="6371", stage="rekap_ppk", done=2, note="dua kecamatan"), siti),
        (1, StageUpdate(id="24", regency="6371", stage="rekap_ppk", blocked=True), siti),
    ]
    for minutes, step, actor in steps:
        now += timedelta(minutes=minutes)
        if step == "wake":
            for decision in due_wakeups(state, now, rules):
                commit(decision, SYSTEM)
        elif step == "escalate":
            for decision in due_escalations(state, now, rules):
                commit(decision, SYSTEM)
        else:
            assert actor is not None
            do(step, actor)
    return lines


def old_digest(line: str) -> str:
    """docs/protocol.md's event digest, worked out from the frame's JSON as sent."""
    body = json.loads(line)
    body.pop("type")
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()[:16]


def test_the_domain_writes_the_same_bytes_as_the_untyped_version() -> None:
    assert scenario() == LINES[:DECIDED]


def test_the_golden_log_covers_every_kind_and_an_unknown_one() -> None:
    kinds = {json.loads(line)["kind"] for line in LINES}
    assert kinds == set(PAYLOAD_TYPES) | {"incident.tagged"}


def test_every_stored_event_reads_back_as_the_same_json_and_digest() -> None:
    for line in LINES:
        event = decode_server(line)
        assert isinstance(event, Event)
        assert encode(event).decode() == line
        assert event_digest(event) == old_digest(line)
        assert isinstance(event.data, dict) == (event.kind == "incident.tagged")


def test_a_batch_with_an_unknown_kind_still_decodes_every_event() -> None:
    events = [convert_event(json.loads(line)) for line in LINES]
    frame = encode(Batch(events=events))
    batch = decode_server(frame)
    assert isinstance(batch, Batch) and encode(batch) == frame
    assert batch.events[-1].data == {"incident": 9, "tags": ["listrik"], "z": {"b": 1, "a": 2}}
    known = decode_server(encode(Batch(events=events[:-1])))  # the one-pass way
    assert isinstance(known, Batch) and [encode(e) for e in known.events] == [encode(e) for e in events[:-1]]


def test_the_golden_log_folds_like_the_untyped_version_folded_it() -> None:
    events = [convert_event(json.loads(line)) for line in LINES]
    state = fold(State(), events[:-1])
    before = state.as_builtins()
    apply(state, events[-1])  # a kind this version does not know folds as nothing
    assert state.as_builtins() == {**before, "seq": 43}
    assert (state.exercise_state, state.sitrep_number, state.sitrep_until, state.sitrep_seq) == ("paused", 1, "2024-02-14T15:10:15.000Z", 42)
    old = state.incidents[9]  # reported before the triage fields; reopened without deadlines; then a chain's repeat
    assert (old.reports, old.owner, old.status, old.ack_due) == (1, None, "open", "2024-02-14T15:19:00.000Z")
    assert (old.level, old.repeats, old.escalate_due) == (2, 1, "2024-02-14T15:38:00.000Z")  # notifications change nothing
    one = state.incidents[1]
    assert one.status == "open" and one.reports == 4 and one.severity == "high"  # two repeats, and the merged incident's own
    assert [n.kind for n in one.notes][-3:] == ["merged", "resolved", "reopened"]
    assert state.incidents[3].merged_into == 1 and state.incidents[4].merged_into == 2
    row = state.stages[("6371", "rekap_ppk")]
    assert (row.done, row.status) == (2, "blocked")


def test_one_function_says_which_incident_an_event_concerns() -> None:
    events = [convert_event(json.loads(line)) for line in LINES]
    for event in events:
        if isinstance(event.data, IncidentReported):
            assert concerns(event) == event.data.id and touches(event) == (event.data.id,)
        elif isinstance(event.data, IncidentMerged):
            assert concerns(event) == event.data.incident and touches(event) == (event.data.incident, event.data.into)
        elif event.kind.startswith(("incident.", "notification.")) and not isinstance(event.data, dict):
            assert concerns(event) == json.loads(encode(event))["data"]["incident"]
        else:  # stage, token and config events, and an unknown kind
            assert concerns(event) is None and touches(event) == ()


def test_a_payload_that_does_not_fit_its_kind_is_refused_naming_the_field() -> None:
    with pytest.raises(msgspec.ValidationError, match="missing required field `text`"):
        decode_payload("incident.noted", b'{"incident": 1}')
    with pytest.raises(BadMessage, match=r"Expected `int`, got `str` - at `\$.data.incident`"):
        decode_server('{"type":"event","seq":1,"ts":"t","kind":"incident.acknowledged","actor":{"name":"x"},"data":{"incident":"1"}}')
    with pytest.raises(BadMessage, match=r"Expected `object`, got `array` - at `\$.events\[1\].data`"):
        decode_server('{"type":"batch","events":[' + LINES[0] + ',{"type":"event","seq":2,"ts":"t","kind":"incident.noted","actor":{"name":"x"},"data":[]}]}')
    assert decode_payload("stage.updated", LINES[DECIDED - 1].split('"data":', 1)[1][:-1]) == StageUpdated(
        regency="6371", stage="rekap_ppk", status="blocked", done=2, total=5, note=None, updated="2024-02-14T14:19:00.000Z"
    )


async def test_both_stores_give_back_the_bytes_they_were_given(databases: Databases) -> None:
    events = [convert_event(json.loads(line)) for line in LINES]
    async with open_store(databases.url()) as store:
        await store.commit(WriteBatch([(event, concerns(event), None) for event in events]))
        assert [encode(e).decode() for e in await store.events_since(0)] == LINES
        timeline = [e.seq for e in await store.incident_events(1)]
        assert timeline == [e.seq for e in events if 1 in touches(e)]  # its own, and the merge into it
        assert any(isinstance(e.data, IncidentMerged) and e.data.into == 1 for e in events if e.seq in timeline)


# --- format_ts: the faster one writes what the old one wrote ------------------------------------


def _format_ts_before(moment: datetime) -> str:
    """format_ts as it was until 2026-12-07 (strftime), kept as the reference."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),  # noqa: DTZ001 (hypothesis takes naive bounds)
        max_value=datetime(9999, 12, 30),  # noqa: DTZ001
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))]),
    )
)
@settings(max_examples=2000, deadline=None)
def test_format_ts_writes_what_strftime_wrote_for_any_moment(moment: datetime) -> None:
    assert format_ts(moment) == _format_ts_before(moment)


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 12, 7, 0, 0, 0, 999, tzinfo=UTC),  # under a millisecond: .000
        datetime(2026, 12, 7, 7, 59, 59, 999999, tzinfo=timezone(timedelta(hours=8))),  # WITA, the day before in UTC
        datetime(999, 1, 1, 12, 0, tzinfo=UTC),  # strftime does not pad the year
        datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC),
    ],
)
def test_format_ts_edges(moment: datetime) -> None:
    assert format_ts(moment) == _format_ts_before(moment)
