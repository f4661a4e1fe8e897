"""The words of a situation report in one language: labels, numbers and times
as the text, Markdown and PDF renderings all say them (one home, so the PDF
and the text report cannot drift apart)."""

from __future__ import annotations

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


def _local(ts: str, tz: tzinfo, *, date: bool = False) -> str:
    when = parse_ts(ts).astimezone(tz)
    return f"{when:%d/%m/%Y %H:%M} {when.tzname()}" if date else f"{when:%H:%M} {when.tzname()}"


class Words:
    """Labels for one document in one language."""

    def __init__(self, doc: dict[str, Any], lang: str) -> None:
        self.doc, self.lang, self.tr, self.tz = doc, lang, Translator(lang), doc_tz(doc)
        self.labels = doc["labels"]

    def severity(self, key: str) -> str:
        return str(self.labels["severities"].get(key, {}).get(self.lang, key))

    def category(self, key: str) -> str:
        return str(self.labels["categories"].get(key, {}).get(self.lang, key))

    def regency(self, code: str | None) -> str:
        return str(self.labels["regencies"].get(code, code or "?"))

    def age(self, minutes: int) -> str:
        return self.tr.age(timedelta(minutes=minutes))

    def heading(self) -> list[str]:
        doc, tr = self.doc, self.tr
        title = tr("sitrep.title", number=doc["number"])
        exercise = doc.get("exercise")
        if exercise:
            title = f"{BANNER['en' if self.lang == 'en' else 'id']}: {exercise['name']} · {title}"
        out = [
            title,
            f"{doc['post']} · {doc['province']['name']}",
            _local(doc["generated"], self.tz, date=True),
            tr("sitrep.by", who=doc["by"]),
        ]
        out.append(tr("sitrep.period", since=_local(doc["since"], self.tz, date=True)) if doc["since"] else tr("sitrep.period_all"))
        return out

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
            line = tr(
                "sitrep.correction", regency=self.regency(fix["regency"]), stage=stage, was=was, now=number(fix["to"], lang), time=_local(fix["at"], self.tz)
            )
            out.append(line + (" (" + fix["note"].replace("\n", " ") + ")" if fix["note"] else ""))
        return out

    def regency_line(self, line: dict[str, Any]) -> str:
        tr = self.tr
        if line["stage"] is None:
            return f"{line['short']}: {tr('panel.all_done')}"
        text = f"{line['short']}: {line['stage_label'][self.lang]} {number(line['done'], self.lang)}/{number(line['total'], self.lang)}"
        if line["blocked"]:
            text += " " + tr("panel.blocked") + (f" ({line['note']})" if line["note"] else "")
        return text

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
        status = tr("sitrep.snoozed", time=_local(snoozed, self.tz)) if snoozed else tr("status." + item["status"])
        head = f"#{item['id']} {self.severity(item['severity'])} · {self.regency(item['regency'])} · {self.age(item['age_minutes'])} · {status}"
        if item["level"]:
            head += " · " + tr("sitrep.level", level=item["level"])
        rest = [item["title"]]
        rest.append(tr("sitrep.owner", who=item["owner"]) if item["owner"] else tr("sitrep.no_owner"))
        if item["reports"] > 1:
            rest.append(tr("sitrep.reports", count=item["reports"]))
        note = item["last_note"]
        if note:
            rest.append(tr("sitrep.last_note", time=_local(note["at"], self.tz), who=self.who(note["by"]), text=note["text"]))
        return head, rest

    def escalation(self, item: dict[str, Any]) -> tuple[str, list[str]]:
        head = self.tr("sitrep.escalation", id=item["id"], level=item["level"], time=_local(item["at"], self.tz), who=self.who(item["by"]))
        rest = [f"{self.regency(item['regency'])}: {item['title']}"]
        if item["note"]:
            rest.append(item["note"])
        return head, rest

    def resolved(self, item: dict[str, Any]) -> tuple[str, list[str]]:
        head = self.tr("sitrep.resolved_line", id=item["id"], regency=self.regency(item["regency"]), who=self.who(item["by"]), time=_local(item["at"], self.tz))
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
