"""What the connection worker tells the screens: Textual messages, never sockets;
and the `Bridge` that turns the Connection's Listener callbacks into them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from textual.message import Message

from opsmon.client.connection import Connection
from opsmon.core.protocol import Event, RosterInfo, Welcome
from opsmon.core.state import State


class Connected(Message):
    """Greeted by the server (first time or after a reconnect)."""

    def __init__(self, welcome: Welcome) -> None:
        super().__init__()
        self.welcome = welcome


class Synced(Message):
    """The state changed: a whole new one (events is None) or these events folded in."""

    def __init__(self, state: State, events: list[Event] | None, arrived: list[int] | None = None) -> None:
        super().__init__()
        self.state = state
        self.events = events
        self.arrived = arrived or []  # incidents a paged snapshot's pages brought


class Disconnected(Message):
    """Offline since `since`, retrying. `reason` in English; `code` and `params`,
    when the client knows them, say it again for i18n (`connect.<code>`)."""

    def __init__(self, since: datetime, reason: str, code: str | None = None, params: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.since = since
        self.reason = reason
        self.code = code
        self.params = params


class Refused(Message):
    """The token was refused; the connection has stopped."""

    def __init__(self, reason: str, code: str | None = None, params: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.reason = reason
        self.code = code  # the server's reason (`refused.<code>` in i18n), when it gave one
        self.params = params or {}


class ServerProblem(Message):
    """The server cannot save commands (a full or read-only disk), or can again (None)."""

    def __init__(self, problem: str | None) -> None:
        super().__init__()
        self.problem = problem


class RosterChanged(Message):
    """Who of an exercise's expected trainees is not connected (None: not an exercise)."""

    def __init__(self, roster: RosterInfo | None) -> None:
        super().__init__()
        self.roster = roster


class _Posting(Protocol):
    """The app, as the bridge sees it."""

    @property
    def connection(self) -> Connection | None: ...
    def post_message(self, message: Message) -> bool: ...


class Bridge:
    """The Connection's Listener: turns its callbacks into Textual messages."""

    def __init__(self, app: _Posting) -> None:
        self.app = app

    def connected(self, welcome: Welcome) -> None:
        self.app.post_message(Connected(welcome))

    def synced(self, state: State, events: list[Event] | None, arrived: list[int] | None = None) -> None:
        self.app.post_message(Synced(state, events, arrived))

    def disconnected(self, since: datetime, reason: str) -> None:
        failure = self.app.connection.failure if self.app.connection is not None else None
        self.app.post_message(Disconnected(since, reason, *(failure or (None, None))))

    def refused(self, reason: str) -> None:
        refusal = self.app.connection.session.refusal if self.app.connection is not None else None
        self.app.post_message(Refused(reason, *(refusal or (None, None))))

    def server_problem(self, problem: str | None) -> None:
        self.app.post_message(ServerProblem(problem))

    def roster_changed(self, roster: RosterInfo | None) -> None:
        self.app.post_message(RosterChanged(roster))
