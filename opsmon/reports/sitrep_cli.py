"""`opsmon sitrep`: a situation report from a live server.

It connects as any client does: one session for the snapshot (the state
now, and the post's last numbered report) and every incident of the log, a
second that resumes after the last report's `sitrep.numbered` for the events
since, which give the escalations. A preview takes no number; `--save` asks
the server to number the report (`sitrep`: one numbering for the post,
whoever saves and wherever), builds it over the period the server gave, and
saves it in every configured format into `[sitrep] folder`, with a line in
the folder's ledger (the local record).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from opsmon.client.failures import ClientError, Unauthorized
from opsmon.client.handshake import URLs, new_command_id
from opsmon.client.paging import every_incident
from opsmon.client.session import Session
from opsmon.core.clock import parse_ts, utc_now
from opsmon.core.config import Config
from opsmon.core.exits import EXIT_OK, EXIT_REFUSED, EXIT_UNAUTHORIZED, EXIT_UNREACHABLE, EXIT_USAGE, FeedError
from opsmon.core.fold import from_snapshot
from opsmon.core.geo import BoundariesError, province_shape
from opsmon.core.i18n import who
from opsmon.core.protocol import Batch, Event, Sitrep, SitrepPeriod, Snapshot, Welcome
from opsmon.core.state import State
from opsmon.reports.sitrep import FORMATS, Ledger, build, parse_since, render
from opsmon.training.exercise import ExerciseClock

CLIENT = "opsmon-sitrep"


async def fetch(
    url: URLs, token: str, *, cafile: str | None = None, resume: tuple[str, int] | None = None, timeout: float = 15.0, last_report: bool = False
) -> tuple[Welcome, State, list[Event]]:
    """The state now (the snapshot's stages; every incident of the whole log, asked
    with `incidents`, since a snapshot leaves out those resolved more than a day
    ago) and the events after `resume` = (epoch, seq) (from the start when the
    epoch differs), or with `last_report` after the post's last numbered report
    (the snapshot says which). No events when the server holds too few to resume."""
    # A paged snapshot's first page: its stages are whole; the incidents come whole, in pages.
    session = await Session.open(url, token, client=CLIENT, cafile=cafile, timeout=timeout, page=1)
    try:
        welcome = session.welcome
        snapshot = await session.next_frame(timeout)
        answer = await every_incident(lambda command: session.request(command, timeout=timeout)) if isinstance(snapshot, Snapshot) else None
    finally:
        await session.close()
    if not isinstance(snapshot, Snapshot):
        raise ClientError(f"{url}: expected a snapshot, got {type(snapshot).__name__}")
    if answer is None or not answer.ok:
        raise ClientError(f"{url}: incidents refused: {answer.message if answer is not None else '?'}")
    state = from_snapshot(snapshot)
    state.incidents = {i.id: i for i in answer.incidents or []}
    if last_report:
        resume = (welcome.epoch, state.sitrep_seq)
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


async def number_report(url: URLs, token: str, *, cafile: str | None = None, timeout: float = 15.0) -> tuple[str, int, SitrepPeriod]:
    """Ask the server for the post's next report number (`sitrep`): (epoch, the seq of
    its `sitrep.numbered` event, the number and period). Refused: FeedError, in one line."""
    session = await Session.open(url, token, client=CLIENT, cafile=cafile, timeout=timeout, page=1)  # not the night: a number
    try:
        answer = await session.request(Sitrep(id=new_command_id()), timeout=timeout)
        epoch = session.welcome.epoch
    finally:
        await session.close()
    if not answer.ok or answer.sitrep is None or answer.seq is None:
        raise FeedError(f"sitrep --save: the server did not number the report: {answer.message or answer.code or '?'}", EXIT_REFUSED)
    return epoch, answer.seq, answer.sitrep


def save_numbered(args: argparse.Namespace, config: Config, url: URLs, token: str, cafile: str | None) -> int:
    """--save: the server numbers the report (one numbering for the post, whoever saves it
    and wherever), then it is built over its period from the log and saved in every
    [sitrep] format into [sitrep] folder, with a line in the folder's ledger (the local record)."""
    lang = args.lang or config.province.language
    formats = config.sitrep.formats
    try:
        shape = province_shape(config.province.boundaries) if "pdf" in formats else None
    except BoundariesError as exc:
        raise FeedError(f"config: province.boundaries: {exc}", EXIT_USAGE) from None
    ledger = Ledger(config.sitrep_folder())
    try:  # the folder first: a report the server numbered must not be lost to a folder we cannot use
        ledger.last()
        ledger.folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FeedError(f"[sitrep] folder {ledger.folder}: cannot read {ledger.path.name} ({exc.strerror or exc})", EXIT_USAGE) from None
    try:
        epoch, seq, period = asyncio.run(number_report(url, token, cafile=cafile))
        welcome, state, events = asyncio.run(fetch(url, token, cafile=cafile, resume=(epoch, period.after)))
    except Unauthorized as exc:
        raise FeedError(str(exc), EXIT_UNAUTHORIZED) from None
    except (ClientError, TimeoutError) as exc:
        raise FeedError(str(exc) or "no answer from the server", EXIT_UNREACHABLE) from None
    doc = build(
        welcome.config,
        state,
        [e for e in events if e.seq <= seq],
        now=parse_ts(period.until),
        since=parse_ts(period.since) if period.since is not None else None,
        number=period.number,
        by=who(welcome.user.actor),
        post=config.sitrep.post,
        exercise=welcome.exercise,
        signatory=config.sitrep.signature(),
    )
    outputs: dict[str, bytes] = {f: render(doc, f, lang, shape=shape) for f in formats}
    try:
        paths = ledger.keep(doc, outputs, seq=seq, epoch=epoch)
    except OSError as exc:
        raise FeedError(f"[sitrep] folder {ledger.folder}: cannot write ({exc.strerror or exc})", EXIT_USAGE) from None
    sys.stdout.write(render(doc, "text", lang).decode("utf-8"))
    sys.stdout.flush()
    print(f"opsmon: report No. {doc['number']} saved: {', '.join(str(p) for p in paths)}", file=sys.stderr)
    return EXIT_OK


def run_sitrep_cli(args: argparse.Namespace, config: Config, url: URLs, token: str, cafile: str | None) -> int:
    """A preview (stdout or -o FILE: no number, the period not moved), or with --save the
    next numbered report in every [sitrep] format, saved into [sitrep] folder."""
    if args.save and (args.since or args.format or args.output):
        raise FeedError("--save writes the next numbered report in every [sitrep] format into [sitrep] folder: without --since, --format or -o", EXIT_USAGE)
    if args.save:
        return save_numbered(args, config, url, token, cafile)
    fmt = args.format or "text"
    if fmt == "pdf" and not args.output:
        raise FeedError("--format pdf writes a file: give -o FILE.pdf", EXIT_USAGE)
    lang = args.lang or config.province.language
    if args.since:
        _since(args.since, utc_now(), config)  # a mistyped --since is refused before connecting
    try:
        shape = province_shape(config.province.boundaries) if fmt == "pdf" else None
    except BoundariesError as exc:
        raise FeedError(f"config: province.boundaries: {exc}", EXIT_USAGE) from None
    try:
        welcome, state, events = asyncio.run(fetch(url, token, cafile=cafile, last_report=not args.since))
    except Unauthorized as exc:
        raise FeedError(str(exc), EXIT_UNAUTHORIZED) from None
    except (ClientError, TimeoutError) as exc:
        raise FeedError(str(exc) or "no answer from the server", EXIT_UNREACHABLE) from None
    # The period ends after everything fetched (a client clock a little behind the
    # server's must not push fetched events out of the preview).
    now = max([utc_now(), *(parse_ts(e.ts) for e in events[-1:])])
    if welcome.exercise is not None:
        now = ExerciseClock.from_welcome(welcome.exercise)()  # an exercise reports on its scenario time
    # Since --since (read on the report's own clock: "08:00" in an exercise is the
    # scenario's morning, not today's), or since the post's last numbered report.
    since = parse_ts(state.sitrep_until) if state.sitrep_until is not None else None
    if args.since:
        since = _since(args.since, now, config)
    doc = build(
        welcome.config,
        state,
        events,
        now=now,
        since=since,
        number=None,
        by=who(welcome.user.actor),
        post=config.sitrep.post,
        exercise=welcome.exercise,
        signatory=config.sitrep.signature(),
    )
    return _preview(render(doc, fmt, lang, shape=shape), args.output)


def _since(text: str, now: datetime, config: Config) -> datetime:
    """--since on the report's clock; a moment after the period's end is refused, not
    turned into an empty report that looks like a quiet night."""
    tz = config.province.tz
    try:
        since = parse_since(text, now, tz)
    except ValueError as exc:
        raise FeedError(f"--since: {exc}", EXIT_USAGE) from None
    if since > now:
        raise FeedError(f"--since {text}: after the report's end ({now.astimezone(tz):%d/%m/%Y %H:%M} {tz.tzname(None)})", EXIT_USAGE)
    return since


def _preview(data: bytes, output: str | None) -> int:
    if output:
        out = Path(output)
        try:
            out.write_bytes(data)
        except OSError as exc:
            raise FeedError(f"-o {out}: cannot write ({exc.strerror or exc})", EXIT_USAGE) from None
    else:
        sys.stdout.write(data.decode("utf-8"))
        sys.stdout.flush()
    return EXIT_OK


def add_parser(commands: Any, connection: Any) -> None:
    """The `sitrep` subcommand (its connection options come from the caller)."""
    parser = commands.add_parser(
        "sitrep",
        help="a situation report (laporan situasi) from the live server: text for WhatsApp, md, pdf or json",
        description="Connect to the server, read the state and the events since the last saved report, and write a situation report: "
        "progress (TPS counted, kecamatan recapitulated, plenaries), every regency's stage, incidents since the last saved report "
        "(or --since) by severity, category and regency, open critical/high ones, escalated incidents and resolutions. "
        "Without --save it is a preview: no number, and the next saved report's period does not move. "
        "With --save it is the next numbered report, saved in every [sitrep] format into [sitrep] folder (its text on stdout).",
    )
    connection(parser)
    parser.add_argument("--save", action="store_true", help="save the next numbered report in every [sitrep] format into [sitrep] folder, and print its text")
    parser.add_argument(
        "--since",
        metavar="TIME",
        help="preview from HH:MM (today in the province's time; an exercise's scenario day), 'YYYY-MM-DD HH:MM' or RFC 3339 (default: the last saved report)",
    )
    parser.add_argument("--format", choices=FORMATS, default=None, help="preview as text (WhatsApp, default), md, pdf (needs -o) or json")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the preview to FILE instead of standard output")
    parser.add_argument("--lang", choices=("id", "en"), default=argparse.SUPPRESS, help="language of the report (default: [province] language)")
