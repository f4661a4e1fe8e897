"""The incident queue: most urgent first, one line per incident.

A Line API widget: only the rows on screen are rendered, so a queue of
thousands of incidents costs a sort and a screenful of text per repaint
(a DataTable measures and lays out every row each time it is rebuilt).
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.errors import NoWidget
from textual.events import Click
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from opsmon.core.i18n import CATALOG, WITA, Translator, local_time, who
from opsmon.core.records import Incident
from opsmon.core.text import for_terminal
from opsmon.core.urgency import is_overdue
from opsmon.core.view import Lookup, age, countdown
from opsmon.tui.actions import QUEUE, Scoped, bindings
from opsmon.tui.widgets.bars import cut

COLUMNS = ("mark", "status", "regency", "severity", "category", "title", "age", "due", "acked_by", "owner")

# Every segment carries a style, even blank padding: Textual's monochrome
# filter (NO_COLOR) reads `.color` from each and fails on None.
PLAIN = Style()


def column_widths(width: int) -> dict[str, int]:
    """Fixed columns first; the title takes what is left (at least 16). A column of
    width 0 is left out (under 90 columns: who acknowledged, which the detail shows)."""
    widths = {"mark": 1, "status": 9, "regency": 12, "severity": 10, "category": 14, "age": 6, "due": 9, "acked_by": 16, "owner": 16}
    if width < 160:
        widths.update(category=12, acked_by=12)  # room for the countdown: the title keeps 23 at 120
    if width < 110:
        widths.update(severity=3, category=10, acked_by=12, regency=11, status=8, owner=12)
    if width < 90:
        widths.update(status=9, regency=10, category=8, age=5, acked_by=0, owner=9)
    if width >= 160:
        widths.update(category=26, acked_by=20, owner=20)
    gaps = sum(1 for key in COLUMNS if key == "title" or widths[key]) - 1
    widths["title"] = max(16, width - sum(widths.values()) - gaps - 1)
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
        self.incidents: list[Incident] = []
        self.incident_ids: list[int] = []
        self.cursor_row = 0
        # The incident the officer put the cursor on: while a filter hides it the cursor
        # waits on another row, and goes back to it when it shows again.
        self.following: int | None = None
        self._signature: tuple[object, ...] | None = None
        self._lines: dict[int, Strip] = {}
        self._header: Strip | None = None
        self._view_context: tuple[Lookup, Translator, datetime, set[int], bool] | None = None

    # --- the data -------------------------------------------------------------------

    @property
    def selected_id(self) -> int | None:
        if 0 <= self.cursor_row < len(self.incident_ids):
            return self.incident_ids[self.cursor_row]
        return None

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
        if incident_id is not None and incident_id in self.incident_ids:
            self._choose(self.incident_ids.index(incident_id))

    def show(self, incidents: list[Incident], lookup: Lookup, tr: Translator, now: datetime, marked: set[int], *, keep: int | None, stale: bool) -> int | None:
        """Show `incidents`, the cursor on the incident it was on. Returns that
        incident's id if it has left the queue (so the cursor is on another)."""
        second = int(now.timestamp())  # ages and countdowns turn over at their own second, not the clock's minute
        signature = (
            second,
            stale,
            self.size.width,
            tuple(sorted(marked)),
            tuple((i.id, i.status, i.level, i.acknowledged, i.severity, i.reports, i.owner, i.snoozed_until, i.merged_into) for i in incidents),
        )
        if signature == self._signature:
            return None  # nothing a person could see has changed
        self._signature = signature
        # The cursor follows its incident, never its row number: after the officer's own
        # verb (ack, snooze, severity, merge), a re-sort by new events, a filter or a snapshot.
        target = keep if keep is not None else self.following if self.following is not None else self.selected_id
        after = {i.id for i in incidents}
        position = self.cursor_row
        self.incidents = incidents
        self.incident_ids = [i.id for i in incidents]
        self._view_context = (lookup, tr, now, set(marked), stale)
        self._lines.clear()
        self._header = None
        self.virtual_size = Size(self.size.width, len(incidents) + 1)
        if target in self.incident_ids:
            self._choose(self.incident_ids.index(target))
        else:
            self._move(min(max(position, 0), max(0, len(incidents) - 1)))
        self.refresh()
        return target if target is not None and target not in after and self.incident_ids else None

    # --- drawing --------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y == 0:
            if self._header is None:
                self._header = self._strip(self._header_text(width), width, self._style("header"))
            return self._header
        row = self.scroll_offset.y + y - 1
        if not 0 <= row < len(self.incidents):
            return Strip.blank(width, PLAIN)
        strip = self._lines.get(row)
        if strip is None:
            strip = self._strip(self._row_text(self.incidents[row], width), width, None)
            self._lines[row] = strip
        if row == self.cursor_row:
            # Reverse video marks the cursor in any terminal, colour or not; bold when focused.
            return strip.apply_style(self._style("cursor" if self.has_focus else "cursor-blurred"))
        return strip

    def _strip(self, text: Text, width: int, style: Style | None) -> Strip:
        segments = list(text.render(self.app.console))
        strip = Strip([Segment(s.text, s.style or PLAIN) for s in segments if s.text != "\n"]).adjust_cell_length(width, PLAIN)
        return strip.apply_style(style) if style is not None else strip

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"queue--{name}", partial=True)

    def _header_text(self, width: int) -> Text:
        if self._view_context is None:
            return Text("")
        tr = self._view_context[1]
        widths = column_widths(width)
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
        assert self._view_context is not None
        lookup, tr, now, marked, stale = self._view_context
        widths = column_widths(width)
        snoozed = incident.snoozed_until is not None and incident.status != "resolved"
        # Snoozed rows are dimmed and say so in words (status and wake time), never by colour alone.
        alert, strong = self._style("alert"), self._style("strong")
        dim = self._style("quiet") if stale or incident.status == "resolved" or snoozed else PLAIN
        overdue = is_overdue(incident, now)
        status = tr("status.overdue") if overdue else tr("status." + incident.status)
        if snoozed:
            status = tr("status.snoozed")
        elif incident.merged_into is not None:
            status = tr("status.merged")
        if incident.level:
            status += " " + tr("status.level", level=incident.level)
        due = countdown(tr, now, incident)
        letter = tr("sev.letter." + incident.severity)
        severity = letter if widths["severity"] < 6 else f"{letter}:{lookup.severity(incident.severity)}"
        if incident.status == "resolved":
            acked = who(incident.resolved_by)
        elif incident.status == "acknowledged":
            acked = who(incident.acknowledged_by)
        else:
            acked = ""
        cells = [
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
        line = Text()
        first = True
        for key, (value, style) in zip(COLUMNS, cells, strict=True):
            if not widths[key]:
                continue
            if not first:
                line.append(" ")
            first = False
            line.append(cut(value, widths[key]), style)
            line.append(" " * (widths[key] - min(len(value), widths[key])))
        return line

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
        self._lines.clear()
        self._header = None
        self._signature = None
        self.virtual_size = Size(self.size.width, len(self.incidents) + 1)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # --- the cursor ---------------------------------------------------------------

    def _move(self, row: int) -> None:
        row = max(0, min(row, len(self.incidents) - 1)) if self.incidents else 0
        self.cursor_row = row
        visible = max(1, self.size.height - 1)  # the header takes a line
        top = self.scroll_offset.y
        if row < top:
            self.scroll_to(y=row, animate=False)
        elif row >= top + visible:
            self.scroll_to(y=row - visible + 1, animate=False)
        self.refresh()

    def _choose(self, row: int) -> None:
        """The officer (or the screen for them) puts the cursor on a row: it follows that incident from now on."""
        self._move(row)
        self.following = self.selected_id

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
        self._choose(len(self.incidents) - 1)

    def on_click(self, event: Click) -> None:
        if event.y >= 1:
            self._choose(self.scroll_offset.y + event.y - 1)
