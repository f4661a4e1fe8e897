"""What the screens show, computed from the folded State: no widgets here.

Keeping this apart from the widgets lets the dashboard, the wall and the
tests agree on one definition of "current stage", "oldest unacknowledged"
and the queue's filters.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_left, insort
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from heapq import heapify, heappop, heappush

import msgspec
from msgspec import UnsetType

from opsmon.core.clock import parse_ts
from opsmon.core.events import (
    IncidentAssigned,
    IncidentDuplicate,
    IncidentEscalated,
    IncidentMerged,
    IncidentReported,
    IncidentSeverityChanged,
    IncidentSnoozed,
    NotificationFailed,
    NotificationSent,
    StageUpdated,
)
from opsmon.core.i18n import Translator, local_datetime, local_when, who
from opsmon.core.people import roster_for, roster_for_scope, shift_at, shift_ends
from opsmon.core.protocol import Event
from opsmon.core.records import AGENCIES, Actor, ConfigInfo, Incident, NoteEntry, PersonInfo, RosterInfo, StageInfo, StageRow, User
from opsmon.core.records import SEVERITIES as SEVERITIES  # re-exported for the screens
from opsmon.core.state import State
from opsmon.core.text import for_terminal
from opsmon.core.urgency import (
    OPEN_WORK,
    SNAPSHOT_RESOLVED_WINDOW,
    ack_deadline,
    event_summary,
    in_snapshot,
    is_escalated,
    is_mine,
    is_overdue,
    status_word,
    urgency_key,
    waiting_since,
)

CONDITIONS = ("critical", "escalated", "blocked", "incidents", "quiet")  # worst first: what the map shades


def condition(*, critical_unacked: int, escalated: int, blocked: bool, open_total: int) -> str:
    """A regency's worst condition, the same on the terminal's map and the report's."""
    if critical_unacked:
        return "critical"
    if escalated:
        return "escalated"
    if blocked:
        return "blocked"
    if open_total:
        return "incidents"
    return "quiet"


@dataclass
class RegencySummary:
    code: str
    short: str
    index: int  # 1-based position: the digit key that focuses it
    stage: StageInfo | None  # the first stage not done; None when all are done
    done: int
    total: int
    # Every blocked stage (key, the stage's note) and every stage not done past
    # its window, whichever stage is current: a blocked recap is never hidden.
    blocked_stages: tuple[tuple[str, str], ...]
    late_stages: tuple[str, ...]
    open_by_severity: dict[str, int]
    oldest_unacked: datetime | None
    overdue: int  # unacknowledged past their deadline
    critical_unacked: int
    escalated: int = 0  # escalated incidents still waiting for an ack (urgency.is_escalated)

    @property
    def condition(self) -> str:
        """The worst thing about this regency, as the map shades it (one of CONDITIONS)."""
        return condition(critical_unacked=self.critical_unacked, escalated=self.escalated, blocked=self.blocked, open_total=self.open_total)

    @property
    def open_total(self) -> int:
        return sum(self.open_by_severity.values())

    @property
    def blocked(self) -> bool:
        return bool(self.blocked_stages)


@dataclass
class Totals:
    tps_counted: int = 0
    tps_total: int = 0
    kecamatan_done: int = 0
    kecamatan_total: int = 0
    open: int = 0
    unacked: int = 0
    # The province's own stages (rekap_provinsi): one row each, shown in the header.
    province: list[tuple[StageInfo, StageRow | None, bool]] = field(default_factory=list)  # (stage, row, past its window)


# The queue's orders, in the order the sort key cycles through them: most urgent
# first (unacknowledged, severity, oldest), newest first, severity first, and
# least time left to the acknowledgement deadline first.
SORTS = ("urgency", "newest", "severity", "deadline")

_NUMBER = re.compile(r"\s*[#:]?\s*(\d{1,9})\s*")


def incident_number(text: str) -> int | None:
    """`#8`, `:8` (k9s' command mode) or `8`: the incident number asked for, else None."""
    found = _NUMBER.fullmatch(text)
    return int(found.group(1)) if found else None


@dataclass(frozen=True)
class Focus:
    """What the officer is responsible for: some regencies (empty: the whole province)
    and perhaps one desk (KPU, Bawaslu, Polri: the categories the config gives it).
    The queue, the notices and the bell keep to it; the province's panels stay, quieter."""

    regencies: frozenset[str] = frozenset()
    desk: str | None = None
    categories: frozenset[str] = frozenset()  # the desk's categories (the config's table)

    @property
    def whole(self) -> bool:
        return not self.regencies and self.desk is None

    def covers_regency(self, code: str) -> bool:
        return not self.regencies or code in self.regencies

    def covers(self, incident: Incident) -> bool:
        if not self.covers_regency(incident.regency):
            return False
        return self.desk is None or incident.category in self.categories


@dataclass(frozen=True)
class Duty:
    """Who is on duty at a desk now (the roster's shift in force) and when they hand over.
    `where` is the regency the roster names ("" for a roster of every regency)."""

    desk: str
    where: str
    people: tuple[PersonInfo, ...]
    supervisor: str
    start: str  # the shift's handover times ("19:00", "07:00") in the province's time
    end: str
    until: datetime


def on_duty(config: ConfigInfo, focus: Focus, now: datetime) -> list[Duty]:
    """The shifts on duty now for the officer's focus: each desk it covers (every desk a
    roster names, in the post's order, when it names none) in each of its regencies; for the
    whole province, each desk's roster of every regency. The same rule the server's chains use
    (people.roster_for, shift_at), from the welcome's `rosters`: none, an empty list."""
    desks = [focus.desk] if focus.desk is not None else sorted({r.desk for r in config.rosters}, key=_desk_order)
    places = sorted(focus.regencies) or [""]
    found: list[Duty] = []
    seen: set[int] = set()
    for desk in desks:
        for regency in places:
            roster = roster_for(config.rosters, desk, regency)
            if roster is None or id(roster) in seen:
                continue
            seen.add(id(roster))
            found.append(_duty(config, roster, regency if roster.regencies else "", now))
    return found


def every_duty(config: ConfigInfo, now: datetime) -> list[Duty]:
    """Every roster's shift at `now` (the sitrep's "who was on duty"): by desk in the post's
    order, each desk's roster of every regency first, then those naming regencies (`where`
    their codes joined by ",")."""
    rosters = sorted(config.rosters, key=lambda r: (_desk_order(r.desk), bool(r.regencies), r.regencies))
    return [_duty(config, roster, ",".join(roster.regencies), now) for roster in rosters]


def _desk_order(desk: str) -> tuple[bool, int, str]:
    """The post's desks in their order (KPU, Bawaslu, Polri), any other after them."""
    return (desk not in AGENCIES, AGENCIES.index(desk) if desk in AGENCIES else 0, desk)


def _duty(config: ConfigInfo, roster: RosterInfo, where: str, now: datetime) -> Duty:
    known = {p.name: p for p in config.people}
    shift = shift_at(roster, now, config.tz)
    people = tuple(known.get(name) or PersonInfo(name=name, agency=roster.desk) for name in shift.people)
    return Duty(roster.desk, where, people, shift.supervisor, shift.start, shift.end, shift_ends(shift, now, config.tz))


@dataclass
class QueueFilter:
    text: str = ""
    severity: str | None = None
    unacked_only: bool = False
    regency: str | None = None
    mine: User | None = None  # only what this officer owns, or what is in their regencies
    sort: str = "urgency"  # one of SORTS

    def matches(self, incident: Incident, labels: dict[str, str]) -> bool:
        if self.regency is not None and incident.regency != self.regency:
            return False
        if self.mine is not None and not is_mine(incident, self.mine):
            return False
        if self.severity is not None and incident.severity != self.severity:
            return False
        if self.unacked_only and incident.status != "open":
            return False
        number = incident_number(self.text) if self.text.lstrip().startswith(("#", ":")) else None
        if number is not None:
            return incident.id == number  # `/#8`: that incident, not every title with an 8
        if self.text:
            needle = self.text.casefold()
            haystack = " ".join(
                [
                    str(incident.id),
                    incident.title,
                    incident.detail,
                    incident.location,
                    incident.owner.name if incident.owner else "",
                    labels.get(incident.regency, incident.regency),
                    labels.get(incident.category, incident.category),
                ]
            ).casefold()
            if needle not in haystack:
                return False
        return True


@dataclass
class Lookup:
    """What the screens call things, in one language: the welcome's config
    names, each drawn through `for_terminal` once here (they came over the
    wire). Not a copy of the config: finding a regency or the stages is the
    config's own (`lookup.config.regency(code)`, `lookup.config.stages`)."""

    config: ConfigInfo
    lang: str
    _short: dict[str, str] = field(init=False)
    _name: dict[str, str] = field(init=False)
    _category: dict[str, str] = field(init=False)
    _severity: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self._short = {r.code: for_terminal(r.short) for r in self.config.regencies}
        self._name = {r.code: for_terminal(r.name) for r in self.config.regencies}
        self._category = {c.key: for_terminal(c.label.get(self.lang)) for c in self.config.categories}
        self._severity = {s.key: for_terminal(s.label.get(self.lang)) for s in self.config.severities}

    def stage_label(self, stage: StageInfo) -> str:
        return for_terminal((stage.short or stage.label).get(self.lang))

    def regency_short(self, code: str) -> str:
        return self._short.get(code) or for_terminal(code)

    def regency_long(self, code: str) -> str:
        """The regency's full name ("Kota Banjarmasin"), or its code when the config has none."""
        return self._name.get(code) or for_terminal(code)

    def category(self, key: str) -> str:
        return self._category.get(key) or for_terminal(key)

    def severity(self, key: str) -> str:
        return self._severity.get(key) or for_terminal(key)

    def regency_name(self, code: str) -> str:
        name = self._name.get(code)
        return f"{name} ({code})" if name is not None else for_terminal(code)

    def search_labels(self) -> dict[str, str]:
        return {**{code: self._short[code] + " " + name for code, name in self._name.items()}, **self._category}


def age(tr: Translator, now: datetime, since: datetime | str) -> str:
    """An incident's age, the one definition every widget uses: the whole minutes
    elapsed since it was reported, to the second (reported 12:24:19, it is "3m"
    from 12:27:19). Widgets redraw it every second, so it never lags."""
    moment = parse_ts(since) if isinstance(since, str) else since
    return tr.age(now - moment)


def countdown(tr: Translator, now: datetime, incident: Incident) -> str:
    """Time left to the acknowledgement deadline, exact to the minute: "4m" while
    up to four minutes are left, "LEWAT 2m" from two minutes past it ("LEWAT <1m"
    in the first minute). "" when no deadline runs (acknowledged, snoozed, resolved)."""
    due = ack_deadline(incident)  # the one rule of what is owed (not merged, snoozed, acknowledged)
    if due is None:
        return ""
    left = (parse_ts(due) - now).total_seconds()
    if left > 0:
        return tr.duration(-(-int(left) // 60))  # rounded up: "1m" is the last minute
    over = int(-left) // 60
    return tr("due.over", time=tr.duration(over) if over else tr("due.under_minute"))


def sort_key(sort: str, now: datetime) -> Callable[[Incident], tuple[object, ...]]:
    """The queue's order for one of SORTS (unknown: most urgent first)."""
    if sort == "newest":
        return lambda i: (i.status == "resolved", -parse_ts(i.reported).timestamp(), -i.id)
    if sort == "severity":
        return lambda i: (urgency_key(i)[1], urgency_key(i)[0], i.reported, i.id)
    if sort == "deadline":

        def by_deadline(i: Incident) -> tuple[object, ...]:
            running = i.status == "open" and i.snoozed_until is None
            return (0, i.ack_due, i.id) if running else (1, *urgency_key(i))

        return by_deadline
    return urgency_key


def is_open(incident: Incident) -> bool:
    return incident.status != "resolved"


def regency_stages(config: ConfigInfo) -> list[StageInfo]:
    """The stages every regency counts: not the province's own (`scope = "province"`)."""
    return config.regency_stages()


def province_stages(config: ConfigInfo) -> list[StageInfo]:
    """Stages held once for the whole province (its recapitulation plenary): shown in the header."""
    return config.province_stages()


def window_closes(stage: StageInfo) -> datetime | None:
    """When a stage becomes late: its window's close (a full date and time in the
    config, never guessed from the label's text and this year) plus its grace.
    None when the config names no close."""
    if not isinstance(stage.closes, str):
        return None
    grace = stage.grace_minutes if isinstance(stage.grace_minutes, int) else 0
    return parse_ts(stage.closes) + timedelta(minutes=grace)


def past_window(stage: StageInfo, now: datetime) -> bool:
    closes = window_closes(stage)
    return closes is not None and now >= closes


def summarize(state: State, config: ConfigInfo, now: datetime, tally: Tally | None = None) -> list[RegencySummary]:
    """Per regency: its current stage, what is blocked or late, its open incidents.
    `tally`: the counts kept up to date with `state` (a screen's); else counted now."""
    if tally is None:
        tally = Tally()
        tally.follow(state, Changes())
    stages = regency_stages(config)
    late_now = {stage.key for stage in stages if past_window(stage, now)}
    summaries = []
    for index, regency in enumerate(config.regencies, start=1):
        unheld_critical = 0
        current: StageInfo | None = None
        done = total = 0
        blocked: list[tuple[str, str]] = []
        late: list[str] = []
        for stage in stages:
            row = state.stages.get((regency.code, stage.key))
            if row is not None and row.status == "blocked":
                blocked.append((stage.key, row.note or ""))
            if stage.key in late_now and (row is None or row.status != "done"):
                late.append(stage.key)
            if current is None and (row is None or row.status != "done"):
                current = stage
                done, total = (row.done, row.total) if row else (0, 0)
        counts = dict.fromkeys(SEVERITIES, 0)
        counts.update(tally.by_severity.get(regency.code, {}))
        unacked = list(tally.waiting.get(regency.code, {}).values())
        # Those whose pages have not arrived yet (a paged snapshot), as its `counts` had them.
        for (code, status, severity), n in (state.unheld or {}).items():
            if code == regency.code:
                counts[severity] = counts.get(severity, 0) + n
                unheld_critical += n if status == "open" and severity == "critical" else 0
        summaries.append(
            RegencySummary(
                code=regency.code,
                short=regency.short,
                index=index,
                stage=current,
                done=done,
                total=total,
                blocked_stages=tuple(blocked),
                late_stages=tuple(late),
                open_by_severity=counts,
                oldest_unacked=min((parse_ts(waiting_since(i)) for i in unacked), default=None),
                overdue=sum(1 for i in unacked if is_overdue(i, now)),
                critical_unacked=sum(1 for i in unacked if i.severity == "critical") + unheld_critical,
                escalated=sum(1 for i in unacked if is_escalated(i)),  # only a waiting one is escalated
            )
        )
    return summaries


def totals(state: State, config: ConfigInfo, now: datetime | None = None, tally: Tally | None = None) -> Totals:
    """The header's figures; `tally` as for summarize."""
    result = Totals()
    code = config.province.code if config.province is not None else ""
    for plenary in province_stages(config):
        held = state.stages.get((code, plenary.key))
        late = now is not None and (held is None or held.status != "done") and past_window(plenary, now)
        result.province.append((plenary, held, late))
    stage_units = {s.key: s.unit for s in config.stages}
    counting_stage = config.counting_stage()  # the config's `counts = true`
    counting = counting_stage.key if counting_stage else None
    recap = next((s.key for s in config.stages if s.unit == "kecamatan"), None)
    for (_, stage), row in state.stages.items():
        if stage == counting:
            result.tps_counted += row.done
            result.tps_total += row.total
        elif stage == recap and stage_units.get(stage) == "kecamatan":
            result.kecamatan_done += row.done
            result.kecamatan_total += row.total
    if not result.tps_total:
        result.tps_total = sum(r.tps for r in config.regencies)
    if not result.kecamatan_total:
        result.kecamatan_total = sum(r.kecamatan for r in config.regencies)
    if tally is None:
        tally = Tally()
        tally.follow(state, Changes())
    result.open, result.unacked = tally.open, tally.unacked
    for (_, status, _), n in (state.unheld or {}).items():  # a paged snapshot's, not held yet
        result.open += n
        result.unacked += n if status == "open" else 0
    return result


def queue(state: State, lookup: Lookup, view: QueueFilter, now: datetime, focus: Focus | None = None) -> list[Incident]:
    """The incidents the queue shows (those the officer's focus covers), in the view's
    order (most urgent first unless asked otherwise); resolved ones only for 24 hours
    (as a fresh snapshot would), so a wall running for days stays short."""
    return list(QueueIndex().update(state, Changes(), lookup, view, now, focus))


@dataclass(frozen=True)
class Correction:
    """A stage update that said it corrects: a count stepped back, or a block lifted."""

    stage: str
    was: int
    was_blocked: bool
    now: int
    at: str
    by: Actor
    note: str


def stage_corrections(events: Iterable[Event], regency: str) -> list[Correction]:
    """The corrections of a regency's stages among `events`, newest first."""
    found = [
        Correction(data.stage, data.corrected_done, data.corrected_status == "blocked", data.done, event.ts, event.actor, data.note or "")
        for event in events
        if isinstance(data := event.data, StageUpdated) and data.regency == regency and not isinstance(data.corrected_done, UnsetType)
    ]
    return found[::-1]


def latest(state: State, limit: int, now: datetime) -> list[Incident]:
    """Newest reported first: the wall's ticker."""
    recent = (i for i in state.incidents.values() if in_snapshot(i, now))
    return sorted(recent, key=lambda i: (i.reported, i.id), reverse=True)[:limit]


def step(tr: Translator, incident: Incident) -> str:
    """The escalation step of the chain, short: "L2", a repeat of the last level "L3+1"; "" before any."""
    return step_words(tr, incident.level, incident.repeats)


def step_words(tr: Translator, level: int, repeats: int) -> str:
    """`step`'s words for a level and its repeats (the queue sizes its column from these pairs)."""
    if not level:
        return ""
    if repeats:
        return tr("status.level_repeat", level=level, repeat=repeats)
    return tr("status.level", level=level)


@dataclass
class Told:
    """Whom one level of an escalation named, and what each of their channels did:
    `channels` maps the channel's place in the person's file to (scheme, "sent" or "failed");
    empty while nothing has been tried (no channel, or not sent yet)."""

    level: int
    person: str
    channels: dict[int, tuple[str, str]] = field(default_factory=dict)


def told(events: Iterable[Event]) -> list[Told]:
    """An incident's escalations and notifications folded into whom each level told and
    how it went, in the order they were first named (a repeat of a level names the same
    people again: one entry, its channels' latest outcome). Bounded by the chain's ceiling."""
    found: dict[tuple[int, str], Told] = {}
    for event in events:
        data = event.data
        if isinstance(data, IncidentEscalated) and isinstance(data.notify, list):
            for name in data.notify:
                found.setdefault((data.level, name), Told(data.level, name))
        elif isinstance(data, NotificationSent | NotificationFailed):
            entry = found.setdefault((data.level, data.person), Told(data.level, data.person))
            entry.channels[data.channel] = (data.scheme, "sent" if isinstance(data, NotificationSent) else "failed")
    return list(found.values())


def told_lines(entries: list[Told], tr: Translator) -> list[str]:
    """Whom the escalations told, a line per level and person: "L1 Bripka Andi: tgram
    terkirim", "L2 AKP Budi: json GAGAL"; a person no channel has answered for yet "belum
    terkirim". Raw wire text (names, schemes): draw it through for_terminal."""
    lines = []
    for entry in entries:
        if entry.channels:
            outcome = ", ".join(f"{scheme} {tr('told.' + state)}" for _, (scheme, state) in sorted(entry.channels.items()))
        else:
            outcome = tr("told.pending")
        lines.append(f"{tr('status.level', level=entry.level)} {entry.person}: {outcome}")
    return lines


def event_said(event: Event, lookup: Lookup, tr: Translator, tz: tzinfo) -> str:
    """What an incident's timeline says after the event's kind, in the screen's language:
    the severity by its label ("Tinggi", not "high"), a snooze's end, the new owner, the
    merge target; free text as written (raw wire text: draw it through for_terminal)."""
    data = event.data
    said = getattr(data, "note", None)
    note = f": {said}" if isinstance(said, str) and said else ""
    match data:
        case IncidentReported(severity=severity, title=title) | IncidentDuplicate(severity=severity, title=title):
            return f"{lookup.severity(severity)}: {title}"
        case IncidentAssigned(owner=owner):
            return who(owner) if owner is not None else tr("event.released")
        case IncidentSnoozed(until=until):
            try:
                when = local_datetime(until, tz)
            except ValueError:
                when = for_terminal(until)  # not a time: say what the event holds
            return tr("event.until", time=when) + note
        case IncidentSeverityChanged(severity=severity):
            return lookup.severity(severity) + note
        case IncidentMerged(into=into):
            return tr("event.into", id=into) + note
    return event_summary(event, tz)


# --- the shift handover: `opsmon handover` prints it, the handover screen (H) shows it ---------

WITHOUT_ROSTER = timedelta(hours=12)  # a desk without a [[rosters]] entry: its "shift" is the last 12 hours


@dataclass(frozen=True)
class HandoverItem:
    """An incident the shift leaves open, and the notes written on it since the shift began."""

    incident: Incident
    notes: tuple[NoteEntry, ...]


@dataclass(frozen=True)
class HandoverSheet:
    """What a desk's shift leaves open in the officer's regencies: one computation,
    printed by `opsmon handover` and shown by the handover screen (handover_lines)."""

    desk: str
    shift: str  # the roster's shift in force, "19:00-07:00"; "" without a roster
    began: datetime
    at: datetime  # when it was drawn up: a time on another day shows its date
    open: tuple[HandoverItem, ...]  # most urgent first
    blocked: tuple[StageRow, ...]


def shift_began(rosters: Iterable[RosterInfo], desk: str, regencies: Iterable[str] | None, now: datetime, tz: tzinfo) -> tuple[datetime, str]:
    """When the desk's shift in force began, and its span ("19:00-07:00"; "" without a roster).
    The roster is the one for the regencies (people.roster_for_scope), as the server's `handover` decides it."""
    roster = roster_for_scope(rosters, desk, regencies)
    if roster is None:
        return now - WITHOUT_ROSTER, ""
    shift = shift_at(roster, now, tz)
    local = now.astimezone(tz)
    hours, minutes = (int(part) for part in shift.start.split(":"))
    start = local.replace(hour=hours, minute=minutes, second=0, microsecond=0)
    if start > local:
        start -= timedelta(days=1)
    return start, f"{shift.start}-{shift.end}"


def handover_sheet(
    incidents: Iterable[Incident],
    stages: Iterable[StageRow],
    *,
    desk: str,
    desks: Mapping[str, str],
    regencies: Iterable[str] | None,
    rosters: Iterable[RosterInfo],
    tz: tzinfo,
    now: datetime,
) -> HandoverSheet:
    """The desk's unresolved incidents (by their category's desk, "KPU" for an unknown
    one, as the server's `handover` counts them) and blocked stages in `regencies`
    (None: the province); `desks` maps a category to its desk."""
    regencies = tuple(regencies) if regencies is not None else None
    began, span = shift_began(rosters, desk, regencies, now, tz)
    scope = set(regencies) if regencies is not None else None
    mine = sorted(
        (i for i in incidents if i.status != "resolved" and desks.get(i.category, "KPU") == desk and (scope is None or i.regency in scope)),
        key=urgency_key,
    )
    items = tuple(HandoverItem(i, tuple(note for note in i.notes if parse_ts(note.ts) >= began)) for i in mine)
    blocked = tuple(row for row in stages if row.status == "blocked" and (scope is None or row.regency in scope))
    return HandoverSheet(desk=desk, shift=span, began=began, at=now, open=items, blocked=blocked)


def with_all_notes(live: Incident, whole: Incident | None) -> Incident:
    """The live incident with the notes a snapshot left out (`notes_before`), taken from
    `whole` (the server's answer to `incidents`, every note up to then): notes are only
    ever appended, so the live ones past `whole`'s count are the newer ones."""
    if whole is None or not live.notes_before:
        return live
    newer = live.notes_before + len(live.notes) - len(whole.notes)
    return msgspec.structs.replace(live, notes=[*whole.notes, *(live.notes[-newer:] if newer > 0 else [])], notes_before=0)


# What each line of the handover is, for a screen that styles them (the text says it all: NO_COLOR).
HANDOVER_KINDS = ("title", "heading", "unacked", "incident", "detail", "note", "stage")


def handover_lines(sheet: HandoverSheet, config: ConfigInfo, lang: str) -> list[tuple[str, str]]:
    """The handover as the officers read it, (kind, text) a line, in the post's language;
    wire text drawn through for_terminal. `opsmon handover` prints the texts."""
    tr = Translator(lang)
    tz = config.tz
    lines = [
        ("title", tr("handover.title", desk=sheet.desk, shift=sheet.shift or "-", began=local_when(sheet.began, tz, sheet.at))),
        ("heading", tr("handover.open", n=len(sheet.open))),
    ]
    for item in sheet.open:
        incident = item.incident
        regency = config.regency(incident.regency)
        severity = config.severity(incident.severity)
        label = severity.label.get(lang).upper() if severity is not None else incident.severity
        status = tr("handover.unacked") if incident.status == "open" else tr("handover.acked", who=who(incident.acknowledged_by))
        level = f" L{incident.level}" if incident.level else ""
        owner = who(incident.owner) if incident.owner else "-"
        due = ack_deadline(incident)
        deadline = local_when(due, tz, sheet.at) if due is not None else "-"
        text = (
            f"#{incident.id} {for_terminal(regency.short if regency else incident.regency)} {for_terminal(label)}{level} · {status} · "
            + tr("handover.owner", owner=owner)
            + " · "
            + tr("handover.deadline", time=deadline)
        )
        lines.append(("unacked" if incident.status == "open" else "incident", text))
        lines.append(("detail", f"   {for_terminal(incident.title)}"))
        lines += [("note", f"   {local_when(note.ts, tz, sheet.at)} {who(note.by)}: {for_terminal(note.text)}") for note in item.notes]
    lines.append(("heading", tr("handover.blocked", n=len(sheet.blocked))))
    province = config.province.name if config.province is not None else ""
    for row in sheet.blocked:
        regency = config.regency(row.regency)
        stage = config.stage(row.stage)
        name = regency.short if regency else province
        lines.append(
            (
                "stage",
                f"   {for_terminal(name)} {for_terminal(stage.label.get(lang) if stage else row.stage)} {row.done}/{row.total}: {for_terminal(row.note or '-')}",
            )
        )
    return lines


# --- following the state: what changed since a screen last looked ----------------------
#
# At 50,000 incidents a repaint that reads every incident (filter, sort, count) costs
# most of a second, and a keypress waits behind it. The fold never mutates an incident
# (each change puts a new object in its place), so a follower keeps the objects it last
# saw, asks the Changes log which ids the events touched since, and redoes only those.

FOLLOW_CHECK_EVERY = 64  # ids redone between looks at the clock, when a follower has a deadline


class Changes:
    """The incident ids the folded events touched, numbered in order. A follower asks
    `since(version)`; a new state (a snapshot) or a follower further behind than KEEP
    changes gets None: read everything again. Bounded, whatever the night's length."""

    KEEP = 100_000

    def __init__(self) -> None:
        self.version = 0
        self._reset = 0  # the version of the last new state: a follower from before it rebuilds
        self._log: deque[tuple[int, int]] = deque(maxlen=self.KEEP)

    def reset(self) -> None:
        """A whole new state: every follower reads it all."""
        self.version += 1
        self._reset = self.version
        self._log.clear()

    def touched(self, ids: Iterable[int]) -> None:
        for incident_id in ids:
            self.version += 1
            self._log.append((self.version, incident_id))

    def since(self, version: int) -> set[int] | None:
        if version < self._reset or (self._log and self._log[0][0] > version + 1):
            return None
        ids: set[int] = set()
        for number, incident_id in reversed(self._log):
            if number <= version:
                break
            ids.add(incident_id)
        return ids


class Follower:
    """Something derived from a State, kept up to date from the Changes log: `follow`
    redoes only the incidents whose object changed (`_moved`), or all (`_rebuild`)."""

    def __init__(self) -> None:
        self.state: State | None = None
        self.seen: dict[int, Incident] = {}  # id -> the incident as last counted
        self._version = -1
        self._behind: list[int] = []  # ids left for the next call by a `until` that ran out

    @property
    def caught_up(self) -> bool:
        return not self._behind

    def follow(self, state: State, changes: Changes, *, until: float | None = None) -> bool:
        """Catch up with `state`; True if anything it holds changed. `until` (a
        time.perf_counter() deadline): stop there and keep the rest for the next call
        (`caught_up` says whether any is left), so that a paged snapshot's pages (tens of
        thousands of incidents a second) never hold the event loop long."""
        ids = changes.since(self._version) if state is self.state else None
        self._version = changes.version
        if ids is None:
            self.state, self.seen, self._behind = state, dict(state.incidents), []
            self._rebuild()
            return True
        moved = False
        work, self._behind = [*self._behind, *ids], []
        done = 0
        while work:
            done += 1
            if until is not None and done % FOLLOW_CHECK_EVERY == 0 and time.perf_counter() > until:
                self._behind = work
                break
            incident_id = work.pop()
            old, new = self.seen.get(incident_id), state.incidents.get(incident_id)
            if old is new:
                continue
            if old is not None and old.merged_into is not None:
                work.append(old.merged_into)  # a reopen takes its reports back from the merge chain
            if new is None:
                del self.seen[incident_id]
            else:
                self.seen[incident_id] = new
            self._moved(old, new)
            moved = True
        return moved

    def _rebuild(self) -> None:
        raise NotImplementedError

    def _moved(self, old: Incident | None, new: Incident | None) -> None:
        raise NotImplementedError


class Tally(Follower):
    """The counts the header and the regency panels show, kept per change: open and
    unacknowledged in the province; per regency the open ones by severity and those
    waiting for an acknowledgement (few; the panels read them for ages and deadlines)."""

    def __init__(self) -> None:
        super().__init__()
        self.open = 0
        self.unacked = 0
        self.by_severity: dict[str, dict[str, int]] = {}
        self.waiting: dict[str, dict[int, Incident]] = {}

    def _rebuild(self) -> None:
        self.open = self.unacked = 0
        self.by_severity, self.waiting = {}, {}
        for incident in self.seen.values():
            self._count(incident, 1)

    def _moved(self, old: Incident | None, new: Incident | None) -> None:
        if old is not None:
            self._count(old, -1)
        if new is not None:
            self._count(new, 1)

    def _count(self, incident: Incident, step: int) -> None:
        if not is_open(incident):
            return
        self.open += step
        counts = self.by_severity.setdefault(incident.regency, {})
        counts[incident.severity] = counts.get(incident.severity, 0) + step
        if not counts[incident.severity]:
            del counts[incident.severity]
        if incident.status == "open":
            self.unacked += step
            waiting = self.waiting.setdefault(incident.regency, {})
            if step > 0:
                waiting[incident.id] = incident
            else:
                waiting.pop(incident.id, None)


class QueueIndex(Follower):
    """The queue's rows for one view (filter, sort, focus), in order, kept per change:
    a sorted list of (sort key, id) updated by bisection, so a repaint costs what
    changed and a screenful of rows, not a sort of the night. Also what the column
    widths need (the distinct values shown, the oldest, the nearest deadline) and the
    count of open work, kept the same way. `live_only`: no resolved or merged rows."""

    def __init__(self, *, live_only: bool = False) -> None:
        super().__init__()
        self.live_only = live_only
        self.revision = 0  # bumped whenever a row is added, removed or changed
        self._params: tuple[object, ...] | None = None
        self._now: datetime | None = None
        self._rows: list[tuple[tuple[object, ...], int]] = []
        self._entry: dict[int, tuple[tuple[object, ...], int]] = {}
        self._key: Callable[[Incident], tuple[object, ...]] = urgency_key
        self._shows: Callable[[Incident], bool] = lambda incident: True
        self._expiring: list[tuple[str, int]] = []  # (resolved, id) of resolved rows: they leave after 24 hours
        self._oldest: list[tuple[str, int]] = []  # (reported, id), stale entries skipped
        self._nearest: list[tuple[str, int]] = []  # (ack_due, id) of rows whose deadline runs
        self.values: dict[str, dict[object, int]] = {}  # column -> distinct value -> rows holding it
        self.open_work = 0  # rows whose status counts as open work (the queue's title)

    def update(
        self, state: State, changes: Changes, lookup: Lookup, view: QueueFilter, now: datetime, focus: Focus | None = None, *, until: float | None = None
    ) -> QueueIndex:
        """Catch up with `state` for this view (`until`: as Follower.follow)."""
        focus = focus or Focus()
        params = (lookup, view.text, view.severity, view.unacked_only, view.regency, view.mine, view.sort, focus)
        if params != self._params or self._now is None or now < self._now:
            self._params, self.state = params, None  # another view, or the clock went back: read everything again
            labels = lookup.search_labels()
            self._key = sort_key(view.sort, now)

            def shows(incident: Incident) -> bool:
                if self.live_only and (incident.status == "resolved" or incident.merged_into is not None):
                    return False
                return in_snapshot(incident, self._now or now) and focus.covers(incident) and view.matches(incident, labels)

            self._shows = shows
        self._now = now
        if self.follow(state, changes, until=until):
            self.revision += 1
        self._expire(now)
        return self

    # --- what the widget reads -------------------------------------------------------

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, row: int) -> Incident:
        return self.seen[self._rows[row][1]]

    def __iter__(self) -> Iterator[Incident]:
        return (self.seen[incident_id] for _, incident_id in self._rows)

    def __contains__(self, incident_id: object) -> bool:
        return incident_id in self._entry

    def id_at(self, row: int) -> int:
        return self._rows[row][1]

    def position(self, incident_id: int | None) -> int | None:
        """The row an incident is on, or None when the queue does not show it."""
        entry = self._entry.get(incident_id) if incident_id is not None else None
        return None if entry is None else bisect_left(self._rows, entry)

    def ids(self) -> list[int]:
        return [incident_id for _, incident_id in self._rows]

    def oldest(self) -> Incident | None:
        return self._top(self._oldest, lambda incident: incident.reported)

    def nearest_deadline(self) -> Incident | None:
        """The row whose acknowledgement deadline comes first (open, not snoozed)."""
        return self._top(self._nearest, lambda incident: incident.ack_due if _running(incident) else None)

    def _top(self, heap: list[tuple[str, int]], value: Callable[[Incident], str | None]) -> Incident | None:
        while heap:
            stamp, incident_id = heap[0]
            incident = self.seen.get(incident_id)
            if incident_id in self._entry and incident is not None and value(incident) == stamp:
                return incident
            heappop(heap)  # left the queue, or changed since: a stale entry
        return None

    # --- keeping it -------------------------------------------------------------------

    def _rebuild(self) -> None:
        # The same counts as _add's, taken a column at a time (a rebuild is a filter or
        # sort key pressed, or a snapshot: the officer waits on it).
        shown = [incident for incident in self.seen.values() if self._shows(incident)]
        key = self._key
        self._rows = sorted([(key(incident), incident.id) for incident in shown])
        self._entry = {entry[1]: entry for entry in self._rows}
        self.open_work = sum(1 for incident in shown if _open_work(incident))
        self.values = {
            "regency": Counter(incident.regency for incident in shown),
            "category": Counter(incident.category for incident in shown),
            "severity": Counter(incident.severity for incident in shown),
            "level": Counter((incident.level, incident.repeats) for incident in shown),  # the step column's words
            "acked_by": Counter(_person(incident) for incident in shown if incident.status != "open"),
            "owner": Counter(incident.owner for incident in shown if incident.owner is not None),
        }
        self._expiring = [(i.resolved, i.id) for i in shown if i.status == "resolved" and i.resolved is not None]
        self._oldest = [(i.reported, i.id) for i in shown]
        self._nearest = [(i.ack_due, i.id) for i in shown if _running(i)]
        self._heapify()

    def _heapify(self) -> None:
        for heap in (self._expiring, self._oldest, self._nearest):
            heapify(heap)

    def _moved(self, old: Incident | None, new: Incident | None) -> None:
        if old is not None and old.id in self._entry:
            entry = self._entry.pop(old.id)
            del self._rows[bisect_left(self._rows, entry)]
            self._count(old, -1)
        if new is not None and self._shows(new):
            insort(self._rows, self._add(new, heappush))
        if len(self._oldest) > 2 * len(self._rows) + 1000:  # stale entries: dropped, so they never pile up
            self._expiring = [(i.resolved, i.id) for i in self if i.status == "resolved" and i.resolved is not None]
            self._oldest = [(i.reported, i.id) for i in self]
            self._nearest = [(i.ack_due, i.id) for i in self if _running(i)]
            self._heapify()

    def _add(self, incident: Incident, push: Callable[[list[tuple[str, int]], tuple[str, int]], None]) -> tuple[tuple[object, ...], int]:
        """Counts `incident` in and returns its row (the caller puts it in place); `push`
        puts its stamps on the heaps (heappush, or append before a heapify)."""
        entry = (self._key(incident), incident.id)
        self._entry[incident.id] = entry
        self._count(incident, 1)
        if incident.status == "resolved" and incident.resolved is not None:
            push(self._expiring, (incident.resolved, incident.id))
        push(self._oldest, (incident.reported, incident.id))
        if _running(incident):
            push(self._nearest, (incident.ack_due, incident.id))
        return entry

    def _count(self, incident: Incident, step: int) -> None:
        if _open_work(incident):
            self.open_work += step
        columns: list[tuple[str, object]] = [
            ("regency", incident.regency),
            ("category", incident.category),
            ("severity", incident.severity),
            ("level", (incident.level, incident.repeats)),
        ]
        if incident.status != "open":  # who acknowledged or resolved it (None: not known, shown "?")
            columns.append(("acked_by", _person(incident)))
        if incident.owner is not None:
            columns.append(("owner", incident.owner))
        for column, value in columns:
            counts = self.values.setdefault(column, {})
            counts[value] = counts.get(value, 0) + step
            if not counts[value]:
                del counts[value]

    def _expire(self, now: datetime) -> None:
        """Resolved rows leave 24 hours after (as a fresh snapshot would leave them out)."""
        cutoff = now - SNAPSHOT_RESOLVED_WINDOW
        while self._expiring and parse_ts(self._expiring[0][0]) < cutoff:
            resolved, incident_id = heappop(self._expiring)
            incident = self.seen.get(incident_id)
            if incident_id in self._entry and incident is not None and incident.resolved == resolved:
                self._moved(incident, None)
                self.revision += 1


def _open_work(incident: Incident) -> bool:
    """What the queue's title counts."""
    return status_word(incident) in OPEN_WORK


def _person(incident: Incident) -> Actor | None:
    """Who resolved it, or acknowledged it: the queue's "by" column."""
    return incident.resolved_by if incident.status == "resolved" else incident.acknowledged_by


def _running(incident: Incident) -> bool:
    """Its acknowledgement deadline runs: the queue's countdown column shows it."""
    return incident.status == "open" and incident.snoozed_until is None
