"""One panel per regency, and the grid that reflows them with the terminal."""

from __future__ import annotations

from datetime import datetime

from rich.style import Style
from rich.text import Text
from textual.containers import Grid
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from opsmon.core.i18n import Translator
from opsmon.core.text import for_terminal
from opsmon.core.view import SEVERITIES, Lookup, RegencySummary, regency_stages
from opsmon.core.view import age as age_of
from opsmon.tui.widgets.bars import bar, fit
from opsmon.tui.widgets.lines import TextStrips


def digit_for(index: int) -> str:
    """The key that focuses the regency at 1-based `index`: 1..9, then 0."""
    if 1 <= index <= 9:
        return str(index)
    return "0" if index == 10 else " "


class DrawBudget:
    """How many panels may draw a change of counts on one repaint. Under a flood (2,000
    events a second reach every regency) all 13 would draw on every repaint, tens of
    milliseconds in which a keypress waits; so a few draw per repaint, the others on the
    next ones (a count is at most a few repaints late). What a panel alerts on (its
    condition, overdue, focus) and a first drawing are never held back."""

    def __init__(self, panels: int) -> None:
        self.left = panels
        self.held = 0  # panels that wait for a later repaint

    def take(self, *, urgent: bool) -> bool:
        if urgent or self.left > 0:
            self.left -= not urgent
            return True
        self.held += 1
        return False


class RegencyPanel(Widget):
    """Short name, current stage with progress, open incidents by severity,
    oldest unacknowledged age, and marks in words for what is late.

    On Textual's Line API: its lines are drawn once per change (`show` says when) and size,
    as strips kept (opsmon.tui.widgets.lines), so a repaint or a layout of the dashboard
    that changes nothing it says draws nothing of it again; its component styles are read
    once per style change, not once per drawing."""

    DEFAULT_CSS = """
    RegencyPanel { height: 2; }
    """
    # Styled in opsmon.tcss: alert (reverse video) for what needs the officer, said in words
    # too; key for the digit that focuses the panel. Readable without colour.
    COMPONENT_CLASSES = {"panel--alert", "panel--strong", "panel--quiet", "panel--key"}

    def __init__(self, code: str) -> None:
        super().__init__(id=f"regency-{code}", classes="regency")
        self.code = code
        self.summary: RegencySummary | None = None
        self.lookup: Lookup | None = None
        self.tr = Translator()
        self.now: datetime | None = None
        self.stage_rows: dict[str, tuple[int, int]] = {}
        self._seen: tuple[object, ...] | None = None
        self._alarm: tuple[object, ...] | None = None
        self.wall = False  # the wall has no keys: no focus digits
        self._version = 0  # bumped by `show` when what it says changed
        self._strips = TextStrips(keep=2)
        self._styles: dict[str, Style] = {}

    def show(
        self,
        summary: RegencySummary,
        lookup: Lookup,
        tr: Translator,
        now: datetime,
        *,
        focused: bool,
        stale: bool,
        outside: bool = False,
        stage_rows: dict[str, tuple[int, int]] | None = None,
        wall: bool = False,
        budget: DrawBudget | None = None,
    ) -> bool:
        """Draw it anew if anything it shows changed. With a `budget` (the dashboard's, per
        repaint), a change of counts alone may wait for a later repaint: False then."""
        waiting = age_of(tr, now, summary.oldest_unacked) if summary.oldest_unacked is not None else None  # turns over at its own second
        seen = (summary, tr.lang, waiting, focused, outside, stale, wall, tuple(sorted((stage_rows or {}).items())))
        if seen == self._seen:
            return True  # unchanged: no repaint for this panel
        alarm = (summary.condition, summary.overdue > 0, tr.lang, focused, outside, stale, wall)  # what it shouts (and its classes)
        if budget is not None and self._seen is not None and not budget.take(urgent=alarm != self._alarm):
            return False
        self._seen, self._alarm = seen, alarm
        self.summary, self.lookup, self.tr, self.now = summary, lookup, tr, now
        self.stage_rows = stage_rows or {}
        self.wall = wall
        classes = self.classes
        self.set_class(summary.overdue > 0 and not outside, "-overdue")
        self.set_class(summary.critical_unacked > 0 and not outside, "-critical")
        self.set_class(focused, "-focused")
        self.set_class(stale, "-stale")
        self.set_class(outside, "-outside")  # not the officer's focus: shown, quiet
        self._version += 1
        self._redraw(classes_moved=classes != self.classes)
        return True

    def _redraw(self, *, classes_moved: bool) -> None:
        """Only the lines whose drawing changed (a count moves one line of four): each line
        refreshed goes through Textual's border, padding and compositor again, about as
        much as drawing it. A new class (its colours, its border) or size: all of it."""
        before = self._strips.kept(self, self._version - 1)
        if classes_moved or before is None or not self.is_mounted:
            self.refresh()
            return
        after = self._strips.drawing(self, self._version, self.render)
        moved = [y for y in range(max(len(before), len(after))) if y >= len(before) or y >= len(after) or before[y] != after[y]]
        if moved:
            self.refresh(*(Region(0, y, self.content_size.width, 1) for y in moved))

    def render_line(self, y: int) -> Strip:
        """The Line API: this drawing's strips (what it says, its size and base style)."""
        return self._strips.line(self, self._version, self.render, y)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()  # a class or the theme moved: its styles are read again
        self._strips.clear()

    def _style(self, name: str) -> Style:
        if name == "alert" and self.has_class("-outside"):
            name = "quiet"  # another officer's ground: said in words, not shouted
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = self.get_component_rich_style(f"panel--{name}", partial=True)
        return style

    def render(self) -> Text:
        summary, lookup = self.summary, self.lookup
        width = max(8, self.content_size.width)
        height = max(1, self.content_size.height)
        if summary is None or lookup is None:
            return Text("")
        if height == 2:
            # Compact: counts, marks and age share the title and progress lines. When the
            # title line cannot hold the stage marks (!JADWAL, !HAMBAT) whole, they lead
            # the progress line instead: the name and the marks are never cut.
            title = self._title(summary, width, compact=True)
            moved = Text()
            marks = self._stage_marks(summary)
            kept = len(marks)
            while title.cell_len > width and kept > 0:  # the last marks move first
                kept -= 1
                title = self._title(summary, width, compact=True, stage_marks=kept)
                moved = Text().join(marks[kept:])
            lines = [fit(title, Text(), width), self._progress(summary, lookup, width, age=True, lead=moved)]
        else:
            lines = [self._title(summary, width), self._progress(summary, lookup, width)]
            lines.extend(self._problems(summary, lookup, width))
            lines.append(self._counts(summary, width, long=True))
            lines.append(self._waiting(summary, width))
            stages = regency_stages(lookup.config)
            if height >= len(lines) + len(stages):
                lines.extend(self._stages(summary, lookup, width))
        out = Text("\n").join(lines[:height])
        out.no_wrap = True
        out.overflow = "crop"
        return out

    # --- lines ----------------------------------------------------------------

    def _stage_marks(self, summary: RegencySummary) -> list[Text]:
        """A blocked stage, a stage past its window: short words in reverse video."""
        marks = []
        if summary.blocked:
            marks.append(Text(self.tr("panel.blocked_short") + " ", self._style("alert")))
        if summary.late_stages:
            marks.append(Text(self.tr("panel.late_short") + " ", self._style("alert")))
        return marks

    def _marks(self, summary: RegencySummary, compact: bool, stage_marks: int = 2) -> Text:
        """What needs the officer, in words and reverse video: readable without colour."""
        tr = self.tr
        marks = Text()
        if self.has_class("-focused"):
            marks.append(tr("panel.focused") + " ", self._style("strong"))
        if summary.critical_unacked and not compact:
            marks.append(tr("panel.critical") + " ", self._style("alert"))
        # Boxed panels name the blocked and late stages on lines of their own.
        if compact:
            for mark in self._stage_marks(summary)[:stage_marks]:
                marks.append_text(mark)
        if summary.overdue:
            marks.append((tr("status.overdue") if compact else tr("panel.overdue")) + " ", self._style("alert"))
        if self.has_class("-stale"):
            marks.append("~" + tr("panel.stale") + " ", self._style("quiet"))
        marks.rstrip()
        return marks

    def _title(self, summary: RegencySummary, width: int, compact: bool = False, stage_marks: int = 2) -> Text:
        """The key, the name and (compact) the counts and marks; longer than `width` when
        they do not fit (the caller decides what moves)."""
        left = Text()
        if not self.wall:
            left.append(digit_for(summary.index), self._style("key"))  # the key that focuses it
            left.append(" ")
        left.append(summary.short, self._style("strong"))
        right = Text()
        if compact and summary.open_total:
            right.append_text(self._counts(summary, width, long=False))
            right.append(" ")
        right.append_text(self._marks(summary, compact, stage_marks))
        if not compact:
            return fit(left, right, width)
        line = Text()
        line.append_text(left)
        if right.cell_len:
            line.append(" " * max(1, width - left.cell_len - right.cell_len))
            line.append_text(right)
        return line

    def _progress(self, summary: RegencySummary, lookup: Lookup, width: int, age: bool = False, lead: Text | None = None) -> Text:
        """[marks moved from the title] stage done/total [bar] [·age]: the bar goes first,
        then the counts, when the line is short."""
        tr = self.tr
        line = Text()
        if lead is not None:
            line.append_text(lead)
        if summary.stage is None:
            line.append("✓ " + tr("panel.all_done"))
            return line
        line.append(lookup.stage_label(summary.stage))
        counts = f" {summary.done}/{summary.total}"
        tail = Text()
        if age and summary.oldest_unacked is not None and self.now is not None:
            tail.append(" ·" + age_of(tr, self.now, summary.oldest_unacked), self._style("strong"))
        if line.cell_len + len(counts) + tail.cell_len > width and lead:
            # Cramped by the marks it leads with: the progress as a share, never dropped
            # (floored, so 1020 of 1026 is 99%, not a finished-looking 100%).
            counts = f" {summary.done * 100 // summary.total if summary.total else 0}%"
            if line.cell_len + len(counts) + tail.cell_len > width:
                tail = Text()  # the oldest age gives way (the queue says each incident's)
        if line.cell_len + len(counts) + tail.cell_len <= width or not lead:
            line.append(counts)
        room = width - line.cell_len - tail.cell_len - 1
        if room >= 3:
            line.append(" ")
            line.append(bar(summary.done, summary.total, room, rest=self._style("quiet")))
        line.append_text(tail)
        return line

    def _problems(self, summary: RegencySummary, lookup: Lookup, width: int) -> list[Text]:
        """A line per blocked or late stage, naming it (and the blocked stage's note)."""
        tr = self.tr
        labels = {stage.key: lookup.stage_label(stage) for stage in lookup.config.stages}
        lines = []
        for key, note in summary.blocked_stages:
            line = Text()
            line.append(tr("panel.blocked"), self._style("alert"))
            line.append(" " + labels.get(key, for_terminal(key)), self._style("strong"))
            if note:
                line.append(": " + for_terminal(note))
            lines.append(line)
        late = [labels.get(key, for_terminal(key)) for key in summary.late_stages]
        if late:
            line = Text()
            line.append(tr("panel.late"), self._style("alert"))
            line.append(" " + ", ".join(late), self._style("strong"))
            lines.append(line)
        return lines

    def _counts(self, summary: RegencySummary, width: int, long: bool) -> Text:
        """Open incidents by severity letter. Unacknowledged criticals get a `!` and
        reverse video of their own, so acknowledged and new ones never read alike."""
        tr = self.tr
        counts = Text()
        if long and not summary.open_total:
            counts.append(tr("panel.no_incidents"), self._style("quiet"))
            return counts
        for severity in SEVERITIES:
            count = summary.open_by_severity.get(severity, 0)
            if not count and not long:
                continue
            letter = tr("sev.letter." + severity)
            if severity == "critical" and summary.critical_unacked:
                counts.append(f"!{letter}{count}", self._style("alert"))
                if summary.critical_unacked < count:
                    counts.append(f"({tr('panel.new', count=summary.critical_unacked)})", self._style("strong"))
            else:
                counts.append(
                    f"{letter}{count}", self._style("strong") if count and severity in ("critical", "high") else "" if count else self._style("quiet")
                )
            counts.append(" ")
        counts.rstrip()
        return counts

    def _stages(self, summary: RegencySummary, lookup: Lookup, width: int) -> list[Text]:
        """Every stage, when the panel is tall enough (a wall, a big terminal)."""
        lines = []
        current = summary.stage.key if summary.stage else None
        blocked = {key for key, _ in summary.blocked_stages}
        passed = True
        for stage in regency_stages(lookup.config):
            if stage.key == current:
                passed = False
            done, total = self.stage_rows.get(stage.key, (0, 0))
            line = Text()
            if passed and stage.key not in blocked:
                line.append("✓ " + lookup.stage_label(stage), self._style("quiet"))
            elif stage.key == current:
                line.append("▸ " + lookup.stage_label(stage), self._style("strong"))
            else:
                line.append("· " + lookup.stage_label(stage), self._style("quiet"))
            if stage.key in blocked:
                line.append(" " + self.tr("panel.blocked_short"), self._style("alert"))
            elif stage.key in summary.late_stages:
                line.append(" " + self.tr("panel.late_short"), self._style("alert"))
            numbers = Text(f"{done}/{total}", self._style("quiet") if stage.key != current else self._style("strong"))
            lines.append(fit(line, numbers, width))
        return lines

    def _waiting(self, summary: RegencySummary, width: int) -> Text:
        line = Text()
        if summary.oldest_unacked is not None and self.now is not None:
            line.append(self.tr("panel.oldest_unacked", age=age_of(self.tr, self.now, summary.oldest_unacked)), self._style("strong"))
        return line


class RegencyGrid(Grid):
    """13 panels (or however many the config names); columns follow the width."""

    def ensure_panels(self, codes: list[str]) -> bool:
        """Mount one panel per regency once the config is known; True if it changed."""
        if [p.code for p in self.query(RegencyPanel)] == codes:
            return False
        self.remove_children()
        self.mount_all(RegencyPanel(code) for code in codes)
        return True

    def layout_for(self, width: int, height: int, wall: bool, count: int) -> tuple[int, int, bool]:
        """(columns, panel height, boxed) for a terminal of this size.

        Boxed panels (a border, every stage listed when tall enough) when they fit
        in the room the grid may take: 55% of the height on the dashboard (the
        queue keeps the rest), all but the ticker on the wall. Otherwise
        two-line compact panels, as many columns as 26 cells allow."""
        count = max(1, count)

        def grid(min_width: int) -> tuple[int, int]:
            columns = max(1, min(count, width // min_width))
            rows = -(-count // columns)
            return -(-count // rows), rows  # balanced: as few empty cells as the rows allow

        room = height - 2 - 10 if wall else int(height * 0.55)  # wall: header, footer, ticker
        columns, rows = grid(40 if wall else 34)
        if rows * 6 <= room:
            return columns, max(6, min(13 if wall else 12, room // rows)), True
        columns, rows = grid(26)
        return columns, 2, False
