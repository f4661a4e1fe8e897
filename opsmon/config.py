"""Loading and validating config.toml: the province a server watches.

Every problem is reported as a ConfigError that names the exact key
(``regencies[3].tps``) and what is wrong with it, so a bad config never
starts a half-working server or client.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

from opsmon.text import describe, forbidden_characters
from opsmon.urls import BadURL, parse_urls

SEVERITY_KEYS = ("critical", "high", "medium", "low")
LANGUAGES = ("id", "en")
STAGE_UNITS = ("tps", "kecamatan", "plenary")
# "regency": every regency has its own row; "province": one row for the whole
# province (its plenary), keyed by the province code.
STAGE_SCOPES = ("regency", "province")
SYNCHRONOUS_MODES = ("full", "normal", "extra")
COMPRESSION_MODES = ("none", "deflate")
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
CODE_RE = re.compile(r"^[0-9]{4}$")

DEFAULT_CONFIG_NAME = "config.toml"


class ConfigError(ValueError):
    """A config file that cannot be used; str() names the key and the problem."""


@dataclass(frozen=True)
class Label:
    id: str
    en: str

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.id

    def to_wire(self) -> dict[str, str]:
        return {"id": self.id, "en": self.en}


@dataclass(frozen=True)
class Regency:
    code: str
    name: str
    short: str
    kecamatan: int
    desa: int
    tps: int
    tps_estimated: bool = False

    def to_wire(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "short": self.short,
            "kecamatan": self.kecamatan,
            "tps": self.tps,
            "desa": self.desa,
            "tps_estimated": self.tps_estimated,
        }


@dataclass(frozen=True)
class Stage:
    key: str
    label: Label
    short: Label
    unit: str
    window: str = ""
    scope: str = "regency"

    @property
    def province_wide(self) -> bool:
        return self.scope == "province"

    def total_for(self, regency: Regency | None) -> int:
        """What a regency (None: the province, for a province stage) counts to in this stage."""
        if regency is None:
            return 1
        if self.unit == "tps":
            return regency.tps
        if self.unit == "kecamatan":
            return regency.kecamatan
        return 1

    def to_wire(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label.to_wire(),
            "unit": self.unit,
            "short": self.short.to_wire(),
            "window": self.window,
            "scope": self.scope,
        }


@dataclass(frozen=True)
class Category:
    key: str
    label: Label

    def to_wire(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label.to_wire()}


@dataclass(frozen=True)
class Severity:
    key: str
    label: Label
    ack_minutes: int
    escalate_minutes: int  # 0: escalate once, at the deadline, and not again

    def to_wire(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label.to_wire(),
            "ack_minutes": self.ack_minutes,
            "escalate_minutes": self.escalate_minutes,
        }


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8765
    database: str = "opsmon.db"
    synchronous: str = "full"
    ping_interval_seconds: float = 20.0
    ping_timeout_seconds: float = 20.0
    escalation_check_seconds: float = 5.0
    client_queue_frames: int = 2000
    commands_per_second: float = 50.0
    admin_commands_per_second: float = 500.0
    bad_frames_per_minute: int = 10
    broadcast_max_delay_ms: float = 50.0
    compression: str = "none"
    # TLS: both set, the server speaks wss:// and https:// (paths relative to the config file).
    tls_cert: str = ""
    tls_key: str = ""
    # Rotating online backups: every `backup_every_minutes` into `backup_dir`, the newest `backup_keep` kept.
    backup_dir: str = ""
    backup_every_minutes: float = 30.0
    backup_keep: int = 24
    # Browser pages allowed to open the websocket (their Origin); clients that send no Origin always may.
    allowed_origins: tuple[str, ...] = ()
    max_connections_per_token: int = 20
    max_connections_per_address: int = 200

    def rate_for(self, role: str) -> float:
        """Commands a second one connection of this role may send."""
        return self.admin_commands_per_second if role == "admin" else self.commands_per_second


@dataclass(frozen=True)
class TriageSettings:
    dedup_minutes: int = 30  # a repeat report within this long folds into the open incident; 0: never


SITREP_FORMATS = ("text", "md", "json", "pdf")


@dataclass(frozen=True)
class SitrepSettings:
    every_minutes: int = 0  # the server writes a report this often, on the clock (0: never)
    folder: str = "sitrep"  # where reports and their ledger go, relative to the config file
    formats: tuple[str, ...] = SITREP_FORMATS
    post: str = "Posko Gabungan Pemilu"  # the post named at the head of every report


@dataclass(frozen=True)
class ClientSettings:
    url: str = "ws://127.0.0.1:8765/ws"
    # A post's own CA certificate, trusted for wss:// (default: the system's CAs).
    cafile: str = ""
    # The terminal bell when a critical incident arrives or one is escalated.
    bell: bool = True


@dataclass(frozen=True)
class Province:
    code: str
    name: str
    timezone_name: str = "WITA"
    utc_offset_hours: float = 8.0
    language: str = "id"
    boundaries: Path | None = None  # the regencies' polygons (GeoJSON), for the map; None: no map

    @property
    def tz(self) -> tzinfo:
        return timezone(timedelta(hours=self.utc_offset_hours), self.timezone_name)


@dataclass(frozen=True)
class Config:
    province: Province
    regencies: tuple[Regency, ...]
    stages: tuple[Stage, ...]
    categories: tuple[Category, ...]
    severities: tuple[Severity, ...]
    server: ServerSettings = field(default_factory=ServerSettings)
    client: ClientSettings = field(default_factory=ClientSettings)
    path: Path | None = None
    triage: TriageSettings = field(default_factory=TriageSettings)
    sitrep: SitrepSettings = field(default_factory=SitrepSettings)

    def sitrep_folder(self) -> Path:
        """[sitrep] folder, relative to the config file (to the working directory for the built-in one)."""
        folder = Path(self.sitrep.folder).expanduser()
        if not folder.is_absolute() and self.path is not None and self.path.name != "default_config.toml":
            folder = self.path.parent / folder
        return folder

    def regency(self, code: str) -> Regency | None:
        return next((r for r in self.regencies if r.code == code), None)

    def stage(self, key: str) -> Stage | None:
        return next((s for s in self.stages if s.key == key), None)

    def category(self, key: str) -> Category | None:
        return next((c for c in self.categories if c.key == key), None)

    def severity(self, key: str) -> Severity | None:
        return next((s for s in self.severities if s.key == key), None)

    def stage_totals(self) -> dict[tuple[str, str], int]:
        """(regency, stage) -> total for every stage row, in config order: each
        regency's rows, then one row per province stage, keyed by the province code."""
        totals = {(r.code, s.key): s.total_for(r) for r in self.regencies for s in self.stages if not s.province_wide}
        totals.update({(self.province.code, s.key): s.total_for(None) for s in self.stages if s.province_wide})
        return totals

    def to_wire(self) -> dict[str, Any]:
        """The `config` object of the protocol's welcome message."""
        return {
            "regencies": [r.to_wire() for r in self.regencies],
            "stages": [s.to_wire() for s in self.stages],
            "categories": [c.to_wire() for c in self.categories],
            "severities": [s.to_wire() for s in self.severities],
            "province": {
                "code": self.province.code,
                "name": self.province.name,
                "timezone_name": self.province.timezone_name,
                "utc_offset_hours": self.province.utc_offset_hours,
            },
        }


# --- validation helpers -------------------------------------------------------


def _type_name(value: object) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


class _Table:
    """A TOML table being read: every key must be known and every value right."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: must be a table, not {_type_name(data)}")
        self.data: dict[str, Any] = data
        self.where = where
        self.used: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def _get(self, key: str, default: object, required: bool) -> object:
        self.used.add(key)
        if key not in self.data:
            if required:
                raise ConfigError(f"{self._key(key)}: missing")
            return default
        return self.data[key]

    def text(self, key: str, default: str = "", *, required: bool = True, pattern: re.Pattern[str] | None = None, choices: tuple[str, ...] = ()) -> str:
        value = self._get(key, default, required)
        if not isinstance(value, str):
            raise ConfigError(f"{self._key(key)}: must be a string, not {_type_name(value)}")
        hostile = forbidden_characters(value)
        if hostile:
            # Names and labels reach every officer's terminal through the welcome.
            raise ConfigError(f"{self._key(key)}: holds control characters ({', '.join(describe(c) for c in hostile)}); only printable text is allowed")
        if required and not value.strip():
            raise ConfigError(f"{self._key(key)}: must not be empty")
        if pattern is not None and not pattern.match(value):
            raise ConfigError(f"{self._key(key)}: {value!r} does not match {pattern.pattern}")
        if choices and value not in choices:
            raise ConfigError(f"{self._key(key)}: {value!r} is not one of {', '.join(choices)}")
        return value

    def integer(self, key: str, default: int = 0, *, required: bool = True, minimum: int | None = 0, maximum: int | None = None) -> int:
        value = self._get(key, default, required)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{self._key(key)}: must be an integer, not {_type_name(value)}")
        if minimum is not None and value < minimum:
            raise ConfigError(f"{self._key(key)}: must be at least {minimum}, not {value}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{self._key(key)}: must be at most {maximum}, not {value}")
        return value

    def number(self, key: str, default: float, *, minimum: float = 0.0, exclusive: bool = True) -> float:
        value = self._get(key, default, False)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{self._key(key)}: must be a number, not {_type_name(value)}")
        if (value <= minimum) if exclusive else (value < minimum):
            raise ConfigError(f"{self._key(key)}: must be {'above' if exclusive else 'at least'} {minimum}, not {value}")
        return float(value)

    def strings(self, key: str) -> tuple[str, ...]:
        value = self._get(key, [], False)
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ConfigError(f"{self._key(key)}: must be a list of non-empty strings, not {_type_name(value)}")
        return tuple(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key, default, False)
        if not isinstance(value, bool):
            raise ConfigError(f"{self._key(key)}: must be true or false, not {_type_name(value)}")
        return value

    def label(self, key: str) -> Label:
        table = _Table(self._get(key, None, True), self._key(key))
        label = Label(id=table.text("id"), en=table.text("en"))
        table.done()
        return label

    def list(self, key: str) -> list[object]:
        value = self._get(key, None, True)
        if not isinstance(value, list) or not value:
            raise ConfigError(f"{self._key(key)}: must be a non-empty list of tables ([[{key}]])")
        return value

    def table(self, key: str) -> _Table:
        return _Table(self._get(key, {}, False), self._key(key))

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ConfigError(f"{self._key(unknown[0])}: unknown key")


def _unique(items: list[Any], attr: str, where: str) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        value = getattr(item, attr)
        if value in seen:
            raise ConfigError(f"{where}[{i}].{attr}: duplicate {value!r}")
        seen.add(value)


DATA_DIR = Path(__file__).with_name("data")  # data files shipped with the package


def _data_file(table: _Table, key: str, config_path: Path | None) -> Path | None:
    """A data file the config names: relative to the config file, else one shipped in opsmon/data."""
    name = table.text(key, "", required=False)
    if not name:
        return None
    candidates = [Path(name)] if Path(name).is_absolute() else [(config_path.parent if config_path else Path.cwd()) / name, DATA_DIR / name]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ConfigError(f"{table._key(key)}: no such file {name!r} (looked in {', '.join(str(c.parent) for c in candidates)})")


def parse_config(data: dict[str, Any], path: Path | None = None) -> Config:
    """Validate an already-parsed TOML document."""
    root = _Table(data, "")

    p = root.table("province")
    province = Province(
        code=p.text("code"),
        name=p.text("name"),
        timezone_name=p.text("timezone_name", "WITA", required=False) or "WITA",
        utc_offset_hours=p.number("utc_offset_hours", 8.0, minimum=-14, exclusive=False),
        language=p.text("language", "id", required=False, choices=LANGUAGES),
        boundaries=_data_file(p, "boundaries", path),
    )
    if not -14 <= province.utc_offset_hours <= 14:
        raise ConfigError(f"province.utc_offset_hours: must be between -14 and 14, not {province.utc_offset_hours}")
    p.done()

    s = root.table("server")
    server = ServerSettings(
        host=s.text("host", "127.0.0.1", required=False),
        port=s.integer("port", 8765, required=False, minimum=0, maximum=65535),
        database=s.text("database", "opsmon.db", required=False),
        synchronous=s.text("synchronous", "full", required=False, choices=SYNCHRONOUS_MODES),
        ping_interval_seconds=s.number("ping_interval_seconds", 20.0),
        ping_timeout_seconds=s.number("ping_timeout_seconds", 20.0),
        escalation_check_seconds=s.number("escalation_check_seconds", 5.0),
        client_queue_frames=s.integer("client_queue_frames", 2000, required=False, minimum=10),
        commands_per_second=s.number("commands_per_second", 50.0),
        admin_commands_per_second=s.number("admin_commands_per_second", 500.0),
        bad_frames_per_minute=s.integer("bad_frames_per_minute", 10, required=False, minimum=1),
        broadcast_max_delay_ms=s.number("broadcast_max_delay_ms", 50.0, minimum=-math.inf),
        compression=s.text("compression", "none", required=False, choices=COMPRESSION_MODES),
        tls_cert=s.text("tls_cert", "", required=False),
        tls_key=s.text("tls_key", "", required=False),
        backup_dir=s.text("backup_dir", "", required=False),
        backup_every_minutes=s.number("backup_every_minutes", 30.0),
        backup_keep=s.integer("backup_keep", 24, required=False, minimum=1),
        allowed_origins=s.strings("allowed_origins"),
        max_connections_per_token=s.integer("max_connections_per_token", 20, required=False, minimum=1),
        max_connections_per_address=s.integer("max_connections_per_address", 200, required=False, minimum=1),
    )
    if "://" in server.database and not server.database.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ConfigError(f"server.database: {server.database!r} is neither a file path, sqlite:///FILE nor postgresql://user@host/db")
    if bool(server.tls_cert) != bool(server.tls_key):
        absent = "tls_key" if server.tls_cert else "tls_cert"
        raise ConfigError(f"server.{absent}: missing (tls_cert and tls_key go together)")
    for i, origin in enumerate(server.allowed_origins):
        if not origin.startswith(("http://", "https://")) or origin.endswith("/"):
            raise ConfigError(f"server.allowed_origins[{i}]: {origin!r} is not an origin like https://wall.posko.local (scheme and host, no path)")
    if not 1 <= server.broadcast_max_delay_ms <= 1000:  # the README's range, in the same words
        raise ConfigError(f"server.broadcast_max_delay_ms: must be 1 to 1000, not {server.broadcast_max_delay_ms:g}")
    s.done()

    c = root.table("client")
    client = ClientSettings(url=c.text("url", "ws://127.0.0.1:8765/ws", required=False), cafile=c.text("cafile", "", required=False), bell=c.flag("bell", True))
    try:
        parse_urls(client.url, "client.url")  # one URL, or a comma list to fail over between
    except BadURL as exc:
        raise ConfigError(str(exc)) from None
    c.done()

    t = root.table("sitrep")
    formats = t._get("formats", list(SITREP_FORMATS), False)
    if not isinstance(formats, list) or not formats or not all(isinstance(f, str) and f in SITREP_FORMATS for f in formats):
        raise ConfigError(f"sitrep.formats: must be a non-empty list of {', '.join(SITREP_FORMATS)}, not {formats!r}")
    sitrep = SitrepSettings(
        every_minutes=t.integer("every_minutes", 0, required=False, minimum=0, maximum=1440),
        folder=t.text("folder", "sitrep", required=False) or "sitrep",
        formats=tuple(dict.fromkeys(formats)),
        post=t.text("post", "Posko Gabungan Pemilu", required=False) or "Posko Gabungan Pemilu",
    )
    t.done()

    t = root.table("triage")
    triage = TriageSettings(dedup_minutes=t.integer("dedup_minutes", 30, required=False, minimum=0, maximum=1440))
    t.done()

    regencies = []
    for i, item in enumerate(root.list("regencies")):
        t = _Table(item, f"regencies[{i}]")
        regencies.append(
            Regency(
                code=t.text("code", pattern=CODE_RE),
                name=t.text("name"),
                short=t.text("short"),
                kecamatan=t.integer("kecamatan", minimum=1),
                desa=t.integer("desa", 0, required=False),
                tps=t.integer("tps", minimum=1),
                tps_estimated=t.flag("tps_estimated", False),
            )
        )
        t.done()
    _unique(regencies, "code", "regencies")

    stages = []
    for i, item in enumerate(root.list("stages")):
        t = _Table(item, f"stages[{i}]")
        key = t.text("key", pattern=KEY_RE)
        label = t.label("label")
        short = t.label("short") if "short" in t.data else label
        unit = t.text("unit", choices=STAGE_UNITS)
        scope = t.text("scope", "regency", required=False, choices=STAGE_SCOPES)
        if scope == "province" and unit != "plenary":
            raise ConfigError(f"stages[{i}].unit: a province stage is one plenary for the whole province: must be 'plenary', not {unit!r}")
        stages.append(Stage(key=key, label=label, short=short, unit=unit, window=t.text("window", "", required=False), scope=scope))
        t.done()
    _unique(stages, "key", "stages")
    if any(s.province_wide for s in stages) and province.code in {r.code for r in regencies}:
        # A province stage's row is keyed by the province code: it must name no regency.
        raise ConfigError(f"province.code: {province.code!r} is also a regency's code")

    categories = []
    for i, item in enumerate(root.list("categories")):
        t = _Table(item, f"categories[{i}]")
        categories.append(Category(key=t.text("key", pattern=KEY_RE), label=t.label("label")))
        t.done()
    _unique(categories, "key", "categories")

    severities = []
    for i, item in enumerate(root.list("severities")):
        t = _Table(item, f"severities[{i}]")
        severities.append(
            Severity(
                key=t.text("key", choices=SEVERITY_KEYS),
                label=t.label("label"),
                ack_minutes=t.integer("ack_minutes", minimum=1),
                escalate_minutes=t.integer("escalate_minutes", minimum=0),
            )
        )
        t.done()
    _unique(severities, "key", "severities")
    keys = [sv.key for sv in severities]
    if keys != list(SEVERITY_KEYS):
        missing = [k for k in SEVERITY_KEYS if k not in keys]
        if missing:
            raise ConfigError(f"severities: missing {', '.join(missing)} (the protocol fixes all four)")
        raise ConfigError(f"severities: must be listed most severe first ({', '.join(SEVERITY_KEYS)}), not {', '.join(keys)}")

    root.done()
    return Config(
        province=province,
        regencies=tuple(regencies),
        stages=tuple(stages),
        categories=tuple(categories),
        severities=tuple(severities),
        server=server,
        client=client,
        path=path,
        triage=triage,
        sitrep=sitrep,
    )


def config_relative(config: Config, path: str) -> str:
    """A path from the config, relative to the config file's folder (not the
    packaged default's), so a service started from / finds the same files."""
    found = Path(path).expanduser()
    if not found.is_absolute() and config.path is not None and config.path.name != "default_config.toml":
        found = config.path.parent / found
    return str(found)


def find_config(explicit: str | Path | None = None) -> Path:
    """The config file to use: --config, else $OPSMON_CONFIG, else ./config.toml,
    else the copy shipped with the package."""
    import os

    if explicit:
        return Path(explicit)
    env = os.environ.get("OPSMON_CONFIG")
    if env:
        return Path(env)
    local = Path.cwd() / DEFAULT_CONFIG_NAME
    if local.exists():
        return local
    return Path(__file__).with_name("default_config.toml")


def load_config(path: str | Path | None = None) -> Config:
    """Read and validate a config file; raises ConfigError naming the problem."""
    file = find_config(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such config file") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read ({exc.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML ({exc})") from None
    try:
        return parse_config(data, file)
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from None
