"""The terminal client against the real server on loopback, driven by real key presses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual import events
from textual.command import CommandPalette

from opsmon.client.backoff import Backoff
from opsmon.client.session import Session
from opsmon.core.protocol import Ack, Snapshot
from opsmon.tui.app import OpsmonApp
from server.app import OpsmonServer
from server.store.sqlite import SqliteStore
from tests.helpers import FakeClock, Running, as_shown, province, running_server
from tests.tui_helpers import SIZE, act, client, loaded, queue_of, report, until


async def server_view(server: Running) -> dict[int, str]:
    """What a second client sees: incident id -> status."""
    session = await Session.open(server.url, server.tokens["wall"])
    try:
        snapshot = await session.next_frame()
        assert isinstance(snapshot, Snapshot)
        return {i.id: i.status for i in snapshot.incidents}
    finally:
        await session.close()


async def test_a_right_after_launch_acknowledges_the_most_urgent(server: Running, clock: FakeClock) -> None:
    ids = await report(server, clock, [("6371", "high", "Kotak suara rusak"), ("6303", "critical", "Kericuhan di PPK"), ("6302", "low", "Listrik padam")])
    async with client(server, clock, 3) as (app, pilot):
        critical = ids[1]
        assert queue_of(app).selected_id == critical  # the most urgent unacknowledged, preselected
        assert app.focused is queue_of(app)
        await pilot.press("a")
        await until(pilot, lambda: any("di-ack oleh Bawaslu/officer" in n for n in app.notices))
        assert app.notices[-1] == f"#{critical} di-ack oleh Bawaslu/officer"
        assert (await server_view(server))[critical] == "acknowledged"
        await until(pilot, lambda: app.state.incidents[critical].status == "acknowledged")


async def test_space_marks_several_then_a_acknowledges_all_marked(server: Running, clock: FakeClock) -> None:
    ids = await report(server, clock, [("6371", "critical", "Kericuhan"), ("6303", "high", "Kotak suara rusak"), ("6302", "low", "Listrik padam")])
    async with client(server, clock, 3) as (app, pilot):
        await pilot.press("space")  # marks the first; the cursor stays on it
        assert queue_of(app).selected_id == ids[0]
        await pilot.press("j", "space")  # and the second
        await pilot.press("a")
        await until(pilot, lambda: any("2 dari 2 insiden di-ack" in n for n in app.notices))
        view = await server_view(server)
        assert [view[i] for i in ids] == ["acknowledged", "acknowledged", "open"]


async def test_resolve_through_the_note_modal(server: Running, clock: FakeClock) -> None:
    [incident] = await report(server, clock, [("6371", "high", "Kotak suara rusak")])
    async with client(server, clock, 1) as (app, pilot):
        await pilot.press("r")
        await until(pilot, lambda: type(app.screen).__name__ == "NoteModal")
        await pilot.press("enter")  # an empty note is not sent
        assert type(app.screen).__name__ == "NoteModal"
        assert "wajib" in str(app.screen.query_one("#error").render())
        await pilot.press(*"Kotak diganti", "enter")
        await until(pilot, lambda: f"#{incident} diselesaikan oleh Bawaslu/officer" in app.notices)
        assert (await server_view(server))[incident] == "resolved"
        await until(pilot, lambda: app.state.incidents[incident].notes[-1].text == "Kotak diganti")


async def test_a_note_typed_and_sent_in_one_burst_is_sent_whole(server: Running, clock: FakeClock) -> None:
    """A terminal (tmux send-keys, a paste) delivers the text and Enter at once: Enter
    must send what was typed before it, not find the box still empty."""
    [incident] = await report(server, clock, [("6371", "high", "Kotak suara rusak")])
    async with client(server, clock, 1) as (app, pilot):
        await pilot.press("r")
        await until(pilot, lambda: type(app.screen).__name__ == "NoteModal")
        for character in "Kotak diganti\r":  # queued together, none handled yet
            app.post_message(events.Key({" ": "space", "\r": "enter"}.get(character, character), character))
        await until(pilot, lambda: f"#{incident} diselesaikan oleh Bawaslu/officer" in app.notices)
        assert app.state.incidents[incident].notes[-1].text == "Kotak diganti"


async def test_a_refused_action_shows_the_servers_reason(server: Running, clock: FakeClock) -> None:
    [incident] = await report(server, clock, [("6371", "high", "Kotak suara rusak")])
    await act(server, "polisi", Ack(id="polisi-ack", incident=incident))  # at 21:03 WITA
    async with client(server, clock, 1) as (app, pilot):
        await pilot.press("a")
        await until(pilot, lambda: app.notices)
        assert app.notices[-1] == f"#{incident}: sudah di-ack oleh Polri/polisi 21:03 WITA"
        await pilot.press("o", *"salah tekan", "enter")  # only a resolved incident can be reopened
        await until(pilot, lambda: app.notices[-1] == f"#{incident}: belum diselesaikan (status ACK)")


async def test_filters_and_regency_focus(server: Running, clock: FakeClock) -> None:
    await report(
        server,
        clock,
        [("6301", "critical", "Banjir di TPS 3"), ("6302", "high", "Kotak suara rusak"), ("6371", "low", "Listrik padam"), ("6371", "critical", "Kericuhan")],
    )
    async with client(server, clock, 4, lang="en") as (app, pilot):

        def titles() -> list[str]:
            return sorted(app.state.incidents[i].title for i in queue_of(app).incident_ids)

        await pilot.press("slash", *"banjir", "enter")
        await until(pilot, lambda: titles() == ["Banjir di TPS 3"])
        assert app.focused is queue_of(app)
        await pilot.press("escape")
        await until(pilot, lambda: len(titles()) == 4)
        await pilot.press("f")  # critical only
        await until(pilot, lambda: titles() == ["Banjir di TPS 3", "Kericuhan"])
        await pilot.press("f", "f", "f", "f")  # high, medium, low, all
        await until(pilot, lambda: len(titles()) == 4)
        await pilot.press("1")  # the first regency: Tanah Laut
        await until(pilot, lambda: titles() == ["Banjir di TPS 3"])
        assert app.dashboard.query_one("#regency-6301").has_class("-focused")
        await pilot.press("tab")  # the next one: Kotabaru
        await until(pilot, lambda: titles() == ["Kotak suara rusak"])
        await pilot.press("escape")
        await until(pilot, lambda: len(titles()) == 4)
        # u: only unacknowledged; acknowledge one, and it leaves the filtered queue
        await pilot.press("u", "a")
        await until(pilot, lambda: len(titles()) == 3)
        assert "unacknowledged only" in str(app.dashboard.query_one("#queue-title").render())


async def test_an_empty_night_says_there_are_no_incidents_not_none_matching(server: Running, clock: FakeClock) -> None:
    app = OpsmonApp(url=server.url, token=server.tokens["officer"], clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.welcome is not None and app.repaints > 1)

        def title() -> str:
            return str(app.dashboard.query_one("#queue-title").render())

        await until(pilot, lambda: "(0 belum selesai)" in title())
        assert title().endswith("· Tidak ada insiden.") and "cocok" not in title()
        await pilot.press("f")  # critical only: now a filter could be hiding some
        await until(pilot, lambda: "Tidak ada insiden yang cocok." in title())


async def test_a_viewer_token_cannot_act(server: Running, clock: FakeClock) -> None:
    [incident] = await report(server, clock, [("6371", "critical", "Kericuhan")])
    app = OpsmonApp(url=server.url, token=server.tokens["wall"], clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.welcome is not None and app.repaints > 1)
        assert app.is_wall
        for key in ("a", "space", "r", "e", "n", "o"):
            binding = app.screen.active_bindings.get(key)
            assert binding is None or not binding.enabled, key
        await pilot.press("a", "r")
        await pilot.pause(0.3)
        assert isinstance(app.screen, type(app.dashboard))  # no modal opened
        assert (await server_view(server))[incident] == "open"
        assert app.dashboard.query_one("#regency-6371").has_class("-critical")  # highlighted on the wall


async def test_reconnect_after_a_server_restart_shows_the_banner_and_loses_nothing(tmp_path: Path, clock: FakeClock) -> None:
    config = province()
    async with running_server(tmp_path, clock=clock, config=config) as first:
        tokens, port, db_path, url = first.tokens, first.server.port, first.db_path, first.url
        ids = await report(first, clock, [("6371", "critical", "Kericuhan"), ("6303", "high", "Kotak suara rusak"), ("6302", "low", "Listrik padam")])
        app = OpsmonApp(url=url, token=tokens["officer"], clock=clock)
        app.backoff = Backoff(initial=0.05, maximum=0.2)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, loaded(app, 3))
            await first.server.close()  # the server goes away (1001)
            await until(pilot, lambda: app.dashboard.query_one("#banner").has_class("-offline"))
            banner = str(app.dashboard.query_one("#banner").render())
            assert "TERPUTUS sejak 21:09 WITA, mencoba lagi..." in banner
            # why, in the same language: the server closing, or nothing listening once it is gone
            assert "sambungan" in banner and "connection" not in banner and "listening" not in banner, banner
            assert "DATA BASI" in str(app.dashboard.query_one("#header").render())
            await pilot.press("a")  # acknowledged while offline: sent once the server is back
            await until(pilot, lambda: any("dikirim saat tersambung kembali" in n for n in app.notices))
            await pilot.press("q")  # a command is still unanswered: asks first
            await until(pilot, lambda: type(app.screen).__name__ == "ConfirmQuit")
            assert "1 perintah belum dijawab server" in str(app.screen.query_one("#prompt").render())
            await pilot.press("n")
            await until(pilot, lambda: app.screen is app.dashboard)

            # The same database on the same port, and someone else acts meanwhile.
            async with SqliteStore(db_path, synchronous="normal") as store:
                second = OpsmonServer(config, store, clock=clock)
                await second.start("127.0.0.1", port)
                try:
                    polisi = await Session.open(url, tokens["polisi"])
                    try:
                        assert (await polisi.request(Ack(id="polisi-1", incident=ids[1]))).ok
                    finally:
                        await polisi.close()
                    await until(pilot, lambda: f"#{ids[0]} di-ack oleh Bawaslu/officer" in app.notices, timeout=10)
                    await until(pilot, lambda: app.state.seq == second.state.seq)
                    await until(pilot, lambda: not app.dashboard.query_one("#banner").has_class("-offline"))
                    # Resumed, not re-fetched: the client's fold equals the server's, with every event once.
                    assert app.state.as_builtins() == as_shown(second)
                    assert [n for n in app.notices if "di-ack oleh" in n] == [f"#{ids[0]} di-ack oleh Bawaslu/officer"]
                    acks = [e for e in await store.incident_events(ids[0]) if e.kind == "incident.acknowledged"]
                    assert len(acks) == 1
                finally:
                    await second.close()


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_a_token_revoked_mid_session_ends_with_one_line_in_one_language(server: Running, clock: FakeClock, lang: str) -> None:
    app = OpsmonApp(url=server.url, token=server.tokens["wall"], clock=clock, lang=lang)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.online)
        assert await server.store.revoke_token("wall")
        await until(pilot, lambda: app.return_code is not None, timeout=10)
    assert app.return_code == 5
    if lang == "id":
        assert re.fullmatch(r"opsmon: token ditolak: token dicabut \d\d:\d\d WITA", app.exit_line), app.exit_line
    else:
        assert re.fullmatch(r"opsmon: token refused: token revoked \d\d:\d\d WITA", app.exit_line), app.exit_line


async def test_a_refused_token_and_an_unreachable_server_end_with_one_line(server: Running, clock: FakeClock) -> None:
    refused = OpsmonApp(url=server.url, token="ops_not-a-token", clock=clock)
    async with refused.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: refused.return_code is not None)
    assert refused.return_code == 5  # token refused, as the feeders say it
    # One language: the server's reason in Indonesian, not its English words inside an Indonesian line.
    assert refused.exit_line == "opsmon: token ditolak: token tidak dikenal atau sudah dicabut"
    port = server.server.port
    await server.server.close()
    unreachable = OpsmonApp(url=f"ws://127.0.0.1:{port}/ws", token=server.tokens["officer"], clock=clock, lang="en")
    async with unreachable.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: unreachable.return_code is not None)
    assert unreachable.return_code == 4  # unreachable, as the feeders say it
    assert unreachable.exit_line.startswith("opsmon: cannot connect: nothing is listening at")
    assert "\n" not in unreachable.exit_line
    # In Indonesian, the reason too: no English inside the line.
    tak_terjangkau = OpsmonApp(url=f"ws://127.0.0.1:{port}/ws", token=server.tokens["officer"], clock=clock)
    async with tak_terjangkau.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: tak_terjangkau.return_code is not None)
    assert (
        tak_terjangkau.exit_line
        == f"opsmon: tidak dapat tersambung: tidak ada yang mendengarkan di ws://127.0.0.1:{port}/ws (sambungan ditolak): apakah opsmon-server berjalan?"
    )


async def test_palette_offers_every_action_and_runs_them(server: Running, clock: FakeClock) -> None:
    [incident] = await report(server, clock, [("6371", "high", "Kotak suara rusak")])
    async with client(server, clock, 1, lang="en") as (app, pilot):
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in (
            "Acknowledge",
            "Escalate",
            "Note",
            "Resolve",
            "Reopen",
            "Mark",
            "Filter",
            "Severity",
            "Unacked",
            "Help",
            "Quit",
            "Focus regency: Banjarmasin",
        ):
            assert title in titles, title
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"Acknowledge")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: f"#{incident} acknowledged by Bawaslu/officer" in app.notices)


async def test_escalate_note_and_the_detail_timeline(server: Running, clock: FakeClock) -> None:
    [incident] = await report(server, clock, [("6371", "high", "Kotak suara rusak")])
    async with client(server, clock, 1) as (app, pilot):
        await pilot.press("e")
        await until(pilot, lambda: type(app.screen).__name__ == "NoteModal")
        await pilot.press("enter")  # the note is optional when escalating
        await until(pilot, lambda: f"#{incident} dieskalasi oleh Bawaslu/officer" in app.notices)
        await pilot.press("n", *"Polsek sudah di lokasi", "enter")
        await until(pilot, lambda: f"Catatan pada #{incident} tersimpan (Bawaslu/officer)" in app.notices)
        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ == "IncidentScreen")
        timeline = app.screen.query_one("#detail-timeline")
        await until(pilot, lambda: "catatan: Polsek sudah di lokasi" in str(timeline.render()))
        text = str(timeline.render())
        assert "KPU/admin  dilaporkan" in text and "Bawaslu/officer  dieskalasi ke level 1" in text
        await pilot.press("a")  # acts on the incident shown
        await until(pilot, lambda: f"#{incident} di-ack oleh Bawaslu/officer" in app.notices)
        await until(pilot, lambda: "di-ack" in str(app.screen.query_one("#detail-timeline").render()))
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.dashboard)
