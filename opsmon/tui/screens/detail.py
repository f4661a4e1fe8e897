"""One incident in full: text, location, reporter, its timeline and notes."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from opsmon.core.fold import fold, touches
from opsmon.core.i18n import local_datetime, who
from opsmon.core.protocol import Event
from opsmon.core.records import Incident, NoteEntry
from opsmon.core.state import State
from opsmon.core.text import for_terminal
from opsmon.core.urgency import ack_deadline, event_summary, event_text, status_word
from opsmon.core.view import event_said, step, told, told_lines, totals
from opsmon.tui.actions import DETAIL, bindings
from opsmon.tui.screens.live import LiveScreen
from opsmon.tui.widgets.footer import KeyFooter
from opsmon.tui.widgets.notices import NoticeBar
from opsmon.tui.widgets.status import HeaderBar, OfflineBanner


class IncidentScreen(LiveScreen):
    SCOPE = DETAIL
    BINDINGS = bindings(DETAIL)

    def __init__(self, incident_id: int) -> None:
        super().__init__(id="detail")
        self.incident_id = incident_id
        self.timeline: list[Event] | None = None
        self.timeline_error: str | None = None
        self.ready = False

    def compose(self) -> ComposeResult:
        yield HeaderBar()
        yield OfflineBanner()
        with VerticalScroll(id="detail-body"):
            yield Static(id="detail-facts")
            yield Static(id="detail-timeline")
        yield NoticeBar()  # notices take rows of their own: never over the work
        yield KeyFooter()

    def on_mount(self) -> None:
        self.ready = True
        self.refresh_view()
        self.opsmon.load_history(self)

    def show_timeline(self, events: list[Event] | None, error: str | None = None) -> None:
        self.timeline, self.timeline_error = events, error
        self.refresh_view()

    def refresh_view(self) -> None:
        if not self.ready:
            return  # the repaint timer can fire between push_screen and mount
        app = self.opsmon
        tr, tz, lookup = app.tr, app.tz, app.lookup
        header = self.query_one(HeaderBar)
        header.tr, header.now, header.tz, header.stale = tr, app.now(), tz, not app.online and app.welcome is not None
        if app.welcome is not None:
            header.user, header.province = app.welcome.user, app.province_name
        header.read_only = app.is_wall
        header.follow(app.lookup, app.ground)
        if lookup is not None:
            header.totals = totals(app.state, lookup.config, app.now(), app.counted())
        header.refresh()
        self.query_one(OfflineBanner).show(app.banner_text())
        incident = app.state.incidents.get(self.incident_id)
        facts = self.query_one("#detail-facts", Static)
        if incident is None or lookup is None:
            facts.update(Text(tr("detail.gone"), self.style_for("strong")))
            return
        notes = self._every_note(incident)
        none = tr("detail.none")
        title = Text()
        title.append(tr("detail.title", id=incident.id) + "  ", self.style_for("strong"))
        title.append(for_terminal(incident.title), self.style_for("strong"))
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 0), expand=False)
        table.add_column(style=self.style_for("strong"), no_wrap=True)
        table.add_column()
        status = tr("status." + status_word(incident))
        if incident.status == "open" and app.is_overdue(incident):
            status += " " + tr("status.overdue")
        _row(table, tr("detail.regency"), lookup.regency_name(incident.regency))
        _row(table, tr("detail.category"), lookup.category(incident.category))
        _row(table, tr("detail.severity"), f"{tr('sev.letter.' + incident.severity)}: {lookup.severity(incident.severity)}")
        _row(table, tr("detail.status"), status)
        if incident.owner is not None:
            _row(table, tr("detail.owner"), who(incident.owner))
        if incident.snoozed_until is not None:
            _row(table, tr("detail.snoozed"), local_datetime(incident.snoozed_until, tz))
        if incident.merged_into is not None:
            _row(table, tr("detail.merged_into"), f"#{incident.merged_into}")
        _row(table, tr("detail.level"), step(tr, incident) or "0")
        reached = told(self._events())
        if reached:  # whom the chain's steps told, and on which channel (notification.sent / failed)
            for n, reach in enumerate(told_lines(reached, tr)):
                _row(table, "" if n else tr("detail.told"), reach)
        _row(table, tr("detail.location"), for_terminal(incident.location) or none)
        _row(table, tr("detail.reporter"), who(incident.reporter))
        if incident.inject and app.welcome is not None and app.welcome.user.role == "admin":
            _row(table, tr("detail.inject"), tr("detail.inject.yes"))  # the trainer's own mark: a trainee's screen never shows it
        _row(table, tr("detail.reported"), local_datetime(incident.reported, tz))
        due = ack_deadline(incident)
        if due is not None:  # nothing is due once acknowledged, snoozed, merged or resolved
            _row(table, tr("detail.ack_due"), local_datetime(due, tz))
        acked = f"{who(incident.acknowledged_by)} {local_datetime(incident.acknowledged, tz)}" if incident.acknowledged else none
        _row(table, tr("detail.acked"), acked)
        resolved = f"{who(incident.resolved_by)} {local_datetime(incident.resolved, tz)}" if incident.resolved else none
        _row(table, tr("detail.resolved"), resolved)
        body = Table.grid()
        body.add_row(title)
        body.add_row(table)
        body.add_row(Text(""))
        body.add_row(Text(tr("detail.detail"), self.style_for("heading")))
        body.add_row(Text(for_terminal(incident.detail, multiline=True) or none))
        if incident.reports > 1:
            # Every report: the first, each repeat folded in, each incident merged into it.
            body.add_row(Text(""))
            body.add_row(Text(tr("detail.reports", count=incident.reports), self.style_for("heading")))
            first = Text()
            first.append(f"{local_datetime(incident.reported, tz)}  {who(incident.reporter)}: ", self.style_for("strong"))
            first.append(f"{for_terminal(incident.title)} ({tr('detail.report_first')})")
            body.add_row(first)
            for note in notes:
                if note.kind == "duplicate" or (note.kind == "merged" and incident.merged_into is None):
                    line = Text()
                    line.append(f"{local_datetime(note.ts, tz)}  {who(note.by)}: ", self.style_for("strong"))
                    line.append(for_terminal(note.text, multiline=True) + (f" ({tr('detail.report_merged')})" if note.kind == "merged" else ""))
                    body.add_row(line)
        body.add_row(Text(""))
        body.add_row(Text(tr("detail.notes"), self.style_for("heading")))
        if not notes:
            body.add_row(Text(tr("detail.no_notes"), self.style_for("quiet")))
        elif len(notes) == len(incident.notes) and incident.notes_before:
            # A snapshot carried only the last notes; the history brings the rest.
            body.add_row(Text(tr("detail.notes_before", count=incident.notes_before), self.style_for("quiet")))
        for note in notes:
            line = Text()
            line.append(f"{local_datetime(note.ts, tz)}  {who(note.by)}: ", self.style_for("strong"))
            line.append(for_terminal(note.text, multiline=True))
            body.add_row(line)
        facts.update(body)
        self._show_timeline()

    def _every_note(self, incident: Incident) -> list[NoteEntry]:
        """Its notes, every one: a snapshot carries only the last few (`notes_before`
        counts the rest), so once the history is here they are folded from it."""
        if not incident.notes_before or self.timeline is None:
            return incident.notes
        folded = fold(State(), self._events()).incidents.get(self.incident_id)
        return incident.notes if folded is None or len(folded.notes) < len(incident.notes) else folded.notes

    def _events(self) -> list[Event]:
        """The history the server gave, plus whatever has happened to it since (a merge into
        it too), in order; what arrived since it was opened alone while it loads."""
        events = {e.seq: e for e in self.timeline or ()}
        for event in self.opsmon.recent_events:
            if self.incident_id in touches(event):
                events.setdefault(event.seq, event)
        return sorted(events.values(), key=lambda e: e.seq)

    def _show_timeline(self) -> None:
        app = self.opsmon
        tr, tz, lookup = app.tr, app.tz, app.lookup
        out = Text()
        out.append("\n" + tr("detail.timeline") + "\n", self.style_for("heading"))
        if self.timeline_error is not None:
            out.append(for_terminal(tr("detail.timeline_failed", reason=self.timeline_error)), self.style_for("strong"))
        elif self.timeline is None:
            out.append(tr("detail.timeline_loading"), self.style_for("quiet"))
        else:
            for event in self._events():
                out.append(f"{local_datetime(event.ts, tz)}  ", self.style_for("strong"))
                out.append(f"{who(event.actor)}  ")
                level = getattr(event.data, "level", "")
                out.append(tr("event." + event.kind, level=level))
                text = event_text(event)
                if event.kind in ("incident.duplicate", "incident.assigned", "incident.snoozed", "incident.severity_changed", "incident.merged"):
                    text = (
                        event_said(event, lookup, tr, tz) if lookup is not None else event_summary(event, tz)
                    )  # the repeat's title, the new owner, until when, the severity, the target
                if text:
                    out.append(": " + for_terminal(str(text), multiline=True))
                out.append("\n")
        self.query_one("#detail-timeline", Static).update(out)

    # --- actions on this incident -----------------------------------------------

    def action_back(self) -> None:
        self.dismiss(None)

    def action_ack(self) -> None:
        self.opsmon.commander.acknowledge([self.incident_id])

    def action_escalate(self) -> None:
        self.opsmon.commander.ask("escalate", self.incident_id)

    def action_note(self) -> None:
        self.opsmon.commander.ask("note", self.incident_id)

    def action_resolve(self) -> None:
        self.opsmon.commander.ask("resolve", self.incident_id)

    def action_reopen(self) -> None:
        self.opsmon.commander.ask("reopen", self.incident_id)

    def action_snooze(self) -> None:
        self.opsmon.commander.snooze([self.incident_id])

    def action_take(self) -> None:
        self.opsmon.commander.take([self.incident_id])

    def action_assign(self) -> None:
        self.opsmon.commander.assign([self.incident_id])

    def action_change_severity(self) -> None:
        self.opsmon.commander.change_severity(self.incident_id)

    def action_unack(self) -> None:
        self.opsmon.commander.ask("unack", self.incident_id)

    def action_merge(self) -> None:
        self.opsmon.commander.merge(self.incident_id)


def _row(table: Table, label: str, value: str) -> None:
    """A fact as plain text: a Rich table reads a str cell as markup (`[/b]` in a location would raise)."""
    table.add_row(Text(label), Text(for_terminal(value)))
