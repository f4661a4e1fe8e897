"""One round of the deadline timer on a big night, by hand: `.venv/bin/python bench/deadlines.py [--incidents N]`.

A night of N incidents (reported a few seconds apart; most acknowledged or
resolved, some snoozed, the rest open with deadlines spread over the next
hours, a few of them due now), then what `server.timers.Deadlines` asks each
round: `due_wakeups` and `due_escalations` on the state. Measured two ways in
the same run:

- **walk**: every incident looked at (what a round did before the index), the floor;
- **index**: through the state's DueIndex (opsmon/core/state.py), kept by the fold.

Prints one table: microseconds per round and how many were due.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from opsmon.core.clock import format_ts, parse_ts  # noqa: E402
from opsmon.core.config import load_config  # noqa: E402
from opsmon.core.domain import decide, due_escalations, due_wakeups  # noqa: E402
from opsmon.core.fold import apply  # noqa: E402
from opsmon.core.protocol import Ack, Event, IncidentDraft, Report, Resolve, Snooze  # noqa: E402
from opsmon.core.records import Actor  # noqa: E402
from opsmon.core.state import Rules, State  # noqa: E402

OFFICER = Actor(name="bench", agency="KPU")
SEVERITIES = ("low", "medium", "high", "critical")


def night(rules: Rules, count: int, start: datetime) -> tuple[State, datetime]:
    """N incidents: 6 in 10 resolved, 2 acknowledged, 1 snoozed, 1 left open."""
    state = State()
    regencies = sorted(rules.regencies)
    now = start

    def do(command: object) -> None:
        decision = decide(state, command, OFFICER, None, now, rules)  # type: ignore[arg-type]
        apply(state, Event.of(state.seq + 1, format_ts(now), OFFICER, decision.payload))

    for n in range(count):
        draft = IncidentDraft(
            regency=regencies[n % len(regencies)], category="logistik", severity=SEVERITIES[n % 4], title=f"laporan {n}", location=f"TPS {n:05d}"
        )
        do(Report(id=str(n), incident=draft))
        incident = state.max_incident_id
        fate = n % 10
        if fate < 6:
            do(Resolve(id=f"s{n}", incident=incident, note="selesai"))
        elif fate < 8:
            do(Ack(id=f"a{n}", incident=incident))
        elif fate == 8:
            do(Snooze(id=f"z{n}", incident=incident, minutes=240, note="nanti"))
        now += timedelta(seconds=0.5)
    return state, now


def walk(state: State, now: datetime) -> int:
    """A round as it was: every incident looked at."""
    due = 0
    for incident in state.incidents.values():
        if incident.snoozed_until is not None:
            due += incident.status != "resolved" and parse_ts(incident.snoozed_until) <= now
        elif incident.status == "open" and incident.escalate_due is not None:
            due += parse_ts(incident.escalate_due) <= now
    return due


def indexed(state: State, now: datetime, rules: Rules) -> int:
    return len(due_wakeups(state, now, rules)) + len(due_escalations(state, now, rules))


def timed(round_: object, rounds: int) -> tuple[float, int]:
    due = round_()  # type: ignore[operator]
    started = time.perf_counter()
    for _ in range(rounds):
        round_()  # type: ignore[operator]
    return (time.perf_counter() - started) / rounds * 1e6, due


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--smoke", action="store_true", help="the whole path at a load small enough for a few seconds (CI; its timings mean nothing)")
    args = parser.parse_args()
    if args.smoke:
        args.incidents, args.rounds = 2_000, 5
    rules = Rules.from_config(load_config(ROOT / "config.toml"))
    started = time.perf_counter()
    state, end = night(rules, args.incidents, datetime(2024, 2, 14, 10, 0, tzinfo=UTC))
    built = time.perf_counter() - started
    # The moment the first open incidents' deadlines are just past: a few due, most later.
    first_open = min(parse_ts(i.escalate_due) for i in state.incidents.values() if i.escalate_due is not None and i.status == "open")
    now = first_open + timedelta(seconds=30)
    state.due_index()  # built once, as the server's first round does; the fold keeps it after
    walk_us, walk_due = timed(lambda: walk(state, now), args.rounds)
    index_us, index_due = timed(lambda: indexed(state, now, rules), args.rounds)
    if walk_due != index_due:
        raise SystemExit(f"bench/deadlines.py: the index found {index_due} due, the walk {walk_due}")
    print(
        f"# bench/deadlines.py: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {args.incidents:,} incidents "
        f"(night made in {built:.1f} s, last report {format_ts(end)}), {args.rounds} rounds; load average {_load()}"
    )
    print()
    print("| a deadline round | µs/round | x walk | due |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| walk over every incident (before) | {walk_us:,.0f} | 1.00 | {walk_due} |")
    print(f"| through the due index (after) | {index_us:,.0f} | {index_us / walk_us:.3f} | {index_due} |")


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()
