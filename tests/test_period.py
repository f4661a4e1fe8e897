"""Lists and reports cover their whole period (issue 20, defect 1): an incident
resolved more than a day ago leaves the snapshot, but `incidents` (answered from
the server's folded state over the whole log) still gives it, so `opsmon list`
and the sitrep count it."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from opsmon.cli import main
from tests.helpers import FakeClock, Running, hello, recv_json
from tests.server_thread import ServerThread, server_in_thread


def _cli(live: ServerThread, config: Path | None, *args: str, token: str = "officer") -> int:
    extra = ["--config", str(config)] if config is not None else []
    return main([*args, "--url", live.url, "--token", live.tokens[token], *extra])


def _post_config(tmp_path: Path) -> Path:
    from tests.helpers import CONFIG_PATH

    text = CONFIG_PATH.read_text(encoding="utf-8").replace('folder = "sitrep"', f'folder = "{tmp_path / "reports"}"')
    path = tmp_path / "post.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _night(live: ServerThread, clock: FakeClock, config: Path) -> None:
    """Four incidents, three resolved; then 30 hours pass, and a fifth is reported."""
    for regency, title in (("6310", "Kericuhan di PPK"), ("6371", "Kotak suara rusak"), ("6303", "Dugaan politik uang"), ("6306", "Banjir di gudang")):
        assert _cli(live, config, "report", "--regency", regency, "--category", "logistik", "--severity", "medium", "--title", title) == 0
    for incident in ("1", "2", "3"):
        assert _cli(live, config, "resolve", incident, "--note", "Selesai") == 0
    clock.advance(hours=30)
    assert _cli(live, config, "report", "--regency", "6371", "--category", "logistik", "--severity", "low", "--title", "Sesudah sehari") == 0


def test_list_and_sitrep_keep_incidents_resolved_more_than_a_day_ago(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clock = FakeClock()
    config = _post_config(tmp_path)
    with server_in_thread(tmp_path, clock=clock) as live:
        _night(live, clock, config)
        capsys.readouterr()

        assert _cli(live, config, "list", "--status", "resolved", "--json") == 0
        resolved = json.loads(capsys.readouterr().out)
        assert sorted(i["id"] for i in resolved) == [1, 2, 3]
        assert all(i["status"] == "resolved" for i in resolved)

        assert _cli(live, config, "list", "--status", "all", "--json") == 0
        assert sorted(i["id"] for i in json.loads(capsys.readouterr().out)) == [1, 2, 3, 4, 5]

        assert _cli(live, config, "list", "--status", "resolved") == 0
        table = capsys.readouterr().out
        assert "Kericuhan di PPK" in table and "Dugaan politik uang" in table

        # Three days on, `show` of one resolved on the first still tells its story.
        clock.advance(days=3)
        assert _cli(live, config, "show", "2", "--json") == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown["incident"]["status"] == "resolved" and shown["incident"]["title"] == "Kotak suara rusak"

        assert _cli(live, config, "sitrep", "--format", "json", token="wall") == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["incidents"]["reported"] == 5
        assert sorted(r["id"] for r in doc["incidents"]["resolved"]) == [1, 2, 3]

        assert _cli(live, config, "sitrep", "--since", "2000-01-01T00:00:00Z") == 0
        assert "Insiden dilaporkan: 5" in capsys.readouterr().out


async def _send(running: Running, token: str, frame: dict[str, Any]) -> dict[str, Any]:
    """Send one command on a fresh connection (after its snapshot); its result."""
    ws, welcome = await hello(running.url, running.tokens[token])
    try:
        assert welcome["type"] == "welcome"
        assert (await recv_json(ws))["type"] == "snapshot"
        await ws.send(json.dumps({"id": uuid.uuid4().hex, **frame}))
        while True:
            answer = await recv_json(ws)
            if answer["type"] == "result":
                return answer
    finally:
        await ws.close()


async def _ask(running: Running, token: str, **fields: Any) -> dict[str, Any]:
    return await _send(running, token, {"type": "incidents", **fields})


async def _setup(running: Running, clock: FakeClock) -> None:
    for regency in ("6310", "6371", "6371"):
        answer = await _send(running, "admin", {"type": "report", "incident": {"regency": regency, "category": "logistik", "severity": "medium", "title": "T"}})
        assert answer["ok"], answer
    for incident in (1, 2):
        answer = await _send(running, "admin", {"type": "resolve", "incident": incident, "note": "Selesai"})
        assert answer["ok"], answer
    clock.advance(hours=30)


async def test_incidents_answers_from_the_whole_log_with_filters_and_scope(server: Running, clock: FakeClock) -> None:
    await _setup(server, clock)
    ws, _ = await hello(server.url, server.tokens["wall"])
    snapshot = await recv_json(ws)
    await ws.close()
    assert [i["id"] for i in snapshot["incidents"]] == [3]  # the snapshot leaves out the two resolved a day ago

    everything = await _ask(server, "wall")  # a viewer may ask: it only reads
    assert everything["ok"] and [i["id"] for i in everything["incidents"]] == [1, 2, 3]
    resolved = await _ask(server, "wall", status="resolved")
    assert [i["id"] for i in resolved["incidents"]] == [1, 2]
    # since: reported or resolved at or after it, and every one not resolved.
    recent = await _ask(server, "wall", since="2024-02-15T00:00:00Z")
    assert [i["id"] for i in recent["incidents"]] == [3]
    # A token scoped to Banjarmasin (6371) gets only its regency's.
    scoped = await _ask(server, "bjm")
    assert [(i["id"], i["regency"]) for i in scoped["incidents"]] == [(2, "6371"), (3, "6371")]


async def test_bad_filters_are_refused_naming_the_field_and_change_nothing(server: Running, clock: FakeClock) -> None:
    await _setup(server, clock)
    seq = server.server.state.seq
    bad_status = await _ask(server, "officer", status="closed")
    assert not bad_status["ok"] and bad_status["code"] == "invalid" and bad_status["params"]["field"] == "status"
    assert "'closed' is not one of open, acknowledged, resolved" in bad_status["message"]
    bad_since = await _ask(server, "officer", since="kemarin")
    assert not bad_since["ok"] and bad_since["params"]["field"] == "since" and "kemarin" in bad_since["message"]
    assert server.server.state.seq == seq
