"""The night as charts: the series (pure), on the wall, and in a regency's detail."""

from __future__ import annotations

from datetime import timedelta

from rich.console import Console
from textual.widgets import Sparkline, Static

from opsmon.reports.timeline import night
from opsmon.training.sample_night import NOW, START, fixed_night
from opsmon.tui.app import OpsmonApp
from opsmon.tui.screens.regency import RegencyScreen
from opsmon.tui.widgets.charts import NightCharts
from opsmon.tui.widgets.queue import IncidentQueue
from tests.helpers import province
from tests.tui_helpers import screen_lines


def test_incidents_per_hour_by_severity_and_tps_counted_over_time() -> None:
    welcome, state, events = fixed_night(province())
    series = night(state, events, welcome.config, NOW)
    # Reported 20:42 to 21:26 WITA: the 20:00 and 21:00 hours; six hours shown at least.
    assert len(series.hours) == 6 and series.hours[-1] == NOW.replace(minute=0)
    assert series.incidents["critical"][-2:] == [1, 1]  # 20:55 Tanah Bumbu, 21:13 Kotabaru
    assert series.incidents["low"][-2:] == [0, 3]
    assert sum(sum(v) for v in series.incidents.values()) == 9
    # Counting was reported an hour before the first incident; the series ends at today's count.
    counted = sum(row.done for (_, stage), row in state.stages.items() if stage == "penghitungan")
    assert series.tps[-1] == counted and series.tps_total == 13584
    assert series.tps == sorted(series.tps) and series.tps[0] == 0  # nothing known before the first update
    # One regency: only its own.
    bjm = night(state, events, welcome.config, NOW, regency="6371")
    assert sum(bjm.incidents["high"]) == 1 and sum(bjm.incidents["medium"]) == 1 and sum(bjm.incidents["critical"]) == 0
    assert bjm.tps[-1] == 1940 and bjm.tps_total == 1940
    # Twelve hours at most, however long ago the night began.
    assert len(night(state, events, welcome.config, NOW + timedelta(days=2)).hours) == 12
    assert START < NOW


def shown(renderable: object) -> str:
    console = Console(width=120, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def app(*, wall: bool) -> OpsmonApp:
    welcome, state, events = fixed_night(province())
    return OpsmonApp.with_state(welcome, state, wall=wall, clock=lambda: NOW, events=events)


async def test_the_wall_shows_the_charts_when_tall_enough() -> None:
    wall = app(wall=True)
    async with wall.run_test(size=(200, 60)) as pilot:
        await pilot.pause(0.3)
        charts = wall.screen.query_one(NightCharts)
        assert charts.display
        assert wall.screen.query_one("#spark-critical", Sparkline).data == wall.night().incidents["critical"]
        assert wall.screen.query_one("#spark-tps", Sparkline).data == wall.night().tps
        assert "Kritis          2" in str(wall.screen.query_one("#label-critical").render())
    small = app(wall=True)
    async with small.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        assert not small.screen.query_one(NightCharts).display  # no room: panels and ticker first
    officer = app(wall=False)
    async with officer.run_test(size=(200, 60)) as pilot:
        await pilot.pause(0.3)
        assert not officer.screen.query_one(NightCharts).display  # the officer's queue keeps the room


async def test_a_regencys_detail_lists_its_stages_incidents_and_charts() -> None:
    officer = app(wall=False)
    async with officer.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("d")  # nothing focused yet: the selected incident's regency
        await pilot.pause(0.2)
        assert isinstance(officer.screen, RegencyScreen) and officer.screen.code == "6310"  # the most urgent: Tanah Bumbu
        await pilot.press("escape")
        await pilot.press("0", "tab")  # Tanah Bumbu (10), then Balangan (11)
        await pilot.press("d")
        await pilot.pause(0.2)
        screen = officer.screen
        assert isinstance(screen, RegencyScreen) and screen.code == "6311"
        facts = shown(screen.query_one("#regency-facts", Static).content)
        assert "Kabupaten Balangan (6311)" in facts and "Rekap PPK" in facts and "1/8" in facts
        incidents = shown(screen.query_one("#regency-incidents", Static).content)
        assert "R1" in incidents  # its open incidents by severity; the incidents themselves in its queue
        assert [i.id for i in screen.query_one(IncidentQueue).incidents] == [8]
        assert any("#8 Sirekap gagal unggah foto C1" in line for line in screen_lines(officer))
        assert screen.query_one("#spark-low", Sparkline).data == officer.night("6311").incidents["low"]
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert not isinstance(officer.screen, RegencyScreen)
