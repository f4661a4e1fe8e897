"""`opsmon` triage feeders (snooze, assign, severity, unack, merge) and the
read-only `opsmon list` / `opsmon show`, readable over SSH and in scripts.

Wire text is drawn through `for_terminal` before it reaches stdout; --json
prints the protocol's own shapes instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, tzinfo
from typing import Any

from opsmon.client.failures import ClientError
from opsmon.client.handshake import new_command_id
from opsmon.client.session import Session
from opsmon.core.clock import utc_now
from opsmon.core.commands import CommandError, command
from opsmon.core.config import Config
from opsmon.core.exits import EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE, FeedError
from opsmon.core.fold import fold
from opsmon.core.i18n import Translator, local_datetime, local_time, translate_refusal, who
from opsmon.core.protocol import Assign, Command, Event, History, Incidents, Merge, Result, SeverityChange, Snooze
from opsmon.core.records import AGENCIES, INCIDENT_STATUSES, SEVERITIES, Incident, User
from opsmon.core.state import State
from opsmon.core.text import for_terminal
from opsmon.core.urgency import ack_deadline, event_summary, is_mine, is_overdue, status_word, urgency_key
from opsmon.core.wire import to_builtins
from opsmon.feeds.feeder import LocalInvalid, check_severity, resolve_regency

TRIAGE_COMMANDS = ("snooze", "assign", "severity", "unack", "merge")
READ_COMMANDS = ("list", "show")
STATUS_CHOICES = (*INCIDENT_STATUSES, "all")

VERBS = {
    "snooze": "snoozed",
    "assign": "assigned",
    "severity": "severity changed",
    "unack": "un-acknowledged",
    "merge": "merged",
}


def _minutes(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of minutes") from None
    if not 0 <= value <= 1440:
        raise argparse.ArgumentTypeError(f"{value} must be 0 (wake it now) to 1440 (a day)")
    return value


def add_parsers(commands: Any, feeder: Any, incident_id: Any, command_id_option: Any) -> None:
    """The triage feeders and list/show, on `opsmon`'s subcommand parser."""
    snooze = feeder(commands, "snooze", "no automatic escalation of an incident for some minutes (0 wakes it now)")
    snooze.add_argument("incident", type=incident_id, metavar="ID")
    snooze.add_argument("--minutes", required=True, type=_minutes, help="1 to 1440; 0 ends the snooze now")
    snooze.add_argument("--note", required=True, help="why (required)")
    command_id_option(snooze)

    assign = feeder(commands, "assign", "give an incident an owner: yourself (--me), someone else (--to NAME --agency A), or nobody (--release)")
    assign.add_argument("incident", type=incident_id, metavar="ID")
    who_group = assign.add_mutually_exclusive_group(required=True)
    who_group.add_argument("--to", metavar="NAME", help="the person who handles it (with --agency)")
    who_group.add_argument("--me", action="store_true", help="take it yourself (the token's name and agency)")
    who_group.add_argument("--release", action="store_true", help="nobody handles it any more")
    assign.add_argument("--agency", choices=AGENCIES, help="the agency of --to")
    command_id_option(assign)

    severity = feeder(commands, "severity", "change an incident's severity (its acknowledgement deadline starts again)")
    severity.add_argument("incident", type=incident_id, metavar="ID")
    severity.add_argument("severity", metavar="SEVERITY", help=f"one of {', '.join(SEVERITIES)}")
    severity.add_argument("--note", required=True, help="why (required)")
    command_id_option(severity)

    unack = feeder(commands, "unack", "take back an acknowledgement: the incident is open again")
    unack.add_argument("incident", type=incident_id, metavar="ID")
    unack.add_argument("--note", required=True, help="why (required)")
    command_id_option(unack)

    merge = feeder(commands, "merge", "the incident is the same trouble as another: resolve it into that one (which gains its reports)")
    merge.add_argument("incident", type=incident_id, metavar="ID")
    merge.add_argument("--into", required=True, type=incident_id, metavar="ID", help="the incident it joins (not resolved)")
    merge.add_argument("--note", help="why")
    command_id_option(merge)

    listing = feeder(commands, "list", "the incidents, most urgent first (default: every one not resolved)")
    listing.add_argument("--status", choices=STATUS_CHOICES, help="only these (default: open and acknowledged); all: every incident of the whole log")
    listing.add_argument("--regency", help="BPS code or name")
    listing.add_argument("--severity", help=f"one of {', '.join(SEVERITIES)}")
    listing.add_argument(
        "--mine",
        action="store_true",
        help="incidents owned by me (assigned to me); a token limited to regencies (token add --regency) also sees every incident in them; an unlimited token: only what it owns",
    )

    show = feeder(commands, "show", "one incident with its whole timeline")
    show.add_argument("incident", type=incident_id, metavar="ID")


def _command(verb: str, command_id: str, **fields: Any) -> Command:
    """opsmon.core.commands.command, its CommandError as a usage error (after the flags' own checks)."""
    try:
        return command(verb, command_id, **fields)
    except CommandError as exc:
        raise FeedError(str(exc), EXIT_USAGE) from None


def build(args: argparse.Namespace, config: Config, command_id: str) -> Command:
    """The protocol command of a triage feeder, checked locally first."""
    note: str | None = getattr(args, "note", None)
    if note is not None and len(note) > 4000:
        raise FeedError("--note may be at most 4000 characters", EXIT_USAGE)
    if args.command in ("snooze", "severity", "unack") and not (note or "").strip():
        raise FeedError("--note must not be empty", EXIT_USAGE)
    if args.command == "snooze":
        return _command("snooze", command_id, incident=args.incident, minutes=args.minutes, note=note or "")
    if args.command == "assign":
        if args.to is not None:
            if args.agency is None:
                raise FeedError("--to needs --agency (KPU, Bawaslu or Polri)", EXIT_USAGE)
            name = args.to.strip()
            if not 1 <= len(name) <= 100:
                raise FeedError("--to must be a name of 1 to 100 characters", EXIT_USAGE)
            return _command("assign", command_id, incident=args.incident, to={"name": name, "agency": args.agency})
        if args.agency is not None:
            raise FeedError("--agency goes with --to", EXIT_USAGE)
        # --me: filled in from the token's user once connected (see `for_user`).
        return _command("assign", command_id, incident=args.incident, to={"name": "-", "agency": "-"} if args.me else None)
    if args.command == "severity":
        try:
            check_severity(config, args.severity)
        except LocalInvalid as exc:
            raise FeedError(str(exc), EXIT_USAGE) from None
        return _command("severity", command_id, incident=args.incident, severity=args.severity, note=note or "")
    if args.command == "unack":
        return _command("unack", command_id, incident=args.incident, note=note or "")
    if args.command == "merge":
        if args.into == args.incident:
            raise FeedError("--into must be another incident", EXIT_USAGE)
        return _command("merge", command_id, incident=args.incident, into=args.into, note=note)
    raise FeedError(f"unknown command {args.command!r}", EXIT_USAGE)  # pragma: no cover - argparse knows them


def for_user(command: Command, args: argparse.Namespace, user: User) -> Command:
    """`assign --me`: the owner is whoever the token belongs to."""
    if isinstance(command, Assign) and getattr(args, "me", False):
        return _command("assign", command.id, incident=command.incident, to={"name": user.name, "agency": user.agency})
    return command


def describe(command: Command, result: Result) -> str:
    tag = str(type(command).__struct_config__.tag)
    verb = VERBS.get(tag, tag)
    if isinstance(command, Snooze) and command.minutes == 0:
        verb = "woken"
    elif isinstance(command, Snooze):
        verb = f"snoozed for {command.minutes} min"
    elif isinstance(command, Assign):
        verb = "released" if command.to is None else f"assigned to {for_terminal(command.to.agency)}/{for_terminal(command.to.name)}"
    elif isinstance(command, SeverityChange):
        verb = f"now {command.severity}"
    elif isinstance(command, Merge):
        verb = f"merged into {command.into}"
    return f"incident {result.incident or getattr(command, 'incident', '?')} {verb} (seq {result.seq})"


# --- list and show --------------------------------------------------------------------------


async def _incidents(session: Session, config: Config, status: str | None = None, timeout: float = 15.0) -> State:
    """The incidents the server holds over its whole log (`incidents`, not the
    snapshot, which leaves out those resolved more than a day ago)."""
    try:
        result = await session.request(Incidents(id=new_command_id(), status=status), timeout=timeout)
    except ClientError as exc:
        raise FeedError(str(exc), EXIT_UNREACHABLE) from None
    if not result.ok:
        raise FeedError(translate_refusal(result, "en", config.province.tz), EXIT_REFUSED)
    state = State()
    state.incidents = {i.id: i for i in result.incidents or []}
    return state


def select(state: State, args: argparse.Namespace, config: Config, user: User) -> list[Incident]:
    status = args.status
    regency = None
    if args.regency:
        try:
            regency = resolve_regency(config, args.regency).code
        except LocalInvalid as exc:
            raise FeedError(str(exc), EXIT_USAGE) from None
    if args.severity:
        try:
            check_severity(config, args.severity)
        except LocalInvalid as exc:
            raise FeedError(str(exc), EXIT_USAGE) from None
    chosen = []
    for incident in state.incidents.values():
        if status is None and incident.status == "resolved":
            continue
        if status not in (None, "all") and incident.status != status:
            continue
        if regency is not None and incident.regency != regency:
            continue
        if args.severity and incident.severity != args.severity:
            continue
        if args.mine and not is_mine(incident, user):
            continue
        chosen.append(incident)
    return sorted(chosen, key=urgency_key)


def _state_word(incident: Incident, config: Config, lang: str = "en") -> str:
    """Status as a word, never by colour: snoozed ones say until when. English: the
    word scripts match (`merged>7`); Indonesian: the screens' word (`GABUNG>7`)."""
    word = status_word(incident)  # the screens' word (urgency.status_word)
    said = word if lang == "en" else Translator(lang)(f"status.{word}")
    if word == "merged":
        return f"{said}>{incident.merged_into}"
    if word == "snoozed" and incident.snoozed_until is not None:
        return f"{said}>{local_time(incident.snoozed_until, config.province.tz)}"
    return said


def _severity(config: Config, key: str, lang: str) -> str:
    if lang == "en":
        return key
    found = next((s for s in config.severities if s.key == key), None)
    return for_terminal(found.label.get(lang)) if found is not None else for_terminal(key)


def _category(config: Config, key: str, lang: str) -> str:
    if lang == "en":
        return key
    found = next((c for c in config.categories if c.key == key), None)
    return for_terminal(found.label.get(lang)) if found is not None else for_terminal(key)


def table(incidents: list[Incident], config: Config, now: datetime, lang: str = "en") -> str:
    tr = Translator(lang)
    rows = [tuple(tr(f"list.col.{column}") for column in ("id", "status", "severity", "regency", "reports", "owner", "reported", "title"))]
    for i in incidents:
        regency = config.regency(i.regency)
        overdue = is_overdue(i, now)
        rows.append(
            (
                str(i.id),
                _state_word(i, config, lang) + (" " + tr("list.overdue") if overdue else ""),
                _severity(config, i.severity, lang) + (f" L{i.level}" if i.level else ""),
                regency.short if regency else for_terminal(i.regency),
                f"x{i.reports}",
                who(i.owner) if i.owner else "-",
                local_datetime(i.reported, config.province.tz),
                for_terminal(i.title),
            )
        )
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(cell.ljust(widths[c]) for c, cell in enumerate(row[:-1])) + "  " + row[-1] for row in rows)


def timeline(incident: Incident, events: list[Event], config: Config, lang: str = "en") -> str:
    tz, tr = config.province.tz, Translator(lang)
    regency = config.regency(incident.regency)

    def label(key: str) -> str:
        return tr(f"show.{key}").ljust(10)

    state = tr(
        "show.state",
        status=_state_word(incident, config, lang),
        severity=_severity(config, incident.severity, lang),
        level=incident.level,
        reports=incident.reports,
    )
    lines = [
        f"#{incident.id} {for_terminal(incident.title)}",
        f"  {label('status')}{state}",
        f"  {label('where')}{regency.name if regency else for_terminal(incident.regency)}; {for_terminal(incident.location) or '-'}",
        f"  {label('category')}{_category(config, incident.category, lang)}",
        f"  {label('reported')}{tr('show.reported_by', at=local_datetime(incident.reported, tz), who=who(incident.reporter))}",
        f"  {label('owner')}{who(incident.owner) if incident.owner else '-'}",
    ]
    due = ack_deadline(incident)  # none once acknowledged, snoozed, merged or resolved: never a stale one
    if due is not None:
        escalation = tr("show.next_escalation", at=local_datetime(incident.escalate_due, tz)) if incident.escalate_due else ""
        lines.append(f"  {label('ack_due')}{local_datetime(due, tz)}{escalation}")
    if incident.detail:
        lines.append(f"  {label('detail')}" + for_terminal(incident.detail, multiline=True).replace("\n", "\n            "))
    lines.append(tr("show.timeline"))
    for event in events:
        lines.append(f"  {local_datetime(event.ts, tz)}  {event.kind.removeprefix('incident.'):<18} {who(event.actor)}{_summary(event, tz)}")
    return "\n".join(lines)


def _summary(event: Event, tz: tzinfo) -> str:
    """What the event says; a note's line breaks kept, its next lines indented under the first."""
    text = for_terminal(event_summary(event, tz), multiline=True).strip("\n")
    return "  " + text.replace("\n", "\n" + " " * 8) if text else ""


async def _history(session: Session, incident: int) -> Result:
    try:
        return await session.request(History(id=new_command_id(), incident=incident), timeout=15.0)
    except ClientError as exc:
        raise FeedError(str(exc), EXIT_UNREACHABLE) from None


async def run_read(args: argparse.Namespace, config: Config, session: Session) -> int:
    """`opsmon list` and `opsmon show`, on an open session: the incidents of the whole log."""
    status = getattr(args, "status", None) if args.command == "list" else None
    lang = getattr(args, "lang", None) or "en"
    state = await _incidents(session, config, status if status in INCIDENT_STATUSES else None)
    user = session.welcome.user
    if args.command == "list":
        chosen = select(state, args, config, user)
        if args.json:
            print(json.dumps([to_builtins(i) for i in chosen], ensure_ascii=False))
        elif chosen:
            print(table(chosen, config, utc_now(), lang))
        else:
            print(Translator(lang)("list.none"), file=sys.stderr)
        return EXIT_OK
    result = await _history(session, args.incident)
    if not result.ok:
        print(f"opsmon: error: {translate_refusal(result, lang, config.province.tz)}", file=sys.stderr)
        return EXIT_REFUSED
    events = result.events or []
    incident = state.incidents.get(args.incident)
    if incident is None:  # not in the answer (sent after it): fold its own events
        incident = fold(State(), events).incidents.get(args.incident)
    if incident is None:  # pragma: no cover - a history always starts with the report
        raise FeedError(f"incident {args.incident}: no report in its history", EXIT_REFUSED)
    if args.json:
        print(json.dumps({"incident": to_builtins(incident), "events": [to_builtins(e) for e in events]}, ensure_ascii=False))
    else:
        print(timeline(incident, events, config, lang))
    return EXIT_OK
