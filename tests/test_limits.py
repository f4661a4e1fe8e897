"""Limits before parsing (issue 22, items 3, 4, 10, 12): a frame's rate and
role are checked before its strings are, a connection that keeps sending
what is refused is throttled and closed, a hello is capped before it is read
and failed hellos are throttled per address, sockets are counted and timed
from TCP accept, deep JSON is a plain `bad_message`, identical warnings are
one line, and no part of a token reaches the log at any level.

Real server on a loopback port, raw websocket clients and raw TCP sockets."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from pathlib import Path

import msgspec
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from opsmon.core.config import Config
from server.logs import logging_to_stderr
from tests.helpers import hello, province, recv_json, running_server
from tests.wire import Peer, http_get, report

WITA = province().province.tz


def with_server(**settings: object) -> Config:
    config = province()
    return msgspec.structs.replace(config, server=msgspec.structs.replace(config.server, **settings))


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# --- item 3: rate and role before validation; refused frames throttled, then closed ----------


async def test_a_viewers_write_is_refused_before_its_text_is_checked(tmp_path: Path) -> None:
    async with running_server(tmp_path) as running:
        wall = await Peer.open(running, running.tokens["wall"])
        # Validated, this note would be `invalid` (a control character); the role comes first.
        answer = await wall.command("note", incident=1, text="x\x1b" * 1999)
        assert (answer["code"], answer["reason"]) == ("forbidden", "read_only")
        await wall.close()


async def test_a_viewer_that_keeps_sending_writes_is_closed_five_times_sooner(tmp_path: Path) -> None:
    """A read-only token's write counts five times towards refused_commands_per_minute
    (50 here): the eleventh forbidden write closes the connection 1008; an officer's
    refused commands count once each."""
    async with running_server(tmp_path, config=with_server(refused_commands_per_minute=50, bad_frames_per_minute=1000)) as running:
        wall = await Peer.open(running, running.tokens["wall"])
        for n in range(30):
            await wall.send({"type": "note", "id": f"w{n}", "incident": 1, "text": "catatan"})
        code, frames = await wall.closed(timeout=10)
        assert (code, wall.ws.close_reason) == (1008, "too many refused commands")
        assert [f["code"] for f in frames if f.get("type") == "result"] == ["forbidden"] * 11  # 11 x 5 = 55, past 50
        officer = await Peer.open(running, running.tokens["officer"])
        for _ in range(30):  # invalid (a title with ESC): refused, counted once each
            assert (await officer.command("report", **report(title="bad\x1b")))["code"] == "invalid"
        assert (await officer.command("report", **report()))["ok"]  # still open
        await officer.close()


async def test_a_flood_is_rate_limited_before_validation_then_closed_1008(tmp_path: Path) -> None:
    config = with_server(commands_per_second=5.0, refused_commands_per_minute=40, bad_frames_per_minute=1000)
    async with running_server(tmp_path, config=config) as running:
        honest = await Peer.open(running, running.tokens["polisi"])
        flood = await Peer.open(running, running.tokens["officer"])
        started = time.monotonic()
        for n in range(80):  # every one invalid (a title with ESC), past the burst of 20
            await flood.send({"type": "report", "id": f"f{n}", **report(title="bad\x1b" * 40)})
        code, frames = await flood.closed(timeout=20)
        took = time.monotonic() - started
        results = [f for f in frames if f.get("type") == "result"]
        codes = [r["code"] for r in results]
        assert codes[:20] == ["invalid"] * 20  # the burst: validated and refused
        assert codes[20] == "rate_limited"  # past the burst, refused before its strings are read
        assert code == 1008 and flood.ws.close_reason == "too many refused commands"
        assert len(results) == 41  # every refusal counts, invalid or rate_limited
        assert took >= 1.0  # throttled: read no faster than 5 a second once the bucket is empty
        assert codes[20:].count("invalid") <= took * 5 + 1
        assert (await honest.command("report", **report()))["ok"]  # nobody else noticed
        await honest.close()


async def test_one_tokens_connections_share_one_rate_and_other_tokens_do_not_notice(tmp_path: Path) -> None:
    # The hostile bench's attacks 1 and 2: twenty connections of one officer token, each
    # just under its own rate. Together they are held to the token's rate.
    config = with_server(commands_per_second=20.0, token_commands_per_second=10.0, refused_commands_per_minute=10_000)
    async with running_server(tmp_path, config=config) as running:
        honest = await Peer.open(running, running.tokens["polisi"])
        flood = [await Peer.open(running, running.tokens["officer"]) for _ in range(4)]
        for n in range(10):  # 40 reports at once: within each connection's burst of 80, past the token's 20
            for k, peer in enumerate(flood):
                await peer.send({"type": "report", "id": f"t{k}-{n}", **report(title=f"Laporan {k}-{n}", location=f"TPS {k}{n:03d}")})
        results = []
        for peer in flood:  # refusals are answered at once, the others after their commit: any order
            mine: list[dict[str, object]] = []
            while len(mine) < 10:
                frame = await peer.next(30)
                if frame.get("type") == "result":
                    mine.append(frame)
            results += mine
        codes = [str(r["code"]) if not r["ok"] else "ok" for r in results]
        # The token's burst (20) and what refills while the refused ones wait: well short of 40.
        assert codes.count("ok") <= 30 and codes.count("rate_limited") >= 10
        limited = next(r for r in results if not r["ok"])
        assert limited["params"]["rate"] == 10.0 and "all its connections together" in limited["message"]
        assert (await honest.command("report", **report(title="Laporan lain", location="TPS 999")))["ok"]  # another token: its own rate
        for peer in (honest, *flood):
            await peer.close()


# --- item 3: the hello capped; failed hellos throttled per address; warnings collapsed ------


async def test_an_oversized_hello_is_refused_unread(tmp_path: Path) -> None:
    async with running_server(tmp_path) as running:
        ws = await connect(running.url)
        await ws.send(json.dumps({"type": "hello", "token": running.tokens["officer"], "client": "x" * 4000}))
        answer = await recv_json(ws)
        assert answer["code"] == "unauthorized" and "at most 2048 bytes" in answer["message"]
        ws, answer = await hello(running.url, "ops_" + "y" * 400)
        assert answer["code"] == "unauthorized" and "length <= 256" in answer["message"]
        await ws.close()


async def test_failed_hellos_are_throttled_per_address_and_their_warnings_collapse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with logging_to_stderr("info", "text", WITA):
        async with running_server(tmp_path, config=with_server(failed_hellos_per_minute=3)) as running:
            for _ in range(3):
                ws, answer = await hello(running.url, "ops_" + "z" * 43)
                assert answer["code"] == "unauthorized"
                await ws.close()
            for _ in range(20):
                with pytest.raises(InvalidStatus) as refused:
                    await connect(running.url)
                assert refused.value.response.status_code == 429
                assert int(refused.value.response.headers["Retry-After"]) >= 1
                assert b"failed_hellos_per_minute" in refused.value.response.body
            # A good token from the same address waits too; /healthz does not.
            with pytest.raises(InvalidStatus):
                await connect(running.url)
            assert (await http_get(running, "/healthz"))[0] == 200
    err = capsys.readouterr().err
    throttled = [line for line in err.splitlines() if "too many failed hellos" in line]
    assert len(throttled) == 2, throttled  # the first, then one that counts the rest
    assert "repeated 20 more times" in throttled[1]
    assert err.count("refused a hello from 127.0.0.1: unknown token") == 2  # the first; the count at the end


# --- item 4: half-open sockets ----------------------------------------------------------------


def raw_socket(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(5)
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


async def test_sockets_are_counted_and_timed_from_accept(tmp_path: Path) -> None:
    config = with_server(max_connections_per_address=3, handshake_timeout_seconds=1.0)
    async with running_server(tmp_path, config=config) as running:
        port = running.server.port
        # 3 + 8 headroom sockets that never send a byte: all accepted, none served.
        silent = [raw_socket(port) for _ in range(11)]
        await asyncio.sleep(0.2)
        assert running.server.connections.sockets["127.0.0.1"] == 11
        extra = raw_socket(port)  # one more: dropped at accept, before any handshake
        assert await asyncio.to_thread(closed_by_server, extra)
        started = time.monotonic()
        assert all(await asyncio.gather(*(asyncio.to_thread(closed_by_server, s) for s in silent)))  # the handshake timeout
        assert time.monotonic() - started < 4
        for sock in [*silent, extra]:
            sock.close()
        await asyncio.sleep(0.1)
        assert running.server.connections.sockets_open == 0
        # An address at its websocket limit may still ask /healthz (the headroom).
        peers = [await Peer.open(running, running.tokens[name]) for name in ("officer", "polisi", "wall")]
        assert (await http_get(running, "/healthz"))[0] == 200
        for peer in peers:
            await peer.close()


async def test_a_flood_of_sockets_dropped_at_accept_is_one_log_line_with_a_count(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Sockets past the per-address limit are dropped at accept without a log record
    each: one line per address (and reason) per interval, the next saying how many
    more were dropped since. Another address is not touched."""
    config = with_server(max_connections_per_address=1, handshake_timeout_seconds=30.0)
    async with running_server(tmp_path, config=config) as running:
        running.server.connections.drop_log_seconds = 1.0
        port = running.server.port
        held = [raw_socket(port) for _ in range(9)]  # 1 + 8 headroom: all accepted
        await asyncio.sleep(0.2)
        with caplog.at_level(logging.WARNING, logger="opsmon.server"):
            flood = [raw_socket(port) for _ in range(40)]
            assert all(await asyncio.gather(*(asyncio.to_thread(closed_by_server, s) for s in flood)))
            dropped = [r.getMessage() for r in caplog.records if "dropped a connection" in r.getMessage()]
            assert dropped == ["dropped a connection from 127.0.0.1 at accept: 9 sockets open from it (max_connections_per_address + 8)"]
            await asyncio.sleep(1.1)
            late = raw_socket(port)
            assert await asyncio.to_thread(closed_by_server, late)
            dropped = [r.getMessage() for r in caplog.records if "dropped a connection" in r.getMessage()]
            assert dropped[1:] == [
                "dropped a connection from 127.0.0.1 at accept: 9 sockets open from it (max_connections_per_address + 8) (39 more dropped since the last such line)"
            ]
        assert running.server.connections.sockets["127.0.0.1"] == 9
        # Another address still gets in, and the held sockets were never disturbed.
        other = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.2", 0)) if _has_127_0_0_2() else None
        for sock in [*held, *flood, late]:
            sock.close()
        if other is not None:
            other.settimeout(0.3)
            assert not closed_by_server(other)
            other.close()


async def test_a_request_trickled_a_byte_at_a_time_is_closed_long_before_the_handshake_timeout(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Slowloris: headers a byte at a time keep no socket past the request timeout
    (5 s by default; 0.5 s here), whatever handshake_timeout_seconds says; a client
    that sends its request at once is served as ever."""
    async with running_server(tmp_path, config=with_server(handshake_timeout_seconds=30.0)) as running:
        running.server.connections.request_seconds = 0.5
        slow = raw_socket(running.server.port)
        slow.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        with caplog.at_level(logging.WARNING, logger="opsmon.server"):
            closed = False
            for _ in range(40):  # a header byte every 0.1 s, for up to 4 s
                try:
                    slow.sendall(b"X")
                except OSError:
                    closed = True
                    break
                await asyncio.sleep(0.1)
            assert closed or await asyncio.to_thread(closed_by_server, slow)
        assert "dropped a connection from 127.0.0.1 before its handshake: no complete HTTP request within 0.5 s" in caplog.text
        slow.close()
        peer = await Peer.open(running, running.tokens["officer"])
        await asyncio.sleep(0.8)  # past the request timeout: a greeted connection stays
        assert (await peer.command("report", **report()))["ok"]
        await peer.close()


def _has_127_0_0_2() -> bool:
    """Whether this machine routes 127.0.0.2 to loopback (Linux does: all of 127/8)."""
    try:
        with socket.socket() as probe:
            probe.bind(("127.0.0.2", 0))
        return True
    except OSError:
        return False


async def test_the_last_descriptors_are_kept_for_healthz(tmp_path: Path) -> None:
    async with running_server(tmp_path) as running:
        connections = running.server.connections
        connections.socket_budget = 14  # what a LimitNOFILE of 78 leaves for clients
        port = running.server.port
        silent = [raw_socket(port) for _ in range(8)]
        await asyncio.sleep(0.2)
        with pytest.raises(InvalidStatus) as refused:
            await connect(running.url)
        assert refused.value.response.status_code == 503
        assert (await http_get(running, "/healthz"))[0] == 200
        for sock in silent:
            sock.close()
        await asyncio.sleep(0.1)
        peer = await Peer.open(running, running.tokens["officer"])
        await peer.close()


# --- item 10: deep JSON -----------------------------------------------------------------------


async def test_deeply_nested_json_is_bad_message_and_keeps_the_connection(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with running_server(tmp_path) as running:
        officer = await Peer.open(running, running.tokens["officer"])
        await officer.send('{"type":"note","id":"deep","incident":1,"text":"x","x":' + nested(20_000) + "}")
        answer = await officer.until(lambda f: f["type"] in ("error", "result"))
        assert answer == {"type": "error", "code": "bad_message", "message": "JSON nested too deeply"}
        assert (await officer.command("report", **report()))["ok"]  # the same connection
        await officer.close()
        ws = await connect(running.url)  # as a hello: refused as one, not a crash
        await ws.send('{"type":"hello","token":' + nested(1000) + "}")  # under the hello's 2 KiB
        assert (await recv_json(ws))["code"] == "unauthorized"
        await asyncio.sleep(0.1)
        assert ws.close_code == 1008
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# --- item 12: no part of a token in any log, at any level ---------------------------------------


async def test_debug_logs_hold_no_part_of_a_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with logging_to_stderr("debug", "text", WITA):
        async with running_server(tmp_path) as running:
            secrets = [running.tokens["officer"], "ops_" + "Q" * 43, "not-even-ops-" + "K" * 30]
            for n, token in enumerate(secrets):
                ws = await connect(running.url)
                # The token last, behind a long client name: websockets' own cut keeps the frame's tail.
                await ws.send(json.dumps({"type": "hello", "client": "c" * 90, "epoch": None, "since": n, "token": token}))
                await recv_json(ws)
                await ws.close()
            ws = await connect(running.url)  # a fragmented hello: its parts are not shown at all
            frame = json.dumps({"type": "hello", "token": running.tokens["polisi"], "client": "tests"})
            await ws.send([frame[:30], frame[30:]])
            assert (await recv_json(ws))["type"] == "welcome"
            await ws.close()
            secrets.append(running.tokens["polisi"])
    err = capsys.readouterr().err
    assert "< TEXT" in err and "hello" in err  # the debug lines are there
    for secret in secrets:
        body = secret.removeprefix("ops_").removeprefix("not-even-ops-")
        pieces = {body[i : i + 6] for i in range(len(body) - 5)}
        assert not [p for p in pieces if p in err and p not in ("QQQQQQ", "KKKKKK")]
    assert "Q" * 6 not in err and "K" * 6 not in err
