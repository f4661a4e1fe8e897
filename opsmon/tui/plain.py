"""Text from the wire or the database, as a widget shows it: plain, never markup.

Textual reads a bare string given to a Label, a Static, an Option or a palette
hit as content markup, so `[/b]` in a title raises MarkupError, `[@click=app.quit]`
becomes a clickable action and `[$x]` a variable. A `Content` built here is the
text itself, control characters made visible (`for_terminal`)."""

from __future__ import annotations

from collections.abc import Sequence

from textual.content import Content
from textual.style import Style

from opsmon.core.text import for_terminal


def plain(text: str) -> Content:
    """`text` as it reads, for any widget: no markup, no terminal escapes."""
    return Content(for_terminal(text))


def highlighted(text: str, offsets: Sequence[int], style: Style | str) -> Content:
    """`text` plain, with the characters at `offsets` (a palette match) in `style`."""
    content = Content(text)
    for offset in offsets:
        if offset < len(text) and not text[offset].isspace():
            content = content.stylize(style, offset, offset + 1)
    return content
