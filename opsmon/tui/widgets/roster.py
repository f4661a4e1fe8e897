"""The wall's roster line (and an admin token's): who of an exercise's expected trainees is not connected."""

from __future__ import annotations

from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

from opsmon.core.text import for_terminal


class RosterLine(Widget):
    """One line, shown only while an exercise has expected trainees not connected."""

    DEFAULT_CSS = "RosterLine { height: 1; display: none; text-wrap: nowrap; text-overflow: ellipsis; padding: 0 1; } RosterLine.-absent { display: block; }"

    def __init__(self) -> None:
        super().__init__(id="roster")
        self.text = ""

    def show(self, text: str) -> None:
        if text != self.text:
            self.text = text
            self.set_class(bool(text), "-absent")
            self.refresh()

    def render(self) -> RenderResult:
        return Text(for_terminal(self.text), no_wrap=True, overflow="ellipsis")
