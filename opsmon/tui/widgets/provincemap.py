"""The province on a map: each regency shaded by its worst condition, numbered, with a legend.

The geometry is rasterised once per size (`opsmon.core.geo.ProvinceShape.grid`),
and the drawn text is kept until a regency's condition, the size or the
language changes, so a burst of events repaints the map only when what it
says has changed. Every shade is a different character as well as a colour,
and the legend says each regency's condition in words: it reads with
NO_COLOR=1 and on a 16-colour terminal.
"""

from __future__ import annotations

from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget

from opsmon.core.geo import Grid, ProvinceShape
from opsmon.core.i18n import Translator
from opsmon.core.view import CONDITIONS, RegencySummary
from opsmon.tui.widgets.lines import TextStrips
from opsmon.tui.widgets.regency import digit_for

# Interior fill per condition, worst first: darker means worse, with or without colour.
FILL = {"critical": "█", "escalated": "▓", "blocked": "▒", "incidents": "░", "quiet": "·"}
# Each condition's hue is its component class's colour in opsmon.tcss (map--cond-critical ...).
WORDY_ENTRY = 25  # "12 Banjarmasin ░ insiden"
SHORT_ENTRY = 17  # "12 Banjarmasin ░": the key line under it says what ░ means


def entry_width(width: int) -> int:
    return WORDY_ENTRY if width >= 2 * WORDY_ENTRY or width < 2 * SHORT_ENTRY else SHORT_ENTRY


def legend_rows(width: int, regencies: int) -> int:
    """Rows the legend takes under a map this wide: regencies in columns, then the key."""
    columns = max(1, width // entry_width(width))
    return -(-regencies // columns) + (2 if width < 60 else 1)


class ProvinceMap(Widget):
    DEFAULT_CSS = """
    ProvinceMap { width: 50; height: 1fr; padding: 0 1; }
    """
    COMPONENT_CLASSES = {*(f"map--cond-{condition}" for condition in FILL), "map--alert", "map--strong", "map--quiet"}

    def __init__(self, shape: ProvinceShape | None, *, id: str | None = "map") -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.shape = shape
        self.summaries: list[RegencySummary] = []
        self.tr = Translator()
        self.focused_code: str | None = None
        self._drawn: tuple[object, Text] | None = None
        self.draws = 0  # how often the text was rebuilt (tests read it)
        # Its strips for the last few sizes: a notice line coming and going moves the map's
        # height between two, and each layout would otherwise draw the whole map again.
        self._strips = TextStrips(keep=4)
        self._revision = 0  # what it shows: bumped when a condition, the language or the focus moves

    def show(self, summaries: list[RegencySummary], tr: Translator, focused: str | None = None) -> None:
        before = (tuple((s.code, s.condition) for s in self.summaries), self.tr.lang, self.focused_code)
        self.summaries, self.tr, self.focused_code = summaries, tr, focused
        if before != (tuple((s.code, s.condition) for s in summaries), tr.lang, focused):
            self._revision += 1
            self.refresh()

    def render_line(self, y: int) -> Strip:
        """The Line API: the drawing's strips, kept per size and what it shows."""
        return self._strips.line(self, self._revision, self.render, y)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()  # a theme or class moved: the hues and styles with it

    def render(self) -> Text:
        width, height = self.content_size.width, self.content_size.height
        key = (width, height, tuple((s.code, s.index, s.short, s.condition) for s in self.summaries), self.tr.lang, self.focused_code)
        if self._drawn is not None and self._drawn[0] == key:
            return self._drawn[1]
        text = self._draw(width, height)
        self._drawn = (key, text)
        self.draws += 1
        return text

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"map--{name}", partial=True)

    def _hue(self, condition: str) -> Style:
        """The colour of a condition (its shade character says it without colour)."""
        return self.get_component_rich_style(f"map--cond-{condition}", partial=True)

    def _draw(self, width: int, height: int) -> Text:
        tr = self.tr
        if self.shape is None:
            return Text(tr("map.none"), self._style("quiet"))
        out = Text(no_wrap=True, overflow="crop")
        out.append(tr("map.title") + "\n", self._style("strong"))
        legend = legend_rows(width, len(self.summaries))
        room = height - 1 - legend
        if room >= 4 and width >= 8:
            columns, rows = self.shape.size_for(width, room)
            grid = self.shape.grid(columns, rows)
            left = (width - columns) // 2
            for line in self._map_lines(grid):
                out.append(" " * left)
                out.append_text(line)
                out.append("\n")
        out.append_text(self._legend(width))
        return out

    def _map_lines(self, grid: Grid) -> list[Text]:
        by_code = {s.code: s for s in self.summaries}
        condition = {code: s.condition for code, s in by_code.items()}

        hues = {state: self._hue(state).color for state in FILL}

        def colour(code: str | None) -> Color | None:
            return hues[condition.get(code, "quiet")] if code is not None else None

        alert = self._style("alert")

        lines = []
        labels: dict[tuple[int, int], tuple[str, str]] = {}
        for code, (column, row) in grid.labels.items():
            summary = by_code.get(code)
            if summary is None:
                continue
            number = map_number(summary.index)
            start = max(0, min(grid.width - len(number), column - (len(number) - 1) // 2))
            for n, digit in enumerate(number):
                labels[(start + n, row)] = (digit, code)
        for y, cells in enumerate(grid.cells):
            line = Text()
            for x, cell in enumerate(cells):
                label = labels.get((x, y))
                if label is not None:
                    digit, code = label
                    line.append(digit, alert + Style(underline=code == self.focused_code))
                    continue
                top, bottom = cell.top, cell.bottom
                if top is None and bottom is None:
                    line.append(" ")
                elif top is None or bottom is None:
                    line.append("▄" if top is None else "▀", Style(color=colour(top or bottom)))
                elif top != bottom:
                    line.append("▀", Style(color=colour(top), bgcolor=colour(bottom)))
                else:
                    # Edges solid (the outline reads without colour), the inside shaded by condition.
                    state = condition.get(top, "quiet")
                    line.append("█" if cell.edge else FILL[state], Style(color=hues[state]))
            lines.append(line)
        return lines

    def _legend(self, width: int) -> Text:
        tr = self.tr
        out = Text()
        each = entry_width(width)
        columns = max(1, width // each)
        rows = -(-len(self.summaries) // columns)
        for row in range(rows):
            for column in range(columns):
                i = column * rows + row
                if i >= len(self.summaries):
                    break
                s = self.summaries[i]
                entry = Text()
                entry.append(f"{map_number(s.index):>2}", self._style("alert"))
                entry.append(f" {s.short[:11]:<11} ")
                entry.append(FILL[s.condition], self._hue(s.condition))
                if each == WORDY_ENTRY:
                    word = tr(f"map.cond.{s.condition}_short")
                    entry.append(f" {word:<7}", self._style("strong" if s.condition != "quiet" else "quiet"))
                entry.truncate(each - 1 if column < columns - 1 else width, pad=column < columns - 1)
                out.append_text(entry)
                if column < columns - 1:
                    out.append(" ")
            out.append("\n")
        key = Text()
        for n, condition in enumerate(CONDITIONS):
            part = Text()
            part.append(FILL[condition], self._hue(condition))
            part.append(" " + tr(f"map.cond.{condition}"))
            if n and key.cell_len + 2 + part.cell_len > width:
                out.append_text(key)
                out.append("\n")
                key = Text()
            elif n:
                key.append("  ")
            key.append_text(part)
        out.append_text(key)
        return out


def map_number(index: int) -> str:
    """The number a regency carries on the map: its panel's focus key (1..9, then 0),
    and past those (no key) its place in the panels' order, 11 on."""
    return digit_for(index) if index <= 10 else str(index)
