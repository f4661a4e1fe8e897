"""`opsmon import FILE`: reports and stage updates in bulk, safe to run again.

Every line becomes one command whose id is the line's own `id`, or one
derived from the file name, line number and content. The server answers a
repeated id with its first answer and does nothing twice, so re-running an
import after a failure (or by mistake) creates nothing new. A line whose
answer is marked `repeat` (or names an event from before this run began:
seq <= the head seq in the welcome) is counted as "already imported".

JSONL: one object per line, the protocol's command shape or a flat one:
  {"type": "report", "id": "bjm-17", "regency": "6371", "category": "logistik",
   "severity": "high", "title": "...", "detail": "...", "location": "..."}
  {"type": "stage", "regency": "6303", "stage": "rekap_ppk", "done": 12, "blocked": false, "note": null}
  (`done` may be left out with "blocked": true or a note: the server keeps its count;
  a province stage such as rekap_provinsi takes no `regency`)
  (also ack/escalate/note/resolve/reopen/snooze/assign/severity/unack/merge with
  "incident": ID, in the protocol's shape, e.g.
  {"type": "assign", "incident": 12, "to": {"name": "Rahmat", "agency": "Bawaslu"}}
  {"type": "snooze", "incident": 12, "minutes": 30, "note": "Menunggu PLN"})
CSV: a header row with the columns
  kind,id,regency,category,severity,title,detail,location,stage,done,blocked,note
where kind is report or stage and unused columns stay empty. Every physical
line is one record: a cell may be quoted (to hold commas) but never spans
lines, so a line with an unclosed quote is rejected with its number and
every other line is still read.
Blank lines, and JSONL lines starting with #, are skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsmon.client.handshake import URLs
from opsmon.core.commands import INCIDENT_VERBS, CommandError, command
from opsmon.core.config import Config
from opsmon.core.exits import EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE, FeedError
from opsmon.core.protocol import Command, Result
from opsmon.core.text import for_terminal
from opsmon.feeds.feeder import (
    LocalInvalid,
    Outcome,
    Pipeline,
    check_category,
    check_severity,
    check_stage,
    feeder_session,
    pace_for,
    resolve_regency,
    stage_regency,
)

CSV_COLUMNS = ("kind", "id", "regency", "category", "severity", "title", "detail", "location", "stage", "done", "blocked", "note")
REPORT_FIELDS = ("regency", "category", "severity", "title", "detail", "location")
TRUE = {"1", "true", "yes", "ya", "y"}
FALSE = {"", "0", "false", "no", "tidak", "n"}


@dataclass
class Line:
    number: int
    command: Command | None = None
    error: str | None = None


@dataclass
class ImportSummary:
    file: str
    accepted: int = 0
    already: int = 0
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # (line, code, message)
    refusals: dict[int, Result] = field(default_factory=dict)  # line -> the server's refusal (its reason and params)

    @property
    def total(self) -> int:
        return self.accepted + self.already + len(self.rejected)

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "lines": self.total,
            "accepted": self.accepted,
            "already_imported": self.already,
            "rejected": len(self.rejected),
            "errors": [{"line": n, "code": code, "message": message, **self._reason(n)} for n, code, message in sorted(self.rejected)],
        }

    def _reason(self, number: int) -> dict[str, Any]:
        refusal = self.refusals.get(number)
        if refusal is None or refusal.reason is None:
            return {}
        return {"reason": refusal.reason, "params": refusal.params or {}}


def derive_id(file_name: str, number: int, content: str) -> str:
    """Deterministic per (file name, line number, content): a re-run sends the same ids."""
    digest = hashlib.sha256(f"{file_name}\0{number}\0{content.strip()}".encode()).hexdigest()
    return f"imp-{digest[:40]}"


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise LocalInvalid(f"{name} must be true or false, not {value!r}")


def _done(value: Any) -> int:
    if isinstance(value, bool):
        raise LocalInvalid("done must be a whole number")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise LocalInvalid(f"done must be a whole number, not {value!r}") from None


def to_command(raw: dict[str, Any], config: Config, default_id: str) -> Command:
    """One record (from a JSONL object or a CSV row) as a protocol command, checked
    against the config; raises LocalInvalid naming the problem."""
    kind = raw.get("type", raw.get("kind"))
    if not isinstance(kind, str) or not kind.strip():
        raise LocalInvalid(f"missing `type` (or `kind`): report, stage, {', '.join(INCIDENT_VERBS)}")
    kind = kind.strip().lower()
    command_id = raw.get("id") or default_id
    if not isinstance(command_id, str) or not 1 <= len(command_id) <= 64:
        raise LocalInvalid("`id` must be a string of 1 to 64 characters")
    body: dict[str, Any]
    if kind == "report":
        nested = raw.get("incident")
        draft: dict[str, Any] = nested if isinstance(nested, dict) else {k: raw[k] for k in REPORT_FIELDS if raw.get(k) is not None}
        for key in ("regency", "category", "severity", "title"):
            if not str(draft.get(key) or "").strip():
                raise LocalInvalid(f"a report needs `{key}`")
        regency = resolve_regency(config, str(draft["regency"]))
        check_category(config, str(draft["category"]))
        check_severity(config, str(draft["severity"]))
        body = {"type": "report", "id": command_id, "incident": {**{k: v for k, v in draft.items() if v is not None}, "regency": regency.code}}
    elif kind == "stage":
        if raw.get("stage") in (None, ""):
            raise LocalInvalid("a stage update needs `stage`")
        blocked = _bool(raw.get("blocked"), "blocked")
        note = raw.get("note")
        note = note if note not in ("",) else None
        # Without `done` the server keeps its count: a blocked stage, or a new note.
        if raw.get("done") in (None, "") and not blocked and note is None:
            raise LocalInvalid("a stage update needs `done` (or `blocked`, or a `note`)")
        done = None if raw.get("done") in (None, "") else _done(raw["done"])
        given = raw.get("regency")
        stage, place = stage_regency(config, str(raw["stage"]), None if given in (None, "") else str(given))
        check_stage(config, stage.key, place, done)
        body = {
            "type": "stage",
            "id": command_id,
            "regency": place.code if place is not None else config.province.code,
            "stage": stage.key,
            "done": done,
            "blocked": blocked,
            "note": note,
        }
        if raw.get("correct") not in (None, ""):
            body["correct"] = _bool(raw["correct"], "correct")  # JSONL only: a lower count or a lifted block, with a note
    elif kind in INCIDENT_VERBS:
        body = {k: v for k, v in raw.items() if k != "kind" and v not in ("", None)}
        body.update(type=kind, id=command_id)
        if kind == "assign":
            body.setdefault("to", None)  # no `to`: release it
        if kind == "severity":
            check_severity(config, str(body.get("severity", "")))
    else:
        raise LocalInvalid(f"unknown type {kind!r}: use report, stage, {', '.join(INCIDENT_VERBS)}")
    verb = body.pop("type")
    body.pop("id", None)
    try:
        return command(verb, command_id, **body)
    except CommandError as exc:
        raise LocalInvalid(str(exc)) from None


def _lines(text: str) -> list[str]:
    """Physical lines: split on newline only (a CR before it is dropped), so no
    other character a text may hold (U+2028, NEL, a lone CR) starts a line."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def parse_jsonl(text: str, file_name: str, config: Config) -> list[Line]:
    lines = []
    for number, content in enumerate(_lines(text), start=1):
        stripped = content.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            raw = json.loads(stripped)
        except json.JSONDecodeError as exc:
            lines.append(Line(number, error=f"not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        if not isinstance(raw, dict):
            lines.append(Line(number, error="a line must be a JSON object"))
            continue
        try:
            lines.append(Line(number, to_command(raw, config, derive_id(file_name, number, stripped))))
        except LocalInvalid as exc:
            lines.append(Line(number, error=str(exc)))
    return lines


def csv_cells(line: str) -> list[str]:
    """One physical line's cells. Every line is its own record: a quoted cell
    that does not close on its line is that line's error, never a reason to
    swallow the lines after it."""
    try:
        return next(csv.reader([line], strict=True), [])
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise LocalInvalid('unclosed quote: a cell that opens with " must close with " on the same line') from None
        if "new-line character" in str(exc):
            raise LocalInvalid("a carriage return (U+000D) inside the line: a cell holds one line of text") from None
        raise LocalInvalid(f"not valid CSV ({exc})") from None


def parse_csv(text: str, file_name: str, config: Config) -> list[Line]:
    physical = _lines(text)
    start = next((i for i, line in enumerate(physical) if line.strip()), None)
    if start is None:
        return []
    try:
        header = [h.strip().lower() for h in csv_cells(physical[start])]
    except LocalInvalid as exc:
        raise FeedError(f"{file_name}: line {start + 1}: the header is not valid CSV: {exc}", EXIT_USAGE) from None
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown or "kind" not in header:
        raise FeedError(
            f"{file_name}: line {start + 1}: the header must name columns from {','.join(CSV_COLUMNS)} (kind required); unknown: {', '.join(unknown) or '-'}",
            EXIT_USAGE,
        )
    lines = []
    for number, content in enumerate(physical[start + 1 :], start=start + 2):
        if not content.strip():
            continue
        try:
            row = csv_cells(content)
        except LocalInvalid as exc:
            lines.append(Line(number, error=str(exc)))
            continue
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            lines.append(Line(number, error=f"{len(row)} cells but the header has {len(header)} columns"))
            continue
        raw = {key: cell for key, cell in zip(header, row, strict=False)}
        try:
            lines.append(Line(number, to_command(raw, config, derive_id(file_name, number, ",".join(row)))))
        except LocalInvalid as exc:
            lines.append(Line(number, error=str(exc)))
    return lines


class Progress:
    """A one-line bar on stderr, only when stderr is a terminal."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled and total > 0
        self.done = 0
        self._shown = 0.0

    def step(self, summary: ImportSummary) -> None:
        self.done += 1
        now = time.monotonic()
        if self.enabled and (now - self._shown > 0.1 or self.done == self.total):
            self._shown = now
            width = 30
            filled = int(width * self.done / self.total)
            bar = "#" * filled + "." * (width - filled)
            sys.stderr.write(f"\r[{bar}] {self.done}/{self.total}  accepted {summary.accepted}, already {summary.already}, rejected {len(summary.rejected)} ")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


async def import_file(
    path: Path, config: Config, url: URLs, token: str, *, fmt: str | None = None, window: int = 32, progress: bool = False, cafile: str | None = None
) -> ImportSummary:
    try:
        # Bytes, not read_text: universal newlines would make a lone CR inside a text a line break.
        text = (await asyncio.to_thread(path.read_bytes)).decode("utf-8-sig")
    except FileNotFoundError:
        raise FeedError(f"{path}: no such file", EXIT_USAGE) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FeedError(f"{path}: cannot read ({exc})", EXIT_USAGE) from None
    fmt = fmt or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
    lines = parse_csv(text, path.name, config) if fmt == "csv" else parse_jsonl(text, path.name, config)
    summary = ImportSummary(file=str(path))
    bar = Progress(len(lines), progress)
    for line in lines:
        if line.error is not None:
            summary.rejected.append((line.number, "invalid", line.error))
            bar.step(summary)
    to_send = [line for line in lines if line.command is not None]
    if not to_send:
        bar.close()
        return summary
    async with feeder_session(url, token, client="opsmon-import", cafile=cafile) as session:
        head = session.welcome.seq
        rate, burst = pace_for(config, session.welcome.user.role)
        pipeline = Pipeline(session, window=window, rate=rate, burst=burst)
        numbers = {id(line.command): line.number for line in to_send}
        seqs: set[int] = set()  # of the lines answered so far

        def done(command: Command, outcome: Outcome) -> None:
            number = numbers[id(command)]
            result = outcome.result
            if result is None:
                return  # the connection was lost: reported as a whole below
            if result.ok:
                # The server marks a repeated id; older servers did not, hence the seq check.
                # A repeat after head whose seq no other line got is this run's own line,
                # carried out by a server lost before it answered (sent again on failover).
                if result.seq is None:
                    already = result.repeat
                else:
                    already = result.seq <= head or result.seq in seqs
                    seqs.add(result.seq)
                if already:
                    summary.already += 1
                else:
                    summary.accepted += 1
            else:
                summary.rejected.append((number, result.code or "error", result.message or ""))
                summary.refusals[number] = result
            bar.step(summary)

        try:
            await pipeline.run_all([line.command for line in to_send if line.command is not None], done)
        finally:
            bar.close()
        if pipeline.lost:
            answered = summary.total
            raise FeedError(
                f"{pipeline.lost}; {answered} of {len(lines)} lines answered ({summary.accepted} accepted); run the same import again to finish it",
                EXIT_UNREACHABLE,
            )
    return summary


async def run_import_cli(args: argparse.Namespace, config: Config, url: URLs, token: str, cafile: str | None = None) -> int:
    path = Path(args.file)
    summary = await import_file(path, config, url, token, fmt=args.format, window=args.window, progress=sys.stderr.isatty(), cafile=cafile)
    if args.json:
        print(json.dumps(summary.to_json(), ensure_ascii=False))
    else:
        # English, like the local checks' reasons, so a line never mixes two
        # languages; --json gives each server refusal's reason and params.
        for number, code, message in sorted(summary.rejected):
            print(f"{path.name}:{number}: rejected ({code}): {for_terminal(message)}")
        print(f"{path.name}: {summary.total} lines: {summary.accepted} accepted, {summary.already} already imported, {len(summary.rejected)} rejected")
    return EXIT_REFUSED if summary.rejected else EXIT_OK
