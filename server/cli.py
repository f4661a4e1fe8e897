"""`opsmon-server`: serve, manage tokens, export the log.

Every mistake in the arguments, the config or the database is one line on
stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import ssl
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import NoReturn

from opsmon.core.clock import format_ts, parse_ts, utc_now
from opsmon.core.config import Config, ConfigError, config_relative, load_config
from opsmon.core.protocol import Event
from opsmon.core.records import AGENCIES, ROLES
from opsmon.core.text import describe, forbidden_characters
from server.auth import AuthError, add_token_record, local_time, parse_expiry
from server.backup import BackupError, backup_database, verify_database
from server.drift import ConfigDrift
from server.exercise import ExerciseSettings
from server.export import FORMATS, ExportError, parse_moment, write
from server.lock import DatabaseLock, LockError, user_name
from server.logs import LOG_FORMATS, logging_to_stderr
from server.pgbackup import backup_postgres, restore_postgres, verify_postgres
from server.store.api import MOVED_KEY, StoreError, backend_of, copy_database, sqlite_path
from server.store.backends import open_store
from server.tls import TLSError, server_ssl_context

EXIT_USAGE = 2
EXIT_FAILED = 1


class _Parser(argparse.ArgumentParser):
    """argparse that says what is wrong in one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="province config (default: $OPSMON_CONFIG or ./config.toml)")
    parser.add_argument(
        "--db",
        "--database",
        dest="db",
        metavar="DATABASE",
        help="a SQLite file (or sqlite:///FILE) or postgresql://user@host/db (default: [server] database in the config)",
    )


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not between 0 and 65535")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="opsmon-server", description="opsmon's server: the province's single source of truth.")
    commands = parser.add_subparsers(
        dest="command", required=True, parser_class=_Parser, metavar="{serve,check-config,notify,token,reset,migrate,copy,backup,verify,restore,export}"
    )

    serve = commands.add_parser("serve", help="run the websocket server")
    _common(serve)
    serve.add_argument("--host", help="address to listen on (default: [server] host)")
    serve.add_argument("--port", type=_port, help="port (default: [server] port, 8765)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--log-format",
        default="text",
        choices=LOG_FORMATS,
        help="text lines (default) or one JSON object a line (journald, Loki); times in the province's zone",
    )
    serve.add_argument(
        "--accept-config-change", action="store_true", help="serve even if the config no longer has a regency with history (the log records who accepted it)"
    )
    serve.add_argument(
        "--replica-name",
        metavar="NAME",
        help="this server's name among the replicas on one PostgreSQL database, in /healthz, /metrics and the log (default: host:port)",
    )
    serve.add_argument("--tls-cert", metavar="PEM", help="certificate (chain) to serve wss:// and https:// (default: [server] tls_cert)")
    serve.add_argument("--tls-key", metavar="PEM", help="its private key (default: [server] tls_key)")
    serve.add_argument(
        "--exercise",
        metavar="NAME",
        help="serve a training exercise (latihan) named NAME on scenario time: every screen shows LATIHAN and the name; the database is marked as an exercise's",
    )
    serve.add_argument("--scenario", metavar="NAME|FILE", help="with --exercise: the scenario whose start time and speed the clock takes (default: rekap)")
    serve.add_argument(
        "--start", metavar="YYYY-MM-DDTHH:MM", help="with --exercise: scenario time to start at, in the province's time (default: the scenario's start)"
    )
    serve.add_argument("--speed", metavar="X", type=float, help="with --exercise: scenario seconds per real second (default: the scenario's)")
    serve.add_argument(
        "--roster",
        metavar="FILE",
        help="with --exercise: the trainees expected (a .csv with the header name,desk, or a .toml of [[trainee]] name, desk); "
        "the after-action report lists who never connected or handled nothing (default: every officer token)",
    )
    serve.add_argument(
        "--deadlines",
        choices=("scenario", "real"),
        help="with --exercise: acknowledgement deadlines in scenario minutes (default: 5 real seconds for a critical at x60) "
        "or in real minutes (the 5 minutes a real night gives)",
    )

    check = commands.add_parser("check-config", help="check the config and the people's channel files as serve would, without starting (exit 2 naming the key)")
    check.add_argument("--config", metavar="FILE", help="province config (default: $OPSMON_CONFIG or ./config.toml)")
    notify = commands.add_parser("notify", help="notifications to people away from the screen")
    notify_commands = notify.add_subparsers(dest="notify_command", required=True, parser_class=_Parser, metavar="{test}")
    notify_test = notify_commands.add_parser("test", help="send a test message to every channel of PERSON and print what each answered")
    notify_test.add_argument("person", metavar="PERSON", help="a name from [[people]]")
    notify_test.add_argument("--config", metavar="FILE", help="province config (default: $OPSMON_CONFIG or ./config.toml)")

    reset = commands.add_parser("reset", help="start a fresh night: an empty log under a new epoch (the server must be stopped)")
    _common(reset)
    keep = reset.add_mutually_exclusive_group(required=True)
    keep.add_argument("--keep-tokens", action="store_true", help="keep every token (the usual case)")
    keep.add_argument("--drop-tokens", action="store_true", help="remove the tokens too")

    migrate = commands.add_parser("migrate", help="create the database's tables or bring them to this opsmon's schema (serve does it too)")
    _common(migrate)
    copy = commands.add_parser("copy", help="copy a whole night (events, state, tokens, answers) into a new database, e.g. SQLite to PostgreSQL")
    copy.add_argument("--from", dest="source", required=True, metavar="DATABASE", help="the database to copy: a file, sqlite:///FILE or postgresql://...")
    copy.add_argument("--to", dest="target", required=True, metavar="DATABASE", help="the new database (must hold no events or tokens)")
    copy.add_argument("--config", metavar="FILE", help=argparse.SUPPRESS)

    backup = commands.add_parser(
        "backup", help="copy the database consistently, while the server runs (SQLite's backup API, never cp; PostgreSQL: pg_dump of the night's schema)"
    )
    _common(backup)
    backup.add_argument("--to", required=True, metavar="FILE", help="the copy to write (must not exist yet)")
    verify = commands.add_parser(
        "verify", help="check a backup: fold its log from seq 1 and compare with its tables (changes nothing); a SQLite file or a restored PostgreSQL schema"
    )
    verify.add_argument("file", metavar="FILE|URL")
    verify.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    verify.add_argument("--config", metavar="FILE", help=argparse.SUPPRESS)
    restore = commands.add_parser("restore", help="PostgreSQL: a dump from `backup` into a new schema (?search_path=NEW), in one transaction")
    restore.add_argument("dump", metavar="FILE", help="the pg_dump file `opsmon-server backup` wrote")
    restore.add_argument("--to", required=True, metavar="URL", help="postgresql://...?search_path=NEW: the schema to create (must not exist)")
    restore.add_argument("--config", metavar="FILE", help=argparse.SUPPRESS)
    export = commands.add_parser("export", help="the event log for the post's record: one row per event, JSONL or CSV (the server may keep running)")
    _common(export)
    export.add_argument("--format", choices=FORMATS, default="jsonl", help="jsonl (default: also each event's data, so it folds back to the same state) or csv")
    export.add_argument("--since", metavar="TIME", help="only events at or after TIME, e.g. 2024-02-14T21:00 (no offset: the province's time)")
    export.add_argument("--until", metavar="TIME", help="only events before TIME")
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default: stdout)")

    token = commands.add_parser("token", help="add, list or revoke access tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True, parser_class=_Parser, metavar="{add,list,revoke}")
    add = token_commands.add_parser("add", help="create a token; prints it once, on the last line")
    add.add_argument("name", help="the person or display the token is for, e.g. 'Rahmat'")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--agency", required=True, choices=AGENCIES)
    add.add_argument("--regency", action="append", metavar="REGENCY", help="limit to this regency, by BPS code or name (repeatable); default: all")
    add.add_argument(
        "--expires", metavar="WHEN", help="refused after this moment, e.g. 2024-03-11T00:00+08:00 (no offset: the province's time); open connections are closed"
    )
    _common(add)
    listing = token_commands.add_parser("list", help="list tokens (never their secrets), with their last use")
    _common(listing)
    revoke = token_commands.add_parser("revoke", help="revoke a token; its open connections are closed")
    revoke.add_argument("name")
    _common(revoke)
    return parser


class _Usage(Exception):
    """A bad combination of arguments: one line, exit 2."""


def _exercise(args: argparse.Namespace, config: Config) -> ExerciseSettings | None:
    """--exercise and its clock, checked; None for a real night."""
    if args.exercise is None:
        flags = (("--scenario", args.scenario), ("--start", args.start), ("--speed", args.speed), ("--roster", args.roster), ("--deadlines", args.deadlines))
        given = [flag for flag, value in flags if value is not None]
        if given:
            raise _Usage(f"{given[0]} needs --exercise NAME (a real night runs on the real clock)")
        return None
    name = args.exercise.strip()
    if not name or len(name) > 80:
        raise _Usage("--exercise: the name must be 1 to 80 characters")
    bad = forbidden_characters(name)
    if bad:
        raise _Usage(f"--exercise: the name may not contain control characters ({', '.join(describe(c) for c in bad)})")
    from opsmon.training.roster import RosterError, Trainee, load_roster
    from opsmon.training.scenario import ScenarioError, load_scenario

    try:
        scenario = load_scenario(args.scenario or "rekap", config.province.tz)
    except ScenarioError as exc:
        raise _Usage(f"--scenario: {exc}") from None
    start = scenario.start
    if args.start is not None:
        try:
            start = datetime.fromisoformat(args.start)
        except ValueError:
            raise _Usage(f"--start: {args.start!r} is not a time like 2024-02-14T05:00") from None
        start = start.replace(tzinfo=config.province.tz) if start.tzinfo is None else start
    speed = args.speed if args.speed is not None else scenario.speed
    if not 0 < speed <= 100_000:
        raise _Usage(f"--speed: must be above 0 and at most 100000, not {speed:g}")
    roster: tuple[Trainee, ...] = ()
    if args.roster is not None:
        try:
            roster = tuple(load_roster(args.roster))
        except RosterError as exc:
            raise _Usage(f"--roster {exc}") from None
    return ExerciseSettings(name=name, start=start, speed=speed, scenario=args.scenario or "rekap", roster=roster, deadlines=args.deadlines or "scenario")


def _replica_name(name: str | None) -> None:
    """--replica-name: what /healthz, /metrics and the log call this server."""
    if name is None:
        return
    if not name.strip() or len(name) > 80:
        raise _Usage("--replica-name: the name must be 1 to 80 characters")
    bad = forbidden_characters(name)
    if bad:
        raise _Usage(f"--replica-name: the name may not contain control characters ({', '.join(describe(c) for c in bad)})")


def _tls(args: argparse.Namespace, config: Config) -> ssl.SSLContext | None:
    """--tls-cert/--tls-key, else [server] tls_cert/tls_key (beside the config), else plain ws://."""
    if bool(args.tls_cert) != bool(args.tls_key):
        raise TLSError("--tls-cert and --tls-key go together")
    if args.tls_cert:
        return server_ssl_context(args.tls_cert, args.tls_key)
    if config.server.tls_cert:
        return server_ssl_context(config_relative(config, config.server.tls_cert), config_relative(config, config.server.tls_key))
    return None


def _fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"opsmon-server: error: {message}", file=sys.stderr)
    return code


def _database(args: argparse.Namespace, config: Config) -> str:
    """--db, else [server] database: a PostgreSQL URL as given, a SQLite path
    (or sqlite:/// URL) relative to the config's folder."""
    if args.db:
        if backend_of(args.db) == "sqlite":
            sqlite_path(args.db)  # a bad URL is a clear error here
        return str(args.db)
    if backend_of(config.server.database) == "postgresql":
        return config.server.database
    db = sqlite_path(config.server.database)
    if not db.is_absolute() and config.path is not None and config.path.name != "default_config.toml":
        db = config.path.parent / db
    return str(db)


def _regency_codes(values: list[str], config: Config) -> list[str]:
    """--regency as the feeders take it: a BPS code or a name ("Tanah Bumbu"), case-insensitive."""
    codes = []
    for value in values:
        found = config.find_regency(value)
        if found is None:
            raise AuthError(f"--regency {value!r}: no such regency in the config (known: {config.regencies_known()})")
        if found.code not in codes:
            codes.append(found.code)
    return codes


def _exists(database: str) -> bool:
    """Whether there is a database to read: a SQLite file must exist (opening
    would create it); a PostgreSQL database is asked when opened."""
    return backend_of(database) == "postgresql" or sqlite_path(database).exists()


async def _token(args: argparse.Namespace, config: Config) -> int:
    if args.token_command == "add" and args.regency:
        args.regency = _regency_codes(args.regency, config)  # before the store opens: a bad name changes nothing
    async with open_store(_database(args, config), synchronous=config.server.synchronous) as store:
        tz = config.province.tz
        if args.token_command == "add":
            expires = parse_expiry(args.expires, tz) if args.expires else None
            known = {r.code for r in config.regencies}
            secret, earlier = await add_token_record(
                store, args.name, args.role, args.agency, args.regency, known, expires=expires, by=user_name(), log_change=True
            )
            scope = (
                ", ".join(f"{code} {found.short}" if (found := config.regency(code)) else code for code in args.regency) if args.regency else "all regencies"
            )
            until = f", until {local_time(format_ts(expires), tz)}" if expires else ""
            if earlier is not None and earlier.revoked is not None:
                print(f"{args.name} had a token revoked at {local_time(earlier.revoked, tz)}: it stays revoked; this is a new token")
            print(f"token for {args.name} ({args.role}, {args.agency}, {scope}{until}); shown only this once:")
            print(secret)
            return 0
        if args.token_command == "list":
            tokens = await store.tokens()
            if not tokens:
                print("no tokens yet: add one with `opsmon-server token add NAME --role officer --agency KPU`")
            now = utc_now()
            for t in tokens:
                scope = ",".join(t.regencies) if t.regencies else "all"
                if t.revoked:
                    state = f"revoked {local_time(t.revoked, tz)}"
                elif t.expires and parse_ts(t.expires) <= now:
                    state = f"expired {local_time(t.expires, tz)}"
                elif t.expires:
                    state = f"active until {local_time(t.expires, tz)}"
                else:
                    state = "active"
                used = f"last used {local_time(t.last_used, tz)}" if t.last_used else "never used"
                print(f"{t.name:<24} {t.role:<8} {t.agency:<8} {scope:<20} created {local_time(t.created, tz)}  {used:<32} {state}")
            return 0
        if await store.revoke_token(args.name, by=user_name()):
            print(f"revoked {args.name}; the server closes its connections within a second")
            return 0
        existing = await store.token_by_name(args.name)
        return _fail(f"token {args.name!r} is already revoked" if existing else f"no token named {args.name!r} (see `opsmon-server token list`)")


async def _events(database: str, config: Config, since: str | None, until: str | None) -> list[tuple[Event, int | None, str | None]]:
    async with open_store(database, synchronous=config.server.synchronous) as store:
        return await store.events_between(since, until)


def _export(args: argparse.Namespace, config: Config) -> int:
    tz, tz_name = config.province.tz, config.province.timezone_name
    since = parse_moment(args.since, tz, "--since") if args.since else None
    until = parse_moment(args.until, tz, "--until") if args.until else None
    if since and until and until <= since:
        return _fail(f"--until {args.until!r} is not after --since {args.since!r}", EXIT_USAGE)
    database = _database(args, config)
    if not _exists(database):
        return _fail(f"{database} does not exist: nothing to export")
    rows = asyncio.run(_events(database, config, since, until))
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as out:
            count = write(rows, out, args.format, tz, tz_name)
    else:
        count = write(rows, sys.stdout, args.format, tz, tz_name)
    print(f"exported {count} event(s) from {database}" + (f" to {args.output}" if args.output else ""), file=sys.stderr)
    return 0


@contextlib.contextmanager
def _locked(database: str, doing: str) -> Iterator[DatabaseLock | None]:
    """A SQLite database's lock file held while `doing` (PostgreSQL has none: None)."""
    lock = DatabaseLock(sqlite_path(database)) if backend_of(database) == "sqlite" else None
    if lock is not None:
        lock.acquire(doing)
    try:
        yield lock
    finally:
        if lock is not None:
            lock.release()


async def _reset(args: argparse.Namespace, config: Config) -> int:
    database = _database(args, config)
    with _locked(database, "reset") as lock:
        async with open_store(database, synchronous=config.server.synchronous, check_writable=True, exclusive=True) as store:
            head, old = await store.head(), store.epoch
            copy = await store.copy_beside("before-reset")
            epoch = await store.reset(keep_tokens=args.keep_tokens, reason=f"reset by {user_name()}")
            tokens = len(await store.tokens())
            database = store.location
        if lock is not None:
            lock.update(epoch=epoch, seq=0, digest=None)
    print(f"reset {database}: epoch {old} (seq {head}) is kept in {copy}; new epoch {epoch}, empty log, {tokens} token(s)")
    return 0


async def _migrate(args: argparse.Namespace, config: Config) -> int:
    database = _database(args, config)
    with _locked(database, "migrate"):
        async with open_store(database, synchronous=config.server.synchronous, check_writable=True, exclusive=True) as store:
            version = await store.get_meta("schema_version")
            kept = f"; the database as it was is kept in {store.migration_backup}" if store.migration_backup is not None else ""
            print(f"{store.location}: opsmon {store.backend} schema version {version}, epoch {store.epoch}, seq {await store.head()}{kept}")
    return 0


async def _copy(args: argparse.Namespace) -> int:
    locks = [DatabaseLock(sqlite_path(d)) for d in (args.source, args.target) if backend_of(d) == "sqlite"]
    if backend_of(args.source) == "sqlite" and not sqlite_path(args.source).exists():
        return _fail(f"--from {args.source}: no such file: nothing to copy")
    held: list[DatabaseLock] = []
    try:
        for lock in locks:  # neither may be served meanwhile: the copy is one consistent night
            lock.acquire("copy")
            held.append(lock)
        async with open_store(args.source, exclusive=True) as source, open_store(args.target, check_writable=True, exclusive=True) as target:
            counts = await copy_database(source, target)
            # The source keeps its rows but is marked: served by mistake beside the copy,
            # the same epoch would run two diverging nights that clients resume across.
            await source.set_meta(MOVED_KEY, f"{target.location} on {format_ts(utc_now())}")
            print(
                f"copied {source.location} to {target.location}: epoch {target.epoch}, {counts['events']} event(s), {counts['incidents']} incident(s), "
                f"{counts['tokens']} token(s), {counts['commands']} command answer(s); {source.location} is marked as moved and will not be served"
            )
    finally:
        for lock in held:
            lock.release()
    return 0


def _check_config(config: Config) -> int:
    """`check-config`: what serve would refuse, said without starting; then who the config reaches."""
    from server.notify import load_channels

    channels = load_channels(config)
    from opsmon.core.people import Policy

    policy = Policy.of(config)
    print(
        f"{config.path}: ok: {len(config.regencies)} regencies, {len(config.people)} people "
        f"({sum(len(c) for c in channels.values())} channels), {len(config.rosters)} rosters, {len(config.chains)} chains"
    )
    now = utc_now()
    for roster in config.rosters:
        shift = policy.shift_at(roster, now)
        where = ",".join(roster.regencies) or "all regencies"
        supervisor = f"; supervisor {shift.supervisor}" if shift.supervisor else ""
        print(f"on duty now, desk {roster.desk} ({where}), {shift.start}-{shift.end}: {', '.join(shift.people)}{supervisor}")
    return 0


def _notify_test(config: Config, name: str) -> int:
    """`notify test PERSON`: one test message to each of the person's channels, and each
    answer (server/notify.py's send_test, as the `notify_test` command of `opsmon notify test`)."""
    from server.notify import load_channels, send_test

    person = next((p for p in config.people if p.name == name), None)
    if person is None:
        known = ", ".join(p.name for p in config.people) or "none configured"
        return _fail(f"no person named {name!r} in [[people]] (known: {known})", EXIT_USAGE)
    channels = load_channels(config)[person.name]
    if not channels:
        return _fail(f"{person.name} has no channels_file: nothing to send to", EXIT_USAGE)
    failed = 0
    for channel, answer in asyncio.run(send_test(config, person.name, channels)):
        failed += not answer.ok
        print(f"{person.name} channel {channel.index} ({channel.scheme}): {'ok' if answer.ok else 'FAILED'}: {answer.text}")
    return EXIT_FAILED if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config)
        if args.command == "check-config":
            return _check_config(config)
        if args.command == "notify":
            return _notify_test(config, args.person)
        if args.command == "serve":
            from server.notify import load_channels

            load_channels(config)  # a bad channel file stops the start here, in one line
    except ConfigError as exc:
        return _fail(f"config: {exc}", EXIT_USAGE)
    try:
        if args.command == "serve":
            from server.app import run

            host = args.host or config.server.host
            port = args.port if args.port is not None else config.server.port
            try:
                exercise = _exercise(args, config)
                _replica_name(args.replica_name)
            except _Usage as exc:
                return _fail(str(exc), EXIT_USAGE)
            with logging_to_stderr(args.log_level, args.log_format, config.province.tz):
                asyncio.run(
                    run(
                        config,
                        _database(args, config),
                        host,
                        port,
                        ssl_context=_tls(args, config),
                        accept_config_change=args.accept_config_change,
                        exercise=exercise,
                        replica_name=args.replica_name,
                    )
                )
            return 0
        if args.command == "migrate":
            return asyncio.run(_migrate(args, config))
        if args.command == "copy":
            if args.source == args.target:
                return _fail("--from and --to name the same database", EXIT_USAGE)
            return asyncio.run(_copy(args))
        if args.command == "backup":
            if backend_of(_database(args, config)) != "sqlite":
                dumped = asyncio.run(backup_postgres(_database(args, config), Path(args.to)))
                print(
                    f"backup written: {dumped.path} (pg_dump of schema {dumped.schema}, epoch {dumped.epoch}, seq {dumped.seq}, "
                    f"{dumped.bytes // 1024} KiB, {dumped.seconds:.2f} s)"
                )
                return 0
            target = Path(args.to)
            source = sqlite_path(_database(args, config))
            if source.exists() and not target.parent.exists():
                # A new folder for backups (e.g. /var/backups/opsmon/2024-02-14): made, the owner's only, and said.
                try:
                    target.parent.mkdir(parents=True, mode=0o700)
                except OSError as exc:
                    return _fail(f"backup: cannot create the folder {target.parent} for {target}: {exc.strerror or exc} (user {user_name()})")
                print(f"created folder {target.parent} (mode 0700)")
            info = backup_database(source, target)
            print(f"backup written: {info.path} (epoch {info.epoch}, seq {info.seq}, {info.bytes // 1024} KiB, {info.seconds:.2f} s)")
            return 0
        if args.command == "verify":
            if backend_of(args.file) != "sqlite":
                report = asyncio.run(verify_postgres(args.file, format_ts(utc_now())))
            else:
                report = verify_database(Path(args.file), format_ts(utc_now()))
            print(json.dumps(report.to_json()) if args.json else "\n".join(report.lines()))
            return 0 if report.consistent else EXIT_FAILED
        if args.command == "restore":
            if backend_of(args.to) != "postgresql":
                return _fail(
                    f"restore --to {args.to}: a PostgreSQL URL with ?search_path=NEW (a SQLite backup is restored by putting the file in place)", EXIT_USAGE
                )
            schema, epoch, seq = asyncio.run(restore_postgres(Path(args.dump), args.to))
            print(f"restored {args.dump} into schema {schema}: epoch {epoch}, seq {seq}; check it with opsmon-server verify, serve it with --db")
            return 0
        if args.command == "export":
            return _export(args, config)
        if args.command == "reset":
            if not _exists(_database(args, config)):
                return _fail(f"{_database(args, config)} does not exist: nothing to reset")
            return asyncio.run(_reset(args, config))
        return asyncio.run(_token(args, config))
    except ExportError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except (StoreError, AuthError, LockError, TLSError, BackupError, ConfigDrift) as exc:
        return _fail(str(exc))
    except BrokenPipeError:
        # The reader stopped early (`opsmon-server export | head`): nothing to say.
        # Point stdout at devnull so the interpreter's last flush fails quietly too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except OSError as exc:
        return _fail(f"cannot listen: {exc.strerror or exc}" if args.command == "serve" else str(exc))
    except KeyboardInterrupt:
        return 130


def entry() -> NoReturn:
    sys.exit(main())


if __name__ == "__main__":
    entry()
