"""`opsmon demo`: the embedded server, its tokens and the simulator, headless.
The night must move (stages, incidents) and nothing may be left behind."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from opsmon.cli import main
from server.store.sqlite import SqliteStore
from tests.helpers import ROOT


def demo_folders(where: Path | None = None) -> set[str]:
    return {p.name for p in Path(where or tempfile.gettempdir()).glob("opsmon-demo-*")}


def test_headless_demo_moves_stages_and_raises_incidents_and_leaves_nothing(tmp_path: Path) -> None:
    # Its own temp folder, so another run on the machine cannot confuse the count.
    temp = tmp_path / "tmp"
    temp.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(temp)}
    done = subprocess.run(
        [sys.executable, "-m", "opsmon.cli", "demo", "--headless", "3", "--seed", "4"], capture_output=True, text=True, env=env, cwd=work, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    lines = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line and not line.startswith("opsmon demo"))
    assert int(lines["events"]) > 50
    incidents = int(lines["incidents"].split()[0])
    assert incidents >= 3
    moved = int(lines["stages"].split()[0])
    assert moved >= 26  # every regency at least in logistics and voting
    assert lines["database"] == "temporary, removed"
    # The whole night in the seconds given, and it says so.
    assert lines["played"].startswith("the whole night, all "), done.stdout
    assert "NOT PLAYED" not in done.stdout
    assert demo_folders(temp) == set()
    assert list(temp.iterdir()) == []
    assert list(work.iterdir()) == []  # nothing written where it ran


async def _count(path: Path) -> tuple[int, list[str]]:
    async with SqliteStore(path) as store:
        return await store.head(), [t.name for t in await store.tokens()]


def test_headless_demo_keeps_its_database_with_db_and_can_run_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "malam.db"
    assert main(["demo", "--headless", "1.5", "--seed", "1", "--db", str(db)]) == 0
    assert f"kept at {db}" in capsys.readouterr().out
    head, names = asyncio.run(_count(db))
    assert head > 20 and len(names) == 5 and "Petugas Posko" in names
    # A second run on the same database replaces the demo's tokens and goes on from there.
    assert main(["demo", "--headless", "1", "--seed", "2", "--db", str(db)]) == 0
    assert asyncio.run(_count(db))[0] > head


def test_demo_unknown_scenario_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--headless", "1", "--scenario", "pilkada"]) == 2
    assert "unknown scenario 'pilkada'" in capsys.readouterr().err


def test_headless_demo_says_plainly_what_it_did_not_play(capsys: pytest.CaptureFixture[str]) -> None:
    # Two seconds at x3600 is two hours of a three-week recapitulation: most of it is not played.
    assert main(["demo", "--headless", "2", "--speed", "3600", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("NOT PLAYED: "))
    unsent, planned = (int(n) for n in line.split()[2:5:2])
    assert 0 < unsent < planned and "scenario hours" in line
    assert "played: the whole night" not in out


def test_headless_demo_runs_on_scenario_time(tmp_path: Path) -> None:
    db = tmp_path / "malam.db"
    assert main(["demo", "--headless", "1.5", "--seed", "1", "--db", str(db), "--scenario", "hari-h"]) == 0

    async def first_report() -> str:
        async with SqliteStore(db) as store:
            return next(e.ts for e in await store.events_since(0) if e.kind == "incident.reported")

    # Voting day, 14 Feb 2024 (from 05:00 WITA), not today's wall clock.
    assert asyncio.run(first_report()).startswith("2024-02-1")
