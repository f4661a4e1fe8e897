"""A snapshot's size does not grow with the night's notes (issue 24 item 2):
each incident comes with its last few notes and a count of the rest, and
every screen that shows notes still shows all of them (through `history`)."""

from __future__ import annotations

from opsmon.client.session import Session
from opsmon.core.protocol import History, Note, Resolve, Snapshot
from opsmon.core.urgency import SNAPSHOT_NOTES
from tests.helpers import FakeClock, Running
from tests.tui_helpers import act, client, report, screen_lines, until

NOTES = SNAPSHOT_NOTES + 5


async def noted(server: Running, clock: FakeClock) -> tuple[int, int]:
    """One incident with NOTES notes, one with a single note; their ids."""
    busy, quiet = await report(server, clock, [("6371", "high", "Kotak suara rusak"), ("6302", "low", "Listrik padam")])
    for n in range(NOTES):
        await act(server, "officer", Note(id=f"note-{n}", incident=busy, text=f"laporan lapangan ke-{n}"))
    await act(server, "officer", Note(id="note-quiet", incident=quiet, text="sudah menyala"))
    return busy, quiet


async def test_a_snapshot_carries_the_last_notes_and_counts_the_rest(server: Running, clock: FakeClock) -> None:
    busy, quiet = await noted(server, clock)
    session = await Session.open(server.url, server.tokens["wall"])
    try:
        snapshot = await session.next_frame()
        assert isinstance(snapshot, Snapshot)
        incidents = {i.id: i for i in snapshot.incidents}
        assert [n.text for n in incidents[busy].notes] == [f"laporan lapangan ke-{n}" for n in range(NOTES - SNAPSHOT_NOTES, NOTES)]
        assert incidents[busy].notes_before == NOTES - SNAPSHOT_NOTES
        assert [n.text for n in incidents[quiet].notes] == ["sudah menyala"] and incidents[quiet].notes_before == 0
        # The history still has every note, and the server's own state is whole.
        history = await session.request(History(id="h-1", incident=busy))
        assert [e.data.text for e in history.events or [] if e.kind == "incident.noted"] == [f"laporan lapangan ke-{n}" for n in range(NOTES)]
        assert len(server.server.state.incidents[busy].notes) == NOTES
        assert server.server.state.incidents[busy].notes_before == 0
    finally:
        await session.close()


async def test_the_detail_screen_shows_every_note_of_a_snapshot_incident(server: Running, clock: FakeClock) -> None:
    busy, _quiet = await noted(server, clock)
    async with client(server, clock, 2) as (app, pilot):
        assert app.state.incidents[busy].notes_before == NOTES - SNAPSHOT_NOTES  # it came by snapshot
        await pilot.press("enter")  # the first row: the high one
        await until(pilot, lambda: type(app.screen).__name__ == "IncidentScreen")

        def shown() -> str:
            return "\n".join(screen_lines(app))

        await until(pilot, lambda: "laporan lapangan ke-0" in shown())
        text = shown()
        assert all(f"laporan lapangan ke-{n}" in text for n in range(NOTES))
        assert "catatan sebelumnya" not in text
        # A note that arrives now is shown after them, none lost.
        await act(server, "officer", Note(id="note-late", incident=busy, text="tim sudah tiba"))
        await until(pilot, lambda: "tim sudah tiba" in shown())
        text = shown()
        assert text.index("laporan lapangan ke-0") < text.index(f"laporan lapangan ke-{NOTES - 1}") < text.index("tim sudah tiba")


async def snapshot_ids(server: Running) -> set[int]:
    session = await Session.open(server.url, server.tokens["wall"])
    try:
        snapshot = await session.next_frame()
        assert isinstance(snapshot, Snapshot)
        return {i.id for i in snapshot.incidents}
    finally:
        await session.close()


async def test_a_snapshot_shared_by_viewers_is_never_stale(server: Running, clock: FakeClock) -> None:
    """Viewers connecting together share one encoded snapshot; a commit, or the
    clock moving a resolved incident out of the 24 hours, makes a new one."""
    first, second = await report(server, clock, [("6371", "high", "Kotak suara rusak"), ("6302", "low", "Listrik padam")])
    assert await snapshot_ids(server) == await snapshot_ids(server) == {first, second}
    [third] = await report(server, clock, [("6303", "medium", "Surat suara kurang")])
    assert await snapshot_ids(server) == {first, second, third}
    await act(server, "officer", Resolve(id="res-1", incident=first, note="selesai"))
    assert await snapshot_ids(server) == {first, second, third}  # resolved within the day: still there
    clock.advance(hours=25)
    assert await snapshot_ids(server) == {second, third}


async def test_a_resolved_incident_comes_with_how_it_was_resolved_only(server: Running, clock: FakeClock) -> None:
    [done] = await report(server, clock, [("6371", "high", "Kotak suara rusak")])
    for n in range(2):
        await act(server, "officer", Note(id=f"note-{n}", incident=done, text=f"laporan lapangan ke-{n}"))
    await act(server, "officer", Resolve(id="res-1", incident=done, note="kotak diganti"))
    session = await Session.open(server.url, server.tokens["wall"])
    try:
        snapshot = await session.next_frame()
        assert isinstance(snapshot, Snapshot)
        [incident] = snapshot.incidents
        assert [(n.kind, n.text) for n in incident.notes] == [("resolved", "kotak diganti")] and incident.notes_before == 2
    finally:
        await session.close()
