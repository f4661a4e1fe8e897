"""PostgreSQL backups, to match SQLite's: a dump, its check, its restore.

- `backup`: `pg_dump` of the night's schema (plain SQL, one consistent
  snapshot while the replicas go on writing), written beside its final name
  and renamed into place, mode 0600; the schema's meta `last_backup` is set,
  which every replica's /metrics reads (opsmon_seconds_since_last_backup).
- `restore`: the dump into a new schema (never over one that exists) through
  `psql` in one transaction: the schema's name is changed in pg_dump's own
  statements, never inside the data (COPY blocks), so no incident text is touched.
- `verify`: a PostgreSQL schema (a restored dump, not a live one) checked as
  a SQLite backup is: its rows copied into a SQLite file of its own, then
  the log folded from seq 1 and compared with the tables (server.backup).

The dump is pg_dump's, so a database administrator can also restore it by
hand (`psql -f`) into the schema it came from.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from opsmon.core.clock import format_ts, utc_now
from opsmon.core.filemodes import create_private
from server.backup import BackupError, Verification, verify_database
from server.store.api import COPY_TABLES, LAST_BACKUP_KEY, StoreError
from server.store.backends import open_store
from server.store.postgres import CONNECT_TIMEOUT_SECONDS, SCHEMA_NAME, redact

DUMP_HEADER = "-- PostgreSQL database dump"


@dataclass(frozen=True)
class DumpInfo:
    path: Path
    schema: str
    epoch: str
    seq: int
    bytes: int
    seconds: float


def libpq_url(dsn: str) -> tuple[str, str | None]:
    """The URL pg_dump and psql take (without `?search_path=`, which libpq does
    not know), and the schema it named (None: the database's default)."""
    parts = urllib.parse.urlsplit(dsn)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for key, value in query if key == "search_path"]
    schema = schemas[0].split(",")[0].strip() if schemas else None
    if schema is not None and not SCHEMA_NAME.fullmatch(schema):
        raise StoreError(f"?search_path={schema!r}: a schema name is lower-case letters, digits and underscores, starting with a letter or underscore")
    kept = urllib.parse.urlencode([(key, value) for key, value in query if key != "search_path"])
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, kept, parts.fragment)), schema or None


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed: install the PostgreSQL client (Debian: apt install postgresql-client, the server's major version or newer)"
        )
    return found


def _run(argv: list[str], *, stdin: bytes | None = None, stdout: int | None = None) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(argv, input=stdin, stdout=stdout if stdout is not None else subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if done.returncode != 0:
        why = " ".join(done.stderr.decode(errors="replace").split())[:400] or f"exit status {done.returncode}"
        raise BackupError(f"{Path(argv[0]).name} failed: {why}")
    return done


async def _connect(dsn: str) -> asyncpg.Connection[Any]:
    try:
        return await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_SECONDS)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
        raise BackupError(f"cannot use the PostgreSQL database {redact(dsn)}: {type(exc).__name__}: {exc}") from None


async def _schema_of(connection: asyncpg.Connection[Any], schema: str | None) -> str:
    return schema or str(await connection.fetchval("SELECT current_schema()") or "public")


async def _opsmon_schema(connection: asyncpg.Connection[Any], schema: str, location: str) -> tuple[str, int]:
    """(epoch, head seq) of an opsmon schema; BackupError if it is none."""
    if not await connection.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema):
        raise BackupError(f"{location}: there is no schema {schema}")
    if not await connection.fetchval("SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'meta'", schema):
        raise BackupError(f"{location}: schema {schema} is not an opsmon database (no meta table)")
    epoch = await connection.fetchval(f"SELECT value FROM {schema}.meta WHERE key = 'epoch'")
    seq = await connection.fetchval(f"SELECT COALESCE(MAX(seq), 0) FROM {schema}.events")
    return str(epoch or ""), int(seq)


async def backup_postgres(dsn: str, target: Path) -> DumpInfo:
    """pg_dump the schema `dsn` names into `target` (which must not exist), and
    note the time in its meta `last_backup` (what /metrics reports)."""
    started = time.perf_counter()
    target = Path(target)
    if target.exists():
        raise BackupError(f"{target} already exists: choose another name (a backup never overwrites)")
    if not target.parent.is_dir():
        raise BackupError(f"{target}: folder {target.parent} does not exist")
    pg_dump = _tool("pg_dump")
    url, named = libpq_url(dsn)
    connection = await _connect(url)
    try:
        schema = await _schema_of(connection, named)
        epoch, _ = await _opsmon_schema(connection, schema, redact(dsn))
        partial = target.with_name(f".{target.name}.partial")
        partial.unlink(missing_ok=True)
        create_private(partial)  # a dump holds what the database holds (token hashes): the owner's only
        try:
            with partial.open("wb") as out:
                # One snapshot (pg_dump's repeatable-read transaction): the replicas write on meanwhile.
                # The replicas' heartbeat leases are the serving replicas', not the night's: a
                # restored copy must not look served (its table comes back empty).
                argv = [pg_dump, "--schema", schema, "--exclude-table-data", f"{_quoted(schema)}.replicas", "--no-owner", "--no-privileges"]
                argv += ["--format", "plain", "--dbname", url]
                await asyncio.to_thread(_run, argv, stdout=out.fileno())
            seq = await asyncio.to_thread(_dump_head, partial, schema)  # off the loop: a server takes these too
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        await connection.execute(
            f"INSERT INTO {schema}.meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            LAST_BACKUP_KEY,
            format_ts(utc_now()),
        )
    finally:
        await connection.close()
    return DumpInfo(target, schema, epoch, seq, target.stat().st_size, time.perf_counter() - started)


def _dump_head(path: Path, schema: str) -> int:
    """The head seq a dump holds (the largest seq in its events data)."""
    head, inside = 0, False
    with path.open(encoding="utf-8") as dump:
        for line in dump:
            if inside:
                if line == "\\.\n":
                    break
                head = max(head, int(line.split("\t", 1)[0]))
            elif line.startswith(f"COPY {schema}.events "):
                inside = True
    return head


def renamed(lines: list[str], source: str, target: str) -> list[str]:
    """pg_dump's plain SQL with schema `source` named `target`: in its own
    statements only. The rows between `COPY ... FROM stdin;` and `\\.` are
    data, kept byte for byte."""
    name = re.compile(rf"(?<![\w\"]){re.escape(source)}(?=\.)|(?<=SCHEMA ){re.escape(source)}(?=[;\s])")
    out: list[str] = []
    inside = False
    for line in lines:
        if inside:
            inside = line != "\\.\n"
            out.append(line)
            continue
        if line.startswith("COPY ") and line.rstrip("\n").endswith(" FROM stdin;"):
            inside = True
        out.append(name.sub(target, line) if not line.startswith("--") else line)
    return out


def dump_schema(lines: list[str]) -> str:
    """The schema a pg_dump of one opsmon schema holds (from its meta table's CREATE)."""
    for line in lines:
        found = re.match(r"CREATE TABLE ([a-z_][a-z0-9_]*)\.meta \(", line)
        if found:
            return found.group(1)
    raise BackupError("this dump holds no opsmon schema (no meta table): is it a pg_dump of the night's schema?")


def _read_dump(dump: Path) -> list[str]:
    try:
        lines = dump.read_text(encoding="utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        raise BackupError(f"{dump}: not a pg_dump SQL file (it is not UTF-8 text)") from None
    if not any(line.startswith(DUMP_HEADER) for line in lines[:5]):
        raise BackupError(f"{dump}: not a pg_dump SQL file (opsmon-server backup writes one)")
    return lines


async def restore_postgres(dump: Path, dsn: str) -> tuple[str, str, int]:
    """The dump into the new schema `dsn`'s ?search_path= names, in one
    transaction; returns (schema, epoch, head seq)."""
    dump = Path(dump)
    if not dump.is_file():
        raise BackupError(f"{dump}: no such file")
    url, schema = libpq_url(dsn)
    if schema is None:
        raise BackupError(f"--to {redact(dsn)}: name the new schema with ?search_path=NAME (restore never writes into a schema that exists)")
    lines = await asyncio.to_thread(_read_dump, dump)
    source = dump_schema(lines)
    psql = _tool("psql")
    connection = await _connect(url)
    try:
        if await connection.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema):
            raise BackupError(f"schema {schema} already exists in {redact(url)}: restore into a new schema (drop that one first if it is a failed restore)")
        script = renamed(lines, source, schema)
        if not any(line.startswith(f"CREATE SCHEMA {schema};") for line in script):
            script.insert(0, f"CREATE SCHEMA {schema};\n")  # a dump of `public` does not create it
        argv = [psql, "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1", "--single-transaction", "--dbname", url]
        await asyncio.to_thread(_run, argv, stdin="".join(script).encode())
        epoch, seq = await _opsmon_schema(connection, schema, redact(url))
    finally:
        await connection.close()
    return schema, epoch, seq


async def verify_postgres(dsn: str, now: str) -> Verification:
    """Check a PostgreSQL schema as `verify` checks a SQLite backup: its rows
    copied into a SQLite file of its own (removed after), folded and compared.
    Nothing in PostgreSQL changes; a schema replicas serve is refused (its
    rows would be read while they change)."""
    url, named = libpq_url(dsn)
    connection = await _connect(url)
    try:
        schema = await _schema_of(connection, named)
        await _opsmon_schema(connection, schema, redact(dsn))
        pg_version = str(await connection.fetchval(f"SELECT value FROM {schema}.meta WHERE key = 'schema_version'") or "")
    finally:
        await connection.close()
    with tempfile.TemporaryDirectory(prefix="opsmon-verify-") as folder:
        copy = Path(folder) / "verify.db"
        try:
            async with open_store(dsn, exclusive=True) as source, open_store(str(copy)) as target:
                tables = {table: (columns, await source.dump_table(table, columns)) for table, columns in COPY_TABLES.items()}
                await target.load_tables(tables)
        except StoreError as exc:
            raise BackupError(str(exc)) from None
        report = await asyncio.to_thread(verify_database, copy, now)
    report.path = redact(dsn)
    report.schema = pg_version
    return report


def _quoted(name: str) -> str:
    """An identifier for a pg_dump pattern: double-quoted, inner quotes doubled (no pattern characters)."""
    return '"' + name.replace('"', '""') + '"'
