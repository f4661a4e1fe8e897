"""config.toml: the shipped province loads, and every bad config names its key."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from opsmon.config import ConfigError, load_config, parse_config
from opsmon.domain import Rules
from tests.helpers import CONFIG_PATH, ROOT, shipped


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
    wire = load_config(CONFIG_PATH).to_wire()
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
    ("negative tps", ("regencies", 4, "tps"), -5, "regencies[4].tps", "at least"),
    ("zero kecamatan", ("regencies", 0, "kecamatan"), 0, "regencies[0].kecamatan", "at least"),
    ("malformed code", ("regencies", 1, "code"), "63O2", "regencies[1].code", "does not match"),
    ("wrong type: port as string", ("server", "port"), "8765", "server.port", "integer"),
    ("wrong type: tps as float", ("regencies", 5, "tps"), 641.5, "regencies[5].tps", "integer"),
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
    assert [s["scope"] for s in config.to_wire()["stages"]] == ["regency"] * 5 + ["province"]
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
