"""config.toml: the shipped province loads, and every bad config names its key."""

from __future__ import annotations

import ast
import copy
import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from opsmon.core.config import ConfigError, load_config, parse_config
from opsmon.core.protocol import Welcome
from opsmon.core.records import SEVERITIES
from opsmon.core.state import Rules, State, stage_rows
from opsmon.core.view import totals
from opsmon.core.wire import decode_server, encode
from opsmon.reports import sitrep
from opsmon.reports.sitrep_pdf import SEVERITY_RGB
from opsmon.reports.timeline import counting_stage
from tests.helpers import CONFIG_PATH, ROOT, hello, province, running_server, shipped

NOW = datetime(2024, 2, 14, 14, 0, tzinfo=UTC)


def test_shipped_config_is_kalimantan_selatan() -> None:
    config = load_config(CONFIG_PATH)
    assert config.province.name == "Kalimantan Selatan"
    assert len(config.regencies) == 13
    assert sum(r.kecamatan for r in config.regencies) == 156
    assert sum(r.tps for r in config.regencies) == 13_584
    assert [s.key for s in config.stages] == ["logistik", "pemungutan", "penghitungan", "rekap_ppk", "rekap_kabkota", "rekap_provinsi"]
    assert [s.key for s in config.stages if s.scope == "province"] == ["rekap_provinsi"]
    assert len(config.categories) == 14 and {"sara", "sengketa_rekap"} <= {c.key for c in config.categories}
    assert config.categories[-1].key == "lainnya"  # "other" stays last
    assert [s.key for s in config.severities] == ["critical", "high", "medium", "low"]
    bjm = config.regency("6371")
    assert bjm is not None and bjm.short == "Banjarmasin" and bjm.tps == 1940 and not bjm.tps_estimated
    banjar = config.regency("6303")
    assert banjar is not None and banjar.tps == 1992 and not banjar.tps_estimated
    # Every figure not found per regency is marked as an estimate.
    assert {r.code for r in config.regencies if r.tps_estimated} == {"6305", "6306", "6307"}


def test_shipped_tps_figures_are_the_sourced_ones() -> None:
    """shared/docs/kalsel.md: ten sourced counts; Tapin, HSS and HST share the rest of 13,584."""
    config = load_config(CONFIG_PATH)
    sourced = {"6301": 1135, "6302": 1026, "6303": 1992, "6304": 1084, "6308": 768, "6309": 906, "6310": 1093, "6311": 429, "6371": 1940, "6372": 898}
    assert {r.code: r.tps for r in config.regencies if not r.tps_estimated} == sourced
    estimated = [r for r in config.regencies if r.tps_estimated]
    assert sum(r.tps for r in estimated) == 13_584 - sum(sourced.values()) == 2313
    # Shared by 2020 census population: Tapin < HSS < HST.
    assert [r.tps for r in sorted(estimated, key=lambda r: r.code)] == sorted(r.tps for r in estimated)
    assert sum(r.tps for r in config.regencies) == 13_584
    text = CONFIG_PATH.read_text(encoding="utf-8")
    assert "9,653" not in text and "9,652" not in text
    low = config.severity("low")
    assert low is not None and low.ack_minutes == 240 and low.escalate_minutes == 0
    critical = config.severity("critical")
    assert critical is not None and critical.ack_minutes == 5 and critical.escalate_minutes == 5
    for item in (*config.stages, *config.categories, *config.severities):
        assert item.label.id and item.label.en


def test_stage_totals_follow_the_unit() -> None:
    rules = Rules.from_config(load_config(CONFIG_PATH))
    assert len(rules.stage_totals) == 13 * 5 + 1  # the province plenary: one row, not thirteen
    assert rules.stage_totals[("63", "rekap_provinsi")] == 1
    assert ("6371", "rekap_provinsi") not in rules.stage_totals
    assert "63" not in rules.regencies and len(rules.regencies) == 13
    assert rules.stage_totals[("6371", "pemungutan")] == 1940  # TPS
    assert rules.stage_totals[("6371", "rekap_ppk")] == 5  # kecamatan
    assert rules.stage_totals[("6302", "rekap_ppk")] == 22
    assert rules.stage_totals[("6371", "rekap_kabkota")] == 1  # one plenary


def test_packaged_default_is_the_same_file() -> None:
    """One source: the top-level config.toml is a link to the copy the package ships."""
    packaged = ROOT / "opsmon" / "default_config.toml"
    assert CONFIG_PATH.is_symlink() and CONFIG_PATH.resolve() == packaged.resolve()
    assert packaged.read_bytes() == CONFIG_PATH.read_bytes()


def test_welcome_config_has_the_protocol_fields() -> None:
    wire = msgspec.to_builtins(load_config(CONFIG_PATH).info())
    assert {"code", "name", "short", "kecamatan", "tps"} <= set(wire["regencies"][0])
    assert {"key", "label", "unit"} <= set(wire["stages"][0])
    assert set(wire["severities"][0]) >= {"key", "label", "ack_minutes", "escalate_minutes"}
    assert wire["categories"][0]["label"].keys() == {"id", "en"}


def _set(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


def _delete(data: dict[str, Any], path: tuple[Any, ...]) -> None:
    for part in path[:-1]:
        data = data[part]
    del data[path[-1]]


BAD_VALUES = [
    # (what, path to change, new value, the key the message must name, a word of the problem)
    ("unknown severity", ("severities", 3, "key"), "urgent", "severities[3].key", "not one of"),
    ("duplicate regency code", ("regencies", 2, "code"), "6301", "regencies[2].code", "duplicate"),
    ("negative tps", ("regencies", 3, "tps"), -5, "regencies[3].tps", "at least"),
    ("zero kecamatan", ("regencies", 0, "kecamatan"), 0, "regencies[0].kecamatan", "at least"),
    ("malformed code", ("regencies", 1, "code"), "63O2", "regencies[1].code", "does not match"),
    ("wrong type: port as string", ("server", "port"), "8765", "server.port", "integer"),
    ("wrong type: tps as float", ("regencies", 7, "tps"), 641.5, "regencies[7].tps", "integer"),
    ("wrong type: flag as string", ("regencies", 0, "tps_estimated"), "yes", "regencies[0].tps_estimated", "true or false"),
    ("port out of range", ("server", "port"), 70000, "server.port", "at most"),
    ("unknown synchronous mode", ("server", "synchronous"), "off", "server.synchronous", "not one of"),
    ("unknown stage unit", ("stages", 1, "unit"), "desa", "stages[1].unit", "not one of"),
    ("duplicate category", ("categories", 5, "key"), "politik_uang", "categories[5].key", "duplicate"),
    ("negative ack deadline", ("severities", 0, "ack_minutes"), -1, "severities[0].ack_minutes", "at least"),
    ("empty label", ("stages", 0, "label", "id"), "", "stages[0].label.id", "empty"),
    ("unknown key", ("regencies", 0, "population"), 1000, "regencies[0].population", "unknown key"),
    ("unknown key in a label", ("categories", 2, "label", "fr"), "Sécurité", "categories[2].label.fr", "unknown key"),
    ("unknown table", ("kabupaten",), {}, "kabupaten", "unknown key"),
    ("unknown server key", ("server", "prot"), 1, "server.prot", "unknown key"),
    ("regencies not a list", ("regencies",), "6301", "regencies", "list"),
    ("unknown stage scope", ("stages", 5, "scope"), "nation", "stages[5].scope", "not one of"),
    ("escape in a regency name", ("regencies", 0, "name"), "Tanah \x1b[2JLaut", "regencies[0].name", "control characters (U+001B)"),
    ("bidi override in a label", ("categories", 1, "label", "id"), "\u202eIntimidasi", "categories[1].label.id", "control characters (U+202E)"),
    ("newline in a stage window", ("stages", 0, "window"), "s.d.\n13 Feb", "stages[0].window", "control characters (U+000A)"),
    ("province stage counting TPS", ("stages", 5, "unit"), "tps", "stages[5].unit", "one plenary for the whole province"),
    ("province code that is a regency's", ("province", "code"), "6371", "province.code", "also a regency's code"),
]


@pytest.mark.parametrize(("what", "path", "value", "key", "problem"), BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_bad_value_names_the_key(what: str, path: tuple[Any, ...], value: Any, key: str, problem: str) -> None:
    data = shipped()
    _set(data, path, value)
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    message = str(caught.value)
    assert message.startswith(f"{key}:"), message
    assert problem in message


MISSING = [
    ("label en", ("categories", 3, "label", "en"), "categories[3].label.en"),
    ("stage label", ("stages", 2, "label"), "stages[2].label"),
    ("regency tps", ("regencies", 12, "tps"), "regencies[12].tps"),
    ("province name", ("province", "name"), "province.name"),
]


@pytest.mark.parametrize(("what", "path", "key"), MISSING, ids=[m[0] for m in MISSING])
def test_missing_key_names_the_key(what: str, path: tuple[Any, ...], key: str) -> None:
    data = shipped()
    _delete(data, path)
    with pytest.raises(ConfigError, match=r"missing") as caught:
        parse_config(data)
    assert str(caught.value).startswith(f"{key}:")


def test_all_four_severities_are_required_most_severe_first() -> None:
    data = shipped()
    del data["severities"][2]
    with pytest.raises(ConfigError, match=r"^severities: missing medium"):
        parse_config(data)
    data = shipped()
    data["severities"][0], data["severities"][1] = data["severities"][1], data["severities"][0]
    with pytest.raises(ConfigError, match=r"^severities: must be listed most severe first"):
        parse_config(data)


def test_a_province_stage_has_one_row_keyed_by_the_province_code() -> None:
    data = shipped()
    config = parse_config(data)
    stage = config.stage("rekap_provinsi")
    assert stage is not None and stage.scope == "province" and stage.unit == "plenary" and stage.window == "19 Feb - 10 Mar"
    assert stage.label.id == "Rekapitulasi provinsi"
    assert [s["scope"] for s in msgspec.to_builtins(config.info())["stages"]] == ["regency"] * 5 + ["province"]
    totals = config.stage_totals()
    assert list(totals)[-1] == ("63", "rekap_provinsi")  # after every regency's rows
    assert [key for key in totals if key[1] == "rekap_provinsi"] == [("63", "rekap_provinsi")]
    # scope is optional: without it a stage is counted per regency.
    del data["stages"][5]["scope"]
    assert len(parse_config(data).stage_totals()) == 13 * 6


def test_a_valid_edit_still_loads() -> None:
    data = copy.deepcopy(shipped())
    data["regencies"][0]["tps"] = 1200
    data["regencies"][0]["tps_estimated"] = False
    config = parse_config(data)
    assert config.regencies[0].tps == 1200


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_file_errors_name_the_file_and_the_key(tmp_path: Path) -> None:
    text = CONFIG_PATH.read_text(encoding="utf-8").replace('code = "6303"', 'code = "6301"')
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: regencies[2].code: duplicate '6301'"


def test_bad_toml_is_a_config_error(tmp_path: Path) -> None:
    path = _write(tmp_path, CONFIG_PATH.read_text(encoding="utf-8") + "\n[[regencies]\ncode = \n")
    with pytest.raises(ConfigError, match=r"not valid TOML") as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no such config file"):
        load_config(tmp_path / "nope.toml")


# --- one model: the welcome carries the config's own Structs ---------------------

GOLDEN_WIRE = ROOT / "tests" / "golden" / "welcome-config.json"


# Added to v1 after the golden file: each stage's window close (and pemungutan's grace).
ADDED_CLOSES = {
    "logistik": {"closes": "2024-02-14T00:00:00+08:00"},
    "pemungutan": {"closes": "2024-02-14T13:00:00+08:00", "grace_minutes": 90},
    "penghitungan": {"counts": True, "closes": "2024-02-16T00:00:00+08:00"},
    "rekap_ppk": {"closes": "2024-03-03T00:00:00+08:00"},
    "rekap_kabkota": {"closes": "2024-03-06T00:00:00+08:00"},
    "rekap_provinsi": {"closes": "2024-03-11T00:00:00+08:00"},
}


def _v1_wire_plus_counts() -> dict[str, Any]:
    """The welcome's config as every client has read it (docs/protocol.md), plus
    the fields added since: `counts` on the one stage the shipped config marks,
    and every stage's `closes` (and a grace where the config gives one)."""
    expected: dict[str, Any] = json.loads(GOLDEN_WIRE.read_text(encoding="utf-8"))
    for stage in expected["stages"]:
        stage.update(ADDED_CLOSES[stage["key"]])
    return expected


def test_the_welcome_config_is_the_v1_json_byte_for_byte_but_the_added_fields() -> None:
    wire = encode(load_config(CONFIG_PATH).info())
    # Same keys in the same order, same values (8.0 stays 8.0): what clients already parse.
    assert wire.decode("utf-8") == json.dumps(_v1_wire_plus_counts(), ensure_ascii=False, separators=(",", ":"))
    # Nothing of the server's reaches the wire: no language, boundaries, [server] or paths.
    assert b"language" not in wire and b"geojson" not in wire and b"database" not in wire


async def test_a_real_welcome_carries_that_config(tmp_path: Path) -> None:
    async with running_server(tmp_path) as running:
        ws, welcome = await hello(running.url, running.tokens["wall"])
        await ws.close()
    assert json.dumps(welcome["config"]) == json.dumps(_v1_wire_plus_counts())


def test_clients_read_an_old_servers_config_and_ignore_fields_they_do_not_know() -> None:
    v1: dict[str, Any] = json.loads(GOLDEN_WIRE.read_text(encoding="utf-8"))
    v1["stages"][0]["colour"] = "red"  # a field a newer server might add
    v1["regencies"][0]["population"] = 1
    frame = json.dumps(
        {"type": "welcome", "protocol": 1, "epoch": "e", "seq": 0, "user": {"name": "w", "role": "viewer", "agency": "KPU", "regencies": None}, "config": v1}
    )
    welcome = decode_server(frame)
    assert isinstance(welcome, Welcome)
    # No `counts` from an old server: the last regency stage counted in TPS counts, as before.
    counting = welcome.config.counting_stage()
    assert counting is not None and counting.key == "penghitungan"
    assert welcome.config.regency("6371") == load_config(CONFIG_PATH).info().regency("6371")


def test_a_newer_servers_new_unit_scope_or_severity_does_not_stop_a_client() -> None:
    """The protocol grows by adding: a welcome naming a stage unit, a scope or a
    severity this client does not know still decodes (the config file itself
    allows only the known ones)."""
    v1 = json.loads(GOLDEN_WIRE.read_text(encoding="utf-8"))
    v1["stages"][0]["unit"] = "desa"
    v1["stages"][0]["scope"] = "kecamatan"
    v1["severities"].append({"key": "info", "label": {"id": "Info", "en": "Info"}, "ack_minutes": 60, "escalate_minutes": 0})
    frame = json.dumps(
        {"type": "welcome", "protocol": 1, "epoch": "e", "seq": 0, "user": {"name": "w", "role": "viewer", "agency": "KPU", "regencies": None}, "config": v1}
    )
    welcome = decode_server(frame)
    assert isinstance(welcome, Welcome)
    assert welcome.config.stages[0].unit == "desa" and welcome.config.severity("info") is not None
    assert welcome.config.stages[0].total_for(welcome.config.regency("6371")) == 1  # an unknown unit counts to 1
    data = shipped()
    data["stages"][0]["unit"] = "desa"
    with pytest.raises(ConfigError, match="unit"):
        parse_config(data)


def test_the_counting_stage_is_the_configs_not_a_name_in_the_code() -> None:
    """A province whose counting stage has another key, with a TPS stage after it:
    the header, the sitrep and the chart count the stage marked `counts = true`."""
    data = shipped()
    stages = data["stages"]
    stages[2]["key"] = "hitung_suara"
    stages.insert(3, {"key": "unggah_sirekap", "label": {"id": "Unggah Sirekap", "en": "Sirekap upload"}, "unit": "tps"})
    config = parse_config(data)
    info = config.info()
    assert info.counting_stage() == info.stage("hitung_suara")
    state = State()  # as a client holds it after the snapshot: every configured row
    state.stages = {(r.regency, r.stage): r for r in stage_rows(state, config.stage_totals(), "2024-02-14T12:00:00.000Z")}
    for code, done in (("6371", 1000), ("6372", 898)):
        state.stages[(code, "hitung_suara")].done = done
        state.stages[(code, "unggah_sirekap")].done = 5
    assert (totals(state, info).tps_counted, totals(state, info).tps_total) == (1898, 13_584)
    assert counting_stage(info) == "hitung_suara"
    report = sitrep.build(info, state, [], now=NOW, since=None, number=1, by="x", post="Posko")
    assert report["progress"]["tps"]["stage"] == "hitung_suara" and report["progress"]["tps"]["done"] == 1898
    # Unmarked, the last TPS stage counts (the fallback).
    del stages[2]["counts"]
    assert parse_config(data).info().counting_stage() == info.stage("unggah_sirekap")


@pytest.mark.parametrize(
    ("index", "value", "message"),
    [
        (3, True, "stages[3].counts: the counting stage is counted per TPS in every regency: its unit must be 'tps', not 'kecamatan'"),
        (1, True, "stages[2].counts: only one stage counts the TPS (stages[1] does already)"),
        (2, "ya", "stages[2].counts: must be true or false, not a string"),
    ],
)
def test_counts_is_checked(index: int, value: Any, message: str) -> None:
    data = shipped()
    data["stages"][index]["counts"] = value
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert str(caught.value) == message


MESSAGES = [
    # Exact words, as docs/deploy.md shows them: msgspec's errors reworded.
    (("severities", 1, "ack_minutes"), 0, "severities[1].ack_minutes: must be at least 1, not 0"),
    (("province", "utc_offset_hours"), 15, "province.utc_offset_hours: must be -14 to 14, not 15"),
    (("province", "language"), "fr", "province.language: 'fr' is not one of id, en"),
    (("server", "ping_interval_seconds"), 0, "server.ping_interval_seconds: must be above 0, not 0"),
    (("server", "allowed_origins"), "https://x", "server.allowed_origins: must be a list of non-empty strings, not a string"),
    (("regencies", 0), "6301", "regencies[0]: must be a table, not a string"),
    (("regencies",), [], "regencies: must be a non-empty list of tables ([[regencies]])"),
    (("regencies", 0, "name"), "   ", "regencies[0].name: must not be empty"),
    (("stages", 0, "short"), {"id": "Logistik"}, "stages[0].short.en: missing"),
    (("triage", "dedup_minutes"), 2.5, "triage.dedup_minutes: must be an integer, not a number"),
    (("province", "boundaries"), 3, "province.boundaries: must be a string, not an integer"),
    (("path",), "/etc", "path: unknown key"),
    (("categories", 0, "desk"), "TNI", "categories[0].desk: 'TNI' is not one of KPU, Bawaslu, Polri"),
]


@pytest.mark.parametrize(("path", "value", "message"), MESSAGES, ids=[m[2].split(":")[0] for m in MESSAGES])
def test_messages_keep_their_words(path: tuple[Any, ...], value: Any, message: str) -> None:
    data = shipped()
    _set(data, path, value)
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert str(caught.value) == message


def test_one_list_of_severities() -> None:
    config = load_config(CONFIG_PATH)
    assert tuple(s.key for s in config.severities) == SEVERITIES == ("critical", "high", "medium", "low")
    assert set(SEVERITY_RGB) == set(SEVERITIES)


# A fixed night for snapshots and benches: the shipped province's data on purpose.
FIXTURE_MODULES = {"opsmon/training/sample_night.py"}


def test_no_province_in_the_code() -> None:
    """No regency code, name, stage or category key of the shipped province as a
    string in the code (docstrings and --help examples aside): they come from the config."""
    config = load_config(CONFIG_PATH)
    province = {config.province.code, config.province.name}
    province |= {value for r in config.regencies for value in (r.code, r.name, r.short)}
    province |= {s.key for s in config.stages} | {c.key for c in config.categories}
    found = []
    for path in sorted([*(ROOT / "opsmon").rglob("*.py"), *(ROOT / "server").rglob("*.py")]):
        if str(path.relative_to(ROOT)) in FIXTURE_MODULES:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        prose: set[int] = set()
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                prose.add(id(body[0].value))  # a docstring
            if isinstance(node, ast.keyword) and node.arg in ("help", "description", "epilog"):
                prose |= {id(sub) for sub in ast.walk(node.value)}
        found += [
            f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose and node.value in province
        ]
    assert found == []


def test_an_estimated_tps_figure_is_one_line_and_flagged() -> None:
    # Tapin, HSS and HST are estimates: `tps_estimate = N`, replaced by editing that one line.
    config = province()
    estimated = {r.short: r.tps for r in config.regencies if r.tps_estimated}
    assert estimated == {"Tapin": 648, "HSS": 780, "HST": 885}
    assert sum(r.tps for r in config.regencies) == 13_584
    text = CONFIG_PATH.read_text(encoding="utf-8").replace("tps_estimate = 648", "tps = 641")
    sourced = parse_config(tomllib.loads(text)).regency("6305")
    assert sourced is not None and (sourced.tps, sourced.tps_estimated) == (641, False)


@pytest.mark.parametrize(
    ("value", "said"),
    [(0, r"regencies\[4\]\.tps_estimate: must be a whole number of TPS, at least 1, not 0"), ("648", r"not '648'"), (True, "not True")],
)
def test_a_bad_estimate_names_its_key(value: object, said: str) -> None:
    data = shipped()
    data["regencies"][4]["tps_estimate"] = value
    with pytest.raises(ConfigError, match=said):
        parse_config(data)


def test_a_sourced_figure_and_an_estimate_together_are_refused() -> None:
    data = shipped()
    data["regencies"][4]["tps"] = 641
    with pytest.raises(ConfigError, match=r"^regencies\[4\]: tps and tps_estimate both given"):
        parse_config(data)
