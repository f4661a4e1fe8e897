"""`opsmon sitrep`: a situation report from a live server.

It connects as any client does: one session for the snapshot (the state
now), a second that resumes from the last report's seq (or from the start)
for the events since, which give the escalations. The report is numbered on
from the ledger in `[sitrep] folder`, and recorded there.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from opsmon.client.failures import ClientError, Unauthorized
from opsmon.client.handshake import URLs, new_command_id
from opsmon.client.session import Session
from opsmon.core.clock import parse_ts, utc_now
from opsmon.core.config import Config
from opsmon.core.exits import EXIT_OK, EXIT_UNAUTHORIZED, EXIT_UNREACHABLE, EXIT_USAGE, FeedError
from opsmon.core.geo import BoundariesError, province_shape
from opsmon.core.i18n import who
from opsmon.core.protocol import Batch, Event, Incidents, Snapshot, Welcome
from opsmon.core.state import State
from opsmon.reports.sitrep import FORMATS, Ledger, build, parse_since, render
from opsmon.training.exercise import ExerciseClock

CLIENT = "opsmon-sitrep"


async def fetch(
    url: URLs, token: str, *, cafile: str | None = None, resume: tuple[str, int] | None = None, timeout: float = 15.0
) -> tuple[Welcome, State, list[Event]]:
    """The state now (the snapshot's stages; every incident of the whole log, asked
    with `incidents`, since a snapshot leaves out those resolved more than a day
    ago) and the events after `resume` = (epoch, seq) (from the start when the
    epoch differs). No events when the server holds too few to resume."""
    session = await Session.open(url, token, client=CLIENT, cafile=cafile, timeout=timeout)
    try:
        welcome = session.welcome
        snapshot = await session.next_frame(timeout)
        answer = await session.request(Incidents(id=new_command_id()), timeout=timeout) if isinstance(snapshot, Snapshot) else None
    finally:
        await session.close()
    if not isinstance(snapshot, Snapshot):
        raise ClientError(f"{url}: expected a snapshot, got {type(snapshot).__name__}")
    if answer is None or not answer.ok:
        raise ClientError(f"{url}: incidents refused: {answer.message if answer is not None else '?'}")
    state = State(seq=snapshot.seq)
    state.incidents = {i.id: i for i in answer.incidents or []}
    state.stages = {(r.regency, r.stage): r for r in snapshot.stages}
    since = resume[1] if resume is not None and resume[0] == welcome.epoch else 0
    events: list[Event] = []
    if snapshot.seq > since:
        log = await Session.open(url, token, client=CLIENT, cafile=cafile, epoch=welcome.epoch, since=since, timeout=timeout)
        try:
            while not events or events[-1].seq < snapshot.seq:
                frame = await log.next_frame(timeout)
                if isinstance(frame, Batch):
                    events.extend(frame.events)
                elif isinstance(frame, Event):
                    events.append(frame)
                elif isinstance(frame, Snapshot):
                    break  # too far behind to resume: the report goes without its escalations' times
        finally:
            await log.close()
    return welcome, state, [e for e in events if e.seq <= snapshot.seq]


def run_sitrep_cli(args: argparse.Namespace, config: Config, url: URLs, token: str, cafile: str | None) -> int:
    fmt = args.format
    if fmt == "pdf" and not args.output:
        raise FeedError("--format pdf writes a file: give -o FILE.pdf", EXIT_USAGE)
    lang = args.lang or config.province.language
    now = utc_now()
    since_arg = None
    if args.since:
        try:
            since_arg = parse_since(args.since, now, config.province.tz)
        except ValueError as exc:
            raise FeedError(f"--since: {exc}", EXIT_USAGE) from None
    try:
        shape = province_shape(config.province.boundaries) if fmt == "pdf" else None
    except BoundariesError as exc:
        raise FeedError(f"config: province.boundaries: {exc}", EXIT_USAGE) from None
    ledger = Ledger(config.sitrep_folder())
    last = ledger.last()
    try:
        welcome, state, events = asyncio.run(fetch(url, token, cafile=cafile, resume=(last.epoch, last.seq) if last and since_arg is None else None))
    except Unauthorized as exc:
        raise FeedError(str(exc), EXIT_UNAUTHORIZED) from None
    except (ClientError, TimeoutError) as exc:
        raise FeedError(str(exc) or "no answer from the server", EXIT_UNREACHABLE) from None
    since = since_arg if since_arg is not None else (parse_ts(last.at) if last and last.epoch == welcome.epoch else None)
    if welcome.exercise is not None:
        now = ExerciseClock.from_welcome(welcome.exercise)()  # an exercise reports on its scenario time
    doc = build(
        welcome.config,
        state,
        events,
        now=now,
        since=since,
        number=ledger.next_number(),
        by=who(welcome.user.actor),
        post=config.sitrep.post,
        exercise=welcome.exercise,
    )
    data = render(doc, fmt, lang, shape=shape)
    if args.output:
        out = Path(args.output)
        try:
            out.write_bytes(data)
        except OSError as exc:
            raise FeedError(f"-o {out}: cannot write ({exc.strerror or exc})", EXIT_USAGE) from None
    else:
        sys.stdout.write(data.decode("utf-8"))
        sys.stdout.flush()
    try:
        ledger.record_doc(doc, seq=state.seq, epoch=welcome.epoch, files=(str(args.output),) if args.output else ())
    except OSError as exc:
        print(f"opsmon: warning: report No. {doc['number']} not recorded in {ledger.path}: {exc.strerror or exc}", file=sys.stderr)
    return EXIT_OK


def add_parser(commands: Any, connection: Any) -> None:
    """The `sitrep` subcommand (its connection options come from the caller)."""
    parser = commands.add_parser(
        "sitrep",
        help="a situation report (laporan situasi) from the live server: text for WhatsApp, md, pdf or json",
        description="Connect to the server, read the state and the events since the last report, and write a situation report: "
        "progress (TPS counted, kecamatan recapitulated, plenaries), every regency's stage, incidents since the last report "
        "(or --since) by severity, category and regency, open critical/high ones, escalations and resolutions. "
        "The report is numbered on from the ledger in [sitrep] folder.",
    )
    connection(parser)
    parser.add_argument("--since", metavar="TIME", help="HH:MM (today, the province's time), 'YYYY-MM-DD HH:MM' or RFC 3339 (default: the last report)")
    parser.add_argument("--format", choices=FORMATS, default="text", help="text (WhatsApp, default), md, pdf (needs -o) or json")
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    parser.add_argument("--lang", choices=("id", "en"), default=argparse.SUPPRESS, help="language of the report (default: [province] language)")
