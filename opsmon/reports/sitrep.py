"""The situation report (laporan situasi) the post sends up its chains.

Pure: `build()` turns the folded state, the events since the last report and
the province's config into one plain document (what `--format json` prints);
`render_text` (WhatsApp-ready: short lines, *bold* headings), `render_md`
and `opsmon.reports.sitrep_pdf.render_pdf` write it for people. The same document
comes out of `opsmon sitrep`, the dashboard's sitrep key and the server's
`[sitrep] every_minutes` writer, so the three can never disagree.

The server numbers the post's reports (the `sitrep` command, a
`sitrep.numbered` event): whoever saves one, and in whichever folder, it
numbers on from the last and covers the period since it. `Ledger` is a
folder's own record of the reports saved into it (number, time, seq): `keep`
saves a report the server numbered; `write` numbers on from the folder alone,
for a terminal showing a saved night with no server to ask. A preview
(`number=None`) takes no number and moves nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from opsmon.core.clock import format_ts, parse_ts
from opsmon.core.events import IncidentEscalated, StageUpdated
from opsmon.core.i18n import Translator, who
from opsmon.core.protocol import Event, ExerciseInfo
from opsmon.core.records import SEVERITIES, ConfigInfo, Incident
from opsmon.core.state import State
from opsmon.core.text import for_terminal
from opsmon.core.urgency import event_text, is_escalated, waiting_since
from opsmon.core.view import condition, every_duty
from opsmon.reports.markdown import md_literal
from opsmon.reports.words import Words, doc_tz

FORMATS = ("text", "md", "json", "pdf")
SUFFIX = {"text": "txt", "md": "md", "json": "json", "pdf": "pdf"}
URGENT = SEVERITIES[:2]  # critical and high: listed by name in the report
PHONE_WIDTH = 44  # a list line in the text report: what a phone shows without wrapping


def _clean(text: str | None) -> str:
    return for_terminal(text or "")


def _prose(text: str | None) -> str:
    """A note as written: its line breaks kept, every other control made visible."""
    return for_terminal(text or "", multiline=True).strip("\n")


def _last_note(incident: Incident) -> dict[str, Any] | None:
    if not incident.notes:
        return None
    note = incident.notes[-1]
    return {"at": note.ts, "by": who(note.by), "text": _prose(note.text)}


def build(
    config: ConfigInfo,
    state: State,
    events: Iterable[Event],
    *,
    now: datetime,
    since: datetime | None,
    number: int | None,
    by: str,
    post: str,
    exercise: ExerciseInfo | None = None,
    signatory: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The report as a plain document (UTC inside, codes and labels both, for other systems).

    It covers the period (since, now]: the next report's `since` is this one's `now`
    (its `generated`), so saved reports tile the night with no gap and no overlap.
    `number` is None for a preview (stdout, the dashboard's `p`): it takes no number.
    `by` is who produced it (kept in the JSON for the record, never printed as the
    signatory); `signatory` is [sitrep] place, name, rank and position."""
    province = config.province
    regencies = {r.code: r for r in config.regencies}
    since_ts = format_ts(since) if since is not None else None

    def after(ts: str | None) -> bool:
        if ts is None:
            return False
        moment = parse_ts(ts)
        return (since is None or moment > since) and moment <= now

    # --- progress ---------------------------------------------------------------------
    regency_stages = config.regency_stages()
    counting = config.counting_stage()  # the config's `counts = true`
    recap = next((s for s in regency_stages if s.unit == "kecamatan"), None)
    plenary = next((s for s in reversed(regency_stages) if s.unit == "plenary"), None)
    top = next(iter(config.province_stages()), None)

    def sum_of(stage_key: str | None) -> dict[str, Any]:
        rows = [state.stages[(r.code, stage_key)] for r in config.regencies if stage_key and (r.code, stage_key) in state.stages]
        done, total = sum(r.done for r in rows), sum(r.total for r in rows)
        return {"stage": stage_key, "done": done, "total": total, "percent": round(100 * done / total, 1) if total else 0.0}

    tps = sum_of(counting.key if counting else None)
    if not tps["total"]:
        tps["total"] = sum(r.tps for r in config.regencies)
    kecamatan = sum_of(recap.key if recap else None)
    if not kecamatan["total"]:
        kecamatan["total"] = sum(r.kecamatan for r in config.regencies)
    plenaries = {
        "stage": plenary.key if plenary else None,
        "done": sum(1 for r in config.regencies if plenary and (row := state.stages.get((r.code, plenary.key))) and row.status == "done"),
        "total": len(config.regencies),
    }
    province_plenary = None
    if top is not None:
        row = state.stages.get((province.code if province else "", top.key))
        province_plenary = {
            "stage": top.key,
            "label": top.label.id,
            "done": bool(row and row.status == "done"),
            "blocked": bool(row and row.status == "blocked"),
        }

    # Stage corrections in the period (a count stepped back, a block lifted): said, never silent.
    stage_labels = {s.key: (s.short or s.label) for s in config.stages}
    corrections = [
        {
            "regency": update.regency,
            "stage": update.stage,
            "stage_label": {"id": stage_labels[update.stage].id, "en": stage_labels[update.stage].en} if update.stage in stage_labels else None,
            "from": update.corrected_done,
            "from_status": update.corrected_status,
            "to": update.done,
            "status": update.status,
            "at": event.ts,
            "by": who(event.actor),
            "note": _prose(update.note) or None,
        }
        for event in events
        if isinstance(update := event.data, StageUpdated) and update.correction and after(event.ts)
    ]

    open_here = [i for i in state.incidents.values() if i.status != "resolved" and i.merged_into is None]
    lines = []
    for regency in config.regencies:
        current, row = None, None
        for stage in regency_stages:
            row = state.stages.get((regency.code, stage.key))
            if row is None or row.status != "done":
                current = stage
                break
        # A blocked stage is the line's news even when an earlier one is not done
        # (a recap blocked while logistics lag): never hidden, as on the panels.
        blocked_here = next(((s, r) for s in regency_stages if (r := state.stages.get((regency.code, s.key))) is not None and r.status == "blocked"), None)
        if blocked_here is not None:
            current, row = blocked_here
        lines.append(
            {
                "code": regency.code,
                "name": regency.name,
                "short": regency.short,
                "stage": current.key if current else None,
                "stage_label": {"id": (current.short or current.label).id, "en": (current.short or current.label).en} if current else None,
                "done": row.done if current and row else 0,
                "total": row.total if current and row else 0,
                # The total is the regency's TPS and that figure an estimate (config: tps_estimate).
                "estimated": bool(current and current.unit == "tps" and regency.tps_estimated),
                "blocked": bool(current and row and row.status == "blocked"),
                "note": _prose(row.note).replace("\n", " ") if current and row and row.status == "blocked" and row.note else None,
                "condition": condition(
                    critical_unacked=sum(1 for i in open_here if i.regency == regency.code and i.status == "open" and i.severity == "critical"),
                    escalated=sum(1 for i in open_here if i.regency == regency.code and is_escalated(i)),
                    blocked=bool(current and row and row.status == "blocked"),
                    open_total=sum(1 for i in open_here if i.regency == regency.code),
                ),
            }
        )

    # --- incidents ---------------------------------------------------------------------
    incidents = sorted(state.incidents.values(), key=lambda i: i.id)
    counted = [i for i in incidents if i.merged_into is None]  # a merged one is counted in the one it joined
    reported = [i for i in counted if after(i.reported)]
    urgent = [i for i in counted if i.status != "resolved" and i.severity in URGENT]
    urgent.sort(key=lambda i: (SEVERITIES.index(i.severity), i.reported, i.id))
    escalations = []
    per_incident: dict[int, dict[str, Any]] = {}
    for event in events:
        if isinstance(event.data, IncidentEscalated) and after(event.ts):
            escalated = event.data
            incident = state.incidents.get(escalated.incident)
            note = _prose(event_text(event)) or None
            escalations.append(
                {
                    "id": escalated.incident,
                    "level": escalated.level,
                    "at": event.ts,
                    "by": who(event.actor),
                    "regency": incident.regency if incident else None,
                    "title": _clean(incident.title) if incident else "",
                    "note": note,
                }
            )
            # One entry per incident however often it was escalated (a desk left unmanned
            # re-escalates the same incidents all night): its level now, and since when it waits.
            entry = per_incident.setdefault(
                escalated.incident,
                {
                    "id": escalated.incident,
                    "regency": incident.regency if incident else None,
                    "severity": incident.severity if incident else None,
                    "title": _clean(incident.title) if incident else "",
                    "level": incident.level if incident else escalated.level,
                    "status": (incident.status if incident.merged_into is None else "merged") if incident else "open",
                    "unacked_since": waiting_since(incident) if incident else event.ts,
                    "acknowledged": incident.acknowledged if incident else None,
                    "times": 0,
                    "first": event.ts,
                    "last": event.ts,
                    "last_by": who(event.actor),
                    "notes": [],
                },
            )
            entry["times"] += 1
            entry["last"], entry["last_by"] = event.ts, who(event.actor)
            if note and event.actor.name != "system" and len(entry["notes"]) < 3:
                entry["notes"].append(note)  # an officer's reason to escalate; the system's are all alike
    # Waiting for an ack first, the highest level first: what the chain must act on.
    escalated_list = sorted(per_incident.values(), key=lambda e: (e["status"] != "open", -e["level"], e["id"]))
    resolved = [
        {
            "id": i.id,
            "regency": i.regency,
            "severity": i.severity,
            "title": _clean(i.title),
            "at": i.resolved,
            "by": who(i.resolved_by),
            "note": _prose(next((n.text for n in reversed(i.notes) if n.kind == "resolved"), "")) or None,
        }
        for i in counted
        if i.status == "resolved" and after(i.resolved)
    ]
    # Each duplicate report once: a merge's reports are already in the one it joined.
    folded = sum(i.reports - 1 for i in counted if after(i.reported))

    chart = _chart_bins(counted, since, now, config.tz)

    hourly: dict[str, Counter[str]] = {}
    for incident in counted:
        hour = parse_ts(incident.reported).replace(minute=0, second=0, microsecond=0)
        hourly.setdefault(format_ts(hour), Counter())[incident.severity] += 1
    if hourly:
        # Every hour from the first report to now, empty ones too: a chart's axis.
        first, last = parse_ts(min(hourly)), now.replace(minute=0, second=0, microsecond=0)
        hour = first
        while hour <= last:
            hourly.setdefault(format_ts(hour), Counter())
            hour += timedelta(hours=1)

    doc: dict[str, Any] = {
        "type": "sitrep",
        "version": 1,
        "number": number,
        "preview": number is None,
        "post": post,
        "signatory": {key: _clean(value) for key, value in (signatory or {}).items()},
        "province": {
            "code": province.code if province else "",
            "name": province.name if province else "",
            "timezone_name": province.timezone_name if province else "UTC",
            "utc_offset_hours": province.utc_offset_hours if province else 0.0,
        },
        "generated": format_ts(now),
        "by": by,
        "since": since_ts,
        "until": format_ts(now),
        "progress": {"tps": tps, "kecamatan": kecamatan, "regency_plenaries": plenaries, "province_plenary": province_plenary, "corrections": corrections},
        "regencies": lines,
        "incidents": {
            "reported": len(reported),
            "by_severity": {s: sum(1 for i in reported if i.severity == s) for s in SEVERITIES},
            "by_category": dict(Counter(i.category for i in reported).most_common()),
            "by_regency": {code: n for code, n in Counter(i.regency for i in reported).most_common() if code in regencies},
            "duplicates_folded": folded,
            "open_urgent": [
                {
                    "id": i.id,
                    "regency": i.regency,
                    "severity": i.severity,
                    "title": _clean(i.title),
                    "status": i.status,
                    "snoozed_until": i.snoozed_until,
                    "reported": i.reported,
                    "age_minutes": max(0, int((now - parse_ts(i.reported)).total_seconds() // 60)),
                    "owner": who(i.owner) if i.owner else None,
                    "level": i.level,
                    "reports": i.reports,
                    "last_note": _last_note(i),
                }
                for i in urgent
            ],
            "escalations": escalations,
            "escalated": escalated_list,
            "resolved": resolved,
        },
        "hourly": [{"hour": hour, **{s: counts.get(s, 0) for s in SEVERITIES}} for hour, counts in sorted(hourly.items())],
        "chart": chart,
        "labels": {
            "severities": {s.key: {"id": s.label.id, "en": s.label.en} for s in config.severities},
            "categories": {c.key: {"id": c.label.id, "en": c.label.en} for c in config.categories},
            "regencies": {r.code: r.short for r in config.regencies},
        },
    }
    if config.rosters:
        # Who was on duty as the period ended: each roster's shift then (issue 25: the sitrep names the shift).
        doc["duty"] = [
            {
                "desk": duty.desk,
                "regencies": duty.where.split(",") if duty.where else [],
                "start": duty.start,
                "end": duty.end,
                "until": format_ts(duty.until),
                "people": [{"name": _clean(p.name), "agency": _clean(p.agency), "position": _clean(p.position)} for p in duty.people],
                "supervisor": _clean(duty.supervisor) or None,
            }
            for duty in every_duty(config, now)
        ]
    if exercise is not None:
        # A training exercise's report says so on its first line: never taken for a real night's.
        doc["exercise"] = {"name": _clean(exercise.name), "speed": exercise.speed}
    return doc


# Bin widths for the chart, in hours: the smallest that keeps it to at most CHART_BINS bars.
CHART_STEPS = (1, 2, 3, 6, 12, 24)
CHART_BINS = 26


def _chart_bins(incidents: list[Incident], since: datetime | None, now: datetime, tz: tzinfo) -> dict[str, Any]:
    """Incidents reported in the period (since, now], in bins that cover all of it: hourly
    for a night, every few hours or per day over weeks; bins start on the province's
    clock (a day is a WITA day, six hours are 00-06-12-18 WITA)."""
    reported = [(parse_ts(i.reported), i.severity) for i in incidents]
    inside = [(at, severity) for at, severity in reported if (since is None or at > since) and at <= now]
    start = since if since is not None else min((at for at, _ in inside), default=now)
    span_hours = max(1, math.ceil((now - start).total_seconds() / 3600))
    step = next((h for h in CHART_STEPS if math.ceil(span_hours / h) + 1 <= CHART_BINS), None)
    if step is None:  # weeks: whole days, as many at a time as it takes
        step = 24 * math.ceil(span_hours / (24 * (CHART_BINS - 1)))
    local = start.astimezone(tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    first = (midnight + timedelta(hours=(local.hour // step) * step if step < 24 else 0)).astimezone(UTC)
    count = max(1, math.ceil((now - first).total_seconds() / (3600 * step)))
    if first + timedelta(hours=count * step) <= now:
        count += 1  # `now` on a bin's edge still falls in a bin
    bins: list[dict[str, Any]] = [{"start": format_ts(first + timedelta(hours=n * step)), **{s: 0 for s in SEVERITIES}} for n in range(count)]
    for at, severity in inside:
        slot = int((at - first).total_seconds() // (3600 * step))
        if 0 <= slot < count and severity in SEVERITIES:
            bins[slot][severity] += 1
    return {"from": format_ts(start), "to": format_ts(now), "bin_hours": step, "bins": bins}


# --- rendering ------------------------------------------------------------------------


def hanging(line: str, indent: str = "  ") -> list[str]:
    """A line that may hold a note's line breaks, as lines: the later ones indented under the first."""
    first, *later = line.split("\n")
    return [first, *(indent + part for part in later)]


def _blocks(entries: list[tuple[str, list[str]]], none: str) -> list[str]:
    """Each entry a head line and its lines, a blank line between entries."""
    out: list[str] = []
    for head, rest in entries:
        out += [*([""] if out else []), head, *(part for line in rest for part in hanging(line))]
    return out or [none]


TEXT_LIMIT = 4000  # one WhatsApp message a person reads: the text report stays under it

# WhatsApp formats *bold*, _italic_, ~strike~ and `code` wherever a pair meets, and a line
# opening with ">" as a quote; it has no escape. In the text report every line but the
# report's own headings has them as lookalikes that format nothing: a title can neither
# embolden itself nor pass for a heading ("*Kritis/tinggi masih terbuka: 0*").
_WHATSAPP_LOOKALIKES = str.maketrans({"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb"})


class _Heading(str):
    """A heading the report writes in *bold*: the one line that keeps WhatsApp's marks."""


def _whatsapp_literal(line: str) -> str:
    out = line.translate(_WHATSAPP_LOOKALIKES)
    body = out.lstrip(" ")
    return out[: len(out) - len(body)] + "\u203a" + body[1:] if body.startswith(">") else out


def render_text(doc: dict[str, Any], lang: str = "id", *, limit: int = TEXT_LIMIT) -> str:
    """WhatsApp-ready: *bold* headings, short lines, no tables, under `limit` characters:
    the longest lists are cut to their first entries with "... and N more" (all of them
    are in the md and the PDF). An escalated incident is one line, however often escalated."""
    w, tr, inc = Words(doc, lang), Translator(lang), doc["incidents"]

    def cut(entries: list[tuple[str, list[str]]], keep: int | None) -> list[str]:
        shown = entries if keep is None else entries[:keep]
        out = _blocks(shown, tr("sitrep.none"))
        if len(shown) < len(entries):
            out.append(tr("sitrep.more", count=len(entries) - len(shown)))
        return out

    def bold(heading: str) -> str:
        return _Heading(f"*{_whatsapp_literal(heading)}*")

    def lines(escalated_at: int | None, keep: int | None) -> list[str]:
        head = w.heading()
        out = [bold(head[0]), *head[1:], "", bold(tr("sitrep.progress")), *w.progress(), "", bold(tr("sitrep.regencies"))]
        out += [w.regency_line(line) for line in doc["regencies"]]
        out += w.estimate_note()
        out += ["", bold(tr("sitrep.incidents", count=inc["reported"])), *w.counts(PHONE_WIDTH)]
        out += ["", bold(tr("sitrep.urgent", count=len(inc["open_urgent"]))), *cut([w.urgent(i) for i in inc["open_urgent"]], keep)]
        escalated = [w.escalated(e)[0] for e in inc["escalated"]]
        shown = escalated if escalated_at is None else escalated[:escalated_at]
        out += ["", bold(tr("sitrep.escalated", count=len(escalated))), *(shown or [tr("sitrep.none")])]
        if len(shown) < len(escalated):
            out.append(tr("sitrep.more", count=len(escalated) - len(shown)))
        resolved = [(head, rest[:1]) for head, rest in (w.resolved(r) for r in inc["resolved"])]  # its title, not the resolution
        out += ["", bold(tr("sitrep.resolved", count=len(resolved))), *cut(resolved, keep)]
        if "duty" in doc:
            duty = w.duty()
            shown = duty if keep is None else duty[: max(1, keep)]
            out += ["", bold(w.duty_heading()), *shown]
            if len(shown) < len(duty):
                out.append(tr("sitrep.more", count=len(duty) - len(shown)))
        out += ["", *w.closing()]
        return [line if isinstance(line, _Heading) else _whatsapp_literal(line) for line in out]

    text = "\n".join(lines(None, None)) + "\n"
    for keep in (12, 8, 5, 3, 2, 1, 0):
        if len(text) < limit:
            break
        text = "\n".join(lines(keep * 2, keep)) + "\n"
    return text


def render_md(doc: dict[str, Any], lang: str = "id") -> str:
    """For the record: headings and tables."""
    w, tr, inc = Words(doc, lang), Translator(lang), doc["incidents"]
    head = w.heading()
    out = [f"# {md_literal(head[0])}", "", *(f"{md_literal(line, line_start=True)}  " for line in head[1:]), "", f"## {tr('sitrep.progress')}", ""]
    out += [f"- {md_literal(line, line_start=True)}" for line in w.progress()]
    out += [
        "",
        f"## {tr('sitrep.regencies')}",
        "",
        f"| {tr('sitrep.col.regency')} | {tr('sitrep.col.stage')} | {tr('sitrep.col.done')} | {tr('sitrep.col.note')} |",
        "| --- | --- | ---: | --- |",
    ]
    for line in doc["regencies"]:
        stage = line["stage_label"][lang] if line["stage"] else tr("panel.all_done")
        done = md_literal(w.done_total(line)) if line["stage"] else ""
        note = tr("panel.blocked") + (f": {md_literal(line['note'])}" if line["note"] else "") if line["blocked"] else ""
        out.append(f"| {md_literal(line['short'])} | {md_literal(stage)} | {done} | {note} |")
    out += ["", *(md_literal(line, line_start=True) for line in w.estimate_note())] if w.estimate_note() else []
    out += ["", f"## {tr('sitrep.incidents', count=inc['reported'])}", ""]
    out += [f"- {md_literal(line, line_start=True)}" for line in w.counts()]
    sections = [
        ("sitrep.urgent", [w.urgent(i) for i in inc["open_urgent"]]),
        ("sitrep.escalated", [w.escalated(e) for e in inc["escalated"]]),
        ("sitrep.resolved", [w.resolved(r) for r in inc["resolved"]]),
    ]
    for key, entries in sections:
        out += ["", f"## {tr(key, count=len(entries))}", ""]
        if not entries:
            out.append(tr("sitrep.none"))
        for head_line, rest in entries:
            out.append(f"- **{md_literal(head_line)}**  ")
            # A note's own line breaks stay lines of the item (each escaped as a line start).
            out += [f"  {md_literal(part, line_start=True)}  " for line in rest for part in line.split("\n")]
    if "duty" in doc:
        out += ["", f"## {md_literal(w.duty_heading())}", "", *(f"- {md_literal(line, line_start=True)}" for line in w.duty())]
    closing = w.closing()
    out += ["", f"{md_literal(closing[0], line_start=True)}", "", *(f"{md_literal(line, line_start=True)}  " for line in closing[1:])]
    return "\n".join(out) + "\n"


def render_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def render(doc: dict[str, Any], fmt: str, lang: str = "id", *, shape: Any = None) -> bytes:
    """One format of the report, as the bytes of its file."""
    if fmt == "text":
        return render_text(doc, lang).encode("utf-8")
    if fmt == "md":
        return render_md(doc, lang).encode("utf-8")
    if fmt == "json":
        return render_json(doc).encode("utf-8")
    if fmt == "pdf":
        from opsmon.reports.sitrep_pdf import render_pdf

        return render_pdf(doc, lang, shape=shape)
    raise ValueError(f"unknown sitrep format {fmt!r} (one of {', '.join(FORMATS)})")


# --- the reports already written ------------------------------------------------------------


class LedgerMoved(RuntimeError):
    """Another report was saved in the folder while this one was being built."""


@dataclass(frozen=True)
class Entry:
    number: int
    at: str  # when it was produced (UTC)
    seq: int  # the last event it covers
    epoch: str
    by: str
    files: tuple[str, ...] = ()


class Ledger:
    """`ledger.jsonl` in the report folder: one line per report, the newest last."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "ledger.jsonl"

    def last(self) -> Entry | None:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return None
        for line in reversed(lines):
            try:
                data = json.loads(line)
                return Entry(int(data["number"]), str(data["at"]), int(data["seq"]), str(data["epoch"]), str(data.get("by", "")), tuple(data.get("files", ())))
            except (ValueError, KeyError, TypeError):
                continue  # a torn last line (a crash mid-write) does not stop the next report
        return None

    def next_number(self) -> int:
        last = self.last()
        return last.number + 1 if last else 1

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One report saved at a time in this folder (the server's clock, `opsmon sitrep
        --save`, the dashboard's `w`): the number is checked and taken under the lock."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / "ledger.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def write(self, doc: dict[str, Any], outputs: dict[str, bytes], *, seq: int, epoch: str) -> list[Path]:
        """Save the report: each format as sitrep-NNNN-YYYYMMDD-HHMM.<ext> (local time),
        then one ledger line. One number per report, whatever its formats; LedgerMoved
        when another report took the number since `doc` was built (build it again: its
        period starts where that one ended)."""
        if doc.get("number") is None:
            raise ValueError("a preview is not saved: build the report with the ledger's next number")
        with self._locked():
            if doc["number"] != self.next_number():
                raise LedgerMoved(f"report No. {doc['number']} was taken by another report in {self.folder}")
            return self._write(doc, outputs, seq=seq, epoch=epoch)

    def keep(self, doc: dict[str, Any], outputs: dict[str, bytes], *, seq: int, epoch: str) -> list[Path]:
        """Save a report the server numbered (`sitrep`): its files and a ledger line,
        the local record. No check against the folder's own numbering: the number
        is the post's, handed out by the server, whoever else saves reports elsewhere."""
        if doc.get("number") is None:
            raise ValueError("a preview is not saved: ask the server for the report's number (`sitrep`)")
        with self._locked():
            return self._write(doc, outputs, seq=seq, epoch=epoch)

    def _write(self, doc: dict[str, Any], outputs: dict[str, bytes], *, seq: int, epoch: str) -> list[Path]:
        local = parse_ts(doc["generated"]).astimezone(doc_tz(doc))
        stem = f"sitrep-{doc['number']:04d}-{local:%Y%m%d-%H%M}"
        paths = []
        for fmt, data in outputs.items():
            path = self.folder / f"{stem}.{SUFFIX[fmt]}"
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)  # never a half-written report where the chain will look
            paths.append(path)
        self.record_doc(doc, seq=seq, epoch=epoch, files=tuple(p.name for p in paths))
        return paths

    def record_doc(self, doc: dict[str, Any], *, seq: int, epoch: str, files: tuple[str, ...] = ()) -> None:
        self.record(Entry(doc["number"], doc["generated"], seq, epoch, doc["by"], files))

    def record(self, entry: Entry) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        line = json.dumps(
            {"number": entry.number, "at": entry.at, "seq": entry.seq, "epoch": entry.epoch, "by": entry.by, "files": list(entry.files)}, ensure_ascii=False
        )
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")


def parse_since(text: str, now: datetime, tz: tzinfo) -> datetime:
    """--since: "21:00" (the last such time in the province's zone), "2024-02-14 21:00"
    (local), or an RFC 3339 time with its zone ("2024-02-14T13:00:00Z")."""
    value = text.strip()
    try:
        if len(value) in (4, 5) and ":" in value:
            hour, minute = (int(part) for part in value.split(":"))
            local_now = now.astimezone(tz)
            moment = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
            if moment > local_now:
                moment -= timedelta(days=1)
            return moment.astimezone(UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a time: give HH:MM (today, {tz.tzname(None)}), 'YYYY-MM-DD HH:MM' or an RFC 3339 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC)
