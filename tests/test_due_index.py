"""The deadline timer's index (opsmon.core.state.DueIndex): over random nights, what
due_wakeups and due_escalations find through it is exactly what a walk over every
incident finds, on the state, on a fork of it, after a fork is settled or thrown
away, and after the incidents are replaced whole (a snapshot load)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsmon.core.clock import format_ts, parse_ts
from opsmon.core.domain import DomainError, decide, due_escalations, due_wakeups
from opsmon.core.fold import apply
from opsmon.core.protocol import Ack, Escalate, Event, IncidentDraft, Merge, Reopen, Report, Resolve, SeverityChange, Snooze, Unack
from opsmon.core.records import SYSTEM
from opsmon.core.state import State
from tests.world import RULES, SITI, T0

incident = st.integers(min_value=1, max_value=8)
severities = st.sampled_from(("critical", "high", "medium", "low"))
operations = st.one_of(
    st.tuples(st.just("report"), severities, st.sampled_from(("TPS 1", "TPS 2", "TPS 3", ""))),
    st.tuples(st.just("ack"), incident),
    st.tuples(st.just("snooze"), incident, st.sampled_from((0, 5, 30, 90))),
    st.tuples(st.just("resolve"), incident),
    st.tuples(st.just("reopen"), incident),
    st.tuples(st.just("merge"), incident, incident),
    st.tuples(st.just("severity"), incident, severities),
    st.tuples(st.just("unack"), incident),
    st.tuples(st.just("escalate"), incident),
    st.tuples(st.just("advance"), st.integers(min_value=0, max_value=120)),
    st.tuples(st.just("timer"), st.booleans()),  # the round, on a fork (True) settled or on the state
    st.tuples(st.just("fork"), st.booleans()),  # a fork that acts, then is settled (True) or thrown away
    st.tuples(
        st.just("reload"),
    ),  # the incidents replaced whole, as a snapshot load does
)


def command(op: tuple[Any, ...]) -> Any:
    kind, *rest = op
    if kind == "report":
        severity, location = rest
        return Report(id="r", incident=IncidentDraft(regency="6371", category="logistik", severity=severity, title="Kotak suara rusak", location=location))
    made = {
        "ack": lambda n: Ack(id="c", incident=n),
        "snooze": lambda n, minutes: Snooze(id="c", incident=n, minutes=minutes, note="nanti"),
        "resolve": lambda n: Resolve(id="c", incident=n, note="selesai"),
        "reopen": lambda n: Reopen(id="c", incident=n, note="lagi"),
        "merge": lambda n, into: Merge(id="c", incident=n, into=into),
        "severity": lambda n, severity: SeverityChange(id="c", incident=n, severity=severity, note="ubah"),
        "unack": lambda n: Unack(id="c", incident=n, note="belum"),
        "escalate": lambda n: Escalate(id="c", incident=n),
    }
    return made[kind](*rest)


def walked(state: State, now: datetime) -> tuple[list[int], list[int]]:
    """The incidents due, by a walk over every one (what the timer did before the index)."""
    everyone = sorted(state.incidents.values(), key=lambda i: i.id)
    wakeups = [i.id for i in everyone if i.snoozed_until is not None and i.status != "resolved" and parse_ts(i.snoozed_until) <= now]
    escalations = [i.id for i in everyone if i.status == "open" and i.escalate_due is not None and i.snoozed_until is None and parse_ts(i.escalate_due) <= now]
    return wakeups, escalations


def indexed(state: State, now: datetime) -> tuple[list[int], list[int]]:
    return [d.incident or 0 for d in due_wakeups(state, now, RULES)], [d.incident or 0 for d in due_escalations(state, now, RULES)]


def act(state: State, op: tuple[Any, ...], now: datetime) -> None:
    try:
        decision = decide(state, command(op), SITI, None, now, RULES)
    except DomainError:
        return
    apply(state, Event.of(state.seq + 1, format_ts(now), SITI, decision.payload))


def timer_round(state: State, now: datetime) -> int:
    """One round of server.timers.Deadlines: decided on one state, then folded in order."""
    assert indexed(state, now) == walked(state, now)
    decisions = [*due_wakeups(state, now, RULES), *due_escalations(state, now, RULES)]
    for decision in decisions:
        apply(state, Event.of(state.seq + 1, format_ts(now), SYSTEM, decision.payload))
    assert indexed(state, now) == walked(state, now)
    return len(decisions)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(operations, min_size=5, max_size=60))
def test_the_index_finds_what_a_walk_over_every_incident_finds(ops: list[tuple[Any, ...]]) -> None:
    state, now = State(), T0
    state.due_index()  # built on the empty state: kept in step by the fold from the first report
    for op in ops:
        kind = op[0]
        if kind == "advance":
            now += timedelta(minutes=op[1])
        elif kind == "timer":
            if op[1]:  # as the writer does: decided and folded on a fork, then settled
                trial = state.fork()
                timer_round(trial, now)
                state = trial.settled()
            else:
                timer_round(state, now)
        elif kind == "fork":
            trial = state.fork()
            for n in range(1, 5):
                act(trial, ("snooze", n, 5), now)
                act(trial, ("reopen", n + 4), now)
                act(trial, ("unack", n), now)
            assert indexed(trial, now + timedelta(minutes=10)) == walked(trial, now + timedelta(minutes=10))
            if op[1]:
                state = trial.settled()
            # Thrown away: the state's own index is untouched by what the fork did.
        elif kind == "reload":
            state.incidents = dict(state.incidents)
        else:
            act(state, op, now)
        later = now + timedelta(hours=3)
        assert indexed(state, now) == walked(state, now)
        assert indexed(state, later) == walked(state, later)


def test_stale_entries_are_dropped_and_the_heap_stays_bounded() -> None:
    """Stale entries (every deadline an escalation moved on) are dropped as they come
    up, and the heap stays bounded by the incidents, not by the events folded."""
    state, now = State(), T0
    for n in range(300):
        act(state, ("report", "critical", f"TPS {n}"), now)
        now += timedelta(seconds=1)
    rounds = 0
    for _ in range(60):  # critical: due after 5 minutes, again every 5
        now += timedelta(minutes=5)
        rounds += timer_round(state, now)
    assert rounds >= 300 * 3
    index = state.due_index()
    assert len(index.heap) <= 2 * len(state.incidents) + 1024
    assert all(at > now for at, _ in index.heap)  # nothing left behind that a round would walk again
