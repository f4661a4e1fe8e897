"""Stage windows with their year (issue 26 item 10): a stage is late when the
config's full date and time plus its grace have passed, on the night's own
calendar (an exercise's scenario), never because of the machine's date."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import msgspec
import pytest

from opsmon.core.config import ConfigError, parse_config
from opsmon.core.view import past_window, window_closes
from opsmon.training.exercise import on_calendar
from tests.exercises import exercise_server
from tests.helpers import FakeClock, hello, province, running_server, shipped

WITA = timezone(timedelta(hours=8), "WITA")


def test_voting_closes_at_13_and_is_late_only_after_its_grace() -> None:
    voting = province().info().stage("pemungutan")
    assert voting is not None
    assert window_closes(voting) == datetime(2024, 2, 14, 14, 30, tzinfo=WITA)  # 13:00 and 90 minutes
    assert not past_window(voting, datetime(2024, 2, 14, 14, 29, tzinfo=WITA))
    assert past_window(voting, datetime(2024, 2, 14, 14, 30, tzinfo=WITA))


def test_a_window_is_judged_by_its_own_year_not_the_machines() -> None:
    # The old rule read "14 Feb" in the year of `now`: in 2026 every 2024 stage was "late",
    # and on 1 Jan 2024 a stage was judged against 14 Feb 2024 by luck only.
    logistics = province().info().stage("logistik")
    assert logistics is not None
    assert not past_window(logistics, datetime(2024, 2, 13, 23, 59, tzinfo=WITA))
    assert past_window(logistics, datetime(2024, 2, 14, 0, 0, tzinfo=WITA))
    assert not past_window(logistics, datetime(2023, 12, 31, tzinfo=WITA))


def test_a_stage_without_a_close_is_never_late() -> None:
    data = shipped()
    del data["stages"][0]["closes"]
    stage = parse_config(data).info().stages[0]
    assert window_closes(stage) is None and not past_window(stage, datetime(2099, 1, 1, tzinfo=UTC))


def test_a_close_without_an_offset_is_the_provinces_time_and_bad_ones_are_named() -> None:
    data = shipped()
    assert parse_config(data).info().stages[0].closes == "2024-02-14T00:00:00+08:00"
    for bad, said in (("besok", "not 'besok'"), (5, "not an integer"), (date(2024, 2, 14), "a date alone")):
        data["stages"][0]["closes"] = bad
        with pytest.raises(ConfigError, match=rf"^stages\[0\]\.closes: must be a TOML date and time .*{said}"):
            parse_config(data)
    data = shipped()
    data["stages"][1]["grace_minutes"] = -1
    with pytest.raises(ConfigError, match=r"^stages\[1\]\.grace_minutes: must be at least 0, not -1$"):
        parse_config(data)


def test_an_exercise_moves_the_windows_to_its_scenarios_year() -> None:
    info = province().info()
    later = msgspec.structs.replace(
        info, stages=tuple(msgspec.structs.replace(s, closes=s.closes.replace("2024", "2029")) for s in info.stages if isinstance(s.closes, str))
    )
    placed = on_calendar(later, datetime(2024, 2, 13, 21, 0, tzinfo=UTC))
    assert [s.closes for s in placed.stages] == [s.closes for s in info.stages]
    # The same year: untouched. 29 Feb into a year without one: the 28th.
    assert on_calendar(info, datetime(2024, 2, 14, tzinfo=UTC)) is info
    leap = msgspec.structs.replace(info, stages=(msgspec.structs.replace(info.stages[0], closes="2024-02-29T12:00:00+08:00"),))
    assert on_calendar(leap, datetime(2025, 2, 1, tzinfo=UTC)).stages[0].closes == "2025-02-28T12:00:00+08:00"


async def test_an_exercise_welcome_carries_the_windows_on_its_calendar(tmp_path: Path) -> None:
    async with exercise_server(tmp_path, speed=60) as (running, _):
        ws, welcome = await hello(running.url, running.tokens["officer"])
        await ws.close()
    closes = {s["key"]: s.get("closes") for s in welcome["config"]["stages"]}
    assert closes["pemungutan"] == "2024-02-14T13:00:00+08:00"


async def test_a_real_night_served_with_last_elections_windows_is_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="opsmon.server"):
        async with running_server(tmp_path, db_name="old.db", clock=FakeClock(datetime(2026, 12, 6, tzinfo=UTC))):
            pass
    assert any("every stage window in the config closed by 11 Mar 2024" in r.getMessage() and "closes" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="opsmon.server"):
        async with running_server(tmp_path, db_name="night.db", clock=FakeClock(datetime(2024, 2, 14, 13, 0, tzinfo=UTC))):
            pass
    assert not any("stage window" in r.getMessage() for r in caplog.records)
