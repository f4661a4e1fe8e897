"""H: the shift handover of the officer's desk, what `opsmon handover` prints, live.

What is open in the officer's regencies (owners, deadlines, the notes written since
the shift began) and the stages blocked come from opsmon.core.view (handover_sheet,
handover_lines), the one computation the CLI prints too. `c`: the outgoing officer
hands over, `t`: the incoming one takes over; each is the `handover` command, asked
with a dialog (a word for the next shift), and recorded as a `shift.handover` event
that the screen then names (who, when). A viewer may look, never hand over.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from opsmon.client.failures import ClientError
from opsmon.client.handshake import new_command_id
from opsmon.client.paging import every_incident
from opsmon.core.clock import format_ts, parse_ts
from opsmon.core.events import ShiftHandover
from opsmon.core.i18n import local_time, translate_refusal, who
from opsmon.core.protocol import Handover
from opsmon.core.records import AGENCIES, Incident
from opsmon.core.view import HandoverSheet, handover_lines, handover_sheet, shift_began, with_all_notes
from opsmon.tui.actions import HANDOVER, bindings, may_use
from opsmon.tui.plain import plain
from opsmon.tui.screens.live import LiveScreen
from opsmon.tui.screens.modals import NoteModal
from opsmon.tui.widgets.footer import KeyFooter
from opsmon.tui.widgets.notices import NoticeBar

# The line kinds of handover_lines, as this screen styles them (the words say it all without colour).
STYLES = {"title": "strong", "heading": "heading", "unacked": "alert", "incident": "strong", "note": "quiet"}
Step = Literal["confirm", "accept"]  # the outgoing officer hands over, the incoming one takes over
STEPS: tuple[Step, ...] = ("confirm", "accept")


class HandoverScreen(LiveScreen):
    SCOPE = HANDOVER
    BINDINGS = bindings(HANDOVER)

    def __init__(self) -> None:
        super().__init__(id="handover")
        # The server's answer to `incidents` since the shift began: every note of the
        # incidents a snapshot sent with only their last few (Incident.notes_before).
        self.whole: dict[int, Incident] = {}
        self.sheet: HandoverSheet | None = None
        self._shown: tuple[object, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="handover-title")
        yield Static(id="handover-scope")
        yield Static(id="handover-done")
        with VerticalScroll(id="handover-body"):
            yield Static(id="handover-text")
        yield NoticeBar()  # notices take rows of their own: never over the work
        yield KeyFooter()

    def on_mount(self) -> None:
        self.ready = True
        self.refresh_view()
        app = self.opsmon
        if app.connection is not None and app.welcome is not None:
            self.run_worker(self._load_notes(), exclusive=True, group="handover")

    # --- what it shows ------------------------------------------------------------------

    @property
    def desk(self) -> str:
        """The officer's desk: the focus's (`--desk`, the palette), else the token's agency."""
        app = self.opsmon
        agency = app.welcome.user.agency if app.welcome is not None else ""
        return app.ground.desk or (agency if agency in AGENCIES else AGENCIES[0])

    def regencies(self) -> frozenset[str] | None:
        """The token's regencies (None: the province), narrowed to the officer's focus."""
        app = self.opsmon
        token = app.welcome.user.regencies if app.welcome is not None else None
        ground = app.ground.regencies
        if not ground:
            return frozenset(token) if token is not None else None
        return ground if token is None else ground & frozenset(token)

    def _began(self) -> datetime:
        app = self.opsmon
        return shift_began(app.rosters, self.desk, self.regencies(), app.now(), app.tz)[0]

    async def _load_notes(self) -> None:
        app = self.opsmon
        if app.connection is None:
            return
        try:
            result = await every_incident(app.connection.send, since=format_ts(self._began()))
        except ClientError:
            return  # the live state's notes stand: at worst the snapshot's last few
        if result.ok:
            self.whole = {i.id: i for i in result.incidents or []}
            self._shown = None
            self.refresh_view()

    def refresh_view(self) -> None:
        if not self.ready:
            return
        app = self.opsmon
        welcome = app.welcome
        if welcome is None:
            self.query_one("#handover-text", Static).update(Text(app.tr("header.connecting", url=app.url), self.style_for("quiet")))
            return
        now = app.now()
        regencies = self.regencies()
        key = (app.state.seq, len(app.state.incidents), self.desk, regencies, len(self.whole), now.replace(second=0, microsecond=0), app.lang)
        if key == self._shown:
            return  # nothing it shows moved: no work per repaint
        self._shown = key
        desks = {category: desk for desk, categories in app.desks.items() for category in categories}
        incidents = (with_all_notes(i, self.whole.get(i.id)) for i in app.state.incidents.values())
        self.sheet = handover_sheet(
            incidents, app.state.stages.values(), desk=self.desk, desks=desks, regencies=regencies, rosters=app.rosters, tz=app.tz, now=now
        )
        (_, title), *lines = handover_lines(self.sheet, welcome.config, app.lang)
        self.query_one("#handover-title", Static).update(Text(title, self.style_for("strong")))
        body = Text()
        for n, (kind, line) in enumerate(lines):
            style = STYLES.get(kind)
            body.append(("\n" if n else "") + line, self.style_for(style) if style else "")
        self.query_one("#handover-text", Static).update(body)
        places = ", ".join(app.lookup.regency_short(code) if app.lookup else code for code in sorted(regencies)) if regencies is not None else ""
        self.query_one("#handover-scope", Static).update(plain(app.tr("handover.scope", regencies=places or app.tr("focus.province"))))
        self.query_one("#handover-done", Static).update(self._done_line())

    def _done_line(self) -> Text:
        """Who handed this desk's shift over and who took it, as the events say (the latest each)."""
        app = self.opsmon
        assert self.sheet is not None
        began = self.sheet.began
        latest: dict[str, tuple[str, str]] = {}
        for event in app.recent_events:
            data = event.data
            if isinstance(data, ShiftHandover) and data.desk == self.sheet.desk and parse_ts(event.ts) >= began:
                latest[data.step] = (local_time(event.ts, app.tz), who(event.actor))
        if not latest:
            return Text(app.tr("handover.none_yet"), self.style_for("quiet"))
        said = [app.tr(f"handover.done.{step}", time=latest[step][0], who=latest[step][1]) for step in STEPS if step in latest]
        return Text(" · ".join(said), self.style_for("strong"))

    # --- handing over -------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # A viewer's c and t run, to say why they may not (the server would refuse it too).
        if action in ("confirm_handover", "accept_handover"):
            return True
        return may_use(action, read_only=self.opsmon.is_wall)

    def action_confirm_handover(self) -> None:
        self._ask("confirm")

    def action_accept_handover(self) -> None:
        self._ask("accept")

    def _ask(self, step: Step) -> None:
        app = self.opsmon
        if app.is_wall:
            app.say(app.tr("handover.readonly"), warning=True)
            return
        sheet = self.sheet
        if sheet is None or app.connection is None or not app.online:
            app.say(app.tr("handover.offline"), warning=True)
            return
        desk = sheet.desk

        async def send(note: str) -> str | None:
            return await self._send(desk, step, note)

        prompt = app.tr(f"handover.ask.{step}", desk=desk, n=len(sheet.open))
        app.push_screen(NoteModal(prompt, app.tr, required=False, send=send))

    async def _send(self, desk: str, step: Step, note: str) -> str | None:
        """The `handover` command; None once recorded (said as a notice), else why not (the dialog shows it)."""
        app = self.opsmon
        if app.connection is None:
            return app.tr("handover.offline")
        app.unanswered += 1
        try:
            answer = await app.connection.send(Handover(id=new_command_id(), desk=desk, step=step, note=note))
        except ClientError as exc:
            return app.tr("handover.refused", reason=str(exc))
        finally:
            app.unanswered -= 1
        if not answer.ok:
            return app.tr("handover.refused", reason=translate_refusal(answer, app.lang, app.tz))
        app.say(app.tr("handover.confirmed" if step == "confirm" else "handover.accepted", seq=answer.seq))
        self._shown = None
        app.mark_dirty()
        return None

    def action_back(self) -> None:
        self.dismiss(None)
