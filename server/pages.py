"""Paging (protocol "Added: paging"): what a paged snapshot's first page and
`counts` are read from, kept beside the folded state so that building them
costs the page, not the night, and one page of the snapshot's incidents by id.

`QueueIndex` holds every unresolved incident's queue key (urgency.urgency_key)
in one sorted list, their counts per regency, status word and severity, and the
resolved ones in the order they were resolved. The server touches it with the
ids each commit changed (writer, follower); `first` checks what it hands out
against the state and rebuilds the index from the state if they disagree.
"""

from __future__ import annotations

import bisect
import logging
from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from opsmon.core.clock import parse_ts
from opsmon.core.protocol import MAX_PAGE_NOTES, IncidentCount
from opsmon.core.records import Incident
from opsmon.core.state import State
from opsmon.core.urgency import for_snapshot, urgency_key

log = logging.getLogger("opsmon.server")

# Ids one `incidents` page looks at, at most: a stretch of the log holding only
# incidents the filter leaves out (resolved days ago) costs this, then the
# answer says where to go on (`next`), so no page reads the whole night.
PAGE_SCAN = 2_000

Key = tuple[int, int, str, int]
CountKey = tuple[str, str, str]  # regency, status (open or acknowledged), severity


class QueueIndex:
    """The unresolved incidents in queue order, counted, and the resolved ones by resolution."""

    def __init__(self) -> None:
        self.order: list[Key] = []
        self.keys: dict[int, Key] = {}
        self.counted: dict[int, CountKey] = {}
        self.counts: Counter[CountKey] = Counter()
        self.resolved: dict[int, str] = {}  # id -> resolved ts, oldest resolution first

    def build(self, state: State) -> None:
        """From the whole state: once at start, and if it is ever found out of step."""
        self.keys = {}
        self.counted = {}
        self.counts = Counter()
        resolved: list[tuple[str, int]] = []
        for incident in state.incidents.values():
            if incident.status == "resolved":
                resolved.append((incident.resolved or "", incident.id))
            else:
                self.keys[incident.id] = urgency_key(incident)
                self.counted[incident.id] = _count_key(incident)
                self.counts[self.counted[incident.id]] += 1
        self.order = sorted(self.keys.values())
        self.resolved = {i: ts for ts, i in sorted(resolved)}

    def touch(self, state: State, ids: Iterable[int]) -> None:
        """The incidents `ids` changed (or were reported): their places again."""
        for incident_id in ids:
            incident = state.incidents.get(incident_id)
            old = self.keys.pop(incident_id, None)
            if old is not None:
                del self.order[bisect.bisect_left(self.order, old)]
                self.counts[self.counted.pop(incident_id)] -= 1
            if incident is not None and incident.status == "resolved":
                # Moved last (the newest resolution) only when resolved anew, not by a later note.
                if self.resolved.get(incident_id) != incident.resolved:
                    self.resolved.pop(incident_id, None)
                    self.resolved[incident_id] = incident.resolved or ""
                continue
            self.resolved.pop(incident_id, None)
            if incident is None:
                continue
            key = self.keys[incident_id] = urgency_key(incident)
            bisect.insort(self.order, key)
            counted = self.counted[incident_id] = _count_key(incident)
            self.counts[counted] += 1

    def first(self, state: State, page: int, since: datetime) -> tuple[list[Incident], bool]:
        """The `page` most urgent incidents of a snapshot whose resolved ones are
        those resolved at or after `since`: every unresolved one in queue order,
        then the most recently resolved; and whether the snapshot holds more."""
        picked = [state.incidents.get(key[3]) for key in self.order[:page]]
        if any(i is None or urgency_key(i) != key or i.status == "resolved" for i, key in zip(picked, self.order, strict=False)):
            log.warning("the queue index was out of step with the state; rebuilt")
            self.build(state)
            return self.first(state, page, since)
        chosen = [i for i in picked if i is not None]
        room = page - len(chosen)
        taken = 0
        for incident_id, ts in reversed(self.resolved.items()):
            if taken >= room or not ts or parse_ts(ts) < since:
                break
            incident = state.incidents.get(incident_id)
            if incident is None or incident.status != "resolved":
                log.warning("the queue index was out of step with the state; rebuilt")
                self.build(state)
                return self.first(state, page, since)
            chosen.append(incident)
            taken += 1
        # Any incident left out, even one resolved before `since`: the pages (which
        # filter by `since` themselves) tell; only a snapshot that left none out is whole.
        more = len(self.order) > page or len(self.resolved) > taken
        return chosen, more

    def count_rows(self) -> list[IncidentCount]:
        """Every unresolved incident, counted per regency, status and severity."""
        return [IncidentCount(regency=r, status=s, severity=v, count=n) for (r, s, v), n in sorted(self.counts.items()) if n > 0]


def _count_key(incident: Incident) -> CountKey:
    return (incident.regency, incident.status, incident.severity)


def in_window(incident: Incident, since: datetime | None) -> bool:
    """In a snapshot whose resolved incidents are those resolved at or after `since`
    (None: every one), as the `incidents` command's `since` filter reads."""
    if since is None or incident.resolved is None:
        return True
    return parse_ts(incident.reported) >= since or parse_ts(incident.resolved) >= since


def page_of(
    state: State,
    after: int,
    limit: int,
    since: datetime | None,
    status: str | None,
    *,
    whole: bool = False,
    regencies: frozenset[str] | None = None,
) -> tuple[list[Incident], int | None]:
    """The incidents with an id above `after`, at most `limit`, looking at no more than
    PAGE_SCAN ids, in id order, each as a snapshot carries it (urgency.for_snapshot);
    and the `after` of the next page (None: none left). `whole`: every note, only
    `regencies` (a scoped token's), and the page ends once it holds MAX_PAGE_NOTES notes."""
    last = state.next_incident_id - 1
    found: list[Incident] = []
    notes = 0
    incident_id = after
    end = min(last, after + PAGE_SCAN)
    while incident_id < end and len(found) < limit and notes < MAX_PAGE_NOTES:
        incident_id += 1
        incident = state.incidents.get(incident_id)
        if incident is None or (status is not None and incident.status != status) or not in_window(incident, since):
            continue
        if not whole:
            found.append(for_snapshot(incident))  # its last notes, the rest counted: as the snapshot it completes
        elif regencies is None or incident.regency in regencies:
            found.append(incident)
            notes += len(incident.notes)
    return found, (incident_id if incident_id < last else None)
