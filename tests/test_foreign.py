"""A file that is not an opsmon database, or one from a newer opsmon, is
refused at start in one line and left untouched; an older schema is
migrated in place after a whole copy is written beside it (issue 13 item 4)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
import pytest

from server.store.sqlite import MIGRATIONS, SCHEMA_VERSION, SqliteStore
from tests.helpers import free_port
from tests.nights import sitrep_night
from tests.processes import opsmon_server as cli

pytestmark = pytest.mark.slow


def refused_at_start(db: Path) -> str:
    done = cli("serve", "--db", str(db), "--port", str(free_port()), timeout=30)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def tables(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))


def test_a_voter_list_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    db = tmp_path / "dpt.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE pemilih (nik TEXT PRIMARY KEY, nama TEXT, tps TEXT)")
        conn.execute("INSERT INTO pemilih VALUES ('6371010101010001', 'Siti', '012')")
    line = refused_at_start(db)
    assert str(db) in line and "not an opsmon database" in line and "pemilih" in line and "new file" in line, line
    assert tables(db) == ["pemilih"]
    token = cli("token", "add", "Rahmat", "--role", "officer", "--agency", "KPU", "--db", str(db))
    assert token.returncode != 0 and "not an opsmon database" in token.stderr
    assert tables(db) == ["pemilih"]


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "opsmon.db"
    db.write_text("nama,nik\nSiti,6371010101010001\n")
    line = refused_at_start(db)
    assert "not an SQLite database" in line and str(db) in line, line


def test_a_database_from_a_newer_opsmon_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "opsmon.db"
    assert cli("token", "add", "Rahmat", "--role", "officer", "--agency", "KPU", "--db", str(db)).returncode == 0
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    line = refused_at_start(db)
    assert f"schema version {SCHEMA_VERSION + 1}" in line and "newer" in line and "upgrade opsmon" in line, line


async def test_an_older_schema_is_migrated_after_a_copy_beside_it(tmp_path: Path) -> None:
    """A database as the previous schema left it, with a token and an event."""
    assert SCHEMA_VERSION >= 2
    db = tmp_path / "opsmon.db"
    old = SCHEMA_VERSION - 1
    with sqlite3.connect(db) as conn:
        for script in MIGRATIONS[:old]:
            conn.executescript(script)
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)", [("epoch", "e1"), ("created", "2024-02-14T13:00:00.000Z"), ("schema_version", str(old))]
        )
        conn.execute(
            "INSERT INTO tokens (name, hash, role, agency, regencies, created, revoked) VALUES ('Rahmat', 'h', 'officer', 'KPU', NULL, '2024-02-14T13:00:00.000Z', NULL)"
        )
        conn.execute(
            """INSERT INTO events VALUES (1, 'e1', '2024-02-14T13:01:00.000Z', 'incident.noted', '{"name":"Rahmat"}', '{"incident":1,"text":"x"}', 1, '6371')"""
        )
    async with SqliteStore(db) as store:
        assert store.migration_backup is not None and store.migration_backup.parent == tmp_path
        assert f"schema-v{old}" in store.migration_backup.name
        assert store.epoch == "e1" and await store.head() == 1
        assert [t.name for t in await store.tokens()] == ["Rahmat"]
        assert await store.get_meta("schema_version") == str(SCHEMA_VERSION)
    with sqlite3.connect(store.migration_backup) as copy:
        assert copy.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(old),)
        assert copy.execute("SELECT COUNT(*) FROM events").fetchone() == (1,)
    async with SqliteStore(db) as again:  # already current: no second copy
        assert again.migration_backup is None


async def test_a_schema_3_night_has_its_notes_moved_into_rows_of_their_own(tmp_path: Path) -> None:
    """Schema 3 kept every note inside its incident's row; 4 keeps them in the notes
    table. A night written by 3 comes back the same, note for note, once migrated."""
    _, state, _ = sitrep_night()
    assert sum(len(i.notes) for i in state.incidents.values()) >= 3
    db = tmp_path / "opsmon.db"
    with sqlite3.connect(db) as conn:
        for script in MIGRATIONS[:3]:
            conn.executescript(script)
        conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", [("epoch", "e1"), ("created", "2024-02-14T13:00:00.000Z"), ("schema_version", "3")])
        conn.executemany(  # as schema 3 wrote them: the whole incident, its notes inside
            "INSERT INTO incidents (id, regency, status, severity, reported, resolved, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(i.id, i.regency, i.status, i.severity, i.reported, i.resolved, msgspec.json.encode(i)) for i in state.incidents.values()],
        )
    async with SqliteStore(db) as store:
        loaded = await store.load_state()
    assert loaded.incidents == state.incidents
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM notes").fetchone() == (sum(len(i.notes) for i in state.incidents.values()),)
        bodies = [msgspec.json.decode(body) for (body,) in conn.execute("SELECT body FROM incidents")]
    assert all(body["notes"] == [] for body in bodies)
