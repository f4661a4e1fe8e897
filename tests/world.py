"""A state and the events that made it, driven by commands at chosen times (pure: no sockets, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opsmon.core.clock import format_ts
from opsmon.core.domain import decide, due_escalations
from opsmon.core.events import KnownPayload
from opsmon.core.fold import apply, concerns
from opsmon.core.protocol import Event, IncidentDraft, Report
from opsmon.core.records import SYSTEM, Actor
from opsmon.core.state import Rules, State
from tests.helpers import province

RULES = Rules.from_config(province())


T0 = datetime(2024, 2, 14, 13, 0, tzinfo=UTC)  # 21:00 WITA


SITI = Actor(name="Siti", agency="KPU")


BUDI = Actor(name="Budi", agency="Polri")


class World:
    """A state and the events that made it, driven by commands at chosen times."""

    def __init__(self) -> None:
        self.state = State()
        self.events: list[Event] = []
        self.now = T0

    def do(self, command: object, actor: Actor = SITI, scope: list[str] | None = None) -> Event:
        decision = decide(self.state, command, actor, scope, self.now, RULES)  # type: ignore[arg-type]
        return self._commit(decision.payload, actor)

    def _commit(self, payload: KnownPayload, actor: Actor) -> Event:
        event = Event.of(self.state.seq + 1, format_ts(self.now), actor, payload)
        apply(self.state, event)
        self.events.append(event)
        return event

    def escalate_due(self) -> list[Event]:
        return [self._commit(d.payload, SYSTEM) for d in due_escalations(self.state, self.now, RULES)]

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def report(self, severity: str = "high", regency: str = "6371", title: str = "Kotak suara rusak", actor: Actor = SITI) -> int:
        event = self.do(Report(id="r", incident=IncidentDraft(regency=regency, category="logistik", severity=severity, title=title)), actor)
        return concerns(event) or 0
