"""Modals: a note (optional or required) returned through dismiss, and the quit question."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from opsmon.i18n import Translator


class NoteModal(ModalScreen[str | None]):
    """Asks for a note; dismisses with the text, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "key.cancel")]

    def __init__(self, prompt: str, tr: Translator, *, required: bool) -> None:
        super().__init__(classes="note-modal")
        self.prompt = prompt
        self.tr = tr
        self.required = required

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.prompt, id="prompt")
            yield Input(placeholder=self.tr("modal.placeholder"), id="note")
            yield Static("", id="error")
            yield Static(self.tr("modal.hint"), id="hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#note")
    def _submit(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if self.required and not text:
            self.query_one("#error", Static).update("⚠ " + self.tr("modal.required"))
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmQuit(ModalScreen[bool]):
    BINDINGS = [
        Binding("y", "answer(True)", "key.yes"),
        Binding("n,escape", "answer(False)", "key.no"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__(classes="note-modal")
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.question, id="prompt")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
