"""Modals: a note (optional or required) returned through dismiss, and the quit question."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static, TextArea

from opsmon.i18n import Translator
from opsmon.protocol import TEXT_MAX

# Sends the note; None when the server took it (or it is queued while offline),
# else the refusal in the officer's words.
Sender = Callable[[str], Awaitable[str | None]]


class NoteModal(ModalScreen[str | None]):
    """Asks for a note; sends it and closes only once the server took it.

    A refusal (too long, a character the server does not accept, no rights)
    is shown here with the text still in the box: nothing typed is lost.
    Pasted text keeps its lines; ctrl+j starts a new one."""

    BINDINGS = [
        Binding("escape", "cancel", "key.cancel"),
        Binding("enter", "submit", "key.send", priority=True),
        Binding("ctrl+j", "newline", "key.newline", show=False, priority=True),
    ]

    def __init__(self, prompt: str, tr: Translator, *, required: bool, send: Sender | None = None, limit: int = TEXT_MAX) -> None:
        super().__init__(classes="note-modal")
        self.prompt = prompt
        self.tr = tr
        self.required = required
        self.send = send
        self.limit = limit
        self.sending = False

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.prompt, id="prompt")
            area = TextArea(id="note", soft_wrap=True, show_line_numbers=False, tab_behavior="focus")
            area.placeholder = self.tr("modal.placeholder")
            yield area
            yield Static("", id="count")
            yield Static("", id="error")
            yield Static(self.tr("modal.hint"), id="hint")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    @property
    def text(self) -> str:
        return self.query_one(TextArea).text

    @on(TextArea.Changed, "#note")
    def _changed(self, event: TextArea.Changed) -> None:
        length = len(self.text.strip())
        count = self.query_one("#count", Static)
        if length > self.limit:
            count.update("⚠ " + self.tr("modal.too_long", length=length, max=self.limit))
        elif length > self.limit * 3 // 4:
            count.update(self.tr("modal.count", length=length, max=self.limit))
        else:
            count.update("")

    def action_newline(self) -> None:
        self.query_one(TextArea).insert("\n")

    def action_submit(self) -> None:
        if self.sending:
            return
        text = self.text.strip()
        error = self.query_one("#error", Static)
        if self.required and not text:
            error.update("⚠ " + self.tr("modal.required"))
            return
        if len(text) > self.limit:
            error.update("⚠ " + self.tr("modal.too_long", length=len(text), max=self.limit))
            return
        if self.send is None:
            self.dismiss(text)
            return
        self._send(text)

    @work(exclusive=True, group="note")
    async def _send(self, text: str) -> None:
        assert self.send is not None
        self.sending = True
        error = self.query_one("#error", Static)
        error.update(self.tr("modal.sending"))
        try:
            refusal = await self.send(text)
        finally:
            self.sending = False
        if refusal is None:
            self.dismiss(text)
        else:
            error.update("⚠ " + refusal)  # the text stays: correct it, or esc

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
