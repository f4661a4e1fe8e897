"""The province map: rasterised from the boundaries file the config names, once per size."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsmon.core.config import ConfigError, load_config
from opsmon.core.geo import Grid, ProvinceShape, load_boundaries, province_shape
from opsmon.core.protocol import Ack, Escalate
from opsmon.training.sample_night import NOW, fixed_night
from opsmon.tui.app import OpsmonApp
from opsmon.tui.widgets.provincemap import FILL, ProvinceMap
from tests.helpers import CONFIG_PATH, Running, province
from tests.tui_helpers import act, report, settle, until

SIZES = [(30, 16), (44, 28), (60, 34), (90, 50)]


def shape() -> ProvinceShape:
    found = province_shape(province().province.boundaries)
    assert found is not None
    return found


def component(grid: Grid, start: tuple[int, int], code: str) -> set[tuple[int, int]]:
    """The pixels of `code` reachable from `start` without crossing anything else (4-connected)."""
    seen, todo = set(), [start]
    while todo:
        x, y = todo.pop()
        if (x, y) in seen or not (0 <= y < len(grid.pixels) and 0 <= x < len(grid.pixels[0])) or grid.pixels[y][x] != code:
            continue
        seen.add((x, y))
        todo += [(x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)]
    return seen


def nearest(grid: Grid, code: str, point: tuple[float, float]) -> tuple[int, int]:
    px, py = point
    return min(
        ((x, y) for y, row in enumerate(grid.pixels) for x, c in enumerate(row) if c == code),
        key=lambda p: (p[0] + 0.5 - px) ** 2 + (p[1] + 0.5 - py) ** 2,
    )


def test_the_config_names_the_boundaries_file_shipped_with_the_package() -> None:
    path = province().province.boundaries
    assert path is not None and path.name == "kalsel-regencies.geojson"
    assert "Copyright (c) 2024 Cahya DSN" in (path.parent / "README.md").read_text(encoding="utf-8")  # the attribution travels with it
    codes = {r.code for r in province().regencies}
    assert {r.code for r in load_boundaries(path)} == codes


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_every_regency_gets_cells_and_its_label_sits_on_them(width: int, height: int) -> None:
    grid = shape().grid(width, height)
    for code in shape().codes:
        assert grid.count(code) > 0, code
        column, row = grid.labels[code]
        assert code in (grid.cells[row][column].top, grid.cells[row][column].bottom), code
    # Bigger regencies get more of the map: Kotabaru (the largest) beats Banjarmasin (a city).
    assert grid.count("6302") > 10 * grid.count("6371")


@pytest.mark.parametrize(("width", "height"), SIZES[1:])
def test_pulau_laut_is_an_island_off_kotabaru(width: int, height: int) -> None:
    s = shape()
    grid = s.grid(width, height)
    project = s.projection(width, height)
    island = nearest(grid, "6302", project(116.2, -3.7))  # Pulau Laut, south of Kotabaru town
    mainland = nearest(grid, "6302", project(116.0, -2.7))
    reached = component(grid, island, "6302")
    assert mainland not in reached  # sea between them, at every size
    assert len(reached) >= 4  # and an island of some size, not a speck
    # Drawn: the cells of the island show Kotabaru only.
    assert all(code in ("6302", None) for x, y in reached for code in (grid.cells[y // 2][x].top, grid.cells[y // 2][x].bottom))


def test_rasterised_once_per_size() -> None:
    s = shape()
    first = s.grid(50, 25)
    assert s.grid(50, 25) is first
    assert s.rasterisations == 1
    s.grid(51, 25)
    assert s.rasterisations == 2


def test_a_missing_boundaries_file_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    text = CONFIG_PATH.read_text(encoding="utf-8").replace('boundaries = "kalsel-regencies.geojson"', 'boundaries = "nowhere.geojson"')
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"config.toml: province\.boundaries: no such file 'nowhere\.geojson'"):
        load_config(tmp_path / "config.toml")


def test_without_boundaries_there_is_no_map(tmp_path: Path) -> None:
    text = CONFIG_PATH.read_text(encoding="utf-8").replace('boundaries = "kalsel-regencies.geojson"\n', "")
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    assert load_config(tmp_path / "config.toml").province.boundaries is None


def map_app(*, wall: bool = False) -> OpsmonApp:
    config = province()
    welcome, state, events = fixed_night(config)
    return OpsmonApp.with_state(welcome, state, wall=wall, clock=lambda: NOW, events=events, shape=province_shape(config.province.boundaries))


def legend(app: OpsmonApp) -> str:
    widget = app.screen.query_one(ProvinceMap)
    return str(widget.render())


async def test_the_wall_shows_the_map_beside_the_panels_with_a_legend_in_words() -> None:
    app = map_app(wall=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(0.3)
        widget = app.screen.query_one(ProvinceMap)
        assert widget.display and widget.region.x > 80  # to the right of the panels
        text = legend(app)
        # Tanah Bumbu and Kotabaru have an unacknowledged critical incident, HSS a blocked count.
        assert " 0 Tanah Bumbu " + FILL["critical"] + " KRITIS" in text  # its panel's key, 0, not 10
        assert "10 " not in text and "11 Balangan" in text  # past the keys: 11 on, named in the legend
        assert "2 Kotabaru    " + FILL["critical"] + " KRITIS" in text
        assert "6 HSS         " + FILL["blocked"] + " HAMBAT" in text
        assert "7 HST         " + FILL["quiet"] + " tenang" in text
        assert FILL["critical"] + " KRITIS blm ack" in text  # the key: each shade in words
        # Repaints with nothing new do not redraw the map.
        draws = widget.draws
        for _ in range(3):
            app.mark_dirty()
            await pilot.pause(0.15)
        assert widget.draws == draws


async def test_the_map_key_toggles_the_map_on_the_officers_dashboard() -> None:
    app = map_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        widget = app.screen.query_one(ProvinceMap)
        assert not widget.display  # 120 columns: the queue needs them, so no map until asked
        await pilot.press("m")
        await pilot.pause(0.2)
        assert widget.display and widget.size.width >= 40
        assert "Tanah Bumbu" in legend(app)
        await pilot.press("m")
        await pilot.pause(0.2)
        assert not widget.display
    app = map_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(0.2)
        assert app.screen.query_one(ProvinceMap).display  # room enough: shown until the key hides it
        await pilot.press("m")
        await pilot.pause(0.2)
        assert not app.screen.query_one(ProvinceMap).display


async def test_an_acknowledged_escalated_incident_no_longer_shades_its_regency_eskalasi(server: Running) -> None:
    # Banjarmasin's high incident escalated by an officer: the wall's map says ESKALASI while
    # nobody has acknowledged it, and once someone has, only that it has incidents.
    (incident,) = await report(server, server.server.clock, [("6371", "high", "Kotak suara basah")])
    await act(server, "officer", Escalate(id="esc", incident=incident, note="Belum ada yang menjawab"))
    app = OpsmonApp(url=server.url, token=server.tokens["wall"], wall=True, clock=server.server.clock, shape=shape())
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: incident in app.state.incidents)
        await settle(pilot)
        assert "Banjarmasin " + FILL["escalated"] + " ESKAL" in legend(app)  # the short words at this width
        await act(server, "officer", Ack(id="ack", incident=incident))
        await until(pilot, lambda: app.state.incidents[incident].status == "acknowledged")
        await settle(pilot)
        assert "Banjarmasin " + FILL["incidents"] + " insiden" in legend(app)
        assert app.state.incidents[incident].level == 1  # its level stays in the record
