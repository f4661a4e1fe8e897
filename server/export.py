"""`opsmon-server export`: the event log for the post's record, as JSONL or CSV.

One row per event: seq, time in the province's zone and in UTC, kind, actor,
agency, incident, regency and a one-line summary. JSONL rows also carry the
event's `data`, so the export folds back (`event_of_row`, then
`opsmon.core.fold.fold`) to the same state as the database.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime, tzinfo
from typing import Any, TextIO

from opsmon.core.clock import format_ts, parse_ts
from opsmon.core.fold import concerns
from opsmon.core.protocol import Event
from opsmon.core.records import Actor
from opsmon.core.text import for_terminal
from opsmon.core.urgency import event_summary
from opsmon.core.wire import convert_payload, to_builtins

FORMATS = ("jsonl", "csv")

# A spreadsheet reads a cell starting with one of these as a formula
# (OWASP, CSV injection): `=HYPERLINK(...)`, `=cmd|' /C calc'!A0`, `+`, `-`, `@`,
# and a tab or carriage return before them. Leading spaces do not stop it.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A CSV cell no spreadsheet runs: text that would start a formula (after
    any leading whitespace) gets a single quote in front, which the spreadsheet
    shows as text. Numbers stay numbers."""
    if isinstance(value, str) and (value.startswith(FORMULA_STARTS) or value.lstrip().startswith(FORMULA_STARTS)):
        return "'" + value
    return value


class ExportError(ValueError):
    """A bad --since/--until; str() is the one line to print."""


def columns(tz_name: str) -> tuple[str, ...]:
    return ("seq", f"time_{tz_name.lower()}", "time_utc", "kind", "actor", "agency", "incident", "regency", "summary")


def parse_moment(text: str, tz: tzinfo, option: str) -> str:
    """`--since`/`--until`: an ISO date or date and time (no offset: the province's
    time), as a protocol timestamp."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ExportError(f"{option} {text!r}: not a date or date and time like 2024-02-14T21:00 or 2024-02-14T13:00Z") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return format_ts(when)


def row_of(event: Event, incident: int | None, regency: str | None, tz: tzinfo, tz_name: str) -> dict[str, Any]:
    local = parse_ts(event.ts).astimezone(tz)
    names = columns(tz_name)
    values = (
        event.seq,
        f"{local:%Y-%m-%d %H:%M:%S} {tz_name}",
        event.ts,
        event.kind,
        event.actor.name,
        event.actor.agency or "",
        incident if incident is not None else concerns(event),
        regency or "",
        for_terminal(event_summary(event, tz)),  # what a person reads: in the province's time
    )
    return dict(zip(names, values, strict=True))


def event_of_row(row: dict[str, Any]) -> Event:
    """A JSONL row back as the event it records."""
    actor = Actor(name=row["actor"], agency=row["agency"] or None)
    return Event(seq=row["seq"], ts=row["time_utc"], kind=row["kind"], actor=actor, data=convert_payload(row["kind"], row["data"]))


def write(rows: Iterable[tuple[Event, int | None, str | None]], out: TextIO, fmt: str, tz: tzinfo, tz_name: str) -> int:
    """Write every row; returns how many."""
    count = 0
    if fmt == "jsonl":
        for event, incident, regency in rows:
            out.write(json.dumps({**row_of(event, incident, regency, tz, tz_name), "data": to_builtins(event.data)}, ensure_ascii=False) + "\n")
            count += 1
        return count
    # Every field quoted, as OWASP's CSV-injection guidance asks, and every
    # text cell neutralised: notes, titles and names are wire text.
    writer = csv.DictWriter(out, fieldnames=columns(tz_name), lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writeheader()
    for event, incident, regency in rows:
        writer.writerow({name: spreadsheet_safe(value) for name, value in row_of(event, incident, regency, tz, tz_name).items()})
        count += 1
    return count


def read_jsonl(text: str) -> Iterator[Event]:
    for line in io.StringIO(text):
        if line.strip():
            yield event_of_row(json.loads(line))
