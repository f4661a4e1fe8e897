"""Drawing a widget's text once per change, as Textual's Line API strips.

A widget that returns rich Text from `render()` goes through Textual's visual pipeline
on every refresh and every layout (the text converted to Content, styled, wrapped and
cut into strips): a few milliseconds for a panel, tens for the map, even when nothing
it says has changed. `TextStrips` keeps the strips of the last few drawings by a key the
widget chooses (what it shows, its size, its base style), so a repaint or a layout that
changes neither redraws nothing, and a notice line coming and going (the map's height
moving between two sizes) finds both drawings kept.

Wire text reaches these strips as rich Text built with `append` (never markup), as before.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget

# Every segment carries a style: Textual's monochrome filter (NO_COLOR) reads `.color` from each.
PLAIN = Style()

_OFFSETS: dict[tuple[int, int], Style] = {}


def _at(x: int, y: int) -> Style:
    """The style saying where a segment is (Style.from_meta serialises its meta: kept)."""
    style = _OFFSETS.get((x, y))
    if style is None:
        if len(_OFFSETS) > 100_000:
            _OFFSETS.clear()
        style = _OFFSETS[(x, y)] = Style.from_meta({"offset": (x, y)})
    return style


def text_strips(console: Console, text: Text, width: int, height: int, base: Style) -> list[Strip]:
    """`text`'s lines as strips at most `width` cells wide (cut, never wrapped), at most
    `height` of them, each over `base` (the widget's colour, background and text style, as
    Textual's own rendering puts them under the text; Textual pads each line, as it does
    for the text it renders itself)."""
    strips = []
    for y, line in enumerate(text.split("\n", allow_blank=True)[: max(0, height)]):
        strip = Strip([Segment(s.text, s.style or PLAIN) for s in line.render(console) if s.text and s.text != "\n"])
        if strip.cell_length > width:
            strip = strip.crop(0, width)
        # Each segment says where it is (Textual's text selection reads it), as Textual's own rendering does.
        segments, x = [], 0
        for segment in strip:
            segments.append(Segment(segment.text, base + (segment.style or PLAIN) + _at(x, y)))
            x += len(segment.text)
        if not segments:  # an empty line: one empty segment, as Textual's rendering gives
            segments.append(Segment("", base + _at(0, y)))
        strips.append(Strip(segments, strip.cell_length))
    return strips


class TextStrips:
    """The strips of a widget's last few drawings, by key."""

    def __init__(self, keep: int = 3) -> None:
        self.keep = keep
        self._drawn: OrderedDict[Hashable, list[Strip]] = OrderedDict()

    def get(self, key: Hashable, draw: Callable[[], list[Strip]]) -> list[Strip]:
        strips = self._drawn.get(key)
        if strips is None:
            strips = self._drawn[key] = draw()
            while len(self._drawn) > self.keep:
                self._drawn.popitem(last=False)
        else:
            self._drawn.move_to_end(key)
        return strips

    @staticmethod
    def _key(widget: Widget, version: int) -> tuple[int, int, int, Style]:
        """What a drawing depends on: `version` of what it says, the widget's size and base style."""
        width, height = widget.content_size
        return (version, width, height, widget.visual_style.rich_style)

    def drawing(self, widget: Widget, version: int, render: Callable[[], Text]) -> list[Strip]:
        """`widget`'s strips for `version` of what it says, at its size and base style
        (drawn by `render` if not kept)."""
        key = self._key(widget, version)
        _, width, height, base = key
        return self.get(key, lambda: text_strips(widget.app.console, render(), width, height, base))

    def kept(self, widget: Widget, version: int) -> list[Strip] | None:
        """`widget`'s strips for `version` at its present size and base style, if kept (not drawn here)."""
        return self._drawn.get(self._key(widget, version))

    def line(self, widget: Widget, version: int, render: Callable[[], Text], y: int) -> Strip:
        """The Line API's `render_line` for `widget`: line `y` of its drawing, or a blank one."""
        strips = self.drawing(widget, version, render)
        return strips[y] if 0 <= y < len(strips) else Strip.blank(widget.content_size.width, widget.visual_style.rich_style)

    def clear(self) -> None:
        self._drawn.clear()
