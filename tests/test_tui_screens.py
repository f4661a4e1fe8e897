"""Every screen as an officer sees it: without colour, with hostile text, at 80x24 and wide."""

from __future__ import annotations

import socket
from datetime import datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from rich.cells import cell_len
from rich.style import Style
from textual.pilot import Pilot

from opsmon.core.clock import format_ts
from opsmon.core.events import IncidentNoted, IncidentReported
from opsmon.core.fold import apply
from opsmon.core.i18n import WITA
from opsmon.core.protocol import Event, StageUpdate
from opsmon.core.records import Actor, Incident
from opsmon.core.state import State
from opsmon.core.text import PLACEHOLDER, describe, is_control
from opsmon.training.sample_night import NOW, fixed_night
from opsmon.tui.app import OpsmonApp
from server.store.api import WriteBatch
from server.store.sqlite import SqliteStore
from tests.helpers import FakeClock, Running, province, running_server
from tests.tui_helpers import act, night_app, screen_lines, settle, until

SIZES = [(80, 24), (200, 60)]


async def quit_question(app: OpsmonApp, pilot: Pilot[int]) -> None:
    app.unanswered = 1  # a command still on its way: q asks first
    await pilot.press("q")


# (screen, keys that open it, a word it must show)
SCREENS = [
    ("dashboard", [], "Antrian insiden"),
    ("detail", ["j"] * 6 + ["enter"], "Riwayat"),
    ("help", ["question_mark"], "Tombol"),
    ("note", ["n"], "Catatan untuk insiden"),
    ("resolve", ["r"], "Selesaikan insiden"),
    ("palette", ["ctrl+p"], "Tampilkan semua tombol"),
    ("snooze", ["z"], "berapa menit"),
    ("assign", ["T"], "Serahkan insiden"),
    ("severity", ["s"], "Tingkat baru"),
    ("merge", ["M"], "Gabungkan #"),
    ("unack", ["U"], "Batalkan ack"),
    ("quit", [], "perintah belum dijawab"),
    ("wall", [], "Insiden terbaru"),
    ("wall help", ["question_mark"], "Tombol"),
]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize(("name", "keys", "word"), SCREENS, ids=[s[0] for s in SCREENS])
async def test_every_screen_runs_under_no_color(monkeypatch: pytest.MonkeyPatch, size: tuple[int, int], name: str, keys: list[str], word: str) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = night_app(wall=name.startswith("wall"))
    async with app.run_test(size=size) as pilot:
        assert app.no_color  # Textual's monochrome filter is on
        await settle(pilot)
        if name == "quit":
            await quit_question(app, pilot)
        await pilot.press(*keys)

        def shown() -> bool:
            """the screen to show its word"""
            return word in "\n".join(screen_lines(app))

        await until(pilot, shown)
        app.export_screenshot()  # every widget drawn through the filter


# --- hostile text from the wire -------------------------------------------------------

HOSTILE = "Kotak \x1b]0;PWNED\x07\x1b[2J\x1b[31mRED\rX\tY\nZ \u202eBALIK\x9b"
HOSTILE_NOTE = "baris satu\nbaris \x1b[2Jdua\tkolom\r\x1b]0;PWNED\x07"


async def hostile_database(db_path: Path) -> int:
    """An incident whose title, location, detail, reporter and note carry escapes,
    written straight into the store (the protocol would refuse it), as an old
    database or a bug elsewhere could hold it."""
    at = "2024-02-14T12:55:00Z"
    mallory = Actor(name="Mal\x1b[2Jlory", agency="KPU\x07")
    draft = Incident(
        id=1, regency="6371", category="logistik", severity="critical", title=HOSTILE, detail=HOSTILE_NOTE,
        location="TPS \x1b[31m012\r", status="open", level=0, reported=at, reporter=mallory,
        acknowledged=None, acknowledged_by=None, resolved=None, resolved_by=None, ack_due="2024-02-14T13:05:00Z", notes=[],
    )  # fmt: skip
    events = [
        Event(seq=1, ts=at, kind="incident.reported", actor=mallory, data=msgspec.convert(msgspec.to_builtins(draft), IncidentReported)),
        Event(seq=2, ts=at, kind="incident.noted", actor=mallory, data=IncidentNoted(incident=1, text=HOSTILE_NOTE)),
    ]
    state = State()
    for event in events:
        apply(state, event)
    async with SqliteStore(db_path) as store:
        await store.commit(WriteBatch([(e, 1, "6371") for e in events], incidents=list(state.incidents.values())))
    return 1


def assert_harmless(app: OpsmonApp) -> None:
    width, height = app.size
    lines = screen_lines(app)
    assert len(lines) == height
    for y, line in enumerate(lines):
        bad = [describe(c) for c in line if is_control(c)]
        assert not bad, f"row {y} holds {bad}: {line!r}"
        assert cell_len(line) == width, f"row {y} is {cell_len(line)} cells, not {width}: {line!r}"
    assert PLACEHOLDER in "".join(lines)  # shown, as a visible mark


@pytest.mark.parametrize("wall", [False, True], ids=["dashboard", "wall"])
async def test_escapes_stored_in_the_database_reach_no_terminal(tmp_path: Path, clock: FakeClock, wall: bool) -> None:
    incident = await hostile_database(tmp_path / "opsmon.db")
    async with running_server(tmp_path, clock=clock) as server:
        app = OpsmonApp(url=server.url, token=server.tokens["wall" if wall else "officer"], clock=clock)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: incident in app.state.incidents and app.repaints > 1)
            await settle(pilot)
            text = "\n".join(screen_lines(app))
            assert "Kotak \N{REPLACEMENT CHARACTER}]0;PWNED" in text  # the text is there, its escapes are not
            assert_harmless(app)
            if wall:
                return
            await pilot.press("enter")
            await until(pilot, lambda: "baris dua" not in text and "Mal" in "\n".join(screen_lines(app)))
            timeline = app.screen.query_one("#detail-timeline")
            await until(pilot, lambda: "catatan" in str(timeline.render()))
            await settle(pilot)
            assert_harmless(app)
            assert any("baris" in line and "dua" in line for line in screen_lines(app))  # the note keeps its lines


# --- severity, acknowledgement and stage trouble without colour -------------------------


def panel_text(app: OpsmonApp, code: str) -> str:
    return str(app.dashboard.query_one(f"#regency-{code}").render())


def styled_segments(app: OpsmonApp, needle: str) -> list[Style]:
    """The styles the terminal gets for every segment holding `needle`."""
    return [s.style for strip in app.screen._compositor.render_strips() for s in strip if needle in s.text and s.style is not None]


async def test_an_unacknowledged_critical_reads_apart_from_an_acknowledged_one_without_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = night_app()
    # Tanah Bumbu's critical (#3) acknowledged; Kotabaru's (#6) still new.
    app._preset[1].incidents[3] = msgspec.structs.replace(
        app._preset[1].incidents[3], status="acknowledged", acknowledged=format_ts(NOW), acknowledged_by=Actor(name="Budi", agency="Polri")
    )  # type: ignore[index]
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        kotabaru, tanah_bumbu = panel_text(app, "6302"), panel_text(app, "6310")
        assert "!K1" in kotabaru
        assert "K1" in tanah_bumbu and "!K1" not in tanah_bumbu
        [new] = styled_segments(app, "!K1")
        assert new.reverse and new.bold  # unmistakable in monochrome
        acked = [s for s in styled_segments(app, "K1") if not s.reverse]
        assert acked and all(s.bold and not s.dim for s in acked)  # never fainter than a low count
        low = styled_segments(app, "R1")
        assert low and not any(s.bold for s in low)


@pytest.mark.parametrize(("hour", "minute", "late"), [(14, 0, False), (14, 31, True)], ids=["14:00", "14:31"])
async def test_a_panel_says_late_only_after_the_grace(hour: int, minute: int, late: bool) -> None:
    # Kotabaru is still voting at 1020 of 1026 TPS: inside the grace it is not late yet.
    welcome, state, events = fixed_night(province())
    now = datetime(2024, 2, 14, hour, minute, tzinfo=WITA)
    app = OpsmonApp.with_state(welcome, state, clock=lambda: now, events=events)
    async with app.run_test(size=(200, 60)) as pilot:
        await settle(pilot)
        assert ("LEWAT JADWAL Pemungutan" in panel_text(app, "6302")) is late


@pytest.mark.parametrize(
    ("size", "wall"), [((80, 24), False), ((200, 60), False), ((80, 24), True), ((200, 60), True)], ids=["80x24", "200x60", "wall-80x24", "wall-200x60"]
)
async def test_a_blocked_stage_shows_whatever_the_earlier_stages_say(server: Running, size: tuple[int, int], wall: bool) -> None:
    # Banjarbaru: logistics not even started, and the PPK recap is blocked.
    await act(server, "admin", StageUpdate(id="blocked", regency="6372", stage="rekap_ppk", done=2, blocked=True, note="Listrik padam"))
    app = OpsmonApp(url=server.url, token=server.tokens["wall" if wall else "officer"], wall=wall, clock=server.server.clock)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.welcome is not None and app.repaints > 1)
        await settle(pilot)
        text = panel_text(app, "6372")
        assert f"Logistik 0/{server.config.regency('6372').tps}" in text  # the current stage is still the first
        if size == (80, 24):
            assert "!HAMBAT" in text
        else:
            assert "TERHAMBAT Rekap PPK: Listrik padam" in text
        assert "!HAMBAT" in "\n".join(screen_lines(app)) or "TERHAMBAT" in "\n".join(screen_lines(app))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_a_stage_past_its_window_shows(size: tuple[int, int]) -> None:
    # 21:30 WITA on 14 Feb: voting closed at 13:00, Kotabaru is at 1020 of 1026.
    app = night_app()
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        text = panel_text(app, "6302")
        assert ("!JADWAL" if size == (80, 24) else "LEWAT JADWAL Pemungutan") in text
        assert "1020/1026" in text or "Pemungutan 99%" in text  # its progress is never dropped for the mark
        assert "JADWAL" not in panel_text(app, "6301")  # Tanah Laut voted in time


# --- small ones: the wall before any data, ages that agree, the province's own stage ------


async def test_the_wall_says_no_data_yet_before_its_first_connection() -> None:
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = OpsmonApp(url=f"ws://127.0.0.1:{port}/ws", token="ops_x", wall=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.repaints > 2)
        text = "\n".join(screen_lines(app))
        assert "Belum ada data" in text
        assert "Belum ada insiden" not in text and "tidak ada insiden" not in text
        assert app.return_code is None  # the wall keeps trying


async def test_ages_in_the_queue_and_on_the_panel_agree() -> None:
    # Balangan's only incident (#8), reported at 21:24:30; the clock moves within one minute.
    now = [NOW + timedelta(seconds=10)]
    app = night_app()
    app._clock = lambda: now[0]
    state = app._preset[1]  # type: ignore[index]
    state.incidents[8] = msgspec.structs.replace(state.incidents[8], reported=format_ts(NOW - timedelta(minutes=5, seconds=30)))
    async with app.run_test(size=(200, 60)) as pilot:
        await settle(pilot)
        panel = panel_text(app, "6311")
        now[0] = NOW + timedelta(seconds=50)  # 6m20s after the report, still the 21:30 minute
        await pilot.press("space")  # the queue redraws its rows now; the panel keeps its minute
        await settle(pilot)
        [row] = [line for line in screen_lines(app) if "#8 Sirekap" in line]
        assert "blm ack 5m" in panel
        assert " 5m " in row, row


@pytest.mark.parametrize("size", [(80, 24), (200, 60)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_province_recapitulation_shows_once_in_the_header(size: tuple[int, int]) -> None:
    app = night_app()
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        header = str(app.dashboard.query_one("#header").render())
        assert ("Rekap Provinsi 0/1" if size[0] >= 130 else "Prov 0/1") in header
        assert "Blm-ack 6" in header or "belum di-ack 6" in header
        for panel in app.dashboard.query(".regency"):
            assert "Provinsi" not in str(panel.render())


async def test_a_blocked_province_recapitulation_shows_in_the_header(server: Running) -> None:
    await act(server, "admin", StageUpdate(id="prov", regency="63", stage="rekap_provinsi", done=0, blocked=True, note="Saksi walk out"))
    for size, words in (((80, 24), "Prov !HAMBAT"), ((200, 60), "Rekap Provinsi TERHAMBAT: Saksi walk out")):
        app = OpsmonApp(url=server.url, token=server.tokens["wall"], clock=server.server.clock)
        async with app.run_test(size=size) as pilot:
            await until(pilot, lambda app=app: app.welcome is not None and app.repaints > 2)  # type: ignore[misc]
            await settle(pilot)
            assert words in str(app.dashboard.query_one("#header").render())
