"""Scenarios: a believable election night for the province in config.toml, and a fixed load for benchmarks.

Pure: `generate(config, scenario, seed)` is a seeded random night as a list
of `SimCommand`s, each at a simulated second since the scenario starts.
Same config, scenario and seed: the same list. Tested without sockets.
`opsmon.feeds.simulate` plays such a list against a server.

A scenario is a data file a trainer can copy and edit (`scenarios/*.toml`
in the package; `opsmon exercise scenario NAME` prints one): its start and
end, how each stage moves inside the configured windows, the trouble that
can happen in each stage and where (sea crossings only where the province's
places file marks a kecamatan coastal or an island), and timed injects.
Shipped: "hari-h" (voting day: logistics at dawn, polls 07:00-13:00,
counting into the night) and "rekap" (counting night, then the PPK and
regency plenaries over days).

Every command says which desk sends it (`agency`) and whether the field
sends it (`FIELD_KINDS`: reports and stage progress) or an officer at the
post does (ack, note, escalate, resolve): a training run sends only the
field's and leaves the rest to the trainees.

Nothing assumes Kalimantan Selatan: regencies, stages and categories come
from the config, places from `places/<province code>.toml` (regencies it
does not list get numbered kecamatan with no tags, so no sea or river trouble).
"""

from __future__ import annotations

import itertools
import random
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from functools import cache
from pathlib import Path
from typing import Any

from opsmon.core.commands import command
from opsmon.core.config import Config, ConfigError, Regency
from opsmon.core.protocol import AGENCIES, SEVERITIES, Command
from opsmon.core.tomltable import Table as _Table

MINUTE = 60.0
HOUR = 3600.0

# What the field sends; everything else is what an officer at the post does.
FIELD_KINDS = ("report", "stage")

SCENARIO_DIR = Path(__file__).with_name("scenarios")
PLACES_DIR = Path(__file__).with_name("places")
SCENARIO_NAMES = ("rekap", "hari-h")
PLACE_KINDS = ("tps", "desa", "kec", "ppk", "kab")
PLACE_TAGS = ("pesisir", "pulau", "sungai", "pegunungan")
WORKING_HOURS = (8, 23)  # plenaries sit from 08:00 to 23:00 local time

# Who in the field reports for each desk.
REPORTER_UNIT = {"KPU": "PPK", "Bawaslu": "Panwascam", "Polri": "Polsek"}

NOTES = (
    "Tim sudah menuju lokasi.",
    "Sudah dikoordinasikan dengan Polsek setempat.",
    "Panwascam sedang meminta keterangan saksi.",
    "Menunggu laporan lanjutan dari PPK.",
    "KPU kabupaten sudah dihubungi.",
)


class ScenarioError(ValueError):
    """A scenario file that cannot be used; str() names the file, the key and the problem."""


# --- the scenario, as read from its file ------------------------------------------


@dataclass(frozen=True)
class StagePlan:
    key: str
    start: float  # seconds since the scenario starts
    end: float
    start_done: tuple[float, float] = (0.0, 0.0)
    after: str | None = None
    active_from: float | None = None
    updates: int = 12
    working_hours: bool = False
    paused: tuple[float, float] | None = None
    blocked_chance: float = 0.0
    blocked_note: str = ""


@dataclass(frozen=True)
class Trouble:
    categories: tuple[str, ...]  # the first one the config knows is used
    title: str  # may use {kec}, {desa} ("Desa X" or "Kel. X"; "TPS 012" where no desa is known), {tps}, {regency}
    detail: str
    severities: tuple[tuple[str, int], ...]  # (severity, weight)
    resolution: str
    stages: tuple[str, ...]
    where: str = "tps"
    needs: tuple[str, ...] = ()  # any of these place tags
    weight: int = 1
    desk: str | None = None
    repeat: float | None = None  # chance another desk reports it too (default: by severity)


@dataclass(frozen=True)
class Inject:
    at: float
    agency: str
    regency: str
    fields: tuple[tuple[str, Any], ...]  # an incident draft's fields, or a stage update's
    kind: str  # "report" or "stage"
    where: str  # "inject[3]", for errors
    fate: str | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    start: datetime  # aware
    duration: float  # simulated seconds
    speed: float  # default simulated seconds per real second
    incidents: int  # about how many random incidents
    stages: tuple[StagePlan, ...] = ()
    troubles: tuple[Trouble, ...] = ()
    injects: tuple[Inject, ...] = ()
    source: str = ""

    def start_label(self, tz: tzinfo | None = None) -> str:
        moment = self.start.astimezone(tz) if tz is not None else self.start
        return f"{moment:%d %b %H:%M} {moment.tzname() or ''}".strip()

    def at(self, seconds: float) -> datetime:
        return self.start + timedelta(seconds=seconds)


def _moment(table: _Table, key: str, tz: tzinfo, *, required: bool = True) -> datetime | None:
    value = table._get(key, None, required)
    if value is None:
        return None
    where = table._key(key)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ConfigError(f"{where}: {value!r} is not a date and time like 2024-02-14T07:00:00") from None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time(0, 0))
    if not isinstance(value, datetime):
        raise ConfigError(f"{where}: must be a date and time like 2024-02-14T07:00:00, not {type(value).__name__}")
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


def _fraction_range(table: _Table, key: str) -> tuple[float, float]:
    value = table._get(key, 0.0, False)
    where = table._key(key)
    pair: list[Any] = value if isinstance(value, list) else [value, value]
    numbers = [float(v) for v in pair if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(pair) != 2 or len(numbers) != 2 or not 0 <= numbers[0] <= numbers[1] <= 1:
        raise ConfigError(f"{where}: must be a fraction from 0 to 1, or [low, high]")
    return numbers[0], numbers[1]


def _strings(table: _Table, key: str, *, choices: tuple[str, ...] = (), required: bool = False) -> tuple[str, ...]:
    value = table._get(key, [], required)
    where = table._key(key)
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) and v for v in items) or (required and not items):
        raise ConfigError(f"{where}: must be a string or a list of strings")
    for item in items:
        if choices and item not in choices:
            raise ConfigError(f"{where}: {item!r} is not one of {', '.join(choices)}")
    return tuple(items)


def _tables(root: _Table, key: str) -> list[object]:
    value = root._get(key, [], False)
    if not isinstance(value, list):
        raise ConfigError(f"{key}: must be a list of tables ([[{key}]])")
    return value


def parse_scenario(data: dict[str, Any], tz: tzinfo, source: str = "") -> Scenario:
    """Validate a parsed scenario file; raises ConfigError naming the key."""
    root = _Table(data, "")
    s = root.table("scenario")
    name = s.text("name")
    start = _moment(s, "start", tz)
    end = _moment(s, "end", tz)
    assert start is not None and end is not None  # required ones are never None
    if end <= start:
        raise ConfigError("scenario.end: must be after scenario.start")
    duration = (end - start).total_seconds()

    def offset(moment: datetime | None, where: str) -> float:
        assert moment is not None
        seconds = (moment - start).total_seconds()
        if not 0 <= seconds <= duration:
            raise ConfigError(f"{where}: {moment:%Y-%m-%dT%H:%M} is outside the scenario ({start:%Y-%m-%dT%H:%M} to {end:%Y-%m-%dT%H:%M})")
        return seconds

    scenario_title = s.text("title", name, required=False)
    speed = s.number("speed", 60.0)
    incidents = s.integer("incidents", 40, required=False, minimum=0, maximum=10_000)
    s.done()

    stages = []
    for i, item in enumerate(_tables(root, "stage")):
        t = _Table(item, f"stage[{i}]")
        key = t.text("key")
        begin = offset(_moment(t, "from", tz), f"stage[{i}].from")
        finish = offset(_moment(t, "to", tz), f"stage[{i}].to")
        if finish < begin:
            raise ConfigError(f"stage[{i}].to: must not be before stage[{i}].from")
        active = _moment(t, "active_from", tz, required=False)
        paused = t._get("paused", None, False)
        pause: tuple[float, float] | None = None
        if paused is not None:
            if not isinstance(paused, list) or len(paused) != 2:
                raise ConfigError(f"stage[{i}].paused: must be [from, to]")
            p = _Table({"from": paused[0], "to": paused[1]}, f"stage[{i}].paused")
            pause = (offset(_moment(p, "from", tz), f"stage[{i}].paused[0]"), offset(_moment(p, "to", tz), f"stage[{i}].paused[1]"))
        stages.append(
            StagePlan(
                key=key,
                start=begin,
                end=finish,
                start_done=_fraction_range(t, "start_done"),
                after=t.text("after", "", required=False) or None,
                active_from=None if active is None else offset(active, f"stage[{i}].active_from"),
                updates=t.integer("updates", 12, required=False, minimum=1, maximum=500),
                working_hours=t.flag("working_hours", False),
                paused=pause,
                blocked_chance=t.number("blocked_chance", 0.0, minimum=0.0, exclusive=False),
                blocked_note=t.text("blocked_note", "", required=False),
            )
        )
        t.done()
    keys = [p.key for p in stages]
    for i, plan in enumerate(stages):
        if plan.after is not None and plan.after not in keys[:i]:
            raise ConfigError(f"stage[{i}].after: {plan.after!r} is not a stage planned above it")

    troubles = []
    for i, item in enumerate(_tables(root, "trouble")):
        t = _Table(item, f"trouble[{i}]")
        severities = t.table("severities")
        weights = tuple((k, severities.integer(k, minimum=1)) for k in list(severities.data))
        if not weights or any(k not in SEVERITIES for k, _ in weights):
            raise ConfigError(f"trouble[{i}].severities: must be a table like {{ high = 3, medium = 5 }} of critical/high/medium/low weights")
        repeat = t._get("repeat", None, False)
        if repeat is not None and (isinstance(repeat, bool) or not isinstance(repeat, int | float) or not 0 <= repeat <= 1):
            raise ConfigError(f"trouble[{i}].repeat: must be a fraction from 0 to 1")
        desk = t.text("desk", "", required=False, choices=("", *AGENCIES)) or None
        troubles.append(
            Trouble(
                categories=_strings(t, "category", required=True),
                title=t.text("title"),
                detail=t.text("detail", "", required=False),
                severities=weights,
                resolution=t.text("resolution", "Selesai ditangani.", required=False),
                stages=_strings(t, "stages", required=True),
                where=t.text("where", "tps", required=False, choices=PLACE_KINDS),
                needs=_strings(t, "needs", choices=PLACE_TAGS),
                weight=t.integer("weight", 1, required=False, minimum=0),
                desk=desk,
                repeat=None if repeat is None else float(repeat),
            )
        )
        t.done()

    injects = []
    for i, item in enumerate(_tables(root, "inject")):
        where = f"inject[{i}]"
        t = _Table(item, where)
        at = offset(_moment(t, "at", tz), f"{where}.at")
        agency = t.text("agency", choices=AGENCIES)
        regency = t.text("regency")
        fate = t.text("fate", "", required=False, choices=("", "resolved", "acknowledged", "escalated", "left")) or None
        if "stage" in t.data:
            done = t._get("done", None, True)
            if not (isinstance(done, int) and not isinstance(done, bool) and done >= 0) and not (
                isinstance(done, str) and (done == "total" or done.startswith("total-") and done[6:].isdigit())
            ):
                raise ConfigError(f'{where}.done: must be a number, "total" or "total-N"')
            fields: tuple[tuple[str, Any], ...] = (
                ("stage", t.text("stage")),
                ("done", done),
                ("note", t.text("note", "", required=False) or None),
                ("blocked", t.flag("blocked", False)),
            )
            kind = "stage"
        else:
            title = t.text("title")
            if len(title) > 200:
                raise ConfigError(f"{where}.title: at most 200 characters")
            fields = (
                ("category", t.text("category")),
                ("severity", t.text("severity", choices=SEVERITIES)),
                ("title", title),
                ("detail", t.text("detail", "", required=False)),
                ("location", t.text("location", "", required=False)[:200]),
            )
            kind = "report"
        t.done()
        injects.append(Inject(at, agency, regency, fields, kind, where, fate))
    root.done()
    return Scenario(name, scenario_title, start, duration, speed, incidents, tuple(stages), tuple(troubles), tuple(injects), source)


def scenario_file(name: str) -> Path:
    """The file of a shipped scenario name, or the path given."""
    if name in SCENARIO_NAMES:
        return SCENARIO_DIR / f"{name}.toml"
    return Path(name).expanduser()


def scenario_text(name: str) -> str:
    """A scenario file's text, for a trainer to copy."""
    file = scenario_file(name)
    if name not in SCENARIO_NAMES and not file.exists():
        raise ScenarioError(f"unknown scenario {name!r} (known: {', '.join(SCENARIO_NAMES)}, or a .toml file)")
    return file.read_text(encoding="utf-8")


def load_scenario(name: str, tz: tzinfo) -> Scenario:
    """A shipped scenario by name, or a scenario file by path; raises ScenarioError."""
    file = scenario_file(name)
    if name not in SCENARIO_NAMES and not file.is_file():
        raise ScenarioError(f"unknown scenario {name!r} (known: {', '.join(SCENARIO_NAMES)}, or a .toml file)")
    return _load_scenario(str(file), tz)


@cache
def _load_scenario(file: str, tz: tzinfo) -> Scenario:
    try:
        data = tomllib.loads(Path(file).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{file}: cannot read ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{file}: not valid TOML ({exc})") from None
    try:
        return parse_scenario(data, tz, file)
    except ConfigError as exc:
        raise ScenarioError(f"{file}: {exc}") from None


# --- places: kecamatan, desa and what their geography has --------------------------


@dataclass(frozen=True)
class Kecamatan:
    name: str
    tags: frozenset[str] = frozenset()
    desa: tuple[str, ...] = ()


@cache
def _places_file(code: str) -> dict[str, tuple[Kecamatan, ...]]:
    file = PLACES_DIR / f"{code}.toml"
    if not file.is_file():
        return {}
    data = tomllib.loads(file.read_text(encoding="utf-8"))
    places = {}
    for regency, table in data.get("regency", {}).items():
        places[str(regency)] = tuple(
            Kecamatan(k["name"], frozenset(k.get("tags", ())) & frozenset(PLACE_TAGS), tuple(k.get("desa", ()))) for k in table.get("kecamatan", ())
        )
    return places


def kecamatan_of(config: Config, regency: Regency) -> tuple[Kecamatan, ...]:
    """The regency's kecamatan from the province's places file, else numbered ones (with no tags)."""
    known = _places_file(config.province.code).get(regency.code)
    return known or tuple(Kecamatan(f"{regency.short} {i}") for i in range(1, regency.kecamatan + 1))


def kecamatan_names(config: Config, regency: Regency) -> list[str]:
    return [k.name for k in kecamatan_of(config, regency)]


def _weighted(rng: random.Random, weights: dict[str, int] | list[tuple[Any, float]] | tuple[tuple[Any, int], ...]) -> Any:
    items = list(weights.items()) if isinstance(weights, dict) else list(weights)
    return rng.choices([k for k, _ in items], weights=[w for _, w in items])[0]


@dataclass(frozen=True)
class SimCommand:
    """One thing a simulated desk does at simulated second `at`.

    A report carries `ref` (its own name for the incident); ack, note,
    escalate and resolve carry the `ref` of the report they act on, and
    become commands once the server has given that incident its id."""

    at: float
    agency: str
    kind: str  # report, stage, ack, note, escalate, resolve
    fields: tuple[tuple[str, Any], ...]
    ref: str | None = None

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.fields).get(key, default)

    def to_command(self, command_id: str, incident: int | None = None) -> Command:
        f = dict(self.fields)
        if self.kind == "report":
            return command("report", command_id, incident=f)
        if self.kind == "stage":
            return command("stage", command_id, **f)
        if incident is None:
            raise ValueError(f"{self.kind} needs the incident id of {self.ref}")
        if self.kind not in ("ack", "note", "escalate", "resolve"):
            raise ValueError(f"unknown simulated command {self.kind!r}")
        return command(self.kind, command_id, incident=incident, **f)


# --- the night ----------------------------------------------------------------------


class _Night:
    """The generator's working state: one seeded random source, one list of commands."""

    def __init__(self, config: Config, scenario: Scenario, seed: int) -> None:
        self.config = config
        self.scenario = scenario
        self.tz = config.province.tz
        self.rng = random.Random(f"{scenario.name}:{seed}")
        self.commands: list[SimCommand] = []
        self.refs = itertools.count(1)
        # The heaviest regencies (most kecamatan and desa) finish last.
        max_kec = max(r.kecamatan for r in config.regencies)
        max_desa = max(r.desa for r in config.regencies) or 1
        self.weight = {r.code: 0.6 * r.kecamatan / max_kec + 0.4 * r.desa / max_desa for r in config.regencies}
        self.finished: dict[tuple[str, str], float] = {}  # (regency, stage) -> when it was done
        self.active: dict[tuple[str, str], tuple[float, float]] = {}  # (regency, stage) -> under way from, to
        self.plans = {p.key: p for p in scenario.stages}

    # time

    def _local(self, at: float) -> datetime:
        return self.scenario.at(at).astimezone(self.tz)

    def working(self, at: float, plan: StagePlan) -> bool:
        if plan.paused is not None and plan.paused[0] <= at < plan.paused[1]:
            return False
        return not plan.working_hours or WORKING_HOURS[0] <= self._local(at).hour < WORKING_HOURS[1]

    def snap(self, at: float, plan: StagePlan) -> float:
        """The first moment at or after `at` when the stage's people are at work."""
        for _ in range(4):
            if plan.paused is not None and plan.paused[0] <= at < plan.paused[1]:
                at = plan.paused[1] + self.rng.uniform(0, 90) * MINUTE
            if plan.working_hours:
                local = self._local(at)
                if local.hour < WORKING_HOURS[0] or local.hour >= WORKING_HOURS[1]:
                    day = local.date() + timedelta(days=1 if local.hour >= WORKING_HOURS[1] else 0)
                    morning = datetime.combine(day, time(WORKING_HOURS[0]), self.tz)
                    at = (morning - self.scenario.start).total_seconds() + self.rng.uniform(10, 120) * MINUTE
                    continue
            break
        return at

    # stages

    def stage(self, at: float, regency: str, stage: str, done: int, *, blocked: bool = False, note: str | None = None, agency: str = "KPU") -> None:
        if at > self.scenario.duration:
            return
        self.commands.append(
            SimCommand(max(0.0, at), agency, "stage", (("regency", regency), ("stage", stage), ("done", done), ("note", note), ("blocked", blocked)))
        )

    def move_stages(self) -> None:
        for plan in self.scenario.stages:
            cfg = self.config.stage(plan.key)
            if cfg is None:
                continue  # a stage this province's config does not have
            if cfg.scope == "province":
                self.move_province(plan)
                continue
            for regency in self.config.regencies:
                self.move(plan, regency.code, cfg.total_for(regency), self.weight[regency.code], regency)

    def move_province(self, plan: StagePlan) -> None:
        code = self.config.province.code
        if plan.after is not None:
            done = [self.finished.get((r.code, plan.after)) for r in self.config.regencies]
            if any(d is None for d in done):
                return
            self.finished[(code, plan.after)] = max(d for d in done if d is not None)
        self.move(plan, code, 1, 1.0, None)

    def move(self, plan: StagePlan, code: str, total: int, weight: float, regency: Regency | None) -> None:
        rng = self.rng
        begin = plan.start
        if plan.after is not None:
            before = self.finished.get((code, plan.after))
            if before is None:
                return  # the stage before it never finished here
            begin = max(begin, before + rng.uniform(10, 120) * MINUTE)
        begin = self.snap(begin, plan)
        room = max(0.0, plan.end - begin)
        end = begin + room * min(1.0, (0.35 + 0.65 * weight) * rng.uniform(0.85, 1.0))
        first = round(total * rng.uniform(*plan.start_done))
        if first > 0:
            self.stage(begin, code, plan.key, first)
        self.active[(code, plan.key)] = (plan.active_from if plan.active_from is not None else begin, max(begin, end))
        if first >= total:
            # Done from the start (as its window says it must be), its trouble can still happen
            # until its `to`: a dawn raid, a TPS whose box has not come after all.
            self.finished[(code, plan.key)] = begin
            return
        left = total - first
        if left <= plan.updates or total <= 1:
            # One report per unit done (each kecamatan's plenary, a regency's plenary).
            times = sorted(self.snap(begin + (end - begin) * (rng.random() ** 0.8), plan) for _ in range(left - 1))
            times.append(max([self.snap(end, plan), *times]))
            steps = [(t, first + n) for n, t in enumerate(times, start=1)]
        else:
            times = sorted(self.snap(rng.uniform(begin, end), plan) for _ in range(plan.updates - 1))
            times.append(max([self.snap(end, plan), *times]))
            # Fast at first, a long tail of stragglers at the end.
            steps = []
            for n, t in enumerate(times, start=1):
                fraction = n / len(times)
                steps.append((t, first + round(left * (1 - (1 - fraction) ** 1.6))))
        blocked_at = len(steps) // 2 if plan.blocked_chance and len(steps) > 3 and rng.random() < plan.blocked_chance else None
        last = first
        for n, (t, done) in enumerate(steps):
            done = max(done, last)
            if n == blocked_at and regency is not None:
                kec = rng.choice(kecamatan_names(self.config, regency))
                self.stage(t, code, plan.key, done, blocked=True, note=plan.blocked_note.format(kec=kec, regency=regency.short) or None)
            elif done > last or n == len(steps) - 1:
                self.stage(t, code, plan.key, done)
            last = done
        self.finished[(code, plan.key)] = steps[-1][0]
        self.active[(code, plan.key)] = (self.active[(code, plan.key)][0], steps[-1][0])

    def under_way(self, code: str, at: float) -> set[str]:
        """The stages under way in a regency at a moment (and at work then)."""
        found = set()
        for (regency, key), (begin, end) in self.active.items():
            if regency == code and begin <= at <= end and self.working(at, self.plans[key]):
                found.add(key)
        return found

    # incidents

    def category(self, trouble: Trouble) -> str | None:
        return next((c for c in trouble.categories if self.config.category(c) is not None), None)

    def places_for(self, regency: Regency, trouble: Trouble) -> list[Kecamatan]:
        kecamatan = list(kecamatan_of(self.config, regency))
        if trouble.needs:
            kecamatan = [k for k in kecamatan if k.tags & set(trouble.needs)]
        return kecamatan

    def place(self, regency: Regency, kec: Kecamatan) -> tuple[str | None, str]:
        """A real desa from the places file (None where it names none: a numbered
        "Desa 14" reads as made up) and a TPS number a desa could have."""
        # The same draws as a numbered desa took, so a seed still plays the same night.
        if kec.desa and self.rng.random() < 0.8:
            desa: str | None = self.rng.choice(kec.desa)
        else:
            drawn = self.rng.randint(1, max(2, round(regency.desa / max(1, regency.kecamatan))))
            desa = kec.desa[drawn % len(kec.desa)] if kec.desa else None
        per_desa = max(1, round(regency.tps / max(1, regency.desa or regency.kecamatan)))
        return desa, f"{self.rng.randint(1, max(2, round(per_desa * 1.4))):03d}"

    def incident(self, at: float, regency: Regency, trouble: Trouble, *, fate: str | None = None) -> None:
        rng = self.rng
        category = self.category(trouble)
        kecamatan = self.places_for(regency, trouble)
        if category is None or not kecamatan:
            return
        kec = rng.choice(kecamatan)
        desa, tps = self.place(regency, kec)
        village = ("Kel." if regency.name.startswith("Kota") else "Desa") + f" {desa}" if desa else None
        location = {
            "tps": f"Kec. {kec.name}, {village}, TPS {tps}" if village else f"Kec. {kec.name}, TPS {tps}",
            "desa": f"Kec. {kec.name}, {village}" if village else f"Kec. {kec.name}, TPS {tps}",
            "kec": f"Kec. {kec.name}",
            "ppk": f"PPK Kec. {kec.name}",
            "kab": f"KPU {regency.name}",
        }[trouble.where]
        words = {"kec": kec.name, "desa": village or f"TPS {tps}", "tps": tps, "regency": regency.short}
        title = trouble.title.format(**words)[:200]
        severity = _weighted(rng, trouble.severities)
        found = self.config.category(category)
        desk = trouble.desk or (found.desk if found is not None else "KPU")
        draft = (
            ("regency", regency.code),
            ("category", category),
            ("severity", severity),
            ("title", title),
            ("detail", trouble.detail.format(**words)),
            ("location", location[:200]),
        )
        self.report(at, desk, draft, severity, trouble.resolution, fate=fate, repeat=trouble.repeat)

    def report(
        self, at: float, desk: str, draft: tuple[tuple[str, Any], ...], severity: str, resolution: str, *, fate: str | None = None, repeat: float | None = None
    ) -> None:
        rng = self.rng
        ref = f"i{next(self.refs)}"
        self.commands.append(SimCommand(at, desk, "report", draft, ref))
        chance = repeat if repeat is not None else (0.35 if severity in ("critical", "high") else 0.0)
        if chance and rng.random() < chance:
            # Visible trouble reaches the post twice: another desk's people on the ground report it too.
            fields = dict(draft)
            other = rng.choice([a for a in REPORTER_UNIT if a != desk])
            again = fields | {
                "title": f"{fields['title']} (laporan {REPORTER_UNIT[other]})"[:200],
                "detail": f"Laporan dari {REPORTER_UNIT[other]} tentang kejadian yang sama. {fields['detail']}",
            }
            self.commands.append(SimCommand(at + rng.uniform(2, 12) * MINUTE, other, "report", tuple(again.items()), f"i{next(self.refs)}"))
        # What the simulated officers do about it (only when they are simulated); "left" is for the people at the screens.
        fate = fate or _weighted(rng, {"resolved": 45, "acknowledged": 15, "escalated": 8, "left": 32})
        if fate == "left":
            return
        minutes = {"critical": (1, 4), "high": (2, 12), "medium": (5, 40), "low": (15, 120)}.get(severity, (5, 40))
        ack_at = at + rng.uniform(*minutes) * MINUTE
        self.commands.append(SimCommand(ack_at, desk, "ack", (), ref))
        note_at = ack_at + rng.uniform(3, 20) * MINUTE
        self.commands.append(SimCommand(note_at, desk, "note", (("text", rng.choice(NOTES)),), ref))
        if fate == "escalated":
            self.commands.append(SimCommand(note_at + rng.uniform(2, 10) * MINUTE, desk, "escalate", (("note", "Perlu dukungan tingkat provinsi."),), ref))
        elif fate == "resolved":
            self.commands.append(SimCommand(note_at + rng.uniform(10, 90) * MINUTE, desk, "resolve", (("note", resolution),), ref))

    def random_incidents(self) -> None:
        """Incidents spread over the scenario, each in a stage under way in its regency, more where there are more TPS."""
        rng = self.rng
        regencies = list(self.config.regencies)
        tps_weights = [r.tps for r in regencies]
        troubles = [t for t in self.scenario.troubles if self.category(t) is not None and t.weight > 0]
        if not troubles:
            return
        for _ in range(self.scenario.incidents):
            for _attempt in range(40):
                at = rng.uniform(0, self.scenario.duration)
                regency = rng.choices(regencies, weights=tps_weights)[0]
                stages = self.under_way(regency.code, at)
                fitting = [t for t in troubles if stages & set(t.stages) and self.places_for(regency, t)]
                if fitting:
                    self.incident(at, regency, _weighted(rng, [(t, t.weight) for t in fitting]))
                    break

    def inject(self, inject: Inject) -> None:
        fields = dict(inject.fields)
        if inject.regency not in {r.code for r in self.config.regencies} | {self.config.province.code}:
            raise ScenarioError(f"{self.scenario.source}: {inject.where}.regency: {inject.regency!r} is not a regency in the config")
        if inject.kind == "stage":
            stage = self.config.stage(fields["stage"])
            if stage is None:
                raise ScenarioError(f"{self.scenario.source}: {inject.where}.stage: {fields['stage']!r} is not a stage in the config")
            regency = self.config.regency(inject.regency)
            total = stage.total_for(regency) if regency is not None else 1
            done = fields["done"]
            if isinstance(done, str):
                done = total - int(done[6:]) if done.startswith("total-") else total
            if not 0 <= done <= total:
                raise ScenarioError(f"{self.scenario.source}: {inject.where}.done: {done} is not between 0 and {total}")
            self.stage(inject.at, inject.regency, stage.key, done, blocked=fields["blocked"], note=fields["note"], agency=inject.agency)
            return
        if self.config.category(fields["category"]) is None:
            raise ScenarioError(f"{self.scenario.source}: {inject.where}.category: {fields['category']!r} is not a category in the config")
        draft = (("regency", inject.regency), *inject.fields)
        self.report(inject.at, inject.agency, draft, fields["severity"], "Selesai ditangani sesuai arahan posko.", fate=inject.fate, repeat=0.0)

    def finish(self) -> list[SimCommand]:
        kept = [c for c in self.commands if c.at <= self.scenario.duration]
        # Stable: same-time commands keep their generated order (a report before its ack).
        return sorted(kept, key=lambda c: c.at)


def generate(config: Config, scenario: str | Scenario = "rekap", seed: int = 1) -> list[SimCommand]:
    """The whole night, in time order. Pure: same inputs, same list."""
    plan = scenario if isinstance(scenario, Scenario) else load_scenario(scenario, config.province.tz)
    night = _Night(config, plan, seed)
    night.move_stages()
    night.random_incidents()
    for inject in plan.injects:
        night.inject(inject)
    return night.finish()


def load_stream(config: Config, seed: int = 1) -> Iterator[SimCommand]:
    """An endless, valid mix for benchmarks: mostly stage updates, then reports
    and what officers do to them. `at` is unused (the runner sends at a fixed rate)."""
    rng = random.Random(f"load:{seed}")
    regencies = list(config.regencies)
    stages = [s for s in config.stages if not s.province_wide]  # a province stage has no regency rows
    categories = [c.key for c in config.categories]
    severities = [s.key for s in config.severities]
    refs = itertools.count(1)
    waiting_ack: list[str] = []
    acked: list[str] = []
    for n in itertools.count():
        roll = rng.random()
        if roll < 0.6:
            regency, stage = rng.choice(regencies), rng.choice(stages)
            total = stage.total_for(regency)
            yield SimCommand(
                n, "KPU", "stage", (("regency", regency.code), ("stage", stage.key), ("done", rng.randint(0, total)), ("note", None), ("blocked", False))
            )
        elif roll < 0.75 or not (waiting_ack or acked):
            ref = f"l{next(refs)}"
            regency = rng.choice(regencies)
            fields = (
                ("regency", regency.code),
                ("category", rng.choice(categories)),
                ("severity", rng.choice(severities)),
                ("title", f"Beban uji {ref}"),
                ("detail", ""),
                ("location", ""),
            )
            waiting_ack.append(ref)
            yield SimCommand(n, "KPU", "report", fields, ref)
        elif waiting_ack and (roll < 0.85 or not acked):
            ref = waiting_ack.pop(0)
            acked.append(ref)
            yield SimCommand(n, "KPU", "ack", (), ref)
        elif roll < 0.95:
            yield SimCommand(n, "KPU", "note", (("text", rng.choice(NOTES)),), rng.choice(acked))
        else:
            yield SimCommand(n, "KPU", "resolve", (("note", "Selesai (uji beban)."),), acked.pop(0))
