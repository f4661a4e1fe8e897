"""What the connection worker tells the screens: Textual messages, never sockets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from textual.message import Message

from opsmon.core.protocol import Event, Welcome
from opsmon.core.state import State


class Connected(Message):
    """Greeted by the server (first time or after a reconnect)."""

    def __init__(self, welcome: Welcome) -> None:
        super().__init__()
        self.welcome = welcome


class Synced(Message):
    """The state changed: a whole new one (events is None) or these events folded in."""

    def __init__(self, state: State, events: list[Event] | None) -> None:
        super().__init__()
        self.state = state
        self.events = events


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

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class ServerProblem(Message):
    """The server cannot save commands (a full or read-only disk), or can again (None)."""

    def __init__(self, problem: str | None) -> None:
        super().__init__()
        self.problem = problem
