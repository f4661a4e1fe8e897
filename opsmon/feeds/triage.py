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
from opsmon.client.paging import every_incident
from opsmon.client.session import Session
from opsmon.core.clock import utc_now
from opsmon.core.commands import CommandError, command
from opsmon.core.config import Config
from opsmon.core.exits import EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE, FeedError
from opsmon.core.fold import fold
from opsmon.core.i18n import CATALOG, Translator, local_datetime, local_time, translate_refusal, who
from opsmon.core.protocol import Assign, Command, Event, History, Incidents, Merge, Result, SeverityChange, Snooze
from opsmon.core.records import AGENCIES, INCIDENT_STATUSES, SEVERITIES, Incident, User
from opsmon.core.state import State
from opsmon.core.text import for_terminal
from opsmon.core.urgency import ack_deadline, event_summary, is_mine, is_overdue, status_word, urgency_key
from opsmon.core.view import Lookup, event_said, told, told_lines
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


async def _incidents(session: Session, config: Config, status: str | None = None, timeout: float = 15.0, only: int | None = None) -> State:
    """The incidents the server holds over its whole log (`incidents`, not the
    snapshot, which leaves out those resolved more than a day ago); `only`: that one
    (a page of one from just before it), not the night's."""
    try:
        if only is not None:
            result = await session.request(Incidents(id=new_command_id(), after=only - 1, limit=1, whole=True), timeout=timeout)
        else:
            result = await every_incident(lambda command: session.request(command, timeout=timeout), status=status)
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


def _state_word(incident: Incident, config: Config, tr: Translator) -> str:
    """Status as a word, never by colour: snoozed ones say until when."""
    word = status_word(incident)  # the screens' word (urgency.status_word)
    if word == "merged":
        return tr("cli.state.merged", id=incident.merged_into)
    if word == "snoozed" and incident.snoozed_until is not None:
        return tr("cli.state.snoozed", time=local_time(incident.snoozed_until, config.province.tz))
    return tr(f"cli.state.{word}") if f"cli.state.{word}" in CATALOG else for_terminal(word)


def table(incidents: list[Incident], config: Config, now: datetime, lang: str = "en") -> str:
    """The incidents as columns; `lang` "id": its words and the config's labels in Indonesian."""
    tr = Translator(lang)
    lookup = Lookup(config, tr.lang)
    rows = [tuple(tr(f"cli.col.{key}") for key in ("id", "status", "severity", "regency", "reports", "owner", "reported", "title"))]
    for i in incidents:
        regency = config.regency(i.regency)
        overdue = is_overdue(i, now)
        severity = i.severity if tr.lang == "en" else lookup.severity(i.severity)
        rows.append(
            (
                str(i.id),
                _state_word(i, config, tr) + (" " + tr("cli.state.overdue") if overdue else ""),
                severity + (f" L{i.level}" if i.level else ""),
                regency.short if regency else for_terminal(i.regency),
                f"x{i.reports}",
                who(i.owner) if i.owner else "-",
                local_datetime(i.reported, config.province.tz),
                for_terminal(i.title),
            )
        )
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(cell.ljust(widths[c]) for c, cell in enumerate(row[:-1])) + "  " + row[-1] for row in rows)


def _unmarked(body: Any, user: User) -> Any:
    """An exercise's inject mark is the trainer's (an admin token): a trainee's JSON shows a field report like any other."""
    if user.role != "admin" and isinstance(body, dict):
        body.pop("inject", None)
    return body


def timeline(incident: Incident, events: list[Event], config: Config, lang: str = "en", *, trainer: bool = False) -> str:
    """One incident and its history; `lang` "id": in Indonesian (kinds, severities, words);
    `trainer` (an admin token): an inject says so on its reported line (the trainees' never does)."""
    tz = config.province.tz
    tr = Translator(lang)
    lookup = Lookup(config, tr.lang)
    english = tr.lang == "en"
    regency = config.regency(incident.regency)
    severity = incident.severity if english else lookup.severity(incident.severity)
    category = incident.category if english else lookup.category(incident.category)
    labels = {key: tr(f"cli.show.{key}") for key in ("status", "where", "category", "reported", "owner", "ack_due", "told", "detail")}
    pad = max(10, *(len(label) + 2 for label in labels.values()))

    def line(key: str, text: str) -> str:
        return f"  {labels[key].ljust(pad)}{text}"

    lines = [
        f"#{incident.id} {for_terminal(incident.title)}",
        line("status", tr("cli.show.status_line", state=_state_word(incident, config, tr), severity=severity, level=incident.level, reports=incident.reports)),
        line("where", f"{regency.name if regency else for_terminal(incident.regency)}; {for_terminal(incident.location) or '-'}"),
        line("category", category),
        line(
            "reported",
            tr("cli.show.by", time=local_datetime(incident.reported, tz), who=who(incident.reporter))
            + (" (inject: the trainer sent it)" if trainer and incident.inject else ""),
        ),
        line("owner", who(incident.owner) if incident.owner else "-"),
    ]
    due = ack_deadline(incident)  # none once acknowledged, snoozed, merged or resolved: never a stale one
    if due is not None:
        escalation = tr("cli.show.next_escalation", time=local_datetime(incident.escalate_due, tz)) if incident.escalate_due else ""
        lines.append(line("ack_due", local_datetime(due, tz) + escalation))
    reached = told(events)
    if reached:  # whom the chain's steps told and what each channel did: the detail screen's words
        lines.append(line("told", for_terminal(" · ".join(told_lines(reached, tr)))))
    if incident.detail:
        lines.append(line("detail", for_terminal(incident.detail, multiline=True).replace("\n", "\n  " + " " * pad)))
    lines.append(tr("cli.show.timeline"))
    for event in events:
        if english:
            kind, said = event.kind.removeprefix("incident."), _summary(event, tz)
        else:
            kind = tr(f"event.{event.kind}", level=getattr(event.data, "level", "")) if f"event.{event.kind}" in CATALOG else event.kind
            text = event_said(event, lookup, tr, tz)
            said = f"  {for_terminal(text)}" if text else ""
        lines.append(f"  {local_datetime(event.ts, tz)}  {kind:<18} {who(event.actor)}{said}")
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
    only = args.incident if args.command == "show" else None
    state = await _incidents(session, config, status if status in INCIDENT_STATUSES else None, only=only)
    user = session.welcome.user
    if args.command == "list":
        chosen = select(state, args, config, user)
        if args.json:
            print(json.dumps([_unmarked(to_builtins(i), user) for i in chosen], ensure_ascii=False))
        elif chosen:
            print(table(chosen, config, utc_now(), getattr(args, "lang", None) or "en"))
        else:
            print(Translator(getattr(args, "lang", None) or "en")("cli.no_incidents"), file=sys.stderr)
        return EXIT_OK
    result = await _history(session, args.incident)
    if not result.ok:
        reason = translate_refusal(result, getattr(args, "lang", None) or "en", config.province.tz, {r.code: r.short for r in config.regencies})
        print(f"opsmon: error: {reason}", file=sys.stderr)
        return EXIT_REFUSED
    events = result.events or []
    incident = state.incidents.get(args.incident)
    if incident is None:  # not in the answer (sent after it): fold its own events
        incident = fold(State(), events).incidents.get(args.incident)
    if incident is None:  # pragma: no cover - a history always starts with the report
        raise FeedError(f"incident {args.incident}: no report in its history", EXIT_REFUSED)
    if args.json:
        shown = [to_builtins(e) for e in events]
        for event in shown:
            _unmarked(event["data"], user)
        print(json.dumps({"incident": _unmarked(to_builtins(incident), user), "events": shown}, ensure_ascii=False))
    else:
        print(timeline(incident, events, config, getattr(args, "lang", None) or "en", trainer=user.role == "admin"))
    return EXIT_OK
