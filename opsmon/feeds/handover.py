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
from datetime import datetime
from typing import Any

from opsmon.client.failures import ClientError
from opsmon.client.handshake import new_command_id
from opsmon.client.paging import every_incident
from opsmon.client.session import Session
from opsmon.core.clock import format_ts, utc_now
from opsmon.core.config import Config
from opsmon.core.exits import EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE, FeedError
from opsmon.core.i18n import Translator, translate_refusal
from opsmon.core.protocol import Handover, Snapshot, Welcome
from opsmon.core.records import AGENCIES, Incident, StageRow
from opsmon.core.view import HandoverSheet, handover_lines, handover_sheet, shift_began


def add_parser(commands: Any, feeder: Any, command_id_option: Any) -> None:
    handover = feeder(commands, "handover", "the shift handover at a desk: what is left open; --confirm (outgoing) or --accept (incoming) records it")
    handover.add_argument("--desk", choices=AGENCIES, help="the desk (default: the token's agency)")
    step = handover.add_mutually_exclusive_group()
    step.add_argument("--confirm", action="store_true", help="the outgoing officer: I hand this over")
    step.add_argument("--accept", action="store_true", help="the incoming officer: I take this over")
    handover.add_argument("--note", default="", help="a word for the next shift")
    command_id_option(handover)


def sheet(config: Config, welcome: Welcome, desk: str, incidents: list[Incident], stages: list[StageRow], now: datetime) -> HandoverSheet:
    """What the desk's shift leaves open in the token's regencies (opsmon.core.view, as the
    screen's); the shifts are the server's rosters (the welcome's), as its `handover` counts them."""
    desks = {c.key: c.desk for c in config.categories}
    rosters = welcome.config.rosters
    return handover_sheet(incidents, stages, desk=desk, desks=desks, regencies=welcome.user.regencies, rosters=rosters, tz=config.province.tz, now=now)


def text(config: Config, welcome: Welcome, desk: str, incidents: list[Incident], stages: list[StageRow], now: datetime, lang: str) -> str:
    """The handover as the officers read it: one screenful, in the post's language."""
    return "\n".join(line for _, line in handover_lines(sheet(config, welcome, desk, incidents, stages, now), config, lang))


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
    now = utc_now()
    began, _ = shift_began(session.welcome.config.rosters, desk, user.regencies, now, config.province.tz)
    try:
        # Every unresolved incident, and those resolved since the shift began: not the whole night's.
        result = await every_incident(lambda command: session.request(command, timeout=15.0), since=format_ts(began))
    except ClientError as exc:
        raise FeedError(str(exc), EXIT_UNREACHABLE) from None
    if not result.ok:
        raise FeedError(translate_refusal(result, "en", config.province.tz), EXIT_REFUSED)
    stages = await _snapshot_stages(session)
    print(text(config, session.welcome, desk, result.incidents or [], stages, now, lang))
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
