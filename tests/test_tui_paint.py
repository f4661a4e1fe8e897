"""What the panels and the map draw once per change (the Line API, opsmon.tui.widgets.lines)
is what the terminal shows: a count that moves is on the screen, the old one gone, and the
rest of the panel (name, border) stays; a notice line coming and going keeps the map whole."""

from __future__ import annotations

import pytest

from opsmon.core.protocol import IncidentDraft, Report, StageUpdate
from opsmon.tui.app import OpsmonApp
from opsmon.tui.widgets.provincemap import ProvinceMap
from tests.helpers import Running
from tests.tui_helpers import act, night_app, screen_lines, settle, until


def terminal(app: OpsmonApp) -> str:
    return "\n".join(screen_lines(app))


@pytest.mark.parametrize("size", [(80, 24), (200, 60)], ids=["80x24", "200x60"])
async def test_a_count_that_moves_is_on_the_terminal_and_the_old_one_is_gone(server: Running, size: tuple[int, int]) -> None:
    total = server.config.regency("6372").tps  # Banjarbaru
    app = OpsmonApp(url=server.url, token=server.tokens["officer"], clock=server.server.clock)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.welcome is not None and app.repaints > 1)
        await settle(pilot)
        assert f"Logistik 0/{total}" in terminal(app)
        for done in (3, 7):
            await act(server, "admin", StageUpdate(id=f"count-{done}", regency="6372", stage="logistik", done=done))
            await until(pilot, lambda done=done: f"Logistik {done}/{total}" in terminal(app))
        await settle(pilot)
        shown = terminal(app)
        assert f"Logistik 3/{total}" not in shown and f"Logistik 0/{total}" not in shown  # no line left behind
        assert "Banjarbaru" in shown  # the lines that did not move are still there
        # A new critical: the panel says it in words (and changes its classes: all of it drawn again).
        await act(
            server, "admin", Report(id="crit", incident=IncidentDraft(regency="6372", category="logistik", severity="critical", title="Kotak suara rusak"))
        )
        await until(pilot, lambda: "!K1" in terminal(app))
        assert f"Logistik 7/{total}" in terminal(app) and "Banjarbaru" in terminal(app)


async def test_a_notice_line_coming_and_going_keeps_the_map_whole() -> None:
    app = night_app()
    async with app.run_test(size=(200, 60)) as pilot:
        await settle(pilot)
        province_map = app.dashboard.query_one(ProvinceMap)
        assert province_map.display
        before = terminal(app)
        parts = [line[province_map.region.x :] for line in before.splitlines()]
        legend = [part for part in parts if "Tanah Bumbu" in part or "blm ack" in part]  # an entry and the key in words
        assert len(legend) == 2
        for n in range(3):
            app.say(f"Catatan #{n} tersimpan", timeout=0.6)
            await settle(pilot)
            shown = terminal(app)
            assert f"Catatan #{n} tersimpan" in shown
            assert all(part.strip() in shown for part in legend)  # the map's legend, drawn at the new height
            await pilot.pause(1.5)  # the app's one-second tick drops the notice: the rows come back
            await settle(pilot)
            assert terminal(app) == before  # the same screen as before the notice, map and all
