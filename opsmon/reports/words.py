"""The words of a situation report in one language: labels, numbers and times
as the text, Markdown and PDF renderings all say them (one home, so the PDF
and the text report cannot drift apart)."""

from __future__ import annotations

import re
from datetime import timedelta, timezone, tzinfo
from typing import Any

from opsmon.core.clock import parse_ts
from opsmon.core.i18n import Translator
from opsmon.training.exercise import BANNER


def doc_tz(doc: dict[str, Any]) -> tzinfo:
    province = doc["province"]
    return timezone(timedelta(hours=province["utc_offset_hours"]), province["timezone_name"])


def number(value: float, lang: str, decimals: int = 0) -> str:
    """13.584 and 71,4 in Indonesian; 13,584 and 71.4 in English."""
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".") if lang == "id" else text


LONG_PERIOD = timedelta(days=1)


def report_time(ts: str, tz: tzinfo, *, start: str | None, end: str | None, zone: bool = True) -> str:
    """A time as every report says it, decided once from the report's period (start, end]:
    "21:40 WITA" in a report of one night; "16/02 21:40 WITA" when the period spans more
    than a day (a recapitulation of three weeks), and whenever the moment is not on the
    period's last day (a night past midnight, a snooze into tomorrow)."""
    moment = parse_ts(ts).astimezone(tz)
    last = parse_ts(end).astimezone(tz) if end else moment
    long = start is not None and end is not None and parse_ts(end) - parse_ts(start) > LONG_PERIOD
    said = f"{moment:%d/%m %H:%M}" if long or moment.date() != last.date() else f"{moment:%H:%M}"
    return f"{said} {moment.tzname()}" if zone else said


def _local(ts: str, tz: tzinfo, *, date: bool = False) -> str:
    when = parse_ts(ts).astimezone(tz)
    return f"{when:%d/%m/%Y %H:%M} {when.tzname()}" if date else f"{when:%H:%M} {when.tzname()}"


class Words:
    """Labels for one document in one language."""

    def __init__(self, doc: dict[str, Any], lang: str) -> None:
        self.doc, self.lang, self.tr, self.tz = doc, lang, Translator(lang), doc_tz(doc)
        self.labels = doc["labels"]
        # The period the times are said against: from `since` (or, from the start, the period's first report) to its end.
        self.end = doc.get("until") or doc["generated"]
        self.start = doc.get("since") or (doc.get("chart") or {}).get("from")

    def severity(self, key: str) -> str:
        return str(self.labels["severities"].get(key, {}).get(self.lang, key))

    def category(self, key: str) -> str:
        return str(self.labels["categories"].get(key, {}).get(self.lang, key))

    def regency(self, code: str | None) -> str:
        return str(self.labels["regencies"].get(code, code or "?"))

    def age(self, minutes: int) -> str:
        return self.tr.age(timedelta(minutes=minutes))

    def title(self) -> str:
        doc, tr = self.doc, self.tr
        # A preview takes no number: it is never mistaken for a report that went up the chain.
        title = tr("sitrep.title", number=doc["number"]) if doc.get("number") is not None else tr("sitrep.title_preview")
        exercise = doc.get("exercise")
        if exercise:
            title = f"{BANNER['en' if self.lang == 'en' else 'id']}: {exercise['name']} · {title}"
        return title

    def post(self) -> str:
        """The post's name with its year (the year the period ends in, unless the name has one)."""
        name = str(self.doc["post"])
        if re.search(r"\b(19|20)\d\d\b", name):
            return name
        return f"{name} {parse_ts(self.doc['generated']).astimezone(self.tz).year}".strip()

    def period(self) -> str:
        doc, tr = self.doc, self.tr
        end = parse_ts(doc.get("until") or doc["generated"]).astimezone(self.tz)
        until = _local(doc.get("until") or doc["generated"], self.tz, date=True)
        if doc["since"]:
            start = parse_ts(doc["since"]).astimezone(self.tz)
            if start.date() == end.date():  # 14/02/2024 20:30 s.d. 21:30 WITA
                return tr("sitrep.period_span", since=f"{start:%d/%m/%Y %H:%M}", until=f"{end:%H:%M} {end.tzname()}")
            return tr("sitrep.period_span", since=f"{start:%d/%m/%Y %H:%M}", until=until)
        return tr("sitrep.period_upto", until=until)

    def heading(self) -> list[str]:
        """The title, the kop in one line (post and year, province), the period in WITA."""
        return [self.title(), f"{self.post()} · {self.doc['province']['name']}", self.period()]

    def kop(self) -> list[str]:
        """The paper's letterhead: the post and its year, the province."""
        return [self.post().upper(), self.tr("sitrep.province_of", name=self.doc["province"]["name"]).upper()]

    def date_words(self, ts: str) -> str:
        """14 Februari 2024."""
        when = parse_ts(ts).astimezone(self.tz)
        return f"{when.day} {self.tr(f'month.{when.month}')} {when.year}"

    def closing(self) -> list[str]:
        """ "Demikian laporan ini dibuat", place and date, then who signs: position, name, rank.
        Never a token's name: the signatory is the post's, from [sitrep]."""
        sign = self.doc.get("signatory") or {}
        lines = [self.tr("sitrep.closing")]
        place = sign.get("place") or ""
        date = self.date_words(self.doc["generated"])
        lines.append(self.tr("sitrep.signed", place=place, date=date) if place else date)
        lines += [line for line in (sign.get("position"), sign.get("name"), sign.get("rank")) if line]
        return lines

    def duty_heading(self) -> str:
        """ "Piket jaga pukul 21:30 WITA": the shifts in force as the period ended."""
        return self.tr("sitrep.duty", time=_local(self.end, self.tz))

    def duty(self) -> list[str]:
        """A line per roster: "Polri Tanah Bumbu: Brigpol Andi (19:00-07:00), pengawas AKP Budi"."""
        lines = []
        for shift in self.doc.get("duty") or []:
            where = " ".join(self.regency(code) for code in shift["regencies"])
            names = ", ".join(p["name"] for p in shift["people"])
            line = self.tr("sitrep.duty_line", desk=f"{shift['desk']} {where}".strip(), people=names, start=shift["start"], end=shift["end"])
            if shift.get("supervisor"):
                line += self.tr("sitrep.duty_supervisor", name=shift["supervisor"])
            lines.append(line)
        return lines

    def progress(self) -> list[str]:
        p, tr, lang = self.doc["progress"], self.tr, self.lang
        tps, kec, plen = p["tps"], p["kecamatan"], p["regency_plenaries"]
        out = [
            tr("sitrep.tps", done=number(tps["done"], lang), total=number(tps["total"], lang), percent=number(tps["percent"], lang, 1)),
            tr("sitrep.kecamatan", done=number(kec["done"], lang), total=number(kec["total"], lang)),
            tr("sitrep.plenaries", done=plen["done"], total=plen["total"]),
        ]
        top = p["province_plenary"]
        if top is not None:
            state = "sitrep.province.done" if top["done"] else "sitrep.province.blocked" if top["blocked"] else "sitrep.province.pending"
            out.append(tr("sitrep.province", state=tr(state)))
        for fix in p.get("corrections", ()):
            stage = fix["stage_label"][lang] if fix["stage_label"] else fix["stage"]
            was = number(fix["from"], lang) + (" " + tr("panel.blocked") if fix["from_status"] == "blocked" else "")
            line = tr("sitrep.correction", regency=self.regency(fix["regency"]), stage=stage, was=was, now=number(fix["to"], lang), time=self.when(fix["at"]))
            out.append(line + (" (" + fix["note"].replace("\n", " ") + ")" if fix["note"] else ""))
        return out

    def regency_line(self, line: dict[str, Any]) -> str:
        tr = self.tr
        if line["stage"] is None:
            return f"{line['short']}: {tr('panel.all_done')}"
        text = f"{line['short']}: {line['stage_label'][self.lang]} {self.done_total(line)}"
        if line["blocked"]:
            text += " " + tr("panel.blocked") + (f" ({line['note']})" if line["note"] else "")
        return text

    def done_total(self, line: dict[str, Any]) -> str:
        """ "500/648", with a star where the total is an estimated TPS figure (see estimate_note)."""
        star = "*" if line.get("estimated") else ""
        return f"{number(line['done'], self.lang)}/{number(line['total'], self.lang)}{star}"

    def estimate_note(self) -> list[str]:
        """The footnote for starred totals: which regencies' TPS figures are estimates."""
        estimated = [line["short"] for line in self.doc["regencies"] if line.get("estimated")]
        return [self.tr("sitrep.estimated", regencies=", ".join(estimated))] if estimated else []

    def who(self, name: str) -> str:
        return self.tr("sitrep.system") if name == "system" else name

    def counts(self, width: int = 0) -> list[str]:
        """Counts by severity, category and regency; `width` > 0 wraps the lists for a phone."""
        inc, tr = self.doc["incidents"], self.tr
        out = [" · ".join(f"{self.severity(s)} {n}" for s, n in inc["by_severity"].items())]
        if inc["by_category"]:
            out += _listing(tr("sitrep.by_category"), [f"{self.category(k)} {n}" for k, n in inc["by_category"].items()], width)
        if inc["by_regency"]:
            out += _listing(tr("sitrep.by_regency"), [f"{self.regency(k)} {n}" for k, n in inc["by_regency"].items()], width)
        if inc["duplicates_folded"]:
            out.append(tr("sitrep.folded", count=inc["duplicates_folded"]))
        return out

    def urgent(self, item: dict[str, Any]) -> tuple[str, list[str]]:
        tr = self.tr
        # A snoozed incident is still "open" in the log: the report says it is snoozed and until when.
        snoozed = item.get("snoozed_until")
        status = tr("sitrep.snoozed", time=self.when(snoozed)) if snoozed else tr("status." + item["status"])
        head = f"#{item['id']} {self.severity(item['severity'])} · {self.regency(item['regency'])} · {self.age(item['age_minutes'])} · {status}"
        if item["level"]:
            head += " · " + tr("sitrep.level", level=item["level"])
        rest = [item["title"]]
        rest.append(tr("sitrep.owner", who=item["owner"]) if item["owner"] else tr("sitrep.no_owner"))
        if item["reports"] > 1:
            rest.append(tr("sitrep.reports", count=item["reports"]))
        note = item["last_note"]
        if note:
            rest.append(tr("sitrep.last_note", time=self.when(note["at"]), who=self.who(note["by"]), text=note["text"]))
        return head, rest

    def summary(self) -> list[str]:
        """The report in four lines: what the first page says above the signature."""
        inc, tr = self.doc["incidents"], self.tr
        severities = " · ".join(f"{self.severity(s)} {n}" for s, n in inc["by_severity"].items())
        waiting = sum(1 for e in inc["escalated"] if e["status"] == "open")
        escalated = tr("sitrep.escalated", count=len(inc["escalated"]))
        if waiting:
            escalated += " (" + tr("sitrep.waiting", count=waiting) + ")"
        return [
            f"{tr('sitrep.incidents', count=inc['reported'])} ({severities})",
            tr("sitrep.urgent", count=len(inc["open_urgent"])),
            escalated,
            tr("sitrep.resolved", count=len(inc["resolved"])),
            tr("sitrep.see_attachment"),
        ]

    def when(self, ts: str) -> str:
        """A time in this report: with its date when the period is long (`report_time`)."""
        return report_time(ts, self.tz, start=self.start, end=self.end)

    def escalated(self, item: dict[str, Any]) -> tuple[str, list[str]]:
        """One escalated incident: its current level and whether it is still waiting for an ack."""
        tr = self.tr
        if item["status"] == "open":
            state = tr("sitrep.unacked_since", time=self.when(item["unacked_since"]))
        elif item["status"] == "acknowledged" and item["acknowledged"]:
            state = tr("sitrep.acked_at", time=self.when(item["acknowledged"]))
        else:
            state = tr("status." + item["status"])
        head = tr("sitrep.escalated_line", id=item["id"], regency=self.regency(item["regency"]), level=item["level"], state=state)
        rest = [item["title"], tr("sitrep.escalated_times", count=item["times"], time=self.when(item["last"]), who=self.who(item["last_by"]))]
        rest += item["notes"]
        return head, rest

    def resolved(self, item: dict[str, Any]) -> tuple[str, list[str]]:
        head = self.tr("sitrep.resolved_line", id=item["id"], regency=self.regency(item["regency"]), who=self.who(item["by"]), time=self.when(item["at"]))
        rest = [item["title"]]
        if item["note"]:
            rest.append(self.tr("sitrep.resolution", text=item["note"]))
        return head, rest


def _listing(title: str, items: list[str], width: int) -> list[str]:
    """ "Title: a, b, c" on one line, or wrapped under the title at `width`."""
    if width <= 0:
        return [f"{title}: " + ", ".join(items)]
    lines, line = [f"{title}:"], ""
    for item in items:
        candidate = f"{line}, {item}" if line else item
        if line and len(candidate) > width:
            lines.append(line + ",")
            line = item
        else:
            line = candidate
    return [*lines, line] if line else lines
