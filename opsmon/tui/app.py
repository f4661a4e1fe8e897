"""The opsmon terminal client: one worker owns the connection, screens show the state.

The network lives in one long-lived async worker (`_follow`) that runs a
`Connection`; everything it learns reaches the screens as Textual messages
(`opsmon.tui.messages`). State changes only mark the screen dirty; a timer
redraws at most ten times a second, so a burst of a thousand events costs
one repaint, not a thousand. The officer's commands (dialogs, sending,
outcomes) are `opsmon.tui.commanding`'s; the screens see the app as the
`OpsmonHost` protocol (`opsmon.tui.host`), never import it.
"""

from __future__ import annotations

import gc
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text
from textual import events, on, work
from textual.app import App, SystemCommand
from textual.command import CommandPalette
from textual.notifications import SeverityLevel
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Input, TextArea

from opsmon.client.backoff import Backoff
from opsmon.client.connection import Connection
from opsmon.client.failures import ClientError
from opsmon.client.handshake import URLs, new_command_id, url_list
from opsmon.core.clock import utc_now
from opsmon.core.config import SitrepSettings
from opsmon.core.events import ExerciseClockChanged, IncidentEscalated, IncidentReported, IncidentUnsnoozed, NotificationFailed, ShiftHandover
from opsmon.core.exits import EXIT_UNAUTHORIZED, EXIT_UNREACHABLE, EXIT_USAGE
from opsmon.core.fold import concerns, touches
from opsmon.core.geo import ProvinceShape
from opsmon.core.i18n import WITA, Translator, local_time, translate_failure, translate_refusal, who
from opsmon.core.protocol import Event, History, Result, RosterInfo, Welcome
from opsmon.core.records import SEVERITIES, Incident
from opsmon.core.records import RosterInfo as DutyRoster  # protocol.RosterInfo is an exercise's trainees
from opsmon.core.state import State
from opsmon.core.text import for_terminal
from opsmon.core.urgency import is_overdue
from opsmon.core.urls import short
from opsmon.core.view import Changes, Focus, Lookup, Tally
from opsmon.reports.timeline import Night, night
from opsmon.training.exercise import ExerciseClock, absent_line
from opsmon.training.exercise import banner as exercise_banner
from opsmon.training.exercise import moved as exercise_moved
from opsmon.tui.actions import APP, Scoped, bindings, in_language
from opsmon.tui.commanding import Commander
from opsmon.tui.host import OpsmonHost, TimelineView
from opsmon.tui.messages import Bridge, Connected, Disconnected, Refused, RosterChanged, ServerProblem, Synced
from opsmon.tui.palette import ActionCommands, OpsmonPalette, commands
from opsmon.tui.remembered import Remembered, recall, remember
from opsmon.tui.screens.dashboard import DashboardScreen
from opsmon.tui.screens.detail import IncidentScreen
from opsmon.tui.screens.handover import HandoverScreen
from opsmon.tui.screens.help import HelpScreen, key_rows
from opsmon.tui.screens.modals import ConfirmQuit
from opsmon.tui.screens.regency import RegencyScreen
from opsmon.tui.screens.sitrep import SitrepScreen
from opsmon.tui.widgets.notices import NoticeBoard

FREEZE_ARRIVALS = 2_000  # a paged snapshot's incidents kept out of full collections this many at a time
FLUSH_SECONDS = 0.1  # at most ten repaints a second, however many events arrive
RECENT_EVENTS = 500
ALERT_REPEAT_SECONDS = 30.0  # the same incident again this soon (a fast replay): no second alarm
# An exercise at this speed or faster (10 scenario minutes a real second and up) says its
# alerts as one summary line over the last FAST_WINDOW_SECONDS: per-incident notices would
# come faster than anyone reads them (every incident is in the queue anyway).
FAST_FORWARD_SPEED = 600.0
FAST_WINDOW_SECONDS = 30.0
FAILED_NOTICE_SECONDS = 120.0  # a message the server gave up on: long enough to be read and acted on
BELL_INTERVAL = 10.0  # seconds: the bell rings at most once in this long ([client] bell_interval)
# The server's write troubles (server/app.py describe_write_failure) and their i18n keys.
SERVER_PROBLEMS = {"the disk is full": "problem.disk_full", "the database is read-only": "problem.read_only", "the disk failed": "problem.disk_failed"}


class OpsmonApp(Scoped, App[int]):
    CSS_PATH = Path(__file__).with_name("opsmon.tcss")  # absolute: subclasses live elsewhere
    TITLE = "opsmon"
    SCOPE = APP
    BINDINGS = bindings(APP)  # ctrl+q and ctrl+c, ctrl+p, ctrl+l: opsmon.tui.actions
    COMMANDS = {ActionCommands}

    # What the screens and widgets follow (they watch these; the app never calls into them):
    revision: var[int] = var(0)  # bumped by the coalescing flush: the state, the connection or a view changed
    clock: var[datetime | None] = var(None)  # the header clock, once a second
    read_only: var[bool] = var(False)  # a display (--wall, or a token that may only read): no keys that act
    notice_revision: var[int] = var(0)  # the notice board changed (the NoticeBar on each screen watches it)

    def __new__(cls, *args: Any, lang: str = "id", **kwargs: Any) -> OpsmonApp:
        # The footer shows the palette key in the officer's language: the app's class
        # for that language (the same app; only its bindings' words differ).
        return super().__new__(in_language(cls, lang))

    def __init__(
        self,
        *,
        url: URLs,
        token: str,
        lang: str = "id",
        wall: bool = False,
        clock: Callable[[], datetime] | None = None,
        tz: tzinfo | None = None,
        cafile: str | None = None,
        shape: ProvinceShape | None = None,
        sitrep: SitrepSettings | None = None,
        sitrep_folder: Path | None = None,
        bell: bool = True,
        bell_interval: float = BELL_INTERVAL,
        regencies: tuple[str, ...] | None = None,
        desk: str | None = None,
        desks: dict[str, frozenset[str]] | None = None,
        remember_in: Path | None = None,
    ) -> None:
        super().__init__()
        # The officer's focus: --regency/--desk (codes, checked by the CLI), else what this
        # token chose last on this machine (kept in `remember_in`; None: nothing kept),
        # else the token's own regencies; desk "" is every desk. `desks` is the config's desk -> its categories.
        self._asked = (regencies, desk) if regencies is not None or desk is not None else None
        self.desks = desks or {}
        self.remember_in = remember_in
        self.ground = Focus()
        self._focus_set = False
        # An exit message (a refused token, an unreachable server) is one line, however long:
        # Textual prints it on this console after the terminal is restored.
        self.error_console = Console(markup=False, highlight=False, stderr=True, soft_wrap=True)
        self.shape = shape  # the province's regencies as polygons, for the map (None: no map)
        self.sitrep = sitrep or SitrepSettings()  # the local config's [sitrep]: post name, formats
        self.sitrep_folder = sitrep_folder  # where the sitrep key writes (None: preview only)
        self._nights: dict[str | None, tuple[object, Night]] = {}
        self.bell_enabled = bell  # the terminal bell for a new critical or escalated incident
        self.bell_interval = bell_interval  # at most one ring in this many seconds (of the screen's clock)
        self.bells = 0  # rung so far (tests read it)
        self._rung_at: datetime | None = None
        self._alerted: dict[object, float] = {}  # incident id -> when it was last announced (monotonic)
        self._fast_alerts: deque[tuple[float, bool]] = deque()  # a fast exercise's alerts: (when, a new critical)
        self.board = NoticeBoard()  # the notices standing now: the NoticeBar on each screen shows them
        self.urls = url_list(url)  # several: fail over between them, in this order
        self.cafile = cafile
        self.token = token
        self.lang = lang
        self.tr = Translator(lang)
        self.wall = wall
        self._clock = clock or utc_now
        self._real_clock = self._clock  # an exercise's scenario clock runs from it
        self._tz = tz
        self.state = State()
        # Which incidents each Synced touched: the screens' row indexes and the counts
        # redo only those (a night of 50,000 is not read again per repaint).
        self.changes = Changes()
        self.tally = Tally()
        self.welcome: Welcome | None = None
        self.lookup: Lookup | None = None
        self.connection: Connection | None = None
        self.online = False
        self.offline_since: datetime | None = None
        self.offline_reason = ""
        self.server_problem: str | None = None
        self.roster: RosterInfo | None = None  # an exercise's expected trainees not connected (RosterLine)
        self.recent_events: deque[Event] = deque(maxlen=RECENT_EVENTS)
        self.unanswered = 0  # write commands sent and not yet answered
        self.commander = Commander(self)  # the officer's commands: dialogs, sending, outcomes
        self.notices: deque[str] = deque(maxlen=200)  # outcomes shown, newest last (tests read it)
        self.exit_line = ""
        self.repaints = 0  # coalesced redraws (the bench reads it)
        self.redraws = 0  # ctrl+l
        self.events_seen = 0
        self._dirty = True
        self._unfrozen = 0  # incidents the pages brought since the last gc.freeze (_on_synced)
        self._notices_pending = False  # a notice said, the notice line not yet told (say)
        self.backoff = Backoff()  # capped at 30 s: the wall retries forever, never faster than that
        self._preset: tuple[Welcome, State] | None = None
        self.dashboard: DashboardScreen

    @classmethod
    def with_state(
        cls,
        welcome: Welcome,
        state: State,
        *,
        lang: str = "id",
        wall: bool = False,
        clock: Callable[[], datetime] | None = None,
        tz: tzinfo | None = None,
        events: list[Event] | None = None,
        shape: ProvinceShape | None = None,
        sitrep_folder: Path | None = None,
        desks: dict[str, frozenset[str]] | None = None,
    ) -> OpsmonApp:
        """An app showing fixed data, with no network: for snapshots and demos.
        `events` (those that made `state`) feed the ticker and the timelines."""
        app = cls(url="ws://offline.invalid/ws", token="", lang=lang, wall=wall, clock=clock, tz=tz, shape=shape, sitrep_folder=sitrep_folder, desks=desks)
        app._preset = (welcome, state)
        app.recent_events.extend(events or [])
        return app

    # --- derived values ---------------------------------------------------------------

    @property
    def tz(self) -> tzinfo:
        if self._tz is not None:
            return self._tz
        return self.welcome.config.tz if self.welcome is not None else WITA

    @property
    def rosters(self) -> tuple[DutyRoster, ...]:
        """The server's [[rosters]] (the welcome's): when a desk's shift began (the handover screen)."""
        return self.welcome.config.rosters if self.welcome is not None else ()

    @property
    def is_wall(self) -> bool:
        """Wall mode: asked for, or forced by a token that may only read."""
        return self.wall or (self.welcome is not None and not self.welcome.user.may_act())

    @property
    def province_name(self) -> str:
        province = self.welcome.config.province if self.welcome is not None else None
        return f"opsmon · {province.name}" if province is not None else self.tr("app.title")

    def now(self) -> datetime:
        return self._clock()

    def counted(self) -> Tally:
        """The open and unacknowledged counts, caught up with the state."""
        self.tally.follow(self.state, self.changes)
        return self.tally

    def exercise_words(self, *, short: int = 0) -> str:
        """LATIHAN/EXERCISE, the exercise's name, speed and clock while the server runs one,
        else ""; `short` 1 to 3: the name, then the deadlines' words, then the speed give way."""
        info = self.welcome.exercise if self.welcome is not None else None
        return for_terminal(exercise_banner(info, self.lang, short=short)) if info is not None else ""

    @property
    def absent_text(self) -> str:
        """On the wall and for the trainer (an admin token): who of the exercise's expected trainees is not connected, else ""."""
        if self.roster is None or not (self.is_wall or (self.welcome is not None and self.welcome.user.role == "admin")):
            return ""
        return for_terminal(absent_line(self.roster, self.lang))

    def is_overdue(self, incident: Incident) -> bool:
        return is_overdue(incident, self.now())

    def regency_codes(self) -> list[str]:
        if self.welcome is not None:
            return [r.code for r in self.welcome.config.regencies]
        if self._preset is not None:
            return [r.code for r in self._preset[0].config.regencies]
        return []

    @property
    def url(self) -> str:
        """The server connected to, or being tried (the first one before the connection starts)."""
        return self.connection.url if self.connection is not None else self.urls[0]

    @property
    def server_label(self) -> str:
        """host:port of the server connected to, for the header; "" with only one server."""
        return short(self.url) if len(self.urls) > 1 and self.online else ""

    def banner_text(self) -> str | None:
        if self.online and self.server_problem is not None:
            # Connected, but the server cannot save: commands will be refused.
            # The server's words without its prefix and SQLite's detail, so it fits 80 columns.
            problem = self.server_problem.removeprefix("could not save: ").split(" (", 1)[0]
            known = SERVER_PROBLEMS.get(problem)  # one language on screen; an unknown trouble as the server said it
            return self.tr("banner.server_problem", problem=self.tr(known) if known else for_terminal(problem))
        if self.online or self.offline_since is None or self._preset is not None:
            return None
        time_text = local_time(self.offline_since, self.tz)
        # Several servers: which one it is trying now (failing over), else "retrying".
        text = self.tr("banner.failover", time=time_text, server=short(self.url)) if len(self.urls) > 1 else self.tr("banner.offline", time=time_text)
        if self.offline_reason:
            text += " " + self.tr("banner.reason", reason=self.offline_reason)
        return text

    # --- life cycle ---------------------------------------------------------------------

    def on_mount(self) -> None:
        self.title = self.tr("app.title")
        if self._preset is not None:
            welcome, state = self._preset
            self._welcomed(welcome)
            self.state = state
            self.online = True
        self.dashboard = in_language(DashboardScreen, self.lang)()
        self.push_screen(self.dashboard)
        self.set_interval(FLUSH_SECONDS, self._repaint)
        self.set_interval(1.0, self._tick)
        if self._preset is None:
            self._follow()

    @work(exclusive=True, group="connection", exit_on_error=False)
    async def _follow(self) -> None:
        """The one long-lived worker that owns the websocket."""
        self.connection = Connection(self.urls, self.token, Bridge(self), clock=self.now, backoff=self.backoff, cafile=self.cafile)
        try:
            await self.connection.run()
        finally:
            await self.connection.stop()

    async def on_event(self, event: events.Event) -> None:
        # A key the terminal sent, with no text field focused: its bindings run here, at
        # the app's first look at it, in the order the keys came. Textual's own way sends
        # it through the focused widget and each container to the screen and back (five
        # message queues, each able to wait behind a repaint at 50,000 incidents), while
        # the app goes on forwarding the next keys of the same burst to whatever has the
        # focus then: "a j" sent together could acknowledge the incident below, and
        # "/jakarta" gave the filter's letters to the queue's verbs.
        if isinstance(event, events.Key) and not event.is_forwarded and not isinstance(self.focused, Input | TextArea):
            if not self.app_focus:
                self.app_focus = True
            # Textual's binding check (private: the public path is the one above).
            screen = self.screen
            if await self._check_bindings(event.key, priority=True) or await self._check_bindings(event.key, priority=False):
                self._paint_key(screen)
                return
        await super().on_event(event)

    def _paint_key(self, screen: Screen[Any]) -> None:
        """What a key's binding changed in the focused widget (the queue's cursor), on the
        terminal now. Textual's own way passes a widget's refresh through the widget's
        message queue, then the screen's (an Update), then its 60-a-second update timer,
        each able to wait behind the app's other work: 30-40 ms at the 99th percentile
        while 2,000 events a second arrive. Here the widget's dirty lines go to the
        compositor at once, as the timer's frame would draw them (Textual's private
        compositor calls: textual>=8,<9). The timer's frame still comes, for everything
        else: the lines drawn here are taken, so it does not draw them twice. A layout of
        the screen pending (the notice line taking a row) comes with that frame: the lines
        are drawn where the terminal shows the widget now, as Textual itself draws a
        widget's refresh that reaches the screen before another widget's layout does. Not
        while the widget itself asks for a layout or a scroll, nor while an update is
        batched, nor when the key changed the screen (`screen`, the one it was pressed on,
        is no longer the one shown): the key then waits for the timer's frame as before."""
        if self.screen is not screen or not screen.is_current:
            return
        widget = screen.focused
        if widget is None or not widget._repaint_required or self._batch_count or self.is_inline:
            return
        if widget._layout_required or widget._scroll_required:
            return
        compositor = screen._compositor
        if widget not in compositor.visible_widgets:
            return
        compositor.update_widgets({widget})
        self._display(screen, compositor.render_update(screen_stack=self._background_screens))

    def on_resize(self) -> None:
        self.call_after_refresh(self._notices_moved)  # the notice line's rows depend on the terminal's height

    def _notices_moved(self) -> None:
        self.notice_revision += 1

    def mark_dirty(self) -> None:
        self._dirty = True

    def _repaint(self) -> None:
        if not self._dirty or self.return_code is not None:  # exiting: the screens are going
            return
        self._dirty = False
        self.repaints += 1
        with self.batch_update():
            self.revision += 1  # every live screen redraws from the state (LiveScreen watches it)

    def _tick(self) -> None:
        if self.return_code is not None:
            return
        self.clock = self.now()  # the headers watch it
        if self.board.prune(time.monotonic()):
            self.notice_revision += 1
        self.mark_dirty()  # ages and overdue marks move with the clock

    def _welcomed(self, welcome: Welcome) -> None:
        self.welcome = welcome
        self.lookup = Lookup(welcome.config, self.lang)
        # An exercise runs on scenario time: the screens' clock and deadlines follow it.
        self._clock = ExerciseClock.from_welcome(welcome.exercise, self._real_clock) if welcome.exercise is not None else self._real_clock
        self.read_only = self.is_wall  # a viewer token makes it a wall: the dashboard watches this
        if not self._focus_set:
            self._focus_set = True
            self._start_focus(welcome)

    # --- the officer's focus -------------------------------------------------------------

    def _start_focus(self, welcome: Welcome) -> None:
        """On the first welcome: --regency/--desk (remembered from now on), else this token's
        last choice on this machine, else the token's own regencies. The wall sees it all."""
        if self.is_wall:
            return
        known = set(self.regency_codes())
        kept = recall(self.remember_in, self.token) if self.remember_in is not None and self.token else None
        if kept is not None and set(kept.regencies) <= known and (kept.desk is None or kept.desk in self.desks):
            self.ground = self._focus_of(kept.regencies, kept.desk)
        elif welcome.user.regencies:
            self.ground = self._focus_of(tuple(code for code in welcome.user.regencies if code in known), None)
        if self._asked is not None:
            # --regency and --desk (either alone keeps the other as it was), remembered from now on.
            regencies, desk = self._asked
            self.set_ground(regencies, self.ground.desk if desk is None else desk or None, announce=False)  # "": every desk

    def _focus_of(self, regencies: tuple[str, ...], desk: str | None) -> Focus:
        return Focus(frozenset(regencies), desk, self.desks.get(desk, frozenset()) if desk is not None else frozenset())

    def set_ground(self, regencies: tuple[str, ...] | None, desk: str | None, *, announce: bool = True) -> None:
        """Focus on `regencies` (empty: the province; None: keep them) and `desk` (None: every desk),
        and remember it for this token on this machine."""
        chosen = tuple(sorted(self.ground.regencies)) if regencies is None else regencies
        self.ground = self._focus_of(chosen, desk)
        if self.remember_in is not None and self.token:
            remember(self.remember_in, self.token, Remembered(chosen, desk))
        if announce:
            self.say(self.tr("focus.set", what=self.ground_words()), timeout=3)
        self.mark_dirty()

    def ground_words(self) -> str:
        """The focus in a few words: "Tanah Bumbu · meja Polri", or "seluruh provinsi"."""
        parts = [self.lookup.regency_short(code) if self.lookup else code for code in sorted(self.ground.regencies)]
        if self.ground.desk is not None:
            parts.append(self.tr("focus.desk", desk=self.ground.desk))
        return " · ".join(parts) or self.tr("focus.province")

    # --- messages from the worker ----------------------------------------------------------

    @on(Connected)
    def _on_connected(self, message: Connected) -> None:
        reconnect = self.welcome is not None and not self.online
        self._welcomed(message.welcome)
        self.online = True
        self.offline_since = None
        self.offline_reason = ""
        if reconnect:
            self.say(self.tr("reconnected_to", server=short(self.url)) if len(self.urls) > 1 else self.tr("reconnected"), timeout=3)
        self.mark_dirty()

    @on(Synced)
    def _on_synced(self, message: Synced) -> None:
        self.state = message.state
        if message.events is None:
            self.changes.reset()
            # A night's snapshot is hundreds of thousands of long-lived objects: kept out of the
            # collector's full passes (each would walk them all, a pause of a good part of a
            # second while the officer types). They are freed by reference count when replaced
            # (what is frozen is never collected as a cycle: a reconnect's snapshot is rare).
            gc.freeze()
            self._unfrozen = 0
        self.changes.touched(message.arrived)
        self._unfrozen += len(message.arrived)
        if self._unfrozen >= FREEZE_ARRIVALS:
            # A paged snapshot's pages are the night's incidents too: out of the collector's
            # full passes as the snapshot is (each a pause of 50-90 ms while the pages come,
            # several a second otherwise). A young collection first, so that what is frozen
            # is what lives.
            self._unfrozen = 0
            gc.collect(1)
            gc.freeze()
        for event in message.events or ():
            self.changes.touched(touches(event))
            if isinstance(event.data, ExerciseClockChanged) and self.welcome is not None and self.welcome.exercise is not None:
                # The trainer paused, resumed or ended: the screens' clock stands still or runs on.
                self.welcome.exercise = exercise_moved(self.welcome.exercise, event.data.state, event.ts)
                self._clock = ExerciseClock.from_welcome(self.welcome.exercise, self._real_clock)
        if message.events:
            self.events_seen += len(message.events)
            self.recent_events.extend(message.events)
            self._alert(message.events)
        self.mark_dirty()

    def _alert(self, events: list[Event]) -> None:
        """A new critical or an escalation: a notice naming it and the bell, at once; a
        snooze that ran out: a notice saying it woke. Not for what this officer did, nor
        for the state found on connecting."""
        me = self.welcome.user.actor if self.welcome is not None else None
        for event in events:
            if isinstance(event.data, IncidentUnsnoozed) and event.actor.name == "system" and not event.actor.agency:
                self._announce_woken(event.data.incident)
            elif isinstance(event.data, NotificationFailed) and self._in_focus(event):
                self._announce_failed(event.data)
            elif isinstance(event.data, ShiftHandover) and event.actor != me:
                self._announce_handover(event, event.data)
        alerts = [e for e in events if alerting(e) and e.actor != me and self._in_focus(e)]
        clock = time.monotonic()
        if alerts and self.fast_forward:
            self._summarize_fast(alerts, clock)
            return
        fresh: dict[object, Event] = {}  # the latest alert of each incident: one notice each
        again: dict[object, Event] = {}  # announced less than 30 s ago: only its notice updated
        for event in alerts:
            incident_id: object = concerns(event)
            if incident_id in fresh or clock - self._alerted.get(incident_id, -ALERT_REPEAT_SECONDS) >= ALERT_REPEAT_SECONDS:
                self._alerted[incident_id] = clock
                fresh[incident_id] = event
            else:
                again[incident_id] = event
        for incident_id, event in again.items():
            if self.board.standing(incident_id, clock):
                self._announce(event, incident_id)  # the level goes up in place, no bell
        if not fresh:
            return
        for incident_id, event in fresh.items():
            self._announce(event, incident_id)  # many of one kind share a line (NoticeBoard)
        self.ring()

    @property
    def fast_forward(self) -> bool:
        """A running exercise fast enough that its alerts are summed up, not said one by one."""
        exercise = self.welcome.exercise if self.welcome is not None else None
        return exercise is not None and exercise.state == "running" and exercise.speed >= FAST_FORWARD_SPEED

    def _summarize_fast(self, alerts: list[Event], clock: float) -> None:
        """One line for a fast-forwarded exercise's alerts of the last FAST_WINDOW_SECONDS."""
        self._fast_alerts.extend((clock, event.kind == "incident.reported") for event in alerts)
        while self._fast_alerts and self._fast_alerts[0][0] < clock - FAST_WINDOW_SECONDS:
            self._fast_alerts.popleft()
        critical = sum(1 for _, new in self._fast_alerts if new)
        speed = self.welcome.exercise.speed if self.welcome is not None and self.welcome.exercise is not None else 0
        text = self.tr("alert.fast", speed=f"{speed:g}", critical=critical, escalated=len(self._fast_alerts) - critical, seconds=int(FAST_WINDOW_SECONDS))
        self.say(text, error=True, timeout=FAST_WINDOW_SECONDS, replacing="fast-forward")
        self.ring()

    def _in_focus(self, event: Event) -> bool:
        """An alert about the officer's own ground (their focus): others' ring no bell."""
        incident_id = concerns(event)
        incident = self.state.incidents.get(incident_id) if isinstance(incident_id, int) else None
        return incident is None or self.ground.covers(incident)

    def _announce(self, event: Event, incident_id: object) -> None:
        """The incident's notice, replacing the one it may already have on screen."""
        tr = self.tr
        incident = self.state.incidents.get(incident_id) if isinstance(incident_id, int) else None
        if incident is None:
            return
        regency = self.lookup.regency_short(incident.regency) if self.lookup else incident.regency
        key = "alert.critical" if event.kind == "incident.reported" else "alert.escalated"
        actor = tr("actor.system") if event.actor.name == "system" and not event.actor.agency else who(event.actor)  # one language on screen: "(sistem)"
        text = tr(key, id=incident.id, regency=regency, title=incident.title, level=incident.level, who=actor)
        if key == "alert.critical" and not self.is_wall:
            text += tr("alert.jump")
        group = "critical" if key == "alert.critical" else "escalated"
        self.say(text, error=True, timeout=20, replacing=incident_id, group=group, incident=incident.id)

    def _announce_woken(self, incident_id: int) -> None:
        """A snooze ran out (the server's timer woke it): said once, in its own words."""
        incident = self.state.incidents.get(incident_id)
        if incident is None or incident.status == "resolved":
            return
        regency = self.lookup.regency_short(incident.regency) if self.lookup else incident.regency
        text = self.tr("alert.woke", id=incident.id, regency=regency, title=incident.title)
        self.say(text, warning=True, timeout=20, replacing=incident_id, group="woke", incident=incident.id)

    def _announce_failed(self, failed: NotificationFailed) -> None:
        """A message the server gave up on: someone the chain meant to reach was not reached,
        and the officer at the screen may have to phone them. It stands two minutes, one
        line per person and channel; many share a line (NoticeBoard)."""
        incident = self.state.incidents.get(failed.incident)
        regency = (self.lookup.regency_short(incident.regency) if self.lookup else incident.regency) if incident is not None else "?"
        text = self.tr("alert.failed", level=failed.level, person=failed.person, scheme=failed.scheme, id=failed.incident, regency=regency)
        key = ("failed", failed.incident, failed.person, failed.channel)
        self.say(text, error=True, timeout=FAILED_NOTICE_SECONDS, replacing=key, group="failed", incident=failed.incident)

    def _announce_handover(self, event: Event, data: ShiftHandover) -> None:
        """Another officer handed the officer's desk over, or took it: said once (the handover screen names it too)."""
        mine = self.ground.desk or (self.welcome.user.agency if self.welcome is not None else None)
        if data.desk != mine or self.is_wall:
            return
        what = self.tr(f"handover.done.{data.step}", time=local_time(event.ts, self.tz), who=who(event.actor))
        self.say(self.tr("handover.told", desk=data.desk, what=what), warning=True, timeout=20, replacing=("handover", data.desk))

    def ring(self) -> None:
        """The terminal bell, at most once per `bell_interval` seconds: a burst rings once."""
        if not self.bell_enabled:
            return
        now = self.now()
        if self._rung_at is not None and abs((now - self._rung_at).total_seconds()) < self.bell_interval:
            return
        self._rung_at = now
        self.bells += 1
        self.bell()

    @on(Disconnected)
    def _on_disconnected(self, message: Disconnected) -> None:
        if self.welcome is None and not self.wall:
            # Never connected: say why in one line and stop (the wall keeps trying).
            tried = self.connection.last_round if self.connection is not None and len(self.urls) > 1 else []
            reasons = [translate_failure(code, params, reason, self.lang) for _, (reason, code, params) in tried]
            self.exit_line = self.tr(
                "exit.unreachable", reason="; ".join(reasons) or translate_failure(message.code, message.params, message.reason, self.lang)
            )
            self.exit(return_code=EXIT_UNREACHABLE, message=self._exit_message())
            return
        self.online = False
        self.offline_since = message.since
        self.offline_reason = translate_failure(message.code, message.params, message.reason, self.lang)
        self.mark_dirty()

    @on(RosterChanged)
    def _on_roster_changed(self, message: RosterChanged) -> None:
        self.roster = message.roster
        self.mark_dirty()

    @on(ServerProblem)
    def _on_server_problem(self, message: ServerProblem) -> None:
        self.server_problem = message.problem
        self.mark_dirty()

    @on(Refused)
    def _on_refused(self, message: Refused) -> None:
        # One language: the server's reason in the screen's words; an unknown one as the server said it.
        why = Result(id="", ok=False, code="unauthorized", message=message.reason, reason=message.code, params=message.params)
        reason = translate_refusal(why, self.lang, self.tz)
        self.exit_line = self.tr("exit.refused", reason=reason)
        self.exit(return_code=EXIT_UNAUTHORIZED, message=self._exit_message())

    def _exit_message(self) -> Text:
        """`exit_line`, as Textual prints it once the terminal is back: plain text, never markup."""
        return Text(for_terminal(self.exit_line), no_wrap=True, overflow="ignore")

    # --- telling the officer -------------------------------------------------------------------

    def say(
        self,
        text: str,
        *,
        warning: bool = False,
        error: bool = False,
        timeout: float | None = None,
        replacing: object = None,
        group: str | None = None,
        incident: int | None = None,
    ) -> None:
        """A notice, on the notice line (opsmon.tui.widgets.notices). `replacing` names what
        it is about (an incident): a newer notice on the same thing takes the old one's
        place instead of stacking under it; `group` lets many alerts of a kind share a line."""
        text = for_terminal(text)  # refusals and reasons carry the server's words
        self.notices.append(text)
        level = "error" if error else "warning" if warning else "information"
        seconds = timeout if timeout is not None else (10 if error else 5)
        self.board.add(text, level=level, timeout=seconds, now=time.monotonic(), key=replacing, group=group, incident=incident)
        if not self._notices_pending:
            # Once for all the notices said before the app's queue comes round to it: a flood
            # of alerts draws the notice line once a turn, not once an alert (each a pass over
            # every notice standing). Not with the repaint: a notice line that changes its
            # height lays the screen out, and a repaint's frame with it would be the longest.
            self._notices_pending = True
            self.call_later(self._notices_said)

    def _notices_said(self) -> None:
        self._notices_pending = False
        self.notice_revision += 1

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Textual's own notices (a toast over the screen) go to the notice line too, as plain text."""
        self.say(f"{title}: {message}" if title else message, warning=severity == "warning", error=severity == "error", timeout=timeout)

    def night(self, regency: str | None = None) -> Night:
        """The charts' series, worked out again only when the state, the events or the hour moved."""
        now = self.now()
        key = (
            regency,
            self.state.seq,
            len(self.state.incidents),
            len(self.recent_events),
            self.recent_events[-1].seq if self.recent_events else 0,
            int(now.timestamp() // 60),
        )
        cached = self._nights.get(regency)
        if cached is None or cached[0] != key:
            config = self.welcome.config if self.welcome is not None else (self._preset[0].config if self._preset else None)
            if config is None:
                return Night(hours=[now], incidents={s: [0] for s in SEVERITIES}, tps=[0], tps_total=0)
            cached = self._nights[regency] = (key, night(self.state, self.recent_events, config, now, regency=regency))
        return cached[1]

    def open_regency(self, code: str) -> None:
        self.push_screen(in_language(RegencyScreen, self.lang)(code))

    def open_sitrep(self) -> None:
        if not isinstance(self.screen, SitrepScreen):
            self.push_screen(in_language(SitrepScreen, self.lang)())

    def open_handover(self) -> None:
        if not isinstance(self.screen, HandoverScreen):
            self.push_screen(in_language(HandoverScreen, self.lang)())

    def open_detail(self, incident_id: int) -> None:
        self.push_screen(in_language(IncidentScreen, self.lang)(incident_id))

    def load_history(self, screen: TimelineView) -> None:
        if self._preset is not None:
            screen.show_timeline([e for e in self.recent_events if concerns(e) == screen.incident_id])
            return
        if self.connection is None:
            screen.show_timeline(None, "offline")
            return
        self._history(screen)

    @work(group="history")
    async def _history(self, screen: TimelineView) -> None:
        if self.connection is None:
            return
        try:
            result = await self.connection.send(History(id=new_command_id(), incident=screen.incident_id))
        except ClientError as exc:
            screen.show_timeline(None, str(exc))
            return
        if result.ok:
            screen.show_timeline(result.events or [])
        else:
            screen.show_timeline(None, result.message or result.code or "?")

    # --- app-wide actions --------------------------------------------------------------------------

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.tr, key_rows(self, self.screen), read_only=self.is_wall))

    def action_redraw(self) -> None:
        """ctrl+l, as in less and k9s: repaint the whole terminal (after another program wrote on it)."""
        for screen in self.screen_stack:
            for widget in screen.walk_children():
                widget.refresh(layout=True)
        self.screen.refresh(layout=True)
        self.refresh(repaint=True, layout=True)
        self.mark_dirty()
        self.redraws += 1

    def action_command_palette(self) -> None:
        if self.use_command_palette and not CommandPalette.is_open(self):  # type: ignore[arg-type]
            self.push_screen(OpsmonPalette(self.tr("palette.no_matches"), placeholder=self.tr("palette.placeholder"), id="--command-palette"))

    async def action_quit(self) -> None:
        if self.unanswered:

            def answer(yes: bool | None) -> None:
                if yes:
                    self.exit(return_code=0)

            self.push_screen(ConfirmQuit(self.tr("modal.quit", count=self.unanswered)), answer)
            return
        self.exit(return_code=0)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """ctrl+p's commands (opsmon.tui.palette, from the action table), as Textual's system commands."""
        for entry in commands(self, screen):
            yield SystemCommand(entry.title, entry.help, entry.callback)


def _is_host(app: OpsmonApp) -> OpsmonHost:
    """Never called: mypy checks here that the app is what its screens type against."""
    return app


def alerting(event: Event) -> bool:
    """What the officer is told of at once: a new critical incident, any escalation."""
    if isinstance(event.data, IncidentReported):
        return event.data.severity == "critical"
    return isinstance(event.data, IncidentEscalated)


def run_tui(
    *,
    url: URLs,
    token: str,
    lang: str = "id",
    wall: bool = False,
    cafile: str | None = None,
    shape: ProvinceShape | None = None,
    sitrep: SitrepSettings | None = None,
    sitrep_folder: Path | None = None,
    bell: bool = True,
    bell_interval: float = BELL_INTERVAL,
    regencies: tuple[str, ...] | None = None,
    desk: str | None = None,
    desks: dict[str, frozenset[str]] | None = None,
    remember_in: Path | None = None,
) -> int:
    """Run the client until the officer quits. Returns the exit code; when the
    token is refused or the server cannot be reached, prints one line saying so."""
    for each in url_list(url):
        if not each.startswith(("ws://", "wss://")):
            tr = Translator(lang)
            print(tr("exit.unreachable", reason=tr("connect.not_websocket_url", url=each)), file=sys.stderr)
            return EXIT_USAGE
    app = OpsmonApp(
        url=url,
        token=token,
        lang=lang,
        wall=wall,
        cafile=cafile,
        shape=shape,
        sitrep=sitrep,
        sitrep_folder=sitrep_folder,
        bell=bell,
        bell_interval=bell_interval,
        regencies=regencies,
        desk=desk,
        desks=desks,
        remember_in=remember_in,
    )
    app.run()  # a refused token or an unreachable server: Textual prints the app's exit message
    return app.return_code or 0
