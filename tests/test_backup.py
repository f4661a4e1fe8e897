"""Online backups: `opsmon-server backup` copies the live database while the
server writes, `verify` folds the copy from seq 1, and a server started on the
copy resumes clients at its head under the same epoch; the server keeps
rotating copies of its own."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import msgspec
import pytest

from opsmon.core.config import Config
from server.backup import BackupError, backup_database, verify_database
from tests.helpers import free_port, province, running_server
from tests.processes import add_token, opsmon_server, serving
from tests.wire import Peer, report


@pytest.mark.slow
async def test_a_backup_taken_during_a_burst_verifies_and_resumes_clients_at_its_head(tmp_path: Path) -> None:
    db, copy = tmp_path / "opsmon.db", tmp_path / "copy.db"
    token = add_token(db, "Admin posko", role="admin")  # an admin's rate: the whole burst is accepted
    async with serving("--db", str(db), "--port", str(free_port())) as server:
        url = server.first_line.split("listening on ")[1].split()[0]
        peer = await Peer.open(url, token)
        epoch = peer.welcome["epoch"]
        for n in range(400):
            await peer.send({"type": "report", "id": f"burst-{n}", **report(title=f"laporan {n}")})
        await peer.until(lambda f: f.get("type") == "result" and f["id"] == "burst-20", timeout=15)
        done = await asyncio.to_thread(opsmon_server, "backup", "--db", str(db), "--to", str(copy))
        assert done.returncode == 0, done.stderr
        await peer.until(lambda f: len([r for r in peer.frames if r.get("type") == "result"]) == 400, timeout=30)
        results = [f for f in peer.frames if f.get("type") == "result"]
        await peer.close()
        assert all(r["ok"] for r in results)
        head = max(r["seq"] for r in results)
        await server.stop()

    # The copy is one moment of the burst: neither empty nor (in all likelihood) the end.
    verified = await asyncio.to_thread(opsmon_server, "verify", str(copy), "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    body = json.loads(verified.stdout)
    assert body["consistent"] and body["epoch"] == epoch and body["problems"] == []
    seq = body["seq"]
    assert 1 < seq <= head and body["events"] == seq
    assert f"backup written: {copy}" in done.stdout and f"seq {seq}" in done.stdout
    assert sum(body["incidents"].values()) == seq - 1  # seq 1 is the token being added
    text = await asyncio.to_thread(opsmon_server, "verify", str(copy))
    assert f"head seq {seq}" in text.stdout and "consistent" in text.stdout

    async with serving("--db", str(copy), "--port", str(free_port())) as restored:
        url = restored.first_line.split("listening on ")[1].split()[0]
        # A client that saw exactly what the copy holds resumes there: no snapshot.
        resumed = await Peer.open(url, token, epoch=epoch, since=seq)
        assert resumed.welcome["epoch"] == epoch and resumed.welcome["seq"] == seq
        assert await resumed.quiet(0.3) == []
        # One a little behind gets just the events it missed.
        behind = await Peer.open(url, token, epoch=epoch, since=seq - 2)
        events = await behind.wait_events(2)
        assert [e["seq"] for e in events] == [seq - 1, seq]
        assert events[-1]["data"]["title"] == f"laporan {seq - 2}"
        for p in (resumed, behind):
            await p.close()
        await restored.stop()


async def test_verify_finds_a_table_that_disagrees_with_the_log(tmp_path: Path) -> None:
    async with running_server(tmp_path) as running:
        peer = await Peer.open(running, running.tokens["officer"])
        for n in range(3):
            assert (await peer.command("report", **report(title=f"laporan {n}")))["ok"]
        assert (await peer.command("stage", regency="6371", stage="penghitungan", done=7))["ok"]
        for text in ("Polsek sudah di lokasi", "Kotak suara diamankan"):
            assert (await peer.command("note", incident=1, text=text))["ok"]
        await peer.close()
        copy = tmp_path / "copy.db"
        info = await asyncio.to_thread(backup_database, running.db_path, copy)
        assert info.seq == 6
    good = verify_database(copy, "2024-02-14T13:00:00.000Z")
    assert good.consistent and good.seq == 6 and good.incidents == {"open": 3}, good.problems
    with sqlite3.connect(copy) as db:  # someone "fixes" a row by hand
        db.execute("UPDATE incidents SET status = 'resolved', body = json_set(body, '$.status', 'resolved') WHERE id = 2")
        db.execute("DELETE FROM events WHERE seq = 3")
        db.execute("DELETE FROM notes WHERE incident = 1 AND n = 1")  # a note lost: its incident is not the log's
        db.execute("INSERT INTO notes (incident, n, body) SELECT 9, n, body FROM notes WHERE incident = 1")
    bad = verify_database(copy, "2024-02-14T13:00:00.000Z")
    assert not bad.consistent
    assert any("seq 3 is missing" in p for p in bad.problems)
    assert any(p.startswith("incident 2: the table differs") and "status" in p for p in bad.problems)
    assert any(p.startswith("incident 1: the table differs") and "notes" in p for p in bad.problems), bad.problems
    assert any("incident 9 has notes in the notes table but no row" in p for p in bad.problems)
    assert any("incident 3 is in the incidents table but no event reports it" in p for p in bad.problems)
    done = await asyncio.to_thread(opsmon_server, "verify", str(copy))
    assert done.returncode == 1 and "NOT consistent" in done.stdout and "Traceback" not in done.stderr


def test_backup_refuses_what_it_cannot_do_in_one_line(tmp_path: Path) -> None:
    missing = opsmon_server("backup", "--db", str(tmp_path / "none.db"), "--to", str(tmp_path / "b.db"))
    assert missing.returncode != 0 and "no such database" in missing.stderr and not (tmp_path / "none.db").exists()
    other = tmp_path / "voters.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE pemilih (nik TEXT)")
    foreign = opsmon_server("backup", "--db", str(other), "--to", str(tmp_path / "b.db"))
    assert foreign.returncode != 0 and "not an opsmon database" in foreign.stderr
    with pytest.raises(BackupError, match="already exists"):
        backup_database(other, other.with_name("voters.db"))
    for done in (missing, foreign):
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    nothing = opsmon_server("verify", str(tmp_path / "none.db"))
    assert nothing.returncode != 0 and "no such file" in nothing.stderr


async def test_backup_to_a_folder_that_does_not_exist_creates_it_and_says_so(tmp_path: Path) -> None:
    async with running_server(tmp_path):
        pass
    target = tmp_path / "cadangan" / "2024-02-14" / "malam.db"
    done = opsmon_server("backup", "--db", str(tmp_path / "opsmon.db"), "--to", str(target))
    assert done.returncode == 0, done.stderr
    assert f"created folder {target.parent} (mode 0700)" in done.stdout and f"backup written: {target}" in done.stdout
    assert target.exists() and (target.parent.stat().st_mode & 0o777) == 0o700
    assert opsmon_server("verify", str(target)).returncode == 0
    # A folder that cannot be made (under a file): one line saying which and why, nothing written.
    blocked = opsmon_server("backup", "--db", str(tmp_path / "opsmon.db"), "--to", str(target / "under-a-file" / "b.db"))
    assert blocked.returncode == 1 and "Traceback" not in blocked.stderr and len(blocked.stderr.strip().splitlines()) == 1
    assert f"cannot create the folder {target / 'under-a-file'}" in blocked.stderr


def backing_up(tmp_path: Path, every_minutes: float) -> Config:
    config = province()
    server = msgspec.structs.replace(config.server, backup_dir="backups", backup_keep=2, backup_every_minutes=every_minutes)
    return msgspec.structs.replace(config, server=server, path=tmp_path / "config.toml")


async def test_the_server_keeps_the_newest_backups(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    async with running_server(tmp_path, config=backing_up(tmp_path, 60)) as running:  # the loop's first copy is an hour away
        assert running.server.backups.folder == folder
        peer = await Peer.open(running, running.tokens["officer"])
        seen: set[str] = set()
        for n in range(4):
            assert (await peer.command("report", **report(title=f"laporan {n}")))["ok"]
            info = await running.server.backups.now()
            assert info is not None and info.seq == n + 1
            seen.add(info.path.name)
        await peer.close()
    kept = sorted(p.name for p in folder.glob("*.db"))
    assert len(seen) == 4 and len(kept) == 2 and kept == sorted(seen)[-2:]
    assert verify_database(folder / kept[-1], "2024-02-14T13:00:00.000Z").seq == 4
    assert not list(folder.glob(".*partial"))


async def test_the_server_backs_up_on_its_own_every_interval(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    async with running_server(tmp_path, config=backing_up(tmp_path, 0.005)) as running:  # every 0.3 s
        peer = await Peer.open(running, running.tokens["officer"])
        assert (await peer.command("report", **report()))["ok"]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while not any(p.name.endswith("seq00000001.db") for p in folder.glob("*.db")):
            assert loop.time() < deadline, "no backup from the loop"
            await asyncio.sleep(0.05)
        await peer.close()
    assert len(list(folder.glob("*.db"))) <= 2
