"""People, duty rosters and escalation chains: who is told when an incident
stays unacknowledged (issue 25), decided with no I/O.

config.toml names them (`[[people]]`, `[[rosters]]`, `[[chains]]`,
`[notify]`); config.py decodes them into the Structs here and calls `check`
for what spans keys (a chain naming nobody, a roster with a gap). Secrets
(the Apprise URLs) are never in config.toml: a person's `channels_file` is
read by the server only (server/notify.py).

`Policy` is what the server decides by: which chain an incident climbs, the
step that is due next, and the people a step reaches at a given moment (the
desk on duty comes from the roster in force then). The decision is written
into the log (`incident.escalated` with `notify`), so every replica, a
restart and the timeline agree on who was told.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Annotated, Any, TypeVar

import msgspec
from msgspec import Meta

from opsmon.core.records import Agency, Incident, Key, Name, PersonInfo, RegencyCode, RosterInfo, SeverityKey, ShiftInfo

# The words a chain level may name besides a person: the roster's desk on
# duty, its shift supervisor, the regency's commanders.
TARGETS = ("desk", "supervisor", "commanders")
DAY = 24 * 60
R = TypeVar("R", bound=RosterInfo)


class PeopleError(ValueError):
    """A problem across keys; str() names the key (the config adds nothing)."""


class Person(PersonInfo, frozen=True, forbid_unknown_fields=True):
    """The welcome's PersonInfo (name, agency, position: "Kapolres Tanah Bumbu") and what only the server reads."""

    agency: Agency
    regencies: tuple[RegencyCode, ...] = ()  # empty: the whole province
    commander: bool = False  # reached by a chain level that names "commanders"
    channels_file: str = ""  # Apprise URLs, one a line, read by the server only (relative to the config file)
    quiet_hours: str = ""  # "22:00-06:00" in the province's time: nothing but critical then

    def covers(self, regency: str) -> bool:
        return not self.regencies or regency in self.regencies


class Shift(ShiftInfo, frozen=True, forbid_unknown_fields=True):
    """start "07:00" in the province's time is the handover; end the next ("07:00" after "19:00" wraps)."""

    people: Annotated[tuple[Name, ...], Meta(min_length=1)]


class Roster(RosterInfo, frozen=True, forbid_unknown_fields=True):
    desk: Agency  # the post's desk (a category's `desk`)
    shifts: Annotated[tuple[Shift, ...], Meta(min_length=1)]
    regencies: tuple[RegencyCode, ...] = ()  # empty: every regency


class ChainLevel(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    notify: Annotated[tuple[Name, ...], Meta(min_length=1)]  # "desk", "supervisor", "commanders" or people's names
    after_minutes: Annotated[int, Meta(ge=0, le=1440)] = 0  # after the previous level (level 1 is at the ack deadline: none)


class Chain(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    levels: Annotated[tuple[ChainLevel, ...], Meta(min_length=1)]
    severities: tuple[SeverityKey, ...] = ()  # empty: every severity
    categories: tuple[Key, ...] = ()  # empty: every category
    regencies: tuple[RegencyCode, ...] = ()  # empty: every regency
    repeat: Annotated[int, Meta(ge=0, le=20)] = 3  # the last level again at most this often, then one "still unacknowledged"
    repeat_minutes: Annotated[int, Meta(ge=0, le=1440)] = 0  # 0: the severity's escalate_minutes

    def matches(self, incident: Incident) -> bool:
        return (
            (not self.severities or incident.severity in self.severities)
            and (not self.categories or incident.category in self.categories)
            and (not self.regencies or incident.regency in self.regencies)
        )


class NotifySettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """[notify]: the ceiling without a chain, and how messages go out."""

    max_repeats: Annotated[int, Meta(ge=0, le=20)] = 3  # without a chain: re-escalations after the first, then one "still unacknowledged"
    group_seconds: Annotated[float, Meta(ge=0, le=3600)] = 60.0  # one message per person and channel per this long
    max_per_message: Annotated[int, Meta(ge=1, le=50)] = 8  # incidents one message names (a phone's screen); the rest go next time
    retry_seconds: Annotated[float, Meta(gt=0, le=3600)] = 30.0  # the first retry's wait; doubled each time
    max_attempts: Annotated[int, Meta(ge=1, le=20)] = 5  # then notification.failed
    check_seconds: Annotated[float, Meta(gt=0, le=60)] = 2.0
    contact: str = ""  # the post's contact line at the foot of every message ("Posko: 0511-1234567")
    timeout_seconds: Annotated[float, Meta(gt=0, le=120)] = 15.0  # one channel's send


# --- checks across keys -------------------------------------------------------------


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def quiet_span(text: str) -> tuple[int, int] | None:
    """ "22:00-06:00" as minutes of the day (start, end); None if empty."""
    if not text:
        return None
    found = re.fullmatch(r"([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]):([0-5][0-9])", text)
    if found is None:
        raise ValueError(f"{text!r} is not a span like 22:00-06:00")
    start, end = int(found[1]) * 60 + int(found[2]), int(found[3]) * 60 + int(found[4])
    if start == end:
        raise ValueError(f"{text!r} starts and ends at the same time")
    return start, end


def _span_minutes(start: int, end: int) -> list[int]:
    """The minutes of the day a span covers (wrapping past midnight)."""
    return list(range(start, end)) if start < end else [*range(start, DAY), *range(0, end)]


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _check_roster(roster: Roster, where: str, people: dict[str, Person]) -> None:
    owner: dict[int, int] = {}
    for j, shift in enumerate(roster.shifts):
        start, end = _minutes(shift.start), _minutes(shift.end)
        if start == end:
            raise PeopleError(f"{where}.shifts[{j}].end: the shift starts and ends at {shift.start}")
        for minute in _span_minutes(start, end):
            if minute in owner:
                raise PeopleError(f"{where}.shifts[{j}]: overlaps shifts[{owner[minute]}] at {_clock(minute)} (desk {roster.desk})")
            owner[minute] = j
        for k, name in enumerate(shift.people):
            if name not in people:
                raise PeopleError(f"{where}.shifts[{j}].people[{k}]: no person named {name!r} in [[people]]")
        if shift.supervisor and shift.supervisor not in people:
            raise PeopleError(f"{where}.shifts[{j}].supervisor: no person named {shift.supervisor!r} in [[people]]")
    missing = [m for m in range(DAY) if m not in owner]
    if missing:
        first = missing[0]
        last = first
        while last + 1 in missing:
            last += 1
        raise PeopleError(f"{where}.shifts: no shift from {_clock(first)} to {_clock((last + 1) % DAY)} (desk {roster.desk}; the shifts must cover the day)")


def check(people: tuple[Person, ...], rosters: tuple[Roster, ...], chains: tuple[Chain, ...], regencies: set[str], categories: set[str]) -> None:
    """What spans keys: unique names, known regencies, no gaps or overlaps in a
    desk's day, every name a chain or a shift gives is a person."""
    by_name: dict[str, Person] = {}
    for i, person in enumerate(people):
        if person.name in by_name:
            raise PeopleError(f"people[{i}].name: duplicate {person.name!r}")
        if person.name in TARGETS:
            raise PeopleError(f"people[{i}].name: {person.name!r} is a word a chain level uses ({', '.join(TARGETS)}); choose another name")
        by_name[person.name] = person
        for j, code in enumerate(person.regencies):
            if code not in regencies:
                raise PeopleError(f"people[{i}].regencies[{j}]: no regency {code!r} in [[regencies]]")
        try:
            quiet_span(person.quiet_hours)
        except ValueError as exc:
            raise PeopleError(f"people[{i}].quiet_hours: {exc}") from None
    for i, roster in enumerate(rosters):
        for j, code in enumerate(roster.regencies):
            if code not in regencies:
                raise PeopleError(f"rosters[{i}].regencies[{j}]: no regency {code!r} in [[regencies]]")
        _check_roster(roster, f"rosters[{i}]", by_name)
        for k in range(i):
            other = rosters[k]
            shared = not roster.regencies or not other.regencies or set(roster.regencies) & set(other.regencies)
            if other.desk == roster.desk and shared and bool(roster.regencies) == bool(other.regencies):
                raise PeopleError(f"rosters[{i}]: overlaps rosters[{k}] (desk {roster.desk}, the same regencies): one roster per desk and regency")
    for i, chain in enumerate(chains):
        for j, code in enumerate(chain.regencies):
            if code not in regencies:
                raise PeopleError(f"chains[{i}].regencies[{j}]: no regency {code!r} in [[regencies]]")
        for j, key in enumerate(chain.categories):
            if key not in categories:
                raise PeopleError(f"chains[{i}].categories[{j}]: no category {key!r} in [[categories]]")
        if chain.levels[0].after_minutes:
            raise PeopleError(f"chains[{i}].levels[0].after_minutes: level 1 is due at the acknowledgement deadline ([[severities]] ack_minutes): leave it out")
        for j, level in enumerate(chain.levels):
            for k, name in enumerate(level.notify):
                if name not in TARGETS and name not in by_name:
                    raise PeopleError(f"chains[{i}].levels[{j}].notify[{k}]: no person named {name!r} in [[people]] (nor one of {', '.join(TARGETS)})")


# --- who is on duty: one rule for the server's chains, the screens' header and the sitrep ---


def roster_for(rosters: Iterable[R], desk: str, regency: str) -> R | None:
    """The desk's roster for the regency: one naming it, else one for every regency."""
    rosters = tuple(rosters)
    named = next((r for r in rosters if r.desk == desk and regency in r.regencies), None)
    return named or next((r for r in rosters if r.desk == desk and not r.regencies), None)


def roster_for_scope(rosters: Iterable[R], desk: str, regencies: Iterable[str] | None) -> R | None:
    """The desk's roster for an officer's regencies (None: the province): the one roster
    every one of them falls under (a Polres officer's own regency roster), else the desk's
    roster for every regency. One rule for the handover the server records and the screens."""
    rosters = tuple(rosters)
    found = {id(r): r for r in (roster_for(rosters, desk, regency) for regency in regencies or ()) if r is not None}
    if len(found) == 1:
        return next(iter(found.values()))
    return roster_for(rosters, desk, "")


def shift_at(roster: RosterInfo, now: datetime, tz: tzinfo | None) -> ShiftInfo:
    """The roster's shift at `now` (its minute in the province's time `tz`)."""
    local = now.astimezone(tz) if tz is not None else now
    minute = local.hour * 60 + local.minute
    for shift in roster.shifts:
        start, end = _minutes(shift.start), _minutes(shift.end)
        if (start <= minute < end) if start < end else (minute >= start or minute < end):  # past midnight: wraps
            return shift
    return roster.shifts[0]  # a checked roster covers the day; a wire one may not


def shift_ends(shift: ShiftInfo, now: datetime, tz: tzinfo | None) -> datetime:
    """When the shift in force at `now` hands over: its end, today or tomorrow, in `now`'s zone."""
    local = now.astimezone(tz) if tz is not None else now
    end = _minutes(shift.end)
    moment = local.replace(hour=end // 60, minute=end % 60, second=0, microsecond=0)
    if moment <= local:
        moment += timedelta(days=1)
    return moment


# --- deciding ------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """The escalation a check writes: its level, repeat (0: the level's first
    time), whether it is the last word, who it reaches, when the next is due."""

    level: int
    repeat: int
    final: bool
    notify: tuple[str, ...]
    following: datetime | None


@dataclass(frozen=True)
class Policy:
    people: dict[str, Person] = field(default_factory=dict)
    rosters: tuple[Roster, ...] = ()
    chains: tuple[Chain, ...] = ()
    desks: dict[str, str] = field(default_factory=dict)  # category -> its desk (agency)
    max_repeats: int = 3
    tz: tzinfo | None = None

    @classmethod
    def of(cls, config: Any) -> Policy:
        """From a loaded Config (typed Any: config.py imports this module)."""
        return cls(
            people={p.name: p for p in config.people},
            rosters=tuple(config.rosters),
            chains=tuple(config.chains),
            desks={c.key: c.desk for c in config.categories},
            max_repeats=config.notify.max_repeats,
            tz=config.province.tz,
        )

    def chain_for(self, incident: Incident) -> Chain | None:
        """The first chain, in config order, whose severities, categories and regencies take the incident."""
        return next((c for c in self.chains if c.matches(incident)), None)

    def roster_for(self, desk: str, regency: str) -> Roster | None:
        return roster_for(self.rosters, desk, regency)

    def roster_for_scope(self, desk: str, regencies: Iterable[str] | None) -> Roster | None:
        return roster_for_scope(self.rosters, desk, regencies)

    def shift_at(self, roster: Roster, now: datetime) -> ShiftInfo:
        return shift_at(roster, now, self.tz)

    def on_duty(self, desk: str, regency: str, now: datetime) -> ShiftInfo | None:
        roster = self.roster_for(desk, regency)
        return self.shift_at(roster, now) if roster is not None else None

    def targets(self, incident: Incident, level: int, now: datetime) -> tuple[str, ...]:
        """The people a chain level (1-based) reaches for this incident at `now`, in order, once each."""
        chain = self.chain_for(incident)
        if chain is None or level < 1:
            return ()
        step = chain.levels[min(level, len(chain.levels)) - 1]
        names: list[str] = []
        shift = self.on_duty(self.desks.get(incident.category, ""), incident.regency, now)
        for target in step.notify:
            if target == "desk":
                names += shift.people if shift is not None else ()
            elif target == "supervisor":
                names += [shift.supervisor] if shift is not None and shift.supervisor else []
            elif target == "commanders":
                names += [p.name for p in self.people.values() if p.commander and p.covers(incident.regency)]
            else:
                names.append(target)
        return tuple(dict.fromkeys(n for n in names if n in self.people))

    def next_step(self, incident: Incident, due: datetime, now: datetime, every_minutes: int) -> Step:
        """The escalation due at `due` (<= now) for an open incident: the next
        level, a repeat of the last, or the one final "still unacknowledged".
        `every_minutes` is the severity's escalate_minutes (0: no repeats)."""
        chain = self.chain_for(incident)
        if chain is None:
            # No chain: the screens only; level +1 each time, at most 1 + max_repeats times, then the last word.
            if incident.level >= 1 + self.max_repeats:
                return Step(incident.level, incident.repeats, True, (), None)
            level = incident.level + 1
            more = every_minutes > 0
            return Step(level, 0, False, (), _after(due, now, every_minutes) if more else None)
        levels = len(chain.levels)
        gap = chain.repeat_minutes or every_minutes
        if incident.level < levels:
            level, repeat = incident.level + 1, 0
        elif incident.repeats < chain.repeat and gap > 0:
            level, repeat = incident.level, incident.repeats + 1
        else:
            return Step(incident.level, incident.repeats, True, self.targets(incident, incident.level, now), None)
        if level < levels:
            following: datetime | None = _after(due, now, chain.levels[level].after_minutes)
        else:
            following = _after(due, now, gap) if gap > 0 else None
        return Step(level, repeat, False, self.targets(incident, level, now), following)


def _after(due: datetime, now: datetime, minutes: int) -> datetime:
    """The next boundary `minutes` apart after `now` (one escalation per check, however long the server was down)."""
    if minutes <= 0:
        return now
    step = timedelta(minutes=minutes)
    nxt = due + step
    while nxt <= now:
        nxt += step
    return nxt


def in_quiet_hours(person: Person, moment: datetime, tz: tzinfo) -> datetime | None:
    """When the person's quiet hours around `moment` end, or None if not in them."""
    span = quiet_span(person.quiet_hours)
    if span is None:
        return None
    local = moment.astimezone(tz)
    minute = local.hour * 60 + local.minute
    if minute not in _span_minutes(*span):
        return None
    end = local.replace(hour=span[1] // 60, minute=span[1] % 60, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    return end
