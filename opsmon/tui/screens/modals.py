"""Modals: a note (optional or required), the triage dialogs (snooze, pick one of
a list: a severity, the incident to merge into, the person to assign) and the quit question.

A dialog given a way to send sends the command itself and stays open, with
everything typed still there and the server's reason under it, when the
command is refused; it closes only once the command is done.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from opsmon.core.i18n import Translator
from opsmon.core.records import TEXT_MAX
from opsmon.tui.plain import plain

# Sends the note; None when the server took it (or it is queued while offline),
# else the refusal in the officer's words.
Sender = Callable[[str], Awaitable[str | None]]
# The same for the triage dialogs, which send more than one value.
Submit = Callable[..., Awaitable[str | None]]


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
            yield Label(plain(self.prompt), id="prompt")
            area = TextArea(id="note", soft_wrap=True, show_line_numbers=False, tab_behavior="focus")
            area.placeholder = self.tr("modal.placeholder")
            yield area
            yield Static("", id="count")
            yield Static("", id="error")
            yield Static(plain(self.tr("modal.hint")), id="hint")

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
            count.update(plain("⚠ " + self.tr("modal.too_long", length=length, max=self.limit)))
        elif length > self.limit * 3 // 4:
            count.update(plain(self.tr("modal.count", length=length, max=self.limit)))
        else:
            count.update("")

    def action_newline(self) -> None:
        # ctrl+j is a priority binding, handled as it arrives, while the letters typed
        # before it may still wait in the box's queue: the newline goes in after them.
        area = self.query_one(TextArea)
        area.call_later(area.insert, "\n")

    def action_submit(self) -> None:
        # Enter is a priority binding, handled as it arrives, while keys typed just
        # before it (a paste, a fast typist over ssh) may still wait in the box's
        # queue: read the text only after the box has taken them.
        self.query_one(TextArea).call_later(self._submit)

    def _submit(self) -> None:
        if self.sending:
            return
        text = self.text.strip()
        error = self.query_one("#error", Static)
        if self.required and not text:
            error.update(plain("⚠ " + self.tr("modal.required")))
            return
        if len(text) > self.limit:
            error.update(plain("⚠ " + self.tr("modal.too_long", length=len(text), max=self.limit)))
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
        error.update(plain(self.tr("modal.sending")))
        try:
            refusal = await self.send(text)
        finally:
            self.sending = False
        if refusal is None:
            self.dismiss(text)
        else:
            error.update(plain("⚠ " + refusal))  # the text stays: correct it, or esc

    def action_cancel(self) -> None:
        # Read after the keys still queued in the box, as submit does.
        self.query_one(TextArea).call_later(self._cancel)

    def _cancel(self) -> None:
        """Esc: an empty box closes at once; a typed note is thrown away only when the officer says so."""
        if not self.text.strip():
            self.dismiss(None)
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.dismiss(None)

        self.app.push_screen(ConfirmQuit(self.tr("modal.discard")), answer)


class _SendingModal(ModalScreen[Any]):
    """What every dialog that sends a command shares: an error line, sending, cancel."""

    BINDINGS = [Binding("escape", "cancel", "key.cancel")]

    def __init__(self, prompt: str, tr: Translator, submit: Submit | None) -> None:
        super().__init__(classes="note-modal")
        self.prompt = prompt
        self.tr = tr
        self.submit = submit
        self.sending = False

    def error(self, text: str) -> None:
        self.query_one("#error", Static).update(plain("⚠ " + text if text else ""))

    def send(self, result: Any, *values: Any) -> None:
        """Dismiss with `result`, or first send `values` and wait for the answer."""
        if self.submit is None:
            self.dismiss(result)
            return
        if self.sending:
            return
        self.sending = True
        self.query_one("#error", Static).update(plain(self.tr("modal.sending")))
        self._send(result, values)

    @work(group="modal-send")
    async def _send(self, result: Any, values: tuple[Any, ...]) -> None:
        assert self.submit is not None
        try:
            refused = await self.submit(*values)
        finally:
            self.sending = False
        if refused is None:
            self.dismiss(result)
        else:
            self.error(refused)  # the text stays as typed: fix it or cancel

    def action_cancel(self) -> None:
        self.dismiss(None)


class SnoozeModal(_SendingModal):
    """Minutes and a note; dismisses with (minutes, note)."""

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(plain(self.prompt), id="prompt")
            yield Input(placeholder=self.tr("modal.minutes"), id="minutes", type="integer", value="30")
            yield Input(placeholder=self.tr("modal.placeholder"), id="note")
            yield Static("", id="error")
            yield Static(plain(self.tr("modal.hint")), id="hint")

    def on_mount(self) -> None:
        self.query_one("#minutes", Input).focus()

    @on(Input.Submitted, "#minutes")
    def _next(self) -> None:
        self.query_one("#note", Input).focus()

    @on(Input.Submitted, "#note")
    def _submit(self) -> None:
        raw = self.query_one("#minutes", Input).value.strip()
        note = self.query_one("#note", Input).value.strip()
        if not raw.isdigit() or not 1 <= int(raw) <= 1440:
            self.error(self.tr("modal.minutes_bad"))
            self.query_one("#minutes", Input).focus()
            return
        if not note:
            self.error(self.tr("modal.required"))
            return
        self.send((int(raw), note), int(raw), note)


# A line of a pick list that names a group and cannot be chosen ("— other regencies —").
HEADING = object()


class PickModal(ModalScreen[Any]):
    """One of a list (a severity, the incident to merge into, a person); dismisses with its value.
    `preselect=False`: nothing is highlighted until the officer moves (j/k, the arrows), so
    Enter alone chooses nothing. Options whose value is HEADING are group titles."""

    BINDINGS = [
        Binding("escape", "cancel", "key.cancel"),
        Binding("j", "move(1)", "key.down", show=False),
        Binding("k", "move(-1)", "key.up", show=False),
    ]

    def __init__(self, prompt: str, tr: Translator, options: list[tuple[Any, str]], *, preselect: bool = True) -> None:
        super().__init__(classes="note-modal")
        self.prompt = prompt
        self.tr = tr
        self.values = [value for value, _ in options]
        self.labels = [label for _, label in options]
        self.preselect = preselect

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(plain(self.prompt), id="prompt")
            yield OptionList(
                *(Option(plain(label), id=str(n), disabled=self.values[n] is HEADING) for n, label in enumerate(self.labels)),
                id="choices",
            )
            yield Static(plain(self.tr("modal.pick_hint")), id="hint")

    def on_mount(self) -> None:
        choices = self.query_one(OptionList)
        choices.focus()
        if not self.preselect:
            choices.highlighted = None
        elif choices.highlighted is not None and self.values[choices.highlighted] is HEADING:
            choices.action_cursor_down()

    def action_move(self, step: int) -> None:
        choices = self.query_one(OptionList)
        if step > 0:
            choices.action_cursor_down()
        else:
            choices.action_cursor_up()

    @property
    def highlighted(self) -> Any:
        """The value under the highlight (None: nothing is)."""
        index = self.query_one(OptionList).highlighted
        return None if index is None else self.values[index]

    @on(OptionList.OptionSelected, "#choices")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        if self.values[event.option_index] is not HEADING:
            self.dismiss(self.values[event.option_index])

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
            yield Label(plain(self.question), id="prompt")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
