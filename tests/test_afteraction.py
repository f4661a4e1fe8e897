"""The after-action report: a scripted session on a real exercise server,
then `opsmon exercise report`, whose reaction times must be the script's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opsmon.cli import main
from tests.exercises import exercise_server
from tests.wire import Peer

KERICUHAN = {
    "regency": "6371",
    "category": "keamanan",
    "severity": "critical",
    "title": "Kericuhan di TPS 021",
    "location": "Kec. Banjarmasin Selatan, Kel. Kelayan Selatan, TPS 021",
}
LOGISTIK = {"regency": "6302", "category": "logistik", "severity": "high", "title": "Kotak suara Pulau Sembilan belum tiba"}


async def scripted_session(tmp_path: Path) -> Path:
    """At x60 one real second is one scenario minute: the test's clock moves by hand."""
    async with exercise_server(tmp_path, speed=60) as (server, clock):
        field = await Peer.open(server, server.tokens["admin"])  # the simulator's KPU desk
        rahmat = await Peer.open(server, server.tokens["officer"])  # trainee, Bawaslu
        polisi = await Peer.open(server, server.tokens["polisi"])  # trainee, Polri
        first = (await field.command("report", incident=KERICUHAN))["incident"]  # 05:00
        clock.advance(seconds=2)  # 05:02
        assert (await rahmat.command("ack", incident=first))["ok"]  # 2 minutes
        refused = await polisi.command("ack", incident=first)  # already Rahmat's
        assert not refused["ok"] and refused["code"] == "conflict"
        second = (await field.command("report", incident=LOGISTIK))["incident"]  # 05:02, high: due 05:17
        clock.advance(seconds=20)  # 05:22
        assert await server.server.deadlines.check() >= 1  # the server escalates #2 (due 05:17)
        assert (await polisi.command("ack", incident=second))["ok"]  # 20 minutes: late
        assert (await rahmat.command("note", incident=first, text="Polsek sudah di lokasi"))["ok"]
        clock.advance(seconds=10)  # 05:32
        assert (await rahmat.command("resolve", incident=first, note="Massa bubar, penghitungan lanjut"))["ok"]  # 32 minutes
        assert (await rahmat.command("escalate", incident=second, note="Perlu kapal Polairud"))["ok"]
        for peer in (field, rahmat, polisi):
            await peer.close()
        return server.db_path


async def test_the_reports_reaction_times_are_the_scripted_sessions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    db = await scripted_session(tmp_path)
    assert await asyncio.to_thread(main, ["exercise", "report", "--db", str(db), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["exercise"]["name"] == "Latihan Posko 12 Feb" and report["epoch"].startswith("latihan-")
    people = {t["name"]: t for t in report["trainees"]}
    assert set(people) == {"officer", "polisi", "bjm"}  # the field's token is a reporter, not a trainee
    assert people["bjm"]["status"] == "handled_nothing" and people["bjm"]["incidents_handled"] == 0  # expected (an officer token), absent
    assert report["absent"] == [{"name": "bjm", "desk": "KPU", "status": "handled_nothing"}]
    assert report["roster"]["source"] == "tokens" and {e["name"] for e in report["roster"]["expected"]} == {"officer", "polisi", "bjm"}
    assert [r["name"] for r in report["reporters"]] == ["admin"]
    rahmat, polisi = people["officer"], people["polisi"]
    assert rahmat["time_to_ack_minutes"] == {"median": 2.0, "worst": 2.0, "count": 1}
    assert rahmat["time_to_resolve_minutes"] == {"median": 32.0, "worst": 32.0, "count": 1}
    assert (rahmat["acknowledged"], rahmat["resolved"], rahmat["notes"], rahmat["escalations"], rahmat["deadlines_missed"]) == (1, 1, 1, 1, 0)
    assert rahmat["refusals"] == {} and rahmat["incidents_handled"] == 2
    assert polisi["time_to_ack_minutes"] == {"median": 20.0, "worst": 20.0, "count": 1}
    assert polisi["deadlines_missed"] == 1  # acknowledged at 05:22, due 05:17
    assert polisi["refusals"] == {"conflict": 1} and polisi["tried_to_ack_what_another_had"] == 1
    post = report["post"]
    assert post["time_to_ack_minutes"] == {"median": 11.0, "worst": 20.0, "count": 2}
    assert (post["incidents"], post["acknowledged"], post["resolved"], post["deadlines_missed"], post["automatic_escalations"]) == (2, 2, 1, 1, 1)
    timeline = {i["id"]: i for i in report["incidents"]}
    steps = [(s["what"], s["by"]) for s in timeline[1]["steps"]]
    assert steps[:3] == [("reported", "KPU/admin"), ("acknowledged", "Bawaslu/officer"), ("REFUSED ack (already)", "Polri/polisi")]
    desks = {d["desk"]: d for d in report["desks"]}
    assert (desks["KPU"]["expected"], desks["KPU"]["active"], desks["Bawaslu"]["active"], desks["Polri"]["deadlines_missed"]) == (1, 0, 1, 1)
    assert timeline[2]["deadline_missed"] and timeline[1]["time_to_resolve_minutes"] == 32.0

    # The same numbers, readable (Bahasa Indonesia first, English with --lang en), and as a PDF.
    assert await asyncio.to_thread(main, ["exercise", "report", "--db", str(db)]) == 0
    md = capsys.readouterr().out
    assert "# Laporan pasca-latihan: Latihan Posko 12 Feb" in md and "After-action" not in md
    assert "| peserta | ditangani | di-ack |" in md and "## Posko" in md
    assert "| Bawaslu/officer | 2 | 1 | 2 / 2 | 1 | 32 / 32 | 0 | 1 | 0 | 0 | 1 |" in md
    assert "14 Feb 05:02 WITA DITOLAK ack: sudah ditangani orang lain oleh Polri/polisi\n" in md  # in Indonesian, not the server's English
    assert "14 Feb 05:00 WITA dilaporkan oleh KPU/admin" in md
    assert "### #1 Kritis · Banjarmasin · Kericuhan di TPS 021" in md
    assert "Batas waktu ack 14 Feb 05:05 WITA; kini diselesaikan." in md
    assert "Pelapor lapangan (simulator): KPU/admin (2 laporan)" in md
    assert "14 Feb 05:22 WITA dieskalasi oleh sistem" in md
    assert await asyncio.to_thread(main, ["exercise", "report", "--db", str(db), "--lang", "en"]) == 0
    md = capsys.readouterr().out
    assert "# After-action report: Latihan Posko 12 Feb" in md
    assert "Field reporters (the simulator): KPU/admin (2 reports)" in md
    assert "| Bawaslu/officer | 2 | 1 | 2 / 2 | 1 | 32 / 32 | 0 | 1 | 0 | 0 | 1 |" in md
    assert "| Polri/polisi | 1 | 1 | 20 / 20 | 0 | - | 1 | 0 | conflict 1 | 1 | 0 | active |" in md
    assert "14 Feb 05:02 WITA REFUSED ack: already taken by Polri/polisi" in md
    assert "### #1 Critical · Banjarmasin · Kericuhan di TPS 021" in md  # the severity's label, as everywhere else
    pdf = tmp_path / "laporan.pdf"
    assert await asyncio.to_thread(main, ["exercise", "report", "--db", str(db), "--format", "pdf", "--output", str(pdf), "--lang", "en"]) == 0
    assert "After-action report: Latihan Posko 12 Feb" in pdf_pages(pdf.read_bytes())[0]
    assert capsys.readouterr().err.strip() == f"pdf report of 2 incidents and 3 trainees written to {pdf}"
    assert await asyncio.to_thread(main, ["exercise", "report", "--db", str(db), "--format", "pdf", "--output", str(pdf)]) == 0
    assert capsys.readouterr().err.strip() == f"laporan pdf atas 2 insiden dan 3 peserta ditulis ke {pdf}"
    # A real document: the summary first, its tables drawn as tables (no Markdown on the page), then the timelines.
    pages = pdf_pages(pdf.read_bytes())
    first = pages[0]
    assert first.startswith("Laporan pasca-latihan: Latihan Posko 12 Feb")
    for heading in ("Posko", "Per meja", "Peserta", "sampai ack (median / terlama)", "kehadiran"):
        assert heading in first
    assert "KPU/bjm" in first and "tidak menangani apa pun" in first  # the absent trainee is on the summary page
    assert "| ---" not in "".join(pages) and "**" not in "".join(pages) and "###" not in "".join(pages)
    assert "Linimasa insiden" not in first and "Linimasa insiden" in pages[1]
    assert "DITOLAK ack: sudah ditangani orang lain oleh Polri/polisi" in pages[1]
    assert await asyncio.to_thread(main, ["exercise", "report", "--db", str(db), "--format", "pdf"]) == 2
    assert "--format pdf needs --output" in capsys.readouterr().err
    assert await asyncio.to_thread(main, ["exercise", "report", "--db", str(tmp_path / "nope.db")]) == 2
    assert "no such database" in capsys.readouterr().err
    assert not (tmp_path / "nope.db").exists()


def pdf_pages(data: bytes) -> list[str]:
    """Each page's text, as a reader's PDF viewer extracts it (one line per text line)."""
    pdfium = pytest.importorskip("pypdfium2", reason="pypdfium2 is in the test extra: pip install -e '.[test]'")
    document = pdfium.PdfDocument(data)
    return [page.get_textpage().get_text_range().replace("\r\n", "\n") for page in document]


def test_counts_are_singular_for_one_in_english() -> None:
    from opsmon.core.i18n import Translator
    from opsmon.reports.afteraction import counted

    en, id_ = Translator("en"), Translator("id")
    assert [counted(en, "aar.n_trainees", n) for n in (0, 1, 2)] == ["0 trainees", "1 trainee", "2 trainees"]
    assert [counted(en, "aar.n_incidents", n) for n in (1, 6)] == ["1 incident", "6 incidents"]
    assert (
        en("aar.written", format="md", incidents=counted(en, "aar.n_incidents", 6), trainees=counted(en, "aar.n_trainees", 1), path="x.md")
        == "md report of 6 incidents and 1 trainee written to x.md"
    )
    assert [counted(id_, "aar.n_trainees", n) for n in (1, 2)] == ["1 peserta", "2 peserta"]
