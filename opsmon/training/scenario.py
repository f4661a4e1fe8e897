"""Scenarios: a believable election night for the province in config.toml, and a fixed load for benchmarks.

Pure. This module reads scenarios and places; night.py's
`generate(config, scenario, seed)` turns one into a seeded random night of
`SimCommand`s, which `opsmon.feeds.simulate` plays against a server.

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

import tomllib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from functools import cache
from pathlib import Path
from typing import Any

from opsmon.core.config import Config, ConfigError, Regency
from opsmon.core.records import AGENCIES, SEVERITIES
from opsmon.core.tomltable import Table as _Table

MINUTE = 60.0
HOUR = 3600.0

# What the field sends; everything else is what an officer at the post does.
FIELD_KINDS = ("report", "stage")

SCENARIO_DIR = Path(__file__).with_name("scenarios")
PLACES_DIR = Path(__file__).with_name("places")
SCENARIO_NAMES = ("rekap", "hari-h")
PLACE_KINDS = ("tps", "desa", "kec", "ppk", "kab", "prov")
PLACE_TAGS = ("pesisir", "pulau", "sungai", "pegunungan")
WORKING_HOURS = (8, 23)  # plenaries sit from 08:00 to 23:00 local time

# Who in the field reports for each desk.
REPORTER_UNIT = {"KPU": "PPK", "Bawaslu": "Panwascam", "Polri": "Polsek"}

# What a simulated officer notes on an incident: its desk's own people, so a
# Sirekap failure never gets a note about witnesses. A trouble's `notes` come first.
NOTES = {
    "KPU": ("Menunggu laporan lanjutan dari PPK.", "KPU kabupaten sudah dihubungi.", "Operator KPU kabupaten sudah dikerahkan."),
    "Bawaslu": ("Panwascam sedang meminta keterangan saksi.", "Pengawas TPS sudah dihubungi.", "Bawaslu kabupaten sudah menerima laporan awal."),
    "Polri": ("Sudah dikoordinasikan dengan Polsek setempat.", "Personel Polsek menuju lokasi.", "Bhabinkamtibmas sudah berada di lokasi."),
}


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
    incidents: int | None = None  # about how many random incidents while this stage is under way (None: its share of the scenario's)


@dataclass(frozen=True)
class Trouble:
    categories: tuple[str, ...]  # the first one the config knows is used
    # Title and detail may use {kec}, {desa} ("Desa X" or "Kel. X"; "TPS 012" where no desa
    # is known), {kepala} ("kepala desa" or "lurah"), {tps}, {tempat} ("TPS 012 Desa X, Kec. Y":
    # a title names its place), {regency} and {provinsi}.
    title: str
    detail: str
    severities: tuple[tuple[str, int], ...]  # (severity, weight)
    resolution: str
    stages: tuple[str, ...]
    where: str = "tps"
    needs: tuple[str, ...] = ()  # any of these place tags
    weight: int = 1
    desk: str | None = None
    repeat: float | None = None  # chance another desk reports it too (default: by severity)
    notes: tuple[str, ...] = ()  # what officers note on it (default: its desk's notes)
    regency: str | None = None  # where a province stage's trouble happens (e.g. the province plenary's city)


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
                incidents=t.integer("incidents", -1, required=False, minimum=0, maximum=10_000) if "incidents" in t.data else None,
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
                notes=_strings(t, "notes"),
                regency=t.text("regency", "", required=False) or None,
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
    kelurahan: tuple[str, ...] = ()

    @property
    def villages(self) -> tuple[str, ...]:
        """Every desa and kelurahan named, in the file's order."""
        return self.desa + self.kelurahan


@cache
def _places_file(code: str) -> dict[str, tuple[Kecamatan, ...]]:
    file = PLACES_DIR / f"{code}.toml"
    if not file.is_file():
        return {}
    data = tomllib.loads(file.read_text(encoding="utf-8"))
    places = {}
    for regency, table in data.get("regency", {}).items():
        places[str(regency)] = tuple(
            Kecamatan(k["name"], frozenset(k.get("tags", ())) & frozenset(PLACE_TAGS), tuple(k.get("desa", ())), tuple(k.get("kelurahan", ())))
            for k in table.get("kecamatan", ())
        )
    return places


def kecamatan_of(config: Config, regency: Regency) -> tuple[Kecamatan, ...]:
    """The regency's kecamatan from the province's places file, else numbered ones (with no tags)."""
    known = _places_file(config.province.code).get(regency.code)
    return known or tuple(Kecamatan(f"{regency.short} {i}") for i in range(1, regency.kecamatan + 1))


def kecamatan_names(config: Config, regency: Regency) -> list[str]:
    return [k.name for k in kecamatan_of(config, regency)]
