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


def build(events: list[Event], attempts: list[Attempt], *, exercise: dict[str, Any] | None, epoch: str, now: datetime | None = None) -> dict[str, Any]:
    """The report as plain data. `now`: the scenario time the report is made at (open incidents past their deadline count as missed)."""
    state = State()
    people: dict[str, _Person] = {}
    timelines: dict[int, list[dict[str, Any]]] = {}
    first_ack: dict[int, str] = {}
    late: set[int] = set()
    system_escalations = 0

    def person(actor: Actor) -> _Person:
        return people.setdefault(actor.name, _Person(actor.name, actor.agency))

    for event in events:
        incident_id = concerns(event)
        before = state.incidents.get(incident_id) if incident_id is not None else None
        apply(state, event)
        if incident_id is None:
            continue  # stage progress is the field's; token events are the admin's
        entry: dict[str, Any] = {"ts": event.ts, "what": VERBS.get(event.kind, event.kind), "kind": event.kind, "by": _who(event.actor)}
        text = event_text(event)
        if text:
            entry["text"] = text
        timelines.setdefault(incident_id, []).append(entry)
        incident = state.incidents.get(incident_id)
        if event.actor.name == "system":
            if event.kind == "incident.escalated":
                system_escalations += 1
                late.add(incident_id)
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

    moment = now or max((parse_ts(e.ts) for e in events), default=None)
    never = [i for i in state.incidents.values() if i.status == "open" and i.acknowledged is None and moment is not None and parse_ts(i.ack_due) < moment]
    late.update(i.id for i in never)
    incidents = sorted(state.incidents.values(), key=lambda i: i.id)
    all_acks = [_minutes(i.reported, first_ack[i.id]) for i in incidents if i.id in first_ack]
    all_resolves = [_minutes(i.reported, i.resolved) for i in incidents if i.resolved is not None and i.merged_into is None]
    trainees: list[dict[str, Any]] = []
    reporters: list[dict[str, Any]] = []
    for who in sorted(people.values(), key=lambda p: p.name):
        row = {
            "name": who.name,
            "agency": who.agency,
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
        field_only = not who.handled and not who.refusals and who.reports > 0
        (reporters if field_only else trainees).append(row)
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
        "trainees": trainees,
        "reporters": reporters,
        "incidents": timeline,
    }


# --- renderings ------------------------------------------------------------------


def _cell(value: Any) -> str:
    # Text from the log is hostile: no control characters, and no table breaks.
    return for_terminal(str(value)).replace("|", "/")


def _m(spread: dict[str, Any]) -> str:
    return "-" if spread["median"] is None else f"{spread['median']:g} / {spread['worst']:g}"


_MONTHS_ID = ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des")


def counted(tr: Translator, key: str, count: int) -> str:
    """ "1 trainee", "2 trainees": the ".one" key for one (Indonesian says "1 peserta", "2 peserta")."""
    return tr(f"{key}.one" if count == 1 else key, count=count)


def render_md(report: dict[str, Any], tz: tzinfo, regencies: dict[str, str] | None = None, lang: str = "id", severities: dict[str, str] | None = None) -> str:
    """`regencies`: code -> the name to show (from the config); `severities`: key -> label in `lang`."""
    names = regencies or {}
    tr = Translator(lang)

    def at(ts: str | None) -> str:
        if ts is None:
            return "-"
        when = parse_ts(ts).astimezone(tz)
        month = _MONTHS_ID[when.month - 1] if lang == "id" else f"{when:%b}"
        return f"{when:%d} {month} {when:%H:%M} {tz.tzname(None) or ''}".strip()

    def what(step: dict[str, Any]) -> str:
        kind = step.get("kind")
        if kind == "refused":
            return tr("aar.refused", command=step["command"], reason=step["reason"])
        return tr(f"aar.verb.{kind}") if f"aar.verb.{kind}" in CATALOG else str(step["what"])

    exercise = report["exercise"] or {}
    post = report["post"]
    lines = [
        f"# {tr('aar.title', name=_cell(exercise.get('name', tr('aar.not_exercise'))))}",
        "",
        tr(
            "aar.session",
            epoch=_cell(report["epoch"]),
            start=at(report["from"]),
            end=at(report["to"]),
            speed=tr("aar.speed", speed=f"{exercise['speed']:g}") if exercise.get("speed") else "",
            events=counted(tr, "aar.events", report["events"]),
        ),
        "",
        f"## {tr('aar.post')}",
        "",
        f"| {tr('aar.post.columns')} |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {post['incidents']} | {post['acknowledged']} | {post['resolved']} | {post['open']} | {post['deadlines_missed']} | {post['never_acknowledged_past_deadline']} | "
        f"{post['automatic_escalations']} | {_m(post['time_to_ack_minutes'])} | {_m(post['time_to_resolve_minutes'])} | {post['refusals']} | {post['notes']} |",
        "",
        f"## {tr('aar.trainees')}",
        "",
        f"| {tr('aar.trainees.columns')} |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for t in report["trainees"]:
        refused = ", ".join(f"{code} {n}" for code, n in t["refusals"].items()) or "0"
        lines.append(
            f"| {_cell(t['agency'] or '')}/{_cell(t['name'])} | {t['incidents_handled']} | {t['acknowledged']} | {_m(t['time_to_ack_minutes'])} | {t['resolved']} | "
            f"{_m(t['time_to_resolve_minutes'])} | {t['deadlines_missed']} | {t['escalations']} | {_cell(refused)} | {t['tried_to_ack_what_another_had']} | {t['notes']} |"
        )
    if not report["trainees"]:
        lines.append(f"| {tr('aar.nobody')} | | | | | | | | | | |")
    if report["reporters"]:
        who = ", ".join(f"{_cell(r['agency'] or '')}/{_cell(r['name'])} ({counted(tr, 'aar.reports', r['reports'])})" for r in report["reporters"])
        lines += ["", tr("aar.reporters", list=who)]
    lines += ["", f"## {tr('aar.incidents')}", ""]
    labels = severities or {}
    for i in report["incidents"]:
        flags = f" **{tr('aar.deadline_missed')}**" if i["deadline_missed"] else ""
        severity = labels.get(i["severity"], i["severity"])
        lines.append(f"### #{i['id']} {_cell(severity)} · {_cell(names.get(i['regency'], i['regency']))} · {_cell(i['title'])}{flags}")
        lines.append("")
        if i["location"]:
            status = tr(f"reason.status.{i['status']}") if lang == "id" and f"reason.status.{i['status']}" in CATALOG else i["status"]
            lines.append(tr("aar.due", location=_cell(i["location"]), at=at(i["ack_due"]), status=_cell(status)))
            lines.append("")
        for step in i["steps"]:
            late = f" ({tr('aar.late')})" if step.get("late") else ""
            text = f": {_cell(step['text'])}" if step.get("text") else ""
            lines.append(
                "- "
                + tr(
                    "aar.step",
                    at=at(step["ts"]),
                    what=_cell(what(step)),
                    late=late,
                    by=tr("sitrep.system") if step["by"] == "system" else _cell(step["by"]),
                    text=text,
                )
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def render_json(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2) + "\n"


def render_pdf(text: str) -> bytes:
    """A plain PDF of the markdown text: Courier on A4, as many pages as it takes (no dependency)."""
    width, per_page = 100, 68
    lines: list[str] = []
    for line in text.splitlines():
        while len(line) > width:
            lines.append(line[:width])
            line = "    " + line[width:]
        lines.append(line)
    pages = [lines[i : i + per_page] for i in range(0, max(1, len(lines)), per_page)] or [[]]
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in below
    tree = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier /Encoding /WinAnsiEncoding >>")
    kids = []
    for page in pages:
        stream = b"BT /F1 8 Tf 10 TL 36 806 Td\n"
        for line in page:
            safe = line.encode("cp1252", "replace").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
            stream += b"(" + safe + b") Tj T*\n"
        stream += b"ET"
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        kids.append(
            add(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>" % (tree, font, content))
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % tree
    objects[tree - 1] = b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % k for k in kids) + b"] /Count %d >>" % len(kids)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, catalog, xref)
    return bytes(out)
