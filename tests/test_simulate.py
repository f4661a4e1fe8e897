"""The simulator: a seeded night is always the same night, every command in it
is one the config allows, and sent to a real server it moves stages and raises
incidents that simulated officers then handle."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest
from msgspec.structs import replace

from opsmon.core.config import Config
from opsmon.feeds.simulate import simulate
from opsmon.training.night import generate, load_stream
from opsmon.training.scenario import HOUR, SCENARIO_NAMES, load_scenario
from tests.helpers import Running, province


@pytest.fixture(scope="module")
def config() -> Config:
    return province()


@pytest.mark.parametrize("scenario", sorted(SCENARIO_NAMES))
def test_same_seed_same_night_other_seed_other_night(config: Config, scenario: str) -> None:
    night = generate(config, scenario, seed=7)
    assert night == generate(config, scenario, seed=7)
    assert night != generate(config, scenario, seed=8)


@pytest.mark.parametrize("scenario", sorted(SCENARIO_NAMES))
def test_every_generated_command_is_valid_for_the_config(config: Config, scenario: str) -> None:
    night = generate(config, scenario, seed=3)
    assert [c.at for c in night] == sorted(c.at for c in night)
    assert all(0 <= c.at <= load_scenario(scenario, config.province.tz).duration for c in night)
    reports = {c.ref: c for c in night if c.kind == "report"}
    for command in night:
        if command.kind == "report":
            assert config.regency(command.get("regency")) is not None
            assert config.category(command.get("category")) is not None
            assert config.severity(command.get("severity")) is not None
            assert 0 < len(command.get("title")) <= 200
            command.to_command("x")  # builds a valid protocol message
        elif command.kind == "stage":
            regency, stage = config.regency(command.get("regency")), config.stage(command.get("stage"))
            assert stage is not None
            if stage.scope == "province":  # one plenary for the whole province, under its code
                assert command.get("regency") == config.province.code and command.get("done") in (0, 1)
            else:
                assert regency is not None
                assert 0 <= command.get("done") <= stage.total_for(regency)
            command.to_command("x")
        else:
            # Acts on an incident of this night, after it was reported.
            assert command.ref in reports and command.at > reports[command.ref].at
            command.to_command("x", incident=1)


def test_a_recapitulation_night_looks_like_one(config: Config) -> None:
    night = generate(config, "rekap", seed=1)
    kinds = Counter(c.kind for c in night)
    assert kinds["report"] >= 30 and kinds["stage"] >= 300
    acted_on = {c.ref for c in night if c.kind == "ack"}
    reported = [c.ref for c in night if c.kind == "report"]
    # Officers handle most incidents, and some are left for the person at the screen.
    assert 0.4 * len(reported) < len(acted_on) < 0.9 * len(reported)
    assert {c.get("category") for c in night if c.kind == "report"} >= {"keamanan", "sirekap", "logistik"}
    # Counting progress moves in steps proportional to each regency's TPS count.
    last_ppk: dict[str, float] = {}
    for c in night:
        if c.kind == "stage" and c.get("stage") == "rekap_ppk":
            last_ppk[c.get("regency")] = c.at
    finishing_order = sorted(last_ppk, key=last_ppk.__getitem__)
    # The big rural regencies (most kecamatan and desa) finish their kecamatan recapitulation last.
    assert set(finishing_order[-3:]) >= {"6302", "6303"}
    assert set(finishing_order[:2]) <= {"6371", "6372"}


def test_load_stream_is_valid_and_deterministic(config: Config) -> None:
    import itertools

    first = list(itertools.islice(load_stream(config, 5), 500))
    assert first == list(itertools.islice(load_stream(config, 5), 500))
    refs = set()
    for command in first:
        if command.kind == "report":
            refs.add(command.ref)
        elif command.kind != "stage":
            assert command.ref in refs
    assert {c.kind for c in first} >= {"stage", "report", "ack", "note", "resolve"}


async def test_a_brief_run_against_a_real_server_moves_stages_and_raises_incidents(server: Running) -> None:
    # Three desks, as in the demo: reports are signed by the agency that handles them.
    tokens = [server.tokens["admin"], server.tokens["officer"], server.tokens["polisi"]]
    stats = await simulate(server.url, tokens, server.config, scenario="hari-h", seed=2, speed=HOUR, duration=2.5)
    state = server.server.state
    assert stats.incidents >= 3 and len(state.incidents) == stats.incidents
    assert stats.refused == {}
    moved = [row for row in state.stages.values() if row.status != "pending"]
    assert len(moved) >= len(server.config.regencies)  # logistics everywhere by 07:30
    assert state.stages[("6371", "logistik")].status == "done"
    # The simulated officers acted on some incidents, each through the desk of its category.
    assert any(i.status != "open" for i in state.incidents.values())
    for incident in state.incidents.values():
        expected = {"keamanan": "Polri", "intimidasi": "Polri", "politik_uang": "Bawaslu", "netralitas": "Bawaslu", "logistik": "KPU", "sirekap": "KPU"}
        if incident.category in expected and "(laporan " not in incident.title:  # a repeat comes from another desk
            assert incident.reporter.agency == expected[incident.category]


async def test_fixed_rate_load_is_answered_without_rate_limiting(server: Running) -> None:
    # 120 commands a second is more than one connection may send (50 a second):
    # the simulator spreads the load over enough connections.
    stop = asyncio.Event()
    stats = await simulate(server.url, [server.tokens["officer"]], server.config, rate=120, duration=1.5, stop=stop)
    assert stats.sent >= 150 and stats.ok == stats.sent and stats.refused == {}
    assert server.server.state.seq == stats.ok


async def test_unknown_scenario_is_a_usage_error(server: Running) -> None:
    from opsmon.core.exits import EXIT_USAGE, FeedError

    with pytest.raises(FeedError) as caught:
        await simulate(server.url, [server.tokens["officer"]], replace(server.config), scenario="pilkada")
    assert caught.value.code == EXIT_USAGE and "hari-h" in caught.value.message


def test_simulate_cli_runs_a_compressed_night_and_prints_a_summary(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from opsmon.cli import main
    from tests.server_thread import server_in_thread

    with server_in_thread(tmp_path) as live:
        code = main(["simulate", "--url", live.url, "--token", live.tokens["officer"], "--seed", "3", "--speed", "5000", "--duration", "1.5", "--json"])
        assert code == 0
        captured = capsys.readouterr()
        body = json.loads(captured.out)
        assert body["ok"] == live.state().seq > 0 and body["incidents"] == len(live.state().incidents)
        assert "simulating rekap" in captured.err  # what is going on, for the person watching
    assert main(["simulate", "--url", "ws://127.0.0.1:9/ws", "--token", "x", "--duration", "1"]) == 4
    assert "nothing is listening" in capsys.readouterr().err


def test_the_same_trouble_is_reported_again_by_another_desk(config: Config) -> None:
    night = generate(config, "rekap", seed=1)
    by_place: dict[tuple[str, str, str], set[str]] = {}
    for c in night:
        if c.kind == "report":
            by_place.setdefault((c.get("regency"), c.get("location"), c.get("category")), set()).add(c.agency)
    assert any(len(agencies) >= 2 for agencies in by_place.values())


async def test_reports_only_sends_no_officer_commands_and_signs_by_agency(server: Running) -> None:
    tokens = [server.tokens["admin"], server.tokens["officer"], server.tokens["polisi"]]  # KPU, Bawaslu, Polri
    stats = await simulate(server.url, tokens, server.config, scenario="hari-h", seed=2, speed=HOUR, duration=2.5, reports_only=True)
    # What the server was sent, counted by the server: reports and stage updates, nothing else.
    sent = Counter()
    for (kind, _outcome), count in server.server.metrics.commands.items():
        sent[kind] += count
    assert set(sent) == {"report", "stage"}, sent
    assert stats.incidents >= 3 and stats.left_to_officers > 0 and stats.refused == {}
    kinds = Counter(e.kind for e in await server.store.events_since(0))
    # A repeated report from another desk folds into the first (issue 10's dedup).
    assert set(kinds) <= {"incident.reported", "incident.duplicate", "stage.updated"}
    assert kinds["incident.duplicate"] == stats.duplicates
    state = server.server.state
    assert all(i.status == "open" and i.acknowledged_by is None and all(n.kind == "duplicate" for n in i.notes) for i in state.incidents.values())
    agencies = {"admin": "KPU", "officer": "Bawaslu", "polisi": "Polri"}
    for incident in state.incidents.values():
        if "(laporan " not in incident.title:  # a repeat comes from another desk
            category = server.config.category(incident.category)
            assert category is not None and incident.reporter.agency == category.desk
        assert incident.reporter.agency == agencies[incident.reporter.name]


def test_simulate_cli_checks_each_agency_token_is_of_that_agency(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    from opsmon.cli import main
    from tests.server_thread import server_in_thread

    with server_in_thread(tmp_path) as live:
        code = main(["simulate", "--url", live.url, "--token-polri", live.tokens["officer"], "--duration", "1", "--quiet"])
        assert code == 2
        assert "--token-polri is a Bawaslu token (officer)" in capsys.readouterr().err
        assert live.state().seq == 0  # nothing was sent
        files = tmp_path / "tokens.txt"
        files.write_text(f"# reporters\n{live.tokens['officer']}\n\n{live.tokens['polisi']}\n")
        code = main(
            [
                "simulate",
                "--url",
                live.url,
                "--token-kpu",
                live.tokens["admin"],
                "--token-file",
                str(files),
                "--reports-only",
                "--speed",
                "5000",
                "--duration",
                "1.5",
                "--json",
            ]
        )
        assert code == 0
        body = json.loads(capsys.readouterr().out)
        assert body["reports_only"] is True and body["left_to_officers"] > 0
        reporters = {i.reporter.name for i in live.state().incidents.values()}
        assert reporters <= {"admin", "officer", "polisi"} and len(reporters) >= 2
