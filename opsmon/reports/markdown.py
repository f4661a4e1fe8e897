"""Wire text written into Markdown as literal text: one definition, for the situation
report and the after-action report (titles, places, notes and names come from the field)."""

from __future__ import annotations

import re

# Characters that make Markdown or HTML anywhere in a line: emphasis, code,
# links and images, raw HTML and entities, table cells, strikethrough. A
# backslash before any ASCII punctuation makes it a literal (CommonMark).
_MD_SPECIAL = frozenset("\\`*_[]<>&|~")
# What starts a block when it opens a line: a heading, a quote, a list item,
# a setext underline, a numbered item (`12.`/`12)`).
_MD_LINE_START = re.compile(r"^(?:([#>+=-])|(\d+)([.)]))")


def md_literal(text: str, *, line_start: bool = False) -> str:
    """Wire text as literal Markdown: never a link, an image, HTML, emphasis,
    code or a table cell break; with `line_start` (the text opens a line),
    never a heading, quote or list either."""
    out = "".join(f"\\{char}" if char in _MD_SPECIAL else char for char in text)
    if line_start:
        out = _MD_LINE_START.sub(lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}", out.lstrip())
    return out
