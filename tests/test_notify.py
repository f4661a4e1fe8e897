"""Issue 25: people, rosters and escalation chains in the config, the
ceiling on re-escalation (issue 20 item 9), and delivery through Apprise to
real receivers on loopback (a webhook, an SMTP server), from the outbox in
the event log."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sqlite3
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from opsmon.cli import main as opsmon_cli
from opsmon.core.config import Config, ConfigError, load_config
from opsmon.core.domain import decide
from opsmon.core.protocol import Ack, Escalate, IncidentDraft, Report
from opsmon.core.records import Actor
from opsmon.core.urgency import event_summary, event_text
from server.app import OpsmonServer
from server.auth import add_token
from server.exercise import ExerciseSettings, prepare
from server.notify import compose_test, load_channels
from server.store.backends import open_store
from tests.backends import Databases
from tests.helpers import CONFIG_PATH, ROOT, FakeClock, free_port, hello, recv_json, running_server
from tests.processes import ENV, opsmon_server
from tests.receivers import smtp, webhook
from tests.server_thread import server_in_thread

OFFICER = Actor(name="officer", agency="Bawaslu")

PEOPLE = """
[notify]
group_seconds = 0
retry_seconds = 1
max_attempts = 3
check_seconds = 60
contact = "0511-3350000"

[[people]]
name = "Bripka Andi"
agency = "Polri"
position = "Piket Polri"
channels_file = "andi.urls"

[[people]]
name = "AKP Budi"
agency = "Polri"
position = "Kasubbag Ops"
channels_file = "budi.urls"

[[people]]
name = "AKBP Candra"
agency = "Polri"
position = "Kapolres Tanah Bumbu"
regencies = ["6310"]
commander = true
channels_file = "candra.urls"

[[people]]
name = "Dewi Lestari"
agency = "KPU"
position = "Ketua KPU Kabupaten Tanah Bumbu"
regencies = ["6310"]
commander = true

[[people]]
name = "Eko Prasetyo"
agency = "Bawaslu"
position = "Ketua Bawaslu Kabupaten Banjar"
regencies = ["6303"]
commander = true

[[rosters]]
desk = "Polri"

[[rosters.shifts]]
start = "07:00"
end = "19:00"
people = ["Bripka Andi"]
supervisor = "AKP Budi"

[[rosters.shifts]]
start = "19:00"
end = "07:00"
people = ["Bripka Andi"]
supervisor = "AKP Budi"

[[chains]]
severities = ["critical", "high"]
repeat = 2
repeat_minutes = 10

[[chains.levels]]
notify = ["desk"]

[[chains.levels]]
notify = ["supervisor"]
after_minutes = 5

[[chains.levels]]
notify = ["commanders"]
after_minutes = 10
"""


def write_config(folder: Path, extra: str = PEOPLE, urls: dict[str, str] | None = None, server: str = "") -> Path:
    """The shipped config with `extra` appended, and each channels file beside it."""
    text = CONFIG_PATH.read_text(encoding="utf-8")
    shipped_notify = text.index("\n[notify]\n")
    text = text[:shipped_notify] + text[text.index("\n\n", shipped_notify + 1) :]  # the test's own [notify] instead
    if server:
        text = text.replace("escalation_check_seconds = 5\n", f"{server}\n", 1)
    path = folder / "config.toml"
    path.write_text(text + extra, encoding="utf-8")
    for name, url in (urls or {}).items():
        (folder / name).write_text(f"# {name}\n{url}\n", encoding="utf-8")
    return path


@contextlib.asynccontextmanager
async def quiet_server(tmp_path: Path, clock: FakeClock, config: Config) -> AsyncIterator[OpsmonServer]:
    """A server on its database, not started: no loop runs a timer, the test does."""
    async with open_store(str(tmp_path / "opsmon.db"), synchronous="normal") as store:
        server = OpsmonServer(config, store, clock=clock)
        server.state = await store.load_state()
        server.notifier.channels = load_channels(config)
        yield server


async def report(server: OpsmonServer, severity: str, regency: str = "6310", category: str = "keamanan") -> int:
    command = Report(id=f"r{server.state.seq}", incident=IncidentDraft(regency=regency, category=category, severity=severity, title="Massa mendatangi PPK"))
    async with server.lock:
        await server.writer.write([decide(server.state, command, OFFICER, None, server.clock(), server.rules)])
    return max(server.state.incidents)


async def escalations(server: OpsmonServer) -> list[tuple[int, int, bool, list[str], str | None]]:
    """(level, repeat, final, notify, note) of every incident.escalated in the log."""
    out = []
    for event in await server.store.events_since(0):
        if event.kind == "incident.escalated":
            d = event.data
            out.append((d.level, d.repeat if isinstance(d.repeat, int) else 0, d.final is True, list(d.notify) if isinstance(d.notify, list) else [], d.note))  # type: ignore[union-attr]
    return out


# --- 1. config: people, rosters, chains, secrets ------------------------------------------


def test_people_rosters_and_chains_load_and_say_who_is_on_duty(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, urls={"andi.urls": "json://127.0.0.1:9/a", "budi.urls": "mailto://127.0.0.1:9?to=b@example.org", "candra.urls": "tgram://1:abc/2"}
    )
    done = opsmon_server("check-config", config=path)
    assert done.returncode == 0, done.stderr
    assert "5 people (3 channels), 1 rosters, 1 chains" in done.stdout
    assert "desk Polri (all regencies)" in done.stdout and "Bripka Andi; supervisor AKP Budi" in done.stdout
    assert "abc" not in done.stdout  # never a secret


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('notify = ["supervisor"]', 'notify = ["AKP Budiman"]'), "chains[0].levels[1].notify[0]: no person named 'AKP Budiman' in [[people]]"),
        (('start = "19:00"\nend = "07:00"', 'start = "18:00"\nend = "07:00"'), "rosters[0].shifts[1]: overlaps shifts[0] at 18:00 (desk Polri)"),
        (('start = "19:00"\nend = "07:00"', 'start = "20:00"\nend = "07:00"'), "rosters[0].shifts: no shift from 19:00 to 20:00 (desk Polri"),
        (('people = ["Bripka Andi"]\nsupervisor = "AKP Budi"', 'people = ["Bripka Ani"]'), "rosters[0].shifts[0].people[0]: no person named 'Bripka Ani'"),
        (('regencies = ["6303"]', 'regencies = ["6399"]'), "people[4].regencies[0]: no regency '6399'"),
        (("repeat = 2", "repeat = 2\nbogus = 1"), "chains[0].bogus: unknown key"),
        (('notify = ["desk"]', 'notify = ["desk"]\nafter_minutes = 3'), "chains[0].levels[0].after_minutes: level 1 is due at the acknowledgement deadline"),
    ],
)
def test_a_bad_people_roster_or_chain_is_one_line_naming_the_key(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    assert change[0] in PEOPLE
    path = write_config(tmp_path, PEOPLE.replace(*change, 1))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    done = opsmon_server("check-config", config=path)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("urls", "message"),
    [
        ({"andi.urls": "smoke://signal/1", "budi.urls": "json://x/", "candra.urls": "json://x/"}, "people[0].channels_file: line 2 of"),
        ({"budi.urls": "json://x/", "candra.urls": "json://x/"}, "people[0].channels_file: no such file"),
        ({"andi.urls": "", "budi.urls": "json://x/", "candra.urls": "json://x/"}, "holds no channel"),
    ],
)
def test_a_bad_channels_file_stops_check_config_and_serve_naming_the_key(tmp_path: Path, urls: dict[str, str], message: str) -> None:
    path = write_config(tmp_path, urls=urls)
    if "smoke" in urls.get("andi.urls", ""):
        message += f" {str(tmp_path / 'andi.urls')!r}: unknown channel scheme 'smoke'"
    for command in (["check-config"], ["serve", "--db", str(tmp_path / "x.db"), "--port", "0"]):
        done = opsmon_server(*command, config=path)
        assert done.returncode == 2, done.stdout
        assert message in done.stderr and done.stderr.count("\n") == 1 and "signal/1" not in done.stderr
    assert not (tmp_path / "x.db").exists()  # nothing started, nothing written


def test_an_unreadable_channels_file_is_named(tmp_path: Path) -> None:
    if os.geteuid() == 0:  # root reads every file: a folder in its place is unreadable as a file to anyone
        write_config(tmp_path, urls={"budi.urls": "json://x/", "candra.urls": "json://x/"})
        (tmp_path / "andi.urls").mkdir()
    else:
        write_config(tmp_path, urls={"andi.urls": "json://x/", "budi.urls": "json://x/", "candra.urls": "json://x/"})
        (tmp_path / "andi.urls").chmod(0)
    done = opsmon_server("check-config", config=tmp_path / "config.toml")
    assert done.returncode == 2 and "people[0].channels_file: cannot read" in done.stderr


# --- 2. escalation: chains with a ceiling ---------------------------------------------------


async def test_without_a_chain_escalation_stops_after_the_ceiling_with_one_last_word(tmp_path: Path, clock: FakeClock) -> None:
    """Issue 20 item 9: an unacknowledged critical no longer climbs to level 2,359."""
    async with quiet_server(tmp_path, clock, load_config(CONFIG_PATH)) as server:
        incident = await report(server, "critical", "6303", "logistik")  # ack within 5 min, again every 5; [notify] max_repeats 3
        for _ in range(20):
            clock.advance(minutes=5, seconds=1)
            await server.deadlines.check()
        steps = await escalations(server)
        assert [s[0] for s in steps] == [1, 2, 3, 4, 4]
        assert [s[2] for s in steps] == [False, False, False, False, True]
        assert steps[-1][4] == "masih belum di-ack sejak 21:00 WITA"
        assert server.state.incidents[incident].escalate_due is None


async def test_the_last_word_dates_a_report_from_the_day_before(tmp_path: Path, clock: FakeClock) -> None:
    """Reported at 23:50 WITA, the ceiling reached after midnight: "since 23:50" would read as today's."""
    clock.advance(hours=2, minutes=50)  # 23:50 WITA on 14/02
    async with quiet_server(tmp_path, clock, load_config(CONFIG_PATH)) as server:
        await report(server, "critical", "6303", "logistik")
        for _ in range(20):
            clock.advance(minutes=5, seconds=1)
            await server.deadlines.check()
        steps = await escalations(server)
        assert steps[-1][2] is True
        assert steps[-1][4] == "masih belum di-ack sejak 14/02 23:50 WITA"


async def test_a_chain_climbs_desk_supervisor_commanders_repeats_then_stops(tmp_path: Path, clock: FakeClock) -> None:
    path = write_config(tmp_path, urls={"andi.urls": "json://127.0.0.1:9/", "budi.urls": "json://127.0.0.1:9/", "candra.urls": "json://127.0.0.1:9/"})
    async with quiet_server(tmp_path, clock, load_config(path)) as server:
        incident = await report(server, "critical")  # Tanah Bumbu, keamanan: the Polri desk
        clock.advance(minutes=5, seconds=1)  # the ack deadline
        assert await server.deadlines.check() == 1
        clock.advance(minutes=4)
        assert await server.deadlines.check() == 0  # level 2 is 5 minutes after level 1
        for _ in range(12):
            clock.advance(minutes=5)
            await server.deadlines.check()
        steps = await escalations(server)
        commanders = ["AKBP Candra", "Dewi Lestari"]  # Tanah Bumbu's, not Banjar's Eko
        assert [(level, repeat, final, notify) for level, repeat, final, notify, _ in steps] == [
            (1, 0, False, ["Bripka Andi"]),
            (2, 0, False, ["AKP Budi"]),
            (3, 0, False, commanders),
            (3, 1, False, commanders),
            (3, 2, False, commanders),
            (3, 2, True, commanders),
        ]
        assert steps[-1][4] == "masih belum di-ack sejak 21:00 WITA"
        assert server.state.incidents[incident].escalate_due is None
        timeline = [event_text(e) for e in await server.store.incident_events(incident) if e.kind == "incident.escalated"]
        assert timeline[1] == "-> AKP Budi"


async def test_a_person_escalating_tells_the_next_level_of_the_chain(tmp_path: Path, clock: FakeClock) -> None:
    path = write_config(tmp_path, urls={"andi.urls": "json://127.0.0.1:9/", "budi.urls": "json://127.0.0.1:9/", "candra.urls": "json://127.0.0.1:9/"})
    async with quiet_server(tmp_path, clock, load_config(path)) as server:
        incident = await report(server, "high")
        async with server.lock:
            await server.writer.write([decide(server.state, Escalate(id="e1", incident=incident), OFFICER, None, server.clock(), server.rules)])
        assert (await escalations(server)) == [(1, 0, False, ["Bripka Andi"], None)]


# --- 3 and 4. delivery to real receivers ---------------------------------------------------------


async def test_a_level_2_escalation_arrives_by_email_in_bahasa_indonesia(tmp_path: Path, clock: FakeClock) -> None:
    with smtp() as mailbox, webhook() as hook:
        path = write_config(tmp_path, urls={"andi.urls": hook.url(), "budi.urls": mailbox.url("budi@example.org"), "candra.urls": hook.url()})
        async with quiet_server(tmp_path, clock, load_config(path)) as server:
            incident = await report(server, "critical")
            clock.advance(minutes=5, seconds=1)
            await server.deadlines.check()  # level 1: the desk (the webhook)
            assert await server.notifier.check() == 1
            clock.advance(minutes=5)
            await server.deadlines.check()  # level 2: the supervisor, by e-mail
            assert await server.notifier.check() == 1
            for _ in range(50):
                if mailbox.messages:
                    break
                await asyncio.sleep(0.05)
            assert len(mailbox.messages) == 1
            mail = mailbox.messages[0].content.decode("utf-8")
            assert "Subject: OPSMON #1 Tanah Bumbu: eskalasi L2" in mail
            assert mailbox.messages[0].rcpt_tos == ["budi@example.org"]
            body = mail.split("\r\n\r\n", 1)[1].replace("=\r\n", "")
            assert "#1 Tanah Bumbu =C2=B7 KRITIS =C2=B7 10m" in body  # quoted-printable: "·" is =C2=B7
            assert "Massa mendatangi PPK" in body and "Belum di-ack, eskalasi level 2" in body and "0511-3350000" in body
            assert f"opsmon-{server.store.epoch[:8]}-{incident}-2.0-akp-budi" in body
            sent = [e.data for e in await server.store.events_since(0) if e.kind == "notification.sent"]
            assert [(s.person, s.level, s.scheme) for s in sent] == [("Bripka Andi", 1, "json"), ("AKP Budi", 2, "mailto")]  # type: ignore[union-attr]


async def test_the_webhook_gets_json_with_its_idempotency_key_and_one_message_names_several_incidents(tmp_path: Path, clock: FakeClock) -> None:
    with webhook() as hook:
        path = write_config(tmp_path, urls={"andi.urls": hook.url(), "budi.urls": hook.url(), "candra.urls": hook.url()})
        async with quiet_server(tmp_path, clock, load_config(path)) as server:
            first = await report(server, "critical")
            second = await report(server, "critical", "6303")
            clock.advance(minutes=5, seconds=1)
            await server.deadlines.check()  # both reach the desk at once: one message
            assert await server.notifier.check() == 1
            assert len(hook.received) == 1
            request = hook.received[0]
            epoch = server.store.epoch[:8]
            keys = [f"opsmon-{epoch}-{first}-1.0-bripka-andi", f"opsmon-{epoch}-{second}-1.0-bripka-andi"]
            assert request["headers"]["X-Opsmon-Key"] == ",".join(keys)
            assert request["json"]["idempotency_key"] == ",".join(keys)
            assert request["json"]["title"] == "OPSMON: 2 insiden belum di-ack (L1)"
            assert "#1 Tanah Bumbu · KRITIS · 5m" in request["json"]["message"] and "#2 Banjar" in request["json"]["message"]
            assert await server.notifier.check() == 0  # settled: never twice
            assert len(hook.received) == 1


async def test_a_failing_channel_retries_then_shows_notification_failed_on_the_officers_screen(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="opsmon.server")
    with webhook(status=500) as hook:
        path = write_config(
            tmp_path, urls={"andi.urls": hook.url(), "budi.urls": hook.url(), "candra.urls": hook.url()}, server="escalation_check_seconds = 60"
        )
        async with running_server(tmp_path, clock=clock, config=load_config(path)) as running:
            ws, _welcome = await hello(running.url, running.tokens["officer"])
            server = running.server
            incident = await report(server, "critical")
            clock.advance(minutes=5, seconds=1)
            await server.deadlines.check()
            assert await server.notifier.check() == 0  # attempt 1 fails
            retry = (clock() + timedelta(seconds=1)).astimezone(load_config(path).province.tz)
            said = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("could not notify"))
            assert said.endswith(f"; trying again at {retry:%H:%M:%S} WITA"), said  # the log's every time is WITA
            assert ".;" not in said  # the channel's own full stop is not doubled
            assert await server.notifier.check() == 0  # not before its backoff (1 s)
            assert len(hook.received) == 1
            clock.advance(seconds=1)
            await server.notifier.check()  # attempt 2
            clock.advance(seconds=2)
            await server.notifier.check()  # attempt 3 of 3: failed
            assert len(hook.received) == 3
            seen = []
            with contextlib.suppress(TimeoutError):
                while True:
                    frame = await recv_json(ws, 2)
                    seen += [frame] if frame.get("type") == "event" else frame.get("events", [])
                    if any(e["kind"] == "notification.failed" for e in seen):
                        break
            failed = next(e for e in seen if e["kind"] == "notification.failed")
            assert failed["data"]["incident"] == incident and failed["data"]["person"] == "Bripka Andi"
            assert failed["data"]["attempts"] == 3 and "500" in failed["data"]["error"]
            await ws.close()
            clock.advance(minutes=1)
            await server.notifier.check()
            assert len(hook.received) == 3  # given up: not tried again


async def test_quiet_hours_hold_a_high_but_never_a_critical(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2024, 2, 14, 16, 0, tzinfo=UTC))  # 00:00 WITA
    with webhook() as hook:
        quiet = PEOPLE.replace('position = "Piket Polri"', 'position = "Piket Polri"\nquiet_hours = "22:00-06:00"')
        path = write_config(tmp_path, quiet, urls={"andi.urls": hook.url(), "budi.urls": hook.url(), "candra.urls": hook.url()})
        async with quiet_server(tmp_path, clock, load_config(path)) as server:
            high = await report(server, "high")
            clock.advance(minutes=15, seconds=1)
            await server.deadlines.check()
            assert await server.notifier.check() == 0 and not hook.received  # a high waits for 06:00
            critical = await report(server, "critical", "6303")
            clock.advance(minutes=5, seconds=1)
            await server.deadlines.check()
            await server.notifier.check()

            def to_andi() -> list[str]:  # the incidents of the messages Andi (quiet 22:00-06:00) got
                return [r["headers"]["X-Opsmon-Key"].split("-")[2] for r in hook.received if r["headers"]["X-Opsmon-Key"].endswith("bripka-andi")]

            assert to_andi() == [str(critical)]
            clock.now = datetime(2024, 2, 14, 22, 0, 30, tzinfo=UTC)  # 06:00 WITA
            await server.notifier.check()
            assert to_andi() == [str(critical), str(high)]


async def test_an_acknowledgement_before_the_send_is_said_in_the_message(tmp_path: Path, clock: FakeClock) -> None:
    with webhook() as hook:
        path = write_config(tmp_path, urls={"andi.urls": hook.url(), "budi.urls": hook.url(), "candra.urls": hook.url()})
        async with quiet_server(tmp_path, clock, load_config(path)) as server:
            incident = await report(server, "critical")
            clock.advance(minutes=5, seconds=1)
            await server.deadlines.check()
            async with server.lock:
                ack = decide(server.state, Ack(id="a1", incident=incident), OFFICER, None, server.clock(), server.rules)  # written as the system
                await server.writer.write([ack])
            await server.notifier.check()
            assert "Di-ack oleh system pukul 21:05" in hook.received[0]["json"]["message"]


# --- kill -9 between "decided" and "sent" ----------------------------------------------------


@pytest.mark.slow
async def test_kill_9_between_decided_and_sent_delivers_exactly_once_per_key(tmp_path: Path) -> None:
    port = free_port()
    hook_port = free_port()  # nobody listens yet: the first attempts fail, nothing is delivered
    url = f"json://127.0.0.1:{hook_port}/hook"
    path = write_config(
        tmp_path,
        PEOPLE.replace("check_seconds = 60", "check_seconds = 0.2")
        .replace("retry_seconds = 1", "retry_seconds = 0.5")
        .replace("max_attempts = 3", "max_attempts = 20"),
        urls={"andi.urls": url, "budi.urls": url, "candra.urls": url},
    )
    db = tmp_path / "night.db"
    token = opsmon_server("token", "add", "Siti", "--role", "officer", "--agency", "Polri", "--db", str(db), config=path)
    assert token.returncode == 0, token.stderr
    secret = token.stdout.strip().splitlines()[-1]

    async def serve() -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server.cli", "serve", "--config", str(path), "--db", str(db), "--port", str(port),
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=ENV,
        )  # fmt: skip
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        assert "listening on" in line, line
        return process

    def sent_keys() -> list[str]:
        with contextlib.closing(sqlite3.connect(db)) as con:
            rows = con.execute("SELECT data FROM events WHERE kind = 'notification.sent' ORDER BY seq").fetchall()
        return [json.loads(row[0])["key"] if row[0].startswith("{") else "" for row in rows]

    process = await serve()
    try:
        ws, _ = await hello(f"ws://127.0.0.1:{port}/ws", secret)
        for n, regency in enumerate(("6310", "6303")):
            await ws.send(
                json.dumps(
                    {"type": "report", "id": f"r{n}", "incident": {"regency": regency, "category": "keamanan", "severity": "high", "title": "Bentrok massa"}}
                )
            )
            await ws.send(json.dumps({"type": "escalate", "id": f"e{n}", "incident": n + 1, "note": "Butuh piket Polri"}))
        answers = 0
        while answers < 4:
            frame = await recv_json(ws, 10)
            answers += frame.get("type") == "result" and frame["ok"]
        await ws.close()
        await asyncio.sleep(1.0)  # decided and tried (refused: nobody listens), not sent
        process.send_signal(signal.SIGKILL)
        await process.wait()
        with webhook(port=hook_port) as hook:
            process = await serve()
            for _ in range(100):
                if len(sent_keys()) >= 2:
                    break
                await asyncio.sleep(0.1)
            process.send_signal(signal.SIGKILL)  # and again: what was sent is not sent again
            await process.wait()
            process = await serve()
            await asyncio.sleep(1.5)
            keys = [k for request in hook.received for k in request["headers"]["X-Opsmon-Key"].split(",")]
            assert len(keys) == 2 and len(set(keys)) == 2  # one message (grouped) or two: each key once
            assert sorted(sent_keys()) == sorted(keys)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
            await process.wait()


def test_notify_test_sends_one_message_and_prints_the_answer(tmp_path: Path) -> None:
    with webhook() as hook:
        path = write_config(tmp_path, urls={"andi.urls": hook.url(), "budi.urls": hook.url(), "candra.urls": f"json://127.0.0.1:{free_port()}/down"})
        done = opsmon_server("notify", "test", "Bripka Andi", config=path)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("Bripka Andi channel 1 (json): ok: ")
        assert hook.received[0]["json"]["title"] == "OPSMON: pesan uji"
        failed = opsmon_server("notify", "test", "AKBP Candra", config=path)
        assert failed.returncode == 1 and "channel 1 (json): FAILED" in failed.stdout
        unknown = opsmon_server("notify", "test", "Siapa", config=path)
        assert unknown.returncode == 2 and "no person named 'Siapa'" in unknown.stderr


def test_opsmon_notify_test_from_the_it_officers_machine_says_what_each_channel_answered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """The client command: the server sends through the same code path as `opsmon-server
    notify test`, answers per channel (line, scheme, answer; never the URL) and writes nothing."""
    caplog.set_level(logging.INFO, logger="opsmon.server")
    with webhook() as hook:
        path = write_config(tmp_path, urls={"andi.urls": hook.url(), "budi.urls": hook.url(), "candra.urls": "json://127.0.0.1:9/x"})
        with server_in_thread(tmp_path, config=load_config(path)) as live:

            def run(*args: str, token: str = "admin") -> tuple[int, str, str]:
                code = opsmon_cli(["notify", "test", *args, "--config", str(path), "--url", live.url, "--token", live.tokens[token]])
                out, err = capsys.readouterr()
                return code, out, err

            head = live.state().seq
            assert run("Bripka Andi", "--lang", "id") == (0, "Bripka Andi saluran 1 (json): terkirim: Sent JSON POST notification.\n", "")
            message = hook.received[0]
            assert message["json"]["title"] == "OPSMON: pesan uji" and "Bripka Andi" in message["json"]["message"]
            assert message["headers"]["X-Opsmon-Key"] == "opsmon-test-1"

            code, out, err = run("AKBP Candra")
            assert code == 1 and err == ""
            assert out.startswith("AKBP Candra channel 1 (json): FAILED: ") and out.count("\n") == 1
            code, out, _ = run("AKBP Candra", "--json")
            answer = json.loads(out)
            assert code == 1 and answer["ok"] is True and [(c["channel"], c["scheme"], c["ok"]) for c in answer["channels"]] == [(1, "json", False)]
            assert "json://" not in out  # the URL is the server's secret

            assert run("Siapa") == (3, "", "opsmon: error: no person named Siapa in the server's [[people]]\n")
            assert run("Dewi Lestari", "--lang", "id") == (
                3,
                "",
                "opsmon: error: Dewi Lestari tidak punya saluran (channels_file): tidak ada yang bisa dikirimi\n",
            )
            code, _, err = run("Bripka Andi", token="officer")
            assert code == 3 and err == "opsmon: error: this officer token cannot: only an admin token sends a test notification\n"
            assert len(hook.received) == 1  # the officer's test sent nothing
            assert live.state().seq == head and live.call(live.running.store.events_since(0)) == []  # nothing written
    assert any("test notification to Bripka Andi by admin (KPU): channel 1 (json) ok: Sent JSON POST notification." in r.getMessage() for r in caplog.records)


def test_an_exercise_servers_test_message_says_latihan_first(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path))
    title, body = compose_test(config, "Bripka Andi", "Latihan Posko 12 Feb")
    assert title == "[LATIHAN Latihan Posko 12 Feb] OPSMON: pesan uji"
    assert body.startswith("[LATIHAN Latihan Posko 12 Feb]\nPesan uji untuk Bripka Andi dari ")
    assert compose_test(config, "Bripka Andi")[0] == "OPSMON: pesan uji"


# --- acknowledge from where you are: GET /notify/ack ----------------------------------------------


def _get(url: str, token: str | None) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token is not None else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def test_a_chat_bot_acknowledges_for_a_known_person_and_every_bad_call_writes_nothing(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="opsmon.server")
    path = write_config(tmp_path, urls={"andi.urls": "json://127.0.0.1:9/", "budi.urls": "json://127.0.0.1:9/", "candra.urls": "json://127.0.0.1:9/"})
    async with running_server(tmp_path, clock=clock, config=load_config(path)) as running:
        server = running.server
        tanah_bumbu = await report(server, "critical")
        banjar = await report(server, "critical", "6303")
        base = f"{running.http}/notify/ack"
        bot = running.tokens["officer"]
        head = server.state.seq
        refusals = [
            (f"{base}?incident={tanah_bumbu}&person=AKBP%20Candra", "ops_not-a-token", 401, "unknown or revoked token"),
            (f"{base}?incident={tanah_bumbu}&person=AKBP%20Candra", None, 401, "Authorization: Bearer"),
            (f"{base}?incident={tanah_bumbu}&person=Pak%20Siapa", bot, 403, "'Pak Siapa' is not in [[people]]"),
            (f"{base}?incident={banjar}&person=AKBP%20Candra", bot, 403, "AKBP Candra may act only on regencies 6310, not 6303"),
            (f"{base}?incident={tanah_bumbu}&person=AKBP%20Candra", running.tokens["wall"], 403, "may only read"),
            (f"{base}?incident=99&person=AKBP%20Candra", bot, 404, "no incident 99"),
            (f"{base}?incident=x&person=AKBP%20Candra", bot, 400, "incident: must be an incident number"),
        ]
        for url, token, status, message in refusals:
            got, body = await asyncio.to_thread(_get, url, token)
            assert (got, body["ok"]) == (status, False) and message in str(body["message"]), (url, got, body)
        assert server.state.seq == head and len(await server.store.events_since(0)) == head  # nothing written

        status, body = await asyncio.to_thread(_get, f"{base}?incident={tanah_bumbu}&person=AKBP%20Candra&note=Personel%20meluncur", bot)
        assert status == 200 and body["ok"] is True
        status, body = await asyncio.to_thread(_get, f"{base}?incident={tanah_bumbu}&person=AKBP%20Candra", bot)
        assert status == 200 and body == {"ok": True, "seq": head + 2, "incident": tanah_bumbu, "by": "AKBP Candra"}
        noted, acked = (await server.store.events_since(head))[-2:]
        assert noted.kind == "incident.noted" and noted.data.text == "Personel meluncur"  # type: ignore[union-attr]
        assert acked.kind == "incident.acknowledged" and acked.actor == Actor(name="AKBP Candra", agency="Polri")
        assert server.state.incidents[tanah_bumbu].status == "acknowledged"
        assert any("command by AKBP Candra (Polri, via officer from 127.0.0.1): ack incident #1" in r.getMessage() for r in caplog.records)
        again, body = await asyncio.to_thread(_get, f"{base}?incident={tanah_bumbu}&person=AKBP%20Candra", bot)
        assert again == 409 and "already acknowledged by Polri/AKBP Candra" in str(body["message"])


async def test_in_a_training_exercise_every_message_says_latihan_first(tmp_path: Path) -> None:
    with webhook() as hook:
        path = write_config(tmp_path, urls={"andi.urls": hook.url(), "budi.urls": hook.url(), "candra.urls": hook.url()})
        async with open_store(str(tmp_path / "latihan.db"), synchronous="normal") as store:
            start = datetime(2024, 2, 14, 13, 0, tzinfo=UTC)
            drill = await prepare(store, ExerciseSettings(name="Latihan Posko 12 Feb", start=start, speed=3000))
            server = OpsmonServer(load_config(path), store, exercise=drill)
            server.state = await store.load_state()
            server.notifier.channels = load_channels(server.config)
            await report(server, "critical")
            await asyncio.sleep(0.2)  # 10 scenario minutes: past the 5-minute deadline
            await server.deadlines.check()
            await server.notifier.check()
            message = hook.received[0]["json"]
            assert message["title"].startswith("[LATIHAN Latihan Posko 12 Feb] OPSMON #1 Tanah Bumbu")
            assert message["message"].startswith("[LATIHAN Latihan Posko 12 Feb]\n#1 Tanah Bumbu")


# --- a replica failover between "decided" and "sent" ---------------------------------------------------


async def test_a_replica_failover_delivers_once(pg: Databases, tmp_path: Path, clock: FakeClock) -> None:
    """Replica A decides the escalation and fails to send it (the receiver answers
    500); A stops; B takes the timer lock, finds what is owed in the log, and
    sends it once."""
    with webhook(status=500) as hook:
        fast = PEOPLE.replace("check_seconds = 60", "check_seconds = 0.1").replace("max_attempts = 3", "max_attempts = 20")
        path = write_config(tmp_path, fast, urls={"andi.urls": hook.url(), "budi.urls": hook.url(), "candra.urls": hook.url()})
        config = load_config(path)
        database = pg.url()
        async with open_store(database) as store:
            await add_token(store, "officer", "officer", "Polri", None, {r.code for r in config.regencies})
        async with contextlib.AsyncExitStack() as stack:
            servers: list[OpsmonServer] = []
            for name in "AB":
                store = await stack.enter_async_context(open_store(database, shared=True))
                server = OpsmonServer(config, store, clock=clock)
                server.replica_name = name
                await server.start("127.0.0.1", 0)
                stack.push_async_callback(server.close)
                servers.append(server)
            a, b = servers
            assert a.holds_timers and not b.holds_timers
            await report(a, "critical")
            clock.advance(minutes=5, seconds=1)
            await a.deadlines.check()
            for _ in range(100):
                if hook.received:
                    break
                await asyncio.sleep(0.05)
            assert hook.received  # A tried: refused, so nothing was delivered
            await a.close()
            await a.store.close()  # its session ends: the timer lock is free
            tried = len(hook.received)
            hook.status = 200
            for _ in range(200):
                if b.holds_timers and len(hook.received) > tried:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # a few more rounds: nothing more is sent
            delivered = [r["headers"]["X-Opsmon-Key"] for r in hook.received[tried:]]
            assert len(delivered) == 1 and delivered[0].endswith("-1-1.0-bripka-andi")
            sent = [e.data for e in await b.store.events_since(0) if e.kind == "notification.sent"]
            assert [s.key for s in sent] == delivered  # type: ignore[union-attr]


# --- shift handover -------------------------------------------------------------------------------------


def test_the_outgoing_officer_confirms_the_handover_and_the_incoming_one_accepts_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, urls={"andi.urls": "json://127.0.0.1:9/", "budi.urls": "json://127.0.0.1:9/", "candra.urls": "json://127.0.0.1:9/"})
    with server_in_thread(tmp_path, config=load_config(path)) as live:

        def run(*args: str, token: str) -> int:
            return opsmon_cli([*args, "--config", str(path), "--url", live.url, "--token", live.tokens[token]])

        assert run("report", "--regency", "6310", "--category", "keamanan", "--severity", "critical", "--title", "Massa mendatangi PPK", token="polisi") == 0
        assert run("report", "--regency", "6371", "--category", "logistik", "--severity", "high", "--title", "Surat suara kurang", token="polisi") == 0
        assert run("note", "1", "--text", "Personel Polres meluncur", token="polisi") == 0
        assert run("stage", "--regency", "6303", "--stage", "rekap_ppk", "--blocked", "--note", "Listrik padam", token="officer") == 0
        capsys.readouterr()
        assert run("handover", "--confirm", "--note", "Pantau #1", token="polisi") == 0
        out = capsys.readouterr().out
        assert out.startswith("SERAH TERIMA JAGA meja Polri, shift ")
        assert "Insiden terbuka: 1\n#1 Tanah Bumbu KRITIS · BELUM di-ack · penanggung jawab - · tenggat " in out  # the KPU desk's #2 is not Polri's
        assert "Polri/polisi: Personel Polres meluncur" in out
        assert "Tahapan terhambat: 1\n   Banjar Rekapitulasi kecamatan (PPK) 0/20: Listrik padam" in out
        assert out.rstrip().endswith("serah terima dikonfirmasi (seq 5)")
        assert run("handover", "--accept", "--desk", "Polri", token="officer") == 0
        events = live.call(live.running.store.events_since(0))
        handovers = [(e.actor.name, e.data.step, e.data.open, e.data.note) for e in events if e.kind == "shift.handover"]  # type: ignore[union-attr]
        assert handovers == [("polisi", "confirm", [1], "Pantau #1"), ("officer", "accept", [1], "")]
        shift = next(e.data.shift for e in events if e.kind == "shift.handover")  # type: ignore[union-attr]
        assert shift in ("07:00-19:00", "19:00-07:00")


async def test_one_message_per_interval_names_the_most_severe_first_and_the_rest_follow(tmp_path: Path, clock: FakeClock) -> None:
    with webhook() as hook:
        capped = PEOPLE.replace("group_seconds = 0", "group_seconds = 60\nmax_per_message = 2")
        path = write_config(tmp_path, capped, urls={"andi.urls": hook.url(), "budi.urls": hook.url(), "candra.urls": hook.url()})
        async with quiet_server(tmp_path, clock, load_config(path)) as server:
            high = await report(server, "high", "6303")
            clock.advance(minutes=10)
            first = await report(server, "critical")
            second = await report(server, "critical", "6371")
            clock.advance(minutes=5, seconds=1)  # all three past their deadlines: level 1, the desk
            await server.deadlines.check()
            assert await server.notifier.check() == 1
            message = hook.received[0]["json"]
            assert message["title"] == "OPSMON: 3 insiden belum di-ack (L1)"
            assert message["idempotency_key"].split(",") == [k for k in message["idempotency_key"].split(",") if k.split("-")[2] in (str(first), str(second))]
            assert "+1 insiden lain belum di-ack: pesan berikutnya" in message["message"]
            clock.advance(seconds=30)
            assert await server.notifier.check() == 0  # one message per interval
            clock.advance(seconds=31)
            assert await server.notifier.check() == 1
            assert hook.received[1]["json"]["idempotency_key"].split("-")[2] == str(high)


async def test_opsmon_show_names_who_each_escalation_told_and_what_each_channel_did(tmp_path: Path, clock: FakeClock) -> None:
    with webhook() as hook:
        path = write_config(tmp_path, urls={"andi.urls": hook.url(), "budi.urls": f"json://127.0.0.1:{free_port()}/down", "candra.urls": hook.url()})
        async with quiet_server(tmp_path, clock, load_config(path)) as server:
            incident = await report(server, "critical")
            clock.advance(minutes=5, seconds=1)
            await server.deadlines.check()
            await server.notifier.check()
            clock.advance(minutes=5)
            await server.deadlines.check()
            for _ in range(3):  # max_attempts 3, retry_seconds 1 doubling
                await server.notifier.check()
                clock.advance(seconds=4)
            lines = [(e.kind, event_summary(e)) for e in await server.store.incident_events(incident)]
            assert ("incident.escalated", "level 1 -> Bripka Andi") in lines
            assert ("notification.sent", "Bripka Andi (json)") in lines
            assert ("incident.escalated", "level 2 -> AKP Budi") in lines
            failed = next(text for kind, text in lines if kind == "notification.failed")
            assert failed.startswith("AKP Budi (json), 3x: ") and "down" not in failed  # the answer, never the URL
