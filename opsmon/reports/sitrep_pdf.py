"""The situation report as an A4 PDF (fpdf2: pure Python, installs with pip alone).

The map is the same rasterisation as the terminal's (`opsmon.core.geo`), drawn as
an image at a finer size; the chart is incidents per hour, stacked by
severity. Text is set in the PDF core fonts, so anything outside Latin-1 is
replaced rather than breaking the document.
"""

from __future__ import annotations

import math
from datetime import UTC
from typing import Any

from fpdf import FPDF, FontFace
from PIL import Image

from opsmon.core.clock import parse_ts
from opsmon.core.geo import ProvinceShape
from opsmon.core.i18n import Translator
from opsmon.core.records import SEVERITIES
from opsmon.core.view import CONDITIONS
from opsmon.reports.paper import Paper as _Page
from opsmon.reports.paper import latin as _latin
from opsmon.reports.words import Words, doc_tz

RGB = {
    "critical": (220, 30, 30),
    "escalated": (245, 130, 0),
    "blocked": (140, 90, 230),
    "incidents": (225, 200, 40),
    "quiet": (90, 170, 90),
}
SEVERITY_RGB = {"critical": (220, 30, 30), "high": (245, 130, 0), "medium": (225, 200, 40), "low": (150, 150, 150)}
ITEM_INDENT = 6.0  # mm: an entry's lines under its bold head
NOTE_INDENT = 4.0  # mm more: a multi-line note's later lines under its first
MAP_CELLS = (150, 90)  # the grid drawn into the image: fine enough for a printed page


def map_image(shape: ProvinceShape, conditions: dict[str, str], labels: dict[str, str]) -> tuple[Image.Image, dict[str, tuple[float, float]]]:
    """The province, each regency filled with its condition's colour; label positions as fractions."""
    columns, rows = shape.size_for(*MAP_CELLS)
    grid = shape.grid(columns, rows)
    image = Image.new("RGB", (columns, rows * 2), (255, 255, 255))
    pixels = image.load()
    assert pixels is not None  # a new image always has its pixels
    for y, row in enumerate(grid.pixels):
        for x, code in enumerate(row):
            if code is not None:
                pixels[x, y] = RGB[conditions.get(code, "quiet")]
    spots = {labels[code]: ((x + 0.5) / columns, (y + 0.5) / rows) for code, (x, y) in grid.labels.items() if code in labels}
    return image.resize((columns * 4, rows * 8), Image.Resampling.NEAREST), spots


def render_pdf(doc: dict[str, Any], lang: str = "id", *, shape: ProvinceShape | None = None) -> bytes:
    w, tr, inc = Words(doc, lang), Translator(lang), doc["incidents"]
    pdf = _Page(format="A4", unit="mm")
    title = w.title()
    pdf.footer_text = _latin(f"{title} · {w.post()}")
    pdf.page_words = tr("sitrep.page", page="{page}", pages="{pages}")
    pdf.set_title(_latin(title))
    pdf.set_author(_latin(w.post()))  # the post's paper: never a token's name
    pdf.set_creator("opsmon")
    # A fixed creation date: the same report renders to the same bytes.
    pdf.set_creation_date(parse_ts(doc["generated"]).astimezone(UTC))
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=16)
    pdf.add_page()

    def text(line: str, size: float = 10, style: str = "", height: float = 5.0, align: str = "L", indent: float = 0.0) -> None:
        pdf.set_font("Helvetica", style=style, size=size)
        pdf.set_x(pdf.l_margin + indent)  # a block: its wrapped lines start where its first did
        pdf.multi_cell(0, height, _latin(line), new_x="LMARGIN", new_y="NEXT", align=align)

    def under(line: str) -> None:
        """A line under an entry's head; a note's later lines indented under its first."""
        first, *later = line.split("\n")
        text(first, 9, indent=ITEM_INDENT)
        for part in later:
            text(part, 9, indent=ITEM_INDENT + NOTE_INDENT)

    def section(title: str) -> None:
        pdf.ln(2)
        text(title, 12, "B", 6)

    # The kop: the post and its year, the province, a double rule; then the title and the period.
    kop = w.kop()
    text(kop[0], 14, "B", 7, "C")
    text(kop[1], 12, "B", 6, "C")
    pdf.set_draw_color(0)
    y = pdf.get_y() + 1.5
    pdf.set_line_width(0.8)
    pdf.line(15, y, 195, y)
    pdf.set_line_width(0.2)
    pdf.line(15, y + 1.2, 195, y + 1.2)
    pdf.set_y(y + 4)
    text(title, 13, "BU", 7, "C")
    text(w.period(), 10, "", 5, "C")
    section(tr("sitrep.progress"))
    for line in w.progress():
        text(line)

    # The map on the left; the chart on the right, the map's legend under it.
    top = pdf.get_y() + 3
    bottom = top + 70
    if shape is not None:
        conditions = {r["code"]: r["condition"] for r in doc["regencies"]}
        numbers = {r["code"]: str(n) for n, r in enumerate(doc["regencies"], start=1)}
        image, spots = map_image(shape, conditions, numbers)
        box_w = 74.0
        box_h = box_w * image.height / image.width
        pdf.set_font("Helvetica", "B", 9)
        pdf.set_xy(15, top)
        pdf.cell(box_w, 5, _latin(tr("sitrep.map")))
        pdf.image(image, x=15, y=top + 5, w=box_w, h=box_h)
        pdf.set_font("Helvetica", "B", 7)
        for label, (fx, fy) in spots.items():
            pdf.set_xy(15 + fx * box_w - 2.5, top + 5 + fy * box_h - 1.8)
            pdf.set_fill_color(255, 255, 255)
            pdf.cell(5, 3.6, label, align="C", fill=True)
        legend_x, legend_y = 110.0, top + 72
        pdf.set_font("Helvetica", size=7)
        for n, key in enumerate(CONDITIONS):
            pdf.set_fill_color(*RGB[key])
            x = legend_x + (n % 3) * 28
            y = legend_y + (n // 3) * 4.5
            pdf.rect(x, y + 0.6, 3, 3, style="F")
            pdf.set_xy(x + 4, y)
            pdf.cell(24, 4.2, _latin(tr(f"map.cond.{key}")))
        for n, r in enumerate(doc["regencies"], start=1):
            pdf.set_xy(legend_x + ((n - 1) % 3) * 28, legend_y + 10 + ((n - 1) // 3) * 4)
            pdf.cell(28, 4, _latin(f"{n} {r['short']}"))
        bottom = max(top + 5 + box_h, legend_y + 10 + (-(-len(doc["regencies"]) // 3)) * 4)
    _chart(pdf, doc, tr, x=110, y=top, width=85, height=70, lang=lang)
    pdf.set_xy(15, bottom + 2)

    # The summary and the signature on the first page; the lists follow as its attachment.
    section(tr("sitrep.summary"))
    for line in w.summary():
        text(line)
    if "duty" in doc:  # who was on duty as the period ended: on the signed page
        section(w.duty_heading())
        for line in w.duty():
            text(line)
    _closing(pdf, w.closing(), bool((doc.get("signatory") or {}).get("name")))
    pdf.add_page()
    text(tr("sitrep.attachment", title=title), 12, "B", 7, "C")
    text(w.period(), 10, "", 5, "C")

    section(tr("sitrep.regencies"))
    pdf.set_font("Helvetica", size=9)
    pdf.set_fill_color(255, 255, 255)  # the chart's last swatch must not tint the table
    pdf.set_draw_color(170)
    with pdf.table(
        headings_style=FontFace(emphasis="BOLD", fill_color=(225, 225, 225)),
        col_widths=(30, 45, 25, 80),
        text_align=("LEFT", "LEFT", "RIGHT", "LEFT"),
        line_height=5,
        first_row_as_headings=True,
    ) as table:
        table.row([tr("sitrep.col.regency"), tr("sitrep.col.stage"), tr("sitrep.col.done"), tr("sitrep.col.note")])
        for line in doc["regencies"]:
            stage = line["stage_label"][lang] if line["stage"] else tr("panel.all_done")
            done = w.done_total(line) if line["stage"] else ""
            note = (tr("panel.blocked") + (f": {line['note']}" if line["note"] else "")) if line["blocked"] else ""
            table.row([_latin(line["short"]), _latin(stage), done, _latin(note)])
    for line in w.estimate_note():
        text(line, 8)

    section(tr("sitrep.incidents", count=inc["reported"]))
    for line in w.counts():
        text(line, 9)
    section(tr("sitrep.urgent", count=len(inc["open_urgent"])))
    if not inc["open_urgent"]:
        text(tr("sitrep.none"), 9)
    for item in inc["open_urgent"]:
        head, rest = w.urgent(item)
        text(head, 9, "B")
        for line in rest:
            under(line)
    for key, entries in (("sitrep.escalated", [w.escalated(e) for e in inc["escalated"]]), ("sitrep.resolved", [w.resolved(r) for r in inc["resolved"]])):
        section(tr(key, count=len(entries)))
        if not entries:
            text(tr("sitrep.none"), 9)
        for head, rest in entries:
            text(head, 9, "B")
            for line in rest:
                under(line)
    return bytes(pdf.output())


def _closing(pdf: FPDF, lines: list[str], named: bool) -> None:
    """ "Demikian laporan ini dibuat", then the signature block on the right: place and
    date, position, room to sign, the name (a dotted line when none is configured), rank."""
    if pdf.get_y() + 50 > pdf.h - pdf.b_margin:  # the block below is about 47 mm tall
        pdf.add_page()  # the signature is never split from its closing line
    pdf.ln(2)
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(0, 5, _latin(lines[0]), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    place, rest = lines[1], lines[2:]
    position, name_rank = (rest[0], rest[1:]) if rest else ("", [])
    if not named:
        name_rank = ["(" + "." * 40 + ")", *name_rank]
    x = 115.0
    for line, style in ((place, ""), (position, "B")):
        if line:
            pdf.set_x(x)
            pdf.set_font("Helvetica", style=style, size=10)
            pdf.cell(80, 5, _latin(line), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(18)  # room for the signature and the post's stamp
    for n, line in enumerate(name_rank):
        pdf.set_x(x)
        pdf.set_font("Helvetica", style="BU" if n == 0 and named else "", size=10)
        pdf.cell(80, 5, _latin(line), align="C", new_x="LMARGIN", new_y="NEXT")


def _chart(pdf: FPDF, doc: dict[str, Any], tr: Translator, *, x: float, y: float, width: float, height: float, lang: str) -> None:
    """Incidents per hour (or per N hours, per day), stacked by severity, over the report's
    whole period, labelled with it; times in the province's zone."""
    chart = doc["chart"]
    bins, step = chart["bins"], chart["bin_hours"]
    tz = doc_tz(doc)
    unit = tr("sitrep.chart_hour") if step == 1 else tr("sitrep.chart_day") if step == 24 else tr("sitrep.chart_hours", hours=step)
    start, end = parse_ts(chart["from"]).astimezone(tz), parse_ts(chart["to"]).astimezone(tz)
    span = tr("sitrep.chart_span", since=f"{start:%d/%m/%Y %H:%M}", until=f"{end:%d/%m/%Y %H:%M} {end.tzname()}")
    pdf.set_font("Helvetica", "B", 9)
    pdf.set_xy(x, y)
    pdf.cell(width, 5, _latin(tr("sitrep.chart_title", unit=unit)))
    pdf.set_font("Helvetica", size=7)
    pdf.set_xy(x, y + 4.5)
    pdf.cell(width, 4, _latin(span))
    plot_y, plot_h = y + 11, height - 27
    pdf.set_draw_color(120)
    pdf.line(x + 6, plot_y + plot_h, x + width, plot_y + plot_h)
    pdf.line(x + 6, plot_y, x + 6, plot_y + plot_h)
    peak = max([sum(b[s] for s in SEVERITIES) for b in bins] + [1])
    pdf.set_xy(x, plot_y - 1.5)
    pdf.cell(6, 3, str(peak), align="R")
    pdf.set_xy(x, plot_y + plot_h - 1.5)
    pdf.cell(6, 3, "0", align="R")
    slot = (width - 8) / max(1, len(bins))
    # Labels a few bins apart so they never overlap: hours for a night, dates over days.
    every = max(1, math.ceil(len(bins) * (9 if step < 24 else 7) / (width - 8)))
    multi_day = (end.date() - start.date()).days > 0
    for n, item in enumerate(bins):
        left = x + 7 + n * slot
        base = plot_y + plot_h
        for severity in reversed(SEVERITIES):  # critical on top, where the eye lands
            count = item[severity]
            if not count:
                continue
            bar = plot_h * count / peak
            pdf.set_fill_color(*SEVERITY_RGB[severity])
            pdf.rect(left, base - bar, max(0.4, slot * 0.7), bar, style="F")
            base -= bar
        if n % every:
            continue
        moment = parse_ts(item["start"]).astimezone(tz)
        if step >= 24:
            label = f"{moment:%d/%m}"
        elif multi_day and (n == 0 or moment.hour < step):
            label = f"{moment:%d/%m}"  # a new day: its date instead of the hour
        else:
            label = f"{moment:%H:%M}"
        pdf.set_xy(left - 1, plot_y + plot_h + 0.5)
        pdf.cell(slot * every, 3, label, align="L")
    for n, severity in enumerate(SEVERITIES):
        label = str(doc["labels"]["severities"].get(severity, {}).get(lang, severity))
        pdf.set_fill_color(*SEVERITY_RGB[severity])
        lx = x + 6 + n * 20
        pdf.rect(lx, y + height - 9, 3, 3, style="F")
        pdf.set_xy(lx + 4, y + height - 9.6)
        pdf.cell(16, 4.2, _latin(label))
