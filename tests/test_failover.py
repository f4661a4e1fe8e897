"""Clients that fail over: given several server URLs, a lost server is not a lost night.

Real `opsmon-server serve` processes on one SQLite file: server A is killed
with SIGKILL, server B is started on the same file (A's lock file is left
behind, stale: flock went with the process) on another port, and the clients
given `A, B` carry on there, with no event missed or seen twice and one
answer for every command.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from opsmon.cli import main
from opsmon.client.backoff import Backoff
from opsmon.client.failures import ClientError
from opsmon.client.session import Session
from opsmon.core.events import IncidentReported
from opsmon.core.exits import EXIT_UNREACHABLE, EXIT_USAGE
from opsmon.core.i18n import local_time
from opsmon.core.protocol import Batch, Event, IncidentDraft, Report, Result, ServerMessage, Snapshot
from opsmon.tui.app import OpsmonApp
from opsmon.tui.widgets.queue import IncidentQueue
from server.lock import lock_path
from tests.backends import Databases
from tests.helpers import CONFIG_PATH, ROOT, free_port
from tests.processes import Serving, opsmon_server, serving
from tests.server_thread import server_in_thread

pytestmark = pytest.mark.slow

FAST = Backoff(initial=0.05, maximum=0.4)  # tests: retry within tenths of a second


def url_of(port: int) -> str:
    return f"ws://127.0.0.1:{port}/ws"


def add_token(db: Path | str, name: str, role: str = "officer", agency: str = "KPU") -> str:
    done = opsmon_server("token", "add", name, "--role", role, "--agency", agency, "--db", str(db))
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


async def kill9(server: Serving) -> None:
    server.process.send_signal(signal.SIGKILL)
    assert await asyncio.wait_for(server.process.wait(), 10) == -signal.SIGKILL


@contextlib.asynccontextmanager
async def server_on(db: Path, port: int) -> AsyncIterator[Serving]:
    async with serving("--db", str(db), "--port", str(port), "--log-level", "warning") as running:
        yield running


def report(n: int, prefix: str = "laporan") -> Report:
    return Report(id=f"{prefix}-{n}", incident=IncidentDraft(regency="6371", category="logistik", severity="low", title=f"{prefix} {n}"))


def title(event: Event) -> str:
    assert isinstance(event.data, IncidentReported), event
    return event.data.title


class Follower:
    """What a viewer's session was sent: every event, in the order it came."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.snapshots: list[Snapshot] = []

    def __call__(self, message: ServerMessage) -> None:
        if isinstance(message, Snapshot):
            self.snapshots.append(message)
        elif isinstance(message, Event):
            self.events.append(message)
        elif isinstance(message, Batch):
            self.events.extend(message.events)

    @property
    def seqs(self) -> list[int]:
        return [e.seq for e in self.events]


async def until(condition: object, timeout: float = 20.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.02)


async def whole_log(url: str, token: str) -> list[Event]:
    """Every event of the current epoch, by resuming from seq 0."""
    probe = await Session.open(url, token, on_frame=lambda _: None)
    epoch, head = probe.welcome.epoch, probe.welcome.seq
    await probe.close()
    follower = Follower()
    session = await Session.open(url, token, epoch=epoch, since=0, on_frame=follower)
    try:
        await until(lambda: len(follower.events) >= head, what=f"{head} events")
    finally:
        await session.close()
    assert not follower.snapshots
    return follower.events


async def test_a_session_given_a_then_b_resumes_on_b_after_a_is_killed_with_no_gap_and_no_duplicate(tmp_path: Path) -> None:
    db = tmp_path / "opsmon.db"
    officer, wall = add_token(db, "Rahmat"), add_token(db, "Layar", role="viewer")
    port_a, port_b = free_port(), free_port()
    urls = [url_of(port_a), url_of(port_b)]
    async with server_on(db, port_a) as a:
        follower = Follower()
        viewer = await Session.open(urls, wall, on_frame=follower, backoff=FAST)
        writer = await Session.open(urls, officer, on_frame=lambda _: None, backoff=FAST)
        assert viewer.url == writer.url == urls[0] and viewer.failover
        before = [await writer.request(report(n)) for n in range(20)]
        assert all(r.ok and not r.repeat for r in before)
        await until(lambda: viewer.position == before[-1].seq, what="the viewer to see the 20 reports")
        epoch = viewer.epoch
        await kill9(a)
        assert lock_path(db).exists()  # left behind by the dead server: B must not mind it
        await until(lambda: not viewer._online and not writer._online, what="both sessions to notice")
        # Sent while no server is up: they wait, and go once B greets the session.
        waiting = [asyncio.ensure_future(writer.request(report(n))) for n in range(20, 30)]
        await asyncio.sleep(0.3)
        assert not any(w.done() for w in waiting)

    async with server_on(db, port_b):
        after = await asyncio.gather(*waiting)
        assert all(r.ok and not r.repeat for r in after)
        more = [await writer.request(report(n)) for n in range(30, 40)]
        head = more[-1].seq
        assert head is not None
        await until(lambda: viewer.position == head, what="the viewer to catch up on B")
        assert viewer.url == writer.url == urls[1]
        assert viewer.reconnects == writer.reconnects == 1
        assert viewer.epoch == epoch  # the same log: resumed, not re-fetched
        assert len(follower.snapshots) == 1  # the first connection's only
        start = follower.snapshots[0].seq
        assert follower.seqs == list(range(start + 1, head + 1))  # no gap, no event twice
        titles = [title(e) for e in follower.events if e.kind == "incident.reported"]
        assert titles == [f"laporan {n}" for n in range(40)]
        for session in (viewer, writer):
            await session.close()
        log = await whole_log(urls[1], officer)
        assert [e.seq for e in log] == list(range(1, head + 1))
        assert sorted(title(e) for e in log if e.kind == "incident.reported") == sorted(f"laporan {n}" for n in range(40))


async def test_answers_lost_with_a_killed_server_come_back_as_repeats_from_the_next(tmp_path: Path) -> None:
    """A carried the commands out and died before its answers reached the client:
    resent with their ids, B answers each `repeat` with A's answer, and nothing is done twice."""
    db = tmp_path / "opsmon.db"
    admin, wall = add_token(db, "Admin", role="admin"), add_token(db, "Layar", role="viewer")
    port_a, port_b = free_port(), free_port()
    urls = [url_of(port_a), url_of(port_b)]
    async with server_on(db, port_a) as a:
        follower = Follower()
        watcher = await Session.open(urls[0], wall, on_frame=follower)  # on A only
        session = await Session.open(urls, admin, on_frame=lambda _: None, backoff=FAST)
        session.ws.transport.pause_reading()  # the answers stay unread in the socket
        futures = [await session.send(report(n)) for n in range(25)]
        await until(lambda: len(follower.events) == 25, what="A to commit all 25")
        committed = {title(e): e.seq for e in follower.events}
        await kill9(a)
        await watcher.close()
        session.ws.transport.abort()  # and are lost with the connection, never read
        assert not any(f.done() for f in futures)

    async with server_on(db, port_b):
        results: list[Result] = await asyncio.wait_for(asyncio.gather(*futures), 20)
        assert session.url == urls[1]
        assert all(r.ok and r.repeat for r in results)  # A's answers, marked as repeats
        assert [r.seq for r in results] == [committed[f"laporan {n}"] for n in range(25)]
        assert session.pending == 0
        log = await whole_log(urls[1], admin)
        titles = [title(e) for e in log if e.kind == "incident.reported"]
        assert sorted(titles) == sorted(f"laporan {n}" for n in range(25))  # each once
        await session.close()


async def burst_killing_a(session: Session, a: Serving, prefix: str, answers: dict[str, list[Result]]) -> list[asyncio.Future[Result]]:
    """300 reports pipelined, each answer kept in `answers` by command id; A killed with
    SIGKILL mid-burst (after the 121st is sent, once 40 are answered)."""
    futures = []
    for n in range(300):
        future = await session.send(report(n, prefix))
        future.add_done_callback(lambda f, n=n: answers.setdefault(f"{prefix}-{n}", []).append(f.result()))
        futures.append(future)
        if n == 120:
            await until(lambda: len(answers) >= 40, what="40 answers from A")
            await kill9(a)
    return futures


async def test_a_pipelined_burst_with_the_server_killed_midway_gets_one_answer_per_command_and_each_is_logged_once(tmp_path: Path) -> None:
    db = tmp_path / "opsmon.db"
    admin = add_token(db, "Admin", role="admin")
    port_a, port_b = free_port(), free_port()
    urls = [url_of(port_a), url_of(port_b)]
    answers: dict[str, list[Result]] = {}
    async with server_on(db, port_a) as a:
        session = await Session.open(urls, admin, on_frame=lambda _: None, backoff=FAST)
        futures = await burst_killing_a(session, a, "burst", answers)  # some answered, some done but unanswered, some not sent
        await until(lambda: not session._online, what="the session to notice")
        answered_on_a = dict(answers)

    async with server_on(db, port_b):
        await asyncio.wait_for(asyncio.gather(*futures), 30)
        assert session.url == urls[1] and session.reconnects == 1
        assert sorted(answers) == sorted(f"burst-{n}" for n in range(300))
        assert all(len(got) == 1 for got in answers.values())  # one answer per command
        results = {key: got[0] for key, got in answers.items()}
        assert all(r.ok for r in results.values()), [r for r in results.values() if not r.ok][:3]
        assert all(not results[key].repeat for key in answered_on_a)
        log = await whole_log(urls[1], admin)
        assert [e.seq for e in log] == list(range(1, len(log) + 1))
        titles = [title(e) for e in log if e.kind == "incident.reported"]
        assert sorted(titles) == sorted(f"burst {n}" for n in range(300))  # each in the log once
        by_seq = {e.seq: title(e) for e in log if e.kind == "incident.reported"}
        assert all(by_seq[r.seq] == key.replace("-", " ") for key, r in results.items() if r.seq is not None)
        await session.close()


async def test_a_session_gives_up_when_no_server_answers_and_says_which(tmp_path: Path) -> None:
    db = tmp_path / "opsmon.db"
    officer = add_token(db, "Rahmat")
    port_a, port_b = free_port(), free_port()
    urls = [url_of(port_a), url_of(port_b)]
    with pytest.raises(ClientError) as refused:
        await Session.open(urls, officer)
    assert str(refused.value).startswith("no server answered: ")
    assert urls[0] in str(refused.value) and urls[1] in str(refused.value)
    async with server_on(db, port_b) as b:
        session = await Session.open(urls, officer, on_frame=lambda _: None, backoff=FAST, reconnect_for=1.5)
        assert session.url == urls[1]  # A is down: the first that answers
        await kill9(b)
        with pytest.raises(ClientError) as lost:
            await session.request(report(1), timeout=30)
        text = str(lost.value)
        assert "connection lost before an answer" in text and "no server answered within 1.5 s" in text
        assert urls[0] in text and urls[1] in text
        await session.close()


# --- the command line: --url A --url B, $OPSMON_URL and [client] url as lists ----------------


@pytest.mark.parametrize(
    ("urls", "says"),
    [
        ([""], "--url: an empty URL"),
        (["ws://127.0.0.1:8765/ws,,ws://127.0.0.1:8766/ws"], "--url: an empty URL in the list"),
        (["ws://127.0.0.1:8765/ws,"], "--url: an empty URL in the list"),
        (["ws://127.0.0.1:8765/ws", "http://127.0.0.1:8766/ws"], "'http://127.0.0.1:8766/ws' is not a websocket URL: http(s):// is the health page"),
        (["ws://"], "'ws://' names no host"),
        (["ws://127.0.0.1:port/ws"], "'ws://127.0.0.1:port/ws' is not a valid URL"),
        (["ws://127.0.0.1:8765/ws ws://127.0.0.1:8766/ws"], "holds a space: separate several URLs with commas only"),
        (["ws://127.0.0.1:8765/ws", "ws://127.0.0.1:8765/ws"], "ws://127.0.0.1:8765/ws is given twice"),
        (["ws://127.0.0.1:8765/ws;ws://127.0.0.1:8766/ws"], "holds more than one URL: separate several with commas"),
    ],
)
@pytest.mark.parametrize("args", [["ack", "1"], ["import", "x.jsonl"], ["simulate", "--duration", "1"], []], ids=["ack", "import", "simulate", "tui"])
def test_a_bad_url_list_is_a_usage_error_naming_the_bad_entry(args: list[str], urls: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    given = [part for url in urls for part in ("--url", url)]
    assert main([*args, *given, "--token", "ops_x"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_bad_opsmon_url_or_client_url_is_refused_naming_its_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPSMON_TOKEN", "ops_x")
    monkeypatch.setenv("OPSMON_URL", "ws://127.0.0.1:8765/ws, http://127.0.0.1:8766/ws")
    assert main(["ack", "1"]) == EXIT_USAGE
    assert capsys.readouterr().err.startswith("opsmon: error: $OPSMON_URL: 'http://127.0.0.1:8766/ws' is not a websocket URL")
    monkeypatch.delenv("OPSMON_URL")
    config = with_client_url(tmp_path, "ws://127.0.0.1:8765/ws,,ws://127.0.0.1:8766/ws")
    assert main(["ack", "1", "--config", str(config)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "client.url: an empty URL in the list" in err and err.count("\n") == 1


def with_client_url(tmp_path: Path, url: str) -> Path:
    text = CONFIG_PATH.read_text(encoding="utf-8")
    assert '[client]\nurl = "ws://127.0.0.1:8765/ws"' in text
    path = tmp_path / "config.toml"
    path.write_text(text.replace('[client]\nurl = "ws://127.0.0.1:8765/ws"', f'[client]\nurl = "{url}"'), encoding="utf-8")
    return path


def test_url_lists_from_the_command_line_the_environment_and_the_config_in_that_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = url_of(free_port())  # nothing listens there: the next one in the list is tried
    with server_in_thread(tmp_path) as live:
        monkeypatch.setenv("OPSMON_TOKEN", live.tokens["officer"])
        config = with_client_url(tmp_path, f"{dead},{live.url}")
        note = ["note", "1", "--text"]
        assert main(["report", "--regency", "6371", "--category", "logistik", "--severity", "low", "--title", "Kotak suara basah", "--url", live.url]) == 0
        # [client] url, a comma list: the dead one first, then the live one.
        assert main([*note, "dari config", "--config", str(config)]) == 0
        # $OPSMON_URL (a comma list too) over the config's.
        monkeypatch.setenv("OPSMON_URL", f"{dead},{live.url}")
        assert main([*note, "dari env", "--config", str(with_client_url(tmp_path, dead))]) == 0
        # --url (given twice) over $OPSMON_URL: a list of only dead servers is refused as unreachable.
        assert main([*note, "tidak terkirim", "--url", dead, "--url", url_of(free_port())]) == EXIT_UNREACHABLE
        err = capsys.readouterr().err
        assert "no server answered: " in err and dead in err and err.count("\n") == 1
        assert main([*note, "dari --url", "--url", dead, "--url", live.url]) == 0
        notes = [n.text for n in live.state().incidents[1].notes]
        assert notes == ["dari config", "dari env", "dari --url"]


@contextlib.asynccontextmanager
async def finished_on_b(db: Path, ports: tuple[int, int], wall: str, args: list[str], taken: int, what: str) -> AsyncIterator[tuple[bytes, bytes]]:
    """`opsmon <args>` run against A, A killed with SIGKILL once a viewer has seen `taken`
    events, then B started: yields what the command printed, once it finished, while B serves."""
    async with server_on(db, ports[0]) as a:
        follower = Follower()
        watcher = await Session.open(url_of(ports[0]), wall, on_frame=follower)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "opsmon.cli", *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        await until(lambda: len(follower.events) >= taken, what=what)
        await kill9(a)
        await watcher.close()
    async with server_on(db, ports[1]):
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()
        yield out, err


async def test_an_import_given_a_then_b_finishes_on_b_when_a_is_killed_midway(tmp_path: Path) -> None:
    db = tmp_path / "opsmon.db"
    officer, wall = add_token(db, "Rahmat"), add_token(db, "Layar", role="viewer")
    port_a, port_b = free_port(), free_port()
    urls = [url_of(port_a), url_of(port_b)]
    lines = [json.dumps({"type": "report", "regency": "6371", "category": "logistik", "severity": "low", "title": f"impor {n}"}) for n in range(250)]
    (tmp_path / "laporan.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    importing = ["import", str(tmp_path / "laporan.jsonl"), "--url", urls[0], "--url", urls[1], "--token", officer, "--json"]
    async with finished_on_b(db, (port_a, port_b), wall, importing, taken=60, what="A to take 60 lines") as (out, err):
        assert err == b""  # failing over is not a mistake: nothing on stderr
        body = json.loads(out)
        assert (body["accepted"], body["already_imported"], body["rejected"]) == (250, 0, 0), body
        log = await whole_log(urls[1], officer)
        titles = [title(e) for e in log if e.kind == "incident.reported"]
        assert sorted(titles) == sorted(f"impor {n}" for n in range(250))  # each line once
        assert [e.seq for e in log] == list(range(1, len(log) + 1))


async def test_the_simulator_given_a_then_b_carries_on_on_b(tmp_path: Path) -> None:
    db = tmp_path / "opsmon.db"
    admin, wall = add_token(db, "Admin", role="admin"), add_token(db, "Layar", role="viewer")
    port_a, port_b = free_port(), free_port()
    urls = [url_of(port_a), url_of(port_b)]
    simulating = ["simulate", "--rate", "60", "--duration", "6", "--reports-only", "--quiet", "--json", "--url", f"{urls[0]},{urls[1]}", "--token", admin]
    async with finished_on_b(db, (port_a, port_b), wall, simulating, taken=40, what="A to take 40 commands") as (out, _):
        stats = json.loads(out)
        assert stats["sent"] == stats["ok"] > 40 and stats["refused"] == {}, stats
        log = await whole_log(urls[1], admin)
        assert [e.seq for e in log] == list(range(1, len(log) + 1))
        # Every command answered ok is in the log once: one event each (token.added: the two tokens).
        assert len(log) == stats["ok"] + 2


async def test_the_simulator_whose_one_server_is_gone_for_good_still_prints_its_summary(tmp_path: Path) -> None:
    """One URL (a proxy, one server): it reconnects there until the command deadline; when
    nothing comes back it stops with exit 4, after the summary of what was done."""
    db = tmp_path / "opsmon.db"
    admin = add_token(db, "Admin", role="admin")
    port = free_port()
    simulating = ["simulate", "--rate", "40", "--duration", "60", "--reports-only", "--quiet", "--json", "--url", url_of(port), "--token", admin]
    async with server_on(db, port) as a:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "opsmon.cli", *simulating, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        await asyncio.sleep(3)
        await kill9(a)
    out, err = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode == EXIT_UNREACHABLE, err.decode()
    stats = json.loads(out)  # the summary, though the night was cut short
    assert stats["ok"] > 0 and stats["sent"] >= stats["ok"], stats
    assert "no server answered within 30 s" in err.decode() and "Traceback" not in err.decode()


# --- the dashboard ---------------------------------------------------------------------------


def banner(app: OpsmonApp) -> str:
    return str(app.dashboard.query_one("#banner").render())


def header(app: OpsmonApp) -> str:
    return str(app.dashboard.query_one("#header").render())


def queue(app: OpsmonApp) -> list[int]:
    return app.dashboard.query_one(IncidentQueue).incident_ids


async def settle(pilot: Pilot[int], condition: object, what: str, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def test_the_dashboard_fails_over_to_b_says_so_and_shows_what_is_reported_there(tmp_path: Path) -> None:
    db = tmp_path / "opsmon.db"
    officer, polisi = add_token(db, "Rahmat", agency="Bawaslu"), add_token(db, "Budi", agency="Polri")
    port_a, port_b = free_port(), free_port()
    urls = [url_of(port_a), url_of(port_b)]
    app = OpsmonApp(url=urls, token=officer)
    app.backoff = Backoff(initial=0.05, maximum=0.4)
    async with server_on(db, port_a) as a:
        seeding = await Session.open(urls[0], polisi, on_frame=lambda _: None)
        for n in range(3):
            assert (await seeding.request(report(n))).ok
        await seeding.close()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot, lambda: len(queue(app)) == 3, "the three incidents from A")
            assert f"Bawaslu/Rahmat@127.0.0.1:{port_a} " in header(app)  # which server, where the line has room
            on_a = app.state.seq
            assert app.events_seen == 0  # a snapshot, so far
            await kill9(a)
            await settle(pilot, lambda: app.dashboard.query_one("#banner").has_class("-offline"), "the offline banner")
            text = banner(app)
            # The one banner, in Indonesian: since when, and the server it is trying now (B, then A again, in turn).
            since = local_time(app.offline_since, app.tz)  # type: ignore[arg-type]
            assert re.search(rf"TERPUTUS sejak {since}, mencoba server 127\.0\.0\.1:({port_a}|{port_b})\.\.\. \(", text), text
            assert "connection" not in text and "@127.0.0.1" not in header(app)
            assert "DATA BASI" in header(app)
            await pilot.press("a")  # acknowledged while no server is up: sent on B, with its id
            await settle(pilot, lambda: any("dikirim saat tersambung kembali" in n for n in app.notices), "the queued notice")

            async with server_on(db, port_b):
                await settle(pilot, lambda: f"Tersambung kembali, ke server 127.0.0.1:{port_b}." in app.notices, "the reconnect notice")
                await settle(pilot, lambda: not app.dashboard.query_one("#banner").has_class("-offline"), "the banner to go")
                # Someone reports on B: it reaches the dashboard, folded onto what it had.
                field = await Session.open(urls[1], polisi, on_frame=lambda _: None)
                made_on_b = await field.request(report(3, "di-b"))
                await field.close()
                assert made_on_b.ok
                await settle(pilot, lambda: made_on_b.incident in queue(app), "the incident made on B")
                await settle(pilot, lambda: app.state.seq == made_on_b.seq or app.state.seq > (made_on_b.seq or 0), "the fold to reach B's head")
                assert f"Bawaslu/Rahmat@127.0.0.1:{port_b} " in header(app) and "DATA BASI" not in header(app)
                assert app.connection is not None and app.connection.url == urls[1]
                # Resumed, not re-fetched: every event once, the state the same as a fresh look at B.
                fresh = await Session.open(urls[1], polisi)
                snapshot = await fresh.next_frame()
                await fresh.close()
                assert isinstance(snapshot, Snapshot) and snapshot.seq == app.state.seq
                assert {i.id: i.status for i in snapshot.incidents} == {i.id: i.status for i in app.state.incidents.values()}
                assert [e.seq for e in app.recent_events] == list(range(on_a + 1, app.state.seq + 1))  # each event after A's snapshot, once
                assert app.events_seen == app.state.seq - on_a
                acks = [i for i in snapshot.incidents if i.status == "acknowledged"]
                assert len(acks) == 1 and acks[0].acknowledged_by is not None and acks[0].acknowledged_by.name == "Rahmat"
                # 80 columns: no room for the server, so the header is what it is with one (it gives way, never the counts).
                await pilot.resize_terminal(80, 24)
                await pilot.pause(0.2)
                line = header(app)
                assert len(line) <= 80 and "Blm-ack" in line and "@127.0.0.1" not in line, line


async def test_the_dashboard_starts_on_the_first_server_that_answers_and_names_every_one_that_did_not(tmp_path: Path) -> None:
    db = tmp_path / "opsmon.db"
    officer = add_token(db, "Rahmat")
    dead, port_b = url_of(free_port()), free_port()
    async with server_on(db, port_b):
        app = OpsmonApp(url=[dead, url_of(port_b)], token=officer)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot, lambda: app.welcome is not None, "the welcome from B")
            assert app.return_code is None and app.url == url_of(port_b)
    other = url_of(free_port())
    app = OpsmonApp(url=[dead, other], token=officer)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: app.return_code is not None, "the app to give up")
    assert app.return_code == EXIT_UNREACHABLE
    assert app.exit_line.startswith("opsmon: tidak dapat tersambung: tidak ada yang mendengarkan di " + dead)
    assert f"; tidak ada yang mendengarkan di {other}" in app.exit_line and "\n" not in app.exit_line


# --- PostgreSQL ----------------------------------------------------------------------------


async def test_sessions_fail_over_from_a_killed_postgresql_replica_to_a_live_one_with_no_gap(pg: Databases) -> None:
    """Two replicas serving one PostgreSQL database at once: A is killed mid-burst,
    its sessions carry on on B (already running), every command answered once and logged once."""
    database = pg.url()
    admin, wall = add_token(database, "Admin", role="admin"), add_token(database, "Layar", role="viewer")
    port_a, port_b = free_port(), free_port()
    urls = [url_of(port_a), url_of(port_b)]
    replica = ["--db", database, "--log-level", "warning", "--replica-name"]
    async with serving(*replica, "A", "--port", str(port_a)) as a, serving(*replica, "B", "--port", str(port_b)):
        follower = Follower()
        viewer = await Session.open(urls, wall, on_frame=follower, backoff=FAST)
        writer = await Session.open(urls, admin, on_frame=lambda _: None, backoff=FAST)
        assert viewer.url == writer.url == urls[0]
        epoch = viewer.epoch
        answers: dict[str, list[Result]] = {}
        futures = await burst_killing_a(writer, a, "pg", answers)  # B is up all along
        await asyncio.wait_for(asyncio.gather(*futures), 30)
        more = await writer.request(report(300, "pg"))  # made on B
        assert writer.url == urls[1] and writer.reconnects == 1
        assert all(len(got) == 1 and got[0].ok for got in answers.values()) and len(answers) == 300  # one answer each
        head = more.seq
        await until(lambda: viewer.position == head, what="the viewer to reach B's head")
        assert viewer.url == urls[1] and viewer.reconnects == 1
        assert viewer.epoch == epoch and len(follower.snapshots) == 1  # one epoch on every replica: resumed
        assert follower.seqs == list(range(follower.snapshots[0].seq + 1, (head or 0) + 1))  # no gap, none twice
        titles = [title(e) for e in follower.events if e.kind == "incident.reported"]
        assert sorted(titles) == sorted(f"pg {n}" for n in range(301))  # each command in the log once
        for session in (viewer, writer):
            await session.close()


async def test_a_server_whose_first_frame_is_not_utf8_is_a_one_line_error_naming_it() -> None:
    """Frames are read as bytes and decoded by msgspec: a text frame that is not
    UTF-8 is a bad frame from that server (a ClientError naming it), not a
    UnicodeDecodeError out of the socket."""
    from websockets.asyncio.server import ServerConnection, serve

    async def garbled(ws: ServerConnection) -> None:
        await ws.recv()  # the hello
        await ws.send(b'{"type":"error","code":"bad","message":"\xff\xfe"}', text=True)
        await ws.wait_closed()

    port = free_port()
    async with serve(garbled, "127.0.0.1", port):
        with pytest.raises(ClientError) as refused:
            await Session.open([url_of(port)], "token", failover=False)
    text = str(refused.value)
    assert url_of(port) in text and "\n" not in text
    assert "UTF-8" in text, text
