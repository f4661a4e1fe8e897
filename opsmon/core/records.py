"""The values the protocol carries: who acted, an incident, a stage row, the
province's config as `welcome` sends it, the user, and the vocabularies
(roles, agencies, severities, statuses) and field limits they share.

No I/O here, and no textual: this module is shared with the server.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import timedelta, timezone, tzinfo
from typing import Annotated, Literal, get_args

import msgspec

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


# gc=False (NoteEntry, Incident): never tracked by the cycle collector. Neither can be
# part of a cycle (an incident holds its notes' list, a note its actor and words; none
# holds an incident), and a client holds 50,000 of each and more: a full collection
# walked them all (about 200 ms under load, 15 ms without them).
class NoteEntry(msgspec.Struct, frozen=True, gc=False):
    ts: str
    by: Actor
    text: str
    # Added to v1: which event wrote it ("note", "escalated", "resolved", "reopened").
    kind: str = "note"


class Incident(msgspec.Struct, gc=False):
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
    # Added to v1 (exercises): the trainer sent it (`opsmon exercise inject`) as a field desk.
    # Screens show it like any field report; only an admin token's screens mark it.
    inject: bool = False
    # Added to v1 (escalation chains): how often its current level was repeated. Last:
    # incident.reported's fields are the ones before it, in order (IncidentReported.as_incident).
    repeats: int = 0
    # Added to v1: how many notes, older than those in `notes`, a snapshot left
    # out (it carries only the last SNAPSHOT_NOTES of each incident, so its size
    # does not grow with the night's notes); the incident's `history` has them
    # all. 0 everywhere else: the server's own state, `incidents` answers.
    notes_before: int = 0


# --- what a client's many incidents repeat, held once ----------------------------------
# A client holding a night (50,000 incidents pulled in pages) decodes every
# incident from its own frame: each `regency`, `status`, note `kind` and each
# Actor (the reporter, who acknowledged, who wrote each note) a new object,
# about 45 MiB of copies of a few dozen values at 50,000 incidents, and a note's
# time a copy of one of its incident's. `compacted` makes a freshly decoded
# incident share them; the values are equal, so nothing
# that reads or compares an incident sees a difference.

# Actors by (name, agency): bounded, so a night of many distinct names costs at most this many.
SHARED_ACTORS_MAX = 10_000
_actors: dict[tuple[str, str | None], Actor] = {}


def shared_actor(actor: Actor) -> Actor:
    """The one Actor kept for this (name, agency), or `actor` itself (the first of
    its kind is kept; past SHARED_ACTORS_MAX kinds nothing more is)."""
    key = (actor.name, actor.agency)
    found = _actors.get(key)
    if found is not None:
        return found
    if len(_actors) < SHARED_ACTORS_MAX:
        _actors[key] = actor
    return actor


def compacted(incident: Incident) -> Incident:
    """`incident`, its repeated values (vocabulary words, actors) shared with every
    other incident's. Changed in place: call it only on an incident just decoded,
    which nothing else holds yet (the fold never mutates one it has folded)."""
    intern = sys.intern
    incident.regency = intern(incident.regency)
    incident.category = intern(incident.category)
    incident.severity = intern(incident.severity)
    incident.status = intern(incident.status)
    incident.reporter = shared_actor(incident.reporter)
    if incident.acknowledged_by is not None:
        incident.acknowledged_by = shared_actor(incident.acknowledged_by)
    if incident.resolved_by is not None:
        incident.resolved_by = shared_actor(incident.resolved_by)
    if incident.owner is not None:
        incident.owner = shared_actor(incident.owner)
    if incident.notes:
        # A note's time is most often one of the incident's own (a resolution's note, its `resolved`).
        times = {
            t: t for t in (incident.reported, incident.acknowledged, incident.resolved, incident.ack_due, incident.escalate_due, incident.snoozed_until) if t
        }
        incident.notes = [NoteEntry(times.get(note.ts, note.ts), shared_actor(note.by), note.text, intern(note.kind)) for note in incident.notes]
    return incident


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
    # Added to v1: when the stage's window closes, a full date and time with its
    # UTC offset (`window` is only its label), and the minutes of grace after it
    # before a panel calls the stage late. Without `closes` no panel does.
    closes: str | msgspec.UnsetType = msgspec.UNSET
    grace_minutes: NonNegative | msgspec.UnsetType = msgspec.UNSET

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


# A time of day in the province's time ("07:00"): a shift's start and end.
ClockTime = Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class PersonInfo(msgspec.Struct, frozen=True):
    """Added to v1: a person of config.toml's [[people]] as the welcome names them (the header's
    "Piket: ..."): name, agency, position. Never their channels (secrets) or quiet hours:
    the config's Person adds those, and the wire Struct has no place for them."""

    name: Name
    agency: str
    position: str = ""


class ShiftInfo(msgspec.Struct, frozen=True):
    """Added to v1: one shift of a desk's roster, in the province's time ("19:00" to "07:00" wraps)."""

    start: ClockTime
    end: ClockTime
    people: tuple[str, ...]
    supervisor: str = ""


class RosterInfo(msgspec.Struct, frozen=True):
    """Added to v1: who is on duty at a desk, shift by shift (config.toml's [[rosters]])."""

    desk: str
    shifts: tuple[ShiftInfo, ...]
    regencies: tuple[str, ...] = ()  # empty: every regency (a roster naming a regency wins for it)


class ConfigInfo(msgspec.Struct, frozen=True, omit_defaults=True):
    regencies: Annotated[tuple[RegencyInfo, ...], msgspec.Meta(min_length=1)]
    stages: Annotated[tuple[StageInfo, ...], msgspec.Meta(min_length=1)]
    categories: Annotated[tuple[CategoryInfo, ...], msgspec.Meta(min_length=1)]
    severities: Annotated[tuple[SeverityInfo, ...], msgspec.Meta(min_length=1)]
    province: ProvinceInfo | None = None
    # Added to v1 (issue 25): the config's [[people]] (names, agencies, positions) and who is on duty at each desk.
    # Left out of the welcome when the config has none (omit_defaults): the v1 bytes stay.
    people: tuple[PersonInfo, ...] = ()
    rosters: tuple[RosterInfo, ...] = ()

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


@dataclass(frozen=True)
class Attempt:
    """A command the server refused, kept for the after-action report (ts in the log's time):
    the store writes it, the report reads it."""

    ts: str
    user: str
    agency: str | None
    command: str
    incident: int | None
    code: str
    reason: str | None
    message: str
