"""Issue 24 target 2: a snapshot bounded by incidents, the rest in pages; a
resume over a long gap and an incident's history streamed in pages
(docs/protocol.md "Paging"). Real server, real websockets, a real SQLite file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from websockets.asyncio.client import connect

from opsmon.client.connection import PAGE, Connection
from opsmon.client.paging import Paging
from opsmon.client.session import Session
from opsmon.core.clock import format_ts, parse_ts
from opsmon.core.domain import DomainError, decide
from opsmon.core.fold import apply, from_snapshot, touches
from opsmon.core.protocol import (
    Ack,
    Event,
    History,
    IncidentDraft,
    Incidents,
    Merge,
    MorePages,
    Note,
    Reopen,
    Report,
    Resolve,
    Result,
    Snapshot,
    Welcome,
)
from opsmon.core.records import Actor, ConfigInfo, Incident
from opsmon.core.state import Rules, State
from opsmon.core.urgency import SNAPSHOT_RESOLVED_WINDOW, for_snapshot, in_snapshot, urgency_key
from opsmon.core.view import summarize, totals
from opsmon.core.wire import encode, to_builtins
from server import pages, writer
from server.pages import PAGE_SCAN, QueueIndex, page_of
from tests.helpers import FakeClock, Running, hello, province, recv_json, running_server
from tests.tui_helpers import client, screen_lines, settle

REGENCIES = ("6371", "6302", "6303", "6372")
SEVERITIES = ("critical", "high", "medium", "low")


async def seeded(server: Running, clock: FakeClock, count: int) -> list[int]:
    """`count` incidents over four regencies and four severities; every third
    acknowledged, every fifth resolved, two merged; each with a note or two."""
    session = await Session.open(server.url, server.tokens["admin"])
    ids: list[int] = []
    try:
        for n in range(count):
            draft = IncidentDraft(regency=REGENCIES[n % 4], category="logistik", severity=SEVERITIES[n % 4], title=f"Laporan {n}", location=f"TPS {n:03d}")
            result = await session.request(Report(id=f"seed-{n}", incident=draft))
            assert result.ok, result
            assert result.incident is not None
            ids.append(result.incident)
            clock.advance(seconds=20)
        for n, incident in enumerate(ids):
            for k in range(1 + n % 2):
                assert (await session.request(Note(id=f"seed-note-{n}-{k}", incident=incident, text=f"catatan {k}"))).ok
            if n % 3 == 0:
                assert (await session.request(Ack(id=f"seed-ack-{n}", incident=incident))).ok
            if n % 5 == 4:
                assert (await session.request(Resolve(id=f"seed-resolve-{n}", incident=incident, note="selesai"))).ok
        if count >= 8:
            assert (await session.request(Merge(id="seed-merge-1", incident=ids[1], into=ids[2]))).ok
            assert (await session.request(Merge(id="seed-merge-2", incident=ids[5], into=ids[6]))).ok
    finally:
        await session.close()
    return ids


class Listener:
    """A Connection's listener that counts what it was told."""

    def __init__(self, server: Running) -> None:
        self.config = server.config.info()
        self.welcomes: list[Welcome] = []
        self.syncs = 0
        self.pages_done: int | None = None
        self.kept_back = 0
        self.on_first: Any = None  # called with the state at the first frame
        self.first: tuple[int, int, int] | None = None  # incidents held, open and unacknowledged counted, at the first frame
        self.first_panels: list[tuple[str, dict[str, int], int]] = []  # per regency: open by severity, critical unacknowledged

    def connected(self, welcome: Welcome) -> None:
        self.welcomes.append(welcome)

    def synced(self, state: State, events: list[Event] | None, arrived: list[int] | None = None) -> None:
        self.syncs += 1
        if self.first is None:
            counted = totals(state, self.config)
            self.first = (len(state.incidents), counted.open, counted.unacked)
            self.first_panels = panels(state, self.config)
            if self.on_first is not None:
                self.on_first(state)

    def disconnected(self, since: Any, reason: str) -> None:
        pass

    def refused(self, reason: str) -> None:
        raise AssertionError(reason)

    def paged(self, paging: Paging) -> None:
        self.pages_done = paging.pages
        self.kept_back = paging.kept_back


@contextlib.asynccontextmanager
async def following(server: Running, page: int | None, on_first: Any = None) -> AsyncIterator[tuple[Connection, Listener]]:
    listener = Listener(server)
    listener.on_first = on_first
    connection = Connection(server.url, server.tokens["wall"], listener, page=page, pull=page or 1)
    task = asyncio.create_task(connection.run())
    try:
        yield connection, listener
    finally:
        await connection.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def panels(state: State, config: ConfigInfo) -> list[tuple[str, dict[str, int], int]]:
    """What the regency panels count: open incidents by severity, critical ones unacknowledged."""
    return [(s.code, s.open_by_severity, s.critical_unacked) for s in summarize(state, config, clock_now())]


def clock_now() -> datetime:
    return FakeClock().now


async def until(check: Any, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, f"timed out waiting for {check.__doc__ or check}"
        await asyncio.sleep(0.01)


async def answer_to(session: Session, command_id: str) -> Result:
    """The answer to a frame sent raw, skipping the frames before it."""
    while True:
        frame = await session.next_frame()
        if isinstance(frame, Result) and frame.id == command_id:
            return frame


async def next_event(session: Session) -> Event:
    while True:
        frame = await session.next_frame()
        if isinstance(frame, Event):
            return frame


def comparable(state: State) -> dict[int, Any]:
    """Every incident as a client holds it, with its notes as their count and the
    last one: a snapshot or page keeps an incident's last notes and counts the rest
    (`notes_before`), so a client that got it later counts more of them as before."""
    shown = {}
    for incident_id, incident in sorted(state.incidents.items()):
        body = to_builtins(incident)
        notes = body.pop("notes")
        body["notes"] = (body.pop("notes_before", 0) + len(notes), notes[-1:] if notes else [])
        shown[incident_id] = body
    return shown


async def test_a_client_that_asks_for_no_page_gets_every_incident(server: Running, clock: FakeClock) -> None:
    ids = await seeded(server, clock, 24)
    ws, welcome = await hello(server.url, server.tokens["wall"])
    try:
        snapshot = await recv_json(ws)
        assert snapshot["type"] == "snapshot" and welcome["type"] == "welcome"
        assert sorted(i["id"] for i in snapshot["incidents"]) == ids
        assert snapshot["counts"] is None and snapshot["more"] is None
    finally:
        await ws.close()


async def test_a_paged_snapshot_holds_the_most_urgent_page_the_counts_and_a_cursor(server: Running, clock: FakeClock) -> None:
    await seeded(server, clock, 40)
    session = await Session.open(server.url, server.tokens["wall"], page=7)
    try:
        snapshot = await session.next_frame()
        assert isinstance(snapshot, Snapshot)
        held = server.server.state.incidents.values()
        # The queue's first seven, in its order: what the screen shows at once.
        most_urgent = sorted((i for i in held if i.status != "resolved"), key=urgency_key)[:7]
        assert [i.id for i in snapshot.incidents] == [i.id for i in most_urgent]
        assert snapshot.more is not None and snapshot.more.after == 0
        counted = {(c.regency, c.status, c.severity): c.count for c in snapshot.counts or []}
        expected: dict[tuple[str, str, str], int] = {}
        for incident in held:
            if incident.status != "resolved":
                key = (incident.regency, incident.status, incident.severity)
                expected[key] = expected.get(key, 0) + 1
        assert counted == expected
    finally:
        await session.close()


async def test_a_paged_client_ends_with_the_state_of_an_unpaged_one_while_the_night_goes_on(server: Running, clock: FakeClock) -> None:
    ids = await seeded(server, clock, 60)
    writer = await Session.open(server.url, server.tokens["admin"])
    # While the pages come, the night goes on, mostly on the last incidents (the
    # last pages): reported, acknowledged, noted, resolved, merged into one not held yet.
    held = server.server.state.incidents
    waiting = next(i for i in reversed(ids) if held[i].status == "open")
    last = [i for i in reversed(ids) if held[i].status != "resolved" and i != waiting]
    commands = [
        Report(id="live-report", incident=IncidentDraft(regency="6371", category="logistik", severity="critical", title="Baru", location="TPS 900")),
        Ack(id="live-ack", incident=waiting),
        Note(id="live-note", incident=last[0], text="tim berangkat"),
        Resolve(id="live-resolve", incident=last[1], note="beres"),
        Merge(id="live-merge", incident=last[2], into=last[3]),
        Merge(id="live-merge-back", incident=ids[8], into=last[4]),
        Note(id="live-note-2", incident=last[5], text="sudah dicek"),
        Resolve(id="live-resolve-2", incident=last[6], note="selesai juga"),
    ]
    sent: list[asyncio.Future[Result]] = []
    try:
        async with following(server, None) as (whole, _):
            await until(lambda: whole.state.seq > 0)
            everything = totals(whole.state, server.config.info())
            every_panel = panels(whole.state, server.config.info())
            listener_first = lambda state: sent.extend(asyncio.ensure_future(writer.request(c)) for c in commands)  # noqa: E731
            async with following(server, 4, on_first=listener_first) as (paged, listener):
                await until(lambda: paged.state.seq > 0)
                # Its panels count every open incident from the first frame, before the pages.
                assert listener.first == (4, everything.open, everything.unacked)
                assert listener.first_panels == every_panel
                for answer in await asyncio.gather(*sent):
                    assert answer.ok, answer
                await until(lambda: paged.paging is None and paged.state.unheld is None)
                head = server.server.state.seq
                await until(lambda: paged.state.seq == head and whole.state.seq == head)
                assert listener.pages_done is not None and listener.pages_done > 5, "in pages, not at once"
                assert listener.kept_back > 0, "events came for incidents whose pages had not"
                assert comparable(paged.state) == comparable(whole.state)
                assert len(listener.welcomes) == 1, "no new snapshot was needed"
    finally:
        await writer.close()
    # The server's queue index, kept in step commit by commit, is what a fresh build makes.
    fresh, kept = QueueIndex(), server.server.queue
    fresh.build(server.server.state)
    assert (kept.order, +kept.counts, kept.resolved) == (fresh.order, +fresh.counts, fresh.resolved)


async def test_a_client_holds_each_repeated_value_of_its_incidents_once(server: Running, clock: FakeClock) -> None:
    """Memory at 50,000 incidents: the actors and vocabulary words every incident
    repeats are one object each in the client, from the snapshot and from the pages
    alike, and the incidents are what the server holds."""
    await seeded(server, clock, 30)
    async with following(server, 4) as (paged, _):
        await until(lambda: paged.paging is None and paged.state.unheld is None and len(paged.state.incidents) == 30)
        incidents = list(paged.state.incidents.values())
        actors = [i.reporter for i in incidents] + [n.by for i in incidents for n in i.notes]
        actors += [a for i in incidents for a in (i.acknowledged_by, i.resolved_by) if a is not None]
        assert len({id(a) for a in actors}) == len({(a.name, a.agency) for a in actors}) < len(actors)
        for field in ("regency", "category", "severity", "status"):
            words = [getattr(i, field) for i in incidents]
            assert len({id(w) for w in words}) == len(set(words)), field
        kinds = [n.kind for i in incidents for n in i.notes]
        assert len({id(k) for k in kinds}) == len(set(kinds))
        # A resolution's note has the incident's own `resolved` time, not a copy of it.
        resolutions = [(i, n) for i in incidents for n in i.notes if n.ts == i.resolved]
        assert resolutions and all(n.ts is i.resolved for i, n in resolutions)
        held = server.server.state.incidents
        for incident in incidents:
            # As the server holds it, but for the older notes a page leaves out (counted in notes_before).
            body, theirs = to_builtins(incident), to_builtins(held[incident.id])
            notes, their_notes = body.pop("notes"), theirs.pop("notes")
            assert body.pop("notes_before", 0) + len(notes) == len(their_notes) + theirs.pop("notes_before", 0)
            assert body == theirs and notes == their_notes[len(their_notes) - len(notes) :]


async def test_a_page_merges_events_it_was_read_before_and_keeps_those_it_saw(server: Running, clock: FakeClock) -> None:
    """The rule itself, step by step: a page read before an event on an incident the
    client does not hold yet gets that event folded on; one read after it does not
    get it twice."""
    ids = await seeded(server, clock, 12)
    session = await Session.open(server.url, server.tokens["wall"], page=2)
    writer = await Session.open(server.url, server.tokens["admin"])
    try:
        snapshot = await session.next_frame()
        assert isinstance(snapshot, Snapshot) and snapshot.more is not None
        state, paging = from_snapshot(snapshot), Paging(snapshot, snapshot.more)
        target = next(i for i in reversed(ids) if i not in state.incidents and server.server.state.incidents[i].status != "resolved")
        early = await session.request(Incidents(id="p-early", since=paging.since, after=target - 1, limit=1))
        assert early.ok and [i.id for i in early.incidents or []] == [target] and early.seq == snapshot.seq
        assert (await writer.request(Note(id="between", incident=target, text="di antara halaman"))).ok
        late = await session.request(Incidents(id="p-late", since=paging.since, after=target - 1, limit=1))
        assert late.seq == snapshot.seq + 1
        event = await next_event(session)
        assert event.seq == snapshot.seq + 1
        paging.saw(state, event)
        apply(state, event)
        twice = State(seq=state.seq, incidents=dict(state.incidents))
        paging.merge(state, early.seq or 0, early.incidents or [], early.next)
        assert [n.text for n in state.incidents[target].notes][-1] == "di antara halaman"
        paging.merge(twice, late.seq or 0, late.incidents or [], late.next)
        assert [n.text for n in twice.incidents[target].notes] == [n.text for n in state.incidents[target].notes]
    finally:
        await session.close()
        await writer.close()


async def test_an_incident_page_is_bounded_and_bad_cursors_are_refused(server: Running, clock: FakeClock) -> None:
    ids = await seeded(server, clock, 10)
    session = await Session.open(server.url, server.tokens["bjm"])  # scoped to 6371: pages are not (a snapshot is not)
    try:
        for n in range(4):  # five notes in all: a page carries the last three, as a snapshot does
            assert (await session.request(Note(id=f"more-{n}", incident=ids[0], text=f"tambahan {n}"))).ok
        page = await session.request(Incidents(id="p-1", after=0, limit=3))
        assert page.ok and [i.id for i in page.incidents or []] == ids[:3] and page.next == ids[2]
        noted = (page.incidents or [])[0]
        assert [n.text for n in noted.notes] == ["tambahan 1", "tambahan 2", "tambahan 3"] and noted.notes_before == 2
        rest = await session.request(Incidents(id="p-2", after=page.next or 0, limit=500))
        assert [i.id for i in rest.incidents or []] == ids[3:] and rest.next is None
        for n, bad in enumerate(({"after": -1}, {"limit": 0}, {"limit": "ten"}, {"after": 1.5})):
            frame = json.dumps({"type": "incidents", "id": f"bad-{n}", **bad})
            await session.ws.send(frame)
            answer = await answer_to(session, f"bad-{n}")
            assert answer.ok is False and answer.code == "invalid" and answer.reason == "bad_field", answer
            assert answer.params is not None and answer.params["field"] in ("after", "limit")
    finally:
        await session.close()


async def test_a_hello_with_a_bad_page_is_refused(server: Running) -> None:
    ws, answer = await hello(server.url, server.tokens["wall"])
    await ws.close()
    async with connect(server.url) as ws:
        await ws.send(json.dumps({"type": "hello", "token": server.tokens["wall"], "page": 0}))
        refusal = json.loads(await ws.recv())
        assert refusal["type"] == "error" and "page" in refusal["message"]


async def test_a_resume_over_a_long_gap_arrives_whole_in_order_in_several_frames(backend_server: Running, clock: FakeClock) -> None:
    server = backend_server
    ids = await seeded(server, clock, 4)
    server.server.connections.resume_page = 25
    since = server.server.state.seq
    writer = await Session.open(server.url, server.tokens["admin"])
    try:
        for n in range(180):
            assert (await writer.request(Note(id=f"gap-{n}", incident=ids[n % 4], text=f"catatan {n}"))).ok
        head = server.server.state.seq
        ws, welcome = await hello(server.url, server.tokens["wall"], epoch=server.store.epoch, since=since)
        try:
            assert welcome["type"] == "welcome"
            # Written while the gap streams: after it, with no gap and no duplicate.
            more = asyncio.create_task(writer.request(Note(id="during", incident=ids[0], text="sementara itu")))
            seqs: list[int] = []
            frames = 0
            while not seqs or seqs[-1] < head + 1:
                frame = await recv_json(ws)
                assert frame["type"] in ("batch", "event"), frame
                frames += 1
                seqs += [e["seq"] for e in frame["events"]] if frame["type"] == "batch" else [frame["seq"]]
            assert (await more).ok
            assert seqs == list(range(since + 1, head + 2))
            assert frames >= 180 // 25
        finally:
            await ws.close()
    finally:
        await writer.close()


async def test_history_comes_in_pages(backend_server: Running, clock: FakeClock) -> None:
    server = backend_server
    ids = await seeded(server, clock, 2)
    writer = await Session.open(server.url, server.tokens["admin"])
    try:
        for n in range(25):
            assert (await writer.request(Note(id=f"h-{n}", incident=ids[0], text=f"catatan {n}"))).ok
        whole = await writer.request(History(id="whole", incident=ids[0]))
        paged: list[int] = []
        after: int | None = 0
        pages = 0
        while after is not None:
            page = await writer.request(History(id=f"page-{pages}", incident=ids[0], after=after, limit=10))
            assert page.ok and len(page.events or []) <= 10
            paged += [e.seq for e in page.events or []]
            after, pages = page.next, pages + 1
        assert paged == [e.seq for e in whole.events or []] and pages == 3
        await writer.ws.send(json.dumps({"type": "history", "id": "bad", "incident": ids[0], "limit": 0}))
        answer = await answer_to(writer, "bad")
        assert answer.ok is False and answer.reason == "bad_field"
    finally:
        await writer.close()


async def test_the_terminal_client_shows_every_incident_once_its_pages_are_in(server: Running, clock: FakeClock) -> None:
    session = await Session.open(server.url, server.tokens["admin"])
    try:
        for n in range(PAGE + 30):
            draft = IncidentDraft(regency=REGENCIES[n % 4], category="logistik", severity=SEVERITIES[n % 4], title=f"Laporan {n}", location=f"TPS {n:03d}")
            assert (await session.request(Report(id=f"many-{n}", incident=draft))).ok
    finally:
        await session.close()
    # `client` waits until the queue lists all of them: the snapshot held PAGE.
    async with client(server, clock, PAGE + 30) as (app, _pilot):
        assert app.connection is not None and app.connection.paging is None and app.state.unheld is None
        assert len(app.state.incidents) == PAGE + 30
        await settle(_pilot)
        title = next(line for line in screen_lines(app) if "Antrian insiden" in line)
        assert f"({PAGE + 30} belum selesai)" in title and "memuat" not in title  # the whole count, no longer loading


async def test_a_merged_incident_reopened_before_its_page_makes_the_client_start_over(server: Running, clock: FakeClock) -> None:
    """Its merge chain gives its reports back, which a client that does not hold
    it cannot work out: the rule's one exception, a new snapshot."""
    ids = await seeded(server, clock, 30)
    writer = await Session.open(server.url, server.tokens["admin"])
    held = server.server.state.incidents
    live = [i for i in reversed(ids) if held[i].status != "resolved"]  # the last pages' (most recent first)
    assert (await writer.request(Merge(id="late-merge", incident=live[1], into=live[0]))).ok
    session = await Session.open(server.url, server.tokens["wall"], page=3)
    try:
        snapshot = await session.next_frame()
        assert isinstance(snapshot, Snapshot) and snapshot.more is not None
        state, paging = from_snapshot(snapshot), Paging(snapshot, snapshot.more)
        assert live[1] not in state.incidents
        assert (await writer.request(Reopen(id="late-reopen", incident=live[1], note="bukan laporan yang sama"))).ok
        event = await next_event(session)
        paging.saw(state, event)
        assert paging.broken
        # The Connection starts over when it sees that, and still ends where an unpaged client does.
        reopened = [Merge(id="again-merge", incident=live[3], into=live[2]), Reopen(id="again-reopen", incident=live[3], note="beda")]
        sent: list[asyncio.Future[Result]] = []
        async with following(server, None) as (whole, _):
            await until(lambda: whole.state.seq > 0)
            first = lambda state: sent.extend(asyncio.ensure_future(writer.request(c)) for c in reopened)  # noqa: E731
            async with following(server, 3, on_first=first) as (paged, listener):
                await until(lambda: len(sent) == 2)
                for answer in await asyncio.gather(*sent):
                    assert answer.ok, answer
                head = server.server.state.seq
                await until(lambda: paged.paging is None and paged.state.unheld is None and paged.state.seq == head and whole.state.seq == head)
                assert comparable(paged.state) == comparable(whole.state)
                assert len(listener.welcomes) == 2, "it started over once"
    finally:
        await session.close()
        await writer.close()


def test_a_page_looks_at_a_bounded_stretch_of_ids_and_says_where_to_go_on() -> None:
    """Days of incidents resolved long ago between the live ones: each page reads at
    most PAGE_SCAN ids (maybe none kept) and its `next` moves on, so no page costs the night."""
    now = datetime(2024, 2, 20, 13, 0, tzinfo=UTC)
    long_ago = format_ts(now - timedelta(days=3))
    someone = Actor(name="petugas", agency="KPU")
    live = {10, PAGE_SCAN + PAGE_SCAN // 2 + 7}
    state = State()
    for n in range(1, 2 * PAGE_SCAN + 300):
        state.incidents[n] = Incident(
            id=n, regency="6371", category="logistik", severity="low", title=f"Laporan {n}", detail="", location="", level=0,
            status="open" if n in live else "resolved", reported=long_ago, reporter=someone, acknowledged=None, acknowledged_by=None,
            resolved=None if n in live else long_ago, resolved_by=None if n in live else someone, ack_due=long_ago, notes=[],
        )  # fmt: skip
    since = now - timedelta(hours=24)
    pages, after, found = 0, 0, []
    while after is not None:
        page, after = page_of(state, after, 500, since, None)
        found += [i.id for i in page]
        pages += 1
        assert after is None or after <= pages * PAGE_SCAN
    assert found == sorted(live) and pages == 3


async def test_a_long_gap_from_another_copy_of_the_history_gets_a_snapshot(server: Running, clock: FakeClock) -> None:
    """The digest is checked before anything is streamed: a client whose event at
    `since` is not this database's gets a snapshot, not this log's events."""
    ids = await seeded(server, clock, 4)
    server.server.connections.resume_page = 10
    since = server.server.state.seq - 30
    async with connect(server.url, max_size=None) as ws:
        hello_frame = {"type": "hello", "token": server.tokens["wall"], "epoch": server.store.epoch, "since": since, "digest": "0" * 16}
        await ws.send(json.dumps(hello_frame))
        assert json.loads(await ws.recv())["type"] == "welcome"
        snapshot = json.loads(await ws.recv())
        assert snapshot["type"] == "snapshot" and snapshot["seq"] == server.server.state.seq
        assert sorted(i["id"] for i in snapshot["incidents"]) == ids


class SimulatedNight:
    """The server's side without a socket: the real decide and fold on a state, the
    queue index kept as the writer keeps it, every event logged."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.rules = Rules.from_config(province())
        self.actor = Actor(name="petugas", agency="KPU")
        self.now = datetime(2024, 2, 14, 13, 0, tzinfo=UTC)
        self.state, self.index, self.log = State(), QueueIndex(), list[Event]()
        self.index.build(self.state)
        self.commands = 0

    def act(self) -> None:
        """A random command, carried out if the domain allows it; half a minute passes."""
        try:
            decision = decide(self.state, self.command(), self.actor, None, self.now, self.rules)
        except DomainError:
            return
        touched = touches(decision.payload, self.state)
        event = Event.of(self.state.seq + 1, format_ts(self.now), self.actor, decision.payload)
        apply(self.state, event)
        self.index.touch(self.state, touched)
        self.log.append(event)
        self.now += timedelta(seconds=30)

    def command(self) -> Any:
        self.commands += 1
        n, rng = self.commands, self.rng
        known = list(self.state.incidents) or [1]
        pick, other = rng.choice(known), rng.choice(known)
        kind = rng.random()
        if kind < 0.25 or not self.state.incidents:
            draft = IncidentDraft(regency=rng.choice(REGENCIES), category="logistik", severity=rng.choice(SEVERITIES), title=f"L{n}", location=f"TPS {n}")
            return Report(id=f"c{n}", incident=draft)
        if kind < 0.4:
            return Ack(id=f"c{n}", incident=pick)
        if kind < 0.6:
            return Note(id=f"c{n}", incident=pick, text=f"catatan {n}")
        if kind < 0.72:
            return Resolve(id=f"c{n}", incident=pick, note="selesai")
        if kind < 0.85:
            return Merge(id=f"c{n}", incident=pick, into=other)
        return Reopen(id=f"c{n}", incident=pick, note="lagi")


def test_the_merge_rule_holds_whatever_order_pages_and_events_come_in() -> None:
    """The rule (opsmon.client.paging) against the real decide and fold, without a
    socket: a night goes on while a paged client pulls its pages; each page is read
    at the server's head of that moment and arrives at any time after, the events
    in order. Every run ends where a client that took the whole snapshot ends, or
    (a merged incident reopened before its page) knows it must start over."""
    exact = broken = 0
    for seed in range(60):
        night = SimulatedNight(seed)
        rng, server = night.rng, night.state
        for _ in range(rng.randint(10, 60)):
            night.act()
        since = format_ts(night.now - SNAPSHOT_RESOLVED_WINDOW)
        first, more = night.index.first(server, rng.randint(1, 6), parse_ts(since))
        base = {"epoch": "e", "seq": server.seq, "stages": []}
        whole = from_snapshot(Snapshot(**base, incidents=[for_snapshot(i) for i in server.incidents.values() if in_snapshot(i, night.now)]))
        paged_snapshot = Snapshot(**base, incidents=[for_snapshot(i) for i in first], more=MorePages(since=since, after=0) if more else None)
        paged = from_snapshot(paged_snapshot)
        paging = Paging(paged_snapshot, paged_snapshot.more) if paged_snapshot.more is not None else None
        delivered = len(night.log)
        answer: tuple[int, list[Incident], int | None] | None = None
        limit = rng.randint(1, 5)
        while paging is None or not paging.broken:
            choice = rng.random()
            if choice < 0.3 and len(night.log) < 400:
                night.act()
            elif choice < 0.6 and delivered < len(night.log):
                event = night.log[delivered]
                delivered += 1
                if paging is not None:
                    paging.saw(paged, event)
                apply(paged, event)
                apply(whole, event)
            elif paging is not None and not paging.done and answer is None:
                answer = (server.seq, *page_of(server, paging.after or 0, limit, parse_ts(since), None))
            elif paging is not None and answer is not None and paged.seq >= answer[0]:
                paging.merge(paged, *answer)
                answer = None
            elif delivered == len(night.log) and (paging is None or paging.done):
                break
        if paging is not None and paging.broken:
            broken += 1
            continue
        assert paged.unheld is None
        assert comparable(paged) == comparable(whole), f"seed {seed}"
        exact += 1
    assert exact >= 30 and broken >= 1, (exact, broken)


async def test_pages_refused_for_the_token_s_rate_wait_their_turn_and_never_start_over(tmp_path: Path, clock: FakeClock) -> None:
    """A token's command budget is shared by all its connections (a wall token on many
    screens, a feeder beside the TUI): a page refused `rate_limited` is asked again a
    moment later, and the client ends with every incident from its one snapshot."""
    config = province()
    config = msgspec.structs.replace(config, server=msgspec.structs.replace(config.server, token_commands_per_second=4.0))
    async with running_server(tmp_path, clock=clock, config=config) as server:
        await seeded(server, clock, 30)
        async with following(server, 2) as (paged, listener):  # 2 a page: about 15 pages at 4 commands a second
            await until(lambda: paged.paging is None and paged.state.unheld is None and paged.state.seq > 0, timeout=60)
            assert set(paged.state.incidents) == set(server.server.state.incidents)
            assert len(listener.welcomes) == 1  # no page made it start over from a new snapshot


async def test_the_whole_answer_comes_in_whole_pages_and_past_its_bound_only_so(server: Running, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unpaged `incidents` on a long night cost the server the night (63 MB and half a
    second at 50,000 incidents, the loop held for every client): past MAX_UNPAGED it is
    refused `page_it`, and the lists and reports ask in `whole` pages, which give
    exactly what the unpaged answer gave (every note, a scoped token's regencies only)."""
    from opsmon.client.paging import every_incident

    ids = await seeded(server, clock, 24)
    admin = await Session.open(server.url, server.tokens["admin"])
    for n in range(6):  # seven notes on one incident: more than a snapshot's page carries
        assert (await admin.request(Note(id=f"long-{n}", incident=ids[0], text=f"tambahan {n}"))).ok
    await admin.close()
    scoped = await Session.open(server.url, server.tokens["bjm"])  # 6371 only
    wall = await Session.open(server.url, server.tokens["wall"])
    try:
        asks = [(scoped, {}), (wall, {}), (wall, {"status": "resolved"}), (scoped, {"since": format_ts(clock.now - timedelta(minutes=3))})]
        unpaged = [await session.request(Incidents(id=f"u-{n}", **filters)) for n, (session, filters) in enumerate(asks)]
        assert all(answer.ok for answer in unpaged)
        assert {i.regency for i in unpaged[0].incidents or []} == {"6371"} and len(unpaged[1].incidents or []) == 24
        assert len((unpaged[1].incidents or [])[0].notes) == 7  # whole: every note

        async def in_pages() -> list[Any]:
            return [to_builtins((await every_incident(session.request, **filters)).incidents) for session, filters in asks]

        whole = await in_pages()
        assert whole == [to_builtins(answer.incidents) for answer in unpaged]

        # Past the bound the unpaged answer is refused, saying how to ask; the pages give the same.
        monkeypatch.setattr(writer, "MAX_UNPAGED", 10)
        refused = await wall.request(Incidents(id="u-past"))
        assert (refused.ok, refused.code, refused.reason) == (False, "invalid", "page_it")
        assert refused.params == {"incidents": 24, "most": 10, "limit": 500} and refused.incidents is None
        # A page of whole incidents stops once it holds MAX_PAGE_NOTES notes (at least one incident a page).
        monkeypatch.setattr(pages, "MAX_PAGE_NOTES", 3)
        first = await wall.request(Incidents(id="w-1", after=0, limit=500, whole=True))
        assert [i.id for i in first.incidents or []] == ids[:1] and first.next == ids[0]  # its 7 notes fill the page
        assert await in_pages() == whole
    finally:
        await scoped.close()
        await wall.close()


async def test_opsmon_list_on_a_night_past_the_unpaged_bound_lists_every_incident(server: Running, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.processes import opsmon

    ids = await seeded(server, clock, 12)
    monkeypatch.setattr(writer, "MAX_UNPAGED", 5)
    listed = await asyncio.to_thread(opsmon, "list", "--status", "all", "--json", "--url", server.url, "--token", server.tokens["wall"])
    assert listed.returncode == 0, listed.stderr
    assert sorted(i["id"] for i in json.loads(listed.stdout)) == ids
    # `show` reads its one incident (a page of one), not the night's; whole, with every note.
    shown = await asyncio.to_thread(opsmon, "show", str(ids[3]), "--json", "--url", server.url, "--token", server.tokens["wall"])
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert body["incident"]["id"] == ids[3] and [n["text"] for n in body["incident"]["notes"]] == ["catatan 0", "catatan 1"]


async def test_a_token_asking_whole_snapshots_over_and_over_waits_at_its_own_connection(
    server: Running, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A whole snapshot costs the server's loop the night (half a second at 50,000
    incidents): a token that keeps reconnecting without paging is paced by its own
    allowance of whole snapshots, at its own connections; a paged hello of the same
    token, and everyone else, are answered meanwhile, and the paced hello's snapshot
    comes whole once the allowance is back."""
    from server import connections

    ids = await seeded(server, clock, 24)
    held = len(server.server.state.incidents)
    # An allowance of about one such snapshot, refilled in about 2.4 s.
    monkeypatch.setattr(connections, "WHOLE_SNAPSHOT_BURST", held + 6)
    monkeypatch.setattr(connections, "WHOLE_SNAPSHOT_INCIDENTS_PER_SECOND", 10)
    first, welcome = await hello(server.url, server.tokens["wall"])
    assert welcome["type"] == "welcome"
    assert sorted(i["id"] for i in (await recv_json(first))["incidents"]) == ids
    # At the same seq the snapshot built is shared, and so is its charge: a crowd of
    # screens reconnecting at once is not paced.
    crowd, welcome = await hello(server.url, server.tokens["wall"])
    assert welcome["type"] == "welcome" and (await recv_json(crowd))["type"] == "snapshot"
    officer = await Session.open(server.url, server.tokens["admin"])
    assert (await officer.request(Note(id="moved", incident=ids[1], text="seq bergerak"))).ok
    again = await connect(server.url, max_size=None)
    paged = None
    try:
        await again.send(json.dumps({"type": "hello", "token": server.tokens["wall"], "client": "tests"}))
        with pytest.raises(TimeoutError):  # a new snapshot to build: waiting for its token's allowance
            await asyncio.wait_for(again.recv(), 0.5)
        paged = await Session.open(server.url, server.tokens["wall"], page=5)  # the same token, paged: at once
        assert isinstance(await paged.next_frame(), Snapshot)
        assert (await officer.request(Note(id="meanwhile", incident=ids[0], text="dijawab segera"))).ok
        assert json.loads(await asyncio.wait_for(again.recv(), 10))["type"] == "welcome"
        snapshot = await recv_json(again)
        assert snapshot["type"] == "snapshot" and sorted(i["id"] for i in snapshot["incidents"]) == ids
    finally:
        await first.close()
        await crowd.close()
        await again.close()
        for session in (paged, officer):
            if session is not None:
                await session.close()


async def test_a_whole_snapshot_is_encoded_outside_the_lock_and_the_events_meanwhile_follow_it(
    server: Running, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A whole snapshot of a long night took the writer's lock and the loop for as long as
    it took to encode (half a second at 50,000 incidents: every command waited). It is
    taken at the head under the lock and encoded outside it, a slice at a time: a command
    is decided and committed meanwhile, and the new viewer gets the welcome, the snapshot
    as of the head it was taken at, byte for byte what encoding it at once gives, then
    the events committed meanwhile, each once."""
    from server import connections

    ids = await seeded(server, clock, 24)
    hub = server.server.connections
    monkeypatch.setattr(connections, "WHOLE_SNAPSHOT_SLICE", 5)
    gate = asyncio.Event()
    slices = 0

    async def held_between_slices() -> None:
        nonlocal slices
        slices += 1
        await gate.wait()

    monkeypatch.setattr(hub, "between_slices", held_between_slices)
    head = server.server.state.seq
    expected = encode(hub.snapshot())
    viewer = await connect(server.url, max_size=None)
    officer = await Session.open(server.url, server.tokens["admin"], page=1)  # paged: not behind the gate
    try:
        await viewer.send(json.dumps({"type": "hello", "token": server.tokens["wall"], "client": "tests"}))
        await until(lambda: slices == 1)
        # The encoding waits at its first slice; the writer's lock is free.
        assert (await asyncio.wait_for(officer.request(Note(id="meanwhile", incident=ids[0], text="saat snapshot dibuat")), 5)).ok
        gate.set()
        welcome = json.loads(await asyncio.wait_for(viewer.recv(), 10))
        assert (welcome["type"], welcome["seq"]) == ("welcome", head)
        snapshot = await asyncio.wait_for(viewer.recv(), 10)
        assert snapshot.encode() == expected  # the head it was taken at, not the note after it
        event = await recv_json(viewer)
        assert (event["type"], event["seq"], event["kind"]) == ("event", head + 1, "incident.noted")
        assert slices == 5  # 24 incidents, 5 a slice
        assert await hub.whole_snapshot() == encode(hub.snapshot())  # and at the new head
    finally:
        gate.set()
        await viewer.close()
        await officer.close()


async def test_a_whole_snapshot_costs_what_it_holds_not_the_incidents_resolved_days_ago(
    server: Running, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server import connections

    await seeded(server, clock, 24)
    unresolved = sum(i.status != "resolved" for i in server.server.state.incidents.values())
    assert 0 < unresolved < 24
    # An allowance of two snapshots of the unresolved incidents, hardly refilled.
    monkeypatch.setattr(connections, "WHOLE_SNAPSHOT_BURST", 2 * unresolved)
    monkeypatch.setattr(connections, "WHOLE_SNAPSHOT_INCIDENTS_PER_SECOND", 0.001)
    hub = server.server.connections
    hub.charge_whole_snapshot("a-token")
    with pytest.raises(connections.WholeSnapshotPaced):  # the resolved ones are in its 24 hours yet
        hub.charge_whole_snapshot("a-token")
    clock.advance(hours=25)  # out of a snapshot's window: it holds only the unresolved now
    hub.charge_whole_snapshot("another-token")
    hub.charge_whole_snapshot("another-token")
