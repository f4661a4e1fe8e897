"""Online backups and their verification.

A backup is taken with SQLite's backup API from a connection of its own: it
copies one consistent snapshot of the database (what was committed when it
began, WAL included) while the server goes on writing, which a file copy
cannot promise. It is written beside its final name and renamed into place,
so a half-written backup never looks like a whole one, and it is a single
file (journal mode DELETE) that opens anywhere.

`verify` folds a backup's events from seq 1 with the same function clients
use and checks that the result is what its state tables say.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from opsmon.core.filemodes import create_private
from opsmon.core.fold import apply
from opsmon.core.protocol import Event
from opsmon.core.records import Actor, Incident, StageRow
from opsmon.core.state import State
from opsmon.core.wire import decode_payload, to_builtins
from server.store.core import NOTE_ROWS, attach_notes


class BackupError(RuntimeError):
    """A backup or verification that cannot be done; str() says why, in one line."""


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    seq: int
    epoch: str
    bytes: int
    seconds: float


def _open_source(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise BackupError(f"{path}: no such database")
    try:
        db = sqlite3.connect(path, timeout=10)
        db.execute("PRAGMA busy_timeout=10000")
        _meta(db, "epoch", path)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: not an opsmon database ({exc})") from None
    return db


def _meta(db: sqlite3.Connection, key: str, path: Path) -> str:
    try:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    except sqlite3.OperationalError:
        raise BackupError(f"{path}: not an opsmon database (no meta table)") from None
    return "" if row is None else str(row[0])


def backup_database(source: Path, target: Path) -> BackupInfo:
    """Copy the live database at `source` to `target` (which must not exist)."""
    started = time.perf_counter()
    source, target = Path(source), Path(target)
    if target.exists():
        raise BackupError(f"{target} already exists: choose another name (a backup never overwrites)")
    if not target.parent.is_dir():
        raise BackupError(f"{target}: folder {target.parent} does not exist")
    if target.resolve() == source.resolve():
        raise BackupError(f"{target} is the database itself")
    partial = target.with_name(f".{target.name}.partial")
    src = _open_source(source)
    try:
        partial.unlink(missing_ok=True)
        create_private(partial)  # a backup holds what the database holds: the owner's only
        dst = sqlite3.connect(partial)
        try:
            # One step: a single read transaction on the source, so the copy is
            # one consistent moment however many commits land meanwhile.
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
            seq = int(dst.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0])
            epoch = _meta(dst, "epoch", target)
        finally:
            dst.close()
        os.replace(partial, target)
    except (sqlite3.Error, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"backup of {source} to {target} failed: {exc}") from None
    finally:
        src.close()
    return BackupInfo(target, seq, epoch, target.stat().st_size, time.perf_counter() - started)


def rotate(folder: Path, prefix: str, keep: int, suffix: str = ".db") -> list[Path]:
    """Remove all but the newest `keep` backups named `prefix-*.db` (or `*suffix`); returns what was removed."""
    backups = sorted(folder.glob(f"{prefix}-*{suffix}"))
    removed = backups[: max(0, len(backups) - keep)]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


# --- verify -----------------------------------------------------------------------------------


@dataclass
class Verification:
    path: Path | str  # a file, or a PostgreSQL schema's URL (server.pgbackup)
    epoch: str = ""
    schema: str = ""
    seq: int = 0
    events: int = 0
    incidents: dict[str, int] = field(default_factory=dict)
    stages: int = 0
    stages_done: int = 0
    tokens_active: int = 0
    tokens_other: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        statuses = ", ".join(f"{count} {status}" for status, count in sorted(self.incidents.items())) or "none"
        out = [
            f"{self.path}: epoch {self.epoch}, schema {self.schema}, head seq {self.seq}",
            f"events {self.events}; incidents {sum(self.incidents.values())} ({statuses}); stage rows {self.stages} ({self.stages_done} done); tokens {self.tokens_active} active, {self.tokens_other} revoked or expired",
        ]
        if self.consistent:
            out.append(f"consistent: the {self.events} events folded from seq 1 give exactly the incidents and stages stored")
        else:
            out += [f"NOT consistent: {problem}" for problem in self.problems[:20]]
            if len(self.problems) > 20:
                out.append(f"... and {len(self.problems) - 20} more")
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "epoch": self.epoch,
            "schema": self.schema,
            "seq": self.seq,
            "events": self.events,
            "incidents": self.incidents,
            "stages": self.stages,
            "stages_done": self.stages_done,
            "tokens_active": self.tokens_active,
            "tokens_other": self.tokens_other,
            "consistent": self.consistent,
            "problems": self.problems,
        }


_incident = msgspec.json.Decoder(Incident)
_stage = msgspec.json.Decoder(StageRow)


def verify_database(path: Path, now: str) -> Verification:
    """Fold every event from seq 1 and compare with the state tables. Read-only:
    the file is opened with mode=ro and nothing in it changes."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    report = Verification(path)
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"{path}: cannot open ({exc})") from None
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        if integrity != "ok":
            report.problems.append(f"integrity_check: {integrity}")
        report.epoch = _meta(db, "epoch", path)
        report.schema = _meta(db, "schema_version", path)
        state = State()
        expected = 1
        for seq, epoch, ts, kind, actor, data in db.execute("SELECT seq, epoch, ts, kind, actor, data FROM events ORDER BY seq"):
            if seq != expected:
                report.problems.append(f"seq {expected} is missing (next is {seq})")
            if epoch != report.epoch:
                report.problems.append(f"event {seq} belongs to epoch {epoch}, not {report.epoch}")
            expected = seq + 1
            try:
                event = Event(seq=seq, ts=ts, kind=kind, actor=msgspec.json.decode(actor, type=Actor), data=decode_payload(kind, data))
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                report.problems.append(f"event {seq} ({kind}): its data is not what a {kind} event holds ({exc})")
                continue
            apply(state, event)
            report.events += 1
        report.seq = expected - 1
        stored_incidents = {row.id: row for row in (_incident.decode(body) for (body,) in db.execute("SELECT body FROM incidents"))}
        if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'notes'").fetchone() is not None:  # schema 4 on
            notes = db.execute(NOTE_ROWS).fetchall()
            attach_notes(stored_incidents, notes)
            for incident_id in sorted({row[0] for row in notes} - set(stored_incidents)):
                report.problems.append(f"incident {incident_id} has notes in the notes table but no row in the incidents table")
        for incident_id in sorted(set(stored_incidents) | set(state.incidents)):
            folded, stored = state.incidents.get(incident_id), stored_incidents.get(incident_id)
            if folded is None:
                report.problems.append(f"incident {incident_id} is in the incidents table but no event reports it")
            elif stored is None:
                report.problems.append(f"incident {incident_id} is in the log but not in the incidents table")
            elif to_builtins(folded) != to_builtins(stored):
                report.problems.append(f"incident {incident_id}: the table differs from the log ({_differs(to_builtins(folded), to_builtins(stored))})")
        for incident in stored_incidents.values():
            report.incidents[incident.status] = report.incidents.get(incident.status, 0) + 1
        stored_stages = set()
        for (body,) in db.execute("SELECT body FROM stages"):
            row = _stage.decode(body)
            stored_stages.add((row.regency, row.stage))
            report.stages += 1
            report.stages_done += row.status == "done"
            folded_row = state.stages.get((row.regency, row.stage))
            if folded_row is None:
                if row.done != 0 or row.status != "pending":
                    report.problems.append(f"stage {row.regency}/{row.stage} shows {row.done}/{row.total} {row.status} with no event that set it")
            elif to_builtins(folded_row) != to_builtins(row):
                report.problems.append(
                    f"stage {row.regency}/{row.stage}: the table differs from the log ({_differs(to_builtins(folded_row), to_builtins(row))})"
                )
        for regency, stage in sorted(set(state.stages) - stored_stages):
            report.problems.append(f"stage {regency}/{stage} is in the log but not in the stages table")
        columns = {row[1] for row in db.execute("PRAGMA table_info(tokens)")}
        expiry = "expires" if "expires" in columns else "NULL"  # schema 3 added expiry
        for revoked, expires in db.execute(f"SELECT revoked, {expiry} FROM tokens"):
            if revoked is None and (expires is None or expires > now):
                report.tokens_active += 1
            else:
                report.tokens_other += 1
    except sqlite3.DatabaseError as exc:
        report.problems.append(f"unreadable: {exc}")
    except (msgspec.DecodeError, ValueError, KeyError, TypeError) as exc:
        report.problems.append(f"a row that does not decode: {exc}")
    finally:
        db.close()
    return report


def _differs(folded: Any, stored: Any) -> str:
    if isinstance(folded, dict) and isinstance(stored, dict):
        keys = sorted(k for k in set(folded) | set(stored) if folded.get(k) != stored.get(k))
        return ", ".join(f"{k}: log {folded.get(k)!r}, table {stored.get(k)!r}" for k in keys[:3])
    return f"log {folded!r}, table {stored!r}"
