"""The officer's keys act on what is on screen, and a typed note is never lost
nor scrambled (issue 21, defects 3 and 4)."""

from __future__ import annotations

from textual.events import Key

from opsmon.core.geo import province_shape
from opsmon.tui.app import OpsmonApp
from opsmon.tui.screens.modals import NoteModal
from tests.helpers import FakeClock, Running
from tests.tui_helpers import loaded, queue_of, report, settle, until


async def test_at_80x24_with_the_map_over_the_queue_a_does_nothing(server: Running, clock: FakeClock) -> None:
    ids = await report(server, clock, [("6371", "high", "Kotak suara rusak"), ("6303", "medium", "Saksi ditolak")])
    app = OpsmonApp(url=server.url, token=server.tokens["officer"], clock=clock, shape=province_shape(server.config.province.boundaries))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, loaded(app, 2))
        await settle(pilot)
        assert app.dashboard.selected_id == ids[0]  # the queue shows: the top one is selected
        await pilot.press("m")  # the map takes the room the queue had
        await settle(pilot)
        assert not queue_of(app).shows_selection()
        for key in ("a", "enter", "t", "space", "a"):
            await pilot.press(key)
            await settle(pilot)
        assert app.screen is app.dashboard  # enter opened nothing
        assert "Tidak ada insiden terpilih." in app.notices
        assert all(i.status == "open" and i.owner is None for i in app.state.incidents.values())  # nothing acknowledged, nothing taken
        await pilot.press("m")  # the queue is back: now `a` acts on the incident seen
        await settle(pilot)
        await pilot.press("a")
        await until(pilot, lambda: app.state.incidents[ids[0]].status == "acknowledged")


async def test_fast_typing_with_ctrl_j_keeps_the_lines_in_order(server: Running, clock: FakeClock) -> None:
    [incident] = await report(server, clock, [("6371", "high", "Kotak suara rusak")])
    app = OpsmonApp(url=server.url, token=server.tokens["officer"], clock=clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, loaded(app, 1))
        await settle(pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NoteModal))
        # All at once, as a fast typist over ssh sends them: every key is queued before the first is handled.
        for key in [*"baris satu", "ctrl+j", *"baris dua", "ctrl+j", *"baris tiga"]:
            app.post_message(Key(key, None) if key == "ctrl+j" else Key("space" if key == " " else key, key))
        await settle(pilot)
        assert app.screen.query_one("TextArea").text == "baris satu\nbaris dua\nbaris tiga"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await until(pilot, lambda: bool(app.state.incidents[incident].notes))
        assert app.state.incidents[incident].notes[-1].text == "baris satu\nbaris dua\nbaris tiga"


async def test_escape_asks_before_throwing_a_typed_note_away(server: Running, clock: FakeClock) -> None:
    [incident] = await report(server, clock, [("6371", "high", "Kotak suara rusak")])
    app = OpsmonApp(url=server.url, token=server.tokens["officer"], clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, loaded(app, 1))
        await settle(pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NoteModal))
        await pilot.press(*"Tim tiba")
        await pilot.press("escape")
        await settle(pilot)
        assert type(app.screen).__name__ == "ConfirmQuit"  # the question, not the dashboard
        await pilot.press("n")  # no: keep writing
        await settle(pilot)
        assert isinstance(app.screen, NoteModal)
        assert app.screen.text == "Tim tiba"
        await pilot.press(*" di TPS", "enter")
        await until(pilot, lambda: bool(app.state.incidents[incident].notes))
        assert app.state.incidents[incident].notes[-1].text == "Tim tiba di TPS"
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NoteModal))
        await pilot.press(*"buang", "escape")
        await settle(pilot)
        await pilot.press("y")  # yes: throw it away
        await settle(pilot)
        assert app.screen is app.dashboard
        await pilot.press("n")  # an empty note closes at once: nothing to lose
        await until(pilot, lambda: isinstance(app.screen, NoteModal))
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is app.dashboard
