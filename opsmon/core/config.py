"""Loading and validating config.toml: the province a server watches.

The TOML decodes straight into msgspec Structs: the province's part
(regencies, stages, categories, severities) is the same Structs the welcome
carries (opsmon/core/protocol.py), here in subclasses that refuse unknown keys
and add what only this side reads. Every problem is reported as a
ConfigError that names the exact key (``regencies[3].tps``) and what is wrong
with it, so a bad config never starts a half-working server or client.
Checks across keys (duplicates, a province code that is a regency's) follow
the decoding.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
import urllib.parse
from datetime import date, datetime, tzinfo
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import msgspec
from msgspec import Meta, field
from msgspec import inspect as mi

from opsmon.core.people import Chain, NotifySettings, PeopleError, Person, Roster
from opsmon.core.people import check as check_people
from opsmon.core.records import (
    SEVERITIES,
    Agency,
    CategoryInfo,
    ConfigInfo,
    LabelText,
    ProvinceInfo,
    RegencyInfo,
    SeverityInfo,
    SeverityKey,
    StageInfo,
    StageScope,
    StageUnit,
)
from opsmon.core.text import describe, forbidden_characters
from opsmon.core.urls import BadURL, parse_urls

Language = Literal["id", "en"]
LANGUAGES: tuple[str, ...] = get_args(Language)
Synchronous = Literal["full", "normal", "extra"]
Compression = Literal["none", "deflate"]
SitrepFormat = Literal["text", "md", "json", "pdf"]

DEFAULT_CONFIG_NAME = "config.toml"
PACKAGE_DIR = Path(__file__).resolve().parent.parent  # opsmon/: the shipped config and data files
DATA_DIR = PACKAGE_DIR / "data"  # data files shipped with the package

Above0 = Annotated[float, Meta(gt=0)]
AtLeast1 = Annotated[int, Meta(ge=1)]
Minutes = Annotated[int, Meta(ge=0, le=1440)]
# A line on the report's paper, short enough for a kop or a signature (control characters
# are refused for every value of the file, by _hostile).
PaperText = Annotated[str, Meta(max_length=80)]


class ConfigError(ValueError):
    """A config file that cannot be used; str() names the key and the problem."""


# --- the province: the welcome's Structs, strict --------------------------------


class Label(LabelText, frozen=True, forbid_unknown_fields=True):
    pass


class Regency(RegencyInfo, frozen=True, forbid_unknown_fields=True):
    pass


class Stage(StageInfo, frozen=True, forbid_unknown_fields=True):
    label: Label
    unit: StageUnit
    scope: StageScope = "regency"
    short: Label | None = None  # left out: the label
    # A TOML date-time; without an offset it is the province's local time.
    closes: datetime | msgspec.UnsetType = msgspec.UNSET  # type: ignore[assignment]


class Category(CategoryInfo, frozen=True, forbid_unknown_fields=True):
    label: Label
    desk: Agency = "KPU"  # the joint post's desk that handles it (and, in a simulation, reports it)


class Severity(SeverityInfo, frozen=True, forbid_unknown_fields=True):
    key: SeverityKey
    label: Label


class Province(ProvinceInfo, frozen=True, forbid_unknown_fields=True):
    language: Language = "id"  # the TUI's default
    boundaries: Path | None = None  # the regencies' polygons (GeoJSON), for the map; None: no map


# --- what only the server and the client read ---------------------------------------


class ServerSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=0, le=65535)] = 8765
    database: str = "opsmon.db"
    synchronous: Synchronous = "full"
    ping_interval_seconds: Above0 = 20.0
    ping_timeout_seconds: Above0 = 20.0
    escalation_check_seconds: Above0 = 5.0
    client_queue_frames: Annotated[int, Meta(ge=10)] = 2000
    client_queue_bytes: Annotated[int, Meta(ge=65536)] = 4 * 2**20  # bytes waiting for one client before it is dropped (1013)
    commands_per_second: Above0 = 50.0
    admin_commands_per_second: Above0 = 500.0
    # All of one token's connections together (a token may hold max_connections_per_token):
    # one officer token cannot send twenty connections' worth.
    token_commands_per_second: Above0 = 200.0
    admin_token_commands_per_second: Above0 = 2000.0
    bad_frames_per_minute: AtLeast1 = 10
    broadcast_max_delay_ms: Annotated[float, Meta(ge=1, le=1000)] = 50.0  # the range docs/deploy.md gives
    # Under load, the writer waits this long for more commands before a group commit
    # (fewer disk syncs per report); never after a quiet spell. 0: never waits.
    group_commit_wait_ms: Annotated[float, Meta(ge=0, le=50)] = 5.0  # the range docs/deploy.md gives
    compression: Compression = "none"
    # TLS: both set, the server speaks wss:// and https:// (paths relative to the config file).
    tls_cert: str = ""
    tls_key: str = ""
    # Rotating online backups: every `backup_every_minutes` into `backup_dir`, the newest `backup_keep` kept.
    backup_dir: str = ""
    backup_every_minutes: Above0 = 30.0
    backup_keep: AtLeast1 = 24
    # Browser pages allowed to open the websocket (their Origin); clients that send no Origin always may.
    allowed_origins: tuple[Annotated[str, Meta(pattern=r"\S")], ...] = ()
    max_connections_per_token: AtLeast1 = 20
    max_connections_per_address: AtLeast1 = 200
    # Limits before parsing (docs/reliability.md): refused commands (rate,
    # role, invalid) a connection may send in a minute before it is closed 1008;
    # failed hellos an address may make in a minute before it gets HTTP 429;
    # seconds from TCP accept to the end of the websocket handshake.
    refused_commands_per_minute: AtLeast1 = 600
    failed_hellos_per_minute: AtLeast1 = 30
    handshake_timeout_seconds: Above0 = 10.0
    # Who may read GET /metrics (connections, replica name): addresses or
    # networks; anyone else gets 403. Loopback by default.
    metrics_allow: tuple[Annotated[str, Meta(pattern=r"\S")], ...] = ("127.0.0.1/32", "::1/128")
    # Proxies (addresses or networks) whose X-Forwarded-For names the client:
    # its address is what the per-address limits, the hello throttle and the log
    # use. From anyone else the header is ignored. Empty (the default): none.
    trusted_proxies: tuple[Annotated[str, Meta(pattern=r"\S")], ...] = ()

    def rate_for(self, role: str) -> float:
        """Commands a second one connection of this role may send."""
        return self.admin_commands_per_second if role == "admin" else self.commands_per_second

    def token_rate_for(self, role: str) -> float:
        """Commands a second all of one token's connections may send together."""
        return self.admin_token_commands_per_second if role == "admin" else self.token_commands_per_second


class TriageSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    dedup_minutes: Minutes = 30  # a repeat report within this long folds into the open incident; 0: never
    max_notes_per_incident: AtLeast1 = 500  # a `note` past this many on one incident is refused (notes_full)


class SitrepSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    every_minutes: Minutes = 0  # the server writes a report this often, on the clock (0: never)
    folder: str = "sitrep"  # where reports and their ledger go, relative to the config file
    formats: Annotated[tuple[SitrepFormat, ...], Meta(min_length=1)] = ("text", "md", "json", "pdf")
    post: PaperText = "Posko Gabungan Pemilu"  # the post named at the head of every report
    # The report's paper: the place it is signed in, and who signs it (name, rank, position).
    place: PaperText = ""
    signatory: PaperText = ""
    signatory_rank: PaperText = ""
    signatory_position: PaperText = "Kepala Posko Gabungan"

    def signature(self) -> dict[str, str]:
        """Where and by whom the report is signed, as the report's document keeps it."""
        return {"place": self.place, "name": self.signatory, "rank": self.signatory_rank, "position": self.signatory_position}


class ClientSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: str = "ws://127.0.0.1:8765/ws"
    # A post's own CA certificate, trusted for wss:// (default: the system's CAs).
    cafile: str = ""
    # The terminal bell when a critical incident arrives or one is escalated.
    bell: bool = True
    # At most one ring in this many seconds: a burst of alerts rings once (each still has its notice).
    bell_interval: Annotated[float, Meta(ge=0, le=3600)] = 10.0


class WebSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`opsmon web`, the wall in browsers (not [server] allowed_origins: those pages may talk to the server itself)."""

    # Pages that may open the wall besides the address it serves on and its --public-url.
    allowed_origins: tuple[Annotated[str, Meta(pattern=r"\S")], ...] = ()
    max_sessions: AtLeast1 = 8  # browser tabs at once: each runs its own `opsmon --wall`
    max_columns: Annotated[int, Meta(ge=80, le=1000)] = 300  # the largest terminal a tab may ask for
    max_rows: Annotated[int, Meta(ge=24, le=500)] = 120


class Config(ConfigInfo, frozen=True, forbid_unknown_fields=True):
    """config.toml, decoded: its tables are these fields (`path` is not one: where it was read from)."""

    regencies: Annotated[tuple[Regency, ...], Meta(min_length=1)]
    stages: Annotated[tuple[Stage, ...], Meta(min_length=1)]
    categories: Annotated[tuple[Category, ...], Meta(min_length=1)]
    severities: Annotated[tuple[Severity, ...], Meta(min_length=1)]
    province: Province
    server: ServerSettings = field(default_factory=ServerSettings)
    client: ClientSettings = field(default_factory=ClientSettings)
    triage: TriageSettings = field(default_factory=TriageSettings)
    sitrep: SitrepSettings = field(default_factory=SitrepSettings)
    web: WebSettings = field(default_factory=WebSettings)
    # Issue 25: who is told when an incident stays unacknowledged (opsmon/core/people.py).
    people: tuple[Person, ...] = ()
    rosters: tuple[Roster, ...] = ()
    chains: tuple[Chain, ...] = ()
    notify: NotifySettings = field(default_factory=NotifySettings)
    path: Path | None = None

    def info(self) -> ConfigInfo:
        """The `config` object of the protocol's welcome: the province's fields, nothing of the server's."""
        return msgspec.convert(msgspec.to_builtins(self, enc_hook=str), ConfigInfo)

    def sitrep_folder(self) -> Path:
        """[sitrep] folder, relative to the config file (to the working directory for the built-in one)."""
        return Path(config_relative(self, self.sitrep.folder))

    def stage_totals(self) -> dict[tuple[str, str], int]:
        """(regency, stage) -> total for every stage row, in config order: each
        regency's rows, then one row per province stage, keyed by the province code."""
        totals = {(r.code, s.key): s.total_for(r) for r in self.regencies for s in self.stages if not s.province_wide}
        totals.update({(self.province.code, s.key): s.total_for(None) for s in self.stages if s.province_wide})
        return totals

    # Narrowed: a loaded config's items are its own Structs.
    def regency(self, code: str) -> Regency | None:
        return next((r for r in self.regencies if r.code == code), None)

    def find_regency(self, value: str) -> Regency | None:
        """A regency by BPS code or by short or full name, case-insensitive ("Tanah Bumbu" -> 6310)."""
        text = value.strip()
        lowered = text.casefold()
        return self.regency(text) or next((r for r in self.regencies if lowered in (r.short.casefold(), r.name.casefold())), None)

    def regencies_known(self) -> str:
        """Every regency as "code name", for an error that lists the valid ones."""
        return ", ".join(f"{r.code} {r.short}" for r in self.regencies)

    def stage(self, key: str) -> Stage | None:
        return next((s for s in self.stages if s.key == key), None)

    def category(self, key: str) -> Category | None:
        return next((c for c in self.categories if c.key == key), None)

    def severity(self, key: str) -> Severity | None:
        return next((s for s in self.severities if s.key == key), None)

    def desks(self) -> dict[str, frozenset[str]]:
        """Each desk of the post (KPU, Bawaslu, Polri) and the categories it handles."""
        found: dict[str, set[str]] = {}
        for category in self.categories:
            found.setdefault(category.desk, set()).add(category.key)
        return {desk: frozenset(keys) for desk, keys in found.items()}


# --- msgspec's errors, in the one-line words docs/deploy.md promises ----------------

_PART = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def _parts(path: str) -> list[str | int]:
    """`regencies[3].tps` -> ["regencies", 3, "tps"]."""
    return [int(index) if index else name for name, index in _PART.findall("." + path if path and not path.startswith("[") else path)]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _value_at(data: Any, parts: list[str | int]) -> Any:
    for part in parts:
        data = data[part]
    return data


def _bare(kind: Any) -> Any:
    """`Annotated[X, Meta(...)]` and `X | None` as X."""
    while True:
        if get_origin(kind) is Annotated:
            kind = get_args(kind)[0]
        elif get_origin(kind) in (Union, UnionType):
            kind = next(t for t in get_args(kind) if t is not type(None))
        else:
            return kind


def _type_at(kind: Any, parts: list[str | int]) -> Any:
    """The annotation of the value at `parts` inside the Struct type `kind`."""
    for part in parts:
        bare = _bare(kind)  # a Struct (a key), or tuple[X, ...] (an index)
        kind = next(f.type for f in msgspec.structs.fields(bare) if f.encode_name == part) if isinstance(part, str) else get_args(bare)[0]
    return kind


def _choices(kind: Any) -> str:
    return ", ".join(get_args(_bare(kind)))


def _type_name(value: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _expected(kind: mi.Type) -> str:
    if isinstance(kind, mi.IntType):
        return "an integer"
    if isinstance(kind, mi.FloatType):
        return "a number"
    if isinstance(kind, mi.BoolType):
        return "true or false"
    if isinstance(kind, mi.StructType | mi.DictType):
        return "a table"
    if isinstance(kind, mi.ListType | mi.VarTupleType):
        return "a list"
    return "a string"


def _problem(annotation: Any, value: Any) -> str:
    """What is wrong with `value`, a value msgspec refused for `annotation`."""
    kind = mi.type_info(annotation)
    while isinstance(kind, mi.UnionType):
        kind = next(t for t in kind.types if not isinstance(t, mi.NoneType))
    if isinstance(kind, mi.IntType | mi.FloatType) and isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(kind, mi.FloatType) and kind.ge is not None and kind.le is not None:
            return f"must be {_number(kind.ge)} to {_number(kind.le)}, not {_number(value)}"
        if kind.gt is not None and value <= kind.gt:
            return f"must be above {_number(kind.gt)}, not {_number(value)}"
        if kind.ge is not None and value < kind.ge:
            return f"must be at least {_number(kind.ge)}, not {_number(value)}"
        if kind.le is not None and value > kind.le:
            return f"must be at most {_number(kind.le)}, not {_number(value)}"
    if isinstance(kind, mi.StrType) and isinstance(value, str):
        if kind.max_length is not None and len(value) > kind.max_length:
            return f"must be at most {kind.max_length} characters, not {len(value)}"
        if kind.pattern == r"\S":
            return "must not be empty"
        if kind.pattern is not None:
            return f"{value!r} does not match {kind.pattern}"
    if isinstance(kind, mi.LiteralType) and isinstance(value, str):
        return f"{value!r} is not one of {_choices(annotation)}"
    if isinstance(kind, mi.DateTimeType):
        shown = repr(value) if isinstance(value, str) else "a date alone (give its time too)" if isinstance(value, date) else _type_name(value)
        return f"must be a TOML date and time such as 2024-02-14T13:00:00 (the province's time) or with its offset, not {shown}"
    return f"must be {_expected(kind)}, not {_type_name(value)}"


def _reword(exc: msgspec.ValidationError, data: dict[str, Any], root: type[msgspec.Struct]) -> str:
    """msgspec's "Expected `int` >= 1 - at `$.regencies[0].kecamatan`" as
    "regencies[0].kecamatan: must be at least 1, not 0"."""
    problem, _, where = str(exc).partition(" - at `$")
    path = where.removesuffix("`").removeprefix(".")
    if (found := re.fullmatch(r"Object missing required field `(.+)`", problem)) is not None:
        return f"{_join(path, found[1])}: missing"
    if (found := re.fullmatch(r"Object contains unknown field `(.+)`", problem)) is not None:
        return f"{_join(path, found[1])}: unknown key"
    parts = _parts(path)
    kind = _type_at(root, parts)
    if parts and isinstance(parts[-1], int):  # an item of a list of values: say what the whole list must be
        outer = _type_at(root, parts[:-1])
        if get_origin(_bare(outer)) is tuple and not _is_struct(get_args(_bare(outer))[0]):
            parts, kind = parts[:-1], outer
            path = path[: path.rindex("[")]
    value = _value_at(data, parts)
    if get_origin(_bare(kind)) is tuple:
        item = get_args(_bare(kind))[0]
        if _is_struct(item):
            return f"{path}: must be a non-empty list of tables ([[{parts[-1]}]])"
        if get_origin(_bare(item)) is Literal:
            return f"{path}: must be a non-empty list of {_choices(item)}, not {value!r}"
        return f"{path}: must be a list of non-empty strings, not {_type_name(value)}"
    return f"{path}: {_problem(kind, value)}"


def _is_struct(kind: Any) -> bool:
    bare = _bare(kind)
    return isinstance(bare, type) and issubclass(bare, msgspec.Struct)


def decode(data: dict[str, Any], root: type[Any], where: str = "") -> Any:
    """`data` (parsed TOML) as the Struct `root`, or a ConfigError in the words of docs/deploy.md."""
    try:
        return msgspec.convert(data, root, dec_hook=_decode_path)
    except msgspec.ValidationError as exc:
        raise ConfigError(_reword(exc, data, root)) from None


def _decode_path(kind: type, value: Any) -> Any:
    if kind is Path and isinstance(value, str):
        return Path(value)
    raise TypeError(f"Expected `str`, got `{type(value).__name__}`")


def _hostile(value: Any, path: str) -> None:
    """Names and labels reach every officer's terminal through the welcome:
    no control characters anywhere in the file (every value is one line)."""
    if isinstance(value, str):
        found = forbidden_characters(value)
        if found:
            raise ConfigError(f"{path}: holds control characters ({', '.join(describe(c) for c in found)}); only printable text is allowed")
    elif isinstance(value, dict):
        for key, item in value.items():
            _hostile(item, _join(path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _hostile(item, f"{path}[{i}]")


# --- checks across keys ------------------------------------------------------------


def _unique(items: tuple[Any, ...], attr: str, where: str) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        value = getattr(item, attr)
        if value in seen:
            raise ConfigError(f"{where}[{i}].{attr}: duplicate {value!r}")
        seen.add(value)


def _data_file(name: str, where: str, config_path: Path | None) -> Path | None:
    """A data file the config names: relative to the config file, else one shipped in opsmon/data."""
    if not name:
        return None
    candidates = [Path(name)] if Path(name).is_absolute() else [(config_path.parent if config_path else Path.cwd()) / name, DATA_DIR / name]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ConfigError(f"{where}: no such file {name!r} (looked in {', '.join(str(c.parent) for c in candidates)})")


def _check_origins(origins: tuple[str, ...], where: str) -> None:
    for i, origin in enumerate(origins):
        parts = urllib.parse.urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query or parts.fragment:
            raise ConfigError(f"{where}[{i}]: {origin!r} is not an origin like https://wall.posko.local (scheme and host, no path)")


def _check_server(server: ServerSettings) -> None:
    if "://" in server.database and not server.database.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ConfigError(f"server.database: {server.database!r} is neither a file path, sqlite:///FILE nor postgresql://user@host/db")
    if bool(server.tls_cert) != bool(server.tls_key):
        absent = "tls_key" if server.tls_cert else "tls_cert"
        raise ConfigError(f"server.{absent}: missing (tls_cert and tls_key go together)")
    _check_origins(server.allowed_origins, "server.allowed_origins")
    for key in ("metrics_allow", "trusted_proxies"):
        for i, network in enumerate(getattr(server, key)):
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ConfigError(f"server.{key}[{i}]: {network!r} is not an address or network like 127.0.0.1/32 or 10.0.0.0/24") from None


def _check_province(config: Config) -> None:
    for i, stage in enumerate(config.stages):
        if stage.province_wide and stage.unit != "plenary":
            raise ConfigError(f"stages[{i}].unit: a province stage is one plenary for the whole province: must be 'plenary', not {stage.unit!r}")
    _unique(config.regencies, "code", "regencies")
    _unique(config.stages, "key", "stages")
    if config.province_stages() and config.province.code in {r.code for r in config.regencies}:
        # A province stage's row is keyed by the province code: it must name no regency.
        raise ConfigError(f"province.code: {config.province.code!r} is also a regency's code")
    counting = [i for i, stage in enumerate(config.stages) if stage.counts is True]
    for i in counting:
        stage = config.stages[i]
        if stage.unit != "tps":
            raise ConfigError(f"stages[{i}].counts: the counting stage is counted per TPS in every regency: its unit must be 'tps', not {stage.unit!r}")
    if len(counting) > 1:
        raise ConfigError(f"stages[{counting[1]}].counts: only one stage counts the TPS (stages[{counting[0]}] does already)")
    _unique(config.categories, "key", "categories")
    _unique(config.severities, "key", "severities")
    keys = [sv.key for sv in config.severities]
    if keys != list(SEVERITIES):
        missing = [k for k in SEVERITIES if k not in keys]
        if missing:
            raise ConfigError(f"severities: missing {', '.join(missing)} (the protocol fixes all four)")
        raise ConfigError(f"severities: must be listed most severe first ({', '.join(SEVERITIES)}), not {', '.join(keys)}")


def _estimates(data: dict[str, Any]) -> dict[str, Any]:
    """`tps_estimate = 648` in a regency is `tps = 648` flagged as an estimate: the
    sourced figure replaces it by editing that one line into `tps = 641`."""
    regencies = data.get("regencies")
    if not isinstance(regencies, list) or not any(isinstance(r, dict) and "tps_estimate" in r for r in regencies):
        return data
    rewritten = []
    for i, regency in enumerate(regencies):
        if isinstance(regency, dict) and "tps_estimate" in regency:
            regency = dict(regency)
            estimate = regency.pop("tps_estimate")
            if "tps" in regency:
                raise ConfigError(f"regencies[{i}]: tps and tps_estimate both given: keep tps (the sourced figure) and delete tps_estimate")
            if isinstance(estimate, bool) or not isinstance(estimate, int) or estimate < 1:
                raise ConfigError(f"regencies[{i}].tps_estimate: must be a whole number of TPS, at least 1, not {estimate!r}")
            regency.update(tps=estimate, tps_estimated=True)
        rewritten.append(regency)
    return {**data, "regencies": rewritten}


def parse_config(data: dict[str, Any], path: Path | None = None) -> Config:
    """Validate an already-parsed TOML document."""
    if "path" in data:  # Config's one field that is not a table of the file
        raise ConfigError("path: unknown key")
    config: Config = decode(_estimates(data), Config)
    _hostile(data, "")
    _check_server(config.server)
    _check_origins(config.web.allowed_origins, "web.allowed_origins")
    try:
        parse_urls(config.client.url, "client.url")  # one URL, or a comma list to fail over between
    except BadURL as exc:
        raise ConfigError(str(exc)) from None
    _check_province(config)
    try:
        check_people(config.people, config.rosters, config.chains, {r.code for r in config.regencies}, {c.key for c in config.categories})
    except PeopleError as exc:
        raise ConfigError(str(exc)) from None
    replace = msgspec.structs.replace
    return replace(
        config,
        path=path,
        # Left empty: the defaults.
        province=replace(
            config.province,
            timezone_name=config.province.timezone_name or "WITA",
            boundaries=_data_file(data["province"].get("boundaries", ""), "province.boundaries", path),
        ),
        stages=tuple(_stage_defaults(stage, config.province.tz) for stage in config.stages),
        sitrep=replace(
            config.sitrep,
            folder=config.sitrep.folder or "sitrep",
            formats=tuple(dict.fromkeys(config.sitrep.formats)),
            post=config.sitrep.post or "Posko Gabungan Pemilu",
        ),
    )


def _stage_defaults(stage: Stage, tz: tzinfo) -> Stage:
    """A stage's short label (left out: the label) and its window's close in the province's time."""
    short = stage.short if stage.short is not None else stage.label
    closes = stage.closes
    if isinstance(closes, datetime) and closes.tzinfo is None:
        closes = closes.replace(tzinfo=tz)
    return msgspec.structs.replace(stage, short=short, closes=closes)


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
    return PACKAGE_DIR / "default_config.toml"


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
