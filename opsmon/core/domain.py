"""Incidents and stages: the decisions, with no I/O.

The server *decides* here (a command against the current state gives an
event or a DomainError, and the escalations and wake-ups a clock owes);
everyone *folds* (fold.py, `apply(state, event)`), the server into its
memory and database, each client into its screen. Because both sides fold
the same events with the same function, a client's view is the server's.
The state and rules are in state.py, queue order and shared views in urgency.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from msgspec import UNSET, UnsetType
from msgspec.structs import replace

from opsmon.core.clock import format_ts, parse_ts
from opsmon.core.events import (
    ExerciseClockChanged,
    IncidentAcknowledged,
    IncidentAssigned,
    IncidentDuplicate,
    IncidentEscalated,
    IncidentMerged,
    IncidentNoted,
    IncidentReopened,
    IncidentReported,
    IncidentResolved,
    IncidentSeverityChanged,
    IncidentSnoozed,
    IncidentUnacknowledged,
    IncidentUnsnoozed,
    KnownPayload,
    ShiftHandover,
    SitrepNumbered,
    StageUpdated,
)
from opsmon.core.fold import concerns
from opsmon.core.protocol import (
    Ack,
    Assign,
    Escalate,
    ExerciseControl,
    Handover,
    Merge,
    Note,
    Reopen,
    Report,
    Resolve,
    SeverityChange,
    Sitrep,
    Snooze,
    StageUpdate,
    Unack,
    WriteCommand,
)
from opsmon.core.records import AGENCIES, SEVERITIES, Actor, Incident, SeverityInfo, StageRow
from opsmon.core.state import Rules, State, location_key, stage_status
from opsmon.core.text import describe, forbidden_characters
from opsmon.core.wire import to_builtins

# What each trainer's action moves the exercise's clock to, from which states.
_EXERCISE_MOVES = {"pause": ("paused", ("running",)), "resume": ("running", ("paused",)), "end": ("ended", ("running", "paused"))}


class DomainError(Exception):
    """A command that cannot be carried out; `code` is the protocol's result code,
    `reason` and `params` the machine-readable why (docs/protocol.md, "Refusal reasons")."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        reason: str,
        params: dict[str, Any],
        status: str | None = None,
        by: Actor | None = None,
        at: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.params = params
        self.status = status
        self.by = by
        self.at = at
        self.reason = reason
        self.params = params


# --- decisions (server side) -------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """What a command becomes: one event, not yet numbered: its payload, and
    the regency it is about (for the log's index; None for token and config events)."""

    payload: KnownPayload
    regency: str | None = None
    # Who it is written as when not a connection's command: None is the system
    # (a timer); a person acknowledging from a chat bot is themselves.
    actor: Actor | None = None

    @property
    def kind(self) -> str:
        return self.payload.KIND

    @property
    def incident(self) -> int | None:
        return concerns(self.payload)


def _find(state: State, incident_id: int) -> Incident:
    incident = state.incidents.get(incident_id)
    if incident is None:
        raise DomainError("not_found", f"no incident {incident_id}", reason="not_found", params={"incident": incident_id})
    return incident


def _who(actor: Actor | None) -> str:
    if actor is None:
        return "someone"
    return f"{actor.agency}/{actor.name}" if actor.agency else actor.name


def _already(incident: Incident, rules: Rules, what: str) -> DomainError:
    """The conflict answer: which state the incident is in, who put it there, when."""
    if incident.status == "resolved":
        by, at = incident.resolved_by, incident.resolved
    elif incident.status == "acknowledged":
        by, at = incident.acknowledged_by, incident.acknowledged
    else:
        by, at = incident.reporter, incident.reported
    verb = {"resolved": "resolved", "acknowledged": "acknowledged", "open": "open (reported)"}[incident.status]
    when = rules.local_time(at) if at else "?"
    return DomainError(
        "conflict",
        f"cannot {what} incident {incident.id}: already {verb} by {_who(by)} at {when}",
        reason="already",
        params={"status": incident.status, "by": to_builtins(by), "at": at},
        status=incident.status,
        by=by,
        at=at,
    )


def _severity_rule(rules: Rules, severity: str) -> SeverityInfo:
    rule = rules.severities.get(severity)
    if rule is None:
        raise DomainError("invalid", f"unknown severity {severity!r}", reason="unknown_severity", params={"severity": severity})
    return rule


def _check_scope(regencies: list[str] | None, regency: str) -> None:
    if regencies is not None and regency not in regencies:
        raise DomainError(
            "forbidden",
            f"your token may act only on regencies {', '.join(regencies) or '(none)'}, not {regency}",
            reason="scope",
            params={"regency": regency, "regencies": list(regencies)},
        )


def _unknown(what: str, value: str) -> DomainError:
    return DomainError("invalid", f"unknown {what} {value!r}", reason=f"unknown_{what}", params={what: value})


def _exercise(state: State, command: ExerciseControl, rules: Rules) -> Decision:
    # Only an admin token gets here: the writer checks the role with the other limits.
    if not rules.exercise:
        raise DomainError("invalid", "this server runs a real night, not an exercise: nothing to pause or end", reason="not_exercise", params={})
    target, allowed = _EXERCISE_MOVES[command.action]
    if state.exercise_state not in allowed:
        raise DomainError(
            "conflict",
            f"cannot {command.action} the exercise: it is {state.exercise_state}",
            reason="exercise_state",
            params={"action": command.action, "state": state.exercise_state},
            status=state.exercise_state,
        )
    return Decision(ExerciseClockChanged(state=target, note=command.note))


def inject_reporter(command: Report) -> Actor:
    """Who an inject shows as its reporter (and its event's actor): the field desk it comes from,
    so the trainees' screens show it like any field report."""
    desk = command.desk or "?"
    return Actor(name=(command.reporter or "").strip() or f"Lapangan {desk}", agency=desk)


def _check_inject(command: Report, rules: Rules) -> None:
    # Only an admin token gets here with an inject: the writer checks the role.
    if not rules.exercise:
        raise DomainError(
            "invalid", "this server runs a real night, not an exercise: an inject is for a training exercise only", reason="inject_not_exercise", params={}
        )
    if command.desk is None:
        raise DomainError(
            "invalid", "an inject needs its desk (KPU, Bawaslu or Polri)", reason="bad_field", params={"field": "desk", "problem": "required for an inject"}
        )
    if command.desk not in AGENCIES:
        raise _unknown("agency", command.desk)
    if command.reporter is not None and not command.reporter.strip():
        raise DomainError("invalid", "reporter must not be blank", reason="blank", params={"field": "reporter"})


def number_sitrep(state: State, now: datetime) -> Decision:
    """The post's next situation report: numbered on from the last one in the log,
    covering the period from that one's end to now (never before it: a clock set
    back does not make a period run backwards)."""
    until = format_ts(now)
    if state.sitrep_until is not None and until < state.sitrep_until:
        until = state.sitrep_until
    return Decision(SitrepNumbered(number=state.sitrep_number + 1, since=state.sitrep_until, until=until, after=state.sitrep_seq))


def decide(state: State, command: WriteCommand, actor: Actor, scope: list[str] | None, now: datetime, rules: Rules) -> Decision:
    """Turn a command into the event it causes, or raise DomainError."""
    if isinstance(command, ExerciseControl):
        return _exercise(state, command, rules)
    if rules.exercise and state.exercise_state == "ended":
        raise DomainError(
            "conflict",
            "the exercise has ended: its record is kept as it stands for the after-action report",
            reason="exercise_ended",
            params={},
            status="ended",
        )
    ts = format_ts(now)
    if isinstance(command, Sitrep):
        return number_sitrep(state, now)
    if isinstance(command, Report):
        draft = command.incident
        if draft.regency not in rules.regencies:
            raise _unknown("regency", draft.regency)
        if draft.category not in rules.categories:
            raise _unknown("category", draft.category)
        rule = _severity_rule(rules, draft.severity)
        if not draft.title.strip():
            raise DomainError("invalid", "title must not be blank", reason="blank", params={"field": "incident.title"})
        _check_scope(scope, draft.regency)
        if command.inject:
            _check_inject(command, rules)
        elif command.desk is not None or command.reporter is not None:
            raise DomainError(
                "invalid",
                "desk and reporter are only for an inject (inject: true)",
                reason="bad_field",
                params={"field": "desk" if command.desk is not None else "reporter", "problem": "only for an inject (inject: true)"},
            )
        # An inject is always a new incident: the trainer means the trainees to see it.
        same = None if command.inject else find_duplicate(state, draft.regency, draft.category, draft.location, now, rules)
        if same is not None:
            return _duplicate(same, draft.title.strip(), draft.detail, draft.severity, now, rules)
        ack_due = format_ts(now + timedelta(minutes=rule.ack_minutes))
        incident = Incident(
            id=state.next_incident_id,
            regency=draft.regency,
            category=draft.category,
            severity=draft.severity,
            title=draft.title.strip(),
            detail=draft.detail,
            location=draft.location,
            status="open",
            level=0,
            reported=ts,
            reporter=actor,
            acknowledged=None,
            acknowledged_by=None,
            resolved=None,
            resolved_by=None,
            ack_due=ack_due,
            notes=[],
            escalate_due=ack_due,
            inject=command.inject,
        )
        return Decision(IncidentReported.of(incident), draft.regency)

    if isinstance(command, StageUpdate):
        total = rules.stage_totals.get((command.regency, command.stage))
        if command.stage in rules.province_stages:
            if command.regency != rules.province:
                raise DomainError(
                    "invalid",
                    f"{command.stage} is one row for the whole province: send regency {rules.province!r}, not {command.regency!r}",
                    reason="bad_field",
                    params={"field": "regency", "problem": f"{command.stage} is a province stage: use the province code {rules.province}"},
                )
        elif command.regency not in rules.regencies:
            if command.regency == rules.province and command.stage in rules.stages:
                raise DomainError(
                    "invalid",
                    f"{command.stage} is counted per regency, not for the province",
                    reason="bad_field",
                    params={"field": "regency", "problem": f"{command.stage} is counted per regency"},
                )
            raise _unknown("regency", command.regency)
        if total is None:
            raise _unknown("stage", command.stage)
        current = state.stages.get((command.regency, command.stage))
        # No `done`: keep the count the server has (a stage marked blocked, say).
        done = command.done if command.done is not None else (current.done if current is not None else 0)
        if done > total:
            raise DomainError(
                "invalid",
                f"done {done} is more than the {total} that {command.regency} counts to in {command.stage}",
                reason="done_exceeds_total",
                params={"done": done, "total": total, "regency": command.regency, "stage": command.stage},
            )
        _check_scope(scope, command.regency)
        corrects = _stage_correction(command, current, done)
        row = StageRow(
            regency=command.regency,
            stage=command.stage,
            status=stage_status(done, total, command.blocked),
            done=done,
            total=total,
            note=command.note or None,
            updated=ts,
        )
        return Decision(StageUpdated.of(row, corrects), command.regency)

    if isinstance(command, Handover):
        return _handover(state, command, scope, now, rules)

    incident = _find(state, command.incident)
    _check_scope(scope, incident.regency)
    ref = incident.id
    if isinstance(command, Ack):
        if incident.status != "open":
            raise _already(incident, rules, "acknowledge")
        return Decision(IncidentAcknowledged(incident=ref), incident.regency)
    if isinstance(command, Escalate):
        if incident.status == "resolved":
            raise _already(incident, rules, "escalate")
        note = command.note if command.note and command.note.strip() else None
        # A person escalating sends it up the chain too: the next level's people are told.
        told = rules.escalation.targets(incident, incident.level + 1, now)
        return Decision(IncidentEscalated(incident=ref, level=incident.level + 1, note=note, notify=list(told) if told else UNSET), incident.regency)
    if isinstance(command, Note):
        if not command.text.strip():
            raise DomainError("invalid", "text must not be blank", reason="blank", params={"field": "text"})
        if len(incident.notes) >= rules.max_notes:
            raise DomainError(
                "conflict",
                f"incident {incident.id} already has {len(incident.notes)} notes, the most one incident may hold"
                f" ({rules.max_notes}, [triage] max_notes_per_incident); resolve it, or report a new incident",
                reason="notes_full",
                params={"incident": incident.id, "max": rules.max_notes},
            )
        return Decision(IncidentNoted(incident=ref, text=command.text), incident.regency)
    if isinstance(command, Resolve):
        if not command.note.strip():
            raise DomainError("invalid", "a resolution note is required", reason="note_required", params={"command": "resolve"})
        if incident.status == "resolved":
            raise _already(incident, rules, "resolve")
        return Decision(IncidentResolved(incident=ref, note=command.note), incident.regency)
    if isinstance(command, Reopen):
        if not command.note.strip():
            raise DomainError("invalid", "a note saying why it is reopened is required", reason="note_required", params={"command": "reopen"})
        if incident.status != "resolved":
            raise DomainError(
                "conflict",
                f"cannot reopen incident {incident.id}: it is not resolved (status {incident.status})",
                reason="not_resolved",
                params={"status": incident.status},
                status=incident.status,
                by=incident.acknowledged_by or incident.reporter,
                at=incident.acknowledged or incident.reported,
            )
        rule = _severity_rule(rules, incident.severity)
        ack_due = format_ts(now + timedelta(minutes=rule.ack_minutes))
        return Decision(IncidentReopened(incident=ref, note=command.note, ack_due=ack_due, escalate_due=ack_due), incident.regency)
    if isinstance(command, Snooze | Assign | SeverityChange | Unack | Merge):
        return _decide_triage(state, incident, command, scope, now, rules)


def _stage_correction(command: StageUpdate, current: StageRow | None, done: int) -> StageRow | None:
    """The row a stage update corrects, or None for an ordinary update.

    A count lower than the one held (a restarted feeder resending old counts)
    and a plain update over a blocked row (a block cleared by the next count)
    are never silent: refused unless the command says it corrects, with a note."""
    if current is None:
        return None
    lower = done < current.done
    unblocks = current.status == "blocked" and not command.blocked
    if not (lower or unblocks):
        return None
    where = f"{command.regency} {command.stage}"
    if not command.correct:
        if lower:
            raise DomainError(
                "conflict",
                f"{where} already has {current.done} done; {done} is lower: send it as a correction (correct, with a note why) if the count was wrong",
                reason="count_lower",
                params={"regency": command.regency, "stage": command.stage, "done": done, "current": current.done},
            )
        raise DomainError(
            "conflict",
            f"{where} is blocked ({current.note or 'no note'}); say it is lifted as a correction (correct, with a note why)",
            reason="stage_blocked",
            params={"regency": command.regency, "stage": command.stage, "note": current.note or "-"},
        )
    if not (command.note or "").strip():
        raise DomainError("invalid", "a correction needs a note saying why", reason="note_required", params={"command": "stage"})
    return current


def _handover(state: State, command: Handover, scope: list[str] | None, now: datetime, rules: Rules) -> Decision:
    """A shift handover at a desk: what it leaves open (the desk's unresolved
    incidents in the officer's scope) and the roster's shift, as of now."""
    if command.desk not in AGENCIES:
        raise DomainError("invalid", f"unknown desk {command.desk!r} (one of {', '.join(AGENCIES)})", reason="unknown_desk", params={"desk": command.desk})
    policy = rules.escalation
    roster = policy.roster_for_scope(command.desk, scope)
    shift = policy.shift_at(roster, now) if roster is not None else None
    desks = policy.desks
    left = sorted(
        i.id
        for i in state.incidents.values()
        if i.status != "resolved" and desks.get(i.category, "KPU") == command.desk and (scope is None or i.regency in scope)
    )
    return Decision(
        ShiftHandover(desk=command.desk, step=command.step, shift=f"{shift.start}-{shift.end}" if shift is not None else "", open=left, note=command.note)
    )


# --- triage decisions ----------------------------------------------------------------


def find_duplicate(state: State, regency: str, category: str, location: str, now: datetime, rules: Rules) -> Incident | None:
    """The unresolved incident a new report repeats: same regency, category and
    (non-empty) location, reported within the dedup window. Newest first."""
    key = location_key(location)
    if not key or rules.dedup_minutes <= 0:
        return None
    since = format_ts(now - timedelta(minutes=rules.dedup_minutes))
    # The index holds only reports with this regency, category and location:
    # a report costs what matches it, not every open incident of the night.
    index = state.dedup_index()
    ids = index.get((regency, category, key), ())
    for n in range(len(ids) - 1, -1, -1):
        incident = state.incidents.get(ids[n])
        state.dedup_examined += 1
        if incident is None:
            continue
        if incident.reported < since:
            # ids are given in time order: every older one is out of the window
            # too, and stays out (the window only moves on): forget them.
            # (Emptied, not deleted: the writer decides on a fork whose index is an overlay.)
            index[(regency, category, key)] = ids[n + 1 :]
            break
        if incident.status != "resolved":
            return incident
    return None


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def _escalate_due(incident: Incident, ack_due: str) -> str | None:
    """The escalation a new acknowledgement deadline implies: none while
    acknowledged or snoozed (the wake-up sets it again)."""
    live = incident.status == "open" and incident.snoozed_until is None
    return ack_due if live else None


def _duplicate(incident: Incident, title: str, detail: str, severity: str, now: datetime, rules: Rules) -> Decision:
    if _rank(severity) < _rank(incident.severity):
        # A more severe repeat tightens the deadline, never loosens it.
        due = format_ts(min(parse_ts(incident.ack_due), now + timedelta(minutes=_severity_rule(rules, severity).ack_minutes)))
        raised = IncidentDuplicate(incident=incident.id, title=title, detail=detail, severity=severity, ack_due=due, escalate_due=_escalate_due(incident, due))
        return Decision(raised, incident.regency)
    return Decision(IncidentDuplicate(incident=incident.id, title=title, detail=detail, severity=severity), incident.regency)


def _required(text: str, command: str, what: str) -> None:
    if not text.strip():
        raise DomainError("invalid", f"{what} is required", reason="note_required", params={"command": command})


def _decide_triage(
    state: State, incident: Incident, command: Snooze | Assign | SeverityChange | Unack | Merge, scope: list[str] | None, now: datetime, rules: Rules
) -> Decision:
    ref = incident.id
    tag = str(type(command).__struct_config__.tag)
    if isinstance(command, Snooze):
        _required(command.note, "snooze", "a note saying why it is snoozed")
        if incident.status == "resolved":
            raise _already(incident, rules, "snooze")
        if command.minutes == 0:
            if incident.snoozed_until is None:
                raise DomainError(
                    "conflict",
                    f"cannot wake incident {incident.id}: it is not snoozed",
                    status=incident.status,
                    reason="not_snoozed",
                    params={"incident": incident.id},
                )
            return _wake(incident, now, rules, command.note)
        until = format_ts(now + timedelta(minutes=command.minutes))
        return Decision(IncidentSnoozed(incident=ref, until=until, note=command.note), incident.regency)
    if incident.status == "resolved":
        raise _already(incident, rules, {"assign": "assign", "severity": "change the severity of", "unack": "un-acknowledge", "merge": "merge"}[tag])
    if isinstance(command, Assign):
        owner = None
        if command.to is not None:
            name = command.to.name.strip()
            if not name:
                raise DomainError("invalid", "to.name must not be blank", reason="blank", params={"field": "to.name"})
            bad = forbidden_characters(command.to.name)
            if bad:
                names = [describe(c) for c in bad]
                raise DomainError(
                    "invalid",
                    f"to.name holds control characters ({', '.join(names)})",
                    reason="control_character",
                    params={"field": "to.name", "characters": names},
                )
            if command.to.agency not in AGENCIES:
                raise DomainError(
                    "invalid",
                    f"unknown agency {command.to.agency!r} (one of {', '.join(AGENCIES)})",
                    reason="unknown_agency",
                    params={"agency": command.to.agency},
                )
            owner = Actor(name=name, agency=command.to.agency)
        if owner == incident.owner:
            who = _who(owner) if owner else "nobody"
            raise DomainError(
                "conflict",
                f"incident {incident.id} is already handled by {who}",
                status=incident.status,
                reason="unchanged",
                params={"field": "owner", "value": who},
            )
        return Decision(IncidentAssigned(incident=ref, owner=owner), incident.regency)
    if isinstance(command, SeverityChange):
        _required(command.note, "severity", "a note saying why the severity changes")
        rule = rules.severities.get(command.severity)
        if rule is None:
            raise DomainError("invalid", f"unknown severity {command.severity!r}", reason="unknown_severity", params={"severity": command.severity})
        if command.severity == incident.severity:
            raise DomainError(
                "conflict",
                f"incident {incident.id} is already {incident.severity}",
                status=incident.status,
                reason="unchanged",
                params={"field": "severity", "value": incident.severity},
            )
        due = format_ts(now + timedelta(minutes=rule.ack_minutes))
        changed = IncidentSeverityChanged(incident=ref, severity=command.severity, note=command.note, ack_due=due, escalate_due=_escalate_due(incident, due))
        return Decision(changed, incident.regency)
    if isinstance(command, Unack):
        _required(command.note, "unack", "a note saying why it is un-acknowledged")
        if incident.status != "acknowledged":
            raise DomainError(
                "conflict",
                f"cannot un-acknowledge incident {incident.id}: it is not acknowledged (status {incident.status})",
                status=incident.status,
                by=incident.reporter,
                at=incident.reported,
                reason="not_acknowledged",
                params={"status": incident.status},
            )
        due = format_ts(now + timedelta(minutes=_severity_rule(rules, incident.severity).ack_minutes))
        reopened = replace(incident, status="open")
        return Decision(IncidentUnacknowledged(incident=ref, note=command.note, ack_due=due, escalate_due=_escalate_due(reopened, due)), incident.regency)
    # Merge
    if command.into == incident.id:
        raise DomainError("invalid", f"cannot merge incident {incident.id} into itself", reason="same_incident", params={"incident": incident.id})
    target = state.incidents.get(command.into)
    if target is None:
        raise DomainError("not_found", f"no incident {command.into}", reason="not_found", params={"incident": command.into})
    _check_scope(scope, target.regency)
    if target.status == "resolved":
        raise DomainError(
            "conflict",
            f"cannot merge into incident {target.id}: it is resolved",
            status=target.status,
            by=target.resolved_by,
            at=target.resolved,
            reason="into_resolved",
            params={"into": target.id},
        )
    note = command.note.strip() if command.note else ""
    return Decision(IncidentMerged(incident=ref, into=target.id, note=note or None, reports=incident.reports, title=incident.title), incident.regency)


def _wake(incident: Incident, now: datetime, rules: Rules, note: str | None) -> Decision:
    """The end of a snooze: the acknowledgement deadline counts again from `now`."""
    said: str | UnsetType = note if note else UNSET
    if incident.status == "open":
        rule = rules.severities.get(incident.severity)
        due = format_ts(now + timedelta(minutes=rule.ack_minutes)) if rule else incident.ack_due
        return Decision(IncidentUnsnoozed(incident=incident.id, note=said, ack_due=due, escalate_due=due), incident.regency)
    return Decision(IncidentUnsnoozed(incident=incident.id, note=said, escalate_due=None), incident.regency)


def due_wakeups(state: State, now: datetime, rules: Rules) -> list[Decision]:
    """Snoozes the server must end: every unresolved incident whose snooze has run out.
    The deadline counts again from the moment the snooze ended, not from the check."""
    decisions = []
    for incident in state.due_index().due(state.incidents, now):  # O(due), not a walk over the night
        if incident.snoozed_until is None or incident.status == "resolved":
            continue
        decisions.append(_wake(incident, parse_ts(incident.snoozed_until), rules, None))
    return decisions


def due_escalations(state: State, now: datetime, rules: Rules) -> list[Decision]:
    """Escalations the server owes: every open incident past its escalation time.

    Each is a step of its chain (opsmon/core/people.py): the next level, a
    repeat of the last one (at most the chain's `repeat`, or [notify]
    max_repeats without a chain), then one final "still unacknowledged since
    HH:MM" after which nothing more is due. One escalation per incident per
    check, however long the server was down; the next one is due at the next
    interval boundary after `now`.
    """
    decisions = []
    for incident in state.due_index().due(state.incidents, now):  # O(due), not a walk over the night
        if incident.status != "open" or incident.escalate_due is None or incident.snoozed_until is not None:
            continue
        due = parse_ts(incident.escalate_due)
        rule = rules.severities.get(incident.severity)
        step = rules.escalation.next_step(incident, due, now, rule.escalate_minutes if rule is not None else 0)
        following = format_ts(step.following) if step.following is not None else None
        notify: list[str] | UnsetType = list(step.notify) if step.notify else UNSET
        if step.final:
            since = parse_ts(incident.reported).astimezone(rules.tz)
            day = "" if since.date() == now.astimezone(rules.tz).date() else f"{since:%d/%m} "  # a report from another day: its date
            note = f"masih belum di-ack sejak {day}{since:%H:%M} {rules.tz_name}"
            payload = IncidentEscalated(
                incident=incident.id, level=step.level, note=note, escalate_due=None, repeat=step.repeat or UNSET, final=True, notify=notify
            )
        else:
            payload = IncidentEscalated(incident=incident.id, level=step.level, note=None, escalate_due=following, repeat=step.repeat or UNSET, notify=notify)
        decisions.append(Decision(payload, incident.regency))
    return decisions
