"""The triage feeders, `opsmon list`, `opsmon show` and the importer's triage
verbs against a real server on loopback: what a script sees and what the
server then holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opsmon.core.exits import EXIT_OK, EXIT_REFUSED, EXIT_USAGE
from opsmon.core.i18n import WITA, local_datetime
from opsmon.core.records import Actor
from tests.server_thread import ServerThread, opsmon


def report(
    live: ServerThread,
    capsys: pytest.CaptureFixture[str],
    *,
    location: str = "Kec. Banjarmasin Utara, TPS 012",
    severity: str = "medium",
    regency: str = "6371",
    title: str = "Listrik padam",
    token: str = "officer",
) -> int:
    code = opsmon(live, "report", "--regency", regency, "--category", "logistik", "--severity", severity, "--title", title, "--location", location, token=token)
    assert code == 0
    return int(capsys.readouterr().out.strip())


def test_a_repeat_report_prints_the_incident_it_joined(live: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    first = report(live, capsys)
    assert (
        opsmon(
            live,
            "report",
            "--regency",
            "Banjarmasin",
            "--category",
            "logistik",
            "--severity",
            "critical",
            "--title",
            "Mati lampu",
            "--location",
            " kec. banjarmasin utara, tps 012",
            token="polisi",
        )
        == 0
    )
    out, err = capsys.readouterr()
    assert out.strip() == str(first) and "repeat" in err and f"incident {first}" in err
    incident = live.state().incidents[first]
    assert incident.reports == 2 and incident.severity == "critical"
    assert (
        opsmon(
            live,
            "report",
            "--regency",
            "6371",
            "--category",
            "logistik",
            "--severity",
            "low",
            "--title",
            "x",
            "--location",
            "KEC. BANJARMASIN UTARA, TPS 012",
            "--json",
        )
        == 0
    )
    body = json.loads(capsys.readouterr().out)
    assert body["ok"] is True and body["duplicate"] is True and body["incident"] == first


def test_each_triage_feeder(live: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    one = report(live, capsys, severity="critical")
    two = report(live, capsys, location="TPS 013", title="Genset mati")
    assert opsmon(live, "assign", str(one), "--me", token="bjm") == 0
    assert "assigned to KPU/bjm" in capsys.readouterr().out
    assert live.state().incidents[one].owner == Actor(name="bjm", agency="KPU")
    assert opsmon(live, "assign", str(two), "--to", "Rahmat", "--agency", "Bawaslu") == 0
    assert live.state().incidents[two].owner == Actor(name="Rahmat", agency="Bawaslu")
    assert opsmon(live, "snooze", str(one), "--minutes", "30", "--note", "Menunggu PLN") == 0
    assert "snoozed for 30 min" in capsys.readouterr().out
    assert live.state().incidents[one].snoozed_until is not None
    assert opsmon(live, "snooze", str(one), "--minutes", "0", "--note", "PLN datang") == 0
    assert live.state().incidents[one].snoozed_until is None
    assert opsmon(live, "severity", str(one), "high", "--note", "Sudah tertangani sebagian") == 0
    assert live.state().incidents[one].severity == "high"
    assert opsmon(live, "ack", str(one)) == 0
    assert opsmon(live, "unack", str(one), "--note", "Salah tekan") == 0
    assert live.state().incidents[one].status == "open"
    assert opsmon(live, "merge", str(two), "--into", str(one), "--note", "Gardu yang sama") == 0
    assert f"merged into {one}" in capsys.readouterr().out
    state = live.state()
    assert state.incidents[two].merged_into == one and state.incidents[two].status == "resolved" and state.incidents[one].reports == 2
    assert opsmon(live, "assign", str(one), "--release") == 0
    assert live.state().incidents[one].owner is None


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["snooze", "1", "--minutes", "1441", "--note", "x"], "1440"),
        (["snooze", "1", "--minutes", "10", "--note", "  "], "--note must not be empty"),
        (["assign", "1", "--to", "Rahmat"], "--agency"),
        (["assign", "1", "--to", "Rahmat", "--agency", "TNI"], "invalid choice"),
        (["assign", "1"], "one of the arguments"),
        (["severity", "1", "urgent", "--note", "x"], "unknown severity 'urgent'"),
        (["merge", "1", "--into", "1"], "another incident"),
        (["unack", "1"], "--note"),
        (["list", "--status", "asleep"], "invalid choice"),
        (["list", "--regency", "Atlantis"], "unknown regency"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(live: ServerThread, capsys: pytest.CaptureFixture[str], args: list[str], says: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        raise SystemExit(opsmon(live, *args))
    assert exit_.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1, err
    assert live.state().seq == 0


def test_refusals_say_why_and_exit_3(live: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    one = report(live, capsys)
    assert opsmon(live, "unack", str(one), "--note", "x") == EXIT_REFUSED
    assert "not acknowledged" in capsys.readouterr().err
    assert opsmon(live, "unack", str(one), "--note", "x", "--lang", "id") == EXIT_REFUSED
    assert "belum di-ack" in capsys.readouterr().err
    assert opsmon(live, "snooze", str(one), "--minutes", "5", "--note", "x", token="wall") == EXIT_REFUSED
    assert opsmon(live, "merge", str(one), "--into", "9") == EXIT_REFUSED
    assert "9" in capsys.readouterr().err


def test_list_filters_sorts_and_speaks_json(live: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    a = report(live, capsys, severity="low", title="Rendah")
    b = report(live, capsys, severity="critical", location="TPS 2", title="Kritis")
    c = report(live, capsys, severity="high", regency="6303", location="TPS 3", title="Di Banjar")
    d = report(live, capsys, severity="medium", location="TPS 4", title="Selesai")
    assert opsmon(live, "resolve", str(d), "--note", "ok") == 0
    assert opsmon(live, "snooze", str(b), "--minutes", "60", "--note", "Menunggu") == 0
    assert opsmon(live, "assign", str(a), "--me", token="polisi") == 0
    capsys.readouterr()
    assert opsmon(live, "list") == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["ID", "STATUS", "SEVERITY"]
    # live ones by severity, the snoozed one below them (saying so, with its wake time), no resolved one
    assert [int(line.split()[0]) for line in lines[1:]] == [c, a, b]
    assert "snoozed>" in lines[3] and "WITA" in lines[3]
    assert "Polri/polisi" in lines[2] and "x1" in lines[2]
    assert opsmon(live, "list", "--status", "all", "--json") == EXIT_OK
    assert sorted(i["id"] for i in json.loads(capsys.readouterr().out)) == [a, b, c, d]
    assert opsmon(live, "list", "--status", "resolved", "--json") == EXIT_OK
    assert [i["id"] for i in json.loads(capsys.readouterr().out)] == [d]
    assert opsmon(live, "list", "--regency", "Banjar", "--json") == EXIT_OK
    assert [i["id"] for i in json.loads(capsys.readouterr().out)] == [c]
    assert opsmon(live, "list", "--severity", "low", "--json") == EXIT_OK
    assert [i["id"] for i in json.loads(capsys.readouterr().out)] == [a]
    # mine: what I own, or (a scoped officer) what is in my regencies
    assert opsmon(live, "list", "--mine", "--json", token="polisi") == EXIT_OK
    assert [i["id"] for i in json.loads(capsys.readouterr().out)] == [a]
    assert opsmon(live, "list", "--mine", "--json", token="bjm") == EXIT_OK
    assert sorted(i["id"] for i in json.loads(capsys.readouterr().out)) == [a, b]


def test_show_prints_the_incident_and_its_whole_timeline(live: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    one = report(live, capsys)
    report(live, capsys, title="Mati lampu lagi", token="polisi")  # a repeat
    three = report(live, capsys, location="TPS 9", title="Genset")
    assert opsmon(live, "merge", str(three), "--into", str(one)) == 0
    capsys.readouterr()
    assert opsmon(live, "show", str(one)) == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith(f"#{one} Listrik padam")
    assert "reports x3" in out
    for kind in ("reported", "duplicate", "merged"):
        assert f" {kind} " in out, out
    assert "Mati lampu lagi" in out and "Polri/polisi" in out
    # a snooze's end in the timeline is in WITA like every other time on the screen
    assert opsmon(live, "snooze", str(one), "--minutes", "30", "--note", "Menunggu PLN") == 0
    until = live.state().incidents[one].snoozed_until
    assert until is not None
    capsys.readouterr()
    assert opsmon(live, "show", str(one)) == EXIT_OK
    [snoozed] = [line for line in capsys.readouterr().out.splitlines() if " snoozed " in line]
    assert snoozed.endswith(f"until {local_datetime(until, WITA)}: Menunggu PLN") and "WITA" in snoozed and until not in snoozed, snoozed
    assert opsmon(live, "show", str(three), "--json") == EXIT_OK
    body = json.loads(capsys.readouterr().out)
    assert body["incident"]["merged_into"] == one and [e["kind"] for e in body["events"]] == ["incident.reported", "incident.merged"]
    assert opsmon(live, "show", "99") == EXIT_REFUSED
    assert "no incident 99" in capsys.readouterr().err


def test_import_takes_the_triage_verbs(live: ServerThread, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    lines = [
        {"type": "report", "id": "r1", "regency": "6371", "category": "logistik", "severity": "medium", "title": "Listrik padam", "location": "TPS 1"},
        {"type": "report", "id": "r2", "regency": "6371", "category": "logistik", "severity": "high", "title": "Genset", "location": "TPS 2"},
        {"type": "assign", "id": "a1", "incident": 1, "to": {"name": "Rahmat", "agency": "Bawaslu"}},
        {"type": "snooze", "id": "s1", "incident": 1, "minutes": 20, "note": "Menunggu PLN"},
        {"type": "severity", "id": "v1", "incident": 2, "severity": "critical", "note": "Meluas"},
        {"type": "ack", "id": "k1", "incident": 2},
        {"type": "unack", "id": "u1", "incident": 2, "note": "Salah"},
        {"type": "merge", "id": "m1", "incident": 2, "into": 1},
        {"type": "severity", "id": "v2", "incident": 1, "severity": "urgent", "note": "x"},
    ]
    path = tmp_path / "triase.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    assert opsmon(live, "import", str(path)) == EXIT_REFUSED
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "triase.jsonl: 9 lines: 8 accepted, 0 already imported, 1 rejected"
    assert "unknown severity 'urgent'" in out[0]
    state = live.state()
    assert state.incidents[1].owner == Actor(name="Rahmat", agency="Bawaslu") and state.incidents[1].snoozed_until is not None
    assert state.incidents[2].merged_into == 1 and state.incidents[1].reports == 2
