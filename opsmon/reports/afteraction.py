"""`opsmon exercise report`: the after-action report of a training exercise.

Read from the exercise's database by `server.embed.read_exercise_log` (the event log of the current session and
the refused attempts the server kept), per trainee and for the post:
incidents handled, time from report to acknowledgement and to resolution
(median and worst, in scenario minutes), deadlines missed, escalations
caused, refusals (tried to acknowledge what someone else already had),
notes written; and per incident its timeline.

`build()` is pure (events, attempts, tokens in; a plain dict out), so the
numbers are tested without a database; markdown, JSON and PDF are three
renderings of the same dict.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from opsmon.core.clock import parse_ts
from opsmon.core.fold import apply, concerns
from opsmon.core.i18n import CATALOG, Translator
from opsmon.core.protocol import Event
from opsmon.core.records import Actor, Attempt
from opsmon.core.state import State
from opsmon.core.text import for_terminal
from opsmon.core.urgency import event_text
from opsmon.reports.markdown import md_literal
from opsmon.reports.words import number, report_time

FORMATS = ("md", "json", "pdf")
# What only the field does: a token that did nothing else is a reporter (the simulator), not a trainee.
FIELD_EVENTS = ("incident.reported", "incident.duplicate", "stage.updated")
VERBS = {
    "incident.reported": "reported",
    "incident.duplicate": "reported again",
    "incident.acknowledged": "acknowledged",
    "incident.escalated": "escalated",
    "incident.noted": "note",
    "incident.resolved": "resolved",
    "incident.reopened": "reopened",
    "incident.snoozed": "snoozed",
    "incident.unsnoozed": "woke",
    "incident.assigned": "assigned",
    "incident.severity_changed": "severity changed",
    "incident.unacknowledged": "un-acknowledged",
    "incident.merged": "merged",
}


@dataclass
class _Person:
    name: str
    agency: str | None
    ack_minutes: list[float] = field(default_factory=list)
    resolve_minutes: list[float] = field(default_factory=list)
    acknowledged: int = 0
    resolved: int = 0
    late_acks: int = 0
    escalations: int = 0
    notes: int = 0
    reports: int = 0
    other: int = 0
    handled: set[int] = field(default_factory=set)
    refusals: dict[str, int] = field(default_factory=dict)
    took_others: int = 0  # refused acks of an incident someone else had acknowledged


def _minutes(start: str, end: str) -> float:
    return (parse_ts(end) - parse_ts(start)).total_seconds() / 60


def _spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "worst": None, "count": 0}
    return {"median": round(statistics.median(values), 1), "worst": round(max(values), 1), "count": len(values)}


def _who(actor: Actor) -> str:
    return f"{actor.agency}/{actor.name}" if actor.agency else actor.name


def build(
    events: list[Event],
    attempts: list[Attempt],
    *,
    exercise: dict[str, Any] | None,
    epoch: str,
    now: datetime | None = None,
    tokens: list[tuple[str, str]] | None = None,
    seen: set[str] | None = None,
) -> dict[str, Any]:
    """The report as plain data. `now`: the scenario time the report is made at (open incidents past their deadline count as missed).

    Expected trainees: the exercise's roster (`exercise["roster"]`, from `serve --roster`), else `tokens`
    (name, agency: the exercise's officer tokens). `seen`: the names that connected in this session, when
    the log knows (an expected trainee who did nothing is then told apart as never connected)."""
    state = State()
    people: dict[str, _Person] = {}
    timelines: dict[int, list[dict[str, Any]]] = {}
    first_ack: dict[int, str] = {}
    late: set[int] = set()
    system_escalations = 0
    by_system: dict[int, dict[str, Any]] = {}  # one line per incident for the server's own escalations

    def person(actor: Actor) -> _Person:
        return people.setdefault(actor.name, _Person(actor.name, actor.agency))

    for event in events:
        incident_id = concerns(event)
        before = state.incidents.get(incident_id) if incident_id is not None else None
        apply(state, event)
        if incident_id is None:
            continue  # stage progress is the field's; token events are the admin's
        incident = state.incidents.get(incident_id)
        if event.actor.name == "system" and event.kind == "incident.escalated":
            system_escalations += 1
            late.add(incident_id)
            level = getattr(event.data, "level", None)
            line = by_system.get(incident_id)
            if line is None:
                line = by_system[incident_id] = {"ts": event.ts, "what": "escalated", "kind": event.kind, "by": "system", "count": 0, "last": event.ts}
                timelines.setdefault(incident_id, []).append(line)
            line["count"] += 1
            line["last"] = event.ts
            if isinstance(level, int):
                line["level"] = max(level, line.get("level", 0))
            continue
        entry: dict[str, Any] = {"ts": event.ts, "what": VERBS.get(event.kind, event.kind), "kind": event.kind, "by": _who(event.actor)}
        text = event_text(event)
        if text:
            entry["text"] = text
        timelines.setdefault(incident_id, []).append(entry)
        if event.actor.name == "system":
            continue
        who = person(event.actor)
        if event.kind in FIELD_EVENTS:
            who.reports += 1
            continue
        who.handled.add(incident_id)
        if event.kind == "incident.acknowledged" and incident is not None:
            who.acknowledged += 1
            if incident_id not in first_ack:
                first_ack[incident_id] = event.ts
                who.ack_minutes.append(_minutes(incident.reported, event.ts))
            if before is not None and parse_ts(event.ts) > parse_ts(before.ack_due):
                who.late_acks += 1
                late.add(incident_id)
                entry["late"] = True
        elif event.kind == "incident.resolved" and incident is not None:
            who.resolved += 1
            who.resolve_minutes.append(_minutes(incident.reported, event.ts))
        elif event.kind == "incident.escalated":
            who.escalations += 1
        elif event.kind == "incident.noted":
            who.notes += 1
        else:
            who.other += 1

    for attempt in attempts:
        who = people.setdefault(attempt.user, _Person(attempt.user, attempt.agency))
        who.refusals[attempt.code] = who.refusals.get(attempt.code, 0) + 1
        if attempt.command == "ack" and attempt.code == "conflict":
            who.took_others += 1
        if attempt.incident is not None:
            timelines.setdefault(attempt.incident, []).append(
                {
                    "ts": attempt.ts,
                    "what": f"REFUSED {attempt.command} ({attempt.reason or attempt.code})",
                    "kind": "refused",
                    "command": attempt.command,
                    "reason": attempt.reason or attempt.code,
                    "by": f"{attempt.agency}/{attempt.user}" if attempt.agency else attempt.user,
                    "text": attempt.message,
                }
            )

    roster = (exercise or {}).get("roster")
    if isinstance(roster, list) and roster:
        source = "roster"
        # A roster's "peserta 01" is the token "Peserta 01": names are matched as the tokens spell them.
        spelled = {name.casefold(): name for name in people}
        expected = {spelled.get(str(r["name"]).casefold(), str(r["name"])): str(r["desk"]) for r in roster}
    elif tokens:
        source = "tokens"
        expected = dict(tokens)
    else:
        source, expected = "none", {}

    moment = now or max((parse_ts(e.ts) for e in events), default=None)
    never = [i for i in state.incidents.values() if i.status == "open" and i.acknowledged is None and moment is not None and parse_ts(i.ack_due) < moment]
    late.update(i.id for i in never)
    incidents = sorted(state.incidents.values(), key=lambda i: i.id)
    all_acks = [_minutes(i.reported, first_ack[i.id]) for i in incidents if i.id in first_ack]
    all_resolves = [_minutes(i.reported, i.resolved) for i in incidents if i.resolved is not None and i.merged_into is None]
    trainees: list[dict[str, Any]] = []
    reporters: list[dict[str, Any]] = []
    for name, desk in expected.items():
        if name not in people:
            people[name] = _Person(name, desk)
    for who in sorted(people.values(), key=lambda p: p.name):
        field_only = not who.handled and not who.refusals and who.reports > 0
        acted = bool(who.handled or who.refusals)
        if acted:
            status = "active" if source != "roster" or who.name in expected else "not_on_roster"
        elif seen is not None and who.name not in seen:
            status = "never_connected"
        else:
            status = "handled_nothing"
        row = {
            "name": who.name,
            "agency": who.agency,
            "desk": expected.get(who.name) or who.agency or "-",
            "expected": who.name in expected,
            "status": status,
            "incidents_handled": len(who.handled),
            "acknowledged": who.acknowledged,
            "time_to_ack_minutes": _spread(who.ack_minutes),
            "resolved": who.resolved,
            "time_to_resolve_minutes": _spread(who.resolve_minutes),
            "deadlines_missed": who.late_acks,
            "escalations": who.escalations,
            "refusals": dict(sorted(who.refusals.items())),
            "tried_to_ack_what_another_had": who.took_others,
            "notes": who.notes,
            "reports": who.reports,
        }
        (reporters if field_only else trainees).append(row)
    trainees.sort(key=lambda t: (str(t["desk"]).casefold(), str(t["name"]).casefold()))  # by desk, as the post sits
    field_names = {r["name"] for r in reporters}
    desks: list[dict[str, Any]] = []
    for desk in sorted({t["desk"] for t in trainees}):
        rows = [t for t in trainees if t["desk"] == desk]
        members = [people[t["name"]] for t in rows]
        desks.append(
            {
                "desk": desk,
                "expected": sum(1 for t in rows if t["expected"]),  # a field token is never a trainee row
                "active": sum(1 for t in rows if t["status"] in ("active", "not_on_roster")),
                "incidents_handled": len(set().union(*(p.handled for p in members))),
                "acknowledged": sum(p.acknowledged for p in members),
                "time_to_ack_minutes": _spread([m for p in members for m in p.ack_minutes]),
                "resolved": sum(p.resolved for p in members),
                "deadlines_missed": sum(p.late_acks for p in members),
                "refusals": sum(sum(p.refusals.values()) for p in members),
                "notes": sum(p.notes for p in members),
            }
        )
    # The trainer's injects: what, when, as which desk, who of the trainees handled it and how fast.
    injects = []
    for incident in incidents:
        if not incident.inject:
            continue
        hands = sorted(
            {str(step["by"]) for step in timelines.get(incident.id, []) if step["kind"] not in (*FIELD_EVENTS, "refused") and step["by"] != "system"}
        )
        injects.append(
            {
                "id": incident.id,
                "reported": incident.reported,
                "desk": incident.reporter.agency,
                "reporter": incident.reporter.name,
                "regency": incident.regency,
                "category": incident.category,
                "severity": incident.severity,
                "title": incident.title,
                "status": incident.status,
                "handled_by": hands,
                "acknowledged_by": _who(incident.acknowledged_by) if incident.acknowledged_by is not None else None,
                "time_to_ack_minutes": round(_minutes(incident.reported, first_ack[incident.id]), 1) if incident.id in first_ack else None,
                "time_to_resolve_minutes": round(_minutes(incident.reported, incident.resolved), 1) if incident.resolved else None,
                "deadline_missed": incident.id in late,
            }
        )
    timeline = []
    for incident in incidents:
        steps = sorted(timelines.get(incident.id, []), key=lambda s: s["ts"])
        timeline.append(
            {
                "id": incident.id,
                "regency": incident.regency,
                "severity": incident.severity,
                "category": incident.category,
                "title": incident.title,
                "location": incident.location,
                "status": incident.status,
                "inject": incident.inject,
                "ack_due": incident.ack_due,
                "deadline_missed": incident.id in late,
                "time_to_ack_minutes": round(_minutes(incident.reported, first_ack[incident.id]), 1) if incident.id in first_ack else None,
                "time_to_resolve_minutes": round(_minutes(incident.reported, incident.resolved), 1) if incident.resolved else None,
                "steps": steps,
            }
        )
    return {
        "exercise": exercise,
        "epoch": epoch,
        "events": len(events),
        "from": events[0].ts if events else None,
        "to": events[-1].ts if events else None,
        "post": {
            "incidents": len(incidents),
            "acknowledged": len(first_ack),
            "resolved": sum(1 for i in incidents if i.status == "resolved"),
            "open": sum(1 for i in incidents if i.status != "resolved"),
            "never_acknowledged_past_deadline": len(never),
            "deadlines_missed": len(late),
            "automatic_escalations": system_escalations,
            "time_to_ack_minutes": _spread(all_acks),
            "time_to_resolve_minutes": _spread(all_resolves),
            "refusals": sum(sum(p.refusals.values()) for p in people.values()),
            "notes": sum(p.notes for p in people.values()),
        },
        # Tokens that only reported are the field's (the simulator), not trainees the post expected.
        "roster": {"source": source, "expected": [{"name": n, "desk": d} for n, d in expected.items() if source == "roster" or n not in field_names]},
        "absent": [{"name": t["name"], "desk": t["desk"], "status": t["status"]} for t in trainees if t["status"] in ("never_connected", "handled_nothing")],
        "desks": desks,
        "injects": injects,
        "trainees": trainees,
        "reporters": reporters,
        "incidents": timeline,
    }


# --- renderings ------------------------------------------------------------------


def _cell(value: Any) -> str:
    # Text from the log is hostile: no control characters, and no table breaks.
    return for_terminal(str(value)).replace("|", "/")


_MONTHS_ID = ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des")


def counted(tr: Translator, key: str, count: int) -> str:
    """ "1 trainee", "2 trainees": the ".one" key for one (Indonesian says "1 peserta", "2 peserta")."""
    return tr(f"{key}.one" if count == 1 else key, count=count)


@dataclass(frozen=True)
class Table:
    """A table as the md and the PDF draw it: headings, rows of plain (already safe) text, and which columns are numbers."""

    title: str
    headings: list[str]
    rows: list[list[str]]
    numeric: list[bool]


class ReportWords:
    """The report's words in one language, shared by the md and the PDF: times, decimals, refusals, the summary tables."""

    def __init__(
        self, report: dict[str, Any], tz: tzinfo, regencies: dict[str, str] | None = None, lang: str = "id", severities: dict[str, str] | None = None
    ) -> None:
        self.report, self.tz, self.lang, self.tr = report, tz, lang, Translator(lang)
        self.names, self.severities = regencies or {}, severities or {}

    def at(self, ts: str | None, *, date: bool = True) -> str:
        if ts is None:
            return "-"
        when = parse_ts(ts).astimezone(self.tz)
        if not date:
            return f"{when:%H:%M}"
        month = _MONTHS_ID[when.month - 1] if self.lang == "id" else f"{when:%b}"
        return f"{when:%d} {month} {when:%H:%M} {self.tz.tzname(None) or ''}".strip()

    def when(self, ts: str, *, zone: bool = True) -> str:
        """A time on a timeline: with its date when the report's period spans days (`words.report_time`)."""
        return report_time(ts, self.tz, start=self.report.get("from"), end=self.report.get("to"), zone=zone)

    def decimal(self, value: float) -> str:
        """2 and 2,5 in Indonesian; 2 and 2.5 in English."""
        return number(value, self.lang, 0 if float(value).is_integer() else 1)

    def count(self, value: int) -> str:
        """4.443 in Indonesian, 4,443 in English."""
        return number(value, self.lang)

    def spread(self, spread: dict[str, Any]) -> str:
        return "-" if spread["median"] is None else f"{self.decimal(spread['median'])} / {self.decimal(spread['worst'])}"

    def refusals(self, refusals: dict[str, int]) -> str:
        tr = self.tr
        return (
            ", ".join(f"{tr(f'aar.refused.code.{code}') if f'aar.refused.code.{code}' in CATALOG else _cell(code)} {n}" for code, n in refusals.items()) or "0"
        )

    def person(self, row: dict[str, Any]) -> str:
        return f"{_cell(row['desk'] or '')}/{_cell(row['name'])}"

    def title(self) -> str:
        exercise = self.report["exercise"] or {}
        return self.tr("aar.title", name=_cell(exercise.get("name", self.tr("aar.not_exercise"))))

    def session(self) -> str:
        report, tr = self.report, self.tr
        exercise = report["exercise"] or {}
        return tr(
            "aar.session",
            epoch=_cell(report["epoch"]),
            start=self.at(report["from"]),
            end=self.at(report["to"]),
            speed=tr("aar.speed", speed=self.decimal(float(exercise["speed"]))) if exercise.get("speed") else "",
            events=tr("aar.events.one" if report["events"] == 1 else "aar.events", count=self.count(report["events"])),
        )

    def expected(self) -> str:
        roster = self.report.get("roster") or {"source": "none", "expected": []}
        if roster["source"] == "none":
            return ""
        return self.tr(f"aar.roster.{roster['source']}", count=len(roster["expected"]))

    def absent(self) -> str:
        absent = self.report.get("absent") or []
        if not absent:
            return self.tr("aar.absent.none") if (self.report.get("roster") or {}).get("expected") else ""
        listed = ", ".join(f"{self.person(a)} ({self.tr('aar.status.' + a['status'])})" for a in absent)
        return self.tr("aar.absent", list=listed)

    def reporters(self) -> str:
        reporters = self.report["reporters"]
        if not reporters:
            return ""
        listed = ", ".join(f"{_cell(r['agency'] or '')}/{_cell(r['name'])} ({counted(self.tr, 'aar.reports', r['reports'])})" for r in reporters)
        return self.tr("aar.reporters", list=listed)

    def post_table(self) -> Table:
        post = self.report["post"]
        values = [
            self.count(post["incidents"]),
            self.count(post["acknowledged"]),
            self.count(post["resolved"]),
            self.count(post["open"]),
            self.count(post["deadlines_missed"]),
            self.count(post["never_acknowledged_past_deadline"]),
            self.count(post["automatic_escalations"]),
            self.spread(post["time_to_ack_minutes"]),
            self.spread(post["time_to_resolve_minutes"]),
            self.count(post["refusals"]),
            self.count(post["notes"]),
        ]
        return Table(self.tr("aar.post"), self.tr("aar.post.columns").split(" | "), [values], [True] * len(values))

    def desk_table(self) -> Table:
        rows = [
            [
                _cell(d["desk"]),
                f"{d['active']} / {d['expected']}",
                self.count(d["incidents_handled"]),
                self.count(d["acknowledged"]),
                self.spread(d["time_to_ack_minutes"]),
                self.count(d["resolved"]),
                self.count(d["deadlines_missed"]),
                self.count(d["refusals"]),
                self.count(d["notes"]),
            ]
            for d in self.report.get("desks", [])
        ]
        return Table(self.tr("aar.desks"), self.tr("aar.desks.columns").split(" | "), rows, [False] + [True] * 8)

    def trainee_table(self) -> Table:
        rows = [
            [
                self.person(t),
                self.count(t["incidents_handled"]),
                self.count(t["acknowledged"]),
                self.spread(t["time_to_ack_minutes"]),
                self.count(t["resolved"]),
                self.spread(t["time_to_resolve_minutes"]),
                self.count(t["deadlines_missed"]),
                self.count(t["escalations"]),
                self.refusals(t["refusals"]),
                self.count(t["tried_to_ack_what_another_had"]),
                self.count(t["notes"]),
                self.tr(f"aar.status.{t.get('status', 'active')}"),
            ]
            for t in self.report["trainees"]
        ]
        headings = [*self.tr("aar.trainees.columns").split(" | "), self.tr("aar.col.status")]
        return Table(self.tr("aar.trainees"), headings, rows, [False] + [True] * 7 + [False, True, True, False])

    def inject_table(self) -> Table:
        """The trainer's injects: when, as which desk, where, what, who handled it, how fast (minutes), deadline missed."""
        rows = [
            [
                self.at(i["reported"]),
                _cell(f"{i['desk']}/{i['reporter']}"),
                f"#{i['id']} {_cell(self.names.get(i['regency'], i['regency']))}: {_cell(i['title'])}",
                ", ".join(_cell(h) for h in i["handled_by"]) or self.tr("aar.injects.nobody"),
                "-" if i["time_to_ack_minutes"] is None else self.decimal(i["time_to_ack_minutes"]),
                "-" if i["time_to_resolve_minutes"] is None else self.decimal(i["time_to_resolve_minutes"]),
                self.tr("aar.yes") if i["deadline_missed"] else self.tr("aar.no"),
            ]
            for i in self.report.get("injects", [])
        ]
        return Table(self.tr("aar.injects"), self.tr("aar.injects.columns").split(" | "), rows, [False, False, False, False, True, True, False])

    def incident_head(self, i: dict[str, Any]) -> str:
        severity = self.severities.get(i["severity"], i["severity"])
        return f"#{i['id']} {_cell(severity)} · {_cell(self.names.get(i['regency'], i['regency']))} · {_cell(i['title'])}"

    def incident_due(self, i: dict[str, Any]) -> str:
        tr, lang = self.tr, self.lang
        status = tr(f"reason.status.{i['status']}") if lang == "id" and f"reason.status.{i['status']}" in CATALOG else i["status"]
        return tr("aar.due", location=_cell(i["location"]), at=self.when(i["ack_due"]) if i["ack_due"] else "-", status=_cell(status))

    def what(self, step: dict[str, Any]) -> str:
        tr = self.tr
        kind = step.get("kind")
        if kind == "refused":
            reason = str(step["reason"])
            said = tr(f"aar.refused.reason.{reason}") if f"aar.refused.reason.{reason}" in CATALOG else reason
            return tr("aar.refused", command=step["command"], reason=said)
        if kind == "incident.escalated" and step.get("by") == "system" and step.get("count", 1) > 1:
            return tr(
                "aar.system_escalations",
                count=self.count(step["count"]),
                first=self.when(step["ts"], zone=False),
                last=self.when(step["last"], zone=False),
                level=step.get("level", "?"),
            )
        return tr(f"aar.verb.{kind}") if f"aar.verb.{kind}" in CATALOG else str(step["what"])

    def step(self, step: dict[str, Any]) -> tuple[str, str]:
        """(when, what happened and by whom): a timeline's line in two parts."""
        tr = self.tr
        late = f" ({tr('aar.late')})" if step.get("late") else ""
        # A refusal's own text is the server's English message: the Indonesian report says the reason in its words instead.
        shown = step.get("text") if step.get("kind") != "refused" or self.lang == "en" else None
        text = f": {_cell(shown)}" if shown else ""
        if step.get("kind") == "incident.escalated" and step.get("by") == "system" and step.get("count", 1) > 1:
            return self.when(step["ts"]), _cell(self.what(step))
        by = tr("sitrep.system") if step["by"] == "system" else _cell(step["by"])
        full = tr("aar.step", at="", what=_cell(self.what(step)), late=late, by=by, text=text).strip()
        return self.when(step["ts"]), full


def render_md(report: dict[str, Any], tz: tzinfo, regencies: dict[str, str] | None = None, lang: str = "id", severities: dict[str, str] | None = None) -> str:
    """`regencies`: code -> the name to show (from the config); `severities`: key -> label in `lang`.
    Every word of it is literal Markdown (md_literal): titles, places, notes and names come
    from the field, and the report's own marks are added around them."""
    w = ReportWords(report, tz, regencies, lang, severities)
    tr = w.tr
    lines = [f"# {md_literal(w.title())}", "", md_literal(w.session(), line_start=True), ""]

    def table(t: Table, level: str = "##") -> None:
        cells = [md_literal(heading) for heading in t.headings]
        lines.extend(
            [f"{level} {md_literal(t.title)}", "", "| " + " | ".join(cells) + " |", "| " + " | ".join("---:" if n else "---" for n in t.numeric) + " |"]
        )
        lines.extend("| " + " | ".join(md_literal(cell) for cell in row) + " |" for row in t.rows)
        lines.append("")

    table(w.post_table())
    if report.get("desks"):
        table(w.desk_table())
    if report.get("injects"):
        table(w.inject_table())
    trainees = w.trainee_table()
    table(trainees)
    if not trainees.rows:
        lines.insert(-1, "| " + md_literal(tr("aar.nobody")) + " |" + " |" * (len(trainees.headings) - 1))
    for extra in (w.expected(), w.absent(), w.reporters()):
        if extra:
            lines += [md_literal(extra, line_start=True), ""]
    lines += [f"## {md_literal(tr('aar.incidents'))}", ""]
    for i in report["incidents"]:
        flags = f" **{md_literal(tr('aar.deadline_missed'))}**" if i["deadline_missed"] else ""
        flags = f" ({md_literal(tr('aar.inject'))}){flags}" if i.get("inject") else flags
        lines += [f"### {md_literal(w.incident_head(i))}{flags}", ""]
        if i["location"]:
            lines += [md_literal(w.incident_due(i), line_start=True), ""]
        for step in i["steps"]:
            when, said = w.step(step)
            lines.append(f"- {md_literal(when)} {md_literal(said)}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def render_json(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2) + "\n"
