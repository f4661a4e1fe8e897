"""The opsmon wire protocol, version 1: one definition of every message.

Both the server and every client import these types; docs/protocol.md is
the human-readable contract they implement. Frames are parsed into typed
msgspec Structs at the edge, so a wrong field type, a missing field or an
over-long string is refused with a message that names the field.

No I/O here, and no textual: this module is shared with the server.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Annotated, Any, ClassVar, Literal, Union, get_args

import msgspec
from msgspec import UNSET, UnsetType

from opsmon.core.text import describe, forbidden_characters

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 64 * 1024
HELLO_TIMEOUT_SECONDS = 10.0

# Close codes.
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
# Not in the v1 text: a client too far behind is dropped with 1013
# ("try again later") and resumes from its last seq.
CLOSE_TOO_SLOW = 1013

ROLES = ("viewer", "officer", "admin")
Agency = Literal["KPU", "Bawaslu", "Polri"]
AGENCIES: tuple[str, ...] = get_args(Agency)
# The four severities, most severe first: the one list (config, wire, fold, screens, reports).
SeverityKey = Literal["critical", "high", "medium", "low"]
SEVERITIES: tuple[str, ...] = get_args(SeverityKey)
INCIDENT_STATUSES = ("open", "acknowledged", "resolved")

CommandId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
IncidentId = Annotated[int, msgspec.Meta(ge=1)]
# The longest title/location and the longest text (detail, note) a frame may
# carry; clients size their inputs from these.
TITLE_MAX = 200
TEXT_MAX = 4000
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=TITLE_MAX)]
LongText = Annotated[str, msgspec.Meta(max_length=TEXT_MAX)]
RequiredText = Annotated[str, msgspec.Meta(min_length=1, max_length=TEXT_MAX)]
Location = Annotated[str, msgspec.Meta(max_length=TITLE_MAX)]

# --- values ------------------------------------------------------------------


class Actor(msgspec.Struct, frozen=True, omit_defaults=True):
    """Who did something: a person and their agency, or {"name": "system"}."""

    name: str
    agency: str | None = None


SYSTEM = Actor(name="system")


class NoteEntry(msgspec.Struct, frozen=True):
    ts: str
    by: Actor
    text: str
    # Added to v1: which event wrote it ("note", "escalated", "resolved", "reopened").
    kind: str = "note"


class Incident(msgspec.Struct):
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
    # Added to v1: when the server will next escalate it (null once acknowledged,
    # resolved, snoozed, or escalated for the last time).
    escalate_due: str | None = None
    # Added to v1 (triage): how many reports were folded into it, who handles it,
    # until when the server does not escalate it, and which incident it was merged
    # into. Defaults, so incidents stored before these existed still decode.
    reports: int = 1
    owner: Actor | None = None
    snoozed_until: str | None = None
    merged_into: int | None = None


class StageRow(msgspec.Struct):
    regency: str
    stage: str
    status: str
    done: int
    total: int
    note: str | None
    updated: str


# --- the province's config, as `welcome` carries it ---------------------------
# One definition: opsmon/core/config.py decodes config.toml straight into these
# (through subclasses that refuse unknown keys and add what only the server
# reads), and the welcome sends exactly these fields. Clients decode them
# leniently: a field a newer server adds is ignored.

StageUnit = Literal["tps", "kecamatan", "plenary"]
# "regency": every regency has its own row; "province": one row for the whole
# province (its plenary), keyed by the province code.
StageScope = Literal["regency", "province"]
KEY_PATTERN = "^[a-z][a-z0-9_]{0,31}$"
CODE_PATTERN = "^[0-9]{4}$"
NOT_BLANK = r"\S"  # a name or label: not empty, not only spaces
Name = Annotated[str, msgspec.Meta(pattern=NOT_BLANK)]
Key = Annotated[str, msgspec.Meta(pattern=KEY_PATTERN)]
RegencyCode = Annotated[str, msgspec.Meta(pattern=CODE_PATTERN)]
Positive = Annotated[int, msgspec.Meta(ge=1)]
NonNegative = Annotated[int, msgspec.Meta(ge=0)]


class LabelText(msgspec.Struct, frozen=True):
    id: Name
    en: Name

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.id


class RegencyInfo(msgspec.Struct, frozen=True):
    code: RegencyCode
    name: Name
    short: Name
    kecamatan: Positive
    tps: Positive
    desa: NonNegative = 0
    tps_estimated: bool = False


class StageInfo(msgspec.Struct, frozen=True):
    key: Key
    label: LabelText
    # Any string on the wire, so a newer server's new unit or scope does not stop
    # an older client (an unknown unit counts to 1); the config narrows both.
    unit: str
    short: LabelText | None = None
    window: str = ""
    # Added to v1: "province" for a stage with one row for the whole province
    # (its regency is the province code), "regency" for one row per regency.
    scope: str = "regency"
    # Added to v1: true on the stage whose `done` is the TPS counted (the
    # header's TPS figure, the sitrep, the chart). Sent only when the config
    # sets it; see ConfigInfo.counting_stage for the fallback.
    counts: bool | msgspec.UnsetType = msgspec.UNSET

    @property
    def province_wide(self) -> bool:
        return self.scope == "province"

    def total_for(self, regency: RegencyInfo | None) -> int:
        """What a regency (None: the province, for a province stage) counts to in this stage."""
        if regency is None:
            return 1
        if self.unit == "tps":
            return regency.tps
        if self.unit == "kecamatan":
            return regency.kecamatan
        return 1


class CategoryInfo(msgspec.Struct, frozen=True):
    key: Key
    label: LabelText


class SeverityInfo(msgspec.Struct, frozen=True):
    key: Key  # any key on the wire (a newer server's); the config allows only SeverityKey
    label: LabelText
    ack_minutes: Positive
    escalate_minutes: NonNegative  # 0: escalate once, at the deadline, and not again


class ProvinceInfo(msgspec.Struct, frozen=True):
    code: Name
    name: Name
    timezone_name: str = "WITA"
    # Indonesia keeps no daylight saving time, so a fixed offset is exact.
    utc_offset_hours: Annotated[float, msgspec.Meta(ge=-14, le=14)] = 8.0

    @property
    def tz(self) -> tzinfo:
        return timezone(timedelta(hours=self.utc_offset_hours), self.timezone_name)


class ConfigInfo(msgspec.Struct, frozen=True):
    regencies: Annotated[tuple[RegencyInfo, ...], msgspec.Meta(min_length=1)]
    stages: Annotated[tuple[StageInfo, ...], msgspec.Meta(min_length=1)]
    categories: Annotated[tuple[CategoryInfo, ...], msgspec.Meta(min_length=1)]
    severities: Annotated[tuple[SeverityInfo, ...], msgspec.Meta(min_length=1)]
    province: ProvinceInfo | None = None

    @property
    def tz(self) -> tzinfo:
        """The province's time, which stage windows are written in (a welcome
        without `province`, from a server older than it: ProvinceInfo's defaults)."""
        return (self.province or ProvinceInfo(code="", name="")).tz

    def regency(self, code: str) -> RegencyInfo | None:
        return next((r for r in self.regencies if r.code == code), None)

    def stage(self, key: str) -> StageInfo | None:
        return next((s for s in self.stages if s.key == key), None)

    def category(self, key: str) -> CategoryInfo | None:
        return next((c for c in self.categories if c.key == key), None)

    def severity(self, key: str) -> SeverityInfo | None:
        return next((s for s in self.severities if s.key == key), None)

    def regency_stages(self) -> list[StageInfo]:
        """The stages every regency counts: not the province's own (`scope = "province"`)."""
        return [stage for stage in self.stages if not stage.province_wide]

    def province_stages(self) -> list[StageInfo]:
        """Stages held once for the whole province (its recapitulation plenary)."""
        return [stage for stage in self.stages if stage.province_wide]

    def counting_stage(self) -> StageInfo | None:
        """The stage whose `done` is the TPS counted: the one the config marks
        `counts = true`, else (a config or a server without the mark) the last
        regency stage counted in TPS."""
        marked = next((s for s in self.stages if s.counts is True), None)
        return marked or next((s for s in reversed(self.regency_stages()) if s.unit == "tps"), None)


class User(msgspec.Struct):
    name: str
    role: str
    agency: str
    regencies: list[str] | None

    @property
    def actor(self) -> Actor:
        return Actor(name=self.name, agency=self.agency)

    def may_act(self) -> bool:
        return self.role in ("officer", "admin")


# --- client -> server ----------------------------------------------------------


class Hello(msgspec.Struct, tag="hello", tag_field="type"):
    token: str
    client: str = ""
    epoch: str | None = None
    since: int | None = None
    # Added to v1: `event_digest` of the event at `since` as the client holds
    # it, so the server resumes only a history it recognises.
    digest: str | None = None


class IncidentDraft(msgspec.Struct):
    regency: str
    category: str
    severity: str
    title: Title
    detail: LongText = ""
    location: Location = ""


class Report(msgspec.Struct, tag="report", tag_field="type"):
    id: CommandId
    incident: IncidentDraft


class Ack(msgspec.Struct, tag="ack", tag_field="type"):
    id: CommandId
    incident: IncidentId


class Escalate(msgspec.Struct, tag="escalate", tag_field="type"):
    id: CommandId
    incident: IncidentId
    note: LongText | None = None


class Note(msgspec.Struct, tag="note", tag_field="type"):
    id: CommandId
    incident: IncidentId
    text: RequiredText


class Resolve(msgspec.Struct, tag="resolve", tag_field="type"):
    id: CommandId
    incident: IncidentId
    note: RequiredText


class Reopen(msgspec.Struct, tag="reopen", tag_field="type"):
    id: CommandId
    incident: IncidentId
    note: RequiredText


class StageUpdate(msgspec.Struct, tag="stage", tag_field="type"):
    id: CommandId
    regency: str
    stage: str
    # Added to v1: optional; left out (or null), the server keeps the count it has.
    done: Annotated[int, msgspec.Meta(ge=0)] | None = None
    note: LongText | None = None
    blocked: bool = False


class History(msgspec.Struct, tag="history", tag_field="type"):
    """Added to v1: every event of one incident, for its timeline. Read-only,
    so viewers may ask too; answered by a result with `events`."""

    id: CommandId
    incident: IncidentId


# --- triage (added to v1) ------------------------------------------------------

SnoozeMinutes = Annotated[int, msgspec.Meta(ge=0, le=1440)]
PersonName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class Snooze(msgspec.Struct, tag="snooze", tag_field="type"):
    """No automatic escalation for `minutes` (1-1440); 0 wakes it now."""

    id: CommandId
    incident: IncidentId
    minutes: SnoozeMinutes
    note: RequiredText


class Owner(msgspec.Struct, frozen=True):
    name: PersonName
    agency: str


class Assign(msgspec.Struct, tag="assign", tag_field="type"):
    """Give the incident an owner (`to`), or release it (`to: null`)."""

    id: CommandId
    incident: IncidentId
    to: Owner | None


class SeverityChange(msgspec.Struct, tag="severity", tag_field="type"):
    id: CommandId
    incident: IncidentId
    severity: str
    note: RequiredText


class Unack(msgspec.Struct, tag="unack", tag_field="type"):
    id: CommandId
    incident: IncidentId
    note: RequiredText


class Merge(msgspec.Struct, tag="merge", tag_field="type"):
    """`incident` is the same trouble as `into`: resolve it as merged."""

    id: CommandId
    incident: IncidentId
    into: IncidentId
    note: LongText | None = None


Command = Report | Ack | Escalate | Note | Resolve | Reopen | StageUpdate | History | Snooze | Assign | SeverityChange | Unack | Merge
WRITE_COMMANDS = (Report, Ack, Escalate, Note, Resolve, Reopen, StageUpdate, Snooze, Assign, SeverityChange, Unack, Merge)
ClientMessage = Hello | Command

# --- server -> client ----------------------------------------------------------


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

    @classmethod
    def of(cls, incident: Incident) -> IncidentReported:
        return cls(**{name: getattr(incident, name) for name in Incident.__struct_fields__})

    def as_incident(self) -> Incident:
        """The incident it reports, with today's defaults for fields an old event lacks."""
        fields = msgspec.structs.astuple(self)
        if UNSET not in fields:
            return Incident(*fields)  # the same fields in the same order: the usual, fast way
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
        )


class IncidentChange(msgspec.Struct, frozen=True, kw_only=True):
    """What every event about an existing incident carries first: its id."""

    incident: int


class IncidentAcknowledged(IncidentChange, frozen=True, kw_only=True):
    KIND: ClassVar[str] = "incident.acknowledged"


class IncidentEscalated(IncidentChange, frozen=True, kw_only=True):
    """`escalate_due` only on the server's own (automatic) escalations."""

    KIND: ClassVar[str] = "incident.escalated"
    level: int
    note: str | None | UnsetType = UNSET
    escalate_due: str | None | UnsetType = UNSET


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

    @classmethod
    def of(cls, row: StageRow) -> StageUpdated:
        return cls(regency=row.regency, stage=row.stage, status=row.status, done=row.done, total=row.total, note=row.note, updated=row.updated)

    def as_row(self) -> StageRow:
        return StageRow(*msgspec.structs.astuple(self))  # the same fields in the same order


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
)
KnownPayload = IncidentReported | IncidentEvent | StageUpdated | TokenAdded | TokenRevoked | TokenExpired | ConfigChanged
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
        StageUpdated,
        TokenAdded,
        TokenRevoked,
        TokenExpired,
        ConfigChanged,
    )
}


class Event(msgspec.Struct, tag="event", tag_field="type"):
    """One event. `data` is the kind's payload type (PAYLOAD_TYPES), or a plain
    dict for a kind this version does not know. Build one with `Event.of`, which
    takes the kind from the payload (so the two cannot disagree)."""

    seq: int
    ts: str
    kind: str
    actor: Actor
    data: Payload

    @classmethod
    def of(cls, seq: int, ts: str, actor: Actor, data: KnownPayload) -> Event:
        return cls(seq=seq, ts=ts, kind=data.KIND, actor=actor, data=data)


class Batch(msgspec.Struct, tag="batch", tag_field="type"):
    events: list[Event]


class ExerciseInfo(msgspec.Struct):
    """Added to v1 (in `welcome`): the server runs a training exercise on scenario time."""

    name: str
    speed: float  # scenario seconds per real second
    now: str  # scenario time when the welcome was sent
    start: str  # scenario time the exercise started at
    scenario: str | None = None


class Welcome(msgspec.Struct, tag="welcome", tag_field="type"):
    protocol: int
    epoch: str
    seq: int
    user: User
    config: ConfigInfo
    # Added to v1: what keeps the server from saving commands right now
    # (a full or read-only disk), or null.
    problem: str | None = None
    # Added to v1: a training exercise (LATIHAN) on scenario time, or null for a real night.
    exercise: ExerciseInfo | None = None


class Snapshot(msgspec.Struct, tag="snapshot", tag_field="type"):
    epoch: str
    seq: int
    stages: list[StageRow]
    incidents: list[Incident]
    # Added to v1: `event_digest` of the event at `seq` (null at seq 0).
    digest: str | None = None


class Result(msgspec.Struct, tag="result", tag_field="type", omit_defaults=True):
    id: str
    ok: bool
    seq: int | None = None
    incident: int | None = None
    code: str | None = None
    message: str | None = None
    # Added to v1, on `conflict`: the incident's status, who acted and when,
    # so a client can say it in its own language.
    status: str | None = None
    by: Actor | None = None
    at: str | None = None
    # Added to v1: the answer to `history`.
    events: list[Event] | None = None
    # Added to v1: true when this answers a command id already carried out
    # (the first answer, unchanged otherwise).
    repeat: bool = False
    # Added to v1, on a refusal: a stable machine-readable reason (e.g.
    # "scope", "read_only", "control_character") and its parameters, so a
    # client says it in its own language; `message` stays the English text.
    reason: str | None = None
    params: dict[str, Any] | None = None
    # Added to v1: true when a report was folded into an open incident
    # (`incident` is that one) instead of opening a new one.
    duplicate: bool = False


class Error(msgspec.Struct, tag="error", tag_field="type"):
    code: str
    message: str


class Status(msgspec.Struct, tag="status", tag_field="type"):
    """Added to v1: the server's trouble began (`problem`) or ended (null)."""

    problem: str | None = None


ServerMessage = Welcome | Snapshot | Event | Batch | Result | Error | Status

# --- encoding --------------------------------------------------------------------

_encoder = msgspec.json.Encoder()
_raw_decoder = msgspec.json.Decoder()

# Decoding: an event's `data` is first kept raw, then decoded by its `kind`.
_payload_decoders: dict[str, msgspec.json.Decoder[Any]] = {kind: msgspec.json.Decoder(cls) for kind, cls in PAYLOAD_TYPES.items()}
_other_decoder = msgspec.json.Decoder(OtherData)


class _WireEvent(msgspec.Struct, tag="event", tag_field="type"):
    seq: int
    ts: str
    kind: str
    actor: Actor
    data: msgspec.Raw


class _WireBatch(msgspec.Struct, tag="batch", tag_field="type"):
    events: list[_WireEvent]


# `Result` as it arrives: its history `events` with their data still raw.
_WireResult: Any = msgspec.defstruct(
    "_WireResult",
    [(f.name, list[_WireEvent] | None if f.name == "events" else f.type, f.default) for f in msgspec.structs.fields(Result)],
    tag="result",
    tag_field="type",
    omit_defaults=True,
)
_server_decoder = msgspec.json.Decoder(Welcome | Snapshot | _WireEvent | _WireBatch | _WireResult | Error | Status)

# The fast way for a batch (most events arrive in one): its events as a union
# tagged by `kind`, one struct per known kind, decoded in one pass. A batch
# holding a kind not known here fails it and is decoded the general way.
_KindedEvents: Any = Union[  # noqa: UP007 - a union built from a tuple of types
    tuple(
        msgspec.defstruct(f"_Wire{cls.__name__}", [("seq", int), ("ts", str), ("actor", Actor), ("data", cls)], tag=kind, tag_field="kind")
        for kind, cls in PAYLOAD_TYPES.items()
    )
]
_batch_decoder = msgspec.json.Decoder(msgspec.defstruct("_KindedBatch", [("events", list[_KindedEvents])], tag="batch", tag_field="type"))
_BATCH_TEXT_PREFIX = '{"type":"batch"'
_BATCH_PREFIX = _BATCH_TEXT_PREFIX.encode()
_result_decoder = msgspec.json.Decoder(_WireResult)


def decode_payload(kind: str, data: bytes | str | msgspec.Raw) -> Payload:
    """An event's data (JSON) as its kind's payload type; a dict for a kind not known here.
    Raises msgspec.ValidationError / DecodeError when it does not fit."""
    decoder = _payload_decoders.get(kind)
    if decoder is None:
        other: OtherData = _other_decoder.decode(data)
        return other
    payload: KnownPayload = decoder.decode(data)
    return payload


def convert_payload(kind: str, data: Any) -> Payload:
    """An event's data as plain values (a dict) as its kind's payload type."""
    known = PAYLOAD_TYPES.get(kind)
    if known is None:
        other: OtherData = msgspec.convert(data, OtherData)
        return other
    payload: KnownPayload = msgspec.convert(data, known)
    return payload


class _PlainEvent(msgspec.Struct):
    seq: int
    ts: str
    kind: str
    actor: Actor
    data: OtherData


def convert_event(value: Any) -> Event:
    """An event as plain values (a decoded frame, a JSONL row's fields) as an Event."""
    plain = msgspec.convert(value, _PlainEvent)
    return Event(seq=plain.seq, ts=plain.ts, kind=plain.kind, actor=plain.actor, data=convert_payload(plain.kind, plain.data))


def _lift(wire: _WireEvent, where: str = "$") -> Event:
    """The event with its data decoded by kind; an error names the field in the frame."""
    try:
        data = decode_payload(wire.kind, wire.data)
    except msgspec.ValidationError as exc:
        problem, _, at = str(exc).partition(" - at `$")
        raise msgspec.ValidationError(f"{problem} - at `{where}.data{at or '`'}") from None
    return Event(seq=wire.seq, ts=wire.ts, kind=wire.kind, actor=wire.actor, data=data)


def _lift_result(wire: Any) -> Result:
    fields = {name: getattr(wire, name) for name in Result.__struct_fields__}
    if wire.events is not None:
        fields["events"] = [_lift(e, f"$.events[{n}]") for n, e in enumerate(wire.events)]
    return Result(**fields)


class BadMessage(ValueError):
    """A frame that is not a valid message; carries the command id if it had one,
    and the refusal's `reason` and `params` (see docs/protocol.md)."""

    def __init__(self, message: str, command_id: str | None = None, *, reason: str = "bad_field", params: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.command_id = command_id
        self.reason = reason
        self.params = params if params is not None else {"field": None, "problem": message}


# Fields that may hold several lines (newline and tab allowed). Every other
# string field of a message, now or added later, is one line.
MULTILINE_FIELDS = frozenset({"detail", "text", "note"})


def _strings(value: Any, path: str) -> list[tuple[str, str]]:
    """Every string inside a message, with its field path (`incident.title`)."""
    if isinstance(value, str):
        return [(path, value)]
    found: list[tuple[str, str]] = []
    if isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            found += _strings(getattr(value, name), f"{path}.{name}" if path else name)
    elif isinstance(value, list | tuple):
        for item in value:
            found += _strings(item, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            found += _strings(item, f"{path}.{key}" if path else str(key))
    return found


def check_text(message: msgspec.Struct, command_id: str | None = None) -> None:
    """Refuse control characters, DEL and bidi controls in any field of a message
    (`detail`, `text` and `note` may hold newlines and tabs); raises BadMessage."""
    for path, text in _strings(message, ""):
        found = forbidden_characters(text, multiline=path.rsplit(".", 1)[-1] in MULTILINE_FIELDS)
        if found:
            names = [describe(char) for char in found]
            raise BadMessage(
                f"field `{path}` holds control characters ({', '.join(names)}); only printable text is allowed",
                command_id,
                reason="control_character",
                params={"field": path, "characters": names},
            )


def encode(message: msgspec.Struct) -> bytes:
    return _encoder.encode(message)


_TOO_LONG = re.compile(r"^Expected `(?:str|array)` of length <= (\d+)$")
_MISSING = re.compile(r"^Object missing required field `([^`]+)`$")


def _describe(exc: msgspec.ValidationError) -> tuple[str, str, dict[str, Any]]:
    """msgspec's error as (message, reason, params), naming the field."""
    text = str(exc)
    # msgspec says "Invalid value 'x' - at `$.type`" for an unknown tag.
    if text.endswith("at `$.type`") and text.startswith("Invalid value"):
        message = f"unknown message type {text.split(' - ')[0].removeprefix('Invalid value ')}"
        return message, "bad_field", {"field": "type", "problem": message}
    problem, _, where = text.partition(" - at `$")
    path = where.removeprefix(".").removesuffix("`") or None
    message = text.replace("`$.", "`")
    if (missing := _MISSING.match(problem)) is not None:
        field = f"{path}.{missing[1]}" if path else missing[1]
        return message, "bad_field", {"field": field, "problem": "missing"}
    if (too_long := _TOO_LONG.match(problem)) is not None:
        return message, "too_long", {"field": path, "max": int(too_long[1])}
    if problem == "Expected `str` of length >= 1":
        return message, "blank", {"field": path}
    return message, "bad_field", {"field": path, "problem": problem}


def decode_client(frame: str | bytes) -> ClientMessage:
    """Parse one client frame; raises BadMessage saying what is wrong."""
    try:
        raw = _raw_decoder.decode(frame)
    except msgspec.DecodeError:
        raise BadMessage("not valid JSON") from None
    if not isinstance(raw, dict):
        raise BadMessage("a message must be a JSON object")
    given = raw.get("id")
    # An id is echoed in the answer: one with control characters is not echoed.
    command_id = given if isinstance(given, str) and 0 < len(given) <= 64 and not forbidden_characters(given) else None
    if "type" not in raw:
        raise BadMessage("missing field `type`", command_id, params={"field": "type", "problem": "missing"})
    if not isinstance(raw["type"], str):
        raise BadMessage("field `type` must be a string", command_id, params={"field": "type", "problem": "must be a string"})
    try:
        message: ClientMessage = msgspec.convert(raw, ClientMessage)
    except msgspec.ValidationError as exc:
        text, reason, params = _describe(exc)
        raise BadMessage(text, command_id, reason=reason, params=params) from None
    check_text(message, command_id)
    return message


def decode_server(frame: str | bytes) -> ServerMessage:
    """Parse one server frame (clients); raises BadMessage."""
    if frame.startswith(_BATCH_PREFIX) if isinstance(frame, bytes) else frame.startswith(_BATCH_TEXT_PREFIX):
        try:
            kinded: Any = _batch_decoder.decode(frame)
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass  # a kind this version does not know (or a bad frame): the general way says which
        else:
            return Batch(events=[Event(seq=e.seq, ts=e.ts, kind=e.data.KIND, actor=e.actor, data=e.data) for e in kinded.events])
    try:
        message = _server_decoder.decode(frame)
        if isinstance(message, _WireBatch):
            return Batch(events=[_lift(e, f"$.events[{n}]") for n, e in enumerate(message.events)])
        if isinstance(message, _WireEvent):
            return _lift(message)
        if isinstance(message, Welcome | Snapshot | Error | Status):
            return message
        return _lift_result(message)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise BadMessage(f"bad frame from server: {exc}") from None


def decode_result(frame: bytes) -> Result:
    """A stored result frame (the server's own encoding)."""
    return _lift_result(_result_decoder.decode(frame))


DIGEST_LENGTH = 16


def event_digest(event: Event) -> str:
    """Who this event is, across copies of a history: the first 16 hex digits
    of the SHA-256 of its canonical JSON (seq, ts, kind, actor, data; keys
    sorted, no spaces, UTF-8; see docs/protocol.md)."""
    body = msgspec.to_builtins(event)
    body.pop("type", None)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:DIGEST_LENGTH]


def to_builtins(value: Any) -> Any:
    return msgspec.to_builtins(value)


def convert(value: Any, type_: Any) -> Any:
    return msgspec.convert(value, type_)


# --- time ----------------------------------------------------------------------------


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_ts(moment: datetime) -> str:
    """RFC 3339 UTC with milliseconds and Z, as the protocol writes every ts."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
