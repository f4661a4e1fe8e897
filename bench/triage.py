"""Benchmark duplicate folding, by hand: `.venv/bin/python bench/triage.py [--incidents N]`.

A night's state of N incidents (reported a few seconds apart, most still
open), then `decide()` for a new report, the pure step the server takes for
every report:

- the floor: `[triage] dedup_minutes = 0` (no search for a repeat), measured in this run;
- a report that is not a repeat (before the dedup index, the whole 30-minute
  window was searched; now only the incidents at its regency, category and location);
- a report that is a repeat of the newest matching incident.

Prints one table: microseconds per report and the ratio to the floor.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from opsmon.core.clock import format_ts  # noqa: E402
from opsmon.core.config import load_config  # noqa: E402
from opsmon.core.domain import decide  # noqa: E402
from opsmon.core.fold import apply  # noqa: E402
from opsmon.core.protocol import Event, IncidentDraft, Report  # noqa: E402
from opsmon.core.records import Actor  # noqa: E402
from opsmon.core.state import Rules, State  # noqa: E402

REPORTER = Actor(name="bench", agency="KPU")


def night(rules: Rules, count: int, start: datetime, spacing: float = 3.0) -> tuple[State, datetime]:
    state = State()
    regencies = sorted(rules.regencies)
    now = start
    for n in range(count):
        draft = IncidentDraft(regency=regencies[n % len(regencies)], category="logistik", severity="medium", title=f"laporan {n}", location=f"TPS {n:05d}")
        decision = decide(state, Report(id=str(n), incident=draft), REPORTER, None, now, rules)
        apply(state, Event.of(state.seq + 1, format_ts(now), REPORTER, decision.payload))
        now += timedelta(seconds=spacing)
    return state, now


def per_report(state: State, rules: Rules, draft: IncidentDraft, now: datetime, rounds: int) -> tuple[float, str]:
    command = Report(id="x", incident=draft)
    kind = decide(state, command, REPORTER, None, now, rules).kind
    started = time.perf_counter()
    for _ in range(rounds):
        decide(state, command, REPORTER, None, now, rules)
    return (time.perf_counter() - started) / rounds * 1e6, kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2_000)
    parser.add_argument("--spacing", type=float, default=3.0, help="seconds between the night's reports (0.03: all 20,000 in one dedup window)")
    parser.add_argument("--smoke", action="store_true", help="the whole path at a load small enough for a few seconds (CI; its timings mean nothing)")
    args = parser.parse_args()
    if args.smoke:
        args.incidents, args.rounds = 2_000, 50
    rules = Rules.from_config(load_config(ROOT / "config.toml"))
    state, now = night(rules, args.incidents, datetime(2024, 2, 14, 10, 0, tzinfo=UTC), args.spacing)
    regency = sorted(rules.regencies)[(args.incidents - 1) % len(rules.regencies)]
    newest = f"TPS {args.incidents - 1:05d}"
    fresh = IncidentDraft(regency=regency, category="logistik", severity="medium", title="baru", location="TPS 99999")
    repeat = IncidentDraft(regency=regency, category="logistik", severity="medium", title="ulang", location=" tps " + newest.split()[1])
    floor, _ = per_report(state, dataclasses.replace(rules, dedup_minutes=0), fresh, now, args.rounds)
    window = min(args.incidents, int(rules.dedup_minutes * 60 / args.spacing))
    rows = [("floor: no dedup search", floor, "incident.reported")]
    for name, draft in ((f"not a repeat ({window} incidents in the window)", fresh), ("a repeat of the newest", repeat)):
        micros, kind = per_report(state, rules, draft, now, args.rounds)
        rows.append((name, micros, kind))
    print(f"decide(report) with {args.incidents} incidents in the state, dedup_minutes {rules.dedup_minutes}, {args.rounds} rounds")
    print("| case | µs/report | x floor | decision |")
    print("| --- | ---: | ---: | --- |")
    for name, micros, kind in rows:
        print(f"| {name} | {micros:.1f} | {micros / floor:.2f} | {kind} |")


if __name__ == "__main__":
    main()
