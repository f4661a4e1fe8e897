"""Issue 20, defects 4 to 7 against a real server: a note's line breaks survive
every output, progress never goes backwards silently, no stale deadline is
shown, and every screen says one status word for an incident."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from opsmon.core.clock import format_ts
from opsmon.core.domain import decide
from opsmon.core.fold import apply
from opsmon.core.protocol import Event, Note
from opsmon.core.text import PLACEHOLDER
from opsmon.training.sample_night import BUDI, NOW
from opsmon.tui.widgets.queue import IncidentQueue
from tests.helpers import FakeClock, Running
from tests.nights import sitrep_night
from tests.server_thread import ServerThread, opsmon
from tests.world import RULES

NOTE = "Jalan ke TPS 7 tertutup pohon tumbang di Batulicin.\nKorban dirawat di Puskesmas."


def _report(live: ServerThread, capsys: pytest.CaptureFixture[str], severity: str = "critical", title: str = "Kericuhan di PPK") -> int:
    assert opsmon(live, "report", "--regency", "6310", "--category", "keamanan", "--severity", severity, "--title", title) == 0
    return int(capsys.readouterr().out.strip())


# --- defect 4: a note's line breaks ---------------------------------------------------------------


def test_a_notes_line_breaks_survive_show_and_every_sitrep_format(live: ServerThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = _report(live, capsys)
    second = _report(live, capsys, severity="high", title="Kotak suara rusak")
    assert opsmon(live, "note", str(first), "--text", NOTE + "\x1b[31m") == 3  # a control character is still refused at the edge
    capsys.readouterr()
    assert opsmon(live, "note", str(first), "--text", NOTE) == 0
    assert opsmon(live, "resolve", str(second), "--note", "Kotak diganti.\nBerita acara dibuat.") == 0
    capsys.readouterr()

    assert opsmon(live, "show", str(first)) == 0
    shown = capsys.readouterr().out
    assert PLACEHOLDER not in shown
    lines = shown.splitlines()
    at = next(n for n, line in enumerate(lines) if line.endswith("Batulicin."))
    assert lines[at + 1].strip() == "Korban dirawat di Puskesmas."
    assert lines[at + 1].startswith(" " * 8)  # under the note, not a line of its own

    assert opsmon(live, "sitrep", "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    urgent = next(i for i in doc["incidents"]["open_urgent"] if i["id"] == first)
    assert urgent["last_note"]["text"] == NOTE
    assert doc["incidents"]["resolved"][0]["note"] == "Kotak diganti.\nBerita acara dibuat."

    for fmt in ("text", "md"):
        out = tmp_path / f"r.{fmt}"
        assert opsmon(live, "sitrep", "--format", fmt, "--since", "2000-01-01T00:00:00Z", "-o", str(out)) == 0
        saved = out.read_text(encoding="utf-8")
        assert PLACEHOLDER not in saved, fmt
        assert [line for line in saved.splitlines() if "Korban dirawat di Puskesmas." in line], fmt
        assert not [line for line in saved.splitlines() if "Batulicin." in line and "Korban" in line], fmt
    md = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert "\n  Korban dirawat di Puskesmas.  \n" in md  # a line of the list item, not a paragraph of its own
    text = (tmp_path / "r.text").read_text(encoding="utf-8").splitlines()
    at = next(n for n, line in enumerate(text) if line.endswith("Batulicin."))
    assert text[at].startswith("Catatan ") and text[at + 1] == "  Korban dirawat di Puskesmas."  # indented under the note
    assert "Berita acara dibuat." not in "\n".join(text)  # the text names what was resolved; the resolution is in the md and pdf
    assert "\n  Berita acara dibuat.  \n" in md

    # The PDF: the note's second line starts to the right of its first, not at the margin.
    pdfium = pytest.importorskip("pypdfium2", reason="pypdfium2 is in the test extra: pip install -e '.[test]'")
    assert opsmon(live, "sitrep", "--format", "pdf", "--since", "2000-01-01T00:00:00Z", "-o", str(tmp_path / "r.pdf")) == 0
    pages = pdfium.PdfDocument((tmp_path / "r.pdf").read_bytes())
    indents = []
    for page in pages:
        textpage = page.get_textpage()
        whole = textpage.get_text_range()
        for first, second in (("Catatan ", "Korban dirawat"), ("Penyelesaian: ", "Berita acara")):
            later = whole.find(second)
            if later >= 0:
                start = whole.rfind(first, 0, later)  # the line the note starts on
                indents.append(textpage.get_charbox(later)[0] - textpage.get_charbox(start)[0])  # left edges, in points
    assert len(indents) == 2 and all(indent > 5 for indent in indents), indents  # indented, not a new line at the margin


async def test_the_sitrep_preview_keeps_a_notes_line_breaks() -> None:
    from opsmon.tui.app import OpsmonApp
    from opsmon.tui.screens.sitrep import SitrepScreen

    welcome, state, events = sitrep_night()
    urgent = min((i for i in state.incidents.values() if i.severity == "critical" and i.status != "resolved"), key=lambda i: i.id)
    decision = decide(state, Note(id="n", incident=urgent.id, text=NOTE), BUDI, None, NOW - timedelta(minutes=1), RULES)
    events.append(Event.of(state.seq + 1, format_ts(NOW - timedelta(minutes=1)), BUDI, decision.payload))
    apply(state, events[-1])
    app = OpsmonApp.with_state(welcome, state, clock=lambda: NOW, events=events)
    async with app.run_test(size=(100, 60)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("p")
        await pilot.pause(0.2)
        assert isinstance(app.screen, SitrepScreen)
        preview = str(app.screen.query_one("#sitrep-text").render())
        assert PLACEHOLDER not in preview
        assert "Batulicin.\n  Korban dirawat di Puskesmas." in preview  # its later line under the first


# --- defect 5: progress never goes backwards, and a block never clears, silently ------------------


def _stage(live: ServerThread, *args: str) -> int:
    return opsmon(live, "stage", "--regency", "6301", "--stage", "penghitungan", *args)


def test_a_lower_count_or_a_lifted_block_is_refused_unless_it_says_it_corrects(live: ServerThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def row() -> tuple[int, str, str | None]:
        found = live.state().stages[("6301", "penghitungan")]
        return found.done, found.status, found.note

    assert _stage(live, "--done", "977") == 0
    capsys.readouterr()
    # A restarted feeder resending an older count: refused, and it says why.
    assert _stage(live, "--done", "541") == 3
    err = capsys.readouterr().err
    assert "977" in err and "541" in err and "--correct" in err
    assert row() == (977, "in_progress", None)

    assert _stage(live, "--blocked", "--note", "Listrik padam") == 0
    capsys.readouterr()
    # The feeder's next plain count does not clear the officer's block.
    assert _stage(live, "--done", "980") == 3
    err = capsys.readouterr().err
    assert "TERHAMBAT" in err or "blocked" in err
    assert "Listrik padam" in err
    assert row() == (977, "blocked", "Listrik padam")

    # A correction needs a note, locally and at the server.
    assert _stage(live, "--done", "541", "--correct") == 2
    assert "--note" in capsys.readouterr().err
    assert opsmon(live, "import", str(_jsonl(tmp_path, {"type": "stage", "regency": "6301", "stage": "penghitungan", "done": 541, "correct": True}))) != 0
    capsys.readouterr()
    assert row() == (977, "blocked", "Listrik padam")

    assert _stage(live, "--done", "541", "--correct", "--note", "Salah ketik: 541 TPS, bukan 977") == 0
    assert "correction" in capsys.readouterr().out
    assert row() == (541, "in_progress", "Salah ketik: 541 TPS, bukan 977")
    assert _stage(live, "--done", "600") == 0  # counts up again as usual
    capsys.readouterr()

    # Shown as a correction: in the log's summary and in the sitrep, every format.
    assert opsmon(live, "sitrep", "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    fixes = doc["progress"]["corrections"]
    assert [(f["from"], f["from_status"], f["to"], f["note"]) for f in fixes] == [(977, "blocked", 541, "Salah ketik: 541 TPS, bukan 977")]
    for fmt, lang, word in (("text", "id", "KOREKSI"), ("md", "en", "CORRECTION")):
        out = tmp_path / f"r.{fmt}"
        assert opsmon(live, "sitrep", "--format", fmt, "--lang", lang, "--since", "2000-01-01T00:00:00Z", "-o", str(out)) == 0
        line = next(line for line in out.read_text(encoding="utf-8").splitlines() if word in line)
        assert "977" in line and "541" in line and "Salah ketik" in line, line


def _jsonl(tmp_path: Path, *lines: dict) -> Path:  # type: ignore[type-arg]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


# --- defect 6: no stale deadline -----------------------------------------------------------------


def test_show_says_no_ack_due_once_acknowledged_even_after_a_severity_change(live: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    incident = _report(live, capsys)
    assert opsmon(live, "show", str(incident)) == 0
    assert "ack due" in capsys.readouterr().out  # open: the deadline is owed
    assert opsmon(live, "ack", str(incident)) == 0
    assert opsmon(live, "severity", str(incident), "high", "--note", "Sudah terkendali") == 0
    capsys.readouterr()
    assert live.state().incidents[incident].ack_due is not None  # the record still has one ...
    assert opsmon(live, "show", str(incident)) == 0
    shown = capsys.readouterr().out
    assert "ack due" not in shown and "next escalation" not in shown, shown  # ... but nothing is due


async def test_the_detail_screen_shows_no_batas_ack_once_acknowledged(server: Running, clock: FakeClock) -> None:
    from textual.widgets import Static

    from opsmon.core.protocol import Ack, SeverityChange
    from tests.tui_helpers import act, client, queue_of, report, until

    (incident,) = await report(server, clock, [("6371", "critical", "Kericuhan di PPK")])
    await act(server, "admin", Ack(id="a", incident=incident))
    await act(server, "admin", SeverityChange(id="s", incident=incident, severity="high", note="Sudah terkendali"))
    async with client(server, clock, 1) as (app, pilot):
        queue_of(app).select_incident(incident)
        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ == "IncidentScreen")
        facts = _rendered(app.screen.query_one("#detail-facts", Static).content)
        assert "ACK" in facts and "Batas ack" not in facts, facts


def _rendered(content: object) -> str:
    import io

    from rich.console import Console

    console = Console(width=160, record=True, file=io.StringIO())
    console.print(content)
    return console.export_text()


# --- defect 7: one status word on every screen --------------------------------------------------


async def test_every_screen_and_opsmon_list_say_the_same_status_word(server: Running, clock: FakeClock, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from opsmon.cli import main
    from opsmon.core.protocol import Merge, Snooze
    from opsmon.tui.app import OpsmonApp
    from opsmon.tui.widgets.status import Ticker
    from tests.tui_helpers import SIZE, act, client, queue_of, report, until

    live, later, repeat = await report(server, clock, [("6371", "medium", "Kericuhan"), ("6371", "high", "Kotak rusak"), ("6371", "medium", "Kericuhan lagi")])
    await act(server, "admin", Snooze(id="z", incident=later, minutes=60, note="Menunggu PLN"))
    await act(server, "admin", Merge(id="m", incident=repeat, into=live, note="Kejadian yang sama"))
    words = {live: "NEW", later: "SNOOZED", repeat: "MERGED"}

    # opsmon list: the same word (in English, lower case; snoozed and merged say until when / into which)
    code = await asyncio.to_thread(main, ["list", "--status", "all", "--url", server.url, "--token", server.tokens["officer"]])
    assert code == 0
    listed = {int(line.split()[0]): line.split()[1] for line in capsys.readouterr().out.splitlines()[1:]}
    assert {n: w.split(">")[0].replace("open", "new").upper() for n, w in listed.items()} == words

    async with client(server, clock, 3, lang="en") as (app, pilot):
        queue = queue_of(app)
        for incident, word in words.items():
            row = queue._row_text(queue.incidents[queue.incident_ids.index(incident)], queue.size.width).plain
            assert word in row, row
        # The count says what it counts: open work, not the merged row it also lists.
        assert "(2 not resolved)" in str(app.dashboard.query_one("#queue-title").render())
        queue.select_incident(later)
        await pilot.press("d")
        await until(pilot, lambda: type(app.screen).__name__ == "RegencyScreen")
        mine = app.screen.query_one(IncidentQueue)  # the regency's own queue, with the dashboard's keys
        await until(pilot, lambda: later in mine.incident_ids)
        row = mine._row_text(mine.incidents[mine.incident_ids.index(later)], mine.size.width).plain
        assert "SNOOZED" in row and "NEW" not in row, row

    wall = OpsmonApp(url=server.url, token=server.tokens["wall"], clock=clock, lang="en")
    async with wall.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: wall.welcome is not None and wall.repaints > 1)
        ticker = wall.dashboard.query_one(Ticker)
        await until(pilot, lambda: f"{len(words)}" and "MERGED" in str(ticker.render()))
        for line in str(ticker.render()).splitlines():
            incident = next(n for n, t in ((live, "Kericuhan"), (later, "Kotak rusak"), (repeat, "Kericuhan lagi")) if line.rstrip().endswith(t))
            assert words[incident] in line, line


@pytest.mark.parametrize("scenario", ["hari-h", "rekap"])
def test_a_generated_night_never_trips_on_the_correction_rule(scenario: str) -> None:
    """Every stage update a scenario plays is accepted in order: its steps back
    (an inject's lower count) and its lifted blocks are sent as corrections."""
    from opsmon.core.events import StageUpdated
    from opsmon.training.night import generate
    from tests.helpers import province
    from tests.world import World

    w = World()
    corrections = 0
    for seed in (1, 2, 3):
        w = World()
        for n, sim in enumerate(c for c in generate(province(), scenario, seed) if c.kind == "stage"):
            event = w.do(sim.to_command(f"s{n}"))  # a refusal raises DomainError
            assert isinstance(event.data, StageUpdated)
            corrections += event.data.correction
    assert corrections > 0  # the rule is exercised, not avoided


async def test_the_regency_screen_says_a_correction_as_one(server: Running, clock: FakeClock) -> None:
    from textual.widgets import Static

    from opsmon.core.protocol import StageUpdate
    from tests.tui_helpers import act, client, until

    async with client(server, clock, 0) as (app, pilot):
        await act(server, "admin", StageUpdate(id="s1", regency="6301", stage="penghitungan", done=977))
        await act(server, "admin", StageUpdate(id="s2", regency="6301", stage="penghitungan", blocked=True, note="Listrik padam"))
        await act(server, "admin", StageUpdate(id="s3", regency="6301", stage="penghitungan", done=541, correct=True, note="Salah ketik"))
        await until(pilot, lambda: app.state.stages[("6301", "penghitungan")].done == 541)
        await pilot.press("1", "d")
        await until(pilot, lambda: type(app.screen).__name__ == "RegencyScreen")
        facts = _rendered(app.screen.query_one("#regency-facts", Static).content)
        line = next(line for line in facts.splitlines() if "KOREKSI" in line)
        assert "977 TERHAMBAT menjadi 541" in line and "Salah ketik" in line, facts
