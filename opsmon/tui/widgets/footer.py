"""The key line at the foot of every screen."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer

# What the footer shows of one binding and what pressing or clicking it runs: its key
# (after the keymap), the key as displayed, its words, its action, enabled, its tooltip.
Shown = tuple[tuple[str, str, str, str, bool, str], ...]


class KeyFooter(Footer):
    """Textual's Footer, rebuilt only when the keys it shows change, and once for a
    burst of changes. Textual's own rebuilds on every focus move and screen change
    (five times while the dashboard opens), each holding the whole screen's updates
    (a batch) across several turns of the loop: a key pressed meanwhile was drawn
    only when the rebuild was done, 150 ms later at 50,000 incidents (bench_tui.py)."""

    _shown: Shown | None = None
    _rebuild_pending = False

    def bindings_changed(self, screen: Screen[object]) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            return
        if not self._rebuild_pending:
            self._rebuild_pending = True
            self.call_after_refresh(self._rebuild)

    async def _rebuild(self) -> None:
        self._rebuild_pending = False
        if not self.is_attached:
            return
        shown = self._keys()
        if shown == self._shown:
            return
        self._shown = shown
        await self.recompose()

    def _keys(self) -> Shown:
        return tuple(
            (binding.key, self.app.get_key_display(binding), binding.description, binding.action, enabled, tooltip)
            for _, binding, enabled, tooltip in self.screen.active_bindings.values()
            if binding.show
        )
