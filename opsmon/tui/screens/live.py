"""What every opsmon screen shares: its app, and the action table's say on its keys;
and, for the screens under the live header, redrawing when the app's state moves."""

from __future__ import annotations

from typing import cast

from rich.style import Style
from textual import on
from textual.css.query import NoMatches
from textual.events import Mount
from textual.screen import Screen

from opsmon.tui.actions import Scoped, may_use
from opsmon.tui.host import OpsmonHost


class OpsmonScreen(Scoped, Screen[None]):
    """A screen whose keys come from the action table (`SCOPE`, `BINDINGS`), and whose
    text styles are component classes (opsmon.tcss): `style_for("heading")`."""

    COMPONENT_CLASSES = {"screen--alert", "screen--strong", "screen--quiet", "screen--heading"}

    def style_for(self, name: str) -> Style:
        return self.get_component_rich_style(f"screen--{name}", partial=True)

    @property
    def opsmon(self) -> OpsmonHost:
        return cast(OpsmonHost, self.app)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The wall (a viewer token, or --wall) is a display: only what the table lets a viewer do.
        return may_use(action, read_only=self.opsmon.is_wall)


class LiveScreen(OpsmonScreen):
    """A screen under the live HeaderBar. It watches the app's `revision` (bumped by the
    app's coalescing flush, at most ten times a second) and redraws from the app's state;
    `ready` once mounted."""

    ready = False

    @on(Mount)
    def _follow_the_app(self) -> None:
        self.watch(self.app, "revision", self._state_moved, init=False)

    def _state_moved(self) -> None:
        try:
            self.refresh_view()
        except NoMatches:
            pass  # a screen being torn down (on exit) has lost its widgets: nothing to show

    def refresh_view(self) -> None:
        """Redraw from the app's state (each screen its own)."""
