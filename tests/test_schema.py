"""The generated JSON Schema in docs/protocol.md: up to date with the code, and
true of what the server really sends and accepts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from opsmon.core.schema import BEGIN, COMMAND, END, main, schema, updated
from opsmon.core.wire import BadMessage, decode_client
from tests.helpers import Running
from tests.wire import Peer, report

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "protocol.md"
GOLDEN = Path(__file__).parent / "golden" / "events-v1.jsonl"


def test_docs_protocol_md_holds_the_schema_of_the_code() -> None:
    document = DOCS.read_text(encoding="utf-8")
    assert BEGIN in document and END in document
    assert updated(document) == document, f"docs/protocol.md is out of date with opsmon/core/protocol.py: run `{COMMAND}`"


def test_check_says_which_command_to_run_and_write_brings_the_file_up_to_date(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "protocol.md"
    stale.write_text(f"# Protocol\n\nprose\n\n{BEGIN}\n```json\n{{}}\n```\n{END}\n\nmore prose\n", encoding="utf-8")
    assert main(["--check", str(stale)]) == 1
    assert COMMAND in capsys.readouterr().err
    assert main(["--write", str(stale)]) == 0
    text = stale.read_text(encoding="utf-8")
    assert text.startswith("# Protocol\n\nprose\n\n") and text.endswith(f"{END}\n\nmore prose\n") and '"ServerMessage"' in text
    assert main(["--check", str(stale)]) == 0
    unmarked = tmp_path / "other.md"
    unmarked.write_text("# no markers\n", encoding="utf-8")
    assert main(["--write", str(unmarked)]) == 2
    assert "markers" in capsys.readouterr().err and unmarked.read_text(encoding="utf-8") == "# no markers\n"


def test_every_event_kind_has_its_typed_data_in_the_schema() -> None:
    defs = schema()["$defs"]
    escalated = defs["IncidentEscalated"]
    assert escalated["required"] == ["incident", "level"] and set(escalated["properties"]) == {
        "incident",
        "level",
        "note",
        "escalate_due",
        "repeat",
        "final",
        "notify",
    }
    event_refs = {ref["$ref"].rsplit("/", 1)[1] for ref in defs["Event"]["oneOf"]}
    assert {"IncidentReportedEvent", "IncidentMergedEvent", "StageUpdatedEvent", "TokenAddedEvent", "ConfigChangedEvent", "OtherEvent"} <= event_refs
    assert defs["IncidentDraft"]["properties"]["title"]["maxLength"] == 200


def validator(part: str) -> Any:
    """A validator of one of the schema's definitions (ClientMessage, ServerMessage).
    jsonschema is a test dependency (pyproject's [test]): without it these skip."""
    jsonschema = pytest.importorskip("jsonschema")
    return jsonschema.Draft202012Validator({"$defs": schema()["$defs"], "$ref": f"#/$defs/{part}"})


def test_the_schema_is_a_valid_json_schema() -> None:
    validator("ServerMessage").check_schema(schema())


def test_every_stored_event_kind_fits_the_schema_and_a_misfit_does_not() -> None:
    server = validator("ServerMessage")
    for line in GOLDEN.read_text(encoding="utf-8").splitlines():
        server.validate(json.loads(line))  # the unknown kind too, as an OtherEvent
    noted = json.loads(GOLDEN.read_text(encoding="utf-8").splitlines()[5])
    assert noted["kind"] == "incident.noted"
    del noted["data"]["text"]
    assert not server.is_valid(noted)  # a known kind with the wrong data is no OtherEvent either


async def test_what_the_server_sends_in_a_session_fits_the_schema(server: Running) -> None:
    check = validator("ServerMessage")
    officer = await Peer.open(server, server.tokens["officer"])
    first = await officer.command("report", **report(location="TPS 1"))
    await officer.command("report", **report(location="TPS 1", severity="critical"))  # folded in
    await officer.command("note", incident=first["incident"], text="catatan")
    await officer.command("snooze", incident=first["incident"], minutes=10, note="tunggu")
    await officer.command("assign", incident=first["incident"], to={"name": "Rahmat", "agency": "Bawaslu"})
    await officer.command("stage", regency="6371", stage="rekap_ppk", done=1)
    refused = await officer.command("ack", incident=99)
    history = await officer.command("history", incident=first["incident"])
    await officer.send("not json")
    error = await officer.until(lambda f: f.get("type") == "error")
    await officer.wait_events(6)
    viewer = await Peer.open(server, server.tokens["wall"], epoch=officer.welcome["epoch"], since=0)  # a resume: a batch
    await viewer.wait_events(6)
    frames = [officer.welcome, officer.snapshot, refused, history, error, *officer.frames, *officer.events, viewer.welcome]
    for frame in frames:
        check.validate(frame)
    assert history["events"] and refused["ok"] is False


CLIENT_FRAMES = [
    {"type": "hello", "token": "t", "client": "opsmon-tui/0.1", "epoch": None, "since": None},
    {"type": "hello", "token": "t", "epoch": "e", "since": 4, "digest": "2f0e4fd9605e3fb6"},
    {"type": "report", "id": "r-1", "incident": {"regency": "6371", "category": "logistik", "severity": "high", "title": "Kotak suara rusak"}},
    {"type": "stage", "id": "s", "regency": "6372", "stage": "rekap_ppk", "blocked": True, "note": "Listrik padam"},
    {"type": "snooze", "id": "c1", "incident": 17, "minutes": 30, "note": "Menunggu PLN"},
    {"type": "assign", "id": "c4", "incident": 17, "to": None},
    {"type": "severity", "id": "c5", "incident": 17, "severity": "critical", "note": "Massa berkumpul"},
    {"type": "merge", "id": "c7", "incident": 18, "into": 17, "note": "Gardu yang sama"},
    {"type": "history", "id": "h", "incident": 17},
]
BAD_CLIENT_FRAMES = [
    {"type": "ack", "id": "a", "incident": 0},
    {"type": "ack", "id": "", "incident": 1},
    {"type": "report", "id": "r", "incident": {"regency": "6371", "category": "x", "severity": "high", "title": "t" * 201}},
    {"type": "snooze", "id": "s", "incident": 1, "minutes": 1441, "note": "x"},
    {"type": "resolve", "id": "r", "incident": 1},
    {"type": "teleport", "id": "t"},
]


@pytest.mark.parametrize("frame", CLIENT_FRAMES, ids=lambda f: f["type"])
def test_a_command_the_server_takes_fits_the_schema(frame: dict[str, Any]) -> None:
    decode_client(json.dumps(frame))
    validator("ClientMessage").validate(frame)


@pytest.mark.parametrize("frame", BAD_CLIENT_FRAMES, ids=lambda f: f["type"])
def test_a_command_the_server_refuses_as_malformed_does_not_fit_the_schema(frame: dict[str, Any]) -> None:
    with pytest.raises(BadMessage):
        decode_client(json.dumps(frame))
    assert not validator("ClientMessage").is_valid(frame)
