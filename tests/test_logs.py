"""Logs an operator can use: every command carried out or refused is one line
(who, what, which incident or regency, the outcome) in WITA, as text or one
JSON object a line; failed hellos name the reason and the address;
escalations name the incident; and no token ever appears."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path

import pytest

from server.logs import JsonFormatter, TextFormatter
from tests.helpers import FakeClock, free_port, hello, province, running_server
from tests.processes import add_token, opsmon_server, serving
from tests.wire import Peer, report

WITA = province().province.tz


async def night_of_mistakes(url: str, officer: str, wall: str, revoked: str) -> None:
    """What an operator wants to find in the log afterwards."""
    peer = await Peer.open(url, officer)
    assert (await peer.command("report", **report(title="Kotak suara rusak")))["ok"]
    assert (await peer.command("ack", incident=1))["ok"]
    assert not (await peer.command("ack", incident=1))["ok"]  # already acknowledged
    assert not (await peer.command("report", **report(title="Palsu\n2024-02-14 21:00:00 WITA INFO opsmon.server: forged")))["ok"]
    assert (await peer.command("stage", regency="6303", stage="penghitungan", done=12))["ok"]
    await peer.close()
    viewer = await Peer.open(url, wall)
    assert (await viewer.command("ack", incident=1))["code"] == "forbidden"
    await viewer.close()
    for token in ("ops_" + "x" * 43, revoked):
        ws, answer = await hello(url, token)
        assert answer["code"] == "unauthorized"
        await ws.close()


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["json", "text"])
async def test_the_log_says_who_did_what_and_never_a_token(tmp_path: Path, fmt: str) -> None:
    db = tmp_path / "opsmon.db"
    officer = add_token(db, "Rahmat", agency="Bawaslu")
    wall = add_token(db, "Dinding posko", role="viewer")
    revoked = add_token(db, "Lama")
    assert (await asyncio.to_thread(opsmon_server, "token", "revoke", "Lama", "--db", str(db))).returncode == 0
    secrets = [officer, wall, revoked]
    # debug: websockets then logs every frame, hellos and their tokens included.
    async with serving("--db", str(db), "--port", str(free_port()), "--log-format", fmt, "--log-level", "debug") as server:
        url = server.first_line.split("listening on ")[1].split()[0]
        await night_of_mistakes(url, officer, wall, revoked)
        await server.until_logged("Lama")
        log = await server.stop()
    for secret in secrets:
        assert secret not in log and secret[4:20] not in log
    assert "ops_xxxxxxxx" not in log  # an unknown token is not logged either
    lines = log.splitlines()
    if fmt == "json":
        records = [json.loads(line) for line in lines]  # every line is one JSON object
        assert all(r["ts"].endswith("+08:00") for r in records)
        audit = [r for r in records if r.get("command") and r.get("who")]
        ok = [r for r in audit if r["outcome"] == "ok"]
        assert [(r["command"], r.get("incident"), r.get("regency")) for r in ok] == [("report", 1, "6371"), ("ack", 1, "6371"), ("stage", None, "6303")]
        assert all(r["who"] == "Rahmat" and r["agency"] == "Bawaslu" and r["token"] == "Rahmat" and r["role"] == "officer" for r in ok)
        refused = [(r["who"], r["command"], r["code"], r.get("reason")) for r in audit if r["outcome"] == "refused"]
        assert refused == [
            ("Rahmat", "ack", "conflict", "already"),
            ("Rahmat", "report", "invalid", "control_character"),
            ("Dinding posko", "ack", "forbidden", "read_only"),
        ]
        texts = [r["message"] for r in records]
    else:
        stamp = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d WITA (DEBUG|INFO|WARNING|ERROR) ")
        assert all(stamp.match(line) for line in lines), [line for line in lines if not stamp.match(line)][:3]
        assert not any(line.startswith("2024-02-14 21:00:00 WITA INFO opsmon.server: forged") for line in lines)  # the title's newline started no line
        texts = lines
    joined = "\n".join(texts)
    assert re.search(r"command by Rahmat \(Bawaslu officer\): report regency 6371, high, \"Kotak suara rusak\" -> ok, seq \d+, incident #1", joined)
    assert "command by Rahmat (Bawaslu officer): ack incident #1 (regency 6371) -> ok" in joined
    assert "refused by Rahmat (Bawaslu officer): ack incident #1 (regency 6371) -> refused conflict (already)" in joined
    assert "refused by Dinding posko (KPU viewer): ack incident #1" in joined and "refused forbidden (read_only)" in joined
    assert "refused a hello from 127.0.0.1: unknown token" in joined
    assert "refused a hello from 127.0.0.1: token 'Lama' revoked at" in joined
    assert "token revoked: Lama" in joined and "token added: Rahmat (role officer, agency Bawaslu" in joined


async def test_escalations_name_the_incident(tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="opsmon.server")
    async with running_server(tmp_path, clock=clock) as running:
        peer = await Peer.open(running, running.tokens["officer"])
        assert (await peer.command("report", **report(regency="6303", severity="critical", title="Ricuh di PPK")))["ok"]
        clock.advance(minutes=30)
        assert await running.server.deadlines.check() == 1
        await peer.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "opsmon.server"]
    assert any(re.fullmatch(r"escalated incident #1 \(regency 6303, critical\) to level 1: not acknowledged by its deadline", line) for line in lines), lines


def test_formatters_write_wita_and_cut_out_anything_like_a_token() -> None:
    record = logging.LogRecord("opsmon.server", logging.INFO, __file__, 1, "hello with %s", ("ops_AbCdEf0123456789AbCdEf0123456789AbCdEf01234",), None)
    record.created = 1707915909.5  # 2024-02-14 13:05:09.5 UTC
    text = TextFormatter(WITA).format(record)
    assert text == "2024-02-14 21:05:09 WITA INFO opsmon.server: hello with ops_[redacted]"
    body = json.loads(JsonFormatter(WITA).format(record))
    assert body == {"ts": "2024-02-14T21:05:09.500+08:00", "level": "info", "logger": "opsmon.server", "message": "hello with ops_[redacted]"}


@pytest.mark.parametrize("level", ["info", "debug"])
async def test_health_and_metrics_requests_log_at_debug_not_info(tmp_path: Path, level: str) -> None:
    """A load balancer's check every 2 s must not write two INFO lines each (86,000 a day)."""
    import urllib.request

    db = tmp_path / "opsmon.db"
    officer = add_token(db, "Rahmat")
    async with serving("--db", str(db), "--port", str(free_port()), "--log-level", level) as server:
        url = server.first_line.split("listening on ")[1].split()[0]
        base = url.replace("ws://", "http://").removesuffix("/ws")
        for path in ("/healthz", "/metrics", "/healthz?x=1"):
            await asyncio.to_thread(lambda p=path: urllib.request.urlopen(base + p, timeout=5).read())  # type: ignore[misc]
        peer = await Peer.open(url, officer)  # a websocket is still logged as before
        await peer.close()
        await server.until_logged("connection open")
        log = await server.stop()
    info = [line for line in log.splitlines() if " INFO " in line]
    assert not any("HTTP response sent" in line for line in info), info
    assert sum("connection closed" in line for line in info) == 1  # the websocket's, not the three requests'
    debug = [line for line in log.splitlines() if " DEBUG " in line and "HTTP response sent (200 OK)" in line]
    assert len(debug) == (3 if level == "debug" else 0)


async def test_the_token_added_line_gives_its_expiry_in_wita(tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    from datetime import timedelta

    from server.auth import add_token as add_token_record

    caplog.set_level(logging.INFO, "opsmon.server")
    async with running_server(tmp_path, clock=clock) as running:
        known = {r.code for r in running.config.regencies}
        # 13:00 UTC + 9 h = 22:00 UTC, 06:00 the next morning in Banjarmasin.
        await add_token_record(running.store, "Relawan", "officer", "KPU", None, known, expires=clock.now + timedelta(hours=9), log_change=True)
        await running.server.tokens.log_changes()
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("token added: Relawan")]
    assert "expires 2024-02-15 06:00 WITA" in line and "Z" not in line.split("expires", 1)[1], line
