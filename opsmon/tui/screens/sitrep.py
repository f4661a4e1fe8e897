"""The situation report, previewed from what the client holds, and written to the report folder."""

from __future__ import annotations

import asyncio
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from opsmon.core.clock import parse_ts
from opsmon.core.i18n import who
from opsmon.reports.sitrep import Ledger, LedgerMoved, build, render, render_text
from opsmon.tui.actions import SITREP, bindings
from opsmon.tui.screens.live import OpsmonScreen
from opsmon.tui.widgets.notices import NoticeBar


class SitrepScreen(OpsmonScreen):
    SCOPE = SITREP
    BINDINGS = bindings(SITREP)

    def __init__(self) -> None:
        super().__init__(id="sitrep")
        self.doc: dict[str, Any] | None = None
        self.written: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(id="sitrep-title")
        with VerticalScroll(id="sitrep-body"):
            yield Static(id="sitrep-text")
        yield NoticeBar()  # notices take rows of their own: never over the work
        yield Footer()

    def on_mount(self) -> None:
        app = self.opsmon
        self.query_one("#sitrep-title", Static).update(Text(app.tr("sitrep.preview"), self.style_for("strong")))
        if app.welcome is None:
            self.query_one("#sitrep-text", Static).update(Text(app.tr("header.connecting", url=app.url), self.style_for("quiet")))
            return
        self.doc = self._build(None)
        self.query_one("#sitrep-text", Static).update(Text(render_text(self.doc, app.lang)))

    def _build(self, number: int | None) -> dict[str, Any]:
        """The report as it stands: a preview (no number, from the last saved report on),
        or, to save, with the ledger's next number."""
        app = self.opsmon
        assert app.welcome is not None
        ledger = self._ledger()
        last = ledger.last() if ledger else None
        same_epoch = last is not None and last.epoch == app.welcome.epoch
        return build(
            app.welcome.config,
            app.state,
            list(app.recent_events),
            now=app.now(),
            since=parse_ts(last.at) if last is not None and same_epoch else None,
            number=number,
            by=who(app.welcome.user.actor),
            post=app.sitrep.post,
            exercise=app.welcome.exercise,
            signatory=app.sitrep.signature(),
        )

    def _ledger(self) -> Ledger | None:
        folder = self.opsmon.sitrep_folder
        return Ledger(folder) if folder is not None else None

    async def action_write(self) -> None:
        app, doc, ledger = self.opsmon, self.doc, self._ledger()
        if app.is_wall:
            return  # not only the key: whatever runs the action, the wall writes no files
        if doc is None or app.welcome is None:
            return
        if ledger is None:
            app.say(app.tr("sitrep.write_failed", reason="[sitrep] folder"), error=True)
            return
        # Saved, the report takes the next number and covers what happened up to now.
        doc = self._build(ledger.next_number())
        formats, lang, shape, seq, epoch = app.sitrep.formats, app.lang, app.shape, app.state.seq, app.welcome.epoch

        def write() -> list[str]:
            # A PDF takes a moment: off the screen's loop, so the wall keeps moving.
            return [str(p) for p in ledger.write(doc, {fmt: render(doc, fmt, lang, shape=shape) for fmt in formats}, seq=seq, epoch=epoch)]

        try:
            self.written = await asyncio.to_thread(write)
        except LedgerMoved:
            app.say(app.tr("sitrep.moved"), error=True)
            return
        except OSError as exc:
            app.say(app.tr("sitrep.write_failed", reason=exc.strerror or str(exc)), error=True)
            return
        self.doc = doc
        self.query_one("#sitrep-text", Static).update(Text(render_text(doc, lang)))
        app.say(app.tr("sitrep.written", number=doc["number"], path=", ".join(self.written)), timeout=10)

    def action_back(self) -> None:
        self.dismiss(None)
