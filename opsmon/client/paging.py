"""A paged snapshot completed (docs/protocol.md "Paging"): the pages of
`incidents` merged into a state that live events keep changing meanwhile.

The rule, exact by construction:

- every live event is folded as always; one that changes an incident the
  client does not hold yet (`touches`) is also kept back for it;
- a page read at seq P is merged only once the state has folded every event
  up to P (they are committed, so they are on their way);
- an incident the client already holds stays as it is: it has folded every
  event since it came (in the snapshot, its report, or an earlier page);
- one it does not hold is taken from the page, with the events kept back for
  it after P folded onto it, in seq order;
- the one event whose effect on held incidents depends on incidents the client
  may not hold, the reopening of a merged incident (its merge chain loses its
  reports), makes the client start over from a new snapshot when the chain is
  not all held (`broken`).

Pure: no I/O (the Connection sends the `incidents` commands). And
`every_incident`: the whole `incidents` answer of lists and reports, asked in
whole pages through the caller's own `ask`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import msgspec

from opsmon.client.handshake import new_command_id
from opsmon.core.events import IncidentReopened, IncidentReported
from opsmon.core.fold import apply, touches
from opsmon.core.protocol import MAX_PAGE, Event, Incidents, MorePages, Result, Snapshot
from opsmon.core.records import Incident, compacted
from opsmon.core.state import State


class Paging:
    """The rest of one paged snapshot, coming in: where the next page starts and
    the live events kept back for incidents not held yet."""

    def __init__(self, snapshot: Snapshot, more: MorePages) -> None:
        self.since = more.since
        self.after: int | None = more.after
        self.seq = snapshot.seq
        self.kept: dict[int, list[Event]] = {}
        self.broken = False
        self.pages = 0
        self.kept_back = 0  # live events kept back for incidents not held yet
        self.folded_on = 0  # of those, folded onto a page's incident read before them

    @property
    def done(self) -> bool:
        return self.after is None

    def command(self, command_id: str, limit: int) -> Incidents:
        """The `incidents` command that asks for the next page."""
        return Incidents(id=command_id, since=self.since, after=self.after or 0, limit=limit)

    def saw(self, state: State, event: Event) -> None:
        """A live event, before it is folded into `state`: kept back for every
        incident it changes that `state` does not hold."""
        data = event.data
        if isinstance(data, IncidentReopened) and not _chain_held(state, data.incident):
            self.broken = True
        if isinstance(data, IncidentReported):
            return  # held from now on
        for incident_id in touches(event):
            if incident_id not in state.incidents:
                self.kept.setdefault(incident_id, []).append(event)
                self.kept_back += 1

    def merge(self, state: State, seq: int, incidents: list[Incident], after: int | None) -> list[int]:
        """A page read at `seq` (state.seq >= seq) into `state`; returns the ids of the
        incidents it brought that the state did not hold (a screen's indexes take those)."""
        if state.seq < seq:
            raise ValueError(f"a page read at seq {seq} merged into a state at {state.seq}")
        brought: list[int] = []
        for incident in incidents:
            if incident.id in state.incidents:
                continue
            incident = compacted(incident)  # decoded from the page for this state alone
            alone = State(seq=seq, incidents={incident.id: incident})
            for event in self.kept.pop(incident.id, []):
                if event.seq > seq:
                    apply(alone, event)
                    self.folded_on += 1
            taken = alone.incidents[incident.id]
            state.incidents[incident.id] = taken
            _uncount(state, incident)
            brought.append(incident.id)
        self.after = after
        self.pages += 1
        if self.done:
            state.unheld = None
            self.kept.clear()
        return brought


def unheld_counts(snapshot: Snapshot) -> dict[tuple[str, str, str], int]:
    """The snapshot's `counts` less the unresolved incidents it holds itself."""
    counts = {(c.regency, c.status, c.severity): c.count for c in snapshot.counts or []}
    for incident in snapshot.incidents:
        _take(counts, incident)
    return counts


def _take(counts: dict[tuple[str, str, str], int], incident: Incident) -> None:
    if incident.status == "resolved":
        return
    key = (incident.regency, incident.status, incident.severity)
    if counts.get(key, 0) > 0:
        counts[key] -= 1


def _uncount(state: State, incident: Incident) -> None:
    """An incident the page brought is counted as held now, not as unheld (as the
    page had it: one that changed since the snapshot may be counted off by one
    until the last page is in)."""
    if state.unheld is not None:
        _take(state.unheld, incident)


def _chain_held(state: State, incident_id: int) -> bool:
    """Whether `state` holds the incident and every incident up its merge chain."""
    seen: set[int] = set()
    current: int | None = incident_id
    while current is not None and current not in seen:
        incident = state.incidents.get(current)
        if incident is None:
            return False
        seen.add(current)
        current = incident.merged_into
    return True


# A page refused `rate_limited` (the token's budget shared with its other connections) is asked again after this.
RATE_LIMITED_RETRY_SECONDS = 0.25


async def every_incident(ask: Callable[[Incidents], Awaitable[Result]], *, status: str | None = None, since: str | None = None) -> Result:
    """What an unpaged `incidents` answers (every incident the filters keep, whole; a
    scoped token's regencies only), asked in whole pages: no one command costs the
    server what the night has piled up, and a night past the unpaged bound (refused
    `page_it`) lists as a small one does. The first refusal, or one Result holding them all."""
    found: list[Incident] = []
    after = 0
    while True:
        result = await ask(Incidents(id=new_command_id(), status=status, since=since, after=after, limit=MAX_PAGE, whole=True))
        if result.code == "rate_limited":
            await asyncio.sleep(RATE_LIMITED_RETRY_SECONDS)
            continue
        if not result.ok:
            return result
        found.extend(result.incidents or [])
        if result.next is None:
            return msgspec.structs.replace(result, incidents=found)
        after = result.next
