"""Fan-out: one shared frame per tick, joined once more for a client behind,
compression declined unless configured, and the promises that were there."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import Any

import msgspec
import pytest
from websockets.asyncio.client import ClientConnection, connect

from opsmon.client.session import Session
from opsmon.core.config import ConfigError, parse_config
from opsmon.core.protocol import Batch, Event, Snapshot
from server import hub as hub_module
from tests.helpers import province, running_server, shipped
from tests.wire import Peer, flatten, stalled_socket


def _config(**server: Any) -> Any:
    config = province()
    return msgspec.structs.replace(config, server=msgspec.structs.replace(config.server, **server))


def _report(n: int, detail: str = "") -> dict[str, Any]:
    return {
        "type": "report",
        "id": f"r{n}",
        "incident": {"regency": "6371", "category": "logistik", "severity": "high", "title": f"Kotak suara rusak {n}", "detail": detail},
    }


async def _raw(url: str, token: str, **connect_args: Any) -> ClientConnection:
    """A viewer that keeps the frames as bytes; welcome and snapshot read."""
    ws = await connect(url, max_size=None, max_queue=None, close_timeout=1, **connect_args)
    await ws.send(json.dumps({"type": "hello", "token": token, "client": "tests", "epoch": None, "since": None}))
    for expected in ("welcome", "snapshot"):
        assert json.loads(await asyncio.wait_for(ws.recv(), 3))["type"] == expected
    return ws


async def _frames_until(ws: ClientConnection, seq: int) -> list[bytes]:
    frames: list[bytes] = []
    while True:
        frame = await asyncio.wait_for(ws.recv(decode=False), 10)
        frames.append(frame)
        events = flatten(json.loads(frame))
        if events and events[-1]["seq"] >= seq:
            return frames


async def test_every_viewer_gets_the_same_frames_in_seq_order(tmp_path: Path) -> None:
    async with running_server(tmp_path, config=_config(commands_per_second=10_000.0, token_commands_per_second=10_000.0)) as running:
        viewers = [await _raw(running.url, running.tokens["wall"]) for _ in range(4)]
        officer = await Peer.open(running, running.tokens["officer"])
        for n in range(150):
            await officer.send(_report(n))
        received = [await _frames_until(ws, 150) for ws in viewers]
        # Built once per tick and shared: byte for byte the same frames for everyone.
        assert all(frames == received[0] for frames in received)
        seqs = [e["seq"] for frame in received[0] for e in flatten(json.loads(frame))]
        assert seqs == list(range(1, 151))
        # Batched: far fewer frames than events (commands pipelined, committed together).
        assert len(received[0]) < 150
        for ws in viewers:
            await ws.close()
        await officer.close()


async def test_the_sender_gets_each_result_before_the_event_it_caused(tmp_path: Path) -> None:
    async with running_server(tmp_path, config=_config(commands_per_second=10_000.0, token_commands_per_second=10_000.0)) as running:
        ws = await connect(running.url, max_size=None, max_queue=None)
        await ws.send(json.dumps({"type": "hello", "token": running.tokens["officer"], "client": "tests", "epoch": None, "since": None}))
        await ws.recv()
        await ws.recv()
        for n in range(100):
            await ws.send(json.dumps(_report(n)))
        result_at: dict[int, int] = {}
        event_at: dict[int, int] = {}
        position = 0
        while len(event_at) < 100:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            position += 1
            if frame["type"] == "result":
                assert frame["ok"], frame
                result_at[frame["seq"]] = position
            for event in flatten(frame):
                event_at[event["seq"]] = position
        assert sorted(event_at) == list(range(1, 101))
        assert all(result_at[seq] < event_at[seq] for seq in event_at)
        await ws.close()


async def test_a_client_behind_gets_what_piled_up_joined_into_fewer_frames(tmp_path: Path) -> None:
    config = _config(commands_per_second=10_000.0, token_commands_per_second=10_000.0, client_queue_frames=100_000)
    async with running_server(tmp_path, config=config) as running:
        fast = await Peer.open(running, running.tokens["wall"])
        behind = await Peer.open(running, running.tokens["polisi"], sock=stalled_socket(running.server.port), max_queue=1, compression=None)
        officer = await Peer.open(running, running.tokens["officer"])
        subscriber = next(s for s in running.server.hub.subscribers.values() if s.user == "polisi")
        total = 0
        # Rounds answered one after the other: each round's events go out as their own tick.
        while subscriber.waiting < 40:
            assert total < 3000, "the stalled client never fell behind"
            for n in range(5):  # about 17 KB: a few rounds fit one joined frame
                await officer.send(_report(total + n, detail=secrets.token_hex(1500)))
            await officer.until(lambda f, last=f"r{total + 4}": f.get("type") == "result" and f["id"] == last, timeout=10)
            total += 5
        fast_frames = 0
        while fast.seq < total:
            await fast.next(timeout=10)
            fast_frames += 1
        behind_frames = 0
        while behind.seq < total:
            await behind.next(timeout=10)
            behind_frames += 1
        # Every event, once, in order, for both...
        assert [e["seq"] for e in behind.events] == [e["seq"] for e in fast.events] == list(range(1, total + 1))
        # ...but what waited for the stalled one was joined: fewer frames than ticks.
        assert behind_frames < fast_frames
        assert running.server.hub.dropped_slow == 0
        for peer in (fast, behind, officer):
            await peer.close()


async def test_a_viewer_subscribing_while_a_tick_waits_gets_its_events_once(tmp_path: Path) -> None:
    async with running_server(tmp_path, config=_config(broadcast_max_delay_ms=1000.0)) as running:
        early = await Peer.open(running, running.tokens["wall"])
        officer = await Peer.open(running, running.tokens["officer"])
        await officer.send(_report(1))
        await early.wait_events(1)
        # From here every tick waits its full second: the next event is still
        # waiting when the newcomer subscribes, and its snapshot already holds it.
        running.server.hub.spacing = 1e9
        await officer.until(lambda f: f.get("type") == "result" and f["id"] == "r1")
        await officer.send(_report(2))
        await officer.until(lambda f: f.get("type") == "result" and f["id"] == "r2")
        late = await Peer.open(running, running.tokens["wall"])
        assert late.snapshot is not None and late.snapshot["seq"] == 2
        assert [e["seq"] for e in await early.wait_events(2)] == [1, 2]
        await officer.send(_report(3))
        assert [e["seq"] for e in await late.wait_events(1)] == [3]
        assert [e["seq"] for e in late.events] == [3]
        for peer in (early, late, officer):
            await peer.close()


async def test_viewers_joining_during_a_burst_see_every_event_once(tmp_path: Path) -> None:
    async with running_server(
        tmp_path, config=_config(commands_per_second=10_000.0, token_commands_per_second=10_000.0, broadcast_max_delay_ms=200.0)
    ) as running:
        officer = await Peer.open(running, running.tokens["officer"])

        async def burst() -> None:
            for n in range(400):
                await officer.send(_report(n))
                if n % 20 == 0:
                    await asyncio.sleep(0.001)

        sending = asyncio.create_task(burst())
        late: list[Peer] = []
        while not sending.done():
            late.append(await Peer.open(running, running.tokens["wall"]))
        await sending
        for peer in late:
            await peer.wait_events(400 - peer.seq, timeout=10)
            assert peer.snapshot is not None
            assert [e["seq"] for e in peer.events] == list(range(peer.snapshot["seq"] + 1, 401))
        for peer in (*late, officer):
            await peer.close()


async def test_a_flush_in_slices_answers_commands_between_them_and_keeps_every_connection_in_order(tmp_path: Path) -> None:
    """A tick written one viewer at a time (slice 1): answers go out while the
    tick is still being written (they do not wait behind every socket), and
    still every viewer and every officer gets every event once, in seq order,
    and every answer, with viewers leaving mid-tick."""
    # No group-commit wait: this tiny flush (35 viewers) would end inside it, and no answer land mid-flush.
    config = _config(commands_per_second=10_000.0, token_commands_per_second=10_000.0, max_connections_per_token=50, group_commit_wait_ms=0)
    async with running_server(tmp_path, config=config) as running:
        hub = running.server.hub
        hub.slice = 1
        answered_mid_flush = 0
        plain_send = hub.send

        def send(connection: Any, frame: bytes) -> None:
            nonlocal answered_mid_flush
            answered_mid_flush += hub._slice is not None  # a flush has viewers left to write
            plain_send(connection, frame)

        hub.send = send  # type: ignore[method-assign]
        viewers = [await Peer.open(running, running.tokens["wall"]) for _ in range(30)]
        leaving = [await Peer.open(running, running.tokens["wall"]) for _ in range(5)]
        officers = [await Peer.open(running, running.tokens[name]) for name in ("officer", "polisi")]
        # Whether an answer lands mid-flush is the loop's timing (a loaded machine's commit
        # thread can be slower than a whole flush): rounds of 120 until one does, at most 20.
        total = 0
        while total < 2400 and (total == 0 or not answered_mid_flush):
            for n in range(total, total + 120):
                await officers[n % 2].send(_report(n) | {"id": f"o{n % 2}-{n}"})
                if n == 60:
                    for peer in leaving:
                        await peer.close()
            total += 120
            for peer in (*viewers, *officers):
                await peer.wait_events(total, timeout=10)
        for peer in (*viewers, *officers):
            assert [e["seq"] for e in peer.events] == list(range(1, total + 1))
        for officer in officers:
            results = [f for f in officer.frames if f.get("type") == "result"]
            assert len(results) == total // 2 and all(r["ok"] for r in results)
        assert answered_mid_flush > 0
        assert hub.dropped_slow == 0
        for peer in (*viewers, *officers):
            await peer.close()


async def test_a_long_flush_goes_in_short_slices_only_while_a_command_waits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A flush past `LONG_FLUSH` of CPU (here at once) is written `FLUSH_SLICE_SHORT`
    viewers at a time (here one) while a command waits for the writer or its commit,
    so answers go out before the flush ends; with nothing waiting it keeps its slice
    (here every viewer at once). Every viewer still gets every event in order."""
    monkeypatch.setattr(hub_module, "LONG_FLUSH", 0.0)
    monkeypatch.setattr(hub_module, "FLUSH_SLICE_SHORT", 1)
    config = _config(commands_per_second=10_000.0, token_commands_per_second=10_000.0, max_connections_per_token=50, group_commit_wait_ms=0)
    async with running_server(tmp_path, config=config) as running:
        hub = running.server.hub
        hub.slice = 1000  # a whole flush in one slice, unless a command waits
        slices: dict[int, int] = {}  # per flush (its round), the slices it was written in
        answered_mid_flush = 0
        plain_write_slice, plain_send = hub._write_slice, hub.send

        def write_slice() -> None:
            slices[hub._round] = slices.get(hub._round, 0) + 1
            plain_write_slice()

        def send(connection: Any, frame: bytes) -> None:
            nonlocal answered_mid_flush
            answered_mid_flush += hub._slice is not None
            plain_send(connection, frame)

        hub._write_slice = write_slice  # type: ignore[method-assign]
        hub.send = send  # type: ignore[method-assign]
        viewers = [await Peer.open(running, running.tokens["wall"]) for _ in range(30)]
        officers = [await Peer.open(running, running.tokens[name]) for name in ("officer", "polisi")]
        # A quiet night's report: committed and answered long before its tick, written whole.
        assert (await officers[0].command("report", incident=_report(0)["incident"]))["ok"]
        for peer in viewers:
            await peer.wait_events(1, timeout=10)
        assert slices == {hub._round: 1}
        # Under a stream of reports a flush meets commands waiting: one viewer at a time then.
        # (Whether a commit ends mid-flush is the loop's timing: rounds of 120, at most 20.)
        total = 1
        while total < 2400 and not answered_mid_flush:
            for n in range(total, total + 120):
                await officers[n % 2].send(_report(n) | {"id": f"o{n % 2}-{n}"})
            total += 120
            for peer in (*viewers, *officers):
                await peer.wait_events(total, timeout=10)
        assert max(slices.values()) > 1
        assert answered_mid_flush > 0
        for peer in (*viewers, *officers):
            assert [e["seq"] for e in peer.events] == list(range(1, total + 1))
        assert hub.dropped_slow == 0
        for peer in (*viewers, *officers):
            await peer.close()


async def test_after_a_very_long_flush_the_next_goes_in_short_slices_from_its_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tick whose last flush cost more than `VERY_LONG_FLUSH` (here any) is written
    `FLUSH_SLICE_SHORT` viewers at a time (here one) from its first slice, no command
    waiting: a command arriving meanwhile is read after one short slice, not a long one."""
    monkeypatch.setattr(hub_module, "VERY_LONG_FLUSH", 0.0)
    monkeypatch.setattr(hub_module, "FLUSH_SLICE_SHORT", 1)
    async with running_server(tmp_path) as running:
        hub = running.server.hub
        hub.slice = 1000  # a whole flush in one slice otherwise
        slices: dict[int, int] = {}
        plain_write_slice = hub._write_slice

        def write_slice() -> None:
            slices[hub._round] = slices.get(hub._round, 0) + 1
            plain_write_slice()

        hub._write_slice = write_slice  # type: ignore[method-assign]
        viewers = [await Peer.open(running, running.tokens["wall"]) for _ in range(5)]
        officer = await Peer.open(running, running.tokens["officer"])
        for n in range(2):  # one report at a time, each tick flushed before the next is sent
            assert (await officer.command("report", incident=_report(n)["incident"]))["ok"]
            for peer in (*viewers, officer):
                await peer.wait_events(n + 1, timeout=10)
        first, second = sorted(slices)[-2:]
        assert slices[first] == 1  # nothing flushed before it: its last cost was none
        assert slices[second] == len(hub.subscribers) == 6
        for peer in (*viewers, officer):
            assert [e["seq"] for e in peer.events] == [1, 2]
            await peer.close()


async def test_a_ticks_deadline_counts_from_when_its_first_command_was_read(tmp_path: Path) -> None:
    """The group commit's wait is inside `broadcast_max_delay_ms`, not added to it:
    a tick's `max_delay` counts from when the first waiting event's command was read
    (the writer says when), never from before the last tick's end, and from the
    publish for events no command here made (a replica's)."""
    config = _config(commands_per_second=10_000.0, token_commands_per_second=10_000.0, group_commit_wait_ms=50)
    async with running_server(tmp_path, config=config) as running:
        hub = running.server.hub
        loop = asyncio.get_running_loop()
        plans: list[tuple[float | None, float, float, float]] = []  # (received, the last tick's end, the publish's moment, counted from)
        plain_publish = hub.publish

        def publish(events: list[bytes], received: float | None = None) -> None:
            fresh, last_end = not hub._pending and hub._slice is None, hub._last_end
            plain_publish(events, received)
            if fresh:
                plans.append((received, last_end, loop.time(), hub._first_at))

        hub.publish = publish  # type: ignore[method-assign]
        viewer = await Peer.open(running, running.tokens["wall"])
        officers = [await Peer.open(running, running.tokens[name]) for name in ("officer", "polisi")]
        sent = loop.time()
        for n, officer in enumerate(officers * 3):  # after the first, the writer is busy: it waits 50 ms for company
            await officer.send(_report(n) | {"id": f"w{n}"})
        await viewer.wait_events(6, timeout=10)
        assert [e["seq"] for e in viewer.events] == [1, 2, 3, 4, 5, 6]
        assert plans
        for received, last_end, published, counted_from in plans:
            assert received is not None and sent <= received < published
            assert counted_from == max(received, last_end) < published
        for peer in (viewer, *officers):
            await peer.close()
        # Events from elsewhere (no command read here): from their publish.
        plain_publish([b'{"type":"event","seq":7}'])
        assert hub._first_at == pytest.approx(loop.time(), abs=0.05)
        hub.flush()
        # A command read before the last tick ended: from that tick's end.
        plain_publish([b'{"type":"event","seq":8}'], received=hub._last_end - 0.5)
        assert hub._first_at == hub._last_end
        hub.flush()


# --- compression ----------------------------------------------------------------------------------


async def test_the_server_declines_deflate_by_default_and_clients_still_work(tmp_path: Path) -> None:
    async with running_server(tmp_path) as running:
        # Both offer permessage-deflate, as websockets clients do by default.
        peer = await Peer.open(running, running.tokens["wall"])
        session = await Session.open(running.url, running.tokens["wall"])
        assert isinstance(await session.next_frame(), Snapshot)
        assert peer.ws.response is not None and "Sec-WebSocket-Extensions" not in peer.ws.response.headers
        assert session.ws.response is not None and "Sec-WebSocket-Extensions" not in session.ws.response.headers
        officer = await Peer.open(running, running.tokens["officer"])
        assert (await officer.command("report", incident=_report(0)["incident"]))["ok"]
        [event] = await peer.wait_events(1)
        frame = await session.next_frame(timeout=3)
        got = frame.events if isinstance(frame, Batch) else [frame]
        assert [e.seq for e in got if isinstance(e, Event)] == [event["seq"]] == [1]
        await session.close()
        for p in (peer, officer):
            await p.close()


async def test_deflate_when_configured(tmp_path: Path) -> None:
    async with running_server(tmp_path, config=_config(compression="deflate", commands_per_second=10_000.0, token_commands_per_second=10_000.0)) as running:
        peer = await Peer.open(running, running.tokens["wall"])
        assert peer.ws.response is not None
        assert peer.ws.response.headers.get("Sec-WebSocket-Extensions", "").startswith("permessage-deflate")
        # One that does not offer it shares the ticks: it gets the frame built once, the other its own compressed one.
        plain = await Peer.open(running, running.tokens["wall"], compression=None)
        assert plain.ws.response is not None and "Sec-WebSocket-Extensions" not in plain.ws.response.headers
        officer = await Peer.open(running, running.tokens["officer"])
        for n in range(30):
            await officer.send(_report(n))
        assert [e["seq"] for e in await peer.wait_events(30)] == [e["seq"] for e in await plain.wait_events(30)] == list(range(1, 31))
        for p in (peer, plain, officer):
            await p.close()


# --- config -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("broadcast_max_delay_ms", 0, "must be 1 to 1000, not 0"),
        ("broadcast_max_delay_ms", 0.5, "must be 1 to 1000, not 0.5"),
        ("broadcast_max_delay_ms", 5000, "must be 1 to 1000, not 5000"),
        ("broadcast_max_delay_ms", "50", "must be a number"),
        ("compression", "gzip", "'gzip' is not one of none, deflate"),
        ("group_commit_wait_ms", 60, "must be 0 to 50, not 60"),
    ],
)
def test_bad_fanout_settings_name_the_key(key: str, value: Any, problem: str) -> None:
    data = shipped()
    data["server"][key] = value
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert str(caught.value).startswith(f"server.{key}: {problem}"), caught.value


def test_fanout_settings_default_and_load() -> None:
    data = shipped()
    assert province().server.broadcast_max_delay_ms > 0
    assert province().server.compression == "none"
    data["server"].update(broadcast_max_delay_ms=20, compression="deflate")
    server = parse_config(data).server
    assert (server.broadcast_max_delay_ms, server.compression) == (20, "deflate")


@pytest.mark.parametrize("length", [0, 1, 125, 126, 65_535, 65_536, 200_000])
def test_a_frame_built_once_is_the_frame_websockets_would_write(length: int) -> None:
    """The hub writes one prebuilt frame to every plain connection: it must be
    byte for byte what websockets writes for send_text on a server connection,
    at every payload-length encoding (7-bit, 16-bit, 64-bit)."""
    from websockets.frames import Frame as WireFrame
    from websockets.frames import Opcode

    from server.hub import text_frame

    payload = secrets.token_hex(length // 2 + 1).encode()[:length]
    assert text_frame(payload) == WireFrame(Opcode.TEXT, payload).serialize(mask=False)
