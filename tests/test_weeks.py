"""Issue 20, "How it must be shown": random command sequences over simulated weeks
(reports, repeats folded, merges, reopen after merge, snooze, severity changes,
stage corrections, clock jumps of days), and for every one the sitrep's counts
(`opsmon sitrep --format json`) and `opsmon list --json` equal a fold of
`opsmon-server export` that this test computes itself (never opsmon's fold).

and so does the after-action report (`opsmon exercise report --format json`):
the post's incidents, resolved, open and acknowledged, the automatic
escalations, and each desk's acknowledgements and resolutions."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from opsmon.cli import main as opsmon_main
from server.cli import main as server_main
from tests.helpers import CONFIG_PATH, FakeClock
from tests.server_thread import ServerThread, opsmon, server_in_thread

SEVERITIES = ("critical", "high", "medium", "low")

reports = st.tuples(st.just("report"), st.sampled_from(("6371", "6303")), st.sampled_from(SEVERITIES), st.sampled_from(("", "TPS 1", "TPS 2")))
incident = st.integers(min_value=1, max_value=5)
operations = st.one_of(
    reports,
    st.tuples(st.just("merge"), incident, incident),
    st.tuples(st.just("reopen"), incident),
    st.tuples(st.just("resolve"), incident),
    st.tuples(st.just("ack"), incident),
    st.tuples(st.just("snooze"), incident, st.sampled_from((30, 600))),
    st.tuples(st.just("severity"), incident, st.sampled_from(SEVERITIES)),
    st.tuples(st.just("stage"), st.integers(0, 5), st.booleans()),
    st.tuples(st.just("days"), st.integers(1, 9)),
    st.tuples(st.just("minutes"), st.integers(1, 90)),
)
# Two desks act, so the after-action report has more than one trainee to count.
desks = st.sampled_from(("officer", "polisi"))
steps = st.tuples(desks, operations)
sequences = st.builds(lambda head, body: head + body, st.lists(st.tuples(desks, reports), min_size=2, max_size=4), st.lists(steps, min_size=6, max_size=18))


def run(live: ServerThread, clock: FakeClock, desk: str, op: tuple[Any, ...]) -> None:
    kind, *rest = op
    if kind in ("days", "minutes"):
        clock.advance(**{kind: rest[0]})
        live.call(live.running.server.deadlines.check())
        return
    args: list[str]
    if kind == "report":
        regency, severity, location = rest
        args = ["report", "--regency", regency, "--category", "logistik", "--severity", severity, "--title", "Kotak rusak", "--location", location]
    elif kind == "merge":
        args = ["merge", str(rest[0]), "--into", str(rest[1])]
    elif kind in ("reopen", "resolve"):
        args = [kind, str(rest[0]), "--note", "ok"]
    elif kind == "ack":
        args = ["ack", str(rest[0])]
    elif kind == "snooze":
        args = ["snooze", str(rest[0]), "--minutes", str(rest[1]), "--note", "tunggu"]
    elif kind == "severity":
        args = ["severity", str(rest[0]), rest[1], "--note", "dinilai ulang"]
    else:
        done, correct = rest
        args = ["stage", "--regency", "6371", "--stage", "rekap_ppk", "--done", str(done), *(["--correct", "--note", "salah hitung"] if correct else [])]
    opsmon(live, *args, token=desk)  # refusals are part of the sequence: they must change nothing


def own_stages(rows: list[dict[str, Any]]) -> tuple[dict[tuple[str, str], int], int]:
    """Each stage row's last count, and how many updates were corrections."""
    done: dict[tuple[str, str], int] = {}
    corrections = 0
    for row in rows:
        if row["kind"] == "stage.updated":
            data = row["data"]
            done[(data["regency"], data["stage"])] = data["done"]
            corrections += "corrected_done" in data
    return done, corrections


def own_fold(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """The incidents, folded here from the export's rows (not opsmon's fold)."""
    incidents: dict[int, dict[str, Any]] = {}

    def chain(start: dict[str, Any]) -> list[int]:
        out, into, seen = [], start["merged_into"], {start["id"]}
        while into is not None and into not in seen and into in incidents:
            seen.add(into)
            out.append(into)
            into = incidents[into]["merged_into"]
        return out

    for row in rows:
        kind, data = row["kind"], row["data"]
        if kind == "incident.reported":
            incidents[data["id"]] = {"id": data["id"], "severity": data["severity"], "status": "open", "merged_into": None, "reports": 1}
            continue
        if not kind.startswith("incident."):
            continue
        one = incidents[data["incident"]]
        if kind == "incident.duplicate":
            one["reports"] += 1
            if data.get("ack_due") is not None:  # a more severe repeat raised it
                one["severity"] = data["severity"]
        elif kind == "incident.severity_changed":
            one["severity"] = data["severity"]
        elif kind == "incident.acknowledged":
            one["status"] = "acknowledged"
        elif kind == "incident.unacknowledged":
            one["status"] = "open"
        elif kind == "incident.resolved":
            one["status"] = "resolved"
        elif kind == "incident.merged":
            one["status"], one["merged_into"] = "resolved", data["into"]
            incidents[data["into"]]["reports"] += data["reports"]
        elif kind == "incident.reopened":
            for into in chain(one):
                incidents[into]["reports"] = max(1, incidents[into]["reports"] - one["reports"])
            one["status"], one["merged_into"] = "open", None
    return incidents


def check(live: ServerThread, tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    export = tmp / "log.jsonl"
    assert server_main(["export", "--db", str(live.running.db_path), "--config", str(CONFIG_PATH), "--format", "jsonl", "-o", str(export)]) == 0
    rows = [json.loads(line) for line in export.read_text(encoding="utf-8").splitlines() if line.strip()]
    mine = own_fold(rows)
    counted = [i for i in mine.values() if i["merged_into"] is None]

    assert opsmon(live, "sitrep", "--format", "json", "--since", "2000-01-01T00:00:00Z") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["incidents"]["reported"] == len(counted)
    assert doc["incidents"]["by_severity"] == {s: sum(1 for i in counted if i["severity"] == s) for s in SEVERITIES}
    assert doc["incidents"]["duplicates_folded"] == sum(i["reports"] - 1 for i in counted)
    open_urgent = sorted(i["id"] for i in counted if i["status"] != "resolved" and i["severity"] in SEVERITIES[:2])
    assert sorted(i["id"] for i in doc["incidents"]["open_urgent"]) == open_urgent

    stages, corrections = own_stages(rows)
    assert doc["progress"]["kecamatan"]["done"] == sum(n for (_, stage), n in stages.items() if stage == "rekap_ppk")
    assert len(doc["progress"]["corrections"]) == corrections

    assert opsmon(live, "list", "--status", "all", "--json") == 0
    listed = {i["id"]: i for i in json.loads(capsys.readouterr().out or "[]")}
    assert set(listed) == set(mine)  # every incident of the weeks, however long ago resolved
    # The after-action report (`opsmon exercise report`) of the same log: the post's and each desk's numbers.
    assert opsmon_main(["exercise", "report", "--db", str(live.running.db_path), "--format", "json"]) == 0
    post = json.loads(capsys.readouterr().out)
    assert post["post"]["incidents"] == len(mine)
    assert post["post"]["resolved"] == sum(1 for i in mine.values() if i["status"] == "resolved")
    assert post["post"]["open"] == sum(1 for i in mine.values() if i["status"] != "resolved")
    by_kind = [(row["actor"], row["kind"], row["data"].get("incident")) for row in rows]
    assert post["post"]["acknowledged"] == len({n for _, kind, n in by_kind if kind == "incident.acknowledged"})
    assert post["post"]["automatic_escalations"] == sum(1 for who, kind, _ in by_kind if who == "system" and kind == "incident.escalated")
    for trainee in post["trainees"]:
        mine_of = [kind for who, kind, _ in by_kind if who == trainee["name"]]
        assert (trainee["acknowledged"], trainee["resolved"]) == (mine_of.count("incident.acknowledged"), mine_of.count("incident.resolved")), trainee

    for n, one in mine.items():
        got = listed[n]
        assert (got["status"], got["severity"], got.get("merged_into"), got["reports"]) == (
            one["status"],
            one["severity"],
            one["merged_into"],
            one["reports"],
        ), n


@example(  # issue 20 defect 3: merged, then reopened days later
    ops=[
        ("officer", ("report", "6371", "critical", "")),
        ("officer", ("report", "6371", "critical", "")),
        ("officer", ("report", "6371", "high", "TPS 1")),
        ("officer", ("report", "6371", "critical", "TPS 1")),  # a more severe repeat: #3 x2, critical
        ("officer", ("merge", 3, 2)),
        ("officer", ("merge", 2, 1)),
        ("officer", ("days", 3)),
        ("officer", ("reopen", 3)),
        ("officer", ("stage", 4, False)),
        ("officer", ("stage", 2, False)),  # refused: lower
        ("officer", ("stage", 2, True)),
        ("officer", ("severity", 1, "low")),
        ("officer", ("snooze", 3, 600)),
        ("polisi", ("ack", 1)),
        ("officer", ("days", 8)),
        ("polisi", ("resolve", 3)),
    ]
)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(ops=sequences)
def test_weeks_of_commands_sitrep_and_list_equal_a_fold_of_the_export(ops: list[tuple[Any, ...]], capsys: pytest.CaptureFixture[str]) -> None:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        clock = FakeClock()
        with server_in_thread(tmp, clock=clock) as live:
            for desk, op in ops:
                run(live, clock, desk, op)
            check(live, tmp, capsys)
