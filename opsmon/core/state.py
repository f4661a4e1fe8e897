"""The province as the fold leaves it (`State`), the rules the server decides
by (`Rules`, the config reduced) and the stage rows an untouched stage implies."""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from functools import cached_property
from typing import Any, TypeVar

from opsmon.core.clock import parse_ts
from opsmon.core.config import Config
from opsmon.core.people import Policy
from opsmon.core.records import Incident, SeverityInfo, StageRow
from opsmon.core.wire import convert, to_builtins


@dataclass(frozen=True)
class Rules:
    """What the server needs to decide commands: the province's config, reduced."""

    stage_totals: dict[tuple[str, str], int]  # (regency, stage) -> total; a province stage's regency is the province code
    categories: frozenset[str]
    severities: dict[str, SeverityInfo]  # the config's own: ack_minutes, escalate_minutes (0: no re-escalation after the first)
    tz: tzinfo
    tz_name: str = "WITA"
    province: str = ""
    province_stages: frozenset[str] = frozenset()
    dedup_minutes: int = 30  # [triage] dedup_minutes; 0: never fold
    max_notes: int = 500  # [triage] max_notes_per_incident: a `note` past it is refused
    exercise: bool = False  # an exercise server: the trainer's `exercise` command is taken
    escalation: Policy = field(default_factory=Policy)  # people, rosters, chains and the ceiling ([notify] max_repeats)

    @cached_property
    def regencies(self) -> frozenset[str]:
        # Asked on every report and stage update: worked out once.
        return frozenset(regency for regency, stage in self.stage_totals if stage not in self.province_stages)

    @cached_property
    def stages(self) -> frozenset[str]:
        return frozenset(stage for _, stage in self.stage_totals)

    @classmethod
    def from_config(cls, config: Config) -> Rules:
        return cls(
            stage_totals=config.stage_totals(),
            categories=frozenset(c.key for c in config.categories),
            severities={s.key: s for s in config.severities},
            tz=config.province.tz,
            tz_name=config.province.timezone_name,
            province=config.province.code,
            province_stages=frozenset(s.key for s in config.stages if s.province_wide),
            dedup_minutes=config.triage.dedup_minutes,
            max_notes=config.triage.max_notes_per_incident,
            escalation=Policy.of(config),
        )

    def local_time(self, ts: str) -> str:
        return f"{parse_ts(ts).astimezone(self.tz):%H:%M} {self.tz_name} ({parse_ts(ts).astimezone(self.tz):%d/%m})"


K = TypeVar("K")
V = TypeVar("V")


class Overlay(dict[K, V]):
    """A dict that reads through to `base` and keeps its own changes apart (a
    fork's incidents, its dedup index). No deletes: a fold never removes an
    incident or an index entry. Iterating walks both (the fork's rare slow path)."""

    def __init__(self, base: dict[K, V]) -> None:
        super().__init__()
        self.base = base

    def __getitem__(self, key: K) -> V:
        return super().__getitem__(key) if dict.__contains__(self, key) else self.base[key]

    def get(self, key: K, default: Any = None) -> Any:
        return super().get(key) if dict.__contains__(self, key) else self.base.get(key, default)

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or key in self.base

    def __delitem__(self, key: K) -> None:
        raise TypeError("an overlay does not delete")

    def _all(self) -> dict[K, V]:
        return {**self.base, **dict(super().items())}

    def __iter__(self) -> Iterator[K]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self.base) + sum(1 for key in dict.keys(self) if key not in self.base)

    def keys(self) -> Any:
        return self._all().keys()

    def values(self) -> Any:
        return self._all().values()

    def items(self) -> Any:
        return self._all().items()

    def merged(self) -> dict[K, V]:
        """The base with this overlay's changes written in."""
        self.base.update(dict(super().items()))
        return self.base


def due_at(incident: Incident) -> datetime | None:
    """When the deadline timer next owes this incident something: the end of
    its snooze (unless resolved), else its escalation time while it is open;
    None if nothing is due (acknowledged, resolved, or no deadline)."""
    if incident.snoozed_until is not None:
        return None if incident.status == "resolved" else parse_ts(incident.snoozed_until)
    if incident.status == "open" and incident.escalate_due is not None:
        return parse_ts(incident.escalate_due)
    return None


class DueIndex:
    """The incidents by the moment they are next due (`due_at`), so a timer round
    costs O(due), not a walk over every incident of the night.

    A heap of (moment, id). The fold pushes an entry whenever it changes a
    deadline and never removes one: an entry whose moment is no longer its
    incident's `due_at` is stale, skipped and dropped when it comes up, and the
    heap is rebuilt when stale entries outnumber the incidents (so its size is
    bounded by the night's incidents, not its events). A fork's index keeps its
    own entries apart (`base` is the state's it was forked from) until the fork
    is settled, as the fork's incidents are kept apart from the state's."""

    def __init__(self, incidents: Mapping[int, Incident] | None = None, base: DueIndex | None = None) -> None:
        self.base = base
        self.heap: list[tuple[datetime, int]] = []
        self._build(incidents or {})

    def _build(self, incidents: Mapping[int, Incident]) -> None:
        self.heap = []
        for incident in incidents.values():
            self.add(incident, ordered=False)
        heapq.heapify(self.heap)

    def add(self, incident: Incident, *, ordered: bool = True) -> None:
        at = due_at(incident)
        if at is not None:
            if ordered:
                heapq.heappush(self.heap, (at, incident.id))
            else:
                self.heap.append((at, incident.id))

    def due(self, incidents: Mapping[int, Incident], now: datetime) -> list[Incident]:
        """Every incident due at `now` (its `due_at` not after it), in id order."""
        found: dict[int, Incident] = {}
        keep: list[tuple[datetime, int]] = []
        while self.heap and self.heap[0][0] <= now:
            entry = heapq.heappop(self.heap)
            incident = incidents.get(entry[1])
            if incident is not None and entry[1] not in found and due_at(incident) == entry[0]:
                found[entry[1]] = incident
                keep.append(entry)  # still due until a decision is committed for it
        for entry in keep:
            heapq.heappush(self.heap, entry)
        if self.base is not None:  # a fork asked (tests): the state's entries too, left as they are
            for at, key in _not_after(self.base.heap, now):
                incident = incidents.get(key)
                if incident is not None and key not in found and due_at(incident) == at:
                    found[key] = incident
        elif len(self.heap) > 2 * len(incidents) + 1024:
            self._build(incidents)  # mostly stale: rebuilt, its cost spread over the pushes that made it
        return [found[key] for key in sorted(found)]

    def merged(self) -> DueIndex:
        """The base with this fork's entries pushed in (see State.settled)."""
        if self.base is None:
            return self
        for entry in self.heap:
            heapq.heappush(self.base.heap, entry)
        return self.base


def _not_after(heap: list[tuple[datetime, int]], now: datetime) -> Iterator[tuple[datetime, int]]:
    """The entries of a heap not after `now`, without popping: the heap's tree walked
    only below entries not after it."""
    stack = [0] if heap else []
    while stack:
        index = stack.pop()
        if index < len(heap) and heap[index][0] <= now:
            yield heap[index]
            stack += (2 * index + 1, 2 * index + 2)


@dataclass
class State:
    """The province as of event `seq`: every incident and every stage row an
    event made (an untouched row is implicit: `stage_row`)."""

    seq: int = 0
    incidents: dict[int, Incident] = field(default_factory=dict)
    stages: dict[tuple[str, str], StageRow] = field(default_factory=dict)
    max_incident_id: int = -1  # -1: not known yet, worked out on first use
    # The dedup index: (regency, category, location key) -> the ids reported
    # with it, oldest first (None: not built yet, built on first use). Values
    # are tuples, replaced never mutated, so a fork shares them safely.
    dedup: dict[tuple[str, str, str], tuple[int, ...]] | None = None
    dedup_of: dict[int, Incident] | None = None  # the incidents dict the index was built from
    dedup_examined: int = 0  # candidates looked at by dedup searches (GET /metrics)
    exercise_state: str = "running"  # an exercise's clock: running, paused or ended (its last exercise.clock)
    # The last situation report the server numbered (its last sitrep.numbered): the next
    # one is numbered on from it and covers the period from its `until`, the events after its seq.
    sitrep_number: int = 0
    sitrep_until: str | None = None
    sitrep_seq: int = 0
    # The deadline timer's index (DueIndex; None: not built yet, built on first use)
    # and the incidents dict it was built from, as for the dedup index.
    due: DueIndex | None = None
    due_of: dict[int, Incident] | None = None
    # A client completing a paged snapshot (docs/protocol.md "Paging"): the snapshot's
    # `counts` of the unresolved incidents it does not hold yet, by (regency, status,
    # severity), so the panels count them before their pages arrive; None once all are in.
    unheld: dict[tuple[str, str, str], int] | None = None

    @property
    def next_incident_id(self) -> int:
        if self.max_incident_id < 0:
            self.max_incident_id = max(self.incidents, default=0)
        return self.max_incident_id + 1

    def fork(self) -> State:
        """A state that can be changed without touching this one (rows are shared, never
        mutated). Its incidents and dedup index are overlays on this state's own dicts
        (`Overlay`): only what the fork changes is held apart, so forking costs the
        same on a night of 50,000 incidents as on an empty one (copying both dicts
        whole cost 1.6 ms per group commit there). `settled()` makes it a plain state."""
        dedup = self.dedup_index()  # built here, on the whole state: the fork only adds to it
        due = DueIndex(base=self.due_index())  # likewise: the fork's own deadlines kept apart
        incidents: Overlay[int, Incident] = Overlay(self.incidents)
        # Every other field is a plain value, carried over as it is (a field added later too).
        return dataclasses.replace(self, incidents=incidents, stages=dict(self.stages), dedup=Overlay(dedup), dedup_of=incidents, due=due, due_of=incidents)

    def settled(self) -> State:
        """This fork as a plain state, its changes written into the dicts it overlays
        (the state it was forked from must not be used after: the writer replaces it)."""
        if isinstance(self.incidents, Overlay):
            self.incidents = self.incidents.merged()
            if isinstance(self.dedup, Overlay):
                self.dedup = self.dedup.merged()
                self.dedup_of = self.incidents
            if self.due is not None and self.due.base is not None:
                self.due = self.due.merged()
                self.due_of = self.incidents
        return self

    def dedup_index(self) -> dict[tuple[str, str, str], tuple[int, ...]]:
        """The dedup index, built from the incidents on first use (or when the
        incidents dict was replaced, as a snapshot load does)."""
        if self.dedup is None or self.dedup_of is not self.incidents:
            index: dict[tuple[str, str, str], list[int]] = {}
            for incident in sorted(self.incidents.values(), key=lambda i: i.id):
                key = location_key(incident.location)
                if key:
                    index.setdefault((incident.regency, incident.category, key), []).append(incident.id)
            self.dedup = {k: tuple(v) for k, v in index.items()}
            self.dedup_of = self.incidents
        return self.dedup

    def index_reported(self, incident: Incident) -> None:
        """Keep a built dedup index in step with a newly reported incident
        (regency, category and location never change after the report)."""
        if self.dedup is None or self.dedup_of is not self.incidents:
            return  # built from scratch on first use
        key = location_key(incident.location)
        if key:
            k = (incident.regency, incident.category, key)
            self.dedup[k] = (*self.dedup.get(k, ()), incident.id)

    def due_index(self) -> DueIndex:
        """The deadline timer's index, built from the incidents on first use (or when
        the incidents dict was replaced, as a snapshot load does)."""
        if self.due is None or self.due_of is not self.incidents:
            self.due = DueIndex(self.incidents)
            self.due_of = self.incidents
        return self.due

    def index_due(self, incident: Incident) -> None:
        """Keep a built deadline index in step with an incident the fold changed."""
        if self.due is not None and self.due_of is self.incidents:
            self.due.add(incident)

    def copy(self) -> State:
        return State(
            seq=self.seq,
            incidents={k: convert(to_builtins(v), Incident) for k, v in self.incidents.items()},
            stages={k: convert(to_builtins(v), StageRow) for k, v in self.stages.items()},
        )

    def as_builtins(self) -> dict[str, Any]:
        """A plain, comparable form (used by tests to check that folds agree)."""
        return {
            "seq": self.seq,
            "incidents": {k: to_builtins(v) for k, v in sorted(self.incidents.items())},
            "stages": {f"{r}/{s}": to_builtins(v) for (r, s), v in sorted(self.stages.items())},
        }


def location_key(location: str) -> str:
    """What two reports' locations must share to be the same trouble: trimmed,
    case-folded, inner runs of spaces made one."""
    return " ".join(location.split()).casefold()


def stage_status(done: int, total: int, blocked: bool) -> str:
    if blocked:
        return "blocked"
    if done <= 0:
        return "pending"
    if done >= total:
        return "done"
    return "in_progress"


def stage_row(state: State, regency: str, stage: str, total: int, ts: str) -> StageRow:
    """The row events made for (regency, stage), or its implicit zero: a row no
    event has touched is done 0 of the configured `total`, not blocked, as of `ts`
    (the database's creation). The state holds only rows events made, so a fold
    from seq 0 needs only the events."""
    row = state.stages.get((regency, stage))
    if row is not None:
        return row
    return StageRow(regency=regency, stage=stage, status="pending", done=0, total=total, note=None, updated=ts)


def stage_rows(state: State, stage_totals: dict[tuple[str, str], int], ts: str) -> list[StageRow]:
    """Every configured row, in config order: the state's or its implicit zero."""
    return [stage_row(state, regency, stage, total, ts) for (regency, stage), total in stage_totals.items()]
