"""The situation report, previewed from what the client holds, and written to the report folder."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from opsmon.client.failures import ClientError
from opsmon.core.clock import parse_ts
from opsmon.core.exits import FeedError
from opsmon.core.i18n import who
from opsmon.core.protocol import Event, Welcome
from opsmon.core.state import State
from opsmon.reports.sitrep import Ledger, LedgerMoved, build, render, render_text
from opsmon.reports.sitrep_cli import fetch, number_report
from opsmon.tui.actions import SITREP, bindings
from opsmon.tui.screens.live import OpsmonScreen
from opsmon.tui.widgets.footer import KeyFooter
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
        yield KeyFooter()

    def on_mount(self) -> None:
        app = self.opsmon
        self.query_one("#sitrep-title", Static).update(Text(app.tr("sitrep.preview"), self.style_for("strong")))
        if app.welcome is None:
            self.query_one("#sitrep-text", Static).update(Text(app.tr("header.connecting", url=app.url), self.style_for("quiet")))
            return
        self.doc = self._build(None)
        self.query_one("#sitrep-text", Static).update(Text(render_text(self.doc, app.lang)))
        if app.connection is not None:
            # What the client holds is a day of resolved incidents and the events since it
            # connected: the preview is built again from the server's whole log, as the CLI's.
            self.run_worker(self._from_server(), exclusive=True, group="sitrep")

    async def _from_server(self) -> None:
        app = self.opsmon
        try:
            welcome, state, events = await fetch(app.urls, app.token, cafile=app.cafile, last_report=True)
        except (ClientError, TimeoutError, OSError) as exc:
            app.say(app.tr("sitrep.preview_partial", reason=str(exc) or type(exc).__name__), error=True)
            return
        if self.written:
            return  # a report was saved meanwhile: the screen shows what was saved
        since = parse_ts(state.sitrep_until) if state.sitrep_until is not None else None
        now = max([app.now(), *(parse_ts(e.ts) for e in events[-1:])])
        self.doc = self._build(None, state=state, events=events, since=since, now=now, welcome=welcome)
        self.query_one("#sitrep-text", Static).update(Text(render_text(self.doc, app.lang)))

    def _build(
        self,
        number: int | None,
        *,
        state: State | None = None,
        events: list[Event] | None = None,
        since: datetime | None | Literal["ledger"] = "ledger",
        now: datetime | None = None,
        welcome: Welcome | None = None,
    ) -> dict[str, Any]:
        """The report: from what the server's log says (`state`, `events`, `since`), or,
        before that answer (and offline), from what the client holds since the folder's last report."""
        app = self.opsmon
        welcome = welcome or app.welcome
        assert welcome is not None
        if since == "ledger":
            ledger = self._ledger()
            last = ledger.last() if ledger else None
            same_epoch = last is not None and last.epoch == welcome.epoch
            since = parse_ts(last.at) if last is not None and same_epoch else None
        return build(
            welcome.config,
            state if state is not None else app.state,
            events if events is not None else list(app.recent_events),
            now=now or app.now(),
            since=since,
            number=number,
            by=who(welcome.user.actor),
            post=app.sitrep.post,
            exercise=welcome.exercise,
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
        formats, lang, shape, epoch = app.sitrep.formats, app.lang, app.shape, app.welcome.epoch
        if app.connection is not None:
            # The server numbers it (one numbering for the post, whoever saves and where),
            # and it is built over its period from the server's log.
            try:
                epoch, seq, period = await number_report(app.urls, app.token, cafile=app.cafile)
                welcome, state, events = await fetch(app.urls, app.token, cafile=app.cafile, resume=(epoch, period.after))
            except (ClientError, TimeoutError, OSError) as exc:
                app.say(app.tr("sitrep.write_failed", reason=str(exc) or type(exc).__name__), error=True)
                return
            except FeedError as exc:
                app.say(app.tr("sitrep.write_failed", reason=str(exc)), error=True)
                return
            since = parse_ts(period.since) if period.since is not None else None
            events = [e for e in events if e.seq <= seq]
            doc = self._build(period.number, state=state, events=events, since=since, now=parse_ts(period.until), welcome=welcome)
            save = ledger.keep
        else:
            # Offline (a saved night on screen): numbered on from the folder's ledger, up to now.
            doc = self._build(ledger.next_number())
            seq, save = app.state.seq, ledger.write

        def write() -> list[str]:
            # A PDF takes a moment: off the screen's loop, so the wall keeps moving.
            return [str(p) for p in save(doc, {fmt: render(doc, fmt, lang, shape=shape) for fmt in formats}, seq=seq, epoch=epoch)]

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
