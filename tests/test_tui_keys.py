"""Being told at once, moving like k9s/less, help from the live keys, one language: against the real server."""

from __future__ import annotations

import copy
import tomllib

import pytest
from textual import events
from textual.command import CommandPalette
from textual.widgets._footer import FooterKey

from opsmon.cli import build_parser
from opsmon.core.config import ConfigError, parse_config
from opsmon.core.protocol import Ack, Escalate
from opsmon.core.records import TEXT_MAX
from opsmon.core.view import QueueFilter
from opsmon.tui.app import OpsmonApp
from opsmon.tui.screens.help import key_rows
from opsmon.tui.widgets.footer import KeyFooter
from tests.helpers import CONFIG_PATH, FakeClock, Running
from tests.tui_helpers import SIZE, act, client, loaded, night_app, queue_of, report, screen_lines, settle, until


@pytest.mark.parametrize("token", ["officer", "wall"])
async def test_a_new_critical_and_an_escalation_are_announced_by_name_with_the_bell(server: Running, clock: FakeClock, token: str) -> None:
    await report(server, clock, [("6371", "low", "Listrik padam")])
    app = OpsmonApp(url=server.url, token=server.tokens[token], clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.welcome is not None and len(app.state.incidents) == 1 and app.repaints > 2)
        assert app.bells == 0  # what was there on connecting is not news
        [critical] = await report(server, clock, [("6371", "critical", "Kericuhan di PPK")])
        await until(pilot, lambda: any(f"KRITIS baru #{critical} Banjarmasin: Kericuhan di PPK" in n for n in app.notices))
        assert app.bells == 1
        # `g` jumps to it on the officer's screen; the wall has no queue, so no such hint there.
        assert any("(g: ke atas)" in n for n in app.notices) == (token == "officer")
        clock.advance(seconds=app.bell_interval)  # the bell rings at most once per interval
        await act(server, "polisi", Escalate(id="esc", incident=1, note="Polsek diminta"))
        await until(pilot, lambda: any("ESKALASI level 1 #1 Banjarmasin: Listrik padam (Polri/polisi)" in n for n in app.notices))
        assert app.bells == 2
        if token == "wall":
            return
        await until(pilot, loaded(app, 2))
        await pilot.press("e", "enter")  # the officer's own escalation: no alarm for it
        await until(pilot, lambda: any("dieskalasi oleh Bawaslu/officer" in n for n in app.notices))
        await settle(pilot)
        assert app.bells == 2


async def test_an_automatic_escalation_is_said_by_the_system_in_the_screens_language(server: Running, clock: FakeClock) -> None:
    await report(server, clock, [("6371", "low", "Listrik padam")])
    app = OpsmonApp(url=server.url, token=server.tokens["officer"], clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.welcome is not None and len(app.state.incidents) == 1)
        clock.advance(minutes=240)  # long past the ack deadline: the server escalates by itself
        await server.server.deadlines.check()
        await until(pilot, lambda: any(n.startswith("ESKALASI level") and "#1 Banjarmasin: Listrik padam" in n for n in app.notices))
        [notice] = [n for n in app.notices if n.startswith("ESKALASI level")][:1]
        assert notice.endswith("(sistem)") and "system" not in notice, notice


async def test_no_bell_keeps_the_notice(server: Running, clock: FakeClock) -> None:
    app = OpsmonApp(url=server.url, token=server.tokens["officer"], clock=clock, bell=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.welcome is not None)
        [critical] = await report(server, clock, [("6303", "critical", "Kotak suara dibakar")])
        await until(pilot, lambda: any(f"KRITIS baru #{critical} Banjar" in n for n in app.notices))
        assert app.bells == 0


async def test_one_notice_per_incident_updated_in_place_and_never_over_a_dialog(server: Running, clock: FakeClock) -> None:
    """A fast replay escalates the same unacknowledged incident again and again: its
    notice is replaced (the level goes up), it never stacks, and the bell rings once."""
    await report(server, clock, [("6371", "low", "Listrik padam")])
    app = OpsmonApp(url=server.url, token=server.tokens["officer"], clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, loaded(app, 1))

        def showing() -> list[str]:
            """the notice line's rows about #1, as drawn on the terminal"""
            return [line for line in screen_lines(app) if "#1 " in line and "ESKALASI" in line]

        await act(server, "polisi", Escalate(id="esc-1", incident=1))
        await until(pilot, lambda: any("ESKALASI level 1 #1" in n for n in showing()))
        await act(server, "admin", Escalate(id="esc-2", incident=1))
        await until(pilot, lambda: any("ESKALASI level 2 #1" in n for n in showing()))
        await settle(pilot)
        assert len(showing()) == 1 and app.bells == 1
        # A dialog open: the notice takes its own row, below the dialog, never over it.
        await pilot.press("n")
        await until(pilot, lambda: type(app.screen).__name__ == "NoteModal")
        await pilot.press(*"Genset menyala")
        await act(server, "polisi", Escalate(id="esc-3", incident=1))
        await until(pilot, lambda: any("ESKALASI level 3 #1" in n for n in showing()))
        await settle(pilot)
        lines = screen_lines(app)
        [typed] = [n for n, line in enumerate(lines) if "Genset menyala" in line]
        [notice] = [n for n, line in enumerate(lines) if "ESKALASI level 3 #1" in line]
        assert notice > typed and notice >= len(lines) - 3  # the notice line, above the footer
        await pilot.press("escape", "y")  # a typed note: Esc asks before throwing it away
        await until(pilot, lambda: type(app.screen).__name__ == "DashboardScreen")
        assert not any("ESKALASI level 2" in line for line in screen_lines(app))


async def test_g_jumps_to_the_most_urgent_and_the_cursor_keeps_its_incident(server: Running, clock: FakeClock) -> None:
    ids = await report(server, clock, [("6371", "high", "Kotak suara rusak"), ("6303", "medium", "Saksi ditolak"), ("6302", "low", "Listrik padam")])
    async with client(server, clock, 3) as (app, pilot):
        await pilot.press("j")
        assert queue_of(app).selected_id == ids[1]
        [critical] = await report(server, clock, [("6372", "critical", "Kericuhan")])
        await until(pilot, loaded(app, 4))
        assert queue_of(app).selected_id == ids[1]  # a new row above it does not move the cursor off it
        await pilot.press("G")
        assert queue_of(app).selected_id == ids[2]
        await pilot.press("g")
        assert queue_of(app).selected_id == critical  # the top: the most urgent unacknowledged


async def test_after_a_refused_ack_the_cursor_stays_on_its_incident(server: Running, clock: FakeClock) -> None:
    ids = await report(server, clock, [("6371", "high", "Kotak suara rusak"), ("6303", "medium", "Saksi ditolak")])
    await act(server, "polisi", Ack(id="polisi-ack", incident=ids[0]))
    async with client(server, clock, 2) as (app, pilot):
        await pilot.press("k")  # up to the top: the acknowledged high one is second... go to it
        await pilot.press("G")
        assert queue_of(app).selected_id == ids[0]
        await pilot.press("a")  # refused: Polri acknowledged it already
        await until(pilot, lambda: any("sudah di-ack" in n for n in app.notices))
        await report(server, clock, [("6372", "critical", "Kericuhan")])
        await until(pilot, loaded(app, 3))
        assert queue_of(app).selected_id == ids[0]  # never silently on another incident


async def test_half_pages_pages_and_redraw() -> None:
    app = night_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        queue = queue_of(app)
        assert queue.cursor_row == 0
        await pilot.press("ctrl+d")
        half = queue.cursor_row
        assert 0 < half < len(queue.incident_ids) - 1
        await pilot.press("ctrl+u")
        assert queue.cursor_row == 0
        await pilot.press("ctrl+f")
        assert queue.cursor_row > half
        await pilot.press("ctrl+b")
        assert queue.cursor_row == 0
        await pilot.press("G")
        assert queue.cursor_row == len(queue.incident_ids) - 1
        await pilot.press("space")  # marks without moving
        assert queue.cursor_row == len(queue.incident_ids) - 1
        repaints = app.repaints
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert app.redraws == 1 and app.repaints > repaints


async def test_help_lists_the_live_keys_of_the_screen_below() -> None:
    app = night_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        rows = dict(key_rows(app, app.screen))
        for keys in ("j / ↓", "g / home", "G / end", "^d", "^u", "^f / pgdn", "^b / pgup", "a", "space", "1..9, 0", "?", "^p", "^l"):
            assert keys in rows, keys
        await pilot.press("question_mark")
        await settle(pilot)
        text = "\n".join(screen_lines(app))
        assert "Ke atas (paling mendesak)" in text
        # The list is longer than 40 rows now (sort, go to a number): the rest is a scroll away.
        await pilot.press("end")
        await settle(pilot)
        assert "Gambar ulang seluruh layar" in "\n".join(screen_lines(app))


async def test_the_wall_lists_and_obeys_only_what_works_there() -> None:
    app = night_app(wall=True)
    async with app.run_test(size=(200, 60)) as pilot:
        await settle(pilot)
        rows = dict(key_rows(app, app.screen))
        assert set(rows) == {"?", "q / ^q / ^c", "m", "p", "H", "^p", "^l"}  # p: the sitrep, preview only; H: the handover, to look
        await pilot.press("1", "tab", "j", "slash", "f", "u")  # none of these work on a display
        await settle(pilot)
        assert not app.dashboard.query(".-focused")
        assert "[fokus]" not in "\n".join(screen_lines(app))
        assert app.dashboard.filter == QueueFilter()  # no filter at all
        await pilot.press("question_mark")
        await settle(pilot)
        text = "\n".join(screen_lines(app))
        assert "Tampilkan semua tombol" in text and "Ack insiden" not in text and "Turun" not in text


@pytest.mark.parametrize("keys", [[], ["enter"]], ids=["dashboard", "detail"])
async def test_the_footer_keeps_help_and_quit_at_80x24(keys: list[str]) -> None:
    app = night_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press(*keys)
        await settle(pilot)
        footer = screen_lines(app)[-1]
        assert "? Bantuan" in footer and "q Keluar" in footer, footer


@pytest.mark.parametrize(
    ("lang", "typed", "title", "placeholder"), [("id", "quit", "Keluar", "Cari perintah…"), ("en", "keluar", "Quit", "Search for commands…")]
)
async def test_the_palette_speaks_the_officers_language_and_finds_quit_in_either(lang: str, typed: str, title: str, placeholder: str) -> None:
    app = night_app(lang=lang)
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        from textual.command import CommandInput

        assert app.screen.query_one(CommandInput).placeholder == placeholder
        await pilot.press(*typed)
        await until(pilot, lambda: any(title in line for line in screen_lines(app)[2:]))
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0


async def test_a_refusal_reads_in_the_officers_language(server: Running, clock: FakeClock) -> None:
    [incident] = await report(server, clock, [("6303", "high", "Kotak suara rusak")])
    async with client(server, clock, 1, token="bjm", regencies=()) as (app, pilot):  # may act on Banjarmasin only; --regency all
        await pilot.press("a")
        await until(pilot, lambda: any(n.startswith(f"#{incident}: ") for n in app.notices))
        notice = [n for n in app.notices if n.startswith(f"#{incident}: ")][-1]
        assert notice == f"#{incident}: ditolak: token Anda hanya berwenang di wilayah Banjarmasin, bukan Banjar"  # names, not codes


# --- the note dialog never loses what was typed ------------------------------------------


async def paste(app: OpsmonApp, text: str) -> None:
    """What the terminal delivers for a paste (bracketed paste)."""
    app.post_message(events.Paste(text))


async def test_a_note_too_long_is_refused_in_the_dialog_and_kept(server: Running, clock: FakeClock) -> None:
    [incident] = await report(server, clock, [("6371", "high", "Kotak suara rusak")])
    async with client(server, clock, 1) as (app, pilot):
        await pilot.press("n")
        await until(pilot, lambda: type(app.screen).__name__ == "NoteModal")
        long_note = "Kronologi: " + "x" * (TEXT_MAX + 989)
        await paste(app, long_note)
        await until(pilot, lambda: "Terlalu panjang" in str(app.screen.query_one("#count").render()))
        await pilot.press("enter")
        await settle(pilot)
        assert type(app.screen).__name__ == "NoteModal"  # still open
        assert f"Terlalu panjang: {len(long_note)} karakter, paling banyak {TEXT_MAX}" in str(app.screen.query_one("#error").render())
        assert app.screen.query_one("#note").text == long_note  # nothing lost
        assert app.state.incidents[incident].notes == []  # nothing sent


async def test_a_server_refusal_keeps_the_dialog_open_with_the_text(server: Running, clock: FakeClock) -> None:
    [incident] = await report(server, clock, [("6303", "high", "Kotak suara rusak")])
    async with client(server, clock, 1, token="bjm", regencies=()) as (app, pilot):  # may act on Banjarmasin only; --regency all
        await pilot.press("n", *"Sudah ditangani")
        await pilot.press("enter")
        await until(pilot, lambda: "hanya berwenang" in str(app.screen.query_one("#error").render()))
        assert type(app.screen).__name__ == "NoteModal"
        assert app.screen.query_one("#note").text == "Sudah ditangani"


async def test_a_pasted_note_keeps_its_lines(server: Running, clock: FakeClock) -> None:
    [incident] = await report(server, clock, [("6371", "high", "Kotak suara rusak")])
    async with client(server, clock, 1) as (app, pilot):
        await pilot.press("n")
        await until(pilot, lambda: type(app.screen).__name__ == "NoteModal")
        await paste(app, "Kronologi:\n21.00 massa datang")
        await pilot.press("ctrl+j", *"21.10 bubar")
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is app.dashboard)
        await until(pilot, lambda: bool(app.state.incidents[incident].notes))
        assert app.state.incidents[incident].notes[-1].text == "Kronologi:\n21.00 massa datang\n21.10 bubar"


def test_the_bell_is_a_checked_config_key_and_a_flag() -> None:
    data = tomllib.loads(CONFIG_PATH.read_text(encoding="utf-8"))
    assert parse_config(copy.deepcopy(data)).client.bell is True  # on by default
    data.setdefault("client", {})["bell"] = False
    assert parse_config(copy.deepcopy(data)).client.bell is False
    data["client"]["bell"] = "tidak"
    with pytest.raises(ConfigError, match=r"client\.bell: must be true or false"):
        parse_config(data)
    assert build_parser().parse_args(["--no-bell", "--wall"]).no_bell


async def test_the_footer_follows_the_keys_it_shows_and_is_rebuilt_only_when_they_change() -> None:
    """Textual's footer rebuilt itself on every focus move and screen change, each time holding
    the whole screen's drawing over several turns of the loop: a key pressed meanwhile (the
    officer's first j while the dashboard opens) was drawn 150 ms late at 50,000 incidents.
    Ours is rebuilt when the keys it shows change, and only then."""
    app = night_app()
    async with app.run_test(size=(200, 30)) as pilot:
        await settle(pilot)
        footer = app.dashboard.query_one(KeyFooter)
        officer = screen_lines(app)[-1]
        assert "a Ack" in officer, officer
        keys = list(footer.query(FooterKey))
        # The incident screen and the help, and back: the dashboard's keys are the same, so its
        # footer keeps the very same keys, not a rebuilt copy.
        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ == "IncidentScreen")
        await pilot.press("escape", "question_mark")
        await settle(pilot)
        assert app.screen is not app.dashboard
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is app.dashboard and list(footer.query(FooterKey)) == keys
        assert screen_lines(app)[-1] == officer
        # Made a wall (as a viewer token's welcome does): the acknowledge key goes from the
        # footer, and comes back.
        app.wall = True
        app.read_only = app.is_wall
        await settle(pilot)
        wall = screen_lines(app)[-1]
        assert "Ack" not in wall and "? Bantuan" in wall, wall
        app.wall = False
        app.read_only = app.is_wall
        await settle(pilot)
        assert screen_lines(app)[-1] == officer
