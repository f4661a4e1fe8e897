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
        assert [line for line in saved.splitlines() if "Berita acara dibuat." in line], fmt
        assert not [line for line in saved.splitlines() if "Batulicin." in line and "Korban" in line], fmt
    md = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert "\n  Korban dirawat di Puskesmas.  \n" in md  # a line of the list item, not a paragraph of its own


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
        assert "Batulicin.\nKorban dirawat di Puskesmas." in preview
