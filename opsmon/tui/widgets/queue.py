"""The incident queue: most urgent first, one row per incident."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.widgets import DataTable

from opsmon.domain import is_overdue
from opsmon.i18n import CATALOG, Translator, who
from opsmon.protocol import Incident
from opsmon.tui.view import Lookup
from opsmon.tui.widgets.bars import cut

COLUMNS = ("mark", "status", "regency", "severity", "category", "title", "age", "acked_by")


def column_widths(width: int) -> dict[str, int]:
    """Fixed columns first; the title takes what is left (at least 16)."""
    widths = {"mark": 1, "status": 9, "regency": 12, "severity": 8, "category": 14, "age": 6, "acked_by": 16}
    if width < 110:
        widths.update(severity=3, category=10, acked_by=12, regency=11, status=8)
    if width < 90:
        widths.update(status=7, regency=10, category=8, age=5, acked_by=9)
    if width >= 160:
        widths.update(category=26, acked_by=20, severity=8)
    padding = 2 * len(COLUMNS)
    widths["title"] = max(16, width - sum(widths.values()) - padding - 2)
    return widths


class IncidentQueue(DataTable[Text]):
    """A DataTable keyed by incident id, so the cursor stays on an incident as rows move."""

    def __init__(self) -> None:
        super().__init__(id="queue", cursor_type="row", zebra_stripes=True)
        self.incident_ids: list[int] = []
        self._layout_width = 0
        self._signature: tuple[object, ...] | None = None
        self.hold_position = False  # after acting on the selected row: the next one moves under the cursor

    @property
    def selected_id(self) -> int | None:
        if not self.incident_ids:
            return None
        row = self.cursor_row
        return self.incident_ids[row] if 0 <= row < len(self.incident_ids) else None

    def select_incident(self, incident_id: int | None) -> None:
        if incident_id is not None and incident_id in self.incident_ids:
            self.move_cursor(row=self.incident_ids.index(incident_id), animate=False)

    def show(self, incidents: list[Incident], lookup: Lookup, tr: Translator, now: datetime, marked: set[int], *, keep: int | None, stale: bool) -> None:
        width = self.size.width or 80
        if width != self._layout_width or not self.columns:
            self._layout_width = width
            self.clear(columns=True)
            widths = column_widths(width)
            for key in COLUMNS:
                label = tr("col." + key)
                if len(label) > widths[key] and "col." + key + "_short" in CATALOG:
                    label = tr("col." + key + "_short")
                self.add_column(label, width=widths[key], key=key)
            self._signature = None
        widths = column_widths(width)
        minute = int(now.timestamp() // 60)
        signature = (minute, stale, tuple(sorted(marked)), tuple((i.id, i.status, i.level, i.acknowledged) for i in incidents))
        if signature == self._signature:
            return  # nothing a person could see has changed
        self._signature = signature
        selected = keep if keep is not None else (None if self.hold_position else self.selected_id)
        self.hold_position = False
        position = self.cursor_row
        self.clear()
        self.incident_ids = [i.id for i in incidents]
        rows = [self._row(i, lookup, tr, now, marked, widths, stale) for i in incidents]
        for incident, row in zip(incidents, rows, strict=True):
            self.add_row(*row, key=str(incident.id))
        if selected in self.incident_ids:
            self.move_cursor(row=self.incident_ids.index(selected), animate=False)
        elif self.incident_ids:
            self.move_cursor(row=min(max(position, 0), len(self.incident_ids) - 1), animate=False)

    def _row(self, incident: Incident, lookup: Lookup, tr: Translator, now: datetime, marked: set[int], widths: dict[str, int], stale: bool) -> list[Text]:
        from opsmon.protocol import parse_ts

        dim = "dim" if stale or incident.status == "resolved" else ""
        status = tr("status." + incident.status)
        overdue = is_overdue(incident, now)
        if overdue:
            status = tr("status.overdue")
        if incident.level:
            status += " " + tr("status.level", level=incident.level)
        severity_word = lookup.severities.get(incident.severity, incident.severity)
        letter = tr("sev.letter." + incident.severity)
        severity = letter if widths["severity"] < 6 else f"{letter}:{severity_word}"
        sev_style = {"critical": "bold reverse", "high": "bold"}.get(incident.severity, "")
        status_style = "bold reverse" if overdue else ("bold" if incident.status == "open" else "")
        acked = who(incident.acknowledged_by) if incident.acknowledged_by is not None and incident.status == "acknowledged" else ""
        if incident.status == "resolved":
            acked = who(incident.resolved_by)
        return [
            Text("*" if incident.id in marked else " ", "bold reverse" if incident.id in marked else ""),
            Text(cut(status, widths["status"]), status_style or dim),
            Text(cut(lookup.regency_short(incident.regency), widths["regency"]), dim),
            Text(cut(severity, widths["severity"]), sev_style or dim),
            Text(cut(lookup.categories.get(incident.category, incident.category), widths["category"]), dim),
            Text(cut(f"#{incident.id} {incident.title}", widths["title"]), dim),
            Text(tr.age(now - parse_ts(incident.reported)), dim),
            Text(cut(acked, widths["acked_by"]), dim),
        ]
