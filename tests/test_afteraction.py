"""The after-action report: a scripted session on a real exercise server,
then `opsmon exercise report`, whose reaction times must be the script's."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from opsmon.cli import main
from opsmon.training.roster import load_roster
from server.exercise import roster_line
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
        await server.server.tokens.check()  # the server's round that records who connected (bjm never did)
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
    assert people["bjm"]["status"] == "never_connected" and people["bjm"]["incidents_handled"] == 0  # expected (an officer token), absent
    assert report["absent"] == [{"name": "bjm", "desk": "KPU", "status": "never_connected"}]
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
    assert "05:02 WITA DITOLAK ack: sudah ditangani orang lain oleh Polri/polisi\n" in md  # in Indonesian, not the server's English
    assert "05:00 WITA dilaporkan oleh KPU/admin" in md
    assert "### #1 Kritis · Banjarmasin · Kericuhan di TPS 021" in md
    assert "Batas waktu ack 05:05 WITA; kini diselesaikan." in md
    assert "Pelapor lapangan (simulator): KPU/admin (2 laporan)" in md
    assert "05:22 WITA dieskalasi oleh sistem" in md
    assert await asyncio.to_thread(main, ["exercise", "report", "--db", str(db), "--lang", "en"]) == 0
    md = capsys.readouterr().out
    assert "# After-action report: Latihan Posko 12 Feb" in md
    assert "Field reporters (the simulator): KPU/admin (2 reports)" in md
    assert "| Bawaslu/officer | 2 | 1 | 2 / 2 | 1 | 32 / 32 | 0 | 1 | 0 | 0 | 1 |" in md
    assert "| Polri/polisi | 1 | 1 | 20 / 20 | 0 | - | 1 | 0 | conflict 1 | 1 | 0 | active |" in md
    assert "05:02 WITA REFUSED ack: already taken by Polri/polisi" in md
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
    assert "KPU/bjm" in first and "tidak pernah tersambung" in first  # the absent trainee is on the summary page
    assert "| ---" not in "".join(pages) and "**" not in "".join(pages) and "###" not in "".join(pages)
    assert "Linimasa insiden" not in first and "Linimasa insiden" in pages[1]
    assert "DITOLAK ack: sudah ditangani orang lain oleh Polri/polisi" in pages[1]
    assert await asyncio.to_thread(main, ["exercise", "report", "--db", str(db), "--format", "pdf"]) == 2
    assert "--format pdf needs --output" in capsys.readouterr().err
    assert await asyncio.to_thread(main, ["exercise", "report", "--db", str(tmp_path / "nope.db")]) == 2
    assert "no such database" in capsys.readouterr().err
    assert not (tmp_path / "nope.db").exists()


async def test_the_markdown_never_turns_the_fields_words_into_html_links_or_markup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Walking the rekap exercise, a title `Kotak [/b] [bold red]X[/] =1+1 <b>h</b> **z**` came out
    of `opsmon exercise report` as raw HTML and bold. Titles, places and notes are literal now."""
    import asyncio

    from markdown_it import MarkdownIt

    hostile = {
        "regency": "6371",
        "category": "keamanan",
        "severity": "critical",
        "title": "Kotak <b>h</b> **z** [klik](javascript:alert(1)) `kode` ~~coret~~",
        "location": "# judul palsu <img src=x onerror=alert(1)>",
    }
    async with exercise_server(tmp_path, speed=60) as (server, _clock):
        field = await Peer.open(server, server.tokens["admin"])
        rahmat = await Peer.open(server, server.tokens["officer"])
        incident = (await field.command("report", incident=hostile))["incident"]
        assert (await rahmat.command("note", incident=incident, text="> kutipan <script>alert(2)</script> _x_"))["ok"]
        for peer in (field, rahmat):
            await peer.close()
        db = server.db_path
    assert await asyncio.to_thread(main, ["exercise", "report", "--db", str(db)]) == 0
    md = capsys.readouterr().out
    html = MarkdownIt("commonmark").enable("table").enable("strikethrough").render(md)
    tags = {tag.lower() for tag in re.findall(r"<([a-zA-Z][a-zA-Z0-9]*)", html)}
    assert tags <= {"h1", "h2", "h3", "p", "ul", "li", "strong", "table", "thead", "tbody", "tr", "th", "td"}, tags
    assert html.count("<h1>") == 1 and "<a" not in html and "<code" not in html and "<em" not in html and "<s>" not in html
    assert "Kotak &lt;b&gt;h&lt;/b&gt; **z** [klik](javascript:alert(1)) `kode` ~~coret~~" in html  # there to read, as text
    assert "# judul palsu &lt;img src=x onerror=alert(1)&gt;" in html and "&gt; kutipan &lt;script&gt;" in html


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


async def test_a_roster_lists_who_never_connected_and_who_handled_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    roster_file = tmp_path / "peserta.csv"
    roster_file.write_text("name,desk\nOfficer,Bawaslu\nbjm,KPU\npolisi,Polri\nSari,kpu\n", encoding="utf-8")  # names as the trainer typed them
    roster = tuple(load_roster(roster_file))
    async with exercise_server(tmp_path, speed=60, roster=roster) as (server, clock):
        assert server.server.exercise is not None
        said = await roster_line(server.store, server.server.exercise.settings)  # what serve prints at start
        assert said == "roster: 4 trainees expected; no token is named 'Sari' (add one: opsmon-server token add NAME --role officer --agency ...)"
        field = await Peer.open(server, server.tokens["admin"])
        rahmat = await Peer.open(server, server.tokens["officer"])
        idle = await Peer.open(server, server.tokens["bjm"])  # connects, then does nothing all session
        first = (await field.command("report", incident=KERICUHAN))["incident"]
        clock.advance(seconds=3)
        assert (await rahmat.command("ack", incident=first))["ok"]
        await server.server.tokens.check()
        for peer in (field, rahmat, idle):
            await peer.close()
        db = server.db_path
    assert await asyncio.to_thread(main, ["exercise", "report", "--db", str(db), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["roster"]["source"] == "roster"
    assert {t["name"]: (t["desk"], t["status"]) for t in report["trainees"]} == {
        "officer": ("Bawaslu", "active"),  # the roster's "Officer" is the token "officer"
        "bjm": ("KPU", "handled_nothing"),
        "polisi": ("Polri", "never_connected"),  # has a token, never came
        "Sari": ("KPU", "never_connected"),  # on the roster, no token at all
    }
    desks = {d["desk"]: (d["active"], d["expected"]) for d in report["desks"]}
    assert desks == {"Bawaslu": (1, 1), "KPU": (0, 2), "Polri": (0, 1)}
    assert await asyncio.to_thread(main, ["exercise", "report", "--db", str(db)]) == 0
    md = capsys.readouterr().out
    assert "Peserta yang diharapkan: daftar peserta (4)." in md
    absent = next(line for line in md.splitlines() if line.startswith("Tidak hadir atau tidak menangani apa pun: "))
    for who in ("KPU/bjm (tidak menangani apa pun)", "Polri/polisi (tidak pernah tersambung)", "KPU/Sari (tidak pernah tersambung)"):
        assert who in absent
    assert "Bawaslu/officer" not in absent
    assert "| KPU | 0 / 2 |" in md


def test_a_roster_file_is_csv_or_toml_and_a_bad_one_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from server.cli import main as server_main
    from tests.helpers import CONFIG_PATH

    good = tmp_path / "peserta.toml"
    good.write_text('[[trainee]]\nname = "Peserta 01"\ndesk = "polri"\n\n[[trainee]]\nname = "Peserta 02"\ndesk = "KPU"\n', encoding="utf-8")
    assert [(t.name, t.desk) for t in load_roster(good)] == [("Peserta 01", "Polri"), ("Peserta 02", "KPU")]
    db = tmp_path / "latihan.db"
    cases = {
        "meja.csv": ("name,desk\nPeserta 01,KPU\nPeserta 02,Polisi\n", "line 3: desk 'Polisi' is not one of KPU, Bawaslu, Polri"),
        "dua.csv": ("name,desk\nPeserta 01,KPU\npeserta 01,Polri\n", "line 3: 'peserta 01' is on the roster twice (also line 2)"),
        "kepala.csv": ("nama;meja\nPeserta 01;KPU\n", "line 1: the first line must be the header name,desk"),
        "kosong.csv": ("name,desk\n", "no trainees in it"),
        "kendali.csv": ("name,desk\nPeserta\x1b[31m,KPU\n", "line 2: the name holds control characters (U+001B)"),
        "rusak.toml": ("[[trainee]\nname = 1\n", "not valid TOML"),
        "kunci.toml": ('[[trainee]]\nname = "A"\ndesk = "KPU"\nrole = "admin"\n', "trainee 1: unknown key 'role'"),
        "peserta.txt": ("name,desk\n", "a roster is a .csv or a .toml file"),
    }
    for name, (body, said) in cases.items():
        path = tmp_path / name
        path.write_text(body, encoding="utf-8")
        assert server_main(["serve", "--db", str(db), "--config", str(CONFIG_PATH), "--port", "0", "--exercise", "L", "--roster", str(path)]) == 2, name
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"--roster {path}: {said}" in err and "Traceback" not in err, err
    missing = tmp_path / "tidak-ada.csv"
    assert server_main(["serve", "--db", str(db), "--config", str(CONFIG_PATH), "--port", "0", "--exercise", "L", "--roster", str(missing)]) == 2
    assert f"--roster {missing}: cannot read it (No such file or directory)" in capsys.readouterr().err
    assert server_main(["serve", "--db", str(db), "--config", str(CONFIG_PATH), "--port", "0", "--roster", str(good)]) == 2
    assert "--roster needs --exercise NAME" in capsys.readouterr().err
    assert not db.exists()  # a bad roster changes nothing


async def test_the_session_before_a_reset_stays_reachable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from server.cli import main as server_main
    from tests.helpers import CONFIG_PATH

    db = await scripted_session(tmp_path)
    assert await asyncio.to_thread(main, ["exercise", "report", "--db", str(db), "--format", "json"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert await asyncio.to_thread(server_main, ["reset", "--keep-tokens", "--db", str(db), "--config", str(CONFIG_PATH)]) == 0
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["exercise", "report", "--db", str(db), "--format", "json"]) == 0
    now = json.loads(capsys.readouterr().out)
    assert now["post"]["incidents"] == 0 and now["epoch"] != before["epoch"]  # the new session is empty

    assert await asyncio.to_thread(main, ["exercise", "report", "--db", str(db), "--sessions"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0] == f"Sesi latihan di {db}:"
    (copy,) = await asyncio.to_thread(lambda: list(tmp_path.glob("latihan.db.before-reset-*.bak")))  # what reset kept
    assert listing[1].startswith(f"  1. {before['epoch']}, dimulai ") and listing[1].endswith(f", 8 peristiwa: salinan {copy}")
    assert listing[2].startswith(f"  2. {now['epoch']}, ") and listing[2].endswith("0 peristiwa: sesi berjalan (basis data ini)")

    assert await asyncio.to_thread(main, ["exercise", "report", "--db", str(db), "--session", "1", "--format", "json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["epoch"] == before["epoch"] and again["post"] == before["post"] and again["trainees"] == before["trainees"]
    assert await asyncio.to_thread(main, ["exercise", "report", "--db", str(db), "--session", "1"]) == 0
    assert "### #1 Kritis · Banjarmasin · Kericuhan di TPS 021" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["exercise", "report", "--db", str(db), "--session", "2", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["epoch"] == now["epoch"]

    assert await asyncio.to_thread(main, ["exercise", "report", "--db", str(db), "--session", "3"]) == 2
    assert capsys.readouterr().err.strip() == f"opsmon: error: --session 3: {db} has sessions 1 to 2 (list them with --sessions)"
    await asyncio.to_thread(copy.unlink)
    assert await asyncio.to_thread(main, ["exercise", "report", "--db", str(db), "--session", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--session 1: no copy of session 1 ({before['epoch']}) is kept beside {db}" in err


async def test_the_servers_re_escalations_are_one_line_per_incident(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio
    import re

    async with exercise_server(tmp_path, speed=60) as (server, clock):
        field = await Peer.open(server, server.tokens["admin"])
        first = (await field.command("report", incident=KERICUHAN))["incident"]  # critical: due 05:05, then every 5 minutes
        for _ in range(4):
            clock.advance(seconds=6)
            await server.server.deadlines.check()
        polisi = await Peer.open(server, server.tokens["polisi"])
        assert (await polisi.command("ack", incident=first))["ok"]
        for peer in (field, polisi):
            await peer.close()
        db = server.db_path
    assert await asyncio.to_thread(main, ["exercise", "report", "--db", str(db), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    escalations = report["post"]["automatic_escalations"]
    assert escalations >= 2  # the server escalated it again and again
    (incident,) = report["incidents"]
    by_system = [s for s in incident["steps"] if s["by"] == "system"]
    assert len(by_system) == 1 and by_system[0]["count"] == escalations
    assert await asyncio.to_thread(main, ["exercise", "report", "--db", str(db)]) == 0
    md = capsys.readouterr().out
    lines = [line for line in md.splitlines() if "oleh sistem" in line]
    assert len(lines) == 1 and re.search(rf"dieskalasi oleh sistem x{escalations} \(05:\d\d s\.d\. 05:\d\d, sampai level {escalations}\)$", lines[0]), lines
