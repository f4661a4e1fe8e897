"""Serving a training exercise: mark the log, keep the scenario clock.

`opsmon-server serve --exercise NAME` marks its database as an exercise's
(its settings in meta, every epoch `latihan-...`), and a server started
without --exercise refuses such a database, so an exercise log is never
served (or restored and served) as a real night. A database that already
holds a real night's events is refused the other way round.

The clock: scenario time starts at the scenario's start when the epoch
begins (a fresh database, or after `opsmon-server reset --keep-tokens`) and
runs `speed` times faster than the wall clock. Where it stands is kept in
meta for the epoch, so a restarted server goes on from the scenario time it
had (the time it was down included) rather than starting the day again.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime

import msgspec

from opsmon.core.clock import format_ts, parse_ts, utc_now
from opsmon.core.protocol import ROSTER_SHOWN, ExerciseInfo, RosterInfo
from opsmon.core.records import Actor
from opsmon.core.state import Rules
from opsmon.training.exercise import ExerciseClock, is_exercise_epoch
from opsmon.training.roster import Trainee
from server.store.api import EventStore, StoreError

DEADLINES = ("scenario", "real")
CLOCK_STATES = ("running", "paused", "ended")


@dataclass(frozen=True)
class ExerciseSettings:
    name: str
    start: datetime  # aware: scenario time when an epoch begins
    speed: float
    scenario: str | None = None
    roster: tuple[Trainee, ...] = ()  # the trainees expected (`serve --roster`); none: every officer token
    # "scenario": deadlines in scenario minutes (a critical's 5 are 5 real seconds at x60);
    # "real": in real minutes, so a trainee has the 5 minutes a real night gives.
    deadlines: str = "scenario"


@dataclass(frozen=True)
class Exercise:
    """An exercise: its settings, the scenario clock and where that clock stands
    (running; paused: standing still; ended: standing still for good)."""

    settings: ExerciseSettings
    clock: ExerciseClock
    state: str = "running"

    def info(self) -> ExerciseInfo:
        s = self.settings
        return ExerciseInfo(
            name=s.name, speed=s.speed, now=format_ts(self.clock()), start=format_ts(s.start), scenario=s.scenario, state=self.state, deadlines=s.deadlines
        )

    def moved(self, state: str, at: datetime) -> Exercise:
        """The clock after the trainer paused, resumed or ended at scenario time `at`."""
        clock = ExerciseClock(real=self.clock.base(), scenario=at, speed=self.settings.speed if state == "running" else 0.0, base=self.clock.base)
        return Exercise(self.settings, clock, state)

    async def remember(self, store: EventStore) -> None:
        """Where the clock stands, so a restarted server goes on from there (and a paused one stays paused)."""
        anchor = {"epoch": store.epoch, "real": format_ts(self.clock.real), "scenario": format_ts(self.clock.scenario), "speed": self.settings.speed}
        await store.set_meta("exercise_clock", json.dumps({**anchor, "state": self.state}))


def exercise_rules(rules: Rules, exercise: Exercise | None) -> Rules:
    """The rules an exercise decides by: its `exercise` command taken, and with real-time
    deadlines every severity's minutes stretched by the speed (5 scenario minutes at x60
    are 5 real seconds; 300 scenario minutes are the 5 real minutes a trainee should get)."""
    if exercise is None:
        return rules
    severities = rules.severities
    if exercise.settings.deadlines == "real":
        speed = exercise.settings.speed
        severities = {
            key: msgspec.structs.replace(rule, ack_minutes=max(1, round(rule.ack_minutes * speed)), escalate_minutes=round(rule.escalate_minutes * speed))
            for key, rule in severities.items()
        }
    return dataclasses.replace(rules, exercise=True, severities=severities)


async def prepare(store: EventStore, settings: ExerciseSettings | None, *, now: datetime | None = None) -> Exercise | None:
    """Check the database is what was asked for (an exercise's, or a real night's), and start the clock."""
    stored = await store.exercise()
    if settings is None:
        if stored is not None or is_exercise_epoch(store.epoch):
            name = (stored or {}).get("name", "?")
            raise StoreError(
                f"{store.location} holds a training exercise ({name!r}), never a real night: serve it with --exercise {json.dumps(name, ensure_ascii=False)}, or point --db at the real night's database"
            )
        return None
    if stored is None:
        head = await store.head()
        if head > 0:
            raise StoreError(
                f"{store.location} holds a real night ({head} events): an exercise needs its own database (--db latihan.db), so the two can never be mixed"
            )
    marked: dict[str, object] = {
        "name": settings.name,
        "start": format_ts(settings.start),
        "speed": settings.speed,
        "scenario": settings.scenario,
        "deadlines": settings.deadlines,
    }
    if settings.roster:
        marked["roster"] = [{"name": t.name, "desk": t.desk} for t in settings.roster]
    await store.mark_exercise(marked, f"exercise {settings.name}")
    real = now or utc_now()
    anchor_text = await store.get_meta("exercise_clock")
    anchor = json.loads(anchor_text) if anchor_text else {}
    state = "running"
    if anchor.get("epoch") == store.epoch:
        # The same session, restarted: go on from where its clock is now (a paused
        # or ended one stands where it stood).
        state = anchor.get("state", "running") if anchor.get("state") in CLOCK_STATES else "running"
        moving = float(anchor["speed"]) if state == "running" else 0.0
        scenario_now = parse_ts(anchor["scenario"]) + (real - parse_ts(anchor["real"])) * moving
    else:
        scenario_now = settings.start  # a new session (new database, or reset): from the start
    speed = settings.speed if state == "running" else 0.0
    exercise = Exercise(settings, ExerciseClock(real=real, scenario=scenario_now, speed=speed), state)
    await exercise.remember(store)
    if await seen(store) is None:
        await store.set_meta(SEEN_KEY, json.dumps({"epoch": store.epoch, "names": []}))  # this session is served: who connects is recorded from now
    return exercise


SEEN_KEY = "exercise_seen"


async def seen(store: EventStore) -> set[str] | None:
    """The token names that connected in this session (the after-action report's "never connected"); None if not recorded."""
    text = await store.get_meta(SEEN_KEY)
    data = json.loads(text) if text else {}
    if data.get("epoch") != store.epoch:
        return None
    return {str(name) for name in data.get("names", [])}


async def record_seen(store: EventStore, names: set[str]) -> None:
    """Add these token names to the session's connected ones."""
    known = await seen(store) or set()
    if names - known:
        await store.set_meta(SEEN_KEY, json.dumps({"epoch": store.epoch, "names": sorted(known | names)}, ensure_ascii=False))


async def roster_line(store: EventStore, settings: ExerciseSettings) -> str | None:
    """What `serve` says of the roster at start: how many trainees it expects, and whose name no token has (they cannot connect)."""
    if not settings.roster:
        return None
    names = {t.name.casefold() for t in await store.tokens() if t.revoked is None}
    missing = [t.name for t in settings.roster if t.name.casefold() not in names]
    line = f"roster: {len(settings.roster)} trainee{'' if len(settings.roster) == 1 else 's'} expected"
    if missing:
        shown = ", ".join(repr(name) for name in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        line += f"; no token is named {shown} (add one: opsmon-server token add NAME --role officer --agency ...)"
    return line


class Attendance:
    """Who of the expected trainees is connected: the roster (`serve --roster`), else every
    officer token at start, against the names connected now. Cheap (one pass over the
    expected) and said only when it changes, never per event."""

    def __init__(self, expected: list[tuple[str, str]]) -> None:
        # By desk then name, as the post sits.
        self.expected = sorted(expected, key=lambda e: (e[1].casefold(), e[0].casefold()))
        self.last = self.info(set())  # nobody connected yet: what a change is measured from

    @classmethod
    async def load(cls, store: EventStore, settings: ExerciseSettings) -> Attendance:
        if settings.roster:
            return cls([(t.name, t.desk) for t in settings.roster])
        return cls([(t.name, t.agency) for t in await store.tokens() if t.role == "officer" and t.revoked is None])

    def info(self, connected: set[str]) -> RosterInfo:
        here = {name.casefold() for name in connected}
        absent = [Actor(name=name, agency=desk) for name, desk in self.expected if name.casefold() not in here]
        return RosterInfo(expected=len(self.expected), absent=absent[:ROSTER_SHOWN], more=max(0, len(absent) - ROSTER_SHOWN))

    def changed(self, connected: set[str]) -> RosterInfo | None:
        """The roster if it differs from the one last said, else None."""
        now = self.info(connected)
        if now == self.last:
            return None
        self.last = now
        return now
