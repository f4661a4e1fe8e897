"""The shift handover screen (issue 25 item 5): H shows what the desk's shift leaves open
in the officer's regencies (owners, deadlines, the notes since the shift began, the
stages blocked), `c` hands over and `t` takes over, each a `shift.handover` event in
the log; a viewer looks but may not. A real server, real keys."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from opsmon.core.config import Config, load_config
from opsmon.core.protocol import Ack, Assign, Handover, IncidentDraft, Note, Owner, Report, StageUpdate
from opsmon.core.urgency import SNAPSHOT_NOTES
from opsmon.tui.app import OpsmonApp
from opsmon.tui.screens.handover import HandoverScreen
from opsmon.tui.screens.modals import NoteModal
from tests.helpers import CONFIG_PATH, FakeClock, Running, running_server
from tests.tui_helpers import act, screen_lines, settle, until

ROSTER = """
[[people]]
name = "Bripka Andi"
agency = "Polri"

[[people]]
name = "Brigpol Sari"
agency = "Polri"

[[rosters]]
desk = "Polri"
[[rosters.shifts]]
start = "07:00"
end = "19:00"
people = ["Bripka Andi"]
[[rosters.shifts]]
start = "19:00"
end = "07:00"
people = ["Brigpol Sari"]
"""

HOSTILE = "[b]Massa[/b] mendatangi PPK [@click=app.quit]x[/]"
EARLY_NOTES = SNAPSHOT_NOTES + 2  # more than a snapshot carries: the screen asks the server for the rest


def config_with_roster(folder: Path) -> Config:
    path = folder / "config.toml"
    path.write_text(CONFIG_PATH.read_text(encoding="utf-8") + ROSTER, encoding="utf-8")
    return load_config(path)


@contextlib.asynccontextmanager
async def night(tmp_path: Path) -> AsyncIterator[tuple[Running, FakeClock]]:
    """Polri's desk at 21:20 WITA, its shift 19:00-07:00: #1 in Tanah Bumbu (acknowledged
    and owned by polisi, a note from before the shift, notes since), #2 a KPU matter, #3
    reported since (open, due 21:30), Banjar's PPK recapitulation blocked."""
    clock = FakeClock(datetime(2024, 2, 14, 10, 30, tzinfo=UTC))  # 18:30 WITA: the day shift
    async with running_server(tmp_path, clock=clock, config=config_with_roster(tmp_path)) as server:
        await act(server, "admin", Report(id="r1", incident=IncidentDraft(regency="6310", category="keamanan", severity="critical", title=HOSTILE)))
        await act(server, "admin", Report(id="r2", incident=IncidentDraft(regency="6371", category="logistik", severity="high", title="Surat suara kurang")))
        await act(server, "polisi", Ack(id="a1", incident=1))
        await act(server, "polisi", Note(id="n0", incident=1, text="Sebelum shift malam"))
        clock.advance(hours=2, minutes=45)  # 21:15 WITA: the night shift began at 19:00
        await act(server, "polisi", Assign(id="as", incident=1, to=Owner(name="polisi", agency="Polri")))
        for n in range(EARLY_NOTES):
            await act(server, "polisi", Note(id=f"n{n + 1}", incident=1, text=f"Personel Polres meluncur ke-{n}"))
        await act(
            server,
            "admin",
            Report(id="r3", incident=IncidentDraft(regency="6310", category="keamanan", severity="high", title="Pengerahan massa di Kusan Hilir")),
        )
        await act(server, "officer", StageUpdate(id="s1", regency="6303", stage="rekap_ppk", done=0, blocked=True, note="Listrik padam"))
        clock.advance(minutes=5)
        yield server, clock


@contextlib.asynccontextmanager
async def handover_screen(
    server: Running, clock: FakeClock, token: str, size: tuple[int, int] = (120, 40), **options: Any
) -> AsyncIterator[tuple[OpsmonApp, Pilot[int]]]:
    """The client as `token`, on the handover screen (H pressed on the dashboard)."""
    app = OpsmonApp(url=server.url, token=server.tokens[token], clock=clock, desks=server.config.desks(), **options)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.welcome is not None and app.state.seq > 0)
        await pilot.press("H")
        await until(pilot, lambda: isinstance(app.screen, HandoverScreen))
        await settle(pilot)
        yield app, pilot


def shown(app: OpsmonApp) -> str:
    return "\n".join(screen_lines(app))


async def handovers(server: Running) -> list[tuple[str, str, str, list[int], str]]:
    return [
        (e.actor.name, e.data.desk, e.data.step, list(e.data.open), e.data.note)  # type: ignore[union-attr]
        for e in await server.store.events_since(0)
        if e.kind == "shift.handover"
    ]


async def test_the_outgoing_officer_sees_what_is_open_and_hands_it_over(tmp_path: Path) -> None:
    async with night(tmp_path) as (server, clock), handover_screen(server, clock, "polisi") as (app, pilot):
        await until(pilot, lambda: f"Personel Polres meluncur ke-{EARLY_NOTES - 1}" in shown(app) and "ke-0" in shown(app))
        text = shown(app)
        assert "SERAH TERIMA JAGA meja Polri, shift 19:00-07:00 (mulai 19:00 WITA)" in text
        assert "Wilayah: seluruh provinsi" in text
        assert "Insiden terbuka: 2" in text  # #2 is the KPU desk's
        # The unacknowledged first, with its deadline; each with its owner.
        assert "#3 Tanah Bumbu TINGGI · BELUM di-ack · penanggung jawab - · tenggat 21:30 WITA" in text
        assert "#1 Tanah Bumbu KRITIS · di-ack Polri/polisi · penanggung jawab Polri/polisi · tenggat -" in text
        assert text.index("#3 Tanah Bumbu") < text.index("#1 Tanah Bumbu")
        assert HOSTILE in text  # the title as typed: never markup
        # Every note since 19:00, also those older than the snapshot's last few; not the one before.
        assert all(f"21:15 WITA Polri/polisi: Personel Polres meluncur ke-{n}" in text for n in range(EARLY_NOTES))
        assert "Sebelum shift malam" not in text
        assert "Tahapan terhambat: 1" in text and "Banjar Rekapitulasi kecamatan (PPK) 0/" in text and "Listrik padam" in text
        assert "Shift ini belum diserahkan." in text
        assert "Serahkan" in screen_lines(app)[-1] and "Terima" in screen_lines(app)[-1]

        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, NoteModal))
        assert "Serahkan jaga meja Polri (2 insiden terbuka)?" in shown(app)
        await pilot.press(*"Pantau #1", "enter")
        await until(pilot, lambda: isinstance(app.screen, HandoverScreen))
        assert await handovers(server) == [("polisi", "Polri", "confirm", [1, 3], "Pantau #1")]
        await until(pilot, lambda: "Diserahkan 21:20 WITA oleh Polri/polisi" in shown(app))
        assert any(notice.startswith("serah terima dikonfirmasi (seq ") for notice in app.notices)

        # The incoming officer takes it over elsewhere: this screen and a notice say so.
        await act(server, "officer", Handover(id="take", desk="Polri", step="accept"))
        await until(pilot, lambda: "Diterima 21:20 WITA oleh Bawaslu/officer" in shown(app))
        assert "Serah terima jaga meja Polri: Diterima 21:20 WITA oleh Bawaslu/officer" in app.notices


async def test_the_incoming_officer_takes_over_from_their_own_screen(tmp_path: Path) -> None:
    async with night(tmp_path) as (server, clock):
        await act(server, "polisi", Handover(id="give", desk="Polri", step="confirm", note="Pantau #1"))
        # A Bawaslu officer standing in at the Polri desk (the focus chooses the desk).
        async with handover_screen(server, clock, "officer", desk="Polri") as (app, pilot):
            await until(pilot, lambda: "Insiden terbuka: 2" in shown(app))
            await pilot.press("t")
            await until(pilot, lambda: isinstance(app.screen, NoteModal))
            assert "Terima jaga meja Polri (2 insiden terbuka)?" in shown(app)
            await pilot.press("enter")  # no note: the dialog sends it as it is
            await until(pilot, lambda: isinstance(app.screen, HandoverScreen))
            await until(pilot, lambda: "Diterima 21:20 WITA oleh Bawaslu/officer" in shown(app))
        assert await handovers(server) == [("polisi", "Polri", "confirm", [1, 3], "Pantau #1"), ("officer", "Polri", "accept", [1, 3], "")]


async def test_a_viewer_looks_but_may_not_hand_over(tmp_path: Path) -> None:
    async with night(tmp_path) as (server, clock), handover_screen(server, clock, "wall") as (app, pilot):
        # KPU's viewer, on the KPU desk (the token's agency): Banjarmasin's logistics, not Polri's.
        assert "Insiden terbuka: 1" in shown(app) and "Surat suara kurang" in shown(app) and "Kusan Hilir" not in shown(app)
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, HandoverScreen)  # no dialog
        assert app.notices[-1] == "Token penampil hanya boleh melihat: serah terima dikonfirmasi dan diterima oleh petugas jaga."
        await pilot.press("t")
        await settle(pilot)
        assert isinstance(app.screen, HandoverScreen)
        await pilot.press("escape")
        await until(pilot, lambda: type(app.screen).__name__ == "DashboardScreen")
        assert await handovers(server) == []


async def test_the_handover_fits_80x24_without_colour(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    async with night(tmp_path) as (server, clock), handover_screen(server, clock, "polisi", size=(80, 24)) as (app, pilot):
        lines = screen_lines(app)
        assert all(len(line) <= 80 for line in lines)
        text = "\n".join(lines)
        assert "SERAH TERIMA JAGA meja Polri" in text and "#3 Tanah Bumbu TINGGI · BELUM di-ack" in text
        assert "Esc" in lines[-1] or "esc" in lines[-1]
        assert "Serahkan" in lines[-1] and "Terima" in lines[-1]
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, NoteModal))
        await settle(pilot)
        assert "Serahkan jaga meja Polri (2 insiden terbuka)?" in shown(app)  # the question whole
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, HandoverScreen))
        await pilot.press("question_mark")
        await settle(pilot)
        assert "Serahkan" in shown(app) and "Terima" in shown(app)
