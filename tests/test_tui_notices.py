"""The notice line (issue 21 item 10): notices take rows of their own and never cover
the queue, the header or the map; many alerts of a kind share one line; the bell rings
at most once per interval; a snooze that runs out says so. Against the real server."""

from __future__ import annotations

import tomllib

import pytest
from textual.widgets import Footer

from opsmon.core.config import ConfigError, parse_config
from opsmon.core.protocol import Escalate, Snooze
from opsmon.core.text import for_terminal
from opsmon.tui.app import OpsmonApp
from opsmon.tui.widgets.notices import NoticeBar
from opsmon.tui.widgets.provincemap import ProvinceMap
from opsmon.tui.widgets.status import HeaderBar
from tests.helpers import CONFIG_PATH, FakeClock, Running
from tests.tui_helpers import act, loaded, night_app, queue_of, report, screen_lines, settle, until


async def test_a_burst_of_escalations_is_one_line_under_the_queue_and_rings_once(server: Running, clock: FakeClock) -> None:
    titles = [f"Listrik padam TPS {n}" for n in range(1, 6)]
    ids = await report(server, clock, [("6371", "low", title) for title in titles])
    app = OpsmonApp(url=server.url, token=server.tokens["officer"], clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, loaded(app, 5))
        for incident in ids:
            await act(server, "polisi", Escalate(id=f"esc-{incident}", incident=incident))
        await until(pilot, lambda: any("5 eskalasi baru:" in line for line in screen_lines(app)))
        await settle(pilot)
        lines = screen_lines(app)
        [grouped] = [line for line in lines if "eskalasi baru" in line]
        assert f"#{ids[-1]}, #{ids[-2]}" in grouped  # the newest first, by number
        assert not any(line.count("ESKALASI level") for line in lines)  # one line, not five
        assert app.bells == 1  # a burst rings once
        # Its own rows: the header, the queue's rows and the footer are all still drawn.
        dashboard = app.dashboard
        bar = dashboard.query_one(NoticeBar)
        for widget in (dashboard.query_one(HeaderBar), queue_of(app), dashboard.query_one(Footer)):
            assert not widget.region.overlaps(bar.region), widget
        assert "opsmon" in lines[0] or "TPS" in lines[0]
        assert all(any(f"#{incident} Listrik" in line for line in lines) for incident in ids)  # every row of the queue still on screen


async def test_the_bell_rings_at_most_once_per_interval(server: Running, clock: FakeClock) -> None:
    [first] = await report(server, clock, [("6371", "low", "Listrik padam")])
    app = OpsmonApp(url=server.url, token=server.tokens["officer"], clock=clock, bell_interval=60)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, loaded(app, 1))
        await report(server, clock, [("6372", "critical", "Kericuhan")])
        await until(pilot, lambda: app.bells == 1)
        clock.advance(seconds=30)
        await act(server, "polisi", Escalate(id="esc", incident=first))
        await until(pilot, lambda: any("ESKALASI level 1" in n for n in app.notices))
        await settle(pilot)
        assert app.bells == 1  # 30 s after the last ring: its notice, no second ring
        clock.advance(seconds=31)
        await report(server, clock, [("6303", "critical", "Kotak suara dibakar")])
        await until(pilot, lambda: app.bells == 2)


def test_the_bell_interval_is_a_config_key_and_a_bad_one_is_one_line() -> None:
    data = tomllib.loads(CONFIG_PATH.read_text())
    assert parse_config(data | {"client": {"bell_interval": 30}}).client.bell_interval == 30
    with pytest.raises(ConfigError, match="bell_interval") as caught:
        parse_config(data | {"client": {"bell_interval": -1}})
    assert "\n" not in str(caught.value).strip()


async def test_a_snooze_that_runs_out_says_so(server: Running, clock: FakeClock) -> None:
    [incident] = await report(server, clock, [("6310", "high", "Saksi ditolak masuk")])
    await act(server, "admin", Snooze(id="snz", incident=incident, minutes=15, note="Menunggu Panwascam"))
    app = OpsmonApp(url=server.url, token=server.tokens["officer"], clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, loaded(app, 1))
        clock.advance(minutes=16)
        await server.server.deadlines.check()
        await until(pilot, lambda: any(f"PENUNDAAN BERAKHIR #{incident} Tanah Bumbu: Saksi ditolak masuk" in line for line in screen_lines(app)))


async def test_on_the_wall_many_notices_never_hide_the_map() -> None:
    app = night_app(wall=True)
    async with app.run_test(size=(220, 60)) as pilot:
        await settle(pilot)
        province_map = app.dashboard.query_one(ProvinceMap)
        assert province_map.display
        for n in range(10):
            app.say(f"KRITIS baru #{n + 100} Tanah Bumbu: [bold red]uji[/] {n}", error=True, replacing=n + 100, group="critical", incident=n + 100)
        await settle(pilot)
        bar = app.dashboard.query_one(NoticeBar)
        assert bar.display and bar.region.height <= 3
        assert not bar.region.overlaps(province_map.region)
        assert province_map.region.height > 20  # the map keeps its room
        lines = screen_lines(app)
        grouped = [line for line in lines if "10 kritis baru: #109, #108, #107, #106, #105, ..." in line]
        assert len(grouped) == 1
        app.say("[bold red]markup[/] stays text")
        await settle(pilot)
        assert any(for_terminal("[bold red]markup[/] stays text") in line for line in screen_lines(app))


async def test_notices_time_out_and_the_line_gives_its_rows_back() -> None:
    app = night_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        bar = app.dashboard.query_one(NoticeBar)
        before = queue_of(app).region.height
        assert not bar.display
        app.say("Lapsit No. 1 disimpan", timeout=0.3)
        await settle(pilot)
        assert bar.display and queue_of(app).region.height == before - 1
        await pilot.pause(1.2)  # the app's one-second tick drops it
        await settle(pilot)
        assert not bar.display and queue_of(app).region.height == before


async def test_the_notice_line_takes_a_third_row_only_on_a_tall_terminal() -> None:
    app = night_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for n in range(4):
            app.say(f"Catatan #{n} tersimpan", timeout=60)
        await settle(pilot)
        bar = app.dashboard.query_one(NoticeBar)
        assert bar.region.height == 2 and any("dan 3 pemberitahuan lain" in line for line in screen_lines(app))
        await pilot.resize_terminal(120, 40)
        await settle(pilot)
        assert bar.region.height == 3 and any("dan 2 pemberitahuan lain" in line for line in screen_lines(app))
