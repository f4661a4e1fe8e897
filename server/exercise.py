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

import json
from dataclasses import dataclass
from datetime import datetime

from opsmon.core.clock import format_ts, parse_ts, utc_now
from opsmon.core.protocol import ExerciseInfo
from opsmon.training.exercise import ExerciseClock, is_exercise_epoch
from opsmon.training.roster import Trainee
from server.store.api import EventStore, StoreError


@dataclass(frozen=True)
class ExerciseSettings:
    name: str
    start: datetime  # aware: scenario time when an epoch begins
    speed: float
    scenario: str | None = None
    roster: tuple[Trainee, ...] = ()  # the trainees expected (`serve --roster`); none: every officer token


@dataclass(frozen=True)
class Exercise:
    """A running exercise: its settings and the scenario clock."""

    settings: ExerciseSettings
    clock: ExerciseClock

    def info(self) -> ExerciseInfo:
        s = self.settings
        return ExerciseInfo(name=s.name, speed=s.speed, now=format_ts(self.clock()), start=format_ts(s.start), scenario=s.scenario)


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
    marked: dict[str, object] = {"name": settings.name, "start": format_ts(settings.start), "speed": settings.speed, "scenario": settings.scenario}
    if settings.roster:
        marked["roster"] = [{"name": t.name, "desk": t.desk} for t in settings.roster]
    await store.mark_exercise(marked, f"exercise {settings.name}")
    real = now or utc_now()
    anchor_text = await store.get_meta("exercise_clock")
    anchor = json.loads(anchor_text) if anchor_text else {}
    if anchor.get("epoch") == store.epoch:
        # The same session, restarted: go on from where its clock is now.
        scenario_now = parse_ts(anchor["scenario"]) + (real - parse_ts(anchor["real"])) * float(anchor["speed"])
    else:
        scenario_now = settings.start  # a new session (new database, or reset): from the start
    await store.set_meta(
        "exercise_clock", json.dumps({"epoch": store.epoch, "real": format_ts(real), "scenario": format_ts(scenario_now), "speed": settings.speed})
    )
    if await seen(store) is None:
        await store.set_meta(SEEN_KEY, json.dumps({"epoch": store.epoch, "names": []}))  # this session is served: who connects is recorded from now
    return Exercise(settings, ExerciseClock(real=real, scenario=scenario_now, speed=settings.speed))


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
