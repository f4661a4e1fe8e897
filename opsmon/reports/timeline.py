"""The night as series: incidents per hour by severity, TPS counted over time.

Pure: worked out from the state and the events a client already holds (a
client that came in by snapshot knows each stage row's last update; every
event it has seen since adds a point), for the charts on the wall and in a
regency's detail.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from opsmon.core.clock import parse_ts
from opsmon.core.events import StageUpdated
from opsmon.core.protocol import Event
from opsmon.core.records import SEVERITIES as SEVERITIES  # re-exported: the charts draw one series each
from opsmon.core.records import ConfigInfo
from opsmon.core.state import State


@dataclass(frozen=True)
class Night:
    hours: list[datetime]  # the start of each hour shown (UTC), oldest first
    incidents: dict[str, list[int]]  # severity -> incidents reported in each hour
    tps: list[int]  # TPS counted at the end of each hour
    tps_total: int


def counting_stage(config: ConfigInfo) -> str | None:
    """The stage whose `done` is TPS counted: the config's `counts = true` (ConfigInfo.counting_stage)."""
    found = config.counting_stage()
    return found.key if found else None


def night(state: State, events: Iterable[Event], config: ConfigInfo, now: datetime, *, hours: int = 12, least: int = 6, regency: str | None = None) -> Night:
    """The hours up to now, for the province or one regency: from the night's first
    incident (at least `least` hours, at most `hours`), so the chart is not mostly empty."""
    top = now.replace(minute=0, second=0, microsecond=0)
    earliest = min((parse_ts(i.reported) for i in state.incidents.values()), default=now)
    hours = max(least, min(hours, int((top - earliest.replace(minute=0, second=0, microsecond=0)).total_seconds() // 3600) + 1))
    starts = [top - timedelta(hours=n) for n in range(hours - 1, -1, -1)]
    first = starts[0]
    incidents = {s: [0] * hours for s in SEVERITIES}
    for incident in state.incidents.values():
        if incident.merged_into is not None or (regency is not None and incident.regency != regency):
            continue
        slot = int((parse_ts(incident.reported) - first).total_seconds() // 3600)
        if 0 <= slot < hours and incident.severity in incidents:
            incidents[incident.severity][slot] += 1
    stage = counting_stage(config)
    codes = [r.code for r in config.regencies if regency is None or r.code == regency]
    points: dict[str, list[tuple[datetime, int]]] = {code: [] for code in codes}
    total = 0
    for code in codes:
        row = state.stages.get((code, stage or ""))
        if row is not None:
            total += row.total
            points[code].append((parse_ts(row.updated), row.done))
    for event in events:
        update = event.data
        if isinstance(update, StageUpdated) and update.stage == stage and update.regency in points:
            points[update.regency].append((parse_ts(event.ts), update.done))
    tps = []
    for start in starts:
        end = start + timedelta(hours=1)
        counted = 0
        for series in points.values():
            # The last value known by the end of the hour (0 before anything is known).
            latest = max(((at, done) for at, done in series if at < end), default=None, key=lambda p: p[0])
            if latest is not None:
                counted += latest[1]
        tps.append(counted)
    return Night(hours=starts, incidents=incidents, tps=tps, tps_total=total)
