"""`?`: the keys that work on the screen below, read from its live bindings, in the action table's words."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import ActiveBinding, Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from opsmon.core.i18n import Translator
from opsmon.tui.actions import HELP, Scoped, bindings, help_label

if TYPE_CHECKING:
    from textual.app import App


def _keys(shown: list[str]) -> str:
    if len(shown) > 4:  # the ten regency digits
        return f"{shown[0]}..{shown[-2]}, {shown[-1]}"
    return " / ".join(shown)


def key_rows(app: App[Any], screen: Screen[Any]) -> list[tuple[str, str]]:
    """(keys, what they do) for every enabled binding on `screen` that the action
    table knows (Textual's own, scroll left or copy, stay out), in the table's
    words: the screen's own first, then the focused widget's, then the app's.
    Keys doing the same thing share a row."""
    tr: Translator = getattr(app, "tr", Translator())

    def label(entry: ActiveBinding) -> str | None:
        return help_label(entry.binding.action, entry.node.SCOPE, tr) if isinstance(entry.node, Scoped) else None

    active = [a for a in screen.active_bindings.values() if a.enabled and label(a) is not None]
    rank = {id(screen): 0, id(app): 2}

    def position(entry: ActiveBinding) -> tuple[int, int]:
        # As the class declares them (Textual's base classes put tab first otherwise).
        declared = [key.strip() for b in getattr(type(entry.node), "BINDINGS", []) if isinstance(b, Binding) for key in b.key.split(",")]
        return rank.get(id(entry.node), 1), declared.index(entry.binding.key) if entry.binding.key in declared else len(declared)

    active.sort(key=position)
    rows: dict[str, list[str]] = {}
    for entry in active:
        binding: Binding = entry.binding
        words = label(entry) or binding.description
        shown = app.get_key_display(binding)
        keys = rows.setdefault(words, [])
        if shown not in keys:
            keys.append(shown)
    return [(_keys(keys), label) for label, keys in rows.items()]


class HelpScreen(ModalScreen[None]):
    BINDINGS = bindings(HELP)
    COMPONENT_CLASSES = {"help--keys", "help--title", "help--hint"}  # styled in opsmon.tcss

    def __init__(self, tr: Translator, rows: list[tuple[str, str]], *, read_only: bool) -> None:
        super().__init__(id="help")
        self.tr = tr
        self.rows = rows
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        tr = self.tr
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
        table.add_column(style=self.get_component_rich_style("help--keys", partial=True), no_wrap=True)
        table.add_column()
        for keys, label in self.rows:
            table.add_row(Text(keys), Text(label))  # plain: never markup
        with VerticalScroll(id="dialog"):
            yield Static(Text(tr("help.title"), self.get_component_rich_style("help--title", partial=True)), id="help-title")
            if self.read_only:
                yield Static(Text(tr("help.readonly")))
            yield Static(table, id="help-keys")
            yield Static(Text(tr("help.close"), self.get_component_rich_style("help--hint", partial=True)))

    def action_close(self) -> None:
        self.dismiss(None)
