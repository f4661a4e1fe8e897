"""The fixed night as a situation report sees it: an owner, a folded repeat report, an escalation, a snooze."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from opsmon.core.clock import format_ts, parse_ts
from opsmon.core.domain import DomainError, decide, due_escalations
from opsmon.core.fold import apply, concerns
from opsmon.core.protocol import Assign, Event, IncidentDraft, Owner, Report, Snooze, Welcome
from opsmon.core.records import Actor, User
from opsmon.core.state import Rules, State, stage_rows
from opsmon.reports.sitrep import build
from opsmon.training.night import SimCommand, generate
from opsmon.training.sample_night import BUDI, NOW, RAHMAT, START, fixed_night
from opsmon.training.scenario import load_scenario
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


# --- a fixed three-week recapitulation (14 Feb - 8 Mar 2024) ---------------------------------

RECAP_SEED = 1
POLRI_BACK = datetime(2024, 2, 15, 0, 0, tzinfo=UTC)  # 08:00 WITA: the Polri desk's morning shift


def recap_night() -> tuple[Any, State, list[Event], datetime]:
    """The shipped `rekap` scenario (seed 1) played without a server: every command
    decided and folded at its scenario time, the server's escalations at the moment each
    falls due. Incidents nobody at a simulated desk handles are acknowledged by the people
    at the screens 20 minutes after the report, except that the Polri desk is unmanned on
    counting night: its incidents wait until 08:00 WITA and re-escalate all night.
    Returns the welcome, the state, the events and the scenario's end."""
    config = province()
    scenario = load_scenario("rekap", config.province.tz)
    night = generate(config, scenario, RECAP_SEED)
    rules = Rules.from_config(config)
    state = State()
    state.stages = {(r.regency, r.stage): r for r in stage_rows(state, rules.stage_totals, format_ts(scenario.at(0)))}
    events: list[Event] = []
    back = (POLRI_BACK - scenario.at(0)).total_seconds()

    def desk_time(c: SimCommand, at: float) -> float:
        return back if c.agency == "Polri" and c.kind != "report" and c.kind != "stage" and at < back else at

    acked = {c.ref for c in night if c.kind == "ack"}
    commands = [replace(c, at=desk_time(c, c.at)) for c in night]
    commands += [replace(c, kind="ack", fields=(), at=desk_time(c, c.at + 20 * 60)) for c in night if c.kind == "report" and c.ref not in acked]
    commands.sort(key=lambda c: c.at)
    ids: dict[str, int] = {}

    def commit(payload: Any, actor: Actor, at: datetime) -> None:
        events.append(Event.of(len(events) + 1, format_ts(at), actor, payload))
        apply(state, events[-1])

    def escalate_until(moment: datetime) -> None:
        while True:
            due = [
                parse_ts(i.escalate_due)
                for i in state.incidents.values()
                if i.status == "open" and i.escalate_due is not None and i.snoozed_until is None and i.merged_into is None
            ]
            if not due or min(due) > moment:
                return
            at = min(due)
            for decision in due_escalations(state, at, rules):
                commit(decision.payload, SYSTEM, at)

    for n, c in enumerate(commands):
        at = scenario.at(c.at)
        escalate_until(at)
        if c.kind not in ("report", "stage") and c.ref not in ids:
            continue
        desk = Actor(name="Piket", agency=c.agency)
        try:
            decision = decide(state, c.to_command(f"c{n}", ids.get(c.ref or "")), desk, None, at, rules)  # type: ignore[arg-type]
        except DomainError:
            continue  # acknowledged twice, resolved already: the server would refuse it too
        commit(decision.payload, desk, at)
        if c.kind == "report" and c.ref:
            ids[c.ref] = concerns(events[-1]) or 0
    end = scenario.at(scenario.duration)
    escalate_until(end)
    user = User(name="Rahmat", role="officer", agency="Bawaslu", regencies=None)
    welcome = Welcome(protocol=1, epoch="recap", seq=state.seq, user=user, config=config.info())
    return welcome, state, events, end


def recap_doc() -> dict[str, Any]:
    """The report saved at the end of the recapitulation, covering all of it."""
    welcome, state, events, end = recap_night()
    return build(welcome.config, state, events, now=end, since=None, number=1, by="opsmon-server", post="Posko Gabungan Pemilu", signatory=SIGNATORY)
