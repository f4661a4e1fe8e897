"""Training exercises (latihan): the scenario clock, shared by server and clients.

An exercise server runs on scenario time: it starts at the scenario's start
(e.g. 14 Feb 05:00 WITA) and runs `speed` times faster than the wall clock.
Every event it writes carries scenario time, and every deadline is counted
in it, so a critical incident still has its 5 scenario minutes to be
acknowledged (5 real seconds at x60). The welcome tells clients the
exercise's name, its speed and the scenario time at that moment; clients run
the same clock from there (`ExerciseClock.from_welcome`), so the screens show
scenario time too and never the real clock.

No I/O, no textual.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import msgspec

from opsmon.core.clock import format_ts, parse_ts, utc_now
from opsmon.core.i18n import Translator
from opsmon.core.protocol import ExerciseInfo, RosterInfo
from opsmon.core.records import ConfigInfo

# Every exercise epoch starts with this, so an exercise log is never taken for a real night.
EXERCISE_EPOCH_PREFIX = "latihan-"
BANNER = {"id": "LATIHAN", "en": "EXERCISE"}
STATE_WORDS = {"paused": {"id": "DIJEDA", "en": "PAUSED"}, "ended": {"id": "SELESAI", "en": "ENDED"}}
REAL_DEADLINES = {"id": "tenggat waktu nyata", "en": "real-time deadlines"}


def is_exercise_epoch(epoch: str | None) -> bool:
    return bool(epoch) and str(epoch).startswith(EXERCISE_EPOCH_PREFIX)


@dataclass(frozen=True)
class ExerciseClock:
    """Scenario time: `scenario` at the real moment `real`, running `speed` times faster."""

    real: datetime
    scenario: datetime
    speed: float
    base: Callable[[], datetime] = utc_now

    def __call__(self) -> datetime:
        return self.scenario + (self.base() - self.real) * self.speed

    @classmethod
    def from_welcome(cls, info: ExerciseInfo, base: Callable[[], datetime] = utc_now) -> ExerciseClock:
        """A client's copy of the server's clock, from the moment the welcome arrived
        (standing still while the exercise is paused or ended)."""
        return cls(real=base(), scenario=parse_ts(info.now), speed=info.speed if info.state == "running" else 0.0, base=base)


def moved(info: ExerciseInfo, state: str, at: str) -> ExerciseInfo:
    """The welcome's exercise after an `exercise.clock` event: its state, and its clock at the event's scenario time."""
    return msgspec.structs.replace(info, state=state, now=at)


def banner(info: ExerciseInfo, lang: str, *, short: int = 0) -> str:
    """The line every screen shows while an exercise runs (the caller makes it safe for a
    terminal). `short`, for a header with no room: 1 without the exercise's name, 2 without
    the deadlines' words too, 3 without the speed: LATIHAN and a paused or ended clock stay."""
    key = "en" if lang == "en" else "id"
    word = BANNER[key]
    how = ([f"x{info.speed:g}"] if short < 3 else []) + ([REAL_DEADLINES[key]] if info.deadlines == "real" and short < 2 else [])
    state = f" {STATE_WORDS[info.state][key]}" if info.state in STATE_WORDS else ""
    name = "" if short else f": {info.name}"
    return f"{word}{name}{' (' + ', '.join(how) + ')' if how else ''}{state}"


def absent_line(roster: RosterInfo | None, lang: str) -> str:
    """ "Belum tersambung (2 dari 20): KPU/Sari, Polri/Budi", or "" when every expected trainee is connected
    (the caller makes it safe for a terminal)."""
    if roster is None or not roster.absent:
        return ""
    tr = Translator(lang)
    names = [f"{a.agency}/{a.name}" if a.agency else a.name for a in roster.absent]
    if roster.more:
        names.append(tr("roster.more", count=roster.more))
    return tr("roster.absent", count=len(roster.absent) + roster.more, expected=roster.expected, names=", ".join(names))


def info(name: str, clock: ExerciseClock, start: datetime, scenario: str | None) -> ExerciseInfo:
    return ExerciseInfo(name=name, speed=clock.speed, now=format_ts(clock()), start=format_ts(start), scenario=scenario)


def on_calendar(config: ConfigInfo, start: datetime) -> ConfigInfo:
    """The config's stage windows placed on an exercise's scenario calendar.

    The windows are full dates of one election (the config's); a scenario set in
    another year (a 2024 night rehearsed with a 2029 config, or the other way)
    sees them moved by whole years to the scenario's, so a panel is late when the
    scenario's day is past the window, never because of the machine's date."""
    closes = [parse_ts(s.closes) for s in config.stages if isinstance(s.closes, str)]
    if not closes:
        return config
    years = start.astimezone(config.tz).year - min(closes).astimezone(config.tz).year
    if years == 0:
        return config
    stages = tuple(
        msgspec.structs.replace(s, closes=_years_later(parse_ts(s.closes), years).isoformat()) if isinstance(s.closes, str) else s for s in config.stages
    )
    return msgspec.structs.replace(config, stages=stages)


def _years_later(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 Feb in a year without one: the 28th
        return moment.replace(year=moment.year + years, day=28)
