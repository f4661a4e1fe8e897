"""Wire messages: parsing client frames, encoding server frames, no sockets."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import msgspec
import pytest

from opsmon.core.clock import format_ts, parse_ts
from opsmon.core.events import IncidentAcknowledged, IncidentNoted
from opsmon.core.protocol import Ack, Batch, Error, Escalate, Event, Hello, History, Note, Reopen, Report, Resolve, Result, StageUpdate
from opsmon.core.records import Actor
from opsmon.core.wire import BadMessage, decode_client, decode_server, encode


def frame(**fields: object) -> str:
    return json.dumps(fields)


REPORT = {"regency": "6371", "category": "logistik", "severity": "high", "title": "Kotak suara rusak"}


def test_every_command_parses() -> None:
    assert decode_client(frame(type="hello", token="t", client="x", epoch=None, since=None)) == Hello(token="t", client="x")
    report = decode_client(frame(type="report", id="c1", incident={**REPORT, "detail": "d", "location": "TPS 012"}))
    assert isinstance(report, Report) and report.incident.location == "TPS 012" and report.incident.detail == "d"
    assert decode_client(frame(type="ack", id="c2", incident=3)) == Ack(id="c2", incident=3)
    assert decode_client(frame(type="escalate", id="c3", incident=3)) == Escalate(id="c3", incident=3, note=None)
    assert decode_client(frame(type="note", id="c4", incident=3, text="x")) == Note(id="c4", incident=3, text="x")
    assert decode_client(frame(type="resolve", id="c5", incident=3, note="x")) == Resolve(id="c5", incident=3, note="x")
    assert decode_client(frame(type="reopen", id="c6", incident=3, note="x")) == Reopen(id="c6", incident=3, note="x")
    stage = decode_client(frame(type="stage", id="c7", regency="6371", stage="rekap_ppk", done=2, blocked=True))
    assert stage == StageUpdate(id="c7", regency="6371", stage="rekap_ppk", done=2, note=None, blocked=True)
    assert decode_client(frame(type="history", id="c8", incident=3)) == History(id="c8", incident=3)
    # Bytes work as well as text; unknown extra fields are tolerated (protocol may grow).
    assert decode_client(frame(type="ack", id="c9", incident=1, extra=True).encode()) == Ack(id="c9", incident=1)


def test_round_trip_of_client_messages() -> None:
    for message in (Ack(id="a", incident=1), StageUpdate(id="s", regency="6371", stage="logistik", done=0), Hello(token="t", epoch="e", since=4)):
        assert decode_client(encode(message)) == message


@pytest.mark.parametrize(
    ("raw", "says", "command_id"),
    [
        ("{not json", "not valid JSON", None),
        ("", "not valid JSON", None),
        ("[1, 2]", "JSON object", None),
        ('"hello"', "JSON object", None),
        (frame(id="c1", incident=1), "missing field `type`", "c1"),
        (frame(type=7, id="c1"), "`type` must be a string", "c1"),
        (frame(type="shout", id="c1"), "unknown message type 'shout'", "c1"),
        (frame(type="shout"), "unknown message type", None),
        (frame(type="ack", id="c1", incident="one"), "Expected `int`, got `str` - at `incident`", "c1"),
        (frame(type="ack", id="c1", incident=0), "incident", "c1"),
        (frame(type="ack", id="c1"), "missing required field `incident`", "c1"),
        (frame(type="stage", id="c1", regency="6371", stage="x", done=-1), "done", "c1"),
        (frame(type="stage", id="c1", regency="6371", stage="x", done=1, blocked="yes"), "blocked", "c1"),
        (frame(type="report", id="c1", incident={**REPORT, "title": "x" * 201}), "incident.title", "c1"),
        (frame(type="report", id="c1", incident={**REPORT, "title": ""}), "incident.title", "c1"),
        (frame(type="report", id="c1", incident={**REPORT, "detail": "x" * 4001}), "incident.detail", "c1"),
        (frame(type="report", id="c1", incident={k: v for k, v in REPORT.items() if k != "severity"}), "severity", "c1"),
        (frame(type="note", id="c1", incident=1, text="x" * 4001), "text", "c1"),
        (frame(type="resolve", id="c1", incident=1), "note", "c1"),
        (frame(type="resolve", id="c1", incident=1, note=""), "note", "c1"),
        (frame(type="escalate", id="c1", incident=1, note="x" * 4001), "note", "c1"),
        (frame(type="ack", incident=1), "missing required field `id`", None),
        (frame(type="ack", id="", incident=1), "id", None),
        (frame(type="ack", id="x" * 65, incident=1), "id", None),
        (frame(type="ack", id=5, incident=1), "id", None),
        (frame(type="hello"), "token", None),
    ],
)
def test_bad_frames_say_what_is_wrong(raw: str, says: str, command_id: str | None) -> None:
    with pytest.raises(BadMessage) as caught:
        decode_client(raw)
    assert says in str(caught.value)
    assert caught.value.command_id == command_id


def test_limits_are_inclusive() -> None:
    report = decode_client(frame(type="report", id="x" * 64, incident={**REPORT, "title": "t" * 200, "detail": "d" * 4000}))
    assert isinstance(report, Report) and len(report.id) == 64
    assert isinstance(decode_client(frame(type="note", id="n", incident=1, text="t" * 4000)), Note)


def test_server_messages_decode_both_event_forms() -> None:
    event = Event(
        seq=1, ts="2024-02-14T13:00:00.000Z", kind="incident.acknowledged", actor=Actor(name="Siti", agency="KPU"), data=IncidentAcknowledged(incident=1)
    )
    assert decode_server(encode(event)) == event
    batch = Batch(events=[event, Event(seq=2, ts=event.ts, kind="incident.noted", actor=Actor(name="system"), data=IncidentNoted(incident=1, text="x"))])
    decoded = decode_server(encode(batch))
    assert isinstance(decoded, Batch) and [e.seq for e in decoded.events] == [1, 2]
    # The system actor has no agency on the wire.
    assert json.loads(encode(Actor(name="system"))) == {"name": "system"}
    with pytest.raises(BadMessage):
        decode_server(b'{"type": "nonsense"}')


def test_result_and_error_on_the_wire() -> None:
    assert json.loads(encode(Result(id="c1", ok=True, seq=43, incident=17))) == {"type": "result", "id": "c1", "ok": True, "seq": 43, "incident": 17}
    refused = json.loads(encode(Result(id="c1", ok=False, code="forbidden", message="no")))
    assert refused == {"type": "result", "id": "c1", "ok": False, "code": "forbidden", "message": "no"}
    assert json.loads(encode(Error(code="bad_message", message="x"))) == {"type": "error", "code": "bad_message", "message": "x"}


def test_timestamps_are_rfc3339_utc_with_z() -> None:
    moment = datetime(2024, 2, 14, 14, 5, 9, 123456, tzinfo=UTC)
    assert format_ts(moment) == "2024-02-14T14:05:09.123Z"
    assert parse_ts("2024-02-14T14:05:09.123Z") == moment.replace(microsecond=123000)
    wita = moment.astimezone(msgspec.json.decode(b'"2024-02-14T22:05:09+08:00"', type=datetime).tzinfo)
    assert format_ts(wita) == "2024-02-14T14:05:09.123Z"
