"""The after-action report as an A4 PDF (fpdf2), drawn from the same words as its Markdown.

Page one is the summary: the session, the post's figures, each desk, each
trainee (those who never connected or handled nothing too), drawn as tables;
the incidents' timelines follow on the next pages, one block per incident,
the server's own re-escalations in one line each.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from fpdf import FontFace

from opsmon.core.clock import parse_ts
from opsmon.reports.afteraction import ReportWords, Table
from opsmon.reports.paper import Paper, latin

_HEADINGS = FontFace(emphasis="BOLD", fill_color=(225, 225, 225))
_WIDTH = 180.0  # A4 less the 15 mm margins


def render_pdf(
    report: dict[str, Any], tz: tzinfo, regencies: dict[str, str] | None = None, lang: str = "id", severities: dict[str, str] | None = None
) -> bytes:
    w = ReportWords(report, tz, regencies, lang, severities)
    pdf = Paper(format="A4", unit="mm")
    title = w.title()
    pdf.footer_text = latin(title)
    pdf.set_title(latin(title))
    pdf.set_creator("opsmon")
    # A fixed creation date (the log's last moment): the same log renders to the same bytes.
    pdf.set_creation_date(parse_ts(report["to"]).astimezone(UTC) if report["to"] else datetime(2024, 1, 1, tzinfo=UTC))
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=16)
    pdf.add_page()

    def text(line: str, size: float = 9, style: str = "", height: float = 4.6, colour: tuple[int, int, int] = (0, 0, 0)) -> None:
        pdf.set_font("Helvetica", style=style, size=size)
        pdf.set_text_color(*colour)
        pdf.multi_cell(0, height, latin(line), new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0)

    def section(title: str) -> None:
        pdf.ln(2.5)
        text(title, 11.5, "B", 6)
        pdf.ln(0.5)

    text(title, 15, "B", 7.5)
    text(w.session(), 9)
    expected = w.expected()
    if expected:
        text(expected, 9)

    # The post: its figures as label / value pairs, two pairs a row (eleven columns do not fit a page's width).
    post = w.post_table()
    section(post.title)
    pairs = list(zip(post.headings, post.rows[0], strict=True))
    _draw(
        pdf,
        Table(post.title, [], [[a, b, *(pairs[n + 1] if n + 1 < len(pairs) else ("", ""))] for n, (a, b) in enumerate(pairs) if n % 2 == 0], [False, True] * 2),
        size=8.5,
    )
    desks = w.desk_table()
    if desks.rows:
        section(desks.title)
        _draw(pdf, desks, size=8)
    trainees = w.trainee_table()
    section(trainees.title)
    if trainees.rows:
        _draw(pdf, trainees, size=6.8)
    else:
        text(w.tr("aar.nobody"), 9)
    absent = w.absent()
    if absent:
        pdf.ln(1.5)
        text(absent, 9, "B", colour=(170, 30, 30) if report.get("absent") else (0, 0, 0))
    reporters = w.reporters()
    if reporters:
        pdf.ln(1)
        text(reporters, 8.5)
    injects = w.inject_table()
    if injects.rows:
        section(injects.title)
        _draw(pdf, injects, size=7, wrap=2)  # the incident's title wraps

    pdf.add_page()
    text(w.tr("aar.timelines"), 13, "B", 7)
    for incident in report["incidents"]:
        pdf.ln(1.5)
        if pdf.will_page_break(14):
            pdf.add_page()
        head = w.incident_head(incident)
        if incident.get("inject"):
            head += f" ({w.tr('aar.inject')})"
        if incident["deadline_missed"]:
            head += f" - {w.tr('aar.deadline_missed')}"
        text(head, 9.5, "B", 5)
        if incident["location"]:
            text(w.incident_due(incident), 8, colour=(80, 80, 80))
        for step in incident["steps"]:
            when, said = w.step(step)
            pdf.set_font("Helvetica", size=8)
            pdf.cell(27, 4.2, latin(when))
            pdf.multi_cell(0, 4.2, latin(said), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _widths(pdf: Paper, table: Table, size: float, wrap: int | None = None) -> tuple[float, ...]:
    """Each column as wide as its longest heading word and its widest cell (no word broken), the page's width shared out.
    `wrap`: a column of long text that takes what the others leave (its cells wrap) rather than squeezing them."""
    need = []
    for n in range(len(table.numeric)):
        pdf.set_font("Helvetica", "B", size)
        heading = table.headings[n] if table.headings else ""
        widest = max((pdf.get_string_width(latin(word)) for word in heading.split()), default=0.0)
        pdf.set_font("Helvetica", "", size)
        widest = max([widest, *(pdf.get_string_width(latin(row[n])) for row in table.rows)])
        need.append(widest + 2.5)
    if wrap is not None:
        rest = _WIDTH - sum(w for n, w in enumerate(need) if n != wrap)
        if rest >= _WIDTH / 4:
            need[wrap] = min(need[wrap], rest)
    spare = _WIDTH - sum(need)
    if spare <= 0:
        return tuple(x * _WIDTH / sum(need) for x in need)
    return tuple(x + spare / len(need) for x in need)


def _draw(pdf: Paper, table: Table, *, size: float, wrap: int | None = None) -> None:
    widths = _widths(pdf, table, size, wrap)
    pdf.set_font("Helvetica", size=size)
    pdf.set_fill_color(255, 255, 255)
    pdf.set_draw_color(170)
    with pdf.table(
        headings_style=_HEADINGS,
        col_widths=widths,
        text_align=tuple("RIGHT" if n else "LEFT" for n in table.numeric),
        line_height=size * 0.48,
        first_row_as_headings=bool(table.headings),
        width=_WIDTH,
    ) as drawn:
        if table.headings:
            drawn.row([latin(h) for h in table.headings])
        for row in table.rows:
            drawn.row([latin(cell) for cell in row])
