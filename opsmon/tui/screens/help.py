"""`?`: every key, in the officer's language."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from opsmon.i18n import Translator

# (keys as typed, label key, writes to the server). The README's key table is this list.
KEYS: list[tuple[str, str, bool]] = [
    ("j / ↓", "key.down", False),
    ("k / ↑", "key.up", False),
    ("enter", "key.open", False),
    ("a", "palette.ack", True),
    ("e", "palette.escalate", True),
    ("n", "palette.note", True),
    ("r", "palette.resolve", True),
    ("o", "palette.reopen", True),
    ("space", "palette.mark", True),
    ("/", "palette.filter", False),
    ("f", "palette.severity", False),
    ("u", "palette.unacked", False),
    ("1..9, 0", "key.regency_keys", False),
    ("tab / shift+tab", "key.next_regency", False),
    ("esc", "palette.clear", False),
    ("?", "palette.help", False),
    ("ctrl+p", "key.palette", False),
    ("q", "palette.quit", False),
]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "key.back")]

    def __init__(self, tr: Translator, *, read_only: bool) -> None:
        super().__init__(id="help")
        self.tr = tr
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        tr = self.tr
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
        table.add_column(style="bold")
        table.add_column()
        for keys, label, writes in KEYS:
            if writes and self.read_only:
                continue
            table.add_row(keys, tr(label))
        with VerticalScroll(id="dialog"):
            yield Static(Text(tr("help.title"), "bold"), id="help-title")
            if self.read_only:
                yield Static(tr("help.readonly"))
            yield Static(table)
            yield Static(Text(tr("help.close"), "dim"))

    def action_close(self) -> None:
        self.dismiss(None)
