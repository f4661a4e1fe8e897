"""Scenarios as data: stages move inside the configured windows, trouble
happens in the stage and the place it belongs to, and a trainer's edited
copy of a scenario file (with its timed injects) is what gets played."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

import pytest

from opsmon.core.config import Config
from opsmon.training.night import SimCommand, generate
from opsmon.training.scenario import kecamatan_of, load_scenario, scenario_text
from tests.helpers import province

SEEDS = range(1, 7)


@pytest.fixture(scope="module")
def config() -> Config:
    return province()


def local(config: Config, scenario: str, command: SimCommand) -> datetime:
    return load_scenario(scenario, config.province.tz).at(command.at).astimezone(config.province.tz)


def stage_times(night: list[SimCommand], stage: str) -> dict[str, tuple[float, float]]:
    """First and last update of a stage, per regency."""
    times: dict[str, tuple[float, float]] = {}
    for c in night:
        if c.kind == "stage" and c.get("stage") == stage:
            first, _ = times.get(c.get("regency"), (c.at, c.at))
            times[c.get("regency")] = (first, c.at)
    return times


def tagged(config: Config, *tags: str) -> set[tuple[str, str]]:
    return {(r.code, k.name) for r in config.regencies for k in kecamatan_of(config, r) if k.tags & set(tags)}


def kecamatan_in(location: str) -> str:
    match = re.search(r"Kec\. ([^,]+)", location)
    assert match, location
    return match.group(1)


@pytest.mark.parametrize("seed", SEEDS)
def test_voting_day_starts_with_every_closed_window_done(config: Config, seed: int) -> None:
    # The config's windows are the truth: at the first minute no stage whose window has
    # closed (logistics: "s.d. 13 Feb") is still short in any regency, so no panel says !JADWAL.
    from opsmon.core.view import window_closes

    tz = config.province.tz
    scenario = load_scenario("hari-h", tz)
    first_minute = scenario.at(60)
    done = {(c.get("regency"), c.get("stage")): c.get("done") for c in generate(config, "hari-h", seed) if c.kind == "stage" and c.at <= 60}
    closed = [s for s in config.info().stages if s.scope == "regency" and (end := window_closes(s)) is not None and end <= first_minute]
    assert [s.key for s in closed] == ["logistik"]
    for stage in closed:
        short = [r.code for r in config.regencies if done.get((r.code, stage.key)) != stage.total_for(r)]
        assert short == [], (stage.key, short)


@pytest.mark.parametrize("seed", SEEDS)
def test_voting_day_follows_the_windows_and_trouble_follows_the_stage(config: Config, seed: int) -> None:
    night = generate(config, "hari-h", seed)
    polls_closed = stage_times(night, "pemungutan")
    counted = stage_times(night, "penghitungan")
    for regency, (first, last) in polls_closed.items():
        # TPS close from 13:00; counting starts after the polls close there.
        assert local(config, "hari-h", SimCommand(last, "KPU", "stage", ())).hour >= 13
        assert counted[regency][0] > first
    latest = max(local(config, "hari-h", SimCommand(last, "KPU", "stage", ())) for _, last in counted.values())
    assert latest >= datetime(2024, 2, 14, 20, tzinfo=config.province.tz)  # counting into the night
    for c in night:
        if c.kind != "report":
            continue
        title, when = c.get("title"), local(config, "hari-h", c)
        if title.startswith("Serangan fajar"):
            assert when.hour < 9, (when, title)  # dawn, before the polls are long open
        if title.startswith("Pemilih DPTb ditolak"):
            assert when.hour >= 7 and c.at <= polls_closed[c.get("regency")][1], (when, title)
        if "penghitungan" in title.lower() or title.startswith("Anggota KPPS kelelahan"):
            assert c.at >= polls_closed[c.get("regency")][0], (when, title)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_recapitulation_takes_days_and_ppk_trouble_waits_for_the_ppk(config: Config, seed: int) -> None:
    night = generate(config, "rekap", seed)
    counted = stage_times(night, "penghitungan")
    ppk = stage_times(night, "rekap_ppk")
    plenary = stage_times(night, "rekap_kabkota")
    first_ppk = min(local(config, "rekap", SimCommand(first, "KPU", "stage", ())) for first, _ in ppk.values())
    last_ppk = max(local(config, "rekap", SimCommand(last, "KPU", "stage", ())) for _, last in ppk.values())
    assert first_ppk.day >= 15 and first_ppk.month == 2  # PPK plenaries from 15 Feb ...
    assert (last_ppk - first_ppk).days >= 4  # ... over days, not one night
    assert last_ppk <= datetime(2024, 3, 3, tzinfo=config.province.tz)
    for regency, (_, done) in plenary.items():
        assert done > ppk[regency][1]  # the regency plenary after its last kecamatan
    for c in night:
        if c.kind == "stage" and c.get("stage") in ("rekap_ppk", "rekap_kabkota"):
            assert 8 <= local(config, "rekap", c).hour < 23  # plenaries sit by day
            assert (
                not datetime(2024, 2, 18, tzinfo=config.province.tz) <= local(config, "rekap", c) < datetime(2024, 2, 20, 8, tzinfo=config.province.tz)
            )  # KPU RI's pause
        if c.kind != "report":
            continue
        title = c.get("title")
        assert not title.startswith(("Serangan fajar", "Pemilih DPTb")), title  # voting-day trouble
        if c.get("location").startswith("PPK Kec."):
            # Not before counting is over in that regency (the PPK has not started).
            assert c.at > counted[c.get("regency")][1], (local(config, "rekap", c), title)
            if "(laporan " not in title:  # a second report may come minutes after 23:00
                assert 8 <= local(config, "rekap", c).hour < 23


@pytest.mark.parametrize("scenario", ["hari-h", "rekap"])
def test_sea_and_river_trouble_only_where_the_geography_has_it(config: Config, scenario: str) -> None:
    sea, river = tagged(config, "pesisir", "pulau"), tagged(config, "sungai")
    seen_sea = 0
    for seed in SEEDS:
        for c in generate(config, scenario, seed):
            if c.kind != "report":
                continue
            title, place = c.get("title").lower(), (c.get("regency"), kecamatan_in(c.get("location")) if "Kec." in c.get("location") else "")
            if "ombak" in title or "kapal" in title:
                assert place in sea, (place, title)
                seen_sea += 1
            if "klotok" in title:
                assert place in river, (place, title)
            for inland in ("Hatungun", "Banjang", "Banjarmasin Tengah"):
                if place[1] == inland:
                    assert "ombak" not in title and "perahu" not in title
    assert seen_sea > 0


def test_locations_name_the_desa_and_the_tps(config: Config) -> None:
    # A desa or kelurahan is a real one from places/63.toml, called what it is; where a
    # kecamatan names none, only the kecamatan and the TPS: never a numbered "Desa 14".
    desa = {(r.code, k.name): k.villages for r in config.regencies for k in kecamatan_of(config, r)}
    kelurahan = {(r.code, k.name): k.kelurahan for r in config.regencies for k in kecamatan_of(config, r)}
    forms = set()
    for seed in SEEDS:
        for c in generate(config, "hari-h", seed):
            if c.kind != "report":
                continue
            assert not re.search(r"(Desa|Kel\.) \d", c.get("title") + c.get("location")), (c.get("title"), c.get("location"))
            if "TPS" in c.get("location"):
                match = re.fullmatch(r"Kec\. ([^,]+)(?:, (Desa|Kel\.) ([^,]+))?, TPS \d{3}", c.get("location"))
                assert match, c.get("location")
                known = desa.get((c.get("regency"), match.group(1)))
                assert (match.group(3) in known) if match.group(3) else not known, (c.get("location"), known)
                if match.group(3):
                    is_kelurahan = match.group(3) in kelurahan[(c.get("regency"), match.group(1))]
                    assert match.group(2) == ("Kel." if is_kelurahan else "Desa"), c.get("location")
                forms.add(match.group(3) is not None)
    assert forms == {True, False}  # both kinds of kecamatan are drawn


def test_the_2024_trouble_is_in_the_scenarios(config: Config) -> None:
    titles = " ".join(c.get("title") for s in ("hari-h", "rekap") for seed in SEEDS for c in generate(config, s, seed) if c.kind == "report")
    for trouble in ("tertukar antardapil", "dianiaya karena uang yang dijanjikan", "Pemungutan suara ulang", "pleno PPK Kec.", "Ketua PPK", "kelelahan"):
        assert trouble in titles, trouble


def test_a_trainers_copy_with_a_timed_inject_is_played(config: Config, tmp_path: Path) -> None:
    text = scenario_text("hari-h")
    text += """
[[inject]]
at = 2024-02-14T10:15:00
agency = "Polri"
regency = "6372"
category = "keamanan"
severity = "critical"
title = "Latihan: ledakan petasan di TPS 007 Kel. Komet"
location = "Kec. Banjarbaru Utara, Kel. Komet, TPS 007"
"""
    mine = tmp_path / "latihan.toml"
    mine.write_text(re.sub(r"^incidents = \d+", "incidents = 2", text, flags=re.MULTILINE))  # the night's and every stage's rate
    night = generate(config, str(mine), 1)
    inject = [c for c in night if c.kind == "report" and c.get("title").startswith("Latihan:")]
    assert len(inject) == 1 and inject[0].agency == "Polri" and inject[0].get("regency") == "6372"
    assert local(config, "hari-h", inject[0]).strftime("%d %H:%M") == "14 10:15"
    assert sum(1 for c in night if c.kind == "report") < 25


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (("incidents = 60", "incidents = -1"), "scenario.incidents: must be at least 0, not -1"),
        (("at = 2024-02-14T15:00:00", "at = 2024-03-14T15:00:00"), "inject[5].at: 2024-03-14T15:00 is outside the scenario"),
        (('where = "desa"', 'where = "pasar"'), "trouble[0].where: 'pasar' is not one of tps, desa, kec, ppk, kab"),
        (('needs = ["sungai"]', 'needs = ["laut"]'), "trouble[3].needs: 'laut' is not one of pesisir, pulau, sungai, pegunungan"),
        (("updates = 6", "updatez = 6"), "stage[0].updatez: unknown key"),
    ],
)
def test_a_bad_scenario_file_says_which_key(config: Config, tmp_path: Path, change: tuple[str, str], error: str) -> None:
    from opsmon.training.scenario import ScenarioError

    bad = tmp_path / "bad.toml"
    bad.write_text(scenario_text("hari-h").replace(*change, 1))
    with pytest.raises(ScenarioError) as caught:
        generate(config, str(bad), 1)
    assert error in str(caught.value) and str(bad) in str(caught.value)


def test_an_inject_naming_an_unknown_regency_is_refused(config: Config, tmp_path: Path) -> None:
    from opsmon.training.scenario import ScenarioError

    bad = tmp_path / "bad.toml"
    bad.write_text(scenario_text("hari-h").replace('regency = "6302"', 'regency = "9999"'))
    with pytest.raises(ScenarioError, match=r"inject\[\d\]\.regency: '9999' is not a regency in the config"):
        generate(config, str(bad), 1)


def test_exercise_scenario_prints_a_file_that_simulate_can_play(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from opsmon.cli import main

    assert main(["exercise", "scenario", "rekap"]) == 0
    copy = tmp_path / "salinan.toml"
    copy.write_text(capsys.readouterr().out)
    assert generate(province(), str(copy), 3) == generate(province(), "rekap", 3)
    assert main(["exercise", "scenario", "pilkada"]) == 2
    assert "unknown scenario 'pilkada'" in capsys.readouterr().err


# --- a night that looks like Kalimantan Selatan's (issue 26 items 6-9) -----------------


@pytest.mark.parametrize("name", ["hari-h", "rekap"])
def test_every_random_title_names_its_place(config: Config, name: str) -> None:
    # "Surat suara tertukar antardapil di TPS 001" read the same for Bati-Bati and Jorong.
    places = {r.code: {k.name for k in kecamatan_of(config, r)} for r in config.regencies}
    for seed in SEEDS:
        for c in generate(config, name, seed):
            if c.kind != "report":
                continue
            title = c.get("title")
            regency = config.regency(c.get("regency"))
            assert regency is not None
            named = any(f"Kec. {k}" in title or k in title for k in places[regency.code]) or regency.short in title or config.province.name in title
            assert named or re.search(r"Kec\. |Kel\. |Desa |se-Kota|Pulau ", title), title


@pytest.mark.parametrize("name", ["hari-h", "rekap"])
def test_a_kelurahan_has_a_lurah_and_a_desa_a_kepala_desa(config: Config, name: str) -> None:
    seen = set()
    for seed in range(1, 30):
        for c in generate(config, name, seed):
            text = f"{c.get('title')} {c.get('detail')}" if c.kind == "report" else ""
            if "Kepala desa" in text or "kepala desa" in text:
                assert "Kel. " not in text, text
                seen.add("kepala desa")
            if re.search(r"\b[Ll]urah\b", text):
                assert "Desa " not in text, text
                seen.add("lurah")
    if name == "hari-h":
        assert seen == {"kepala desa", "lurah"}  # both are drawn


def test_the_recapitulation_has_trouble_until_the_province_plenary(config: Config) -> None:
    # Before: nothing after 3 Mar, and the province plenary (6-8 Mar) had no trouble at all.
    tz = config.province.tz
    scenario = load_scenario("rekap", tz)
    plenary = 0
    for seed in SEEDS:
        reports = [c for c in generate(config, "rekap", seed) if c.kind == "report"]
        late = [c for c in reports if scenario.at(c.at).astimezone(tz).date() >= date(2024, 3, 4)]
        assert late, seed
        plenary += sum(1 for c in reports if c.get("location", "").startswith("KPU Provinsi"))
    assert plenary > 0


def test_a_stage_rate_sets_how_much_trouble_it_has(config: Config) -> None:
    # hari-h gives voting 22 incidents and counting 24: swapped ballots are rare, not five a morning.
    swapped = [
        c
        for seed in SEEDS
        for c in generate(config, "hari-h", seed)
        if c.kind == "report" and "tertukar antardapil" in c.get("title") and "(laporan" not in c.get("title")
    ]
    assert len(swapped) <= 2 * len(SEEDS)


@pytest.mark.parametrize("name", ["hari-h", "rekap"])
def test_simulated_notes_come_from_the_incidents_own_desk(config: Config, name: str) -> None:
    # A Sirekap upload failure (KPU's) never gets a note about Panwascam asking witnesses.
    for seed in SEEDS:
        night = generate(config, name, seed)
        desk = {c.ref: c.agency for c in night if c.kind == "report"}
        category = {c.ref: c.get("category") for c in night if c.kind == "report"}
        for c in night:
            if c.kind != "note":
                continue
            text = c.get("text")
            if category[c.ref] == "sirekap":
                assert "saksi" not in text, text
            if desk[c.ref] == "KPU":
                assert "Panwascam" not in text and "Polsek" not in text, text


@pytest.mark.parametrize("name", ["hari-h", "rekap"])
def test_the_docs_show_each_shipped_scenario_as_it_plays(config: Config, name: str) -> None:
    from opsmon.training.summary import summary
    from tests.helpers import ROOT

    page = (ROOT / "docs" / "exercises.md").read_text(encoding="utf-8")
    shown = page.split(f"<!-- scenario-summary:{name} -->\n", 1)[1].split("<!-- /scenario-summary -->", 1)[0]
    assert shown == summary(config, name), f"docs/exercises.md is stale: paste `opsmon exercise scenario {name} --summary` into it"


def test_the_summary_counts_every_report_once(config: Config) -> None:
    from opsmon.training.summary import summary

    text = summary(config, "rekap")
    reports = [c for c in generate(config, "rekap", 1) if c.kind == "report"]
    stage_rows = [line for line in text.splitlines() if line.startswith("| ") and line.count("|") == 4 and not line.startswith(("| stage", "| ---"))]
    per_stage = sum(int(line.split("|")[2]) for line in stage_rows[: len(config.stages) + 1])
    assert per_stage == len(reports) and f"{len(reports)} reports" in text
    assert "| Rekapitulasi provinsi | 0 |" not in text
