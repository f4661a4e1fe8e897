"""The config against the database, at start (issue 14 item 5).

An edited config can change what the record says without a word: a regency
code mistyped drops that regency's progress from every screen, a lowered TPS
total marks a stage done, an estimate turned official changes totals. Each
difference is one log line; a regency dropped while it has history stops the
server unless the operator says `--accept-config-change`, and then the log
records who changed what (a `config.changed` event).
"""

from __future__ import annotations

import json
import logging
import socket
from dataclasses import dataclass, field
from typing import Any

from opsmon.core.config import Config
from opsmon.core.events import ConfigChanged
from opsmon.core.state import State
from server.lock import user_name
from server.store.api import EventStore

log = logging.getLogger("opsmon.server")

SEEN_KEY = "config_seen"


class ConfigDrift(RuntimeError):
    """The config drops a regency that has history; str() says which and what to do."""


@dataclass
class Drift:
    lines: list[str] = field(default_factory=list)
    dropped_regencies: list[str] = field(default_factory=list)
    dropped_stages: list[str] = field(default_factory=list)
    # Dropped regencies an operator accepted at an earlier start: not asked again.
    accepted: list[str] = field(default_factory=list)

    @property
    def new_drops(self) -> list[str]:
        return [code for code in self.dropped_regencies if code not in self.accepted]

    def event_data(self) -> ConfigChanged:
        return ConfigChanged(
            by=f"{user_name()}@{socket.gethostname()}",
            accepted="--accept-config-change",
            dropped_regencies=self.dropped_regencies,
            dropped_stages=self.dropped_stages,
            changes=self.lines,
        )


def _seen(config: Config, drift: Drift) -> dict[str, Any]:
    return {
        "regencies": {r.code: {"name": r.name, "tps": r.tps, "tps_estimated": r.tps_estimated} for r in config.regencies},
        "stages": [s.key for s in config.stages],
        "accepted_dropped": sorted(set(drift.dropped_regencies)),
    }


async def compare(store: EventStore, config: Config, state: State, stage_totals: dict[tuple[str, str], int]) -> Drift:
    """Every difference between this config and what the database holds, as log lines."""
    drift = Drift()
    raw = await store.get_meta(SEEN_KEY)
    try:
        seen: dict[str, Any] = json.loads(raw) if raw else {}
    except ValueError:
        seen = {}
    known_regencies = {r.code for r in config.regencies} | {config.province.code}
    known_stages = {s.key for s in config.stages}
    history = await store.history_by_regency()
    names = {code: info.get("name", "") for code, info in seen.get("regencies", {}).items()}
    drift.accepted = list(seen.get("accepted_dropped", []))
    for code, count in sorted(history.items()):
        if code not in known_regencies:
            name = f" ({names[code]})" if names.get(code) else ""
            drift.dropped_regencies.append(code)
            drift.lines.append(
                f"config: regency {code}{name} has {count} event(s) in the database but is no longer in the config: its history is no longer shown"
            )
    for key in sorted(await store.stages_with_history()):
        if key not in known_stages:
            drift.dropped_stages.append(key)
            drift.lines.append(f"config: stage {key!r} has history in the database but is no longer in the config: its rows are no longer shown")
    for (regency, stage), total in stage_totals.items():
        row = state.stages.get((regency, stage))
        if row is not None and row.done > total:
            drift.lines.append(
                f"config: regency {regency} stage {stage!r}: total {total} is below the recorded progress {row.done}; progress is capped at {total}"
            )
    for configured in config.regencies:
        before = seen.get("regencies", {}).get(configured.code)
        if before is not None and bool(before.get("tps_estimated")) != configured.tps_estimated:
            was, now = str(bool(before.get("tps_estimated"))).lower(), str(configured.tps_estimated).lower()
            drift.lines.append(
                f"config: regency {configured.code} ({configured.name}): tps_estimated was {was}, now {now} (tps {before.get('tps')} -> {configured.tps})"
            )
    return drift


def refuse(drift: Drift) -> None:
    """Stop unless accepted: a dropped regency with history is most often a typo."""
    if drift.new_drops:
        codes = ", ".join(drift.new_drops)
        raise ConfigDrift(
            f"the config no longer has regency {codes}, which has history in the database (a mistyped code?): fix the config, or start with --accept-config-change to serve without it"
        )


async def remember(store: EventStore, config: Config, drift: Drift) -> None:
    """What this config said (and which drops were accepted), for the next start to compare with."""
    await store.set_meta(SEEN_KEY, json.dumps(_seen(config, drift), sort_keys=True))
