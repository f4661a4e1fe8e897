"""What every screen with the live header shares: its app and the header clock."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.screen import Screen

from opsmon.tui.widgets.status import HeaderBar

if TYPE_CHECKING:
    from opsmon.tui.app import OpsmonApp


class LiveScreen(Screen[None]):
    """A screen under the live HeaderBar; `ready` once mounted, so the app's
    clock tick never queries a screen that has not composed yet."""

    ready = False

    @property
    def opsmon(self) -> OpsmonApp:
        return self.app  # type: ignore[return-value]

    def refresh_clock(self) -> None:
        if not self.ready:
            return
        header = self.query_one(HeaderBar)
        header.now = self.opsmon.now()
        header.refresh()
