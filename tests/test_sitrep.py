"""The situation report: built from a fixed night, rendered in every format, compared to golden files.

Regenerate the golden files (after checking the new text is right) with
`OPSMON_UPDATE_GOLDEN=1 python -m pytest tests/test_sitrep.py`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from opsmon.core.clock import format_ts
from opsmon.core.domain import decide
from opsmon.core.fold import apply
from opsmon.core.geo import province_shape
from opsmon.core.protocol import Event, ExerciseInfo, IncidentDraft, Note, Report, Resolve, StageUpdate
from opsmon.core.state import Rules
from opsmon.reports.sitrep import Entry, Ledger, LedgerMoved, build, parse_since, render, render_json, render_md, render_text
from opsmon.reports.words import number
from opsmon.training.sample_night import BUDI, NOW, START
from tests.helpers import province
from tests.nights import night_doc, sitrep_night

GOLDEN = Path(__file__).with_name("golden")


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("OPSMON_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from the golden file (OPSMON_UPDATE_GOLDEN=1 to rewrite it after checking)"


def test_text_matches_the_golden_file() -> None:
    golden("sitrep-night.txt", render_text(night_doc(), "id"))


def test_text_in_english_matches_the_golden_file() -> None:
    golden("sitrep-night.en.txt", render_text(night_doc(), "en"))


def test_markdown_matches_the_golden_file() -> None:
    golden("sitrep-night.md", render_md(night_doc(), "id"))


def test_json_matches_the_golden_file() -> None:
    golden("sitrep-night.json", render_json(night_doc()))


def test_what_the_report_says_about_the_night() -> None:
    doc = night_doc()
    progress = doc["progress"]
    assert progress["tps"]["total"] == 13584 and 0 < progress["tps"]["done"] < 13584
    assert progress["kecamatan"]["total"] == 156
    assert progress["regency_plenaries"] == {"stage": "rekap_kabkota", "done": 1, "total": 13}  # Banjarbaru
    assert progress["province_plenary"]["done"] is False
    hss = next(r for r in doc["regencies"] if r["code"] == "6306")
    assert hss["blocked"] and hss["note"] == "Banjir"
    incidents = doc["incidents"]
    assert incidents["reported"] == 9  # the repeat report is folded, not counted twice
    assert incidents["duplicates_folded"] == 1
    urgent = {i["id"]: i for i in incidents["open_urgent"]}
    assert list(urgent) == [3, 6, 1, 5]  # critical first, then high, oldest first; #9 is resolved, #2 medium
    assert urgent[3]["owner"] == "Polri/Budi" and urgent[6]["reports"] == 2
    assert urgent[3]["level"] == 1 and urgent[3]["age_minutes"] == 35
    assert {e["id"] for e in incidents["escalations"]} == {3, 5, 6}  # unacknowledged past their deadline at 21:29
    assert all(e["by"] == "system" for e in incidents["escalations"])
    assert [(r["id"], r["by"]) for r in incidents["resolved"]] == [(9, "KPU/Siti")]
    assert sum(h["critical"] for h in doc["hourly"]) == 2


def test_a_snoozed_incident_says_tunda_with_its_wake_time_in_every_format() -> None:
    doc = night_doc()
    urgent = {i["id"]: i for i in doc["incidents"]["open_urgent"]}
    assert urgent[6]["snoozed_until"] == "2024-02-14T13:59:00.000Z" and urgent[5]["snoozed_until"] is None
    text = render_text(doc, "id").splitlines()
    assert "#6 Kritis · Kotabaru · 17m · TUNDA s.d. 21:59 WITA · eskalasi 1" in text
    assert "#5 Tinggi · HSS · 23m · BARU · eskalasi 1" in text
    assert any(line.startswith("#6 ") and "SNOOZED until 21:59 WITA" in line for line in render_text(doc, "en").splitlines())
    assert "TUNDA s.d. 21:59 WITA" in render_md(doc, "id")
    pdfium = pytest.importorskip("pypdfium2", reason="pypdfium2 is in the test extra: pip install -e '.[test]'")
    pdf = pdfium.PdfDocument(render(doc, "pdf", "id"))
    assert "TUNDA s.d. 21:59 WITA" in "".join(page.get_textpage().get_text_range() for page in pdf)


def test_a_blocked_stage_shows_even_when_an_earlier_stage_is_not_done() -> None:
    # Kotabaru's PPK recap blocked while its voting is not all done: the report
    # names the block (as the panels do), not only the earlier stage's count.
    welcome, state, events = sitrep_night()
    config = province()
    rules = Rules.from_config(config)
    at = START + timedelta(minutes=50)
    decision = decide(state, StageUpdate(id="kb-blocked", regency="6302", stage="rekap_ppk", blocked=True, note="Listrik padam"), BUDI, None, at, rules)
    events.append(Event.of(len(events) + 1, format_ts(at), BUDI, decision.payload))
    apply(state, events[-1])
    assert state.stages[("6302", "pemungutan")].status != "done"
    doc = build(welcome.config, state, events, now=NOW, since=None, number=4, by="Polri/Budi", post="Posko")
    kotabaru = next(r for r in doc["regencies"] if r["code"] == "6302")
    assert kotabaru["stage"] == "rekap_ppk" and kotabaru["blocked"] and kotabaru["note"] == "Listrik padam"
    text = render_text(doc, "id")
    assert "TERHAMBAT (Listrik padam)" in next(line for line in text.splitlines() if line.startswith("Kotabaru:"))


def test_whatsapp_lines_are_short_and_headings_bold() -> None:
    text = render_text(night_doc(), "id")
    lines = text.splitlines()
    assert lines[0] == "*LAPORAN SITUASI No. 3*"
    assert "*Kemajuan*" in lines and "TPS dihitung: 9.705 dari 13.584 (71,4%)" in lines
    assert "|" not in text  # no tables on a phone
    long = [line for line in lines if len(line) > 64 and not line.startswith("Catatan")]  # a note is as long as its writer made it
    assert long == []


def test_since_cuts_the_period() -> None:
    welcome, state, events = sitrep_night()
    later = build(welcome.config, state, events, now=NOW, since=START + timedelta(minutes=30), number=4, by="x", post="p")
    assert later["incidents"]["reported"] == 4  # reported at +33, +38, +44, +46 minutes
    assert later["incidents"]["resolved"] == [r for r in later["incidents"]["resolved"] if r["id"] == 9]


def test_numbers_in_each_language() -> None:
    assert (number(13584, "id"), number(71.43, "id", 1)) == ("13.584", "71,4")
    assert (number(13584, "en"), number(71.43, "en", 1)) == ("13,584", "71.4")


def test_parse_since() -> None:
    tz = province().province.tz
    assert parse_since("21:00", NOW, tz) == NOW - timedelta(minutes=30)  # 21:30 WITA now
    assert parse_since("22:00", NOW, tz) == NOW - timedelta(hours=23, minutes=30)  # yesterday's
    assert parse_since("2024-02-14 20:00", NOW, tz) == NOW - timedelta(hours=1, minutes=30)
    assert parse_since("2024-02-14T12:00:00Z", NOW, tz) == NOW - timedelta(hours=1, minutes=30)
    with pytest.raises(ValueError, match="'tadi' is not a time"):
        parse_since("tadi", NOW, tz)


def test_ledger_numbers_on_and_remembers_the_seq(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "sitrep")
    assert ledger.last() is None and ledger.next_number() == 1
    doc = night_doc()  # No. 3: a report that is not the next one is refused, and nothing is written
    with pytest.raises(LedgerMoved, match="No. 3 was taken"):
        ledger.write(doc, {"text": render(doc, "text")}, seq=40, epoch="e1")
    with pytest.raises(ValueError, match="a preview is not saved"):
        ledger.write({**doc, "number": None}, {"text": render(doc, "text")}, seq=40, epoch="e1")
    assert ledger.last() is None and not list((tmp_path / "sitrep").glob("sitrep-*"))
    for n in (1, 2):
        ledger.record(Entry(n, doc["since"], 10 * n, "e1", "opsmon-server"))
    paths = ledger.write(doc, {"text": render(doc, "text"), "json": render(doc, "json")}, seq=42, epoch="e1")
    assert [p.name for p in paths] == ["sitrep-0003-20240214-2130.txt", "sitrep-0003-20240214-2130.json"]
    assert json.loads(paths[1].read_text(encoding="utf-8"))["number"] == 3
    last = ledger.last()
    assert last is not None and (last.number, last.seq, last.epoch) == (3, 42, "e1")
    assert ledger.next_number() == 4
    with ledger.path.open("a", encoding="utf-8") as out:
        out.write('{"number": 9, "at": "torn')  # a crash mid-line
    assert ledger.next_number() == 4


def test_two_saves_at_the_same_moment_never_share_a_number(tmp_path: Path) -> None:
    """The server's clock and an officer's `--save` into one folder: the number is taken
    under the ledger's lock, so one of two reports built as No. 1 is refused (and built again)."""
    import threading

    ledger = Ledger(tmp_path / "sitrep")
    doc = {**night_doc(), "number": 1}
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def save(name: str) -> None:
        start.wait()
        try:
            Ledger(tmp_path / "sitrep").write({**doc, "by": name}, {"text": render(doc, "text"), "pdf": render(doc, "pdf")}, seq=5, epoch="e1")
            outcomes.append("saved")
        except LedgerMoved:
            outcomes.append("moved")

    threads = [threading.Thread(target=save, args=(name,)) for name in ("opsmon-server", "Bawaslu/Rahmat")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["moved", "saved"]
    assert [line.count('"number": 1') for line in ledger.path.read_text(encoding="utf-8").splitlines()] == [1]
    assert ledger.next_number() == 2


def test_pdf_first_page_is_an_a4_with_the_report_on_it() -> None:
    pdfium = pytest.importorskip("pypdfium2", reason="pypdfium2 is in the test extra: pip install -e '.[test]'")
    doc = night_doc()
    data = render(doc, "pdf", "id", shape=province_shape(province().province.boundaries))
    assert data.startswith(b"%PDF-")
    pdf = pdfium.PdfDocument(data)
    page = pdf[0]
    width, height = page.get_size()
    assert (round(width), round(height)) == (595, 842)  # A4 in points
    text = page.get_textpage().get_text_range()
    assert "LAPORAN SITUASI No. 3" in text and "13.584" in text
    image = page.render(scale=1).to_pil().convert("L")
    histogram = image.histogram()
    dark = sum(histogram[:128])
    assert dark > 0.01 * image.width * image.height  # ink on the page, not a blank sheet
    # The map and the chart are drawn in colour: the page is not only black text.
    colours = page.render(scale=1).to_pil().convert("RGB").getcolors(maxcolors=1 << 20) or []
    assert any(r > 150 and g < 90 and b < 90 for _, (r, g, b) in colours)  # the red of a critical regency or bar
    assert len(pdf) >= 1


# --- from a live server ------------------------------------------------------------


def post_config(tmp_path: Path) -> Path:
    from tests.helpers import CONFIG_PATH

    text = CONFIG_PATH.read_text(encoding="utf-8").replace('folder = "sitrep"', f'folder = "{tmp_path / "reports"}"')
    path = tmp_path / "post.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_sitrep_from_a_live_server_in_every_format(live: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from opsmon.cli import main

    config = post_config(tmp_path)

    def opsmon(*args: str, token: str = "officer") -> int:
        return main([*args, "--url", live.url, "--token", live.tokens[token], "--config", str(config)])

    assert opsmon("report", "--regency", "6310", "--category", "keamanan", "--severity", "critical", "--title", "Kericuhan di PPK") == 0
    assert opsmon("report", "--regency", "6371", "--category", "logistik", "--severity", "high", "--title", "Kotak suara rusak") == 0
    assert opsmon("escalate", "1", "--note", "Butuh Polres") == 0
    assert opsmon("resolve", "2", "--note", "Kotak diganti") == 0
    assert opsmon("stage", "--regency", "6306", "--stage", "logistik", "--done", "10", "--blocked", "--note", "Banjir") == 0
    capsys.readouterr()

    assert opsmon("sitrep", "--format", "json", token="wall") == 0  # a viewer may preview one: it only reads
    doc = json.loads(capsys.readouterr().out)
    assert doc["number"] is None and doc["preview"] is True and doc["since"] is None and doc["by"] == "KPU/wall"
    assert doc["incidents"]["reported"] == 2
    assert [(e["id"], e["level"], e["note"]) for e in doc["incidents"]["escalations"]] == [(1, 1, "Butuh Polres")]
    assert [(e["id"], e["level"], e["status"], e["notes"]) for e in doc["incidents"]["escalated"]] == [(1, 1, "open", ["Butuh Polres"])]
    assert [(r["id"], r["by"]) for r in doc["incidents"]["resolved"]] == [(2, "Bawaslu/officer")]
    assert [i["id"] for i in doc["incidents"]["open_urgent"]] == [1]
    hss = next(r for r in doc["regencies"] if r["code"] == "6306")
    assert hss["blocked"] and hss["note"] == "Banjir" and hss["condition"] == "blocked"
    assert not (tmp_path / "reports").exists()  # a preview takes no number: nothing recorded

    assert opsmon("sitrep", "--save") == 0
    text = capsys.readouterr().out
    assert text.startswith("*LAPORAN SITUASI No. 1*\n") and "*Insiden dilaporkan: 2*" in text
    assert "Dibuat oleh" not in text and "officer" not in text.split("*Per kabupaten/kota*")[0]  # the post's paper, not a token's name
    saved = sorted(p.suffix for p in (tmp_path / "reports").glob("sitrep-0001-*"))
    assert saved == [".json", ".md", ".pdf", ".txt"]  # one number, every configured format

    # The next one is a preview until saved, and covers only what happened since the saved one.
    assert opsmon("report", "--regency", "6303", "--category", "politik_uang", "--severity", "medium", "--title", "Dugaan politik uang") == 0
    capsys.readouterr()
    assert opsmon("sitrep") == 0
    text = capsys.readouterr().out
    assert text.startswith("*PRATINJAU LAPORAN SITUASI (belum bernomor)*\n")
    assert "*Insiden dilaporkan: 1*" in text and "*Insiden tereskalasi: 0*" in text
    assert "HSS: Logistik 10/" in text and "TERHAMBAT (Banjir)" in text

    assert opsmon("sitrep", "--format", "md", "--since", "2000-01-01T00:00:00Z", "-o", str(tmp_path / "r.md"), "--lang", "en") == 0
    md = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert md.startswith("# SITUATION REPORT PREVIEW (not numbered)\n") and "## Incidents reported: 3" in md
    assert opsmon("sitrep", "--format", "pdf", "-o", str(tmp_path / "r.pdf")) == 0
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF-")
    assert Ledger(tmp_path / "reports").next_number() == 2
    assert opsmon("sitrep", "--save", "--format", "md") == 2
    assert "--save writes the next numbered report" in capsys.readouterr().err


def test_the_report_map_says_eskalasi_only_while_an_escalated_incident_waits_for_an_ack(live: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from opsmon.cli import main

    config = post_config(tmp_path)

    def opsmon(*args: str) -> int:
        return main([*args, "--url", live.url, "--token", live.tokens["officer"], "--config", str(config)])

    def conditions() -> dict[str, str]:
        capsys.readouterr()
        assert opsmon("sitrep", "--format", "json") == 0
        return {r["code"]: r["condition"] for r in json.loads(capsys.readouterr().out)["regencies"]}

    assert opsmon("report", "--regency", "6371", "--category", "logistik", "--severity", "high", "--title", "Kotak suara basah") == 0
    assert opsmon("report", "--regency", "6372", "--category", "logistik", "--severity", "high", "--title", "Surat suara kurang") == 0
    assert opsmon("escalate", "1", "--note", "Belum ada jawaban") == 0
    assert opsmon("escalate", "2", "--note", "Belum ada jawaban") == 0
    assert opsmon("ack", "2") == 0
    found = conditions()
    assert found["6371"] == "escalated"  # still waiting for an ack
    assert found["6372"] == "incidents"  # acknowledged: its level stays in the record, nobody is chased


def _doc_commands() -> list[list[str]]:
    """The `opsmon sitrep` lines of docs/sitrep.md's first block, as argument lists."""
    page = (Path(__file__).parent.parent / "docs" / "sitrep.md").read_text(encoding="utf-8")
    block = page.split("```sh\n", 1)[1].split("```", 1)[0]
    return [shlex.split(line.split("#", 1)[0])[1:] for line in block.splitlines() if line.startswith("opsmon sitrep")]  # without "opsmon"


def test_the_documented_commands_give_one_number_per_saved_report_and_periods_that_tile(live: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 20 item 8: the page's commands, in order, twice over, with an incident before
    each: previews take no number and do not move the period; each saved report has one
    number in every format, and the saved reports' periods tile (no gap, no overlap)."""
    from opsmon.cli import main

    config = post_config(tmp_path)
    commands = _doc_commands()
    assert sum("--save" in c for c in commands) == 1 and len(commands) >= 4
    reported = 0
    for round_ in range(2):
        for n, command in enumerate(commands):
            args = [str(tmp_path / f"{round_}-{n}-{a}") if a.startswith("lapsit.") else a for a in command]
            title = f"Insiden {round_}-{n}"
            base = ["--url", live.url, "--token", live.tokens["officer"], "--config", str(config)]
            assert main(["report", "--regency", "6371", "--category", "logistik", "--severity", "low", "--title", title, *base]) == 0
            reported += 1
            assert main([*args, *base]) == 0, command
    capsys.readouterr()
    folder = tmp_path / "reports"
    ledger = [json.loads(line) for line in (folder / "ledger.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [entry["number"] for entry in ledger] == [1, 2]  # two saves, two numbers: the previews took none
    docs = [json.loads(next(folder.glob(f"sitrep-{n:04d}-*.json")).read_text(encoding="utf-8")) for n in (1, 2)]
    for doc in docs:
        stems = sorted(p.name for p in folder.glob(f"sitrep-{doc['number']:04d}-*"))
        assert [p.rsplit(".", 1)[1] for p in stems] == ["json", "md", "pdf", "txt"]
        md = next(folder.glob(f"sitrep-{doc['number']:04d}-*.md")).read_text(encoding="utf-8")
        assert md.startswith(f"# LAPORAN SITUASI No. {doc['number']}\n") and f"## Insiden dilaporkan: {doc['incidents']['reported']}" in md
    assert docs[0]["since"] is None and docs[1]["since"] == docs[0]["until"]  # no gap, no overlap
    save_at = next(n for n, c in enumerate(_doc_commands()) if "--save" in c)
    per_round = len(commands)
    # The first saved report has every incident up to its save; the second, every one after it up to its own.
    assert docs[0]["incidents"]["reported"] == save_at + 1
    assert docs[1]["incidents"]["reported"] == per_round
    assert docs[0]["incidents"]["reported"] + docs[1]["incidents"]["reported"] == reported - (per_round - save_at - 1)


def test_sitrep_bad_arguments_are_one_line(live: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from opsmon.cli import main

    config = str(post_config(tmp_path))
    base = ["--url", live.url, "--token", live.tokens["officer"], "--config", config]
    assert main(["sitrep", "--since", "kemarin", *base]) == 2
    assert (
        capsys.readouterr().err.strip() == "opsmon: error: --since: 'kemarin' is not a time: give HH:MM (today, WITA), 'YYYY-MM-DD HH:MM' or an RFC 3339 time"
    )
    assert main(["sitrep", "--format", "pdf", *base]) == 2
    assert "give -o FILE.pdf" in capsys.readouterr().err
    assert main(["sitrep", "--url", "ws://127.0.0.1:9/ws", "--token", "x", "--config", config]) == 4
    assert not (tmp_path / "reports").exists()  # nothing recorded for a report that was not made
    (tmp_path / "reports").write_text("not a folder", encoding="utf-8")  # [sitrep] folder is a file
    capsys.readouterr()
    assert main(["sitrep", "--save", *base]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"opsmon: error: [sitrep] folder {tmp_path / 'reports'}: cannot read ledger.jsonl (Not a directory)")
    assert (tmp_path / "reports").read_text(encoding="utf-8") == "not a folder"


async def test_the_server_writes_a_report_into_the_folder_on_its_own(tmp_path: Path) -> None:
    from msgspec.structs import replace

    from opsmon.core.config import load_config
    from tests.helpers import FakeClock, running_server

    config = load_config(post_config(tmp_path))
    config = replace(config, sitrep=replace(config.sitrep, every_minutes=60, formats=("text", "json", "pdf")))
    clock = FakeClock()
    async with running_server(tmp_path, clock=clock, config=config) as running:
        assert "sitreps" in {t.get_name() for t in running.server._tasks}  # on the clock, every hour
        first = await running.server.sitreps.write()
        assert [p.suffix for p in first] == [".txt", ".json", ".pdf"]
        assert first[0].name == "sitrep-0001-20240214-2100.txt"  # 21:00 WITA
        assert first[0].read_text(encoding="utf-8").startswith("*LAPORAN SITUASI No. 1*\n")
        assert first[2].read_bytes().startswith(b"%PDF-")
        clock.advance(hours=1)
        second = await running.server.sitreps.write()
        assert second[0].name == "sitrep-0002-20240214-2200.txt"
        assert "Periode: 14/02/2024 21:00 s.d. 22:00 WITA" in second[0].read_text(encoding="utf-8")
    off = load_config(post_config(tmp_path))
    assert off.sitrep.every_minutes == 0  # off by default
    async with running_server(tmp_path, clock=clock, config=off, db_name="off.db") as running:
        assert "sitreps" not in {t.get_name() for t in running.server._tasks}


async def test_the_server_numbers_every_report_of_the_post_wherever_it_is_saved(tmp_path: Path) -> None:
    """Issue 20: the server's hourly report and two officers' `opsmon sitrep --save` on
    their own laptops (each its own folder) number on from one another, and their
    periods tile the log: no number twice, no gap, no overlap."""
    import asyncio

    from msgspec.structs import replace

    from opsmon.cli import main
    from opsmon.core.config import load_config
    from tests.helpers import FakeClock, running_server

    laptops = {name: tmp_path / name for name in ("laptop-a", "laptop-b")}
    configs = {}
    for name, folder in laptops.items():
        folder.mkdir()
        configs[name] = post_config(folder)
    post = load_config(post_config(tmp_path))
    post = replace(post, sitrep=replace(post.sitrep, formats=("text", "json")))
    clock = FakeClock()
    async with running_server(tmp_path, clock=clock, config=post) as running:

        def opsmon(*args: str, laptop: str = "laptop-a", token: str = "officer") -> int:
            return main([*args, "--url", running.url, "--token", running.tokens[token], "--config", str(configs[laptop])])

        async def report(title: str) -> None:
            clock.advance(minutes=20)  # time passes between a report's numbering and the next incident
            code = await asyncio.to_thread(opsmon, "report", "--regency", "6371", "--category", "logistik", "--severity", "low", "--title", title)
            assert code == 0

        await report("Satu")
        assert await asyncio.to_thread(opsmon, "sitrep", "--save", laptop="laptop-a") == 0  # No. 1
        await report("Dua")
        await report("Tiga")
        server_files = await running.server.sitreps.write()  # No. 2: the server's clock
        await report("Empat")
        assert await asyncio.to_thread(opsmon, "sitrep", "--save", laptop="laptop-b", token="polisi") == 0  # No. 3
        assert await asyncio.to_thread(opsmon, "sitrep", "--save", laptop="laptop-a") == 0  # No. 4: nothing new
        # The clock standing still (a paused exercise): reported at the very millisecond No. 4 was numbered, it is No. 5's.
        assert await asyncio.to_thread(opsmon, "report", "--regency", "6371", "--category", "logistik", "--severity", "low", "--title", "Lima") == 0
        assert await asyncio.to_thread(opsmon, "sitrep", "--save", laptop="laptop-b") == 0  # No. 5
        assert await asyncio.to_thread(opsmon, "sitrep", "--save", laptop="laptop-a", token="wall") == 3  # a viewer may not number one
        assert await asyncio.to_thread(opsmon, "sitrep", "--format", "json", laptop="laptop-b") == 0  # a preview numbers nothing

    def saved(folder: Path) -> list[dict[str, Any]]:
        return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("sitrep-*.json"))]

    docs = sorted([*saved(laptops["laptop-a"] / "reports"), *saved(laptops["laptop-b"] / "reports"), *saved(tmp_path / "reports")], key=lambda d: d["number"])
    assert [d["number"] for d in docs] == [1, 2, 3, 4, 5]  # consecutive, never twice
    assert [d["by"] for d in docs] == ["Bawaslu/officer", "opsmon-server", "Polri/polisi", "Bawaslu/officer", "Bawaslu/officer"]
    assert docs[0]["since"] is None and all(later["since"] == earlier["until"] for earlier, later in zip(docs, docs[1:], strict=False))  # they tile
    assert [d["incidents"]["reported"] for d in docs] == [1, 2, 1, 0, 1]  # every incident in exactly one report
    assert server_files[0].name.startswith("sitrep-0002-")
    ledger = [json.loads(line)["number"] for line in (laptops["laptop-a"] / "reports" / "ledger.jsonl").read_text(encoding="utf-8").splitlines()]
    assert ledger == [1, 4]  # the laptop's own record: the numbers it saved


def test_sitrep_config_is_checked_key_by_key(tmp_path: Path) -> None:
    from opsmon.core.config import ConfigError, load_config
    from tests.helpers import CONFIG_PATH

    base = CONFIG_PATH.read_text(encoding="utf-8")
    for old, new, message in [
        ("every_minutes = 0", "every_minutes = -5", "sitrep.every_minutes: must be at least 0, not -5"),
        ('formats = ["text", "md", "json", "pdf"]', 'formats = ["docx"]', "sitrep.formats: must be a non-empty list of text, md, json, pdf, not ['docx']"),
        ("every_minutes = 0", "every_minutes = 0\neverey = 3", "sitrep.everey: unknown key"),
        ('signatory = ""', f'signatory = "{"A" * 95}"', "sitrep.signatory: must be at most 80 characters, not 95"),
        ('signatory_position = "Kepala Posko Gabungan"', "signatory_position = 3", "sitrep.signatory_position: must be a string, not an integer"),
        ('place = "Banjarmasin"', 'place = "Banjar\\u001b[31mmasin"', "sitrep.place: holds control characters"),
    ]:
        (tmp_path / "c.toml").write_text(base.replace(old, new, 1), encoding="utf-8")
        with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
            load_config(tmp_path / "c.toml")
    shipped = load_config(CONFIG_PATH).sitrep
    assert shipped.signature() == {"place": "Banjarmasin", "name": "", "rank": "", "position": "Kepala Posko Gabungan"}


async def test_the_sitrep_key_previews_the_report_and_writes_it(tmp_path: Path) -> None:
    from opsmon.tui.app import OpsmonApp
    from opsmon.tui.screens.sitrep import SitrepScreen

    welcome, state, events = sitrep_night()
    folder = tmp_path / "reports"
    app = OpsmonApp.with_state(welcome, state, clock=lambda: NOW, events=events, sitrep_folder=folder)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("p")
        await pilot.pause(0.2)
        assert isinstance(app.screen, SitrepScreen)
        preview = str(app.screen.query_one("#sitrep-text").render())
        assert preview.startswith("*PRATINJAU LAPORAN SITUASI (belum bernomor)*") and "*Insiden tereskalasi: 3*" in preview
        assert not folder.exists()  # a preview takes no number
        await pilot.press("w")
        for _ in range(50):
            await pilot.pause(0.1)
            if app.screen.written:
                break
        assert [Path(p).suffix for p in app.screen.written] == [".txt", ".md", ".json", ".pdf"]
        assert any("Lapsit No. 1 disimpan" in notice for notice in app.notices)
        assert Ledger(folder).next_number() == 2
        assert str(app.screen.query_one("#sitrep-text").render()).startswith("*LAPORAN SITUASI No. 1*")  # what was saved
        assert next(folder.glob("sitrep-0001-*.txt")).read_text(encoding="utf-8").startswith("*LAPORAN SITUASI No. 1*\n")
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, SitrepScreen)


async def test_the_wall_previews_the_sitrep_but_never_writes_it(tmp_path: Path) -> None:
    """The wall is read-only (through `opsmon web` a browser visitor drives it): `w` writes
    nothing there, and neither the footer nor the help offers it."""
    from opsmon.tui.app import OpsmonApp
    from opsmon.tui.screens.help import key_rows
    from opsmon.tui.screens.sitrep import SitrepScreen

    welcome, state, events = sitrep_night()
    folder = tmp_path / "reports"
    app = OpsmonApp.with_state(welcome, state, wall=True, clock=lambda: NOW, events=events, sitrep_folder=folder)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("p")
        await pilot.pause(0.2)
        assert isinstance(app.screen, SitrepScreen)
        assert str(app.screen.query_one("#sitrep-text").render()).startswith("*PRATINJAU LAPORAN SITUASI")
        assert all(keys != "w" for keys, _ in key_rows(app, app.screen))
        await pilot.press("w")
        await pilot.pause(0.5)
        await app.screen.action_write()  # nor the action itself, however it is reached
        assert app.screen.written == [] and not folder.exists()
        assert not any("Lapsit" in notice for notice in app.notices)
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        help_text = "\n".join(str(w.render()) for w in app.screen.query("*") if hasattr(w, "render"))
        assert "Simpan" not in help_text


HOSTILE = [
    '<img src=x onerror="alert(1)">',
    "[klik](javascript:alert(1))",
    "<script>alert(2)</script>",
    "![x](http://evil.example/p.png)",
    "`kode` | kolom | <b>tebal</b> &amp; *miring* _x_ ~~coret~~",
    "# judul palsu",
    "> kutipan",
    "1. daftar",
    "<http://evil.example>",
    "*Kritis/tinggi masih terbuka: 0*",  # a heading of the WhatsApp text, forged
]


def hostile_doc() -> dict[str, Any]:
    welcome, state, events = sitrep_night()
    rules = Rules.from_config(province())

    def run(command: object, at_minutes: int) -> None:
        at = START + timedelta(minutes=at_minutes)
        decision = decide(state, command, BUDI, None, at, rules)  # type: ignore[arg-type]
        events.append(Event.of(len(events) + 1, format_ts(at), BUDI, decision.payload))
        apply(state, events[-1])

    for n, text in enumerate(HOSTILE):
        draft = IncidentDraft(regency="6371", category="lainnya", severity="critical", title=text, location=text)
        run(Report(id=f"h{n}", incident=draft), 50)
        incident = max(state.incidents)
        run(Note(id=f"n{n}", incident=incident, text=text), 51)
        if n % 2:
            run(Resolve(id=f"r{n}", incident=incident, note=text), 52)
    run(StageUpdate(id="kb-blocked", regency="6302", stage="rekap_ppk", blocked=True, note=HOSTILE[0]), 53)
    exercise = ExerciseInfo(name=HOSTILE[1], speed=1.0, now=format_ts(NOW), start=format_ts(START))
    later = NOW + timedelta(minutes=5)  # after the hostile notes and resolutions
    signatory = {"place": HOSTILE[6], "name": HOSTILE[7], "rank": HOSTILE[8], "position": HOSTILE[5]}
    return build(
        welcome.config,
        state,
        events,
        now=later,
        since=START - timedelta(minutes=10),
        number=3,
        by=HOSTILE[2],
        post=HOSTILE[3],
        exercise=exercise,
        signatory=signatory,
    )


def test_markdown_never_turns_wire_text_into_html_links_or_markup() -> None:
    md = render_md(hostile_doc(), "id")
    html = MarkdownIt("commonmark").enable("table").enable("strikethrough").render(md)
    # the only elements are the report's own: headings, lists, tables, bold
    tags = {tag.lower() for tag in re.findall(r"<([a-zA-Z][a-zA-Z0-9]*)", html)}
    assert tags <= {"h1", "h2", "p", "ul", "li", "strong", "br", "table", "thead", "tbody", "tr", "th", "td"}, tags
    assert "<a" not in html and "<img" not in html and "<script" not in html and "<code" not in html and "<em" not in html
    assert html.count("<h1>") == 1 and html.count("<blockquote") == 0 and html.count("<ol") == 0
    # and the text itself is all there, as text, to read
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert "[klik](javascript:alert(1))" in html and "&lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "`kode` | kolom | &lt;b&gt;tebal&lt;/b&gt; &amp;amp; *miring* _x_ ~~coret~~" in html
    assert "# judul palsu" in html and "&gt; kutipan" in html and "1. daftar" in html


def test_the_whatsapp_text_never_formats_wire_text_nor_lets_it_pass_for_a_heading() -> None:
    """WhatsApp has no escape for *bold*, _italic_, ~strike~, `code` or a "> quote": in wire
    text they are lookalikes that format nothing; only the report's own headings are bold."""
    text = render_text(hostile_doc(), "id", limit=100_000)
    lines = text.splitlines()
    bold = [line for line in lines if "*" in line]
    assert bold and all(line.startswith("*") and line.endswith("*") and line.count("*") == 2 for line in bold), bold
    assert not any(mark in text for mark in "_~`"), text
    assert not any(line.lstrip().startswith(">") for line in lines)
    assert "\u2217Kritis/tinggi masih terbuka: 0\u2217" in text  # there to read, as text
    assert "\u02cbkode\u02cb" in text and "\u2217miring\u2217 \u02cdx\u02cd \u223c\u223ccoret\u223c\u223c" in text and "\u203a kutipan" in text


async def test_p_and_w_count_the_whole_night_however_long_and_w_takes_the_servers_number(tmp_path: Path) -> None:
    """Issue 20: the terminal holds a day of resolved incidents; its sitrep preview and the
    report it saves count every incident of a night longer than that, from the server's
    log, and the number it saves under is the post's (a laptop's save numbers on)."""
    import asyncio

    from opsmon.cli import main
    from opsmon.core.config import load_config
    from opsmon.core.protocol import Resolve
    from opsmon.core.view import summarize, totals
    from opsmon.tui.app import OpsmonApp
    from opsmon.tui.screens.sitrep import SitrepScreen
    from tests.helpers import FakeClock, running_server
    from tests.tui_helpers import act, report, until

    folder = tmp_path / "terminal"
    clock = FakeClock()
    async with running_server(tmp_path, clock=clock, config=load_config(post_config(tmp_path))) as running:
        early = await report(running, clock, [("6371", "high", "Kotak suara basah"), ("6372", "low", "Surat suara kurang")])
        await act(running, "officer", Resolve(id="r1", incident=early[0], note="Kotak diganti"))
        clock.advance(hours=30)  # a night past a day: #1 resolved 30 hours ago, out of any snapshot
        await report(running, clock, [("6303", "medium", "Listrik padam di PPK")])
        app = OpsmonApp(url=running.url, token=running.tokens["officer"], clock=clock, sitrep_folder=folder)
        async with app.run_test(size=(100, 60)) as pilot:
            await until(pilot, lambda: app.welcome is not None and len(app.state.incidents) == 2)
            assert early[0] not in app.state.incidents  # what the terminal holds: not the whole night
            # The header's and the panels' counts are of what is not resolved: the same as the server's whole state.
            here, there = totals(app.state, running.server.config_info, clock()), totals(running.server.state, running.server.config_info, clock())
            assert (here.open, here.unacked, here.tps_counted) == (there.open, there.unacked, there.tps_counted) == (2, 2, 0)
            panels = [(p.code, p.open_by_severity, p.overdue, p.condition) for p in summarize(app.state, running.server.config_info, clock())]
            assert panels == [
                (p.code, p.open_by_severity, p.overdue, p.condition) for p in summarize(running.server.state, running.server.config_info, clock())
            ]
            await pilot.press("p")
            await until(pilot, lambda: isinstance(app.screen, SitrepScreen) and "*Insiden dilaporkan: 3*" in str(app.screen.query_one("#sitrep-text").render()))
            preview = str(app.screen.query_one("#sitrep-text").render())
            assert "*Diselesaikan: 1*" in preview and "#1 Banjarmasin" in preview
            await pilot.press("w")
            await until(pilot, lambda: bool(app.screen.written), timeout=15)
            saved = json.loads(next(folder.glob("sitrep-0001-*.json")).read_text(encoding="utf-8"))
            assert saved["number"] == 1 and saved["incidents"]["reported"] == 3 and len(saved["incidents"]["resolved"]) == 1
        clock.advance(minutes=5)
        (tmp_path / "laptop").mkdir()
        laptop = post_config(tmp_path / "laptop")
        base = ["--url", running.url, "--token", running.tokens["polisi"], "--config", str(laptop)]
        assert await asyncio.to_thread(main, ["sitrep", "--save", *base]) == 0
    second = json.loads(next((tmp_path / "laptop" / "reports").glob("sitrep-*.json")).read_text(encoding="utf-8"))
    assert second["number"] == 2 and second["since"] == saved["until"] and second["incidents"]["reported"] == 0
