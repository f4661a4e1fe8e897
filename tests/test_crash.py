"""`opsmon-server` as a real process: kill -9 loses nothing acknowledged, SIGTERM
stops cleanly, and the CLI answers mistakes in one line."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import CONFIG_PATH, ROOT
from tests.processes import add_token, server_process
from tests.wire import Peer, report

pytestmark = pytest.mark.slow


def cli(*args: str, config: Path | None = CONFIG_PATH, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    extra = ["--config", str(config)] if config is not None else []
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args, *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


async def all_events(url: str, token: str) -> tuple[dict, list[dict]]:  # type: ignore[type-arg]
    """The welcome and the whole log, by resuming from seq 0 of the current epoch."""
    probe = await Peer.open(url, token)
    epoch, head = probe.welcome["epoch"], probe.welcome["seq"]
    await probe.close()
    peer = await Peer.open(url, token, epoch=epoch, since=0)
    events = await peer.wait_events(head, timeout=10)
    await peer.close()
    return peer.welcome, events


async def burst(peer: Peer, answered: str) -> None:
    """150 reports sent without waiting, until the one with command id `answered` is answered."""
    for n in range(150):
        await peer.send({"type": "report", "id": f"burst-{n}", **report(title=f"burst {n}")})
    await peer.until(lambda f: f.get("type") == "result" and f["id"] == answered, timeout=10)


async def test_kill_9_loses_no_acknowledged_command(tmp_path: Path) -> None:
    db = tmp_path / "opsmon.db"
    token = add_token(db, "Rahmat")
    async with server_process(db) as proc:
        peer = await Peer.open(proc.url, token)
        epoch = peer.welcome["epoch"]
        acked: dict[int, str] = {}  # seq -> title or kind
        for n in range(40):
            if n % 4 == 3:
                result = await peer.command("stage", regency="6371", stage="penghitungan", done=n)
                acked[result["seq"]] = "stage.updated"
            else:
                result = await peer.command("report", **report(title=f"laporan {n}"))
                acked[result["seq"]] = f"laporan {n}"
            assert result["ok"]
        await proc.kill9()
        code, _ = await peer.closed()
        assert code == 1006  # no close frame: the process died

    async with server_process(db) as proc:
        welcome, events = await all_events(proc.url, token)
        assert welcome["epoch"] == epoch
        # seq 1 is the token being added (`token.added`, written when the server started).
        assert welcome["seq"] == max(acked) == 41
        assert [e["seq"] for e in events] == list(range(1, 42))
        assert events[0]["kind"] == "token.added" and events[0]["data"]["name"] == "Rahmat"
        for event in events[1:]:
            expected = acked[event["seq"]]
            assert (event["kind"] if event["kind"] == "stage.updated" else event["data"]["title"]) == expected
        peer = await Peer.open(proc.url, token)
        assert peer.snapshot is not None and len(peer.snapshot["incidents"]) == 30
        next_one = await peer.command("report", **report(title="setelah restart"))
        assert next_one["ok"] and next_one["seq"] == 42 and next_one["incident"] == 31
        assert peer.welcome["epoch"] == epoch
        code, out, err = await proc.stop()
        assert code == 0 and "stopped cleanly" in out, err


async def test_kill_9_with_commands_in_flight(tmp_path: Path) -> None:
    """Killed mid-burst: everything answered is there, and the log has no hole."""
    db = tmp_path / "opsmon.db"
    token = add_token(db, "Rahmat")
    async with server_process(db) as proc:
        peer = await Peer.open(proc.url, token)
        await burst(peer, answered="burst-30")
        await proc.kill9()
        await peer.closed()
        answered = {f["seq"]: f["id"] for f in peer.frames if f.get("type") == "result" and f["ok"]}
        assert len(answered) >= 31

    async with server_process(db) as proc:
        welcome, events = await all_events(proc.url, token)
        assert welcome["seq"] >= max(answered)
        assert [e["seq"] for e in events] == list(range(1, welcome["seq"] + 1))
        for seq, command_id in answered.items():
            assert events[seq - 1]["data"]["title"] == command_id.replace("-", " ")
        # A command answered before the crash, sent again, gets its first answer.
        peer = await Peer.open(proc.url, token)
        again = await peer.command("report", id="burst-0", **report(title="burst 0"))
        assert again["seq"] == 2  # after seq 1, the token.added event
        assert (await peer.command("note", incident=1, text="x"))["seq"] == welcome["seq"] + 1
        await peer.close()


async def test_sigterm_closes_clients_with_1001_and_exits_0(tmp_path: Path) -> None:
    db = tmp_path / "opsmon.db"
    token = add_token(db, "Rahmat")
    async with server_process(db) as proc:
        peer = await Peer.open(proc.url, token)
        await peer.command("report", **report())
        code, out, err = await proc.stop()
        assert code == 0, err
        assert out.strip().splitlines()[-1] == "opsmon-server: stopped cleanly"
        assert "Traceback" not in err
        close_code, _ = await peer.closed()
        assert close_code == 1001
    # The database was closed cleanly: no WAL left to recover.
    assert not (tmp_path / "opsmon.db-wal").exists() or (tmp_path / "opsmon.db-wal").stat().st_size == 0


# --- the CLI -------------------------------------------------------------------------------------


def test_token_add_prints_the_token_alone_on_the_last_line(tmp_path: Path) -> None:
    db = tmp_path / "opsmon.db"
    done = cli("token", "add", "Siti Rahma", "--role", "officer", "--agency", "Bawaslu", "--regency", "6371", "--regency", "6372", "--db", str(db))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1].startswith("ops_") and " " not in lines[-1] and len(lines[-1]) > 40
    assert "Siti Rahma" in lines[0] and "6371 Banjarmasin, 6372 Banjarbaru" in lines[0]  # codes with their names


def test_token_list_never_shows_secrets(tmp_path: Path) -> None:
    db = tmp_path / "opsmon.db"
    secrets = [add_token(db, "Rahmat"), add_token(db, "Dinding", role="viewer")]
    assert cli("token", "revoke", "Rahmat", "--db", str(db)).returncode == 0
    done = cli("token", "list", "--db", str(db))
    assert done.returncode == 0
    assert "Rahmat" in done.stdout and "Dinding" in done.stdout and "viewer" in done.stdout
    assert "revoked" in done.stdout and "active" in done.stdout
    for secret in secrets:
        assert secret not in done.stdout and secret[4:20] not in done.stdout
    assert "ops_" not in done.stdout


def test_token_names_are_unique_until_revoked(tmp_path: Path) -> None:
    db = tmp_path / "opsmon.db"
    add_token(db, "Rahmat")
    again = cli("token", "add", "Rahmat", "--role", "officer", "--agency", "KPU", "--db", str(db))
    assert again.returncode != 0 and "already exists" in again.stderr
    assert cli("token", "revoke", "Rahmat", "--db", str(db)).returncode == 0
    twice = cli("token", "revoke", "Rahmat", "--db", str(db))
    assert twice.returncode != 0 and "already revoked" in twice.stderr
    add_token(db, "Rahmat")


@pytest.fixture
def bad_config(tmp_path: Path) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(CONFIG_PATH.read_text(encoding="utf-8").replace("ack_minutes = 15", "ack_minutes = 15\nack_minutez = 3"), encoding="utf-8")
    return path


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


BAD_ARGUMENTS = {
    "unknown role": (["token", "add", "X", "--role", "boss", "--agency", "KPU"], "boss"),
    "unknown agency": (["token", "add", "X", "--role", "officer", "--agency", "TNI"], "TNI"),
    "unknown regency": (["token", "add", "X", "--role", "officer", "--agency", "KPU", "--regency", "9999"], "9999"),
    "bad name": (["token", "add", "X<script>", "--role", "officer", "--agency", "KPU"], "name"),
    "missing role": (["token", "add", "X", "--agency", "KPU"], "--role"),
    "revoke unknown": (["token", "revoke", "Nobody"], "Nobody"),
    "port out of range": (["serve", "--port", "99999"], "99999"),
    "port not a number": (["serve", "--port", "abc"], "abc"),
    "no subcommand": ([], "required"),
    "unknown subcommand": (["start"], "start"),
}


@pytest.mark.parametrize(("args", "says"), BAD_ARGUMENTS.values(), ids=BAD_ARGUMENTS.keys())
def test_bad_arguments_give_one_line_and_no_traceback(tmp_path: Path, args: list[str], says: str) -> None:
    done = cli(*args, "--db", str(tmp_path / "opsmon.db")) if args and args[0] in ("token", "serve") else cli(*args, config=None)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert says in done.stderr


def test_config_problems_give_one_line(tmp_path: Path, bad_config: Path) -> None:
    for config, says in ((tmp_path / "missing.toml", "no such config file"), (bad_config, "severities[1].ack_minutez: unknown key")):
        for args in (["serve", "--port", "0"], ["token", "list"]):
            done = cli(*args, "--db", str(tmp_path / "opsmon.db"), config=config)
            assert done.returncode != 0
            assert "Traceback" not in done.stderr
            assert done.stderr.strip().count("\n") == 0 and says in done.stderr, done.stderr
    assert not (tmp_path / "opsmon.db").exists()  # a bad config starts nothing


def test_environment_problems_give_one_line(tmp_path: Path, busy_port: int) -> None:
    for args, says in (
        (["token", "list", "--db", str(tmp_path / "no" / "such" / "dir.db")], "does not exist"),
        (["serve", "--db", str(tmp_path / "opsmon.db"), "--port", str(busy_port)], "cannot listen"),
    ):
        done = cli(*args)
        assert done.returncode != 0 and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and says in done.stderr, done.stderr
    not_a_db = tmp_path / "junk.db"
    not_a_db.write_bytes(b"this is not sqlite" * 100)
    done = cli("token", "list", "--db", str(not_a_db))
    assert done.returncode != 0 and "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_the_cli_token_works_against_the_server(tmp_path: Path) -> None:
    """A token from `token add` greets a served database (checked without a socket)."""
    db = tmp_path / "opsmon.db"
    token = add_token(db, "Rahmat", role="admin", agency="Polri")

    async def check() -> None:
        from opsmon.core.clock import utc_now
        from opsmon.core.i18n import WITA
        from server.auth import identify
        from server.store.sqlite import SqliteStore

        async with SqliteStore(db) as store:
            found = (await identify(store, token, utc_now(), WITA)).user
            assert found is not None and found.role == "admin" and found.agency == "Polri"
            rows = await store.tokens()
            assert token not in json.dumps([r.hash for r in rows])

    asyncio.run(check())


async def test_sigterm_in_the_middle_of_a_burst(tmp_path: Path) -> None:
    """Stopping while commands are being written: a clean exit, and nothing answered is lost."""
    db = tmp_path / "opsmon.db"
    token = add_token(db, "Rahmat")
    async with server_process(db) as proc:
        peer = await Peer.open(proc.url, token)
        await burst(peer, answered="burst-5")
        code, out, err = await proc.stop()
        assert code == 0, err
        assert "Traceback" not in err, err
        assert out.strip().splitlines()[-1] == "opsmon-server: stopped cleanly"
        await peer.closed()
        answered = {f["seq"]: f["id"] for f in peer.frames if f.get("type") == "result" and f["ok"]}

    async with server_process(db) as proc:
        welcome, events = await all_events(proc.url, token)
        assert [e["seq"] for e in events] == list(range(1, welcome["seq"] + 1))
        for seq, command_id in answered.items():
            assert events[seq - 1]["data"]["title"] == command_id.replace("-", " ")


async def test_a_dedup_window_and_a_snooze_survive_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "opsmon.db"
    token = add_token(db, "Rahmat")
    async with server_process(db) as proc:
        peer = await Peer.open(proc.url, token)
        first = await peer.command("report", **report(severity="critical", location="Kec. Banjarmasin Utara, TPS 012"))
        repeat = await peer.command("report", **report(severity="critical", location="kec. banjarmasin utara, tps 012"))
        assert repeat["duplicate"] is True and repeat["incident"] == first["incident"]
        snoozed = await peer.command("snooze", incident=first["incident"], minutes=120, note="Menunggu PLN")
        assert snoozed["ok"]
        event = (await peer.wait_events(snoozed["seq"] - 1))[-1]  # the peer's log starts after token.added
        until = event["data"]["until"]
        await proc.kill9()
        await peer.closed()

    async with server_process(db) as proc:
        peer = await Peer.open(proc.url, token)
        assert peer.snapshot is not None
        (incident,) = peer.snapshot["incidents"]
        # still snoozed until the same moment, nothing to escalate, both reports counted
        assert incident["snoozed_until"] == until and incident["escalate_due"] is None and incident["reports"] == 2
        # the dedup window is still open: a third report folds in too
        third = await peer.command("report", **report(severity="high", location="Kec. Banjarmasin Utara, TPS 012"))
        assert third["duplicate"] is True and third["incident"] == first["incident"]
        woke = await peer.command("snooze", incident=first["incident"], minutes=0, note="PLN datang")
        assert woke["ok"]
        events = await peer.wait_events(2)
        assert [e["kind"] for e in events] == ["incident.duplicate", "incident.unsnoozed"]
        assert events[1]["data"]["escalate_due"] is not None  # its deadline counts again
        await peer.close()
        code, out, err = await proc.stop()
        assert code == 0, err
