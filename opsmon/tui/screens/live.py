"""What every opsmon screen shares: its app, and the action table's say on its keys;
and, for the screens with the live header, the header clock."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.screen import Screen

from opsmon.tui.actions import Scoped, may_use
from opsmon.tui.widgets.status import HeaderBar

if TYPE_CHECKING:
    from opsmon.tui.app import OpsmonApp


class OpsmonScreen(Scoped, Screen[None]):
    """A screen whose keys come from the action table (`SCOPE`, `BINDINGS`)."""

    @property
    def opsmon(self) -> OpsmonApp:
        return self.app  # type: ignore[return-value]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The wall (a viewer token, or --wall) is a display: only what the table lets a viewer do.
        return may_use(action, read_only=self.opsmon.is_wall)


class LiveScreen(OpsmonScreen):
    """A screen under the live HeaderBar; `ready` once mounted, so the app's
    clock tick never queries a screen that has not composed yet."""

    ready = False

    def refresh_clock(self) -> None:
        if not self.ready:
            return
        header = self.query_one(HeaderBar)
        header.now = self.opsmon.now()
        header.refresh()
