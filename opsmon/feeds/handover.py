"""`opsmon handover`: the shift handover at a desk (issue 25 item 5).

What the shift leaves open in the officer's scope (the desk's unresolved
incidents, most urgent first, with owners, deadlines and the notes written
since the shift began), and the stages blocked; `--confirm` (the outgoing
officer) or `--accept` (the incoming one) records it as a `shift.handover`
event. The shift is the roster's in force now (`[[rosters]]` in the config);
without a roster, the last 12 hours.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from typing import Any

from opsmon.client.failures import ClientError
from opsmon.client.handshake import new_command_id
from opsmon.client.session import Session
from opsmon.core.clock import parse_ts, utc_now
from opsmon.core.config import Config
from opsmon.core.exits import EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE, FeedError
from opsmon.core.i18n import Translator, local_time, translate_refusal, who
from opsmon.core.people import Policy
from opsmon.core.protocol import Handover, Incidents, Snapshot
from opsmon.core.records import AGENCIES, Incident, StageRow, User
from opsmon.core.text import for_terminal
from opsmon.core.urgency import urgency_key

WITHOUT_ROSTER = timedelta(hours=12)


def add_parser(commands: Any, feeder: Any, command_id_option: Any) -> None:
    handover = feeder(commands, "handover", "the shift handover at a desk: what is left open; --confirm (outgoing) or --accept (incoming) records it")
    handover.add_argument("--desk", choices=AGENCIES, help="the desk (default: the token's agency)")
    step = handover.add_mutually_exclusive_group()
    step.add_argument("--confirm", action="store_true", help="the outgoing officer: I hand this over")
    step.add_argument("--accept", action="store_true", help="the incoming officer: I take this over")
    handover.add_argument("--note", default="", help="a word for the next shift")
    command_id_option(handover)


def shift_began(config: Config, desk: str, now: datetime) -> tuple[datetime, str]:
    """When the desk's shift in force began, and its span ("19:00-07:00"; "" without a roster)."""
    policy = Policy.of(config)
    roster = policy.roster_for(desk, "")
    if roster is None:
        return now - WITHOUT_ROSTER, ""
    shift = policy.shift_at(roster, now)
    local = now.astimezone(config.province.tz)
    hours, minutes = (int(part) for part in shift.start.split(":"))
    start = local.replace(hour=hours, minute=minutes, second=0, microsecond=0)
    if start > local:
        start -= timedelta(days=1)
    return start, f"{shift.start}-{shift.end}"


def text(config: Config, desk: str, user: User, incidents: list[Incident], stages: list[StageRow], now: datetime, lang: str) -> str:
    """The handover as the officers read it: one screenful, in the post's language."""
    tr = Translator(lang)
    tz = config.province.tz
    began, span = shift_began(config, desk, now)
    desks = {c.key: c.desk for c in config.categories}
    mine = sorted(
        (i for i in incidents if i.status != "resolved" and desks.get(i.category, "KPU") == desk and (user.regencies is None or i.regency in user.regencies)),
        key=urgency_key,
    )
    lines = [
        tr("handover.title", desk=desk, shift=span or "-", began=local_time(began, tz), tz=config.province.timezone_name),
        tr("handover.open", n=len(mine)),
    ]
    for incident in mine:
        regency = config.regency(incident.regency)
        severity = config.severity(incident.severity)
        label = severity.label.get(lang).upper() if severity is not None else incident.severity
        status = tr("handover.unacked") if incident.status == "open" else tr("handover.acked", who=who(incident.acknowledged_by))
        level = f" L{incident.level}" if incident.level else ""
        owner = who(incident.owner) if incident.owner else "-"
        deadline = local_time(incident.ack_due, tz) if incident.status == "open" else "-"
        lines.append(
            f"#{incident.id} {regency.short if regency else incident.regency} {label}{level} · {status} · "
            + tr("handover.owner", owner=owner)
            + " · "
            + tr("handover.deadline", time=deadline)
        )
        lines.append(f"   {for_terminal(incident.title)}")
        for note in incident.notes:
            if parse_ts(note.ts) >= began:
                lines.append(f"   {local_time(note.ts, tz)} {who(note.by)}: {for_terminal(note.text)}")
    blocked = [row for row in stages if row.status == "blocked" and (user.regencies is None or row.regency in user.regencies)]
    lines.append(tr("handover.blocked", n=len(blocked)))
    for row in blocked:
        regency = config.regency(row.regency)
        stage = config.stage(row.stage)
        name = regency.short if regency else config.province.name
        lines.append(f"   {name} {stage.label.get(lang) if stage else row.stage} {row.done}/{row.total}: {for_terminal(row.note or '-')}")
    return "\n".join(lines)


async def _snapshot_stages(session: Session) -> list[StageRow]:
    """The stage rows of the snapshot the session was greeted with (follow=True)."""
    while True:
        try:
            frame = await session.next_frame(5.0)
        except (TimeoutError, ClientError):
            return []
        if isinstance(frame, Snapshot):
            return list(frame.stages)


async def run(args: argparse.Namespace, config: Config, session: Session) -> int:
    lang = getattr(args, "lang", None) or config.province.language
    user = session.welcome.user
    desk = args.desk or user.agency
    if desk not in AGENCIES:
        raise FeedError(f"--desk: the token's agency {desk!r} is no desk; give --desk {' or '.join(AGENCIES)}", EXIT_USAGE)
    try:
        result = await session.request(Incidents(id=new_command_id()), timeout=15.0)
    except ClientError as exc:
        raise FeedError(str(exc), EXIT_UNREACHABLE) from None
    if not result.ok:
        raise FeedError(translate_refusal(result, "en", config.province.tz), EXIT_REFUSED)
    stages = await _snapshot_stages(session)
    print(text(config, desk, user, result.incidents or [], stages, utc_now(), lang))
    if not (args.confirm or args.accept):
        return EXIT_OK
    note = args.note.strip()
    if len(note) > 4000:
        raise FeedError("--note may be at most 4000 characters", EXIT_USAGE)
    command = Handover(id=args.command_id or new_command_id(), desk=desk, step="confirm" if args.confirm else "accept", note=note)
    try:
        answer = await session.request(command, timeout=15.0)
    except ClientError as exc:
        raise FeedError(str(exc), EXIT_UNREACHABLE) from None
    if not answer.ok:
        raise FeedError(translate_refusal(answer, lang, config.province.tz), EXIT_REFUSED)
    print(Translator(lang)("handover.confirmed" if args.confirm else "handover.accepted", seq=answer.seq))
    return EXIT_OK
