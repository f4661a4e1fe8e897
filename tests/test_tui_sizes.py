"""80x24, 120x40 and 220x60 with long Indonesian names (issue 21 item 11): the header says
who is signed in, and nothing that tells one thing from another is cut (a regency, a
person, a snooze's wake time, a stage mark). Against the real server, real keys."""

from __future__ import annotations

import re

import pytest

from opsmon.core.protocol import Ack, Snooze
from opsmon.tui.app import OpsmonApp
from opsmon.tui.widgets.bars import cut_name
from opsmon.tui.widgets.queue import column_widths
from server.auth import add_token
from tests.helpers import FakeClock, Running, free_port
from tests.tui_helpers import act, loaded, queue_of, report, screen_lines, settle, until

SIZES = [(80, 24), (120, 40), (220, 60)]
FAUZI = "Bripka Ahmad Fauzi Rahman"
RIZKY = "Bripka Muhammad Rizky Pratama"


async def long_names(server: Running, clock: FakeClock) -> tuple[dict[str, str], list[int]]:
    """Two Polri officers with the same rank, three incidents in Tanah Bumbu and Barito Kuala:
    one acknowledged by each, one snoozed."""
    known = {r.code for r in server.config.regencies}
    tokens = {name: await add_token(server.store, name, "officer", "Polri", None, known) for name in (FAUZI, RIZKY)}
    server.tokens.update(tokens)
    ids = await report(
        server,
        clock,
        [
            ("6310", "high", "Kotak suara rusak di TPS 012 Desa Sungai Loban"),
            ("6310", "critical", "Kericuhan di lokasi rekapitulasi PPK Kusan Hilir"),
            ("6304", "medium", "Saksi ditolak masuk TPS 004 Desa Anjir Pasar"),
        ],
    )
    await act(server, FAUZI, Ack(id="ack-fauzi", incident=ids[0]))
    await act(server, RIZKY, Ack(id="ack-rizky", incident=ids[1]))
    await act(server, "admin", Snooze(id="snz", incident=ids[2], minutes=45, note="Menunggu Panwascam"))
    return tokens, ids


def row_of(lines: list[str], incident: int) -> str:
    [row] = [line for line in lines if f" #{incident} " in line]
    return row


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_every_screen_keeps_what_distinguishes_at_every_size(server: Running, clock: FakeClock, size: tuple[int, int]) -> None:
    tokens, (box, riot, snoozed) = await long_names(server, clock)
    app = OpsmonApp(url=server.url, token=tokens[FAUZI], clock=clock)
    async with app.run_test(size=size) as pilot:
        await until(pilot, loaded(app, 3))
        await settle(pilot)
        lines = screen_lines(app)
        # The header says who is signed in, at every width, by what tells them apart.
        assert "Rahman" in lines[0] and "Bripka" not in lines[0][: size[0] // 2]
        assert "…" not in lines[0]  # no "Terbu…": the totals give way whole
        # The queue: the regency whole, each officer by their own name, the wake time whole.
        assert "Tanah Bumbu" in row_of(lines, box) and "Rahman" in row_of(lines, box)
        assert "Pratama" in row_of(lines, riot) and "Rahman" not in row_of(lines, riot)
        assert "Barito Kuala" in row_of(lines, snoozed)
        assert re.search(r"\[s\.d\. \d\d:\d\d\]", row_of(lines, snoozed)), row_of(lines, snoozed)
        assert not any("Polri/Br…" in line or "Polri/B…" in line for line in lines)
        # The incident's own screen.
        queue_of(app).select_incident(riot)
        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ == "IncidentScreen")
        await settle(pilot)
        detail = "\n".join(screen_lines(app))
        assert "Tanah Bumbu" in detail and "Pratama" in detail and "Rahman" in screen_lines(app)[0]
        await pilot.press("escape")
        # The regency's screen.
        await until(pilot, lambda: type(app.screen).__name__ == "DashboardScreen")
        await pilot.press("d")
        await until(pilot, lambda: type(app.screen).__name__ == "RegencyScreen")
        await settle(pilot)
        regency = screen_lines(app)
        assert any("Tanah Bumbu" in line for line in regency) and "Rahman" in regency[0]
        assert any(f"#{riot}" in line for line in regency)
        await pilot.press("escape")
        await until(pilot, lambda: type(app.screen).__name__ == "DashboardScreen")
        await pilot.press("question_mark")
        await until(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
        assert any("Tombol" in line for line in screen_lines(app))
        await pilot.press("escape")
        # The merge picker names the other incidents by regency, whole.
        await until(pilot, lambda: type(app.screen).__name__ == "DashboardScreen")
        queue_of(app).select_incident(box)
        await pilot.press("M")
        await until(pilot, lambda: type(app.screen).__name__ == "PickModal")
        await settle(pilot)
        assert any(f"#{riot} Tanah Bumbu" in line for line in screen_lines(app))
        await pilot.press("escape")
        # The situation report's preview.
        await until(pilot, lambda: type(app.screen).__name__ == "DashboardScreen")
        await pilot.press("p")
        await until(pilot, lambda: type(app.screen).__name__ == "SitrepScreen")
        await settle(pilot)
        # Its title whole (a preview takes no number; no token's name is printed on the post's paper).
        assert any("PRATINJAU LAPORAN SITUASI" in line for line in screen_lines(app))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_wall_names_the_regency_whole_at_every_size(server: Running, clock: FakeClock, size: tuple[int, int]) -> None:
    _, (box, riot, _snoozed) = await long_names(server, clock)
    app = OpsmonApp(url=server.url, token=server.tokens["wall"], clock=clock)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.welcome is not None and len(app.state.incidents) == 3 and app.repaints > 2)
        await settle(pilot)
        lines = screen_lines(app)
        assert any("Tanah Bumbu" in line and f"#{riot} Kericuhan" in line and "Pratama" in line for line in lines), "\n".join(lines)
        assert any(f"#{box} Kotak suara" in line and "Rahman" in line for line in lines)
        assert "KPU/wall" in lines[0] and "…" not in lines[0]


def test_the_column_widths_follow_one_rule() -> None:
    natural = {"mark": 1, "status": 7, "regency": 12, "severity": 8, "category": 30, "title": 60, "age": 3, "acked_by": 31, "owner": 0}
    for width in (80, 100, 120, 160, 220):
        widths = column_widths(width, natural)
        shown = [w for w in widths.values() if w]
        assert sum(shown) + len(shown) - 1 <= width - 1  # it fits, gaps and all
        assert widths["regency"] == 12 and widths["status"] == 7  # never cut
        assert widths["owner"] == 0  # nothing to show: no room taken
        assert widths["title"] >= 26
    assert column_widths(80, natural)["category"] == 0  # at 80 the category gives its room to the title
    assert column_widths(220, natural)["category"] == 26


def test_a_name_is_cut_where_it_does_not_tell_people_apart() -> None:
    assert cut_name(f"Polri/{FAUZI}", 16) == "Polri/A.F.Rahman"
    assert cut_name(f"Polri/{FAUZI}", 18) == "Polri/Ahmad…Rahman"
    assert cut_name(f"Polri/{RIZKY}", 12) == "M.R.Pratama"
    assert cut_name("Bawaslu/Rahmat", 20) == "Bawaslu/Rahmat"


async def test_the_offline_banner_wraps_its_reason_at_80x24(clock: FakeClock) -> None:
    """Nothing listening: the wall keeps trying, and says why in full, on two rows."""
    app = OpsmonApp(url=f"ws://127.0.0.1:{free_port()}/ws", token="x", wall=True, clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.offline_reason != "")
        await settle(pilot)
        text = " ".join(line.strip() for line in screen_lines(app)[:4])
        assert "(sambungan ditolak)" in text and "apakah opsmon-server berjalan?" in text, text
