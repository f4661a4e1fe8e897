"""The store's backends: choosing one from the database, `opsmon-server migrate`
and `copy` (a night moved from SQLite to PostgreSQL and back, events, tokens,
answers and all), and what only a SQLite file has, said in one line."""

from __future__ import annotations

import asyncio
import os
import sys
import urllib.parse
from pathlib import Path

import asyncpg
import msgspec
import pytest

from opsmon.core.config import ConfigError, load_config
from opsmon.core.wire import to_builtins
from server.store.api import StoreError, sqlite_path
from server.store.backends import open_store
from server.store.postgres import PG_MIGRATIONS, PG_SCHEMA_VERSION, quote_ident
from tests.backends import POSTGRES_URL, Databases, require_postgres
from tests.helpers import CONFIG_PATH, ROOT, FakeClock, running_server
from tests.nights import sitrep_night
from tests.wire import Peer, report


async def cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server.cli", *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def test_the_database_names_its_backend(tmp_path: Path) -> None:
    assert open_store(tmp_path / "a.db").backend == "sqlite"
    assert open_store(f"sqlite:///{tmp_path}/a.db").location == f"{tmp_path}/a.db"  # sqlite:////abs
    assert sqlite_path("sqlite:///night.db") == Path("night.db")
    assert open_store("postgresql://u:secret@db.example/opsmon").backend == "postgresql"
    assert "secret" not in open_store("postgresql://u:secret@db.example/opsmon").location
    with pytest.raises(StoreError, match="unknown database kind 'mysql'"):
        open_store("mysql://u@h/db")
    with pytest.raises(StoreError, match="sqlite:///relative"):
        open_store("sqlite://night.db")


def test_a_config_database_of_an_unknown_kind_names_the_key(tmp_path: Path) -> None:
    text = CONFIG_PATH.read_text(encoding="utf-8")
    marker = 'database = "opsmon.db"'
    assert marker in text
    edited = tmp_path / "config.toml"
    edited.write_text(text.replace(marker, 'database = "mysql://u@h/opsmon"', 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"server\.database: 'mysql://u@h/opsmon' is neither"):
        load_config(edited)


async def test_an_unknown_database_url_is_one_line_and_exit_1() -> None:
    code, out, err = await cli("token", "list", "--config", str(CONFIG_PATH), "--db", "mysql://u@h/db")
    assert code == 1 and out == ""
    assert err.strip().count("\n") == 0 and "unknown database kind 'mysql'" in err and "Traceback" not in err


async def test_copy_moves_a_night_to_postgresql_and_back(tmp_path: Path, pg: Databases) -> None:
    """Events, state, tokens (with their hashes), command answers and the epoch
    arrive whole: the same token works, a repeated command id is answered
    `repeat`, and a client resumes across the move without a snapshot."""
    clock = FakeClock()
    async with running_server(tmp_path, clock=clock) as night:
        tokens = night.tokens
        officer = await Peer.open(night, tokens["officer"])
        first = await officer.command("report", id="r-1", **report())
        assert first["ok"]
        assert (await officer.command("ack", id="a-1", incident=1))["ok"]
        await officer.close()
        epoch, head = night.store.epoch, night.server.state.seq
        before = await night.store.events_since(0)
        state_before = night.server.state.as_builtins()
    code, out, err = await cli("token", "add", "Rahmat", "--role", "officer", "--agency", "KPU", "--config", str(CONFIG_PATH), "--db", str(night.db_path))
    assert code == 0, err

    target = pg.url("night")
    code, out, err = await cli("copy", "--from", f"sqlite:///{night.db_path}", "--to", target)
    assert code == 0, err
    assert f"epoch {epoch}, {head} event(s), 1 incident(s), 6 token(s), 2 command answer(s)" in out
    assert "is marked as moved and will not be served" in out
    # The old file, served by mistake, would be a second night under the same epoch: refused, in one line.
    code, out, err = await cli("serve", "--config", str(CONFIG_PATH), "--db", str(night.db_path), "--port", "0")
    assert code == 1 and "Traceback" not in err and err.strip().count("\n") == 0, err
    assert f"was copied to {pg.url('night')} on " in err and f"same epoch {epoch}" in err

    async with open_store(target) as moved:
        assert moved.epoch == epoch
        assert [to_builtins(e) for e in await moved.events_since(0)] == [to_builtins(e) for e in before]
        names = [(t.name, t.hash, t.role, t.revoked) for t in await moved.tokens()]
    async with open_store(night.db_path) as source:
        assert names == [(t.name, t.hash, t.role, t.revoked) for t in await source.tokens()]

    async with running_server(tmp_path, clock=clock, database=target) as served:
        # The token added while no server ran is logged by the first server on the copy, once.
        added = await served.store.event_at(head + 1)
        assert added is not None and added.kind == "token.added" and added.data.name == "Rahmat"
        assert {**served.server.state.as_builtins(), "seq": head} == state_before
        head += 1
        officer = await Peer.open(served, tokens["officer"], epoch=epoch, since=head)  # resumes: no snapshot
        assert officer.snapshot is None
        again = await officer.command("report", id="r-1", **report())
        assert again.get("repeat") is True and again["seq"] == first["seq"]
        assert (await officer.command("note", incident=1, text="di PostgreSQL"))["seq"] == head + 1
        await officer.close()
        after = [to_builtins(e) for e in await served.store.events_since(0)]

    back = tmp_path / "back.db"
    code, out, err = await cli("copy", "--from", target, "--to", str(back))
    assert code == 0, err
    async with open_store(back) as returned:
        assert returned.epoch == epoch
        assert await returned.get_meta("moved_to") is None  # the mark is the source's, not the night's
        assert [to_builtins(e) for e in await returned.events_since(0)] == after
        assert (await returned.command_results([("officer", "r-1")]))[("officer", "r-1")]


async def test_copy_refuses_a_database_that_is_not_empty(tmp_path: Path, pg: Databases) -> None:
    async with running_server(tmp_path) as night:
        pass
    target = pg.url("busy")
    assert (await cli("copy", "--from", str(night.db_path), "--to", target))[0] == 0
    code, out, err = await cli("copy", "--from", str(night.db_path), "--to", target)
    assert code == 1 and "is not empty (it has events or tokens): copy into a new database" in err
    code, _, err = await cli("copy", "--from", str(tmp_path / "none.db"), "--to", target)
    assert code == 1 and "no such file: nothing to copy" in err


async def test_migrate_creates_the_schema_and_refuses_foreign_tables(pg: Databases) -> None:
    url = pg.url("fresh")
    code, out, err = await cli("migrate", "--config", str(CONFIG_PATH), "--db", url)
    assert code == 0, err
    assert f"opsmon postgresql schema version {PG_SCHEMA_VERSION}" in out and "seq 0" in out
    # A schema made by an opsmon before the replicas' heartbeats (version 1) gains their table.
    older = pg.url("older")
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        schema = older.rsplit("=", 1)[1]
        await connection.execute(f'CREATE SCHEMA "{schema}"; SET search_path TO "{schema}"')
        await connection.execute(PG_MIGRATIONS[0])
        await connection.execute("INSERT INTO meta (key, value) VALUES ('epoch', 'e1'), ('created', '2024-02-14T13:00:00.000Z'), ('schema_version', '1')")
    finally:
        await connection.close()
    code, out, err = await cli("migrate", "--config", str(CONFIG_PATH), "--db", older)
    assert code == 0 and f"schema version {PG_SCHEMA_VERSION}, epoch e1" in out, err
    async with open_store(older) as store:
        assert await store.live_replicas() == []  # type: ignore[attr-defined]
    # Someone else's tables in the schema: opsmon writes nothing into it.
    foreign = pg.url("foreign")
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        schema = foreign.rsplit("=", 1)[1]
        await connection.execute(f'CREATE SCHEMA "{schema}"; CREATE TABLE "{schema}".orders (id int)')
    finally:
        await connection.close()
    code, out, err = await cli("migrate", "--config", str(CONFIG_PATH), "--db", foreign)
    assert code == 1 and "is not an opsmon database (it holds other tables: orders)" in err and "Traceback" not in err


async def test_a_schema_2_night_on_postgresql_has_its_notes_moved_into_rows_of_their_own(pg: Databases) -> None:
    """As SQLite's schema 4: notes once inside each incident's row come back the same from the notes table."""
    _, state, _ = sitrep_night()
    url = pg.url("notes")
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        schema = url.rsplit("=", 1)[1]
        await connection.execute(f'CREATE SCHEMA "{schema}"; SET search_path TO "{schema}"')
        for script in PG_MIGRATIONS[:2]:
            await connection.execute(script)
        await connection.execute("INSERT INTO meta (key, value) VALUES ('epoch', 'e1'), ('created', '2024-02-14T13:00:00.000Z'), ('schema_version', '2')")
        await connection.executemany(
            "INSERT INTO incidents (id, regency, status, severity, reported, resolved, body) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [(i.id, i.regency, i.status, i.severity, i.reported, i.resolved, msgspec.json.encode(i).decode()) for i in state.incidents.values()],
        )
    finally:
        await connection.close()
    async with open_store(url) as store:
        assert (await store.load_state()).incidents == state.incidents
        rows = await store.dump_table("notes", ("incident", "n", "body"))
        assert len(rows) == sum(len(i.notes) for i in state.incidents.values())
        assert all(msgspec.json.decode(body)["notes"] == [] for (body,) in await store.dump_table("incidents", ("body",)))


async def test_what_only_a_sqlite_file_has_says_so_on_postgresql(pg: Databases) -> None:
    url = pg.url("night")
    # backup (pg_dump) and verify name a schema that is not there, and make none.
    schema = url.rsplit("=", 1)[1]
    code, _, err = await cli("backup", "--config", str(CONFIG_PATH), "--db", url, "--to", "/tmp/never.sql")
    assert code == 1 and f"there is no schema {schema}" in err
    code, _, err = await cli("verify", url)
    assert code == 1 and f"there is no schema {schema}" in err
    # One server per database: the second is refused at once (an advisory lock, not a lock file).
    async with open_store(url, exclusive=True):
        with pytest.raises(StoreError, match="is in use by another opsmon-server"):
            await open_store(url, exclusive=True).open()


async def test_an_unreachable_postgresql_is_one_line() -> None:
    code, _, err = await cli("token", "list", "--config", str(CONFIG_PATH), "--db", "postgresql://postgres@127.0.0.1:1/none")
    assert code == 1 and "cannot use the PostgreSQL database postgresql://postgres@127.0.0.1:1/none" in err
    assert err.strip().count("\n") == 0 and "Traceback" not in err


async def test_reset_on_postgresql_keeps_the_old_night_in_a_schema_beside_it(tmp_path: Path, pg: Databases) -> None:
    url = pg.url("night")
    async with running_server(tmp_path, database=url) as night:
        officer = await Peer.open(night, night.tokens["officer"])
        assert (await officer.command("report", **report()))["ok"]
        await officer.close()
        old = night.store.epoch
    code, out, err = await cli("reset", "--keep-tokens", "--config", str(CONFIG_PATH), "--db", url)
    assert code == 0, err
    assert f"epoch {old} (seq 1) is kept in schema {pg.prefix}_night_before_reset_" in out and "empty log, 5 token(s)" in out
    async with running_server(tmp_path, database=url) as fresh:
        assert fresh.store.epoch != old and fresh.server.state.seq == 0
        officer = await Peer.open(fresh, night.tokens["officer"])  # the same token still works
        assert (await officer.command("report", **report()))["seq"] == 1
        await officer.close()


@pytest.mark.parametrize(("ci", "outcome", "says"), [("", "1 skipped", "the PostgreSQL cases need it"), ("true", "1 error", "CI tests both store backends")])
async def test_an_unreachable_postgresql_skips_locally_and_fails_in_ci(ci: str, outcome: str, says: str) -> None:
    env = {**os.environ, "CI": ci, "OPSMON_TEST_POSTGRES": "postgresql://postgres@127.0.0.1:1/test"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pytest", "-q", "-rsf", "-p", "no:cacheprovider", "tests/test_store_backends.py::test_an_unreachable_postgresql_is_one_line",
        "tests/test_store_backends.py::test_what_only_a_sqlite_file_has_says_so_on_postgresql",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out = (await asyncio.wait_for(process.communicate(), 120))[0].decode()
    assert outcome in out and says in out and "postgresql://postgres@127.0.0.1:1/test is not reachable" in out, out
    assert process.returncode == (1 if ci else 0), out


@pytest.mark.parametrize(
    "search_path",
    [
        'x"; CREATE TABLE public.injected (id int); --',
        'x" CASCADE; DROP SCHEMA public; --',
        "Pemilu",  # PostgreSQL would look for pemilu, opsmon would make "Pemilu"
        "1night",
        "a" * 64,
    ],
)
async def test_a_search_path_that_is_not_a_plain_schema_name_is_refused_before_any_sql(search_path: str) -> None:
    await require_postgres()
    url = f"{POSTGRES_URL}?search_path={urllib.parse.quote(search_path)}"
    code, _, err = await cli("migrate", "--config", str(CONFIG_PATH), "--db", url)
    assert code == 1 and "a schema name is lower-case letters, digits and underscores" in err, err
    assert err.strip().count("\n") == 0 and "Traceback" not in err
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        assert await connection.fetchval("SELECT to_regclass('public.injected')") is None
        assert await connection.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = 'public'") == 1
        assert await connection.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'x%' OR nspname ILIKE 'pemilu' OR nspname = '1night'") == 0
    finally:
        await connection.close()


def test_identifiers_are_quoted_with_inner_quotes_doubled() -> None:
    assert quote_ident("pemilu_2024") == '"pemilu_2024"'
    assert quote_ident('x"; DROP TABLE events; --') == '"x""; DROP TABLE events; --"'
