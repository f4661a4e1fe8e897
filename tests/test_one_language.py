"""One language on an Indonesian screen (issue 21 item 12): the timeline's severities,
the palette's "nothing found", connection failures, refusals by regency name, `opsmon
list/show --lang id`, and `opsmon-server token add --regency "Tanah Bumbu"`."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from opsmon.client.failures import classify_failure
from opsmon.core.exits import EXIT_OK
from opsmon.core.i18n import translate_failure
from opsmon.core.protocol import SeverityChange
from tests.helpers import FakeClock, Running
from tests.processes import opsmon_server
from tests.server_thread import ServerThread, opsmon
from tests.tui_helpers import act, client, queue_of, report, screen_lines, settle, until


async def test_the_timeline_says_the_severity_in_the_screens_language(server: Running, clock: FakeClock) -> None:
    [incident] = await report(server, clock, [("6310", "low", "Listrik padam di TPS 3")])
    await act(server, "admin", SeverityChange(id="sev", incident=incident, severity="high", note="meluas ke desa sebelah"))
    async with client(server, clock, 1) as (app, pilot):
        await pilot.press("enter")
        await until(pilot, lambda: any("tingkat diubah" in line for line in screen_lines(app)))
        await settle(pilot)
        text = "\n".join(screen_lines(app))
        assert "tingkat diubah: Tinggi: meluas ke desa sebelah" in text, text
        assert ": high" not in text and ": low" not in text


async def test_the_palette_says_nothing_matched_in_indonesian(server: Running, clock: FakeClock) -> None:
    await report(server, clock, [("6310", "low", "Listrik padam")])
    async with client(server, clock, 1) as (app, pilot):
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*"zzqxw")
        await until(pilot, lambda: any("Tidak ada yang cocok" in line for line in screen_lines(app)))
        assert not any("No matches found" in line for line in screen_lines(app))


def test_a_reset_connection_is_said_in_indonesian() -> None:
    reset = ConnectionResetError(errno.ECONNRESET, os.strerror(errno.ECONNRESET))
    reason, params = classify_failure("ws://10.0.0.5:8765/ws", reset)
    said = translate_failure(reason, params, str(reset), "id")
    assert said == "tidak dapat menjangkau ws://10.0.0.5:8765/ws: sambungan diputus dari seberang"
    assert "reset by peer" in translate_failure(reason, params, str(reset), "en").lower()
    # An error the catalog does not name keeps the OS's words rather than saying nothing.
    odd = OSError(errno.EMFILE, os.strerror(errno.EMFILE))
    reason, params = classify_failure("ws://10.0.0.5:8765/ws", odd)
    assert os.strerror(errno.EMFILE) in translate_failure(reason, params, str(odd), "id")


async def test_a_refusal_names_regencies_not_codes(server: Running, clock: FakeClock) -> None:
    [incident] = await report(server, clock, [("6310", "high", "Kotak suara rusak")])
    # Focused on the whole province (--regency all): a Banjarmasin token sees the Tanah Bumbu incident.
    async with client(server, clock, 1, token="bjm", regencies=()) as (app, pilot):
        assert queue_of(app).selected_id == incident
        await pilot.press("a")  # a Banjarmasin token, a Tanah Bumbu incident: refused
        await until(pilot, lambda: any("bukan" in n for n in app.notices))
        [refusal] = [n for n in app.notices if "bukan" in n]
        assert "wilayah Banjarmasin, bukan Tanah Bumbu" in refusal and "6310" not in refusal and "6371" not in refusal, refusal


def test_list_and_show_speak_indonesian_when_asked(live: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    code = opsmon(live, "report", "--regency", "Tanah Bumbu", "--category", "logistik", "--severity", "high", "--title", "Kotak suara rusak")
    assert code == 0
    incident = capsys.readouterr().out.strip()
    assert opsmon(live, "snooze", incident, "--minutes", "30", "--note", "Menunggu PLN") == 0
    capsys.readouterr()
    assert opsmon(live, "list", "--lang", "id") == EXIT_OK
    head, row = capsys.readouterr().out.splitlines()[:2]
    assert head.split()[:4] == ["NO", "STATUS", "TINGKAT", "WILAYAH"], head
    assert "tunda>" in row and "Tinggi" in row and "Tanah Bumbu" in row and "high" not in row, row
    assert opsmon(live, "show", incident, "--lang", "id") == EXIT_OK
    out = capsys.readouterr().out
    assert "tingkat Tinggi" in out and "riwayat:" in out and "kategori" in out
    assert " ditunda " in out and "sampai " in out and "until" not in out, out
    # Without --lang: English, as before.
    assert opsmon(live, "show", incident) == EXIT_OK
    out = capsys.readouterr().out
    assert "severity high" in out and "timeline:" in out


def test_token_add_takes_regency_names_like_the_feeders(tmp_path: Path) -> None:
    db = str(tmp_path / "opsmon.db")
    done = opsmon_server("token", "add", "Tanbu", "--role", "officer", "--agency", "Polri", "--regency", "Tanah Bumbu", "--regency", "6301", "--db", db)
    assert done.returncode == 0, done.stderr
    assert "6310 Tanah Bumbu, 6301 Tanah Laut" in done.stdout
    listed = opsmon_server("token", "list", "--db", db)
    assert "6310,6301" in listed.stdout, listed.stdout
    bad = opsmon_server("token", "add", "Salah", "--role", "officer", "--agency", "Polri", "--regency", "Tanah Bumbuu", "--db", db)
    assert bad.returncode != 0
    [line] = bad.stderr.strip().splitlines()
    assert "'Tanah Bumbuu'" in line and "6310 Tanah Bumbu" in line and "Traceback" not in bad.stderr
    again = opsmon_server("token", "list", "--db", db)
    assert "Salah" not in again.stdout  # nothing changed
