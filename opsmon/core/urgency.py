"""Views of incidents every screen and document shares: queue order, what an
event says in one line, whose an incident is, overdue, and what a snapshot carries."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

import msgspec

from opsmon.core.clock import parse_ts
from opsmon.core.events import (
    IncidentAssigned,
    IncidentDuplicate,
    IncidentEscalated,
    IncidentMerged,
    IncidentNoted,
    IncidentReported,
    IncidentSeverityChanged,
    IncidentSnoozed,
    Notification,
    NotificationFailed,
    NotificationSent,
    ShiftHandover,
    SitrepNumbered,
    StageUpdated,
)
from opsmon.core.protocol import Event
from opsmon.core.records import SEVERITIES, Incident, User

SNAPSHOT_RESOLVED_WINDOW = timedelta(hours=24)
# The notes a snapshot carries per incident, newest last: the older ones are
# counted in `notes_before` and come through `history` when a screen shows them.
SNAPSHOT_NOTES = 3
# A resolved incident (the queue does not list it) carries only its last: how it was resolved or merged.
SNAPSHOT_NOTES_RESOLVED = 1

# --- views shared by every screen --------------------------------------------------


_STATUS_RANK = {"open": 0, "acknowledged": 1, "resolved": 3}  # snoozed: 2; anything else: 4
_SEVERITY_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}  # unknown: after them all


def urgency_key(incident: Incident) -> tuple[int, int, str, int]:
    """Queue order: unacknowledged before acknowledged before snoozed, then severity, then oldest first."""
    status_rank = _STATUS_RANK.get(incident.status, 4)
    if incident.snoozed_until is not None and incident.status != "resolved":
        status_rank = 2  # snoozed: below every live one, above the resolved
    return (status_rank, _SEVERITY_RANK.get(incident.severity, len(SEVERITIES)), incident.reported, incident.id)


def event_summary(event: Event, tz: tzinfo | None = None) -> str:
    """The one thing worth saying about an event besides its kind and actor, for
    timelines and the post's record (raw wire text: draw it through for_terminal).
    With `tz`, a time in it (a snooze's end) is in the province's time, as people read it."""
    data = event.data
    said = getattr(data, "note", None)
    note = f": {said}" if isinstance(said, str) and said else ""
    match data:
        case IncidentReported(severity=severity, title=title) | IncidentDuplicate(severity=severity, title=title):
            return f"{severity}: {title}"
        case IncidentAssigned(owner=owner):
            return f"{owner.agency}/{owner.name}" if owner is not None else "released"
        case IncidentSnoozed(until=until):
            if tz is not None and until:
                try:
                    local = parse_ts(until).astimezone(tz)
                    until = f"{local:%d/%m %H:%M} {local.tzname() or ''}".strip()
                except ValueError:
                    pass  # not a time: say what the event holds
            return f"until {until}{note}"
        case IncidentSeverityChanged(severity=severity):
            return f"{severity}{note}"
        case IncidentMerged(into=into):
            return f"into #{into}{note}"
        case IncidentEscalated(level=level, repeat=repeat, final=final, notify=told):
            again = f" (repeat {repeat})" if isinstance(repeat, int) and repeat else ""
            last = " (final)" if final is True else ""
            names = f" -> {', '.join(told)}" if isinstance(told, list) and told else ""
            return f"level {level}{again}{last}{note}{names}"
        case Notification():
            return event_text(event)
        case StageUpdated(stage=stage, done=done, total=total, status=status) as update:
            blocked = " blocked" if status == "blocked" else ""
            # A correction says so, and what it corrected: never a silent step back.
            corrected = f" (correction of {update.corrected_done}{' blocked' if update.corrected_status == 'blocked' else ''})" if update.correction else ""
            return f"{stage} {done}/{total}{blocked}{corrected}{note}"
        case IncidentNoted(text=text):
            return text
        case ShiftHandover(desk=desk, step=step, shift=shift, open=left):
            return f"{desk} {step} {shift}: {len(left)} open{note}".replace("  ", " ")
        case SitrepNumbered(number=number):
            return f"No. {number}"
        case dict():
            return str(data.get("note") or data.get("text") or "")
    return said if isinstance(said, str) else ""


def event_text(event: Event) -> str:
    """The free text an event carries: its note, or a note's text ("" if none);
    for an escalation that told people, their names; for a notification, whom
    it reached and how (and why not)."""
    data = event.data
    if isinstance(data, dict):
        return str(data.get("note") or data.get("text") or "")
    if isinstance(data, NotificationSent):
        return f"{data.person} ({data.scheme})"
    if isinstance(data, NotificationFailed):
        return f"{data.person} ({data.scheme}), {data.attempts}x: {data.error}"
    if isinstance(data, IncidentEscalated) and isinstance(data.notify, list) and data.notify:
        note = data.note if isinstance(data.note, str) and data.note else ""
        return f"{note} -> {', '.join(data.notify)}".strip()
    said = getattr(data, "note", None) or getattr(data, "text", None)
    return said if isinstance(said, str) else ""


def is_mine(incident: Incident, user: User) -> bool:
    """Owned by this user, or in their token's regencies (a scoped officer's own ground)."""
    owner = incident.owner
    if owner is not None and owner.name == user.name and owner.agency == user.agency:
        return True
    return user.regencies is not None and incident.regency in user.regencies


STATUS_WORDS = ("open", "acknowledged", "snoozed", "merged", "resolved")  # i18n `status.<word>`
OPEN_WORK = frozenset(("open", "acknowledged", "snoozed"))  # what the queue's count counts


def status_word(incident: Incident) -> str:
    """An incident's one status word (one of STATUS_WORDS), the same on every
    screen and in `opsmon list`: merged before resolved (a merge closes it),
    snoozed before open or acknowledged (it is not waiting on anyone now)."""
    if incident.merged_into is not None:
        return "merged"
    if incident.status == "resolved":
        return "resolved"
    if incident.snoozed_until is not None:
        return "snoozed"
    return "acknowledged" if incident.status == "acknowledged" else "open"


def ack_deadline(incident: Incident) -> str | None:
    """The acknowledgement deadline still owed, or None: the one definition every
    screen and document asks. Only an open incident that is neither snoozed nor
    merged owes one; an acknowledged one keeps an `ack_due` in its record (a
    severity change sets it again) but nothing is due."""
    if incident.status != "open" or incident.snoozed_until is not None or incident.merged_into is not None:
        return None
    return incident.ack_due


WAITING_AGAIN = ("reopened", "unacknowledged")  # the notes that start an incident's wait for an ack again


def waiting_since(incident: Incident) -> str:
    """Since when an incident has waited for an acknowledgement ("belum di-ack sejak"):
    its report, or the last time it became open again (reopened, after a merge too,
    or un-acknowledged), which its notes record."""
    again = next((note.ts for note in reversed(incident.notes) if note.kind in WAITING_AGAIN), None)
    return again if again is not None and again > incident.reported else incident.reported


def is_escalated(incident: Incident) -> bool:
    """Escalated and still waiting for an acknowledgement: what the map and the wall
    shade ESKALASI. An acknowledged (or merged, or resolved) incident keeps its level
    in the record, but nobody is being chased for it any more."""
    return incident.level > 0 and incident.status == "open" and incident.merged_into is None


def is_overdue(incident: Incident, now: datetime) -> bool:
    """Unacknowledged past its acknowledgement deadline (a snoozed one is not)."""
    due = ack_deadline(incident)
    return due is not None and parse_ts(due) <= now


def in_snapshot(incident: Incident, now: datetime) -> bool:
    """Snapshots carry every unresolved incident and those resolved in the last 24 hours."""
    if incident.status != "resolved" or incident.resolved is None:
        return True
    return parse_ts(incident.resolved) >= now - SNAPSHOT_RESOLVED_WINDOW


def for_snapshot(incident: Incident) -> Incident:
    """The incident as a snapshot carries it: only its last SNAPSHOT_NOTES notes
    (SNAPSHOT_NOTES_RESOLVED once resolved),
    the older ones counted in `notes_before` (a snapshot's bytes do not grow
    with the notes a night piles up)."""
    notes = incident.notes
    keep = SNAPSHOT_NOTES_RESOLVED if incident.status == "resolved" else SNAPSHOT_NOTES
    if len(notes) <= keep:
        return incident
    return msgspec.structs.replace(incident, notes=notes[-keep:], notes_before=incident.notes_before + len(notes) - keep)
