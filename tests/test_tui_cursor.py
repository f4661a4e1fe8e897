"""The cursor follows its incident id, never its row number (issue 21, defect 1):
after each verb, a burst of events re-sorting the queue, a filter change and a
reconnect's snapshot, a key acts on the incident the officer was looking at."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from rich.segment import Segment
from textual import events
from textual._compositor import ChopsUpdate
from textual.widgets import Input

from opsmon.client.session import Session
from opsmon.core.protocol import IncidentDraft, Report
from opsmon.tui.app import OpsmonApp
from tests.helpers import FakeClock, Running
from tests.tui_helpers import SIZE, client, night_app, queue_of, report, settle, until

SEEDS = [("6371", "high", "Kotak suara rusak"), ("6303", "medium", "Saksi ditolak"), ("6302", "low", "Listrik padam"), ("6304", "medium", "Logistik terlambat")]


async def on(app: OpsmonApp, pilot, incident_id: int) -> None:  # type: ignore[no-untyped-def]
    """Move the cursor with j/k (as an officer does) until it is on `incident_id`."""
    queue = queue_of(app)
    await pilot.press("g")
    while queue.selected_id != incident_id:
        await pilot.press("j")


async def test_the_cursor_stays_on_its_incident_after_each_verb_and_a_burst(server: Running, clock: FakeClock) -> None:
    ids = await report(server, clock, SEEDS)
    async with client(server, clock, len(SEEDS)) as (app, pilot):
        queue = queue_of(app)
        target = ids[1]
        await on(app, pilot, target)
        row = queue.cursor_row

        async def still_on(verb: str) -> None:
            await settle(pilot)
            await pilot.pause(0.3)
            assert queue.selected_id == target, (verb, queue.incident_ids, queue.cursor_row, row)

        await pilot.press("a")  # ack: it moves down among the acknowledged
        await until(pilot, lambda: app.state.incidents[target].status == "acknowledged")
        await still_on("ack")
        await pilot.press("s", "enter")  # severity picker (critical, the first), then its note
        await settle(pilot)
        await pilot.press(*"naik", "enter")
        await until(pilot, lambda: app.state.incidents[target].severity != "medium")
        await still_on("severity")
        await pilot.press("z")  # snooze: 30 minutes and a note
        await settle(pilot)
        await pilot.press("enter", *"PLN", "enter")
        await until(pilot, lambda: app.state.incidents[target].snoozed_until is not None)
        await still_on("snooze")
        await pilot.press("n")
        await settle(pilot)
        await pilot.press(*"catatan", "enter")
        await until(pilot, lambda: len(app.state.incidents[target].notes) >= 3)
        await still_on("note")
        await pilot.press("t")  # take it
        await until(pilot, lambda: app.state.incidents[target].owner is not None)
        await still_on("take")

        # Fifty new reports, most of them above it: the queue re-sorts, the cursor stays.
        session = await Session.open(server.url, server.tokens["admin"])
        try:
            codes = ["6301", "6302", "6303", "6304", "6305", "6306", "6307", "6308", "6309", "6310", "6311", "6371", "6372"]
            for n in range(50):
                draft = IncidentDraft(
                    regency=codes[n % len(codes)], category="logistik", severity=("critical", "high", "low")[n % 3], title=f"Laporan ke-{n} TPS {n}"
                )
                assert (await session.request(Report(id=f"burst-{n}", incident=draft))).ok
        finally:
            await session.close()
        await until(pilot, lambda: len(queue.incident_ids) >= 40, timeout=10)
        await still_on("burst")
        assert queue.cursor_row != row or queue.incident_ids.index(target) == queue.cursor_row

        # A filter that hides it, then cleared: the cursor goes back to it.
        await pilot.press("slash", *"Laporan", "enter")
        await settle(pilot)
        assert target not in queue.incident_ids
        await pilot.press("escape")
        await still_on("filter")

        # A reconnect's snapshot: the connection drops, the client comes back with the state.
        for connection in list(server.server.hub.subscribers):
            await connection.close(1012, "restarting")  # 1012: the client comes back
        await until(pilot, lambda: not app.online, timeout=5)
        await until(pilot, lambda: app.online, timeout=15)
        await still_on("reconnect")

        # merge last: it is then merged into another and stays in the queue as merged.
        await pilot.press("M", "j", "enter")  # nothing preselected: j to the first (its own regency's)
        await until(pilot, lambda: app.state.incidents[target].merged_into is not None)
        await still_on("merge")


async def test_g_a_enter_opens_the_incident_acknowledged(server: Running, clock: FakeClock) -> None:
    """`g a Enter` on the top one opened the next one (it had moved down after the ack)."""
    ids = await report(server, clock, SEEDS)
    async with client(server, clock, len(SEEDS)) as (app, pilot):
        await pilot.press("g")
        top = queue_of(app).selected_id
        assert top == ids[0]
        await pilot.press("a")
        await until(pilot, lambda: app.state.incidents[ids[0]].status == "acknowledged")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert getattr(app.screen, "incident_id", None) == top


@contextlib.asynccontextmanager
async def busy_screen(app: Any) -> AsyncIterator[list[object]]:
    """The dashboard's own queue of messages stuck behind its work until the block ends,
    and every frame sent to the terminal meanwhile."""
    frames: list[object] = []
    display = app._display

    def record(screen: object, renderable: object) -> None:
        if renderable is not None:
            frames.append(renderable)
        display(screen, renderable)

    app._display = record
    working = asyncio.Event()
    app.dashboard.call_later(working.wait)
    try:
        yield frames
    finally:
        working.set()


async def key_with_a_frame(app: Any, frames: list[object], key: str) -> None:
    """`key` as the terminal sends it (pilot.press would wait for the screen); then up to a second for a frame."""
    app.post_message(events.Key(key, None))
    for _ in range(100):
        if frames:
            break
        await asyncio.sleep(0.01)


async def test_j_and_k_move_the_cursor_while_the_dashboard_is_busy() -> None:
    """The queue's row keys do not wait for the screen: at 50,000 incidents its repaint
    can hold it tens of milliseconds, and a key that went through it waited that long."""
    app = night_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        queue = queue_of(app)
        first = queue.cursor_row
        async with busy_screen(app):
            for key, row in (("j", first + 1), ("down", first + 2), ("k", first + 1), ("up", first)):
                app.post_message(events.Key(key, None))  # as the terminal sends it (pilot.press would wait for the screen)
                for _ in range(100):
                    if queue.cursor_row == row:
                        break
                    await asyncio.sleep(0.01)
                assert queue.cursor_row == row, key
        await settle(pilot)
        assert queue.selected_id == queue.incidents.id_at(first)
        await pilot.press("slash", "j", "k")  # in the filter they are letters
        assert app.dashboard.query_one("#filter", Input).value == "jk" and queue.cursor_row == first


async def test_a_keys_cursor_is_on_the_terminal_while_the_screen_is_busy() -> None:
    """The cursor's move is drawn at once, not after the screen's own queue and Textual's
    update timer: the frame the key brings has the new row in reverse video and the row
    it left without it (each frame sent to the terminal is recorded). On main no frame
    came until the screen's queue moved again."""
    app = night_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        queue = queue_of(app)
        first = queue.cursor_row
        async with busy_screen(app) as frames:
            await key_with_a_frame(app, frames, "j")
            assert frames, "no frame while the screen was busy"
            drawn: dict[int, list[Segment]] = {}  # terminal row -> the queue's cells drawn on it
            left, right = queue.region.x, queue.region.right
            for frame in frames:
                assert isinstance(frame, ChopsUpdate)
                for y, _, _ in frame.spans:
                    for x, strip in frame.chops[y].items():
                        if strip is not None and left <= x < right:
                            drawn.setdefault(y, []).extend(strip)
            top = queue.region.y + 1 - queue.scroll_offset.y  # the header takes the queue's first line
            reached, left_row = drawn.get(top + first + 1), drawn.get(top + first)
            assert reached is not None and left_row is not None, sorted(drawn)
            # The cursor is the whole row in reverse video; a row without it has plain cells (its title).
            assert all(segment.style is not None and segment.style.reverse for segment in reached if segment.text.strip())
            assert not all(segment.style is not None and segment.style.reverse for segment in left_row if segment.text.strip())
        await settle(pilot)
        assert queue.cursor_row == first + 1


async def test_a_key_past_the_last_row_scrolls_the_queue_in_the_frame_it_brings() -> None:
    """j on the last row shown, while the screen is busy: the frame the key brings has the
    queue scrolled a row, the cursor on its bottom row (on main: no frame until the
    screen's queue moved again)."""
    app = night_app()
    async with app.run_test(size=(80, 21)) as pilot:  # a queue shorter than the night's nine incidents
        await settle(pilot)
        queue = queue_of(app)
        visible = queue.size.height - 1  # the header takes a line
        assert len(queue.incidents) > visible + 1
        last = queue.scroll_offset.y + visible - 1
        queue._choose(last)
        await settle(pilot)
        async with busy_screen(app) as frames:
            await key_with_a_frame(app, frames, "j")
            assert queue.cursor_row == last + 1
            bottom = queue.region.y + queue.region.height - 1
            cells = [
                segment
                for frame in frames
                if isinstance(frame, ChopsUpdate)
                for y, _, _ in frame.spans
                if y == bottom
                for x, strip in frame.chops[y].items()
                if strip is not None and queue.region.x <= x < queue.region.right
                for segment in strip
            ]
            assert cells and all(segment.style is not None and segment.style.reverse for segment in cells if segment.text.strip())
        await settle(pilot)
        assert queue.scroll_offset.y == last + 1 - visible + 1


async def test_a_filter_or_number_typed_in_one_burst_goes_to_its_field_never_to_a_verb(server: Running, clock: FakeClock) -> None:
    """Over SSH a fast typist's keys arrive together. "/jakarta" in one burst left the
    filter empty and sent its letters to the queue, the "a" acknowledging the incident
    under the cursor: "/" reached its binding through five message queues while the app
    forwarded the next keys to the queue, and the field took the focus a turn later still."""
    ids = await report(server, clock, SEEDS)
    async with client(server, clock, len(SEEDS)) as (app, pilot):
        await settle(pilot)
        queue = queue_of(app)
        row = queue.cursor_row
        for key, character in (("slash", "/"), ("j", "j"), ("a", "a"), ("k", "k"), ("a", "a"), ("r", "r"), ("t", "t"), ("a", "a")):
            app.post_message(events.Key(key, character))  # as the terminal sends a burst (pilot.press waits between keys)
        await settle(pilot)
        assert app.dashboard.query_one("#filter", Input).value == "jakarta"
        assert queue.cursor_row == row
        await pilot.press("escape")
        await settle(pilot)
        for key, character in (("number_sign", "#"), ("4", "4"), ("a", "a")):
            app.post_message(events.Key(key, character))
        await settle(pilot)
        assert app.dashboard.query_one("#goto", Input).value == "4a"
        await pilot.press("escape")
        # And a verb then a move, together: the verb acts on the row the cursor was on.
        top = queue.selected_id
        for key in ("a", "j"):
            app.post_message(events.Key(key, key))
        await until(pilot, lambda: any(app.state.incidents[i].status == "acknowledged" for i in ids))
        await settle(pilot)
        assert [i for i in ids if app.state.incidents[i].status == "acknowledged"] == [top]  # not the one below ("a j" acknowledged it)
