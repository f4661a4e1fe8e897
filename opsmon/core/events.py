"""Event payloads: one msgspec Struct per event kind, and PAYLOAD_TYPES,
the kind -> payload table every decoder reads.

No I/O here, and no textual: this module is shared with the server.
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec
from msgspec import UNSET, UnsetType

from opsmon.core.records import Actor, Incident, NoteEntry, StageRow

# --- events: one payload type per kind ---------------------------------------------
#
# An event's `kind` is a sibling of its `data` on the wire, so `data` is decoded
# by kind through PAYLOAD_TYPES (see `decode_payload`). Each payload's fields are
# in the order the server has always written them, and a field the server writes
# only sometimes (or that older servers did not write) defaults to UNSET, which
# is left out when encoded: an event decoded and encoded again is the same JSON,
# so its `event_digest` does not change. A kind this version does not know keeps
# its data as a plain dict (OtherData), and folds as nothing.


class IncidentReported(msgspec.Struct, frozen=True, kw_only=True):
    """`incident.reported`: the whole new incident (the fields of `Incident`)."""

    KIND: ClassVar[str] = "incident.reported"
    id: int
    regency: str
    category: str
    severity: str
    title: str
    detail: str
    location: str
    status: str
    level: int
    reported: str
    reporter: Actor
    acknowledged: str | None
    acknowledged_by: Actor | None
    resolved: str | None
    resolved_by: Actor | None
    ack_due: str
    notes: list[NoteEntry]
    # Written by every server since they were added; UNSET in events stored before.
    escalate_due: str | None | UnsetType = UNSET
    reports: int | UnsetType = UNSET
    owner: Actor | None | UnsetType = UNSET
    snoozed_until: str | None | UnsetType = UNSET
    merged_into: int | None | UnsetType = UNSET
    # Added to v1: true on an exercise's inject (the trainer's incident, sent as a field desk); left out otherwise.
    inject: bool | UnsetType = UNSET

    @classmethod
    def of(cls, incident: Incident) -> IncidentReported:
        # Its own fields only: not the incident's `repeats` nor a snapshot's `notes_before`.
        fields = {name: getattr(incident, name) for name in cls.__struct_fields__}
        if not incident.inject:
            fields["inject"] = UNSET  # a field report's event stays as it always was
        return cls(**fields)

    def as_incident(self) -> Incident:
        """The incident it reports, with today's defaults for fields an old event lacks."""
        fields = msgspec.structs.astuple(self)
        if UNSET not in fields:
            return Incident(*fields)  # the same fields in the same order: the usual, fast way
        if self.inject is UNSET and UNSET not in fields[:-1]:
            return Incident(*fields[:-1])  # a field report (no inject mark): as fast
        return Incident(
            id=self.id,
            regency=self.regency,
            category=self.category,
            severity=self.severity,
            title=self.title,
            detail=self.detail,
            location=self.location,
            status=self.status,
            level=self.level,
            reported=self.reported,
            reporter=self.reporter,
            acknowledged=self.acknowledged,
            acknowledged_by=self.acknowledged_by,
            resolved=self.resolved,
            resolved_by=self.resolved_by,
            ack_due=self.ack_due,
            notes=self.notes,
            escalate_due=None if self.escalate_due is UNSET else self.escalate_due,
            reports=1 if self.reports is UNSET else self.reports,
            owner=None if self.owner is UNSET else self.owner,
            snoozed_until=None if self.snoozed_until is UNSET else self.snoozed_until,
            merged_into=None if self.merged_into is UNSET else self.merged_into,
            inject=self.inject is True,
        )


class IncidentChange(msgspec.Struct, frozen=True, kw_only=True):
    """What every event about an existing incident carries first: its id."""

    incident: int


class IncidentAcknowledged(IncidentChange, frozen=True, kw_only=True):
    KIND: ClassVar[str] = "incident.acknowledged"


class IncidentEscalated(IncidentChange, frozen=True, kw_only=True):
    """`escalate_due` only on the server's own (automatic) escalations.
    Escalation chains (issue 25): `repeat` how often this level was repeated
    (left out: 0), `final` on the one last "still unacknowledged" after which
    nothing is due, `notify` the people the server sends it to (left out: none)."""

    KIND: ClassVar[str] = "incident.escalated"
    level: int
    note: str | None | UnsetType = UNSET
    escalate_due: str | None | UnsetType = UNSET
    repeat: int | UnsetType = UNSET
    final: bool | UnsetType = UNSET
    notify: list[str] | UnsetType = UNSET


class IncidentNoted(IncidentChange, frozen=True, kw_only=True):
    KIND: ClassVar[str] = "incident.noted"
    text: str


class IncidentResolved(IncidentChange, frozen=True, kw_only=True):
    KIND: ClassVar[str] = "incident.resolved"
    note: str


class IncidentReopened(IncidentChange, frozen=True, kw_only=True):
    KIND: ClassVar[str] = "incident.reopened"
    note: str
    ack_due: str | UnsetType = UNSET
    escalate_due: str | None | UnsetType = UNSET


class IncidentDuplicate(IncidentChange, frozen=True, kw_only=True):
    """A repeat report folded into the incident; `ack_due` and `escalate_due`
    only when the repeat is more severe."""

    KIND: ClassVar[str] = "incident.duplicate"
    title: str
    detail: str
    severity: str
    ack_due: str | UnsetType = UNSET
    escalate_due: str | None | UnsetType = UNSET


class IncidentSnoozed(IncidentChange, frozen=True, kw_only=True):
    KIND: ClassVar[str] = "incident.snoozed"
    until: str
    note: str


class IncidentUnsnoozed(IncidentChange, frozen=True, kw_only=True):
    """`note` when a person woke it; `ack_due` when it is open."""

    KIND: ClassVar[str] = "incident.unsnoozed"
    note: str | UnsetType = UNSET
    ack_due: str | UnsetType = UNSET
    escalate_due: str | None


class IncidentAssigned(IncidentChange, frozen=True, kw_only=True):
    KIND: ClassVar[str] = "incident.assigned"
    owner: Actor | None


class IncidentSeverityChanged(IncidentChange, frozen=True, kw_only=True):
    KIND: ClassVar[str] = "incident.severity_changed"
    severity: str
    note: str
    ack_due: str
    escalate_due: str | None


class IncidentUnacknowledged(IncidentChange, frozen=True, kw_only=True):
    KIND: ClassVar[str] = "incident.unacknowledged"
    note: str
    ack_due: str
    escalate_due: str | None


class Notification(IncidentChange, frozen=True, kw_only=True):
    """The fields every notification event has (NotificationSent says what each means)."""

    person: str
    key: str
    level: int
    channel: int
    scheme: str


class NotificationSent(Notification, frozen=True, kw_only=True):
    """A message that named this incident reached a person's channel (issue 25).
    `key` is the idempotency key the message carried (per incident, level,
    repeat and person: receivers drop a key they have seen); `channel` the
    position of the URL in the person's channels file, `scheme` its kind
    (mailto, json, tgram...: never the URL, which holds secrets); `answer` what
    the channel said."""

    KIND: ClassVar[str] = "notification.sent"
    answer: str


class NotificationFailed(Notification, frozen=True, kw_only=True):
    """A message that could not be delivered after `attempts` tries: not tried again."""

    KIND: ClassVar[str] = "notification.failed"
    attempts: int
    error: str


class IncidentMerged(IncidentChange, frozen=True, kw_only=True):
    """`reports` and `title` are the merged incident's, so a fold needs nothing else."""

    KIND: ClassVar[str] = "incident.merged"
    into: int
    note: str | None
    reports: int
    title: str


class StageUpdated(msgspec.Struct, frozen=True, kw_only=True):
    """`stage.updated`: the whole new stage row (the fields of `StageRow`)."""

    KIND: ClassVar[str] = "stage.updated"
    regency: str
    stage: str
    status: str
    done: int
    total: int
    note: str | None
    updated: str
    # Added to v1: set on a correction (a lower count, or a block lifted), with
    # the row as it was before; UNSET on every ordinary update and older events.
    corrected_done: int | UnsetType = UNSET
    corrected_status: str | UnsetType = UNSET

    @classmethod
    def of(cls, row: StageRow, corrects: StageRow | None = None) -> StageUpdated:
        """The event that sets `row`; with `corrects`, a correction of that row as it was."""
        update = cls(regency=row.regency, stage=row.stage, status=row.status, done=row.done, total=row.total, note=row.note, updated=row.updated)
        return update if corrects is None else msgspec.structs.replace(update, corrected_done=corrects.done, corrected_status=corrects.status)

    @property
    def correction(self) -> bool:
        return not isinstance(self.corrected_done, UnsetType)

    def as_row(self) -> StageRow:
        return StageRow(self.regency, self.stage, self.status, self.done, self.total, self.note, self.updated)


class TokenAdded(msgspec.Struct, frozen=True, kw_only=True):
    """`token.added` (actor system): never the secret or its hash."""

    KIND: ClassVar[str] = "token.added"
    name: str
    role: str
    agency: str
    regencies: list[str] | None
    expires: str | None
    by: str | None
    at: str


class TokenRevoked(msgspec.Struct, frozen=True, kw_only=True):
    KIND: ClassVar[str] = "token.revoked"
    name: str
    by: str | None
    at: str


class TokenExpired(msgspec.Struct, frozen=True, kw_only=True):
    KIND: ClassVar[str] = "token.expired"
    name: str
    expired: str
    at: str


class ConfigChanged(msgspec.Struct, frozen=True, kw_only=True):
    """`config.changed` (actor system): an operator accepted a config that drops history."""

    KIND: ClassVar[str] = "config.changed"
    by: str
    accepted: str
    dropped_regencies: list[str]
    dropped_stages: list[str]
    changes: list[str]


class ExerciseClockChanged(msgspec.Struct, frozen=True, kw_only=True):
    """`exercise.clock`: the trainer paused the scenario clock, resumed it, or ended
    the exercise. The event's ts is the scenario time it happened at."""

    KIND: ClassVar[str] = "exercise.clock"
    state: str  # "paused", "running" or "ended"
    note: str | None = None


class ShiftHandover(msgspec.Struct, frozen=True, kw_only=True):
    """`shift.handover` (added to v1, issue 25): an officer hands a desk's shift
    over (`step` "confirm", the outgoing one) or takes it (`accept`, the incoming
    one). `shift` is the roster's shift at that moment ("19:00-07:00", "" without
    a roster), `open` the desk's unresolved incidents in the officer's scope then."""

    KIND: ClassVar[str] = "shift.handover"
    desk: str
    step: str
    shift: str
    open: list[int]
    note: str


class SitrepNumbered(msgspec.Struct, frozen=True, kw_only=True):
    """`sitrep.numbered`: the server gave a situation report its number and its period
    (since, until]: `since` is the previous report's `until` (null for the first), so
    the post's reports tile the log, wherever each is written. `after` is the seq of
    the previous `sitrep.numbered` (0 for the first): the report covers the events after
    it up to this event. The event's actor is who asked (the server's own clock: system)."""

    KIND: ClassVar[str] = "sitrep.numbered"
    number: int
    since: str | None
    until: str
    after: int


IncidentEvent = (
    IncidentAcknowledged
    | IncidentEscalated
    | IncidentNoted
    | IncidentResolved
    | IncidentReopened
    | IncidentDuplicate
    | IncidentSnoozed
    | IncidentUnsnoozed
    | IncidentAssigned
    | IncidentSeverityChanged
    | IncidentUnacknowledged
    | IncidentMerged
    | NotificationSent
    | NotificationFailed
)
KnownPayload = (
    IncidentReported
    | IncidentEvent
    | StageUpdated
    | TokenAdded
    | TokenRevoked
    | TokenExpired
    | ConfigChanged
    | ExerciseClockChanged
    | ShiftHandover
    | SitrepNumbered
)
# The data of an event kind this version does not know (a newer server's).
OtherData = dict[str, Any]
Payload = KnownPayload | OtherData

PAYLOAD_TYPES: dict[str, type[KnownPayload]] = {
    cls.KIND: cls
    for cls in (
        IncidentReported,
        IncidentAcknowledged,
        IncidentEscalated,
        IncidentNoted,
        IncidentResolved,
        IncidentReopened,
        IncidentDuplicate,
        IncidentSnoozed,
        IncidentUnsnoozed,
        IncidentAssigned,
        IncidentSeverityChanged,
        IncidentUnacknowledged,
        IncidentMerged,
        NotificationSent,
        NotificationFailed,
        StageUpdated,
        TokenAdded,
        TokenRevoked,
        TokenExpired,
        ConfigChanged,
        ExerciseClockChanged,
        ShiftHandover,
        SitrepNumbered,
    )
}
