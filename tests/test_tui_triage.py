"""Triage in the terminal client, against the real server, with real key presses:
repeats as one row (×N), snooze with a minutes prompt, take/assign, severity,
un-ack, merge, bulk actions on marked rows, the owner column, the "mine"
filter, and dialogs that keep what was typed when the server refuses."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console
from textual.widgets import Static

from opsmon.client.session import Session
from opsmon.core.protocol import IncidentDraft, Report, Snooze
from opsmon.core.records import Actor
from opsmon.tui.app import OpsmonApp
from tests.helpers import FakeClock, Running
from tests.tui_helpers import act, client, queue_of, settle, until


async def seed(server: Running, clock: FakeClock, reports: list[tuple[str, str, str, str]], token: str = "admin") -> list[int]:
    """Report (regency, severity, title, location); returns the incident each landed in."""
    session = await Session.open(server.url, server.tokens[token])
    ids = []
    try:
        for n, (regency, severity, title, location) in enumerate(reports):
            draft = IncidentDraft(regency=regency, category="logistik", severity=severity, title=title, location=location)
            result = await session.request(Report(id=f"seed-{n}", incident=draft))
            assert result.ok, result
            ids.append(result.incident)
            clock.advance(minutes=1)
    finally:
        await session.close()
    return ids


def row_of(app: OpsmonApp, incident_id: int) -> str:
    queue = queue_of(app)
    row = queue.incident_ids.index(incident_id)
    return "".join(segment.text for segment in queue._strip(queue._row_text(queue.incidents[row], queue.size.width), queue.size.width, None))


def rendered(content: Any) -> str:
    console = Console(width=160, record=True, file=io.StringIO())
    console.print(content)
    return console.export_text()


def select(app: OpsmonApp, incident_id: int) -> None:
    queue_of(app).select_incident(incident_id)


async def mark(pilot: Any, app: OpsmonApp, ids: list[int]) -> None:
    for incident_id in ids:
        select(app, incident_id)
        await pilot.press("space")


async def test_repeats_are_one_row_with_a_count_and_the_detail_lists_every_report(server: Running, clock: FakeClock) -> None:
    one, again, _ = await seed(
        server, clock, [("6371", "high", "Listrik padam", "TPS 012"), ("6371", "high", "Mati lampu", "tps 012"), ("6371", "low", "Lain", "TPS 9")]
    )
    assert one == again
    await seed(server, clock, [("6371", "critical", "Padam total", "TPS 012")], token="polisi")  # a third report, from Polri
    async with client(server, clock, 2) as (app, pilot):
        assert "×3 Listrik padam" in row_of(app, one)
        select(app, one)
        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ == "IncidentScreen")
        facts = rendered(app.screen.query_one("#detail-facts", Static).content)
        assert "Laporan (3)" in facts
        for who_said in ("KPU/admin: Listrik padam", "KPU/admin: Mati lampu", "Polri/polisi: Padam total"):
            assert who_said in facts, facts
        timeline = app.screen.query_one("#detail-timeline")
        await until(pilot, lambda: "laporan ulang" in str(timeline.render()))


async def test_snooze_with_a_minutes_prompt_sorts_it_below_and_says_when_it_wakes(server: Running, clock: FakeClock) -> None:
    critical, low = await seed(server, clock, [("6371", "critical", "Kritis", "TPS 1"), ("6371", "low", "Rendah", "TPS 2")])
    async with client(server, clock, 2) as (app, pilot):
        assert queue_of(app).incident_ids == [critical, low]
        select(app, critical)
        await pilot.press("z")
        await until(pilot, lambda: type(app.screen).__name__ == "SnoozeModal")
        await pilot.press("backspace", "backspace", "4", "5", "enter")  # 45 minutes
        await pilot.press("enter")  # no note: refused in the dialog, which stays
        assert type(app.screen).__name__ == "SnoozeModal" and "wajib" in str(app.screen.query_one("#error").render())
        await pilot.press(*"Menunggu PLN", "enter")
        await until(pilot, lambda: f"#{critical} ditunda oleh Bawaslu/officer" in app.notices)
        await until(pilot, lambda: queue_of(app).incident_ids == [low, critical])  # below the live one
        row = row_of(app, critical)
        # 21:02 WITA + 45 minutes; said in words, not only by the dimming
        assert "TUNDA" in row and "[s.d. 21:47]" in row, row
        assert server.server.state.incidents[critical].snoozed_until == "2024-02-14T13:47:00.000Z"


async def test_take_assign_owner_column_and_the_mine_filter(server: Running, clock: FakeClock) -> None:
    a, b, c = await seed(server, clock, [("6371", "high", "Satu", "TPS 1"), ("6303", "high", "Dua", "TPS 2"), ("6303", "medium", "Tiga", "TPS 3")])
    async with client(server, clock, 3) as (app, pilot):
        select(app, a)
        await pilot.press("t")
        await until(pilot, lambda: f"#{a} diambil oleh Bawaslu/officer" in app.notices)
        await until(pilot, lambda: "Bawaslu/officer" in row_of(app, a))
        select(app, b)
        await pilot.press("T")  # the people the server knows, never free text: my agency's first
        await until(pilot, lambda: type(app.screen).__name__ == "PickModal")
        assert app.screen.highlighted is None  # type: ignore[attr-defined]
        await pilot.press("enter")  # nothing chosen yet: nothing happens
        await settle(pilot)
        assert type(app.screen).__name__ == "PickModal"
        await pilot.press("j", "j", "j", "j")  # Bawaslu/officer, KPU/admin, KPU/bjm, Polri/polisi
        assert app.screen.highlighted == ("polisi", "Polri")  # type: ignore[attr-defined]
        await pilot.press("enter")
        await until(pilot, lambda: server.server.state.incidents[b].owner == Actor(name="polisi", agency="Polri"))
        await until(pilot, lambda: "Polri/polisi" in row_of(app, b))
        await pilot.press("i")  # mine: only what I own
        await until(pilot, lambda: queue_of(app).incident_ids == [a])
        assert "milik saya" in str(app.dashboard.query_one("#queue-title").render())
        await pilot.press("i")
        await until(pilot, lambda: len(queue_of(app).incident_ids) == 3)
        del c


async def test_severity_unack_and_a_refused_note_dialog_keeps_the_text(server: Running, clock: FakeClock) -> None:
    (n,) = await seed(server, clock, [("6371", "low", "Rendah", "TPS 1")])
    async with client(server, clock, 1) as (app, pilot):
        await pilot.press("U", *"salah tekan", "enter")  # not acknowledged: refused
        await until(pilot, lambda: "belum di-ack" in str(app.screen.query_one("#error").render()))
        assert type(app.screen).__name__ == "NoteModal"
        assert app.screen.query_one("#note").text == "salah tekan"  # type: ignore[attr-defined]
        await pilot.press("escape", "y")  # the typed text: Esc asks before throwing it away
        await pilot.press("a")
        await until(pilot, lambda: server.server.state.incidents[n].status == "acknowledged")
        await pilot.press("U", *"salah tekan", "enter")
        await until(pilot, lambda: server.server.state.incidents[n].status == "open")
        await until(pilot, lambda: type(app.screen).__name__ == "DashboardScreen")
        await pilot.press("s")
        await until(pilot, lambda: type(app.screen).__name__ == "PickModal")
        await pilot.press("enter")  # the first: critical
        await until(pilot, lambda: type(app.screen).__name__ == "NoteModal")
        await pilot.press(*"Massa berkumpul", "enter")
        await until(pilot, lambda: server.server.state.incidents[n].severity == "critical")
        assert server.server.state.incidents[n].notes[-1].text == "Massa berkumpul"


async def test_merge_picks_the_target(server: Running, clock: FakeClock) -> None:
    a, b = await seed(server, clock, [("6371", "critical", "Padam", "TPS 1"), ("6371", "high", "Genset mati", "TPS 2")])
    async with client(server, clock, 2) as (app, pilot):
        select(app, b)
        await pilot.press("M")
        await until(pilot, lambda: type(app.screen).__name__ == "PickModal")
        await pilot.press("j", "enter")  # nothing is preselected: j to the only other one, a
        await until(pilot, lambda: server.server.state.incidents[b].merged_into == a)
        await until(pilot, lambda: "×2" in row_of(app, a))
        assert "GABUNG" in row_of(app, b) and f"→#{a}" in row_of(app, b)


async def test_bulk_on_marked_rows_gives_one_summary_of_done_and_refused(server: Running, clock: FakeClock) -> None:
    ids = await seed(server, clock, [("6371", "critical", "Satu", "TPS 1"), ("6371", "high", "Dua", "TPS 2"), ("6371", "medium", "Tiga", "TPS 3")])
    await act(server, "polisi", Snooze(id="pre", incident=ids[2], minutes=5, note="x"))
    async with client(server, clock, 3) as (app, pilot):
        await mark(pilot, app, ids[:2])
        await pilot.press("t")
        await until(pilot, lambda: any("Ambil: 2 dari 2 berhasil" in n for n in app.notices))
        owners: list[Any] = [server.server.state.incidents[i].owner for i in ids]
        assert owners[:2] == [Actor(name="officer", agency="Bawaslu")] * 2 and owners[2] is None
        await mark(pilot, app, ids)
        await pilot.press("t")  # the first two are already mine: refused, the third is taken
        await until(pilot, lambda: any("Ambil: 1 dari 3 berhasil; ditolak:" in n for n in app.notices))
        summary = next(n for n in app.notices if "1 dari 3" in n)
        assert f"#{ids[0]}" in summary and f"#{ids[1]}" in summary
        await mark(pilot, app, ids[:2])
        await pilot.press("z")
        await until(pilot, lambda: type(app.screen).__name__ == "SnoozeModal")
        assert "2 insiden ditandai" in str(app.screen.query_one("#prompt").render())
        await pilot.press("enter", *"Tunggu", "enter")
        await until(pilot, lambda: any("Tunda: 2 dari 2 berhasil" in n for n in app.notices))
        assert all(server.server.state.incidents[i].snoozed_until for i in ids)


async def test_the_wall_ticker_counts_repeats_and_says_snoozed(server: Running, clock: FakeClock) -> None:
    one, again, other = await seed(
        server, clock, [("6371", "high", "Listrik padam", "TPS 012"), ("6371", "high", "Mati lampu", "tps 012"), ("6303", "low", "Lain", "TPS 9")]
    )
    assert one == again
    await act(server, "polisi", Snooze(id="z", incident=other, minutes=30, note="Menunggu"))
    app = OpsmonApp(url=server.url, token=server.tokens["wall"], clock=clock)
    async with app.run_test(size=(160, 48)) as pilot:
        from opsmon.tui.widgets.status import Ticker

        def ticker() -> str:
            return str(app.dashboard.query_one(Ticker).render())

        await until(pilot, lambda: "Listrik padam" in ticker())
        assert "×2 Listrik padam" in ticker()
        line = next(row for row in ticker().splitlines() if "Lain" in row)
        assert "TUNDA" in line
