"""The fixed night as a situation report sees it: an owner, a folded repeat report, an escalation, a snooze."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from opsmon.core.clock import format_ts
from opsmon.core.domain import decide, due_escalations
from opsmon.core.fold import apply
from opsmon.core.protocol import Assign, Event, IncidentDraft, Owner, Report, Snooze
from opsmon.core.records import Actor
from opsmon.core.state import Rules, State
from opsmon.reports.sitrep import build
from opsmon.training.sample_night import BUDI, NOW, RAHMAT, START, fixed_night
from tests.helpers import province

SYSTEM = Actor(name="system")


def sitrep_night() -> tuple[Any, State, list[Event]]:
    """The fixed night, plus what a sitrep reports beyond it: an owner, a repeat report
    folded into an incident, an escalation by the server and a snooze."""
    config = province()
    welcome, state, events = fixed_night(config)
    rules = Rules.from_config(config)

    def run(command: object, actor: Actor, at: datetime) -> None:
        decision = decide(state, command, actor, None, at, rules)  # type: ignore[arg-type]
        events.append(Event.of(len(events) + 1, format_ts(at), actor, decision.payload))
        apply(state, events[-1])

    at = START + timedelta(minutes=40)
    run(Assign(id="as3", incident=3, to=Owner(name="Budi", agency="Polri")), BUDI, at)
    draft = IncidentDraft(regency="6302", category="bencana", severity="critical", title="Banjir, jalan desa terputus", location="Kec. Pulau Laut Sigam")
    run(Report(id="dup6", incident=draft), RAHMAT, at + timedelta(minutes=5))
    for decision in due_escalations(state, START + timedelta(minutes=49), rules):
        events.append(Event.of(len(events) + 1, format_ts(START + timedelta(minutes=49)), SYSTEM, decision.payload))
        apply(state, events[-1])
    # Kotabaru's #6, escalated, is snoozed for half an hour: the report says TUNDA and until when.
    run(Snooze(id="sz6", incident=6, minutes=30, note="Menunggu perahu"), RAHMAT, START + timedelta(minutes=49))
    return welcome, state, events


def night_doc() -> dict[str, Any]:
    welcome, state, events = sitrep_night()
    return build(
        welcome.config,
        state,
        events,
        now=NOW,
        since=START - timedelta(minutes=10),
        number=3,
        by="Bawaslu/Rahmat",
        post="Posko Gabungan Pemilu 2024",
        signatory=SIGNATORY,
    )


# Who signs the post's reports in the fixed nights (a config's [sitrep] place and signatory keys).
SIGNATORY = {"place": "Banjarmasin", "name": "Drs. H. Ahmad Fauzi, M.Si.", "rank": "Kombes Pol (Purn.)", "position": "Kepala Posko Gabungan"}
