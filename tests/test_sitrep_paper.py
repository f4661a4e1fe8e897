"""The sitrep as the post's own paper, over a fixed three-week recapitulation (issue 20
items 9-11): the text fits one WhatsApp message, an incident escalated again and again
is one line, the chart covers the whole period, and the PDF's first page carries the kop
and the signatory.

Regenerate the golden files and docs/img/sitrep-page1.png (after checking them) with
`OPSMON_UPDATE_GOLDEN=1 python -m pytest tests/test_sitrep_paper.py`.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest

from opsmon.core.clock import parse_ts
from opsmon.core.events import IncidentEscalated
from opsmon.core.geo import province_shape
from opsmon.core.protocol import Ack
from opsmon.core.records import SYSTEM
from opsmon.reports.sitrep import TEXT_LIMIT, build, render, render_md, render_text
from tests.helpers import province
from tests.nights import SIGNATORY, night_doc, recap_doc, recap_night
from tests.world import World

GOLDEN = Path(__file__).with_name("golden")
PAGE1 = Path(__file__).parent.parent / "docs" / "img" / "sitrep-page1.png"


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("OPSMON_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from the golden file (OPSMON_UPDATE_GOLDEN=1 to rewrite it after checking)"


@pytest.fixture(scope="module")
def recap() -> dict[str, Any]:
    return recap_doc()


def test_the_recap_night_is_three_weeks_of_trouble_and_re_escalations(recap: dict[str, Any]) -> None:
    _, state, events, end = recap_night()
    assert min(parse_ts(e.ts) for e in events) < end - timedelta(days=21)
    incidents = recap["incidents"]
    # As many as the log says (counted here from the events themselves).
    reported = sum(1 for e in events if e.kind == "incident.reported")
    resolved = {e.data.incident for e in events if e.kind == "incident.resolved"} - {e.data.incident for e in events if e.kind == "incident.reopened"}
    assert incidents["reported"] == reported > 60 and len(incidents["resolved"]) == len(resolved) > 20
    # The Polri desk unmanned on counting night: its incidents re-escalated every few minutes
    # (as many times as the server's escalation rules allow), one entry each.
    assert len(incidents["escalations"]) > len(incidents["escalated"])
    # ... up to the ceiling: the first escalation, [notify] max_repeats (3) more, then the final word.
    assert max(e["times"] for e in incidents["escalated"]) <= 5
    assert len(incidents["escalated"]) == len({e["id"] for e in incidents["escalations"]}) > 10


def test_recap_text_matches_the_golden_file_and_fits_one_whatsapp_message(recap: dict[str, Any]) -> None:
    text = render_text(recap, "id")
    golden("sitrep-recap.txt", text)
    assert len(text) < TEXT_LIMIT
    lines = text.splitlines()
    assert lines[:3] == ["*LAPORAN SITUASI No. 1*", "Posko Gabungan Pemilu 2024 · Kalimantan Selatan", "Periode: sejak awal s.d. 08/03/2024 23:00 WITA"]
    # One line per escalated incident, with its level now, however often it was escalated.
    most = max(recap["incidents"]["escalated"], key=lambda e: e["times"])
    assert 1 < most["times"] <= 5  # re-escalated, never past the ceiling
    escalated = lines[lines.index(f"*Insiden tereskalasi: {len(recap['incidents']['escalated'])}*") :]
    assert [line for line in escalated if line.startswith(f"#{most['id']} Banjarmasin · level")] == [
        f"#{most['id']} Banjarmasin · level {most['level']} · SELESAI"
    ]
    assert any(line.startswith("... dan ") and line.endswith(" lainnya (daftar lengkap di laporan md/pdf)") for line in lines)
    assert lines[-4:] == ["Banjarmasin, 8 Maret 2024", "Kepala Posko Gabungan", "Drs. H. Ahmad Fauzi, M.Si.", "Kombes Pol (Purn.)"]
    assert "Demikian laporan ini dibuat untuk dipergunakan seperlunya." in lines


def test_recap_markdown_matches_the_golden_file_and_lists_everything(recap: dict[str, Any]) -> None:
    md = render_md(recap, "id")
    golden("sitrep-recap.md", md)
    for item in recap["incidents"]["escalated"]:
        assert f"- **#{item['id']} " in md
    most = max(recap["incidents"]["escalated"], key=lambda e: e["times"])
    assert f"Dieskalasi {most['times']} kali dalam periode ini" in md
    assert md.count("Penyelesaian:") == len(recap["incidents"]["resolved"]) and "lainnya" not in md  # the full lists: nothing cut


def test_221_re_escalations_of_one_incident_are_one_line_and_the_text_stays_short() -> None:
    """The issue's night: a desk unmanned, one incident escalated 221 times."""
    world = World()
    waiting = world.report("critical", regency="6306", title="Massa menghadang kotak suara di PPK")
    acked = world.report("critical", regency="6371", title="Kericuhan di PPK Banjarmasin Utara")
    world.advance(minutes=1)
    world.do(Ack(id="a", incident=acked))  # the other desk is manned
    for level in range(1, 222):
        # The escalations as they stand in the log (whatever rules the server escalates by now).
        world.advance(minutes=5)
        world._commit(IncidentEscalated(incident=waiting, level=level, escalate_due=None), SYSTEM)
    config = province()
    doc = build(config.info(), world.state, world.events, now=world.now, since=None, number=7, by="opsmon-server", post="Posko", signatory=SIGNATORY)
    assert sum(1 for e in doc["incidents"]["escalations"] if e["id"] == waiting) == 221
    text = render_text(doc, "id")
    assert len(text) < TEXT_LIMIT
    level = world.state.incidents[waiting].level
    assert level == 221
    escalated = [line for line in text.splitlines() if line.startswith(f"#{waiting} HSS · level")]
    assert escalated == [f"#{waiting} HSS · level 221 · belum di-ack sejak 14/02 21:00 WITA"]  # 18 hours later: with its date
    assert "Dieskalasi 221 kali dalam periode ini" in render_md(doc, "id")


def test_the_chart_covers_the_whole_period_and_says_so(recap: dict[str, Any]) -> None:
    chart = recap["chart"]
    assert chart["bin_hours"] == 24  # three weeks: per day
    first, end = parse_ts(chart["bins"][0]["start"]), parse_ts(recap["generated"])
    assert first <= parse_ts(chart["from"]) and first.astimezone(province().province.tz).hour == 0  # a WITA day
    assert parse_ts(chart["bins"][-1]["start"]) + timedelta(hours=24) > end
    assert sum(sum(b[s] for s in ("critical", "high", "medium", "low")) for b in chart["bins"]) == recap["incidents"]["reported"]
    night = night_doc()["chart"]
    assert night["bin_hours"] == 1 and sum(b["critical"] for b in night["bins"]) == 2
    # A day and a half: every incident of it, dawn too, in bins of 2 hours or more.
    welcome, state, events, end = recap_night()
    since = parse_ts("2024-02-14T11:00:00Z")
    doc = build(welcome.config, state, events, now=since + timedelta(hours=36), since=since, number=2, by="x", post="Posko", signatory=SIGNATORY)
    assert doc["chart"]["bin_hours"] == 2
    assert sum(sum(b[s] for s in ("critical", "high", "medium", "low")) for b in doc["chart"]["bins"]) == doc["incidents"]["reported"] > 0
    pdf = pdfium.PdfDocument(render(doc, "pdf", "id"))
    page = pdf[0].get_textpage().get_text_range()
    assert "Insiden per 2 jam menurut tingkat" in page and "Periode 14/02/2024 19:00 s.d. 16/02/2024 07:00 WITA" in page


def _page_text(pdf: Any, n: int) -> str:
    return str(pdf[n].get_textpage().get_text_range()).replace("\r\n", "\n")


def test_the_pdf_first_page_carries_the_kop_and_the_signatory(recap: dict[str, Any]) -> None:
    data = render(recap, "pdf", "id", shape=province_shape(province().province.boundaries))
    pdf = pdfium.PdfDocument(data)
    first = _page_text(pdf, 0)
    for words in (
        "POSKO GABUNGAN PEMILU 2024",
        "PROVINSI KALIMANTAN SELATAN",
        "LAPORAN SITUASI No. 1",
        "Periode: sejak awal s.d. 08/03/2024 23:00 WITA",
        "Demikian laporan ini dibuat",
        "Banjarmasin, 8 Maret 2024",
        "Kepala Posko Gabungan",
        "Drs. H. Ahmad Fauzi, M.Si.",
        "Kombes Pol (Purn.)",
        f"Halaman 1 dari {len(pdf)}",
    ):
        assert words in first, words
    assert "Dibuat oleh" not in first and "opsmon-server" not in first
    assert f"Halaman {len(pdf)} dari {len(pdf)}" in _page_text(pdf, len(pdf) - 1)
    assert "LAMPIRAN LAPORAN SITUASI No. 1" in _page_text(pdf, 1)
    image = pdf[0].render(scale=1.5).to_pil()
    if os.environ.get("OPSMON_UPDATE_GOLDEN"):
        PAGE1.parent.mkdir(exist_ok=True)
        image.save(PAGE1)
    grey = image.convert("L")
    width, height = grey.size

    def ink(box: tuple[float, float, float, float]) -> float:
        part = grey.crop((int(box[0] * width), int(box[1] * height), int(box[2] * width), int(box[3] * height)))
        histogram = part.histogram()
        return float(sum(histogram[:128]) / max(1, part.width * part.height))

    assert ink((0, 0, 1, 1)) > 0.02  # not a blank sheet
    assert ink((0.2, 0.04, 0.8, 0.1)) > 0.02  # the kop, centred at the top
    assert ink((0.06, 0.095, 0.94, 0.11)) > 0.01  # its rule
    # The signatory's name, found where the page's text says it is: lower right, and inked.
    textpage = pdf[0].get_textpage()
    searcher = textpage.search("Ahmad Fauzi")
    found = searcher.get_next()
    assert found is not None
    left, bottom, right, top = textpage.get_charbox(found[0])
    page_width, page_height = pdf[0].get_size()
    band = (1 - top / page_height - 0.005, 1 - bottom / page_height + 0.005)
    assert left / page_width > 0.5 and band[0] > 0.6  # lower right
    assert ink((0.55, band[0], 0.95, band[1])) > 0.01
    assert ink((0.05, band[0], 0.5, band[1])) < 0.005  # and nothing beside it: the left of the signature is blank


def test_no_token_name_is_printed_and_an_unnamed_signatory_leaves_a_line_to_sign() -> None:
    welcome, state, events, end = recap_night()
    unsigned = {"place": "", "name": "", "rank": "", "position": "Kepala Posko Gabungan"}
    doc = build(welcome.config, state, events, now=end, since=None, number=4, by="KPU/layar-dinding-7", post="Posko Gabungan Pemilu", signatory=unsigned)
    text, md = render_text(doc, "id"), render_md(doc, "id")
    first = _page_text(pdfium.PdfDocument(render(doc, "pdf", "id")), 0)
    for out in (text, md, first):
        assert "layar-dinding-7" not in out and "Dibuat oleh" not in out
    assert text.splitlines()[-2:] == ["8 Maret 2024", "Kepala Posko Gabungan"]
    assert "(" + "." * 40 + ")" in first


# Issue 26 item 9: times in a report longer than a day carry their date; a night's do not.
_TIME = re.compile(r"(\S+) (\d\d:\d\d) WITA")


def _undated(text: str) -> list[str]:
    """Every time in `text` said without a date before it (dd/mm or dd/mm/yyyy)."""
    return [m[0] for m in _TIME.finditer(text) if not re.fullmatch(r"\(?\d\d/\d\d(/\d{4})?", m[1])]


def test_every_time_in_a_report_of_weeks_carries_its_date(recap: dict[str, Any]) -> None:
    for text in (render_text(recap, "id"), render_md(recap, "id"), _page_text(pdfium.PdfDocument(render(recap, "pdf", "id")), 1)):
        assert _TIME.search(text) and _undated(text) == []
    # A time on the period's last day too: in three weeks, "18:11" alone would say nothing.
    welcome, state, events, end = recap_night()
    since = end - timedelta(days=2)
    doc = build(welcome.config, state, events, now=end, since=since, number=2, by="x", post="Posko", signatory=SIGNATORY)
    md = render_md(doc, "id")
    assert _TIME.search(md) and _undated(md) == [], _undated(md)


def test_a_report_of_one_night_says_times_without_a_date() -> None:
    night = night_doc()
    text = render_text(night, "id")
    assert "Catatan 21:29 WITA Bawaslu/Rahmat: Menunggu perahu" in text
    assert _undated(text) and all(":" in t for t in _undated(text))  # times said bare: one night, one date


def test_the_after_action_timeline_dates_its_times_over_days() -> None:
    from opsmon.reports.afteraction import ReportWords

    tz = province().province.tz
    night = ReportWords({"from": "2024-02-14T12:00:00.000Z", "to": "2024-02-14T15:00:00.000Z"}, tz)
    weeks = ReportWords({"from": "2024-02-14T12:00:00.000Z", "to": "2024-03-08T15:00:00.000Z"}, tz)
    assert night.when("2024-02-14T13:40:00.000Z") == "21:40 WITA"
    assert weeks.when("2024-02-16T13:40:00.000Z") == "16/02 21:40 WITA"
    assert weeks.when("2024-03-08T14:40:00.000Z") == "08/03 22:40 WITA"  # its last day too
    assert night.when("2024-02-14T16:10:00.000Z") == "15/02 00:10 WITA"  # past midnight: the day it happened
