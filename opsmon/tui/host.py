"""What the screens and the palette may ask of the app, as a Protocol.

Screens type against `OpsmonHost`, not the App class, so opsmon.tui.app (which
imports every screen) is imported by none of them: no import circle. The app
is checked against it where it is defined (opsmon.tui.app)."""

from __future__ import annotations

from collections import deque
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from textual.screen import Screen

from opsmon.client.handshake import URLs
from opsmon.core.config import SitrepSettings
from opsmon.core.geo import ProvinceShape
from opsmon.core.protocol import Event
from opsmon.core.records import Incident
from opsmon.core.records import RosterInfo as DutyRoster  # protocol.RosterInfo is an exercise's trainees
from opsmon.core.view import Changes, Focus, Tally
from opsmon.reports.timeline import Night
from opsmon.tui.commanding import Commander, CommandHost


class TimelineView(Protocol):
    """A screen that shows one incident's history (opsmon.tui.screens.detail)."""

    @property
    def incident_id(self) -> int: ...

    def show_timeline(self, events: list[Event] | None, error: str | None = None) -> None: ...


class OpsmonHost(CommandHost, Protocol):
    """The app as its screens see it: what it shows, and what it can be asked to do
    (beyond what commanding needs of it: its state, language, connection, notices)."""

    @property
    def recent_events(self) -> deque[Event]: ...
    @property
    def shape(self) -> ProvinceShape | None: ...
    @property
    def sitrep(self) -> SitrepSettings: ...
    @property
    def sitrep_folder(self) -> Path | None: ...
    @property
    def dashboard(self) -> Screen[Any]: ...
    @property
    def screen(self) -> Screen[Any]: ...
    @property
    def url(self) -> str: ...
    @property
    def urls(self) -> URLs: ...  # what the sitrep screen connects to for the server's whole log
    @property
    def token(self) -> str: ...
    @property
    def cafile(self) -> str | None: ...
    @property
    def province_name(self) -> str: ...
    @property
    def absent_text(self) -> str: ...  # an exercise's expected trainees not connected (the wall, an admin token)
    @property
    def commander(self) -> Commander: ...  # acknowledge, ask, snooze, take, assign, change_severity, merge
    @property
    def changes(self) -> Changes: ...  # the incidents the folded events touched: the screens' indexes follow it
    @property
    def ground(self) -> Focus: ...  # the officer's regencies and desk (opsmon.core.view.Focus)
    @property
    def desks(self) -> dict[str, frozenset[str]]: ...  # the config's desk -> its categories
    @property
    def rosters(self) -> tuple[DutyRoster, ...]: ...  # the server's [[rosters]] (welcome): the handover's shift

    def now(self) -> datetime: ...
    def counted(self) -> Tally: ...  # the header's and the panels' counts, caught up with the state
    def is_overdue(self, incident: Incident) -> bool: ...
    def night(self, regency: str | None = None) -> Night: ...
    def banner_text(self) -> str | None: ...
    def regency_codes(self) -> list[str]: ...

    def mark_dirty(self) -> None: ...
    def set_ground(self, regencies: tuple[str, ...] | None, desk: str | None, *, announce: bool = True) -> None: ...
    def ground_words(self) -> str: ...
    def open_regency(self, code: str) -> None: ...
    def open_sitrep(self) -> None: ...
    def open_handover(self) -> None: ...
    def open_detail(self, incident_id: int) -> None: ...
    def load_history(self, screen: TimelineView) -> None: ...
