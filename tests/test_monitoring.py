"""Monitoring an IT officer trusts (issue 23 items 8 and 9).

/metrics through prometheus_client says what the shipped alert rules and
dashboard read (every name they use is exported by a live server); the
rules pass `promtool check rules` and their own `promtool test rules`; and
PostgreSQL is backed up with pg_dump while it serves, restored into a new
schema with psql, verified, and served again, all for real."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from opsmon.core.config import Config
from server.auth import add_token
from server.store.backends import open_store
from tests.backends import Databases
from tests.helpers import ROOT, STANDARD_TOKENS, province, running_server
from tests.processes import opsmon_server, serving
from tests.wire import Peer, http_get, report

RULES = ROOT / "deploy" / "prometheus" / "opsmon-rules.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "opsmon-rules.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "opsmon.json"
# Exported by replicas on PostgreSQL only (a SQLite server has neither a connection nor a serving lock).
POSTGRES_ONLY = {"opsmon_postgres_up", "opsmon_serving_lock_held"}
METRIC = re.compile(r"\bopsmon_[a-z_]+\b")


def samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics body, by (name, sorted labels), parsed as Prometheus does."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in text_string_to_metric_families(body) for s in family.samples}


def value(body: str, name: str, **labels: str) -> float | None:
    return samples(body).get((name, tuple(sorted(labels.items()))))


def rule_exprs() -> list[str]:
    rules = yaml.safe_load(RULES.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


async def until_metric(base: str, check: Any, timeout: float = 20.0) -> str:
    """/metrics, read until `check(body)` holds (a timer refreshes some figures every few seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        body = await asyncio.to_thread(get, base + "/metrics")
        if check(body):
            return body
        assert loop.time() < deadline, body
        await asyncio.sleep(0.2)


# --- what /metrics says -----------------------------------------------------------------------


async def test_metrics_say_who_is_connected_what_was_refused_and_which_night(databases: Databases, tmp_path: Path) -> None:
    async with running_server(tmp_path, database=databases.url()) as running:
        officer = await Peer.open(running, running.tokens["officer"])
        wall = await Peer.open(running, running.tokens["wall"])
        assert (await officer.command("report", **report()))["ok"]
        refused = await officer.command("ack", incident=99)
        assert refused["reason"] == "not_found"
        body = (await http_get(running, "/metrics"))[2]
        assert value(body, "opsmon_connections_by_role", role="officer") == 1
        assert value(body, "opsmon_connections_by_role", role="viewer") == 1
        assert value(body, "opsmon_connections_by_role", role="admin") == 0
        assert value(body, "opsmon_refusals_total", reason="not_found") == 1
        assert value(body, "opsmon_commands_total", type="report", outcome="ok") == 1
        assert value(body, "opsmon_epoch_info", epoch=running.store.epoch) == 1
        assert value(body, "opsmon_head_seq") == 1
        assert value(body, "opsmon_can_write") == 1
        assert value(body, "opsmon_timer_holder") == 1
        assert (value(body, "opsmon_last_commit_timestamp_seconds") or 0) > 0
        assert value(body, "opsmon_client_queue_bytes") is not None
        # On PostgreSQL: the database answers, and a serving replica holds the serving lock
        # (its heartbeat takes it if it was opened without it, as here).
        if databases.backend == "postgresql":
            body = await until_metric(running.http, lambda b: value(b, "opsmon_postgres_up") == 1 and value(b, "opsmon_serving_lock_held") == 1)
            assert value(body, "opsmon_serving_lock_held") == 1
        else:
            assert not POSTGRES_ONLY & {name for name, _ in samples(body)}
        await officer.close()
        await wall.close()


async def test_two_servers_in_one_process_keep_their_own_figures(tmp_path: Path) -> None:
    """A registry per server: the figures of one never show in the other's /metrics."""
    async with running_server(tmp_path, db_name="a.db") as a, running_server(tmp_path, db_name="b.db") as b:
        officer = await Peer.open(a, a.tokens["officer"])
        assert (await officer.command("report", **report()))["ok"]
        on_a, on_b = (await http_get(a, "/metrics"))[2], (await http_get(b, "/metrics"))[2]
        assert value(on_a, "opsmon_connections") == 1 and value(on_b, "opsmon_connections") == 0
        assert value(on_a, "opsmon_events_total") == 1 and value(on_b, "opsmon_events_total") == 0
        # One report, one group commit (one disk sync); none on the other.
        assert value(on_a, "opsmon_commits_total") == 1 and value(on_b, "opsmon_commits_total") == 0
        assert value(on_b, "opsmon_broadcast_ticks_total") == 0
        await officer.close()


async def test_a_rotating_sqlite_backup_shows_in_metrics(tmp_path: Path) -> None:
    config = province()
    config = msgspec.structs.replace(config, server=msgspec.structs.replace(config.server, backup_dir=str(tmp_path / "backups")))
    async with running_server(tmp_path, config=config) as running:
        before = (await http_get(running, "/metrics"))[2]
        assert value(before, "opsmon_last_backup_timestamp_seconds") == 0
        taken = await running.server.backups.now()
        assert taken is not None
        after = (await http_get(running, "/metrics"))[2]
        assert (value(after, "opsmon_last_backup_timestamp_seconds") or 0) > 0
    # After a restart the server still knows it: the newest backup in the folder.
    async with running_server(tmp_path, config=config) as running:
        await until_metric(running.http, lambda b: value(b, "opsmon_last_backup_timestamp_seconds") == taken.path.stat().st_mtime)


async def test_postgres_rotating_backups_are_pg_dumps_by_the_timer_replica(pg: Databases, tmp_path: Path) -> None:
    config = province()
    folder = tmp_path / "cadangan"
    config = msgspec.structs.replace(config, server=msgspec.structs.replace(config.server, backup_dir=str(folder), backup_keep=2))
    url = pg.url("night")
    schema = url.rsplit("=", 1)[1]
    async with running_server(tmp_path, config=config, database=url) as running:
        officer = await Peer.open(running, running.tokens["officer"])
        taken = []
        for n in range(3):
            assert (await officer.command("report", **report(title=f"laporan {n}")))["ok"]
            info = await running.server.backups.now()
            assert info is not None and info.seq == n + 1 and info.epoch == running.store.epoch
            taken.append(info.path)
        # The newest backup_keep kept, each a pg_dump of the night's schema, the owner's only.
        assert sorted(folder.iterdir()) == taken[1:]
        assert all(p.name.startswith(f"{schema}-") and p.suffix == ".sql" and p.stat().st_mode & 0o777 == 0o600 for p in taken[1:])
        assert "-- PostgreSQL database dump" in taken[-1].read_text()
        # Its time is in the schema's meta, where every replica's /metrics reads it.
        await until_metric(running.http, lambda b: (value(b, "opsmon_last_backup_timestamp_seconds") or 0) > 0)
        await officer.close()


# --- the shipped rules and dashboard ---------------------------------------------------------------


async def test_every_metric_the_rules_and_the_dashboard_name_is_exported(databases: Databases, tmp_path: Path) -> None:
    named = {name for expr in rule_exprs() + dashboard_exprs() for name in METRIC.findall(expr)}
    assert {"opsmon_can_write", "opsmon_postgres_up", "opsmon_serving_lock_held", "opsmon_timer_holder"} <= named
    async with running_server(tmp_path, database=databases.url()) as running:
        officer = await Peer.open(running, running.tokens["officer"])
        await officer.command("report", **report())  # so every labelled family has a sample
        await officer.command("ack", incident=99)
        body = (await http_get(running, "/metrics"))[2]
        exported = {name for name, _ in samples(body)}
        expected = named if databases.backend == "postgresql" else named - POSTGRES_ONLY
        assert expected - exported == set(), f"named by deploy/ but not exported: {sorted(expected - exported)}"
        await officer.close()


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (Debian: apt install prometheus; .ci/run installs it)")
    return found


def test_promtool_checks_the_rules_and_their_unit_tests() -> None:
    tool = promtool()
    checked = subprocess.run([tool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and "SUCCESS" in checked.stdout, checked.stdout + checked.stderr
    # Each alert fires on the series that should raise it, and not on a good night.
    tested = subprocess.run([tool, "test", "rules", RULE_TESTS.name], capture_output=True, text=True, timeout=60, cwd=RULE_TESTS.parent)
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def test_every_dashboard_query_is_promql_promtool_accepts(tmp_path: Path) -> None:
    tool = promtool()
    as_rules = {
        "groups": [
            {"name": "dashboard", "rules": [{"record": f"opsmon:panel{n}", "expr": e.replace("$job", "opsmon")} for n, e in enumerate(dashboard_exprs())]}
        ]
    }
    rules = tmp_path / "dashboard-rules.yml"
    rules.write_text(yaml.safe_dump(as_rules))
    checked = subprocess.run([tool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


class Cable:
    """A TCP cable between a replica and PostgreSQL that the test can pull out
    and plug back in (every connection through it cut at once)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.listener: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def plug(self) -> None:
        self.listener = await asyncio.start_server(self._carry, "127.0.0.1", self.port)
        self.port = self.listener.sockets[0].getsockname()[1]

    async def pull(self) -> None:
        assert self.listener is not None
        self.listener.close()
        for writer in list(self.writers):
            writer.transport.abort()
        await self.listener.wait_closed()

    async def _carry(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            far_reader, far_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.writers |= {writer, far_writer}

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pump(reader, far_writer), pump(far_reader, writer))
        self.writers -= {writer, far_writer}


async def test_postgres_away_shows_in_metrics_and_its_return_too(pg: Databases) -> None:
    live = pg.url("night")
    tokens = await _tokens(live, province())
    parts = urllib.parse.urlsplit(live)
    cable = Cable(parts.port or 5432)
    await cable.plug()
    through = urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{cable.port}"))
    async with serving("--db", through, "--port", "0", "--replica-name", "A") as server:
        base = _http(server.first_line)
        officer = await Peer.open(base.replace("http://", "ws://") + "/ws", tokens["officer"])
        body = await until_metric(base, lambda b: value(b, "opsmon_postgres_up") == 1)
        assert value(body, "opsmon_serving_lock_held") == 1 and value(body, "opsmon_can_write") == 1 and value(body, "opsmon_timer_holder") == 1
        await cable.pull()
        # PostgreSQL is away for this replica: its /metrics says so (OpsmonPostgresDown,
        # OpsmonReplicaWithoutServingLock), and a command is answered unavailable (OpsmonCannotWrite).
        refused = await officer.command("report", **report())
        assert refused["code"] == "unavailable"
        body = await until_metric(base, lambda b: value(b, "opsmon_postgres_up") == 0)
        assert value(body, "opsmon_serving_lock_held") == 0 and value(body, "opsmon_can_write") == 0
        assert (value(body, "opsmon_refusals_total", reason="unavailable") or 0) >= 1
        await cable.plug()
        # Back: the database answers and writes work again, without a restart.
        await until_metric(base, lambda b: value(b, "opsmon_postgres_up") == 1 and value(b, "opsmon_can_write") == 1, timeout=30)
        assert (await officer.command("report", **report()))["ok"]
        await officer.close()
    await cable.pull()


# --- PostgreSQL: pg_dump while it serves, restore into a new schema, verify, serve again ---------------


async def _tokens(database: str, config: Config) -> dict[str, str]:
    async with open_store(database) as store:
        known = {r.code for r in config.regencies}
        return {name: await add_token(store, name, role, agency, regencies, known) for name, (role, agency, regencies) in STANDARD_TOKENS.items()}


def _http(first_line: str) -> str:
    found = re.search(r"ws://(\S+)/ws", first_line)
    assert found, first_line
    return f"http://{found.group(1)}"


async def test_postgres_backup_while_serving_restores_into_a_new_schema_and_verifies(pg: Databases, tmp_path: Path) -> None:
    live, restored = pg.url("night"), pg.url("restored")
    tokens = await _tokens(live, province())
    dump = tmp_path / "malam.sql"
    schema = live.rsplit("=", 1)[1]
    # Text that names the schema as SQL would: restore renames the schema in pg_dump's statements, never in the data.
    titles = [f'Kotak suara rusak {n} di TPS 7\\8 "Banjar" {schema}.events' for n in range(3)]
    async with serving("--db", live, "--port", "0", "--replica-name", "A") as server:
        base = _http(server.first_line)
        officer = await Peer.open(base.replace("http://", "ws://") + "/ws", tokens["officer"])
        epoch = officer.welcome["epoch"]
        for title in titles:
            assert (await officer.command("report", **report(title=title)))["ok"]
        assert (await officer.command("ack", incident=1))["ok"]
        body = await until_metric(base, lambda b: value(b, "opsmon_postgres_up") == 1)
        assert value(body, "opsmon_serving_lock_held") == 1 and value(body, "opsmon_last_backup_timestamp_seconds") == 0
        # The backup, while the replica serves: pg_dump of the night's schema.
        done = await asyncio.to_thread(opsmon_server, "backup", "--db", live, "--to", str(dump))
        assert done.returncode == 0, done.stderr
        assert f"backup written: {dump} (pg_dump of schema " in done.stdout and f"epoch {epoch}, seq 4," in done.stdout
        assert dump.stat().st_mode & 0o777 == 0o600
        # Every replica's /metrics learns of it (the alert OpsmonNoBackup clears).
        await until_metric(base, lambda b: (value(b, "opsmon_last_backup_timestamp_seconds") or 0) > 0)
        # The night goes on after the dump: the copy holds what was committed when it began.
        assert (await officer.command("report", **report(title="setelah cadangan")))["ok"]
        # verify refuses a schema replicas serve (it would read rows while they change).
        busy = await asyncio.to_thread(opsmon_server, "verify", live)
        assert busy.returncode == 1 and "in use by another opsmon-server" in busy.stderr
        await officer.close()
    # Restore into a new schema (never over one that exists), then verify it.
    done = await asyncio.to_thread(opsmon_server, "restore", str(dump), "--to", restored)
    assert done.returncode == 0, done.stderr
    assert f"into schema {restored.rsplit('=', 1)[1]}: epoch {epoch}, seq 4;" in done.stdout
    again = await asyncio.to_thread(opsmon_server, "restore", str(dump), "--to", restored)
    assert again.returncode == 1 and "already exists" in again.stderr and "Traceback" not in again.stderr
    verified = await asyncio.to_thread(opsmon_server, "verify", restored, "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    report_ = json.loads(verified.stdout)
    assert report_["consistent"] and report_["epoch"] == epoch and report_["seq"] == 4 and report_["events"] == 4
    assert report_["incidents"] == {"acknowledged": 1, "open": 2}
    # The restored schema serves the same night: a client resumes on it with the same epoch.
    async with serving("--db", restored, "--port", "0") as server:
        peer = await Peer.open(_http(server.first_line).replace("http://", "ws://") + "/ws", tokens["wall"])
        assert peer.welcome["epoch"] == epoch and peer.welcome["seq"] == 4
        assert peer.snapshot is not None
        assert sorted(i["title"] for i in peer.snapshot["incidents"]) == titles  # the data byte for byte
        await peer.close()


def test_postgres_backup_and_restore_refuse_bad_arguments_in_one_line(tmp_path: Path) -> None:
    not_a_dump = tmp_path / "catatan.sql"
    not_a_dump.write_text("SELECT 1;\n")
    cases = [
        (("restore", str(not_a_dump), "--to", "postgresql://postgres@127.0.0.1:5432/test?search_path=never_made"), "not a pg_dump SQL file"),
        (("restore", str(tmp_path / "none.sql"), "--to", "postgresql://postgres@127.0.0.1:5432/test?search_path=never_made"), "no such file"),
        (("restore", str(not_a_dump), "--to", str(tmp_path / "x.db")), "a PostgreSQL URL with ?search_path=NEW"),
        (
            ("backup", "--db", "postgresql://postgres@127.0.0.1:5432/test?search_path=never_made", "--to", str(tmp_path / "x.sql")),
            "there is no schema never_made",
        ),
        (("backup", "--db", "postgresql://postgres@127.0.0.1:5432/test?search_path=x", "--to", str(tmp_path / "no" / "x.sql")), "does not exist"),
    ]
    for args, expected in cases:
        done = opsmon_server(*args)
        assert done.returncode in (1, 2) and expected in done.stderr, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_restore_renames_the_schema_in_pg_dumps_statements_only() -> None:
    from server.pgbackup import renamed

    dump = [
        "CREATE SCHEMA public;\n",
        "COMMENT ON SCHEMA public IS 'standard public schema';\n",
        "CREATE TABLE public.meta (\n",
        "COPY public.incidents (id, body) FROM stdin;\n",
        '1\t{"title": "public.meta; CREATE SCHEMA public;"}\n',
        "\\.\n",
        "SELECT pg_catalog.setval('public.tokens_id_seq', 1, true);\n",
        "CREATE TABLE public_notes.x (\n",
    ]
    assert renamed(dump, "public", "pemilu_cek") == [
        "CREATE SCHEMA pemilu_cek;\n",
        "COMMENT ON SCHEMA pemilu_cek IS 'standard public schema';\n",
        "CREATE TABLE pemilu_cek.meta (\n",
        "COPY pemilu_cek.incidents (id, body) FROM stdin;\n",
        '1\t{"title": "public.meta; CREATE SCHEMA public;"}\n',
        "\\.\n",
        "SELECT pg_catalog.setval('pemilu_cek.tokens_id_seq', 1, true);\n",
        "CREATE TABLE public_notes.x (\n",
    ]


async def test_serve_freezes_the_loaded_night_and_times_its_collections(tmp_path: Path) -> None:
    """`opsmon-server serve` freezes what start-up loaded out of the collector's
    way (server/gctune.py) and says so in /metrics, with every collection's pause."""
    db = tmp_path / "night.db"
    async with open_store(db) as store:
        token = await add_token(store, "Rahmat", "officer", "KPU", None, {r.code for r in province().regencies})
    async with serving("--db", str(db), "--port", "0") as server:
        base = _http(server.first_line)
        officer = await Peer.open(base.replace("http://", "ws://") + "/ws", token)
        for n in range(20):
            assert (await officer.command("report", **report(title=f"Kotak suara {n}")))["ok"]
        body = await until_metric(base, lambda b: value(b, "opsmon_gc_frozen_objects") is not None)
        assert (value(body, "opsmon_gc_frozen_objects") or 0) > 10_000  # the modules and the loaded state
        for generation in "012":
            assert value(body, "opsmon_gc_collections_total", generation=generation) is not None
            assert (value(body, "opsmon_gc_pause_longest_seconds", generation=generation) or 0) >= 0
        await officer.close()
