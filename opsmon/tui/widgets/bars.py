"""Small text helpers shared by the widgets."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text


def bar(done: int, total: int, width: int, *, rest: Style | str = "") -> Text:
    """A progress bar in blocks: readable without colour. `rest` styles the part still to do."""
    width = max(1, width)
    filled = 0 if total <= 0 else round(width * min(done, total) / total)
    if total > 0 and done > 0 and filled == 0:
        filled = 1  # something happened: show it
    if total > 0 and done < total and filled == width:
        filled = width - 1  # not finished: never a full bar
    text = Text()
    text.append("█" * filled)
    text.append("░" * (width - filled), rest)
    return text


def fit(left: Text, right: Text, width: int) -> Text:
    """`left` then `right` flush right, cutting `left` if the line is too short."""
    room = width - right.cell_len - (1 if right.cell_len else 0)
    if room < 4:
        right.truncate(max(0, width - 5), overflow="ellipsis")
        room = width - right.cell_len - (1 if right.cell_len else 0)
    if left.cell_len > room:
        left.truncate(max(1, room), overflow="ellipsis")
    gap = max(1 if right.cell_len else 0, width - left.cell_len - right.cell_len)
    line = Text()
    line.append_text(left)
    line.append(" " * gap)
    line.append_text(right)
    return line


def cut(text: str, width: int) -> str:
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"
