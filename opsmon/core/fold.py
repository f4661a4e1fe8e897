"""The fold: `apply(state, event)`, the same on the server and every client,
so a client's view is the server's. Every value a fold needs travels in the
event itself (deadlines included), so folding never needs the config."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from msgspec import UnsetType
from msgspec.structs import replace

from opsmon.core.events import (
    ExerciseClockChanged,
    IncidentAcknowledged,
    IncidentAssigned,
    IncidentChange,
    IncidentDuplicate,
    IncidentEscalated,
    IncidentEvent,
    IncidentMerged,
    IncidentNoted,
    IncidentReopened,
    IncidentReported,
    IncidentResolved,
    IncidentSeverityChanged,
    IncidentSnoozed,
    IncidentUnacknowledged,
    IncidentUnsnoozed,
    Notification,
    Payload,
    SitrepNumbered,
    StageUpdated,
)
from opsmon.core.protocol import Event, Snapshot
from opsmon.core.records import Incident, NoteEntry, compacted
from opsmon.core.state import State

T = TypeVar("T")

# --- the fold ----------------------------------------------------------------------


def concerns(event: Event | Payload) -> int | None:
    """The incident an event is about (the one whose timeline it belongs to),
    or None (stage, token and config events, and kinds this version does not know)."""
    data = event.data if isinstance(event, Event) else event
    if isinstance(data, IncidentChange):
        return data.incident
    if isinstance(data, IncidentReported):
        return data.id
    return None


def touches(event: Event | Payload, state: State | None = None) -> tuple[int, ...]:
    """Every incident an event changes: the one it concerns, for a merge also
    the one merged into (it gains the merged one's reports), and, given the
    state before the event, for a reopen of a merged incident every one up its
    merge chain (they lose its reports)."""
    data = event.data if isinstance(event, Event) else event
    if isinstance(data, IncidentMerged):
        return (data.incident, data.into)
    incident = concerns(data)
    if incident is None:
        return ()
    if isinstance(data, IncidentReopened) and state is not None and incident in state.incidents:
        return (incident, *_merge_chain(state, state.incidents[incident]))
    return (incident,)


def _merge_chain(state: State, incident: Incident) -> list[int]:
    """The ids an incident's reports went into: the one it was merged into, the one that was merged into, ..."""
    chain: list[int] = []
    into, seen = incident.merged_into, {incident.id}
    while into is not None and into not in seen and into in state.incidents:
        seen.add(into)
        chain.append(into)
        into = state.incidents[into].merged_into
    return chain


def _note(event: Event, text: str, kind: str) -> NoteEntry:
    return NoteEntry(ts=event.ts, by=event.actor, text=text, kind=kind)


def apply(state: State, event: Event) -> State:
    """Fold one event into the state and return it.

    The state's dicts change in place (for speed), but an incident or stage
    row is never mutated: each change puts a new object in its place, so a
    `fork()` of the state shares rows safely.
    """
    match event.data:
        case IncidentChange() as change:
            incident = state.incidents.get(change.incident)
            if incident is not None:
                state.incidents[incident.id] = changed = _changed(incident, event, change)
                if (changed.status, changed.escalate_due, changed.snoozed_until) != (incident.status, incident.escalate_due, incident.snoozed_until):
                    state.index_due(changed)  # its deadline moved (a merge's or reopen's others keep theirs)
            if isinstance(change, IncidentReopened) and incident is not None and incident.merged_into is not None:
                _unmerge(state, incident)
            if isinstance(change, IncidentMerged):
                # The one merged into gains the merged incident's reports.
                target = state.incidents.get(change.into)
                if target is not None:
                    text = f"#{change.incident}: {change.title}".rstrip(": ")
                    state.incidents[target.id] = replace(target, reports=target.reports + change.reports, notes=[*target.notes, _note(event, text, "merged")])
        case StageUpdated() as update:
            state.stages[(update.regency, update.stage)] = update.as_row()
        case IncidentReported() as reported:
            state.incidents[reported.id] = incident = reported.as_incident()
            state.index_reported(incident)
            state.index_due(incident)
            if state.max_incident_id >= 0:
                state.max_incident_id = max(state.max_incident_id, reported.id)
        case ExerciseClockChanged(state=clock_state):
            state.exercise_state = clock_state
        case SitrepNumbered() as numbered:
            state.sitrep_number, state.sitrep_until, state.sitrep_seq = numbered.number, numbered.until, event.seq
        case _:
            pass  # token and config events, and kinds this client does not know: nothing to fold
    state.seq = event.seq
    return state


def _unmerge(state: State, incident: Incident) -> None:
    """A merged incident reopened leaves the one it joined: its reports leave
    that one too, and every one that one was merged into after (the chain)."""
    for into in _merge_chain(state, incident):
        target = state.incidents[into]
        state.incidents[into] = replace(target, reports=max(1, target.reports - incident.reports))


def _set(value: T | UnsetType, default: T) -> T:
    return default if isinstance(value, UnsetType) else value


def _changed(incident: Incident, event: Event, change: IncidentEvent) -> Incident:
    notes = incident.notes
    match change:
        case IncidentAcknowledged():
            return replace(incident, status="acknowledged", acknowledged=event.ts, acknowledged_by=event.actor, escalate_due=None)
        case IncidentEscalated(level=level, note=note, escalate_due=escalate_due, repeat=repeat):
            escalated = replace(incident, level=level, repeats=_set(repeat, 0), escalate_due=_set(escalate_due, incident.escalate_due))
            return replace(escalated, notes=[*notes, _note(event, note, "escalated")]) if isinstance(note, str) and note else escalated
        case IncidentNoted(text=text):
            return replace(incident, notes=[*notes, _note(event, text, "note")])
        case IncidentResolved(note=note):
            return replace(
                incident,
                status="resolved",
                resolved=event.ts,
                resolved_by=event.actor,
                escalate_due=None,
                snoozed_until=None,
                notes=[*notes, _note(event, note, "resolved")],
            )
        case IncidentReopened(note=note, ack_due=ack_due, escalate_due=escalate_due):
            return replace(
                incident,
                status="open",
                resolved=None,
                resolved_by=None,
                merged_into=None,  # reopened, it is its own incident again: open, counted, overdue
                acknowledged=None,
                acknowledged_by=None,
                ack_due=_set(ack_due, incident.ack_due),
                escalate_due=_set(escalate_due, None),
                notes=[*notes, _note(event, note, "reopened")],
            )
        case IncidentDuplicate(title=title, detail=detail, severity=severity, ack_due=ack_due, escalate_due=escalate_due):
            text = title + (f" \u2014 {detail}" if detail else "")
            repeated = replace(incident, reports=incident.reports + 1, notes=[*notes, _note(event, text, "duplicate")])
            if isinstance(ack_due, str):  # a repeat of higher severity raised it
                return replace(repeated, severity=severity, ack_due=ack_due, escalate_due=_set(escalate_due, None))
            return repeated
        case IncidentSnoozed(until=until, note=note):
            return replace(incident, snoozed_until=until, escalate_due=None, notes=[*notes, _note(event, note, "snoozed")])
        case IncidentUnsnoozed(note=note, ack_due=ack_due, escalate_due=escalate_due):
            woken = [*notes, _note(event, note, "unsnoozed")] if isinstance(note, str) and note else notes
            return replace(incident, snoozed_until=None, ack_due=_set(ack_due, incident.ack_due), escalate_due=escalate_due, notes=woken)
        case IncidentAssigned(owner=owner):
            return replace(incident, owner=owner)
        case IncidentSeverityChanged(severity=severity, note=note, ack_due=ack_due, escalate_due=escalate_due):
            return replace(incident, severity=severity, ack_due=ack_due, escalate_due=escalate_due, notes=[*notes, _note(event, note, "severity")])
        case IncidentUnacknowledged(note=note, ack_due=ack_due, escalate_due=escalate_due):
            return replace(
                incident,
                status="open",
                acknowledged=None,
                acknowledged_by=None,
                ack_due=ack_due,
                escalate_due=escalate_due,
                notes=[*notes, _note(event, note, "unacknowledged")],
            )
        case IncidentMerged(into=into, note=note):
            return replace(
                incident,
                status="resolved",
                resolved=event.ts,
                resolved_by=event.actor,
                merged_into=into,
                escalate_due=None,
                snoozed_until=None,
                notes=[*notes, _note(event, note or f"#{into}", "merged")],
            )
        case Notification():
            return incident  # the timeline's: the incident itself does not change
    return incident  # pragma: no cover - the union is closed


def fold(state: State, events: Iterable[Event]) -> State:
    for event in events:
        apply(state, event)
    return state


def from_snapshot(snapshot: Snapshot) -> State:
    """The state a snapshot holds: its incidents, its stage rows, the last numbered report."""
    state = State(seq=snapshot.seq)
    state.incidents = {i.id: compacted(i) for i in snapshot.incidents}  # decoded for this state alone
    state.stages = {(r.regency, r.stage): r for r in snapshot.stages}
    if snapshot.sitrep is not None:
        state.sitrep_number, state.sitrep_until, state.sitrep_seq = snapshot.sitrep.number, snapshot.sitrep.until, snapshot.sitrep.seq
    return state
