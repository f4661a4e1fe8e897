"""The incident queue: most urgent first, one line per incident.

A Line API widget over a QueueIndex (opsmon.core.view): the rows are kept in
order as events change them, and only the rows on screen are rendered, so a
queue of 50,000 incidents costs what changed and a screenful of text per
repaint (a DataTable measures and lays out every row each time it is rebuilt).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import cast

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.errors import NoWidget
from textual.events import Click
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from opsmon.core.i18n import CATALOG, WITA, Translator, local_time, who
from opsmon.core.records import Actor, Incident
from opsmon.core.text import for_terminal
from opsmon.core.urgency import is_overdue, status_word
from opsmon.core.view import Lookup, QueueIndex, age, countdown, step, step_words
from opsmon.tui.actions import QUEUE, Scoped, bindings
from opsmon.tui.widgets.bars import cut, cut_name

COLUMNS = ("mark", "status", "regency", "severity", "category", "title", "age", "due", "acked_by", "owner")

# Every segment carries a style, even blank padding: Textual's monochrome
# filter (NO_COLOR) reads `.color` from each and fails on None.
PLAIN = Style()


# How the queue's width is shared (column_widths): each column's least and most; who gets
# room first; the title gets what is left. A column nothing fills (nobody acknowledged
# or owns a shown incident) takes no room at all. The countdown's most is a night's
# oldest overdue one, whole: "LEWAT 15h02j" (a recapitulation runs for weeks).
LEAST = {"mark": 1, "status": 6, "regency": 6, "severity": 1, "category": 0, "title": 16, "age": 3, "due": 0, "acked_by": 0, "owner": 0}
MOST = {"mark": 1, "status": 14, "regency": 14, "severity": 10, "category": 26, "title": 10_000, "age": 7, "due": 12, "acked_by": 22, "owner": 22}
FIRST = ("status", "regency", "age", "due", "severity", "title", "acked_by", "owner", "category")
TITLE_FIRST = 26  # the title's share before the names and the category get theirs
SHOWN_FROM = {"category": 10, "acked_by": 8, "owner": 8, "due": 3}  # narrower than this: not shown (the title takes it)
# What the columns typically hold, when the rows are not known (a header alone).
TYPICAL = {"mark": 1, "status": 9, "regency": 12, "severity": 10, "category": 14, "title": 40, "age": 6, "due": 9, "acked_by": 16, "owner": 16}


def column_widths(width: int, natural: dict[str, int] | None = None) -> dict[str, int]:
    """The queue's column widths for a terminal `width` wide, by one rule: every column
    gets its least; then, in the order of FIRST, each grows to what its rows hold
    (`natural`, capped by MOST), the title first to TITLE_FIRST; the title takes the
    rest. Below 110 columns the severity is its letter. A 0-wide column is not drawn."""
    want = dict(TYPICAL if natural is None else natural)
    if width < 110:
        want["severity"] = 2  # the letter, under its short label "Tk"
    want["title"] = TITLE_FIRST
    widths = {key: min(LEAST[key], want.get(key, 0)) if key not in ("mark", "title") else LEAST[key] for key in COLUMNS}
    room = width - 1 - sum(widths.values()) - (sum(1 for w in widths.values() if w) - 1)
    for key in FIRST:
        target = min(MOST[key], max(widths[key], want.get(key, 0)))
        grow = target - widths[key]
        if grow <= 0:
            continue
        gap = 0 if widths[key] else 1  # a column that appears takes a gap too
        if room - gap < 1:
            continue
        grow = min(grow, room - gap)
        if widths[key] + grow < SHOWN_FROM.get(key, 0):
            continue
        widths[key] += grow
        room -= grow + gap
    widths["title"] += max(0, room)
    return widths


class IncidentQueue(Scoped, ScrollView, can_focus=True):
    """Keyed by incident id, so the cursor stays on an incident as rows move."""

    SCOPE = QUEUE

    BINDINGS = bindings(QUEUE)

    DEFAULT_CSS = """
    IncidentQueue { overflow-x: hidden; }
    """
    # Styled in opsmon.tcss. The cursor is reverse video (bold when focused) in any
    # terminal, colour or not; alert (reverse) marks what is late, critical or marked.
    COMPONENT_CLASSES = {"queue--header", "queue--cursor", "queue--cursor-blurred", "queue--alert", "queue--strong", "queue--quiet"}

    def __init__(self) -> None:
        super().__init__(id="queue")
        self.rows = QueueIndex()  # the screen's, once shown: read, never changed here
        self.cursor_row = 0
        self._selected: int | None = None  # the incident under the cursor when it last moved or the rows were shown
        self._present: set[int] = set()  # of the incidents the cursor follows, those the rows held when last shown
        # The incident the officer put the cursor on: while a filter hides it the cursor
        # waits on another row, and goes back to it when it shows again.
        self.following: int | None = None
        self._signature: tuple[object, ...] | None = None
        # Drawn rows by incident id, each with the incident it drew and its clock words (age,
        # countdown, overdue): still good while the fold has not replaced that incident, its
        # minute has not turned and nothing every row shows has moved (_drawn_for: the marks,
        # the widths...). A new report re-sorts the rows; it does not draw the screenful again.
        self._lines: dict[int, tuple[Incident, tuple[str, str, bool], Strip]] = {}
        self._drawn_for: tuple[object, ...] | None = None
        self._bar_drawn = 0.0  # when the scrollbar last took the queue's length (monotonic)
        self._header: Strip | None = None
        self._view_context: tuple[Lookup, Translator, datetime, set[int], bool] | None = None
        self._widths: dict[str, int] = column_widths(80)

    # --- the data -------------------------------------------------------------------

    @property
    def incidents(self) -> QueueIndex:
        """The rows, in order (a sequence of incidents)."""
        return self.rows

    @property
    def incident_ids(self) -> list[int]:
        return self.rows.ids()

    def in_order(self, ids: set[int]) -> list[int]:
        """Those of `ids` the queue shows, in its order."""
        rows = {i: self.rows.position(i) for i in ids}
        return sorted((i for i, row in rows.items() if row is not None), key=lambda i: rows[i] or 0)

    @property
    def selected_id(self) -> int | None:
        return self._selected

    def shows_selection(self) -> bool:
        """Whether the selected incident's row is on the terminal now (not hidden by the map,
        a layout without room for the queue, or scrolled away): keys act only on what is seen."""
        if self.selected_id is None or not self.display:
            return False
        try:
            placed = self.screen.find_widget(self)
        except NoWidget:
            return False
        shown = placed.region.intersection(placed.clip)
        row = self.cursor_row - self.scroll_offset.y + 1  # the header takes the first line
        return shown.width > 0 and 1 <= row < shown.height

    def select_incident(self, incident_id: int | None) -> None:
        row = self.rows.position(incident_id)
        if row is not None:
            self._choose(row)

    def show(self, rows: QueueIndex, lookup: Lookup, tr: Translator, now: datetime, marked: set[int], *, keep: int | None, stale: bool) -> int | None:
        """Show `rows` (brought up to date by the screen just before), the cursor on the
        incident it was on. Returns that incident's id if it has left the queue (so the
        cursor is on another)."""
        second = int(now.timestamp())  # ages and countdowns turn over at their own second, not the clock's minute
        signature = (second, stale, self._row_width(), tuple(sorted(marked)), id(rows), rows.revision)
        if signature == self._signature:
            return None  # nothing a person could see has changed
        self._signature = signature
        # The cursor follows its incident, never its row number: after the officer's own
        # verb (ack, snooze, severity, merge), a re-sort by new events, a filter or a snapshot.
        target = keep if keep is not None else self.following if self.following is not None else self.selected_id
        was_shown = target in self._present
        position = self.cursor_row
        self.rows = rows
        self._view_context = (lookup, tr, now, set(marked), stale)
        self._columns(self._row_width())
        self._set_length(len(rows))
        row = rows.position(target)
        if row is not None:
            self._choose(row)
        else:
            self._move(min(max(position, 0), max(0, len(rows) - 1)))
        self._present = {i for i in (self.following, self._selected) if i is not None and i in rows}
        self.refresh()
        # Lost only when it was on the list and left it now (not when a redraw for a new
        # size, a notice line coming or going, finds it still hidden by a filter).
        return target if target is not None and was_shown and row is None and len(rows) else None

    # --- drawing --------------------------------------------------------------------

    def _row_width(self) -> int:
        """The rows' width: the content less the scrollbar while one shows (drawn to the
        whole width, a long night's countdown went under the scrollbar: "LEWAT 9h18")."""
        return self.scrollable_content_region.width

    def _columns(self, width: int) -> None:
        """The columns for `width`; every row is drawn again when they move."""
        assert self._view_context is not None
        lookup, tr, _now, marked, stale = self._view_context
        self._widths = column_widths(width, self._natural())
        drawn_for = (stale, width, tuple(sorted(marked)), tuple(self._widths.values()), id(lookup), tr.lang)
        if drawn_for != self._drawn_for:
            self._drawn_for = drawn_for
            self._lines.clear()
            self._header = None

    def render_line(self, y: int) -> Strip:
        width = self._row_width()
        if self._drawn_for is not None and self._drawn_for[1] != width:
            self._columns(width)  # the scrollbar came or went: no resize event says so
        if y == 0:
            if self._header is None:
                self._header = self._strip(self._header_text(width), width, self._style("header"))
            return self._header
        row = self.scroll_offset.y + y - 1
        if not 0 <= row < len(self.rows):
            return Strip.blank(width, PLAIN)
        incident = self.rows[row]
        clock = self._clock_words(incident)
        drawn = self._lines.get(incident.id)
        if drawn is not None and drawn[0] is incident and drawn[1] == clock:
            strip = drawn[2]
        else:
            if len(self._lines) > 4 * max(1, self.size.height):
                self._lines.clear()  # rows scrolled past: the cache holds about a screenful
            strip = self._strip(self._row_text(incident, width), width, None)
            self._lines[incident.id] = (incident, clock, strip)
        if row == self.cursor_row:
            # Reverse video marks the cursor in any terminal, colour or not; bold when focused.
            return strip.apply_style(self._style("cursor" if self.has_focus else "cursor-blurred"))
        return strip

    def _clock_words(self, incident: Incident) -> tuple[str, str, bool]:
        """What of a row moves with the clock alone: its age, its countdown, overdue or not."""
        assert self._view_context is not None
        _, tr, now, _, _ = self._view_context
        return age(tr, now, incident.reported), countdown(tr, now, incident), is_overdue(incident, now)

    def _strip(self, text: Text, width: int, style: Style | None) -> Strip:
        segments = list(text.render(self.app.console))
        strip = Strip([Segment(s.text, s.style or PLAIN) for s in segments if s.text != "\n"]).adjust_cell_length(width, PLAIN)
        return strip.apply_style(style) if style is not None else strip

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"queue--{name}", partial=True)

    def _natural(self) -> dict[str, int]:
        """The widest value each column can hold for these rows (its label's short form at
        least), from the distinct values the index keeps: a few small sets, not a row's
        text per incident (a queue of 50,000 costs what a queue of 50 does)."""
        assert self._view_context is not None
        lookup, tr, now, _, _ = self._view_context
        rows = self.rows
        natural = {key: 0 for key in COLUMNS}
        if not len(rows):
            return natural
        values = rows.values
        statuses = {tr("status." + s) for s in ("open", "acknowledged", "resolved", "overdue", "snoozed", "merged")}
        pairs = cast("Iterable[tuple[int, int]]", values["level"])  # (level, repeats): QueueIndex counts them
        steps = {step_words(tr, level, repeats) for level, repeats in pairs}
        natural["status"] = max(map(len, statuses)) + max((len(" " + s) for s in steps if s), default=0)
        natural["regency"] = max(len(lookup.regency_short(str(code))) for code in values["regency"])
        natural["category"] = max(len(lookup.category(str(key))) for key in values["category"])
        natural["severity"] = max(len(f"{tr('sev.letter.' + str(key))}:{lookup.severity(str(key))}") for key in values["severity"])
        natural["mark"] = 1
        natural["title"] = TITLE_FIRST
        oldest = rows.oldest()
        natural["age"] = max(len(age(tr, now, i.reported)) for i in (oldest or rows[0], rows[0]))
        natural["acked_by"] = max((len(who(_actor(person))) for person in values.get("acked_by", ())), default=0)
        natural["owner"] = max((len(who(_actor(owner))) for owner in values.get("owner", ())), default=0)
        # The countdown only where a deadline runs: its widest form is an overdue one ("LEWAT 12m").
        nearest = rows.nearest_deadline()
        natural["due"] = len(countdown(tr, now, nearest)) if nearest is not None else 0
        for key, most in natural.items():
            if most:
                label = tr("col." + key + "_short") if "col." + key + "_short" in CATALOG else tr("col." + key)
                natural[key] = max(most, len(label))
        return natural

    def _header_text(self, width: int) -> Text:
        if self._view_context is None:
            return Text("")
        tr = self._view_context[1]
        widths = self._widths
        cells = []
        for key in COLUMNS:
            if not widths[key]:
                continue
            label = tr("col." + key)
            if len(label) > widths[key] and "col." + key + "_short" in CATALOG:
                label = tr("col." + key + "_short")
            cells.append(Text(cut(label, widths[key]).ljust(widths[key])))
        return Text(" ").join(cells)

    def _row_text(self, incident: Incident, width: int) -> Text:
        widths = self._widths
        line = Text()
        for key, (value, style) in zip(COLUMNS, self._cells(incident), strict=True):
            if not widths[key]:
                continue
            if line:
                line.append(" ")
            # A person keeps what tells them apart (no "Polri/Br…"); the rest is cut at its end.
            shown = cut_name(value, widths[key]) if key in ("acked_by", "owner") else cut(value, widths[key])
            line.append(shown, style)
            line.append(" " * (widths[key] - len(shown)))
        return line

    def _cells(self, incident: Incident) -> list[tuple[str, Style]]:
        """The row's text per column (COLUMNS' order), each with its style."""
        assert self._view_context is not None
        lookup, tr, now, marked, stale = self._view_context
        snoozed = incident.snoozed_until is not None and incident.status != "resolved"
        # Snoozed rows are dimmed and say so in words (status and wake time), never by colour alone.
        alert, strong = self._style("alert"), self._style("strong")
        dim = self._style("quiet") if stale or incident.status == "resolved" or snoozed else PLAIN
        overdue = is_overdue(incident, now)
        status = tr("status.overdue") if overdue else tr("status." + status_word(incident))
        if incident.level:
            status += " " + step(tr, incident)  # the chain's step, as the messages name it: "L2"
        due = countdown(tr, now, incident)
        letter = tr("sev.letter." + incident.severity)
        severity = letter if self.size.width < 110 else f"{letter}:{lookup.severity(incident.severity)}"
        if incident.status == "resolved":
            acked = who(incident.resolved_by)
        elif incident.status == "acknowledged":
            acked = who(incident.acknowledged_by)
        else:
            acked = ""
        return [
            ("*" if incident.id in marked else " ", alert if incident.id in marked else PLAIN),
            (status, alert if overdue else (strong if incident.status == "open" else dim)),
            (lookup.regency_short(incident.regency), dim),
            (severity, {"critical": alert, "high": strong}.get(incident.severity, dim) if incident.status != "resolved" else dim),
            (lookup.category(incident.category), dim),
            (self._title(incident, tr), dim),
            (age(tr, now, incident.reported), dim),
            (due, alert if overdue else dim),
            (acked, dim),
            (who(incident.owner) if incident.owner else "", dim),
        ]

    def _title(self, incident: Incident, tr: Translator) -> str:
        """#id, the repeat count (×3), the wake time of a snoozed one, then the title."""
        parts = [f"#{incident.id}"]
        if incident.reports > 1:
            parts.append(f"\u00d7{incident.reports}")
        if incident.snoozed_until is not None and incident.status != "resolved":
            # The time only: the header names the zone, and the title needs the room.
            parts.append(f"[{tr('queue.wakes', time=local_time(incident.snoozed_until, self.tz).split()[0])}]")
        elif incident.merged_into is not None:
            parts.append(f"\u2192#{incident.merged_into}")
        parts.append(for_terminal(incident.title))
        return " ".join(parts)

    @property
    def tz(self) -> tzinfo:
        return getattr(self.app, "tz", WITA)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._lines.clear()
        self._header = None

    def on_resize(self) -> None:
        # A new width: new columns. A new height alone (a notice line coming or going)
        # keeps the rows drawn: the rows newly on screen are drawn as they come.
        self._signature = None
        if self._view_context is not None:
            self._columns(self._row_width())
        else:
            self._header = None
        self.virtual_size = Size(self.size.width, len(self.rows) + 1)

    def _set_length(self, rows: int) -> None:
        """The rows to scroll through (and the header). A report more is not a new layout:
        `virtual_size` is a layout reactive, and a layout of the dashboard (every widget
        drawn again) per arriving report is most of a repaint. So it is set in place and
        the scrollbar updated, as Textual's own resize does; a layout follows only when
        the scrollbar comes or goes (show_vertical_scrollbar is a layout reactive)."""
        size = Size(self.size.width, rows + 1)
        before = self.virtual_size.height
        if size == self.virtual_size:
            return
        self.set_reactive(IncidentQueue.virtual_size, size)
        # The scrollbar too, unless the length moved by under 1% and the bar stays (or stays
        # away): its thumb would not move a cell, and drawing it is a few ms a repaint.
        same_bar = (before > self.size.height) == (size.height > self.size.height)
        if not same_bar or abs(size.height - before) * 100 >= before or time.monotonic() - self._bar_drawn >= 1:
            self._bar_drawn = time.monotonic()
            self._scroll_update(size)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # --- the cursor ---------------------------------------------------------------

    def _move(self, row: int) -> None:
        row = max(0, min(row, len(self.rows) - 1)) if len(self.rows) else 0
        was = self.cursor_row
        self.cursor_row = row
        self._selected = self.rows.id_at(row) if len(self.rows) else None
        visible = max(1, self.size.height - 1)  # the header takes a line
        top = self.scroll_offset.y
        if row < top:
            self.scroll_to(y=row, animate=False)
        elif row >= top + visible:
            self.scroll_to(y=row - visible + 1, animate=False)
        if self.scroll_offset.y != top:
            self.refresh()
        else:
            # j/k: the two rows the cursor left and reached, not the screenful (+1: the header line)
            self.refresh_line(was + 1)
            self.refresh_line(row + 1)

    def _choose(self, row: int) -> None:
        """The officer (or the screen for them) puts the cursor on a row: it follows that incident from now on."""
        self._move(row)
        self.following = self.selected_id
        if self.following is not None:
            self._present.add(self.following)  # on the rows now: if it leaves them, the officer is told

    def action_cursor_down(self) -> None:
        self._choose(self.cursor_row + 1)

    def action_cursor_up(self) -> None:
        self._choose(self.cursor_row - 1)

    def action_page_down(self) -> None:
        self._choose(self.cursor_row + max(1, self.size.height - 2))

    def action_page_up(self) -> None:
        self._choose(self.cursor_row - max(1, self.size.height - 2))

    def action_half_page_down(self) -> None:
        self._choose(self.cursor_row + max(1, (self.size.height - 1) // 2))

    def action_half_page_up(self) -> None:
        self._choose(self.cursor_row - max(1, (self.size.height - 1) // 2))

    def action_cursor_top(self) -> None:
        self._choose(0)

    def action_cursor_bottom(self) -> None:
        self._choose(len(self.rows) - 1)

    def on_click(self, event: Click) -> None:
        if event.y >= 1:
            self._choose(self.scroll_offset.y + event.y - 1)


def _actor(value: object) -> Actor | None:
    """A person the index counted (an Actor, or None: not known)."""
    return value if isinstance(value, Actor) else None
