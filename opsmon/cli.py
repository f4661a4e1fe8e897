"""`opsmon`: the terminal client, the demo, the simulator and the feeders.

`opsmon` alone opens the TUI. Every feeder talks to the server over the
same websocket protocol as the TUI, prints one line (or one JSON object with
--json), and exits with a code a script can act on (see EXIT_CODES_HELP).
Every mistake is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from opsmon.client.handshake import new_command_id
from opsmon.core.commands import CommandError, command
from opsmon.core.config import LANGUAGES, Config, ConfigError, config_relative, load_config
from opsmon.core.exits import EXIT_CODES_HELP, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE, FeedError
from opsmon.core.filemodes import exposed, writable_by_others
from opsmon.core.geo import BoundariesError, ProvinceShape, province_shape
from opsmon.core.i18n import Translator, local_datetime, translate_refusal
from opsmon.core.protocol import Command, ExerciseControl, Report, Result, StageUpdate
from opsmon.core.records import AGENCIES, SEVERITIES
from opsmon.feeds import handover as handover_cli
from opsmon.feeds import notify as notify_cli
from opsmon.feeds import triage as triage_cli
from opsmon.feeds.feeder import LocalInvalid, check_category, check_severity, check_stage, check_urls, feeder_session, resolve_regency, stage_regency

PROG = "opsmon"


class _Parser(argparse.ArgumentParser):
    """argparse that says what is wrong in one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(kind: type, allowed: Callable[[Any], bool], not_one: str, refused: str) -> Any:
    """An argparse type: `kind(text)`, where `allowed`; the messages are formatted with text and value."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(not_one.format(text=text)) from None
        if not allowed(value):
            raise argparse.ArgumentTypeError(refused.format(text=text, value=value))
        return value

    return parse


_incident_id = _number(int, lambda v: v >= 1, "{text!r} is not an incident id (a number like 17)", "{value} is not an incident id (they start at 1)")
_count = _number(int, lambda v: v >= 0, "{text!r} is not a whole number", "{value} must be 0 or more")


def _positive(kind: type) -> Any:
    return _number(kind, lambda v: not v <= 0, "{text!r} is not a number", "{text} must be above 0")  # `not <=`: as before, nan passes


def _connection(parser: argparse.ArgumentParser, *, top: bool = False, token_file: bool = True) -> None:
    # On subcommands the defaults are suppressed so `opsmon --url X report ...` keeps X.
    default = None if top else argparse.SUPPRESS
    parser.add_argument(
        "--url",
        action="append",
        default=default,
        metavar="ws://HOST:PORT/ws",
        help="server; give it again (or a comma list) for servers to fail over to, tried in order (default: $OPSMON_URL, else [client] url in the config)",
    )
    parser.add_argument("--token", default=default, metavar="T", help="access token (better: $OPSMON_TOKEN or --token-file, which `ps` does not show)")
    if token_file:
        parser.add_argument("--token-file", default=default, metavar="FILE", help="read the access token from FILE (its first line)")
    parser.add_argument("--config", default=default, metavar="FILE", help="province config (default: $OPSMON_CONFIG, ./config.toml, else the built-in one)")
    parser.add_argument("--cafile", default=default, metavar="PEM", help="CA certificate to trust for wss:// (default: [client] cafile, else the system's CAs)")


def _feeder(commands: Any, name: str, help_text: str, description: str | None = None) -> argparse.ArgumentParser:
    """A subcommand that sends to the server: its connection options, --json and (but import) --lang."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=help_text, description=description or help_text, epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _connection(parser)
    parser.add_argument("--json", action="store_true", help="print the server's answer as one JSON object on stdout")
    if name != "import":  # import's report is English, line by line, like its local checks
        parser.add_argument(
            "--lang", choices=LANGUAGES, default=argparse.SUPPRESS, help="language of a refusal's reason, and of list and show's words (default: en)"
        )
    return parser


def _command_id_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--command-id", metavar="ID", help="your own command id (1-64 chars): sending the same id again returns the first answer and does nothing twice"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="opsmon: live operations monitor for a joint election post. Without a command, opens the terminal dashboard.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        # No abbreviations at the top: a subcommand's own option (`assign --to`)
        # must not be read as a prefix of ours (`--token`, `--token-file`).
        allow_abbrev=False,
    )
    _connection(parser, top=True)
    parser.add_argument("--wall", action="store_true", help="wall-display mode: read-only, large, no keys but q")
    parser.add_argument("--lang", choices=LANGUAGES, help="language of the screen (default: [province] language in the config)")
    parser.add_argument("--no-bell", action="store_true", help="no terminal bell for a new critical or escalated incident (default: [client] bell)")
    parser.add_argument(
        "--regency",
        dest="focus_regency",
        action="append",
        metavar="NAME|CODE",
        help="focus the dashboard on this regency (again, or a comma list, for several; 'all' for the province); "
        "remembered for this token on this machine (default: the last choice, else the token's regencies)",
    )
    parser.add_argument(
        "--desk", dest="focus_desk", metavar="DESK", help="focus on one desk's categories: KPU, Bawaslu or Polri ('all' for every desk); remembered too"
    )
    commands = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="a whole recapitulation night on this machine: embedded server, simulator and dashboard",
        description="Start an embedded server on a free loopback port (temporary database unless --db), "
        "its own tokens and the simulator, and open the dashboard as an officer (or the wall with --wall). "
        "Quitting the dashboard stops everything and removes the temporary database.",
    )
    demo.add_argument("--wall", action="store_true", default=argparse.SUPPRESS, help="open the wall display instead of the officer's dashboard")
    demo.add_argument("--db", metavar="PATH", help="keep the database in PATH (default: a temporary file, removed at the end)")
    demo.add_argument("--seed", type=int, default=None, help="simulator seed (default: random)")
    demo.add_argument("--speed", type=_positive(float), default=None, help="simulated seconds per real second (default: the scenario's)")
    demo.add_argument("--scenario", default="rekap", help="rekap (default), hari-h, or a scenario file (see `opsmon exercise scenario`)")
    demo.add_argument("--lang", choices=LANGUAGES, default=argparse.SUPPRESS, help="language of the screen")
    demo.add_argument("--no-bell", action="store_true", default=argparse.SUPPRESS, help="no terminal bell for a new critical or escalated incident")
    demo.add_argument("--config", default=argparse.SUPPRESS, metavar="FILE", help="province config")
    demo.add_argument(
        "--headless",
        type=_positive(float),
        metavar="SECONDS",
        help="no dashboard: run server and simulator for SECONDS (the whole night compressed into them unless --speed), then print a summary",
    )

    simulate = commands.add_parser(
        "simulate",
        help="feed a simulated election night (or a fixed load) to a server",
        description="Feed a believable, seeded election night to a server, or with --rate a fixed load of commands for benchmarks.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _connection(simulate, token_file=False)  # its --token-file lists several tokens
    simulate.add_argument("--seed", type=int, default=1, help="same seed, same night (default: 1)")
    simulate.add_argument("--speed", type=_positive(float), default=None, help="simulated seconds per real second (default: the scenario's)")
    simulate.add_argument("--rate", type=_positive(float), metavar="EVENTS_PER_S", help="ignore the timeline: send this many commands a second (benchmarks)")
    simulate.add_argument(
        "--scenario", default="rekap", help="rekap (the recapitulation, default), hari-h (voting day), or a scenario file (see `opsmon exercise scenario`)"
    )
    simulate.add_argument(
        "--duration", type=_positive(float), metavar="S", help="stop after S real seconds (default: the end of the scenario; needed with --rate)"
    )
    simulate.add_argument("--json", action="store_true", help="print the summary as JSON")
    simulate.add_argument("--quiet", action="store_true", help="no line per incident on stderr")
    officers = simulate.add_mutually_exclusive_group()
    officers.add_argument(
        "--reports-only",
        action="store_true",
        help="send only what the field sends (reports, repeated reports, stage progress), never acks, notes, escalations or resolutions (default on an exercise server)",
    )
    officers.add_argument(
        "--with-officers", action="store_true", help="also play the post's officers (acks, notes, resolutions): the default on a real server, for demos"
    )
    for agency in AGENCIES:
        simulate.add_argument(f"--token-{agency.lower()}", metavar="T", help=f"sign {agency}'s reports with this {agency} token")
    simulate.add_argument("--token-file", metavar="FILE", help="more tokens, one a line (several reporters per agency take turns)")

    exercise = commands.add_parser("exercise", help="training exercises (latihan): scenario files, the after-action report")
    exercise_commands = exercise.add_subparsers(
        dest="exercise_command", required=True, parser_class=_Parser, metavar="{scenario,report,pause,resume,end,inject}"
    )
    for action, what in (
        ("pause", "stop the scenario clock and the field (escalations, the simulator, the sitrep timer) until resume"),
        ("resume", "run the scenario clock again from where it stood"),
        ("end", "end the exercise: the clock stops for good and the record is frozen for the after-action report"),
    ):
        control = _feeder(exercise_commands, action, f"{what} (the trainer's admin token)", what)
        control.add_argument("--note", help='why, for the log and the after-action report (e.g. "evaluasi tengah latihan")')
    inject = _feeder(
        exercise_commands,
        "inject",
        "send an incident now as a field desk, recorded as an inject (the trainer's admin token)",
        "Send an incident now as a field desk (the trainees see a field report; the after-action report lists it as an inject): "
        "typed with --desk --regency --category --severity --title, or prepared with --from-scenario N (the scenario's Nth [[inject]]; "
        "the typed options override its fields). --list shows the scenario's incident injects.",
    )
    inject.add_argument("--desk", help=f"the desk it comes from: {', '.join(AGENCIES)} (default with --from-scenario: the inject's)")
    inject.add_argument("--regency", help="BPS code (6371) or name (Banjarmasin)")
    inject.add_argument("--category", help="a category key from the config, e.g. bencana")
    inject.add_argument("--severity", help=f"one of {', '.join(SEVERITIES)}")
    inject.add_argument("--title", help="one line, up to 200 characters")
    inject.add_argument("--detail", help="longer description")
    inject.add_argument("--location", help="e.g. 'Kec. Banjarmasin Utara, TPS 012'")
    inject.add_argument("--reporter", help="the name the trainees see as its reporter (default: Lapangan DESK)")
    inject.add_argument("--from-scenario", type=_positive(int), metavar="N", help="the scenario's Nth [[inject]] (see --list)")
    inject.add_argument("--list", action="store_true", help="list the scenario's incident injects, numbered, then stop")
    inject.add_argument("--scenario", help="hari-h, rekap or a scenario file (default: the one the server runs)")
    scenario = exercise_commands.add_parser(
        "scenario",
        help="print a shipped scenario file, to copy and edit (then: opsmon simulate --scenario FILE)",
        description="Print a shipped scenario file (hari-h or rekap): its stage windows, the trouble that can happen and the timed injects. "
        "Copy it, edit it, and play it with `opsmon simulate --scenario FILE`.",
    )
    scenario.add_argument("name", nargs="?", default="hari-h", help="hari-h (default), rekap, or a scenario file")
    scenario.add_argument(
        "--summary", action="store_true", help="instead of the file: the night it plays on one screen (reports per stage and category, per regency, per day)"
    )
    scenario.add_argument("--seed", type=_positive(int), default=1, help="with --summary: the night of this seed (default 1, as opsmon simulate)")
    scenario.add_argument("--config", default=argparse.SUPPRESS, metavar="FILE", help="with --summary: province config")
    after = exercise_commands.add_parser(
        "report",
        help="the after-action report of the exercise's current session, per trainee and for the post",
        description="Read the exercise's database (on the server's machine; reading is safe while it serves) and report, per trainee and for the post: "
        "incidents handled, time from report to acknowledgement and to resolution (median, worst; scenario minutes), deadlines missed, escalations, "
        "refused attempts (acknowledging what someone else already had), notes; and every incident's timeline.",
    )
    after.add_argument("--db", metavar="PATH", help="the exercise's database (default: [server] database in the config)")
    after.add_argument("--config", default=argparse.SUPPRESS, metavar="FILE", help="province config (for the time zone and the default database)")
    after.add_argument("--format", choices=["md", "json", "pdf"], default="md", help="md (default, readable as it is), json, or pdf")
    after.add_argument("--output", "-o", metavar="FILE", help="write it here (default: stdout; pdf needs a file)")
    after.add_argument("--lang", choices=LANGUAGES, help="language of the report (md, pdf; default: [province] language in the config, id)")
    which = after.add_mutually_exclusive_group()
    which.add_argument("--session", type=int, metavar="N", help="the report of session N (1 = the first; an earlier one is read from the copy `reset` kept)")
    which.add_argument("--sessions", action="store_true", help="list the database's sessions and where each one's log is kept, then stop")

    report = _feeder(commands, "report", "report an incident; prints its new id")
    report.add_argument("--regency", required=True, help="BPS code (6371) or name (Banjarmasin)")
    report.add_argument("--category", required=True, help="a category key from the config, e.g. logistik")
    report.add_argument("--severity", required=True, help=f"one of {', '.join(SEVERITIES)}")
    report.add_argument("--title", required=True, help="one line, up to 200 characters")
    report.add_argument("--detail", default="", help="longer description")
    report.add_argument("--location", default="", help="e.g. 'Kec. Banjarmasin Utara, TPS 012'")
    _command_id_option(report)

    stage = _feeder(commands, "stage", "set a regency's progress in a stage (or the province's, for a province stage such as rekap_provinsi)")
    stage.add_argument("--regency", help="BPS code (6303) or name (Banjar); left out for a province stage")
    stage.add_argument("--stage", required=True, help="a stage key from the config, e.g. rekap_ppk")
    stage.add_argument("--done", type=_count, help="how many units are done (TPS, kecamatan, or 1 for a plenary); left out, the server keeps its count")
    stage.add_argument("--blocked", action="store_true", help="mark the stage blocked (say why with --note); without --done the count is kept")
    stage.add_argument("--note", help="a short note shown with the stage")
    stage.add_argument(
        "--correct",
        action="store_true",
        help="a correction: a count lower than the one shown, or a block lifted (say why with --note); without it the server refuses both",
    )
    _command_id_option(stage)

    ack = _feeder(commands, "ack", "acknowledge an incident")
    ack.add_argument("incident", type=_incident_id, metavar="ID")
    _command_id_option(ack)
    escalate = _feeder(commands, "escalate", "escalate an incident one level")
    escalate.add_argument("incident", type=_incident_id, metavar="ID")
    escalate.add_argument("--note", help="why")
    _command_id_option(escalate)
    note = _feeder(commands, "note", "add a note to an incident")
    note.add_argument("incident", type=_incident_id, metavar="ID")
    note.add_argument("--text", required=True)
    _command_id_option(note)
    resolve = _feeder(commands, "resolve", "resolve an incident (a note saying how is required)")
    resolve.add_argument("incident", type=_incident_id, metavar="ID")
    resolve.add_argument("--note", required=True)
    _command_id_option(resolve)
    reopen = _feeder(commands, "reopen", "reopen a resolved incident")
    reopen.add_argument("incident", type=_incident_id, metavar="ID")
    reopen.add_argument("--note", required=True)
    _command_id_option(reopen)

    triage_cli.add_parsers(commands, _feeder, _incident_id, _command_id_option)
    handover_cli.add_parser(commands, _feeder, _command_id_option)
    notify_cli.add_parser(commands, _feeder)

    from opsmon.reports.sitrep_cli import add_parser as add_sitrep

    add_sitrep(commands, _connection)
    from opsmon.web import add_parser as add_web

    add_web(commands, _connection)

    imp = _feeder(
        commands,
        "import",
        "load reports and stage updates from a JSONL or CSV file; safe to run again (nothing is imported twice with the same token)",
    )
    imp.add_argument("file", metavar="FILE.jsonl|FILE.csv")
    imp.add_argument("--format", choices=["jsonl", "csv"], help="default: from the file name (.csv is CSV, anything else JSONL)")
    imp.add_argument("--window", type=_positive(int), default=32, help="commands in flight at once (default 32)")
    return parser


# --- helpers ---------------------------------------------------------------------


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def _load(args: argparse.Namespace) -> Config:
    try:
        return load_config(getattr(args, "config", None))
    except ConfigError as exc:
        raise FeedError(f"config: {exc}", EXIT_USAGE) from None


def _shape(config: Config) -> ProvinceShape | None:
    try:
        return province_shape(config.province.boundaries)
    except BoundariesError as exc:
        raise FeedError(f"config: province.boundaries: {exc}", EXIT_USAGE) from None


def _url(args: argparse.Namespace, config: Config) -> list[str]:
    """The servers, in the order to try them: --url (repeated, or comma lists), else
    $OPSMON_URL, else [client] url (a comma list too), as --token over $OPSMON_TOKEN."""
    given = getattr(args, "url", None)
    if given is not None:
        return check_urls(given, "--url")
    env = os.environ.get("OPSMON_URL")
    if env:
        return check_urls(env, "$OPSMON_URL")
    return check_urls(config.client.url, "[client] url")


def _cafile(args: argparse.Namespace, config: Config) -> str | None:
    """The CA a wss:// connection trusts: --cafile (as given), else [client] cafile (beside the config)."""
    given = getattr(args, "cafile", None)
    cafile = given or (config_relative(config, config.client.cafile) if config.client.cafile else None)
    if cafile is not None and not os.path.isfile(cafile):
        raise FeedError(f"CA file {cafile}: no such file ({'--cafile' if given else '[client] cafile'})", EXIT_USAGE)
    return cafile


def _token(args: argparse.Namespace) -> str:
    """--token, else --token-file, else $OPSMON_TOKEN."""
    token = getattr(args, "token", None)
    path = getattr(args, "token_file", None)
    if not token and path:
        token = _read_token_file(str(path))
    token = token or os.environ.get("OPSMON_TOKEN")
    if not token:
        raise FeedError(
            "no token: set OPSMON_TOKEN or pass --token-file FILE (an admin creates one with `opsmon-server token add NAME --role officer --agency KPU`)",
            EXIT_USAGE,
        )
    return str(token)


def _read_token_file(path: str) -> str:
    unsafe = writable_by_others(path)
    if unsafe is not None:
        raise FeedError(f"not reading the token file {unsafe}", EXIT_USAGE)
    try:
        with open(path, encoding="utf-8") as handle:
            lines = [line.strip() for line in handle]
    except (OSError, UnicodeDecodeError) as exc:
        raise FeedError(f"cannot read the token file {path}: {getattr(exc, 'strerror', None) or exc}", EXIT_USAGE) from None
    token = next((line for line in lines if line), "")
    if not token:
        raise FeedError(f"the token file {path} is empty: put the token printed by `opsmon-server token add` on its first line", EXIT_USAGE)
    loose = exposed(path)
    if loose is not None:
        print(f"opsmon: warning: the token file {loose}", file=sys.stderr)
    return token


def _command(verb: str, command_id: str, **fields: Any) -> Command:
    """opsmon.core.commands.command, its CommandError as a usage error (after the flags' own checks above it)."""
    try:
        return command(verb, command_id, **fields)
    except CommandError as exc:
        raise FeedError(str(exc), EXIT_USAGE) from None


def build_command(args: argparse.Namespace, config: Config) -> Command:
    """The protocol command a single-command feeder sends, checked against the config."""
    command_id = args.command_id or new_command_id()
    if args.command_id is not None and not 1 <= len(args.command_id) <= 64:
        raise FeedError("--command-id must be 1 to 64 characters", EXIT_USAGE)
    if args.command == "report":
        try:
            regency = resolve_regency(config, args.regency)
            check_category(config, args.category)
            check_severity(config, args.severity)
        except LocalInvalid as exc:
            raise FeedError(str(exc), EXIT_USAGE) from None
        title = args.title.strip()
        if not title or len(title) > 200:
            raise FeedError("--title must be 1 to 200 characters", EXIT_USAGE)
        draft = {
            "regency": regency.code,
            "category": args.category,
            "severity": args.severity,
            "title": title,
            "detail": args.detail,
            "location": args.location,
        }
        return _command("report", command_id, incident=draft)
    if args.command == "stage":
        if args.done is None and not args.blocked and args.note is None:
            raise FeedError("say what changed: --done N, --blocked (with --note), or both", EXIT_USAGE)
        try:
            stage_info, place = stage_regency(config, args.stage, args.regency)
            check_stage(config, stage_info.key, place, args.done)
        except LocalInvalid as exc:
            raise FeedError(str(exc), EXIT_USAGE) from None
        if args.correct and not (args.note or "").strip():
            raise FeedError("--correct needs a --note saying why the count or the block is corrected", EXIT_USAGE)
        code = place.code if place is not None else config.province.code
        return _command("stage", command_id, regency=code, stage=args.stage, done=args.done, note=args.note, blocked=args.blocked, correct=args.correct)
    if args.command in triage_cli.TRIAGE_COMMANDS:
        return triage_cli.build(args, config, command_id)
    for text in (getattr(args, "note", None), getattr(args, "text", None)):
        if text is not None and len(text) > 4000:
            raise FeedError("a note or text may be at most 4000 characters", EXIT_USAGE)
    if args.command == "ack":
        return _command("ack", command_id, incident=args.incident)
    if args.command == "escalate":
        return _command("escalate", command_id, incident=args.incident, note=args.note)
    if args.command in ("note", "resolve", "reopen"):
        text = args.text if args.command == "note" else args.note
        if not text.strip():
            raise FeedError(f"{'--text' if args.command == 'note' else '--note'} must not be empty", EXIT_USAGE)
        return _command(args.command, command_id, incident=args.incident, **{"text" if args.command == "note" else "note": text})
    raise FeedError(f"unknown command {args.command!r}", EXIT_USAGE)  # pragma: no cover - argparse knows them


def describe_success(command: Command, result: Result, config: Config) -> str:
    if isinstance(command, Report):
        return f"inject: incident {result.incident} sent as {command.desk} (seq {result.seq})" if command.inject else str(result.incident)
    if isinstance(command, StageUpdate):
        regency = config.regency(command.regency)
        stage = config.stage(command.stage)
        name = regency.short if regency else config.province.name
        state = (" (blocked)" if command.blocked else "") + (" (correction)" if command.correct else "")
        if command.done is None:
            return f"{command.regency} {name} {command.stage}: {'blocked' if command.blocked else 'updated'}, count kept (seq {result.seq})"
        total = stage.total_for(regency) if stage else "?"
        return f"{command.regency} {name} {command.stage}: {command.done}/{total}{state} (seq {result.seq})"
    if isinstance(command, ExerciseControl):
        done = {"pause": "paused: the scenario clock stands still", "resume": "resumed", "end": "ended: its record is frozen"}[command.action]
        return f"exercise {done} (seq {result.seq})"
    verb = {"ack": "acknowledged", "escalate": "escalated", "note": "noted", "resolve": "resolved", "reopen": "reopened"}
    tag = str(type(command).__struct_config__.tag)
    if tag in triage_cli.TRIAGE_COMMANDS:
        return triage_cli.describe(command, result)
    return f"incident {result.incident or getattr(command, 'incident', '?')} {verb.get(tag, tag)} (seq {result.seq})"


def _result_json(command: Command, result: Result) -> str:
    body: dict[str, Any] = {"ok": result.ok, "id": command.id}
    for key in ("seq", "incident", "code", "message", "status", "at", "reason", "params"):
        value = getattr(result, key)
        if value is not None and value is not False:  # `duplicate` only when it is one
            body[key] = value
    if result.duplicate:
        body["duplicate"] = True  # a report folded into the open incident `incident`
    if result.by is not None:
        body["by"] = {"name": result.by.name, "agency": result.by.agency}
    return json.dumps(body, ensure_ascii=False)


async def _send_one(args: argparse.Namespace, config: Config, command: Command | None = None) -> int:
    command = command or build_command(args, config)
    url, token = _url(args, config), _token(args)
    async with feeder_session(url, token, cafile=_cafile(args, config)) as session:
        from opsmon.client.failures import ClientError

        command = triage_cli.for_user(command, args, session.welcome.user)
        try:
            result = await session.request(command, timeout=15.0)
        except ClientError as exc:
            raise FeedError(str(exc), EXIT_UNREACHABLE) from None
    if args.json:
        print(_result_json(command, result))
    if result.ok:
        if not args.json:
            print(describe_success(command, result, config))
        if result.duplicate:
            print(f"{PROG}: a repeat: folded into open incident {result.incident} (same regency, category and location)", file=sys.stderr)
        return EXIT_OK
    # A feeder speaks English unless told otherwise (--lang), so a line never mixes two languages.
    lang = getattr(args, "lang", None) or "en"
    reason = translate_refusal(result, lang, config.province.tz, {r.code: r.short for r in config.regencies})
    print(f"{PROG}: {Translator(lang)('cli.refused', code=result.code, reason=reason)}", file=sys.stderr)
    return EXIT_REFUSED


def _run_tui(args: argparse.Namespace) -> int:
    config = _load(args)
    regencies, desk, desks = _focus(args, config)  # a bad --regency/--desk: one line, before anything connects
    url, token = _url(args, config), _token(args)
    lang = args.lang or config.province.language
    try:
        from opsmon.tui.app import run_tui
    except ImportError as exc:
        return _fail(f"the dashboard cannot start: {exc} (try `pip install -e .`)", EXIT_FAILED)
    bell = config.client.bell and not getattr(args, "no_bell", False)
    from opsmon.tui.remembered import state_dir

    return int(
        run_tui(
            url=url,
            token=token,
            lang=lang,
            wall=bool(args.wall),
            cafile=_cafile(args, config),
            shape=_shape(config),
            sitrep=config.sitrep,
            sitrep_folder=config.sitrep_folder(),
            bell=bell,
            bell_interval=config.client.bell_interval,
            regencies=regencies,
            desk=desk,
            desks=desks,
            remember_in=state_dir(),
        )
    )


def _focus(args: argparse.Namespace, config: Config) -> tuple[tuple[str, ...] | None, str | None, dict[str, frozenset[str]]]:
    """--regency (codes or names; 'all': the province) and --desk, checked against the config,
    and the config's desks (desk -> its categories). A bad value stops here, in one line."""
    desks = config.desks()
    regencies: tuple[str, ...] | None = None
    if args.focus_regency:
        values = [value.strip() for given in args.focus_regency for value in given.split(",") if value.strip()]
        if not values:
            raise FeedError("--regency needs a regency name or code (or 'all')", EXIT_USAGE)
        try:
            regencies = () if [v.casefold() for v in values] == ["all"] else tuple(dict.fromkeys(resolve_regency(config, v).code for v in values))
        except LocalInvalid as exc:
            raise FeedError(f"--regency: {exc}", EXIT_USAGE) from None
    desk: str | None = None
    if args.focus_desk is not None:
        wanted = args.focus_desk.strip().casefold()
        found = next((name for name in desks if name.casefold() == wanted), None)
        if found is None and wanted != "all":
            raise FeedError(f"--desk: unknown desk {args.focus_desk!r} (known: {', '.join(sorted(desks))}, all)", EXIT_USAGE)
        desk = found or ""  # "": every desk, said
    return regencies, desk, desks


def _exercise(args: argparse.Namespace) -> int:
    from opsmon.training.scenario import ScenarioError, scenario_text

    if args.exercise_command == "report":
        return _after_action(args)
    if args.exercise_command in ("pause", "resume", "end"):
        if args.note is not None and not 1 <= len(args.note.strip()) <= 4000:
            raise FeedError("--note must be 1 to 4000 characters", EXIT_USAGE)
        config = _load(args)
        control = ExerciseControl(id=new_command_id(), action=args.exercise_command, note=args.note)
        return asyncio.run(_send_one(args, config, control))
    if args.exercise_command == "inject":
        return asyncio.run(_inject(args, _load(args)))
    try:
        if args.summary:
            from opsmon.training.summary import summary

            sys.stdout.write(summary(_load(args), args.name, args.seed))
        else:
            sys.stdout.write(scenario_text(args.name))
    except ScenarioError as exc:
        raise FeedError(str(exc), EXIT_USAGE) from None
    return EXIT_OK


async def _server_scenario(args: argparse.Namespace, config: Config) -> str | None:
    """The scenario the exercise server runs (its welcome says), for --list and --from-scenario without --scenario."""
    async with feeder_session(_url(args, config), _token(args), cafile=_cafile(args, config)) as session:
        exercise = session.welcome.exercise
    if exercise is None:
        raise FeedError("the server runs a real night, not an exercise: nothing to inject", EXIT_USAGE)
    return exercise.scenario


async def _inject(args: argparse.Namespace, config: Config) -> int:
    from opsmon.feeds import inject
    from opsmon.training.scenario import ScenarioError

    scenario = args.scenario
    if scenario is None and (args.list or args.from_scenario is not None):
        scenario = await _server_scenario(args, config)
    if args.list:
        if scenario is None:
            raise FeedError("the server runs no scenario: give --scenario NAME", EXIT_USAGE)
        try:
            lines = inject.list_lines(config, scenario)
        except ScenarioError as exc:
            raise FeedError(str(exc), EXIT_USAGE) from None
        print("\n".join(lines) if lines else f"{scenario}: no incident injects")
        return EXIT_OK
    return await _send_one(args, config, inject.build(args, config, scenario, new_command_id()))


def _after_action(args: argparse.Namespace) -> int:
    from pathlib import Path

    from opsmon.core.config import config_relative
    from opsmon.reports import afteraction

    config = _load(args)
    database = args.db or config_relative(config, config.server.database)
    if args.format == "pdf" and not args.output:
        raise FeedError("--format pdf needs --output FILE.pdf", EXIT_USAGE)
    if not Path(database).is_file():
        raise FeedError(f"{database}: no such database (give the exercise's with --db)", EXIT_USAGE)
    from server.embed import exercise_sessions, read_exercise_log

    if args.sessions or args.session is not None:
        try:
            sessions = asyncio.run(exercise_sessions(database))
        except Exception as exc:  # StoreError and the like: one line
            raise FeedError(f"{database}: {exc}", EXIT_FAILED) from None
        tr = Translator(args.lang or config.province.language)
        if args.sessions:
            print(tr("aar.sessions.header", db=database))
            for s in sessions:
                where = tr("aar.sessions.current") if s.current else tr("aar.sessions.kept", path=s.database) if s.database else tr("aar.sessions.lost")
                size = afteraction.counted(tr, "aar.events", s.events) if s.events is not None else "-"
                print(tr("aar.sessions.line", number=s.number, epoch=s.epoch, started=local_datetime(s.started, config.province.tz), events=size, where=where))
            return EXIT_OK
        chosen = next((s for s in sessions if s.number == args.session), None)
        if chosen is None:
            known = f"sessions 1 to {len(sessions)}" if sessions else "no exercise session"
            raise FeedError(f"--session {args.session}: {database} has {known} (list them with --sessions)", EXIT_USAGE)
        if chosen.database is None:
            raise FeedError(f"--session {args.session}: no copy of session {chosen.number} ({chosen.epoch}) is kept beside {database}", EXIT_USAGE)
        database = chosen.database
    try:
        log = asyncio.run(read_exercise_log(database))
    except Exception as exc:  # StoreError and the like: one line
        raise FeedError(f"{database}: {exc}", EXIT_FAILED) from None
    events, exercise, epoch = log.events, log.exercise, log.epoch
    attempts = log.attempts
    if exercise is None:
        print(f"{PROG}: note: {database} is not an exercise's database; reporting it anyway", file=sys.stderr)
    report = afteraction.build(events, attempts, exercise=exercise, epoch=epoch, tokens=log.trainees, seen=log.seen)
    if args.format == "json":
        body: str | bytes = afteraction.render_json(report)
    else:
        lang = args.lang or config.province.language
        severities: dict[str, str] = {s.key: s.label.id if lang == "id" else s.label.en for s in config.severities}
        names = {r.code: r.short for r in config.regencies} | {config.province.code: config.province.name}
        if args.format == "pdf":
            from opsmon.reports.afteraction_pdf import render_pdf

            body = render_pdf(report, config.province.tz, names, lang, severities)
        else:
            body = afteraction.render_md(report, config.province.tz, names, lang, severities)
    if args.output:
        try:
            Path(args.output).expanduser().write_bytes(body if isinstance(body, bytes) else body.encode("utf-8"))
        except OSError as exc:
            raise FeedError(f"--output {args.output}: cannot write ({exc.strerror or exc})", EXIT_USAGE) from None
        tr = Translator(args.lang or config.province.language)
        incidents, trainees = (
            afteraction.counted(tr, "aar.n_incidents", report["post"]["incidents"]),
            afteraction.counted(tr, "aar.n_trainees", len(report["trainees"])),
        )
        print(tr("aar.written", format=args.format, incidents=incidents, trainees=trainees, path=args.output), file=sys.stderr)
    else:
        assert isinstance(body, str)
        sys.stdout.write(body)
    return EXIT_OK


def _dispatch(args: argparse.Namespace) -> int:
    if args.command is None:
        return _run_tui(args)
    if args.command == "demo":
        from opsmon.demo import run_demo

        return run_demo(args)
    if args.command == "exercise":
        return _exercise(args)
    config = _load(args)
    if args.command == "simulate":
        from opsmon.feeds.simulate import run_simulate_cli

        return run_simulate_cli(args, config, _url(args, config), getattr(args, "token", None) or os.environ.get("OPSMON_TOKEN"), _cafile(args, config))
    if args.command == "web":
        from opsmon.web import run_web_cli

        return run_web_cli(args, config, _url(args, config), _token(args), _cafile(args, config))
    if args.command == "sitrep":
        from opsmon.reports.sitrep_cli import run_sitrep_cli

        return run_sitrep_cli(args, config, _url(args, config), _token(args), _cafile(args, config))
    if args.command == "import":
        from opsmon.feeds.importer import run_import_cli

        return asyncio.run(run_import_cli(args, config, _url(args, config), _token(args), _cafile(args, config)))
    if args.command in triage_cli.READ_COMMANDS:
        return asyncio.run(_read(args, config))
    if args.command == "handover":
        return asyncio.run(_handover(args, config))
    if args.command == "notify":
        return asyncio.run(_notify(args, config))
    return asyncio.run(_send_one(args, config))


async def _handover(args: argparse.Namespace, config: Config) -> int:
    async with feeder_session(_url(args, config), _token(args), cafile=_cafile(args, config), follow=True) as session:
        return await handover_cli.run(args, config, session)


async def _notify(args: argparse.Namespace, config: Config) -> int:
    async with feeder_session(_url(args, config), _token(args), cafile=_cafile(args, config)) as session:
        return await notify_cli.run(args, config, session)


async def _read(args: argparse.Namespace, config: Config) -> int:
    async with feeder_session(_url(args, config), _token(args), cafile=_cafile(args, config), follow=True) as session:
        return await triage_cli.run_read(args, config, session)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except FeedError as exc:
        return _fail(exc.message, exc.code)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader stopped early (`opsmon list --json | head`): nothing to say.
        # Point stdout at devnull so the interpreter's last flush fails quietly too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as exc:  # the promise is one line, never a traceback
        if os.environ.get("OPSMON_DEBUG"):
            raise
        return _fail(f"unexpected {type(exc).__name__}: {exc} (set OPSMON_DEBUG=1 for the traceback)", EXIT_FAILED)


def entry() -> NoReturn:
    sys.exit(main())


if __name__ == "__main__":
    entry()
