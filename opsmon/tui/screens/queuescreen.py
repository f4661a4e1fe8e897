"""The queue's keys, for every screen that shows an IncidentQueue (the dashboard, the
regency screen): moving the cursor, marking, and every verb on the selected incident
(or the marked ones). One definition, so `a` on the regency screen is `a` on the dashboard."""

from __future__ import annotations

from opsmon.tui.screens.live import LiveScreen
from opsmon.tui.widgets.queue import IncidentQueue


class QueueScreen(LiveScreen):
    """A live screen with one IncidentQueue; `marked` is the screen's own."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 (Textual's word)
        super().__init__(id=id)
        self.marked: set[int] = set()

    @property
    def selected_id(self) -> int | None:
        """The incident under the cursor, if the officer can see it: at 80x24 the map
        replaces the queue, and a key must not act on a row nobody sees."""
        table = self.query_one(IncidentQueue)
        return table.selected_id if table.shows_selection() else None

    def _marked_shown(self) -> bool:
        """Marked incidents count only while the queue that marks them is on screen."""
        return bool(self.marked) and self.query_one(IncidentQueue).shows_selection()

    def action_cursor_down(self) -> None:
        self.query_one(IncidentQueue).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one(IncidentQueue).action_cursor_up()

    def action_cursor_top(self) -> None:
        """g: the top of the queue, where the most urgent unacknowledged incident is."""
        self.query_one(IncidentQueue).action_cursor_top()

    def action_cursor_bottom(self) -> None:
        self.query_one(IncidentQueue).action_cursor_bottom()

    def action_half_page_down(self) -> None:
        self.query_one(IncidentQueue).action_half_page_down()

    def action_half_page_up(self) -> None:
        self.query_one(IncidentQueue).action_half_page_up()

    def action_page_down(self) -> None:
        self.query_one(IncidentQueue).action_page_down()

    def action_page_up(self) -> None:
        self.query_one(IncidentQueue).action_page_up()

    def action_handover(self) -> None:
        """H: the shift handover of the officer's desk and regencies."""
        self.opsmon.open_handover()

    def action_open_detail(self) -> None:
        if self.selected_id is None:
            self.opsmon.say(self.opsmon.tr("nothing.selected"), warning=True)
            return
        self.opsmon.open_detail(self.selected_id)

    def action_ack(self) -> None:
        if self._marked_shown():
            ids = self.query_one(IncidentQueue).in_order(self.marked)
            self.marked.clear()
            self.opsmon.commander.acknowledge(ids)
            self.opsmon.mark_dirty()
        elif self.selected_id is not None:
            self.opsmon.commander.acknowledge([self.selected_id])
        else:
            self.opsmon.say(self.opsmon.tr("nothing.selected"), warning=True)

    def _targets(self) -> list[int]:
        """The marked incidents (in queue order, then unmarked), else the selected one."""
        if self._marked_shown():
            ids = self.query_one(IncidentQueue).in_order(self.marked)
            self.marked.clear()
            self.opsmon.mark_dirty()
            return ids
        if self.selected_id is None:
            self.opsmon.say(self.opsmon.tr("nothing.selected"), warning=True)
            return []
        return [self.selected_id]

    def action_snooze(self) -> None:
        self.opsmon.commander.snooze(self._targets())

    def action_take(self) -> None:
        self.opsmon.commander.take(self._targets())

    def action_assign(self) -> None:
        self.opsmon.commander.assign(self._targets())

    def action_change_severity(self) -> None:
        if self.selected_id is None:
            self.opsmon.say(self.opsmon.tr("nothing.selected"), warning=True)
            return
        self.opsmon.commander.change_severity(self.selected_id)

    def action_unack(self) -> None:
        self._with_selected("unack")

    def action_merge(self) -> None:
        if self.selected_id is None:
            self.opsmon.say(self.opsmon.tr("nothing.selected"), warning=True)
            return
        self.opsmon.commander.merge(self.selected_id)

    def _with_selected(self, action: str) -> None:
        if self.selected_id is None:
            self.opsmon.say(self.opsmon.tr("nothing.selected"), warning=True)
            return
        self.opsmon.commander.ask(action, self.selected_id)

    def action_escalate(self) -> None:
        if self._marked_shown():
            self.opsmon.commander.ask("escalate", self._targets())
            return
        self._with_selected("escalate")

    def action_note(self) -> None:
        self._with_selected("note")

    def action_resolve(self) -> None:
        if self._marked_shown():
            self.opsmon.commander.ask("resolve", self._targets())
            return
        self._with_selected("resolve")

    def action_reopen(self) -> None:
        self._with_selected("reopen")

    def action_mark(self) -> None:
        incident_id = self.selected_id
        if incident_id is None:
            return
        tr = self.opsmon.tr
        if incident_id in self.marked:
            self.marked.discard(incident_id)
            self.opsmon.say(tr("unmarked", id=incident_id, count=len(self.marked)), timeout=2)
        else:
            self.marked.add(incident_id)
            self.opsmon.say(tr("marked", id=incident_id, count=len(self.marked)), timeout=2)
        self.opsmon.mark_dirty()  # the cursor stays: j/k move, space only marks
