"""The config against the database at start (issue 14 item 5): each
difference is one log line, and a regency dropped while it has history
stops the server unless the operator accepts it (and the log says who)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from opsmon.core.config import Config, load_config
from server.app import OpsmonServer
from server.drift import ConfigDrift
from server.store.sqlite import SqliteStore
from tests.helpers import CONFIG_PATH, free_port, province, running_server
from tests.processes import opsmon_server as cli
from tests.wire import Peer, report


@contextlib.asynccontextmanager
async def started(db: Path, config: Config, *, accept: bool = False) -> AsyncIterator[OpsmonServer]:
    async with SqliteStore(db, synchronous="normal") as store:
        server = OpsmonServer(config, store)
        server.accept_config_change = accept
        await server.start("127.0.0.1", 0)
        try:
            yield server
        finally:
            await server.close()


def without(config: Config, code: str) -> Config:
    return msgspec.structs.replace(config, regencies=tuple(r for r in config.regencies if r.code != code))


def regency(config: Config, code: str, **changes: object) -> Config:
    return msgspec.structs.replace(config, regencies=tuple(msgspec.structs.replace(r, **changes) if r.code == code else r for r in config.regencies))  # type: ignore[arg-type]


async def with_history(tmp_path: Path) -> Path:
    """A night with an incident and progress in Banjarbaru (6372)."""
    async with running_server(tmp_path) as running:
        peer = await Peer.open(running, running.tokens["officer"])
        assert (await peer.command("report", **report(regency="6372")))["ok"]
        assert (await peer.command("stage", regency="6372", stage="logistik", done=800))["ok"]
        await peer.close()
        return running.db_path


def said(caplog: pytest.LogCaptureFixture, *words: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if all(w in r.getMessage() for w in words)]


async def test_a_dropped_regency_with_history_stops_the_server(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = await with_history(tmp_path)
    caplog.set_level(logging.WARNING, logger="opsmon.server")
    with pytest.raises(ConfigDrift, match="6372.*--accept-config-change"):
        async with started(db, without(province(), "6372")):
            pass
    assert len(said(caplog, "regency 6372 (Kota Banjarbaru)", "no longer in the config")) == 1


async def test_accepting_the_change_records_who_changed_what(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = await with_history(tmp_path)
    smaller = without(province(), "6372")
    async with started(db, smaller, accept=True) as server:
        [event] = [e for e in await server.store.events_since(0) if e.kind == "config.changed"]
        assert event.data.dropped_regencies == ["6372"] and "@" in event.data.by
        assert any("6372" in line for line in event.data.changes)
        assert ("6372", "logistik") not in server.state.stages
        head = server.state.seq
    # Accepted once: the next start with the same config needs no flag and writes nothing more.
    async with started(db, smaller) as server:
        assert server.state.seq == head


async def test_lower_totals_flipped_estimates_and_dropped_stages_are_each_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = await with_history(tmp_path)
    config = province()
    edited = regency(config, "6372", tps=700)
    edited = regency(edited, "6305", tps_estimated=False, tps=650)
    edited = msgspec.structs.replace(edited, stages=tuple(s for s in edited.stages if s.key != "logistik"))
    caplog.set_level(logging.WARNING, logger="opsmon.server")
    async with started(db, edited):
        pass
    assert len(said(caplog, "regency 6305 (Kabupaten Tapin)", "tps_estimated was true, now false", "648 -> 650")) == 1
    assert len(said(caplog, "stage 'logistik'", "no longer in the config")) == 1
    caplog.clear()
    async with started(db, regency(config, "6372", tps=700)) as server:
        assert server.state.stages[("6372", "logistik")].done == 700
    assert len(said(caplog, "regency 6372 stage 'logistik'", "total 700 is below the recorded progress 800")) == 1


@pytest.mark.slow
def test_a_mistyped_regency_code_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    """6372 -> 6327 in config.toml: passes validation, but the server will not start."""
    db = tmp_path / "opsmon.db"
    added = cli("token", "add", "Rahmat", "--role", "officer", "--agency", "KPU", "--db", str(db))
    assert added.returncode == 0
    asyncio.run(_progress_in(db, added.stdout.strip().splitlines()[-1]))
    typo = tmp_path / "config.toml"
    typo.write_text(CONFIG_PATH.read_text(encoding="utf-8").replace('code = "6372"', 'code = "6327"'), encoding="utf-8")
    assert load_config(typo).regency("6327") is not None
    done = cli("serve", "--db", str(db), "--port", str(free_port()), config=typo, timeout=30)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("opsmon-server: error:")]
    assert len(errors) == 1 and "6372" in errors[0] and "--accept-config-change" in errors[0], done.stderr


async def _progress_in(db: Path, token: str) -> None:
    async with started(db, province()) as server:
        peer = await Peer.open(f"ws://127.0.0.1:{server.port}/ws", token)
        assert (await peer.command("stage", regency="6372", stage="logistik", done=5))["ok"]
        await peer.close()
