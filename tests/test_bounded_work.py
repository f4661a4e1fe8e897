"""Bounded work per command (issue 22): a report's duplicate search costs what
matches it, not the night's open incidents, and one connection's flood waits at
its own socket, not in front of everyone else's commands."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from opsmon.core.config import Config
from opsmon.core.domain import find_duplicate
from opsmon.core.fold import fold
from opsmon.core.state import State
from opsmon.core.wire import encode
from server.inbox import PENDING_PER_CONNECTION
from server.store.core import StoreCore
from server.store.postgres import READ_POOL_SIZE
from tests.backends import Databases
from tests.helpers import FakeClock, Running, province, running_server
from tests.wire import Peer, http_get, report, stalled_socket


def fast_config() -> Config:
    """The province's config with rate limits out of the way (these tests flood on purpose)."""
    config = province()
    server = msgspec.structs.replace(
        config.server,
        admin_commands_per_second=1_000_000.0,
        commands_per_second=1_000_000.0,
        token_commands_per_second=1_000_000.0,
        admin_token_commands_per_second=1_000_000.0,
        client_queue_frames=100_000,
    )
    return msgspec.structs.replace(config, server=server)


@pytest.fixture
async def fast(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Running]:
    async with running_server(tmp_path, clock=clock, config=fast_config()) as running:
        yield running


async def examined(running: Running) -> int:
    _, _, body = await http_get(running, "/metrics")
    found = re.search(r"^opsmon_dedup_candidates_examined_total (\d+)\.0$", body, re.MULTILINE)
    assert found, body
    return int(found.group(1))


async def pipelined(peer: Peer, frames: list[dict[str, object]]) -> list[dict[str, object]]:
    """Send every frame without waiting, then read every answer."""
    reader = asyncio.create_task(_answers(peer, len(frames)))
    for frame in frames:
        await peer.send(frame)
    return await asyncio.wait_for(reader, 120)


async def _answers(peer: Peer, count: int) -> list[dict[str, object]]:
    got: list[dict[str, object]] = []
    while len(got) < count:
        frame = await peer.next(60)
        if frame.get("type") == "result":
            got.append(frame)
    return got


async def test_a_report_among_5000_open_incidents_is_decided_by_the_index(fast: Running) -> None:
    admin = await Peer.open(fast, fast.tokens["admin"])
    seeded = await pipelined(admin, [{"type": "report", "id": f"s{n}", **report(location=f"TPS {n:04d}", title=f"Masalah {n}")} for n in range(5000)])
    assert all(r["ok"] and "duplicate" not in r for r in seeded)
    assert len(fast.server.state.incidents) == 5000
    # Three more at one place: one resolved, then two open (the newest takes the repeat).
    officer = await Peer.open(fast, fast.tokens["officer"])
    place = [await officer.command("report", **report(location="Gudang Logistik Banjarmasin", title="Gudang"))]
    assert (await officer.command("resolve", incident=place[0]["incident"], note="selesai"))["ok"]
    place.append(await officer.command("report", **report(location="gudang logistik banjarmasin", title="Gudang lagi")))
    before = await examined(fast)

    repeat = await officer.command("report", **report(location="  GUDANG   logistik Banjarmasin ", title="Gudang ketiga"))
    fresh = await officer.command("report", **report(location="TPS 9999", title="Tempat baru"))
    after = await examined(fast)

    # The same decision a fresh fold of the whole log makes, searched the slow way.
    events = await fast.store.events_since(0)
    state = fold(State(), events[:-2])
    rules, now = fast.server.rules, fast.server.clock()
    expected = find_duplicate(state, "6371", "logistik", "gudang logistik banjarmasin", now, rules)
    assert expected is not None and repeat["duplicate"] is True and repeat["incident"] == expected.id == place[1]["incident"]
    assert "duplicate" not in fresh and fresh["incident"] == 5003
    # Two reports looked at two candidates between them (the open one, and the resolved
    # one never: the open one is newer), not 5,000 each.
    assert after - before <= 3, after - before
    await admin.close()
    await officer.close()


async def test_a_flood_on_one_connection_waits_there_not_in_front_of_another(fast: Running) -> None:
    """The flood's 3,000 reports are sent at once; an officer's note sent after
    them is answered before the flood's backlog drains."""
    flood = await Peer.open(fast, fast.tokens["admin"])
    officer = await Peer.open(fast, fast.tokens["officer"])
    incident = (await officer.command("report", **report(location="Kantor KPU")))["incident"]
    count = 3000
    order: list[str] = []

    underway = asyncio.Event()

    async def drain_flood() -> None:
        seen = 0
        while seen < count:
            frame = await flood.next(60)
            if frame.get("type") == "result":
                seen += 1
                if seen == 300:
                    underway.set()
        order.append("flood drained")

    drainer = asyncio.create_task(drain_flood())
    payload = "".join(
        json.dumps({"type": "report", "id": f"f{n}", **report(location=f"Banjir {n}", title=f"Banjir {n}", detail="x" * 200)}) + "\n" for n in range(count)
    )
    frames = payload.splitlines()

    async def send_flood() -> None:
        for frame in frames:
            await flood.send(frame)

    sender = asyncio.create_task(send_flood())
    server = fast.server
    await asyncio.wait_for(underway.wait(), 60)  # the flood is being written
    sent_at = server.state.seq
    note = await officer.command("note", incident=incident, text="masih menunggu polisi")
    order.append("officer answered")
    assert note["ok"]
    # What was committed between the officer's send and its answer: about one
    # turn of the flood's own queue (measured 19; with an unbounded inbox, 258).
    assert note["seq"] - sent_at <= 3 * PENDING_PER_CONNECTION, (note["seq"] - sent_at, count)
    await asyncio.wait_for(asyncio.gather(sender, drainer), 120)
    assert order == ["officer answered", "flood drained"]
    assert server.state.seq == count + 2
    await flood.close()
    await officer.close()


def capped_config(**server: object) -> Config:
    config = fast_config()
    triage = msgspec.structs.replace(config.triage, max_notes_per_incident=5)
    return msgspec.structs.replace(config, triage=triage, server=msgspec.structs.replace(config.server, **server))


async def test_notes_past_the_cap_are_refused_and_change_nothing(tmp_path: Path, clock: FakeClock) -> None:
    async with running_server(tmp_path, clock=clock, config=capped_config()) as running:
        officer = await Peer.open(running, running.tokens["officer"])
        incident = (await officer.command("report", **report(location="TPS 001")))["incident"]
        for n in range(5):
            assert (await officer.command("note", incident=incident, text=f"catatan {n}"))["ok"]
        head = running.server.state.seq
        refused = await officer.command("note", incident=incident, text="satu lagi")
        assert (refused["ok"], refused["code"], refused["reason"], refused["params"]) == (False, "conflict", "notes_full", {"incident": incident, "max": 5})
        assert "max_notes_per_incident" in refused["message"]
        assert running.server.state.seq == head and len(running.server.state.incidents[incident].notes) == 5
        # Closing it still works (a resolution is not a note), and so does another incident's note.
        assert (await officer.command("resolve", incident=incident, note="selesai"))["ok"]
        other = (await officer.command("report", **report(location="TPS 002")))["incident"]
        assert (await officer.command("note", incident=other, text="ok"))["ok"]
        await officer.close()


async def test_a_viewer_that_never_reads_history_answers_is_closed_by_bytes(tmp_path: Path, clock: FakeClock) -> None:
    """The byte limit, not the frame count (100 answers is far under 2,000 frames),
    closes it; an officer's command beside it is answered."""
    config = capped_config(client_queue_bytes=256 * 1024)
    config = msgspec.structs.replace(config, triage=msgspec.structs.replace(config.triage, max_notes_per_incident=500))
    async with running_server(tmp_path, clock=clock, config=config) as running:
        officer = await Peer.open(running, running.tokens["officer"])
        incident = (await officer.command("report", **report(location="TPS 003")))["incident"]
        for n in range(50):
            assert (await officer.command("note", incident=incident, text=f"{n} " + "x" * 3900))["ok"]
        viewer = await Peer.open(running, running.tokens["wall"], sock=stalled_socket(running.server.port), max_queue=1)
        hub = running.server.hub
        assert len(hub) == 2
        for n in range(100):  # ~200 KB an answer, none read
            await viewer.send({"type": "history", "id": f"h{n}", "incident": incident})
        note = await officer.command("note", incident=incident, text="masih di sini")
        assert note["ok"]
        for _ in range(200):
            if hub.dropped_slow:
                break
            await officer.quiet(0.05)
        assert hub.dropped_slow == 1 and len(hub) == 1  # the viewer, gone with what it had queued
        assert (await officer.command("ack", incident=incident))["ok"]
        code, _ = await viewer.closed(timeout=30)
        assert code == 1013
        await officer.close()


async def test_an_officer_is_answered_while_many_histories_of_a_huge_incident_are_read(databases: Databases, tmp_path: Path, clock: FakeClock) -> None:
    """Histories are read on the store's own reader, not under the writer's lock.
    The reader is kept busy by a long read (SQLite: a counting query of some
    seconds; PostgreSQL: pg_sleep on each of its connections); 20 viewers ask a
    2 MB timeline 3 times each behind it, and an officer's note is committed and
    answered meanwhile: every viewer sees the note's event before any history.
    (Under the lock the note waited for the reads queued before it; on one
    connection, for the long read too.)"""
    config = capped_config(client_queue_bytes=64 * 2**20)
    config = msgspec.structs.replace(config, triage=msgspec.structs.replace(config.triage, max_notes_per_incident=500))
    async with running_server(tmp_path, clock=clock, config=config, database=databases.url()) as running:
        officer = await Peer.open(running, running.tokens["officer"])
        huge = (await officer.command("report", **report(location="TPS 004")))["incident"]
        own = (await officer.command("report", **report(location="TPS 005")))["incident"]
        notes = await pipelined(officer, [{"type": "note", "id": f"n{n}", "incident": huge, "text": f"{n} " + "x" * 3900} for n in range(500)])
        assert all(n["ok"] for n in notes)
        head = running.server.state.seq
        viewers = [await Peer.open(running, running.tokens["wall" if n % 2 else "admin"]) for n in range(20)]
        per_viewer = 3
        before_note: list[int] = []  # per viewer: histories it got before the note's event
        answered: list[str] = []
        note_seq = f'"seq":{head + 1},'

        async def read_all(viewer: Peer) -> None:
            # Raw frames, parsed afterwards: this process is also the server's, so the
            # clients' parsing of 2 MB answers must not take the server's time.
            results, seen_note = 0, False
            while results < per_viewer or not seen_note:
                raw = await asyncio.wait_for(viewer.ws.recv(), 120)
                assert isinstance(raw, str)
                if raw.startswith('{"type":"result"'):
                    results += 1
                    answered.append(raw)
                elif not seen_note and note_seq in raw:
                    seen_note = True
                    before_note.append(results)

        store = running.store
        assert isinstance(store, StoreCore)
        if databases.backend == "sqlite":  # its reader is one connection: one long query holds it
            long_reads = [store.reads.fetch("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 12000000) SELECT count(*) FROM c")]
        else:
            long_reads = [store.reads.fetch("SELECT pg_sleep(4)") for _ in range(READ_POOL_SIZE)]
        busy = [asyncio.create_task(read) for read in long_reads]
        await asyncio.sleep(0.2)  # under way
        readers = [asyncio.create_task(read_all(viewer)) for viewer in viewers]
        for viewer in viewers:  # pipelined: each connection's reads are answered one after another
            for n in range(per_viewer):
                await viewer.send({"type": "history", "id": f"h{n}", "incident": huge})
        await asyncio.sleep(0.3)  # the server has taken them: 20 reads wait for the reader
        note = await officer.command("note", incident=own, text="polisi sudah tiba")
        assert note["ok"] and note["seq"] == head + 1
        assert not any(task.done() for task in busy), "the long read ended before the note was answered: make it longer"
        assert answered == []  # every history still waits for the reader
        await asyncio.wait_for(asyncio.gather(*busy, *readers), 120)
        assert before_note == [0] * len(viewers)
        # Each history is the whole timeline as committed when it was asked: the report and
        # its 500 notes, in seq order, never the officer's note on the other incident.
        assert len(answered) == len(viewers) * per_viewer
        # Made from the stored JSON, byte for byte what encoding each event again writes.
        expected = b",".join(encode(e) for e in await running.store.incident_events(huge)).decode()
        for raw in answered:
            assert '"events":[' + expected + "]" in raw
            events = json.loads(raw)["events"]
            assert len(events) == 501 and all(e["seq"] <= head for e in events)
            assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
            assert {e["kind"] for e in events} == {"incident.reported", "incident.noted"}
        for peer in (officer, *viewers):
            await peer.close()


def test_a_group_commit_forks_the_night_without_copying_it() -> None:
    """The writer decides a batch on a fork of the state (memory changes only once the
    disk has): the fork holds only what it changes, reads through to the rest, and
    leaves the state it came from whole until it is settled (issue 24)."""
    from opsmon.core.clock import format_ts
    from opsmon.core.domain import decide
    from opsmon.core.fold import apply
    from opsmon.core.protocol import Event, IncidentDraft, Report
    from opsmon.core.records import Actor
    from opsmon.core.state import Rules

    rules = Rules.from_config(province())
    clock = FakeClock()
    officer = Actor(name="petugas", agency="KPU")
    state = State()
    for n in range(200):
        draft = IncidentDraft(regency="6371", category="logistik", severity="low", title=f"laporan {n}", location=f"TPS {n:03d}")
        apply(
            state, Event.of(state.seq + 1, format_ts(clock()), officer, decide(state, Report(id=str(n), incident=draft), officer, None, clock(), rules).payload)
        )
    trial = state.fork()
    assert len(dict.keys(trial.incidents)) == 0  # nothing copied
    repeat = IncidentDraft(regency="6371", category="logistik", severity="low", title="lagi", location="TPS 007")
    new = IncidentDraft(regency="6371", category="logistik", severity="low", title="baru", location="TPS 999")
    for command in (Report(id="r", incident=repeat), Report(id="n", incident=new)):
        apply(trial, Event.of(trial.seq + 1, format_ts(clock()), officer, decide(trial, command, officer, None, clock(), rules).payload))
    assert trial.incidents[8].reports == 2 and 201 in trial.incidents and len(trial.incidents) == 201
    assert sorted(trial.incidents)[-2:] == [200, 201] and len(dict.keys(trial.incidents)) == 2
    # The state it came from is untouched: the repeat and the new incident are not there.
    assert state.incidents[8].reports == 1 and 201 not in state.incidents and len(state.incidents) == 200 and state.seq == 200
    # A third report at the new incident's place is a repeat of it in the fork, a new incident outside it.
    third = Report(id="t", incident=new)
    assert decide(trial, third, officer, None, clock(), rules).kind == "incident.duplicate"
    assert decide(state, third, officer, None, clock(), rules).kind == "incident.reported"
    settled = trial.settled()
    assert type(settled.incidents) is dict and settled.incidents[8].reports == 2 and len(settled.incidents) == 201
    assert decide(settled, third, officer, None, clock(), rules).kind == "incident.duplicate"


def test_a_fork_forgets_reports_past_the_dedup_window_without_deleting() -> None:
    """A report at a place whose last report is past the dedup window is a new incident,
    decided on the writer's fork (an overlay, which never deletes): found by the demo."""
    from opsmon.core.clock import format_ts
    from opsmon.core.domain import decide
    from opsmon.core.fold import apply
    from opsmon.core.protocol import Event, IncidentDraft, Report
    from opsmon.core.records import Actor
    from opsmon.core.state import Rules

    rules = Rules.from_config(province())
    clock = FakeClock()
    officer = Actor(name="petugas", agency="KPU")
    state = State()
    draft = IncidentDraft(regency="6371", category="logistik", severity="low", title="kotak rusak", location="TPS 001")
    apply(state, Event.of(1, format_ts(clock()), officer, decide(state, Report(id="a", incident=draft), officer, None, clock(), rules).payload))
    clock.advance(minutes=rules.dedup_minutes + 1)
    trial = state.fork()
    again = decide(trial, Report(id="b", incident=draft), officer, None, clock(), rules)
    assert again.kind == "incident.reported"  # a new incident: the old one left the window
    apply(trial, Event.of(2, format_ts(clock()), officer, again.payload))
    settled = trial.settled()
    assert decide(settled, Report(id="c", incident=draft), officer, None, clock(), rules).kind == "incident.duplicate"  # of the new one


def raw_viewer(port: int, token: str) -> socket.socket:
    """A viewer's websocket (no compression) that says hello and then reads nothing
    until told: its snapshot waits in the server's buffers, as a slow link's would."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.settimeout(10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    hello = json.dumps({"type": "hello", "token": token, "client": "test", "epoch": None, "since": None}).encode()
    mask = os.urandom(4)
    sock.sendall(bytes([0x81, 0x80 | 126]) + len(hello).to_bytes(2, "big") + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(hello)))
    return sock


async def test_a_viewer_still_reading_a_big_snapshot_is_not_dropped_by_the_events_behind_it(tmp_path: Path, clock: FakeClock) -> None:
    """A night whose snapshot is many times [server] client_queue_bytes: a viewer still
    taking it in when events arrive keeps its place and gets them after it (issue 24);
    before, the first event behind the snapshot dropped it as too slow, and it came
    back for the snapshot again, and again."""
    config = capped_config(client_queue_bytes=65536)
    async with running_server(tmp_path, clock=clock, config=config) as running:
        officer = await Peer.open(running, running.tokens["officer"])
        for n in range(1400):  # a 5.6 MB snapshot: more than the kernel's socket buffers take (4 MB)
            assert (await officer.command("report", **report(title=f"laporan {n}", location=f"TPS {n:04d}", detail="x" * 3900)))["ok"]
        viewer = await asyncio.to_thread(raw_viewer, running.server.port, running.tokens["wall"])
        hub = running.server.hub
        for _ in range(100):
            if len(hub) == 2:
                break
            await officer.quiet(0.05)
        assert len(hub) == 2
        wall = next(s for s in hub.subscribers.values() if s.user == "wall")
        for _ in range(100):  # its snapshot built (outside the lock) and being written
            if wall._sending:
                break
            await officer.quiet(0.05)
        assert wall._sending  # the snapshot, still going out: the viewer has not read it
        for n in range(3):
            assert (await officer.command("report", **report(title=f"baru {n}", location=f"TPS B{n}")))["ok"]
        await officer.quiet(0.3)
        assert hub.dropped_slow == 0 and len(hub) == 2

        def read_until_the_events() -> bytes:
            seen = b""
            while not all(f"baru {n}".encode() in seen for n in range(3)):
                chunk = viewer.recv(1 << 16)
                assert chunk, "the server closed the viewer"
                seen += chunk
            return seen

        seen = await asyncio.to_thread(read_until_the_events)
        assert b'"type":"snapshot"' in seen and b"\x88" not in seen[-64:]  # no close frame after them
        assert hub.dropped_slow == 0
        viewer.close()
        await officer.close()
