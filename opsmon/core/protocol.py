"""The opsmon wire protocol, version 1: the messages themselves.

Both the server and every client import these types; docs/protocol.md is
the human-readable contract they implement. Here: the commands a client
sends, the event envelope and the frames the server sends. The values they
carry are in records.py, event payloads in events.py, encoding and decoding
(a wrong field is refused with a message that names it) in wire.py,
timestamps in clock.py.

No I/O here, and no textual: this module is shared with the server.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

import msgspec

from opsmon.core.events import KnownPayload, Payload
from opsmon.core.records import Actor, CommandId, ConfigInfo, Incident, IncidentId, Location, LongText, RequiredText, StageRow, Title, User

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 64 * 1024
HELLO_TIMEOUT_SECONDS = 10.0
# A hello frame longer than this is refused before it is parsed (a real one is
# a few hundred bytes); its fields have the limits below.
MAX_HELLO_BYTES = 2048
# Added to v1 (paging): the most incidents a paged snapshot, or one page of an
# `incidents` answer, holds (a larger `page` or `limit` is taken as this), and
# the most events one page of a `history` answer holds.
MAX_PAGE = 500
MAX_HISTORY_PAGE = 1000
# Added to v1 (paging): an `incidents` without `after`/`limit` answers the whole log
# in one frame only while the night holds at most this many incidents; past it the
# answer would cost the server time and memory that grow with the night (63 MB and
# half a second at 50,000), so it is refused `page_it` and clients ask in pages.
MAX_UNPAGED = 2000
# Added to v1 (paging): a page of `whole` incidents stops early once it holds this
# many notes (at least one incident a page), so a page's bytes stay bounded however
# many notes its incidents hold.
MAX_PAGE_NOTES = 2000

# Close codes.
CLOSE_POLICY = 1008
# Not in the v1 text: a client too far behind is dropped with 1013
# ("try again later") and resumes from its last seq.
CLOSE_TOO_SLOW = 1013

# --- client -> server ----------------------------------------------------------


class Hello(msgspec.Struct, tag="hello", tag_field="type"):
    # Lengths capped (a token is 47 characters), so no field is scanned long.
    token: Annotated[str, msgspec.Meta(max_length=256)]
    client: Annotated[str, msgspec.Meta(max_length=100)] = ""
    epoch: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    since: int | None = None
    # Added to v1: `event_digest` of the event at `since` as the client holds
    # it, so the server resumes only a history it recognises.
    digest: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    # Added to v1 (paging): the most incidents the snapshot may hold (at most
    # MAX_PAGE are sent): the most urgent first, with `counts` and a `more`
    # cursor for the rest, fetched with `incidents` and `after`. Absent: the
    # whole snapshot, as in v1.
    page: Annotated[int, msgspec.Meta(ge=1)] | None = None


class IncidentDraft(msgspec.Struct):
    regency: str
    category: str
    severity: str
    title: Title
    detail: LongText = ""
    location: Location = ""


class Report(msgspec.Struct, tag="report", tag_field="type", omit_defaults=True):
    id: CommandId
    incident: IncidentDraft
    # Added to v1 (exercises): the trainer's inject, an incident sent now as a field desk
    # (`desk`: KPU, Bawaslu or Polri; `reporter`: the name it shows, "Lapangan <desk>" if
    # left out). An admin token on an exercise server only. Left out on a field report.
    inject: bool = False
    desk: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    reporter: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | None = None


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
    # Added to v1: a count lower than the one held, or an update that lifts a
    # block, is refused unless the command says it corrects (with a note why).
    correct: bool = False


class History(msgspec.Struct, tag="history", tag_field="type"):
    """Added to v1: every event of one incident, for its timeline. Read-only,
    so viewers may ask too; answered by a result with `events`."""

    id: CommandId
    incident: IncidentId
    # Added to v1 (paging): only the events after seq `after`, at most `limit`
    # (capped at MAX_HISTORY_PAGE); the answer's `next` is the `after` of the next page.
    after: Annotated[int, msgspec.Meta(ge=0)] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1)] | None = None


class Incidents(msgspec.Struct, tag="incidents", tag_field="type"):
    """Added to v1: incidents from the server's whole log (a snapshot leaves out
    those resolved more than a day ago), for lists and reports over a long
    period. Read-only, so viewers may ask too; answered by a result with
    `incidents`. `status`: only those with it; `since` (RFC 3339): only those
    reported or resolved at or after it, and every one not yet resolved."""

    id: CommandId
    status: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    since: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    # Added to v1 (paging): a page of what a paged snapshot left out: the
    # incidents with an id above `after`, at most `limit` (capped at MAX_PAGE),
    # in id order, every regency (as a snapshot); the answer's `next` is the
    # `after` of the next page (null: none left), its `seq` the head it was read at.
    after: Annotated[int, msgspec.Meta(ge=0)] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1)] | None = None
    # Added to v1 (paging): with `after`/`limit`, each incident whole, with every note
    # (as the unpaged answer carries it), not as a snapshot carries it; and only the
    # token's regencies for a scoped token (as unpaged). For lists and reports.
    whole: bool | None = None


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


class ExerciseControl(msgspec.Struct, tag="exercise", tag_field="type"):
    """Added to v1: the trainer (an admin token, on an exercise server) pauses the
    scenario clock, resumes it, or ends the exercise (its record is then frozen)."""

    id: CommandId
    action: Literal["pause", "resume", "end"]
    note: LongText | None = None


class Handover(msgspec.Struct, tag="handover", tag_field="type"):
    """A shift handover at a desk (added to v1, issue 25): the outgoing officer
    `confirm`s what the shift leaves open, the incoming one `accept`s it."""

    id: CommandId
    desk: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    step: Literal["confirm", "accept"]
    note: LongText = ""


class Sitrep(msgspec.Struct, tag="sitrep", tag_field="type"):
    """Added to v1: number the post's next situation report (any officer or admin
    token; the server's own clock does the same). The server answers with `sitrep`:
    the report's number and its period, recorded as a `sitrep.numbered` event, so
    every report of the post numbers on from the one before, wherever it is written."""

    id: CommandId


class NotifyTest(msgspec.Struct, tag="notify_test", tag_field="type"):
    """Added to v1 (issue 25): the IT officer's check before the night (an admin
    token only). The server sends one test message to each of `person`'s channels
    ([[people]]) and answers with what each channel said (`channels` in the result);
    it writes nothing. The URLs stay on the server: the answer names each channel
    by its line and scheme."""

    id: CommandId
    person: PersonName


Command = (
    Report
    | Ack
    | Escalate
    | Note
    | Resolve
    | Reopen
    | StageUpdate
    | History
    | Incidents
    | Snooze
    | Assign
    | SeverityChange
    | Unack
    | Merge
    | ExerciseControl
    | Handover
    | Sitrep
    | NotifyTest
)
# Every command that changes something (reads such as History, Incidents, NotifyTest are not):
# the one list the server, the domain and the clients' command builder share (its order is
# the order the verbs are named in: `use report, stage, ack, ...`).
WriteCommand = (
    Report | StageUpdate | Ack | Escalate | Note | Resolve | Reopen | Snooze | Assign | SeverityChange | Unack | Merge | Handover | ExerciseControl | Sitrep
)
WRITE_COMMANDS: tuple[type[WriteCommand], ...] = get_args(WriteCommand)
ClientMessage = Hello | Command

# --- server -> client ----------------------------------------------------------


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


class RosterInfo(msgspec.Struct):
    """Added to v1 (exercises): who of the expected trainees is not connected now.
    `expected`: how many the exercise expects (its roster, else every officer token);
    `absent`: those not connected (name and desk), at most ROSTER_SHOWN; `more`: how many beyond."""

    expected: int
    absent: list[Actor]
    more: int = 0


ROSTER_SHOWN = 50


class ExerciseInfo(msgspec.Struct):
    """Added to v1 (in `welcome`): the server runs a training exercise on scenario time."""

    name: str
    speed: float  # scenario seconds per real second
    now: str  # scenario time when the welcome was sent
    start: str  # scenario time the exercise started at
    scenario: str | None = None
    # Added to v1: "running", "paused" (the clock stands still) or "ended" (the record is frozen).
    state: str = "running"
    # Added to v1: "scenario" (deadlines in scenario minutes: 5 real seconds at x60) or
    # "real" (in real minutes: the trainees get the minutes a real night gives).
    deadlines: str = "scenario"
    # Added to v1: who of the expected trainees is not connected as the welcome is sent
    # (later changes come in `status`).
    roster: RosterInfo | None = None


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
    # Added to v1: the people an incident can be assigned to (the active officer and
    # admin tokens' names and agencies, each once), for an assign picker; null from
    # an older server and to a token that may only read.
    people: list[Actor] | None = None


class LastSitrep(msgspec.Struct):
    """Added to v1 (in `snapshot`): the post's last numbered situation report: its
    number, the end of its period, and the seq of its `sitrep.numbered` event. A
    preview covers what happened after it."""

    number: int
    until: str
    seq: int


class IncidentCount(msgspec.Struct):
    """Added to v1 (paging, in `snapshot.counts`): how many unresolved incidents
    are in one regency with one status (`open` or `acknowledged`; a snoozed one
    keeps its status) and one severity: what the panels count."""

    regency: str
    status: str
    severity: str
    count: int


class MorePages(msgspec.Struct):
    """Added to v1 (paging, in `snapshot.more`): what a paged snapshot left out,
    and how to ask for it: `incidents` with this `since` and `after`, then the
    answer's `next`, until it is null."""

    since: str
    after: int


class Snapshot(msgspec.Struct, tag="snapshot", tag_field="type"):
    epoch: str
    seq: int
    stages: list[StageRow]
    incidents: list[Incident]
    # Added to v1: `event_digest` of the event at `seq` (null at seq 0).
    digest: str | None = None
    # Added to v1: the last numbered situation report, or null before the first.
    sitrep: LastSitrep | None = None
    # Added to v1 (paging), only when the hello asked for a `page`: every
    # unresolved incident counted, and the cursor for the incidents left out
    # (null: `incidents` holds them all).
    counts: list[IncidentCount] | None = None
    more: MorePages | None = None


class SitrepPeriod(msgspec.Struct):
    """Added to v1 (in the answer to `sitrep`): the report's number, its period
    (since, until] (`since` null for the post's first report), and `after`, the seq
    of the previous report's `sitrep.numbered` (0 for the first): the report covers
    the events after it, up to the answer's `seq`."""

    number: int
    since: str | None
    until: str
    after: int


class ChannelAnswer(msgspec.Struct):
    """Added to v1 (in the answer to `notify_test`): one channel's test message:
    `channel` its line among the person's channels (from 1), `scheme` its kind
    (`json`, `mailto`, `tgram`...: never the URL), `ok` whether it took the message,
    `answer` what it said (the error text when it did not)."""

    channel: int
    scheme: str
    ok: bool
    answer: str


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
    # Added to v1: the answer to `incidents`.
    incidents: list[Incident] | None = None
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
    # Added to v1: the answer to `sitrep`.
    sitrep: SitrepPeriod | None = None
    # Added to v1: the answer to `notify_test`, one entry per channel of the person.
    channels: list[ChannelAnswer] | None = None
    # Added to v1 (paging): the `after` of the next page of an `incidents` or
    # `history` answer asked with `after`/`limit`; absent on the last page.
    next: int | None = None


class Error(msgspec.Struct, tag="error", tag_field="type", omit_defaults=True):
    code: str
    message: str
    # Added to v1, on `unauthorized`: why, as a stable reason ("token_refused"
    # at the hello; "token_revoked", "token_expired" when a token is withdrawn
    # mid-session) and its parameters ("at": when, a timestamp), so a client
    # says it in one language; `message` stays English.
    reason: str | None = None
    params: dict[str, Any] | None = None


class Status(msgspec.Struct, tag="status", tag_field="type"):
    """Added to v1: the server's trouble began (`problem`) or ended (null).
    Added to v1: on an exercise server, also sent when who of the expected trainees is
    connected changes (`roster`; `problem` then repeats the current one). A status
    without `roster` leaves the roster as it was."""

    problem: str | None = None
    roster: RosterInfo | None = None


ServerMessage = Welcome | Snapshot | Event | Batch | Result | Error | Status
