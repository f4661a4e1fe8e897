"""Every `opsmon` feeder against a real server on loopback: what a script sees
(stdout, one line on stderr, the exit code) and what the server then holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from opsmon.cli import main
from opsmon.core.exits import EXIT_REFUSED, EXIT_UNAUTHORIZED, EXIT_UNREACHABLE, EXIT_USAGE
from tests.helpers import ROOT
from tests.processes import into_a_closed_pipe
from tests.server_thread import ServerThread, opsmon


def report(
    live: ServerThread, capsys: pytest.CaptureFixture[str], regency: str = "6371", token: str = "officer", location: str = "Kec. Banjarmasin Utara, TPS 012"
) -> int:
    code = opsmon(
        live,
        "report",
        "--regency",
        regency,
        "--category",
        "logistik",
        "--severity",
        "high",
        "--title",
        "Kotak suara rusak",
        "--location",
        location,
        token=token,
    )
    assert code == 0
    return int(capsys.readouterr().out.strip())


def test_report_prints_the_new_incident_id_and_the_server_holds_it(live: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    first = report(live, capsys)
    second = report(live, capsys, regency="Banjarmasin", location="TPS 013")  # a name works as well as the code (another place: not a repeat)
    assert (first, second) == (1, 2)
    incident = live.state().incidents[1]
    assert (incident.regency, incident.category, incident.severity, incident.title) == ("6371", "logistik", "high", "Kotak suara rusak")
    assert incident.location == "Kec. Banjarmasin Utara, TPS 012"
    assert incident.reporter.agency == "Bawaslu"
    assert live.state().incidents[2].regency == "6371"


def test_stage_moves_the_regency_and_blocked_is_shown(live: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    assert opsmon(live, "stage", "--regency", "6303", "--stage", "rekap_ppk", "--done", "12") == 0
    assert "12/20" in capsys.readouterr().out
    row = live.state().stages[("6303", "rekap_ppk")]
    assert (row.done, row.total, row.status) == (12, 20, "in_progress")
    assert opsmon(live, "stage", "--regency", "6303", "--stage", "rekap_ppk", "--done", "13", "--blocked", "--note", "keberatan saksi di Kec. Gambut") == 0
    row = live.state().stages[("6303", "rekap_ppk")]
    assert (row.done, row.status, row.note) == (13, "blocked", "keberatan saksi di Kec. Gambut")


def test_stage_blocked_without_done_keeps_the_servers_count(live: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 7: `--blocked --note` needed a `--done`, so an officer had to guess the count."""
    assert opsmon(live, "stage", "--regency", "6372", "--stage", "rekap_ppk", "--done", "2") == 0
    capsys.readouterr()
    assert opsmon(live, "stage", "--regency", "6372", "--stage", "rekap_ppk", "--blocked", "--note", "Listrik padam") == 0
    assert capsys.readouterr().out.startswith("6372 Banjarbaru rekap_ppk: blocked, count kept (seq 2)")
    row = live.state().stages[("6372", "rekap_ppk")]
    assert (row.done, row.status, row.note) == (2, "blocked", "Listrik padam")
    # Nothing to say at all is a usage error, before anything is sent.
    assert opsmon(live, "stage", "--regency", "6372", "--stage", "rekap_ppk") == EXIT_USAGE
    assert "--done N, --blocked" in capsys.readouterr().err
    assert live.state().seq == 2


def test_the_province_plenary_is_one_stage_with_no_regency(live: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    assert opsmon(live, "stage", "--stage", "rekap_provinsi", "--done", "1") == 0
    assert capsys.readouterr().out.startswith("63 Kalimantan Selatan rekap_provinsi: 1/1 (seq 1)")
    row = live.state().stages[("63", "rekap_provinsi")]
    assert (row.regency, row.done, row.total, row.status) == ("63", 1, 1, "done")
    assert opsmon(live, "stage", "--regency", "6371", "--stage", "rekap_provinsi", "--done", "1") == EXIT_USAGE
    assert "one plenary for the whole province" in capsys.readouterr().err
    assert opsmon(live, "stage", "--stage", "rekap_ppk", "--done", "1") == EXIT_USAGE
    assert "counted per regency" in capsys.readouterr().err
    assert opsmon(live, "stage", "--stage", "rekap_provinsi", "--done", "2") == EXIT_USAGE
    # A token scoped to regencies may not close the province's plenary.
    assert opsmon(live, "stage", "--stage", "rekap_provinsi", "--done", "0", token="bjm") == EXIT_REFUSED
    assert "forbidden" in capsys.readouterr().err
    assert live.state().seq == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["report", "--regency", "9999", "--category", "logistik", "--severity", "high", "--title", "x"], "unknown regency '9999'"),
        (["report", "--regency", "6371", "--category", "banjir", "--severity", "high", "--title", "x"], "unknown category 'banjir'"),
        (["report", "--regency", "6371", "--category", "logistik", "--severity", "urgent", "--title", "x"], "unknown severity 'urgent'"),
        (["stage", "--regency", "6303", "--stage", "rekap_desa", "--done", "1"], "unknown stage 'rekap_desa'"),
        (["stage", "--regency", "6303", "--stage", "rekap_ppk", "--done", "21"], "done 21 is more than the 20 kecamatan that Banjar counts to"),
    ],
)
def test_values_the_config_does_not_know_are_refused_locally_with_what_is_known(
    live: ServerThread, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    assert opsmon(live, *args) == EXIT_USAGE
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1
    assert live.state().seq == 0  # nothing reached the server


def test_unknown_regency_message_lists_the_known_ones(live: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    opsmon(live, "stage", "--regency", "Martapura", "--stage", "rekap_ppk", "--done", "1")
    assert "6371 Banjarmasin" in capsys.readouterr().err


def test_ack_escalate_note_resolve_reopen_walk_an_incident_through_its_life(live: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    incident = str(report(live, capsys))
    assert opsmon(live, "ack", incident, token="polisi") == 0
    assert "acknowledged" in capsys.readouterr().out
    assert opsmon(live, "escalate", incident, "--note", "perlu Polres") == 0
    assert opsmon(live, "note", incident, "--text", "Kotak pengganti dikirim dari gudang KPU") == 0
    assert opsmon(live, "resolve", incident, "--note", "Kotak diganti, rekap lanjut") == 0
    capsys.readouterr()
    state = live.state().incidents[1]
    assert state.status == "resolved" and state.level == 1 and state.acknowledged_by.agency == "Polri"
    assert [n.text for n in state.notes if n.kind == "note"] == ["Kotak pengganti dikirim dari gudang KPU"]
    assert opsmon(live, "reopen", incident, "--note", "Kotak kedua juga rusak") == 0
    assert live.state().incidents[1].status == "open"


def test_refusal_by_the_server_gives_its_reason_and_exit_3(live: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    incident = str(report(live, capsys))
    assert opsmon(live, "ack", incident) == 0
    capsys.readouterr()
    assert opsmon(live, "ack", incident, token="polisi") == EXIT_REFUSED
    err = capsys.readouterr().err
    assert "conflict" in err and "already acknowledged by Bawaslu/officer" in err and err.count("\n") == 1
    assert opsmon(live, "ack", "99") == EXIT_REFUSED
    assert "no incident 99" in capsys.readouterr().err


def test_a_refusal_is_said_in_the_users_language_and_carries_its_reason(live: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    incident = str(report(live, capsys))
    assert opsmon(live, "ack", incident) == 0
    capsys.readouterr()
    assert opsmon(live, "--lang", "id", "ack", incident, token="polisi") == EXIT_REFUSED
    err = capsys.readouterr().err
    assert err.startswith("opsmon: galat: ditolak server (conflict): sudah di-ack oleh Bawaslu/officer ") and err.endswith(" WITA\n"), err
    assert "already" not in err and err.count("\n") == 1
    assert opsmon(live, "ack", incident, "--json", "--lang", "en", token="polisi") == EXIT_REFUSED
    body = json.loads(capsys.readouterr().out)
    assert body["reason"] == "already" and body["params"]["status"] == "acknowledged" and body["params"]["by"] == {"name": "officer", "agency": "Bawaslu"}


def test_a_hostile_title_is_refused_by_the_server_and_never_printed(live: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    title = "Kotak \x1b]0;PWNED\x07\x1b[2J\x1b[31mRED"
    assert opsmon(live, "report", "--regency", "6371", "--category", "logistik", "--severity", "high", "--title", title) == EXIT_REFUSED
    err = capsys.readouterr().err
    assert "control characters (U+001B, U+0007)" in err and "\x1b" not in err and "\x07" not in err
    assert live.state().seq == 0


def test_viewer_token_is_refused_with_the_servers_reason(live: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    assert opsmon(live, "stage", "--regency", "6303", "--stage", "rekap_ppk", "--done", "3", token="wall") == EXIT_REFUSED
    err = capsys.readouterr().err
    assert "forbidden" in err and "viewer token may only read" in err
    assert live.state().seq == 0 and ("6303", "rekap_ppk") not in live.state().stages  # untouched: still done 0 of the config's total


def test_scoped_officer_may_not_act_outside_their_regency(live: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    assert opsmon(live, "stage", "--regency", "6303", "--stage", "rekap_ppk", "--done", "3", token="bjm") == EXIT_REFUSED
    assert "forbidden" in capsys.readouterr().err
    assert opsmon(live, "stage", "--regency", "6371", "--stage", "rekap_ppk", "--done", "3", token="bjm") == 0


@pytest.mark.parametrize(
    "args",
    [
        ["report", "--regency", "6371", "--category", "logistik", "--severity", "high", "--title", "x"],
        ["stage", "--regency", "6303", "--stage", "rekap_ppk", "--done", "1"],
        ["ack", "1"],
        ["import", "laporan.jsonl"],
        ["simulate", "--duration", "1"],
        [],  # the dashboard
    ],
    ids=["report", "stage", "ack", "import", "simulate", "tui"],
)
@pytest.mark.parametrize("url", ["http://127.0.0.1:8765/ws", "https://posko.example/ws", "127.0.0.1:8765"])
def test_a_url_that_is_not_a_websocket_is_a_usage_error_not_unreachable(args: list[str], url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*args, "--url", url, "--token", "ops_x"] if args else ["--url", url, "--token", "ops_x"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "is not a websocket URL" in err and "ws://HOST:PORT/ws" in err and err.count("\n") == 1
    assert ("health page" in err) == url.startswith("http")


def test_bad_token_and_missing_token(live: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    assert opsmon(live, "ack", "1", token="ops_not-a-real-token") == EXIT_UNAUTHORIZED
    assert "unknown or revoked token" in capsys.readouterr().err
    env_token = os.environ.pop("OPSMON_TOKEN", None)
    try:
        assert main(["ack", "1", "--url", live.url]) == EXIT_USAGE
        assert "no token" in capsys.readouterr().err
    finally:
        if env_token is not None:
            os.environ["OPSMON_TOKEN"] = env_token


def test_unreachable_server_is_one_line_and_exit_4(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ack", "1", "--url", "ws://127.0.0.1:9/ws", "--token", "x"]) == EXIT_UNREACHABLE
    err = capsys.readouterr().err
    assert "nothing is listening at ws://127.0.0.1:9/ws" in err and err.count("\n") == 1


def test_json_output_for_success_and_refusal(live: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    code = opsmon(
        live,
        "report",
        "--json",
        "--regency",
        "6304",
        "--category",
        "bencana",
        "--severity",
        "critical",
        "--title",
        "Banjir di Kec. Alalak",
        "--command-id",
        "bk-1",
    )
    assert code == 0
    body = json.loads(capsys.readouterr().out)
    assert body == {"ok": True, "id": "bk-1", "seq": 1, "incident": 1}
    assert opsmon(live, "resolve", "1", "--note", "air surut", "--json", token="wall") == EXIT_REFUSED
    body = json.loads(capsys.readouterr().out)
    assert body["ok"] is False and body["code"] == "forbidden"


def test_same_command_id_twice_does_it_once(live: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["report", "--regency", "6371", "--category", "sirekap", "--severity", "medium", "--title", "Sirekap gagal unggah", "--command-id", "sirekap-1"]
    assert opsmon(live, *args) == 0
    assert opsmon(live, *args) == 0
    assert capsys.readouterr().out.split() == ["1", "1"]
    assert len(live.state().incidents) == 1


def test_env_variables_supply_url_and_token(live: ServerThread, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSMON_URL", live.url)
    monkeypatch.setenv("OPSMON_TOKEN", live.tokens["officer"])
    assert main(["stage", "--regency", "6372", "--stage", "penghitungan", "--done", "898"]) == 0
    assert live.state().stages[("6372", "penghitungan")].status == "done"


def test_a_real_subprocess_prints_one_line_and_no_traceback(live: ServerThread) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("OPSMON_TOKEN", None)
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "opsmon.cli",
            "report",
            "--url",
            live.url,
            "--token",
            live.tokens["officer"],
            "--regency",
            "6371",
            "--category",
            "keamanan",
            "--severity",
            "critical",
            "--title",
            "Kericuhan di PPK Banjarmasin Selatan",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=30,
    )
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "1\n", "")
    for args, code in [
        (["ack", "1", "--url", live.url, "--token", live.tokens["wall"]], EXIT_REFUSED),
        (["ack", "1", "--url", "ws://127.0.0.1:9/ws", "--token", "x"], EXIT_UNREACHABLE),
        (["ack", "one"], EXIT_USAGE),
    ]:
        refused = subprocess.run([sys.executable, "-m", "opsmon.cli", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=30)
        assert refused.returncode == code, refused.stderr
        assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr


def test_a_reader_that_stops_early_gets_no_error_line(live: ServerThread) -> None:
    # `opsmon show 1 --json | head -c 10`: the pipe's reader is gone before opsmon writes.
    assert opsmon(live, "report", "--regency", "6371", "--category", "keamanan", "--severity", "high", "--title", "Kericuhan") == 0
    shown = into_a_closed_pipe("opsmon.cli", "show", "1", "--json", "--url", live.url, "--token", live.tokens["officer"], timeout=30)
    assert shown.stderr == "" and shown.returncode == 1


# --- import -------------------------------------------------------------------------

JSONL = "\n".join(
    [
        '{"type": "report", "id": "bjm-1", "regency": "6371", "category": "keamanan", "severity": "high", "title": "Kericuhan di PPK Banjarmasin Selatan", "location": "PPK Kec. Banjarmasin Selatan"}',
        '{"type": "stage", "regency": "6303", "stage": "rekap_ppk", "done": 4}',
        "# a comment, then a blank line",
        "",
        '{"type": "report", "regency": "9999", "category": "logistik", "severity": "high", "title": "Kotak suara hilang"}',
        "not json at all",
        '{"type": "report", "incident": {"regency": "Barito Kuala", "category": "bencana", "severity": "critical", "title": "Banjir di Kec. Alalak"}}',
        '{"type": "ack", "incident": 1}',
        '{"type": "ack", "incident": 42}',
    ]
)

CSV = """kind,id,regency,category,severity,title,detail,location,stage,done,blocked,note
report,,6302,akses,medium,Perahu logistik tertahan ombak,Menunggu cuaca,Kec. Pulau Sembilan,,,,
stage,,Kotabaru,,,,,,rekap_ppk,3,yes,keberatan saksi
stage,,6302,,,,,,rekap_ppk,99,,
stage,kb-1,6302,,,,,,penghitungan,1026,,
"""


def test_import_jsonl_reports_each_line_and_a_second_run_imports_nothing(live: ServerThread, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "laporan.jsonl"
    path.write_text(JSONL, encoding="utf-8")
    assert opsmon(live, "import", str(path)) == EXIT_REFUSED  # some lines were rejected
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "laporan.jsonl: 7 lines: 4 accepted, 0 already imported, 3 rejected"
    assert out[0].startswith("laporan.jsonl:5: rejected (invalid): unknown regency '9999'")
    assert out[1].startswith("laporan.jsonl:6: rejected (invalid): not valid JSON")
    assert out[2] == "laporan.jsonl:9: rejected (not_found): no incident 42"
    state = live.state()
    assert [i.title for i in state.incidents.values()] == ["Kericuhan di PPK Banjarmasin Selatan", "Banjir di Kec. Alalak"]
    assert state.incidents[1].status == "acknowledged" and state.incidents[2].regency == "6304"
    seq = state.seq

    assert opsmon(live, "import", str(path)) == EXIT_REFUSED
    assert capsys.readouterr().out.splitlines()[-1] == "laporan.jsonl: 7 lines: 0 accepted, 4 already imported, 3 rejected"
    assert live.state().seq == seq  # nothing happened twice


def test_import_csv_with_json_summary(live: ServerThread, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "ppk.csv"
    path.write_text(CSV, encoding="utf-8")
    assert opsmon(live, "import", str(path), "--json") == EXIT_REFUSED
    body = json.loads(capsys.readouterr().out)
    assert (body["accepted"], body["already_imported"], body["rejected"]) == (3, 0, 1)
    assert body["errors"] == [{"line": 4, "code": "invalid", "message": "done 99 is more than the 22 kecamatan that Kotabaru counts to in rekap_ppk"}]
    state = live.state()
    row = state.stages[("6302", "rekap_ppk")]
    assert (row.done, row.status, row.note) == (3, "blocked", "keberatan saksi")
    assert state.stages[("6302", "penghitungan")].status == "done"
    assert state.incidents[1].detail == "Menunggu cuaca"
    assert opsmon(live, "import", str(path), "--json") == EXIT_REFUSED
    again = json.loads(capsys.readouterr().out)
    assert (again["accepted"], again["already_imported"], again["rejected"]) == (0, 3, 1)


MIXED_CSV = (
    "kind,id,regency,category,severity,title,detail,location,stage,done,blocked,note\r\n"
    "report,,6371,logistik,high,Kotak suara rusak,,TPS 012,,,,\r\n"
    'report,,6304,logistik,medium,"Kutipan tidak ditutup,,,,,,\r\n'  # line 3: the issue's line
    "stage,,6303,,,,,,rekap_ppk,12,,\r\n"  # line 4: was swallowed into line 3's title
    'report,,6303,politik_uang,medium,"Judul, dengan koma",,,,,,\r\n'
    "stage,,6372,,,,,,rekap_ppk,,yes,Listrik padam\r\n"  # blocked, count kept
    'report,,6371,logistik,high,"ab"c,,,,,,\r\n'  # line 7: text after a closing quote
    "report,,6372,bencana,low,Hujan\rderas,,,,,,\r\n"  # line 8: a lone CR is not a line break
    "report,,6372,bencana,low,Hujan deras,,,,,,\r\n"
)


def test_import_csv_rejects_a_broken_line_by_number_and_reads_every_other_line(live: ServerThread, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "campur.csv"
    path.write_bytes(MIXED_CSV.encode())
    assert opsmon(live, "import", str(path), "--json") == EXIT_REFUSED
    body = json.loads(capsys.readouterr().out)
    errors = {e["line"]: e for e in body["errors"]}
    assert sorted(errors) == [3, 7, 8]
    assert errors[3]["message"].startswith("unclosed quote") and errors[3]["code"] == "invalid"
    assert "not valid CSV" in errors[7]["message"]
    assert errors[8]["message"].startswith("a carriage return (U+000D) inside the line")
    assert (body["lines"], body["accepted"], body["rejected"]) == (8, 5, 3)
    state = live.state()
    assert [i.title for i in state.incidents.values()] == ["Kotak suara rusak", "Judul, dengan koma", "Hujan deras"]
    assert state.stages[("6303", "rekap_ppk")].done == 12
    row = state.stages[("6372", "rekap_ppk")]
    assert (row.status, row.note) == ("blocked", "Listrik padam")
    # The same file again: nothing twice, the same lines rejected.
    assert opsmon(live, "import", str(path)) == EXIT_REFUSED
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith('campur.csv:3: rejected (invalid): unclosed quote: a cell that opens with " must close')
    assert out[-1] == "campur.csv: 8 lines: 0 accepted, 5 already imported, 3 rejected"


MIXED_JSONL = "\n".join(
    [
        json.dumps({"type": "report", "regency": "6371", "category": "logistik", "severity": "high", "title": "Kotak suara rusak"}),
        '{"type": "report", "regency": "6304", "category": "logistik", "severity": "medium", "title": "Kutipan tidak ditutup}',  # line 2
        json.dumps({"type": "stage", "regency": "6303", "stage": "rekap_ppk", "done": 12}),
        # line 4: valid JSON holding a raw U+2028 and NEL: one line, refused by the server for both (a line separator fakes lines)
        '{"type": "report", "regency": "6371", "category": "logistik", "severity": "low", "title": "satu\u2028dua\u0085tiga"}',
        json.dumps({"type": "stage", "stage": "rekap_provinsi", "done": 1}),  # the province plenary: no regency
        json.dumps({"type": "stage", "regency": "6372", "stage": "rekap_ppk", "blocked": True, "note": "Listrik padam"}),
        json.dumps({"type": "stage", "regency": "6372", "stage": "rekap_ppk"}),  # line 7: says nothing
    ]
)


def test_import_jsonl_rejects_a_broken_line_by_number_and_reads_every_other_line(
    live: ServerThread, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "campur.jsonl"
    path.write_bytes(MIXED_JSONL.encode())
    assert opsmon(live, "import", str(path), "--json") == EXIT_REFUSED
    body = json.loads(capsys.readouterr().out)
    errors = {e["line"]: e["message"] for e in body["errors"]}
    assert sorted(errors) == [2, 4, 7]
    assert errors[2].startswith("not valid JSON")
    assert errors[4].startswith("field `incident.title` holds control characters (U+2028 LINE SEPARATOR, U+0085)")
    assert "needs `done`" in errors[7]
    assert (body["lines"], body["accepted"], body["rejected"]) == (7, 4, 3)
    state = live.state()
    assert state.stages[("6303", "rekap_ppk")].done == 12
    assert state.stages[("63", "rekap_provinsi")].status == "done"
    assert state.stages[("6372", "rekap_ppk")].status == "blocked"
    # A line the server refused carries its reason; local checks have none.
    server_refused = next(e for e in body["errors"] if e["line"] == 4)
    assert server_refused["reason"] == "control_character" and server_refused["params"] == {"field": "incident.title", "characters": ["U+2028", "U+0085"]}
    assert "reason" not in next(e for e in body["errors"] if e["line"] == 2)


def test_import_of_a_clean_file_exits_0_and_paces_itself_under_the_servers_rate_limit(
    live: ServerThread, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # More lines than the server's burst allowance (4 x 50 commands a second):
    # none may come back rate_limited.
    lines = [json.dumps({"type": "stage", "regency": "6371", "stage": "penghitungan", "done": n}) for n in range(1, 261)]
    path = tmp_path / "hitung.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    assert opsmon(live, "import", str(path)) == 0
    assert capsys.readouterr().out.strip() == "hitung.jsonl: 260 lines: 260 accepted, 0 already imported, 0 rejected"
    assert live.state().stages[("6371", "penghitungan")].done == 260  # in file order


def test_import_refusals_missing_file_bad_header_viewer(live: ServerThread, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert opsmon(live, "import", str(tmp_path / "missing.jsonl")) == EXIT_USAGE
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("jenis,wilayah\nreport,6371\n", encoding="utf-8")
    assert opsmon(live, "import", str(bad)) == EXIT_USAGE
    assert "bad.csv: line 1: the header must name columns" in capsys.readouterr().err
    good = tmp_path / "one.jsonl"
    good.write_text('{"type": "stage", "regency": "6371", "stage": "rekap_ppk", "done": 1}\n', encoding="utf-8")
    assert opsmon(live, "import", str(good), token="wall") == EXIT_REFUSED
    assert "one.jsonl:1: rejected (forbidden): this viewer token may only read" in capsys.readouterr().out


def test_connection_options_before_the_command_work_too(live: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", live.url, "--token", live.tokens["officer"], "stage", "--regency", "6372", "--stage", "rekap_kabkota", "--done", "1"]) == 0
    assert live.state().stages[("6372", "rekap_kabkota")].status == "done"


def test_dashboard_without_a_token_says_how_to_get_one(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPSMON_TOKEN", raising=False)
    assert main([]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "no token" in err and "opsmon-server token add" in err


def test_the_feeder_pages_jsonl_examples_import_and_name_every_verb() -> None:
    """docs/feeders.md: every verb's JSONL fields (`incident`, not `id`), each example a valid line."""
    from opsmon.feeds.importer import INCIDENT_VERBS, parse_jsonl
    from tests.helpers import province

    page = (ROOT / "docs" / "feeders.md").read_text(encoding="utf-8")
    block = page.split("```jsonl\n", 1)[1].split("```", 1)[0]
    lines = parse_jsonl(block, "docs/feeders.md", province())
    assert [line.error for line in lines if line.error] == []
    types = {json.loads(text)["type"] for text in block.splitlines()}
    assert types == {"report", "stage", *INCIDENT_VERBS}
    for verb in ("report", "stage", *INCIDENT_VERBS):
        assert f"| `{verb}` |" in page, verb
    ack = next(line.command for line in lines if line.command is not None and type(line.command).__name__ == "Ack")
    assert ack.incident == 17 and ack.id.startswith("imp-")  # `incident` names the incident; `id` is the command's
