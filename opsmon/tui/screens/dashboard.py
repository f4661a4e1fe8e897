"""The dashboard: header, regency grid, incident queue (or, on the wall, a ticker)."""

from __future__ import annotations

import time

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.widgets import Input, Static

from opsmon.core.urgency import in_snapshot
from opsmon.core.view import SEVERITIES, SORTS, QueueFilter, QueueIndex, incident_number, summarize, totals
from opsmon.core.view import latest as latest_incidents
from opsmon.tui.actions import DASHBOARD, bindings
from opsmon.tui.plain import plain
from opsmon.tui.screens.queuescreen import QueueScreen
from opsmon.tui.widgets.charts import NightCharts
from opsmon.tui.widgets.footer import KeyFooter
from opsmon.tui.widgets.notices import NoticeBar
from opsmon.tui.widgets.provincemap import ProvinceMap, legend_rows
from opsmon.tui.widgets.queue import IncidentQueue
from opsmon.tui.widgets.regency import DrawBudget, RegencyGrid, RegencyPanel
from opsmon.tui.widgets.roster import RosterLine
from opsmon.tui.widgets.status import HeaderBar, OfflineBanner, Ticker

CHARTS_HEIGHT = 6  # title, four severities, TPS counted
CHARTS_MIN_HEIGHT = 40
PANELS_PER_REPAINT = 4  # regency panels drawing a change of counts per repaint (DrawBudget)
# The queue's rows catch up this long a turn at most, then pause this long (a frame and a
# key's way through Textual's queues) before the next: about 10 us an incident, so the
# 10,000 a paged snapshot's pages bring in one repaint would be 100 ms in one go.
QUEUE_TURN_SECONDS = 0.008
QUEUE_PAUSE_SECONDS = 0.012


class DashboardScreen(QueueScreen):
    """Everything at once: 13 regency panels and the queue, keyboard only."""

    AUTO_FOCUS = None  # apply_mode focuses the queue, or nothing on the wall

    SCOPE = DASHBOARD
    BINDINGS = bindings(DASHBOARD)

    def __init__(self) -> None:
        super().__init__(id="dashboard")
        self.filter = QueueFilter()
        self.rows = QueueIndex()  # the queue's rows for this filter, kept as events arrive
        self._layout: tuple[int, int, bool, int] | None = None
        self.map_wanted: bool | None = None  # None: shown whenever there is room; the map key sets it
        self._initial_selection_done = False
        self._filter_shown: tuple[object, ...] | None = None
        self._title_shown: str | None = None
        self._panel_turn = 0
        self._queue_pending = False  # the queue's half of a repaint is waiting its turn (refresh_view)
        self.ready = False

    def compose(self) -> ComposeResult:
        yield HeaderBar()
        yield OfflineBanner()
        yield RosterLine()
        with Horizontal(id="body"):
            with Vertical(id="main"):
                with RegencyGrid(id="regencies"):
                    for code in self.opsmon.regency_codes():
                        yield RegencyPanel(code)
                with Vertical(id="queue-box"):
                    yield Static(id="queue-title")
                    yield IncidentQueue()
                    yield Input(id="filter")
                    yield Input(id="goto")
                yield NightCharts(id="charts")
                yield Ticker()
            yield ProvinceMap(self.opsmon.shape)
        yield NoticeBar()  # notices take rows of their own: never over the work
        yield KeyFooter()

    def on_mount(self) -> None:
        self.ready = True
        self.query_one("#filter", Input).display = False
        self.query_one("#goto", Input).display = False
        self.apply_mode()
        self.watch(self.app, "read_only", self.apply_mode, init=False)  # a viewer token turns it into the wall

    def apply_mode(self) -> None:
        wall = self.opsmon.is_wall
        self.set_class(wall, "-wall")
        self.query_one("#queue-box").display = not wall
        self.query_one(Ticker).display = wall
        self.query_one("#filter", Input).placeholder = self.opsmon.tr("queue.filter.placeholder")
        self.query_one("#goto", Input).placeholder = self.opsmon.tr("goto.placeholder")
        queue = self.query_one(IncidentQueue)
        # Hidden on the wall, the queue and its fields must not keep their keys there.
        queue.can_focus = self.query_one("#filter", Input).can_focus = self.query_one("#goto", Input).can_focus = not wall
        if wall:
            self.set_focus(None)
        else:
            queue.focus()
        self._layout = None
        self._reflow(self.size.width, self.size.height)
        self.refresh_bindings()

    # --- layout ------------------------------------------------------------------

    def on_resize(self, event: Resize) -> None:
        self._reflow(event.size.width, event.size.height)

    def _reflow(self, width: int, height: int) -> None:
        if not width or not height or not self.ready:
            return
        grid = self.query_one(RegencyGrid)
        panels = len(self.opsmon.regency_codes())
        map_width = self._map_width(width, height, panels)
        # The wall shows the night's charts above its ticker when it is tall enough.
        charts = self.opsmon.is_wall and height >= CHARTS_MIN_HEIGHT
        self.query_one(NightCharts).display = charts
        columns, panel_height, boxed = grid.layout_for(width - map_width, height - (CHARTS_HEIGHT if charts else 0), self.opsmon.is_wall, panels)
        layout = (columns, panel_height, boxed, map_width)
        if layout == self._layout:
            return
        self._layout = layout
        province_map = self.query_one(ProvinceMap)
        province_map.display = map_width > 0
        province_map.styles.width = max(1, map_width)
        rows = -(-panels // columns)
        grid.styles.grid_size_columns = columns
        grid.styles.grid_rows = str(panel_height)
        grid.styles.height = rows * panel_height
        grid.set_class(boxed, "-boxed")
        grid.set_class(not boxed, "-compact")
        self.opsmon.mark_dirty()

    def _map_width(self, width: int, height: int, regencies: int) -> int:
        """Columns for the map beside the panels: 0 when hidden or when there is no room.
        The wall shows it from 120 columns, the officer's dashboard from 140 (the queue
        needs the width); the map key shows or hides it whatever the size."""
        shape = self.opsmon.shape
        if shape is None or self.map_wanted is False:
            return 0
        if self.map_wanted is None and width < (120 if self.opsmon.is_wall else 140):
            return 0
        rows = height - 2 - legend_rows(46, regencies) - 1  # header, footer, the legend, the title
        columns, _ = shape.size_for(width, max(4, rows))
        return max(40, min(int(width * 0.45), columns + 2))

    # --- showing state ---------------------------------------------------------------

    def refresh_view(self) -> None:
        if not self.ready:
            return  # the repaint timer can fire between push_screen and mount
        """Redraw from the app's state: called by the app's coalescing flush."""
        app = self.opsmon
        lookup, state = app.lookup, app.state
        now = app.now()
        stale = not app.online
        header = self.query_one(HeaderBar)
        header.tr, header.now, header.tz, header.stale = app.tr, now, app.tz, stale and app.welcome is not None
        header.read_only = app.is_wall
        header.follow(app.lookup, app.ground)
        header.connecting = app.tr("header.connecting", url=app.url)
        if app.welcome is not None:
            header.user = app.welcome.user
            header.province = app.province_name
        self.query_one(OfflineBanner).show(app.banner_text())
        self.query_one(RosterLine).show(app.absent_text)
        if lookup is None:
            header.refresh()
            ticker = self.query_one(Ticker)
            ticker.tr = app.tr  # "no data yet", in the officer's language
            ticker.refresh()
            return
        tally = app.counted()
        header.totals = totals(state, lookup.config, now, tally)
        header.refresh()
        if self.query_one(RegencyGrid).ensure_panels(self.opsmon.regency_codes()):
            self._layout = None
            self._reflow(self.size.width, self.size.height)
            self.opsmon.mark_dirty()  # the new panels fill on the next flush
            return
        summaries = summarize(state, lookup.config, now, tally)
        self.query_one(ProvinceMap).show(summaries, app.tr, self.filter.regency)
        budget = DrawBudget(PANELS_PER_REPAINT)
        self._panel_turn = (self._panel_turn + PANELS_PER_REPAINT) % max(1, len(summaries))
        for summary in summaries[self._panel_turn :] + summaries[: self._panel_turn]:  # each panel's turn comes
            panel = self.query_one(f"#regency-{summary.code}", RegencyPanel)
            rows = {stage: (row.done, row.total) for (code, stage), row in state.stages.items() if code == summary.code}
            outside = not app.is_wall and not app.ground.covers_regency(summary.code)
            panel.show(
                summary,
                lookup,
                app.tr,
                now,
                focused=summary.code == self.filter.regency,
                stale=stale,
                outside=outside,
                stage_rows=rows,
                wall=app.is_wall,
                budget=budget,
            )
        if budget.held:
            app.mark_dirty()  # the panels held back draw on the next repaint
        if app.is_wall:
            self.query_one(Ticker).show(latest_incidents(state, 40, now), lookup, app.tr, app.tz, now)
            charts = self.query_one(NightCharts)
            if charts.display:
                charts.show(app.night(), lookup, app.tr, app.tz)
            return
        if not self._queue_pending:
            # The queue on the next turn of this screen's queue, not in this one: folding the
            # changes into its rows is most of a repaint while a paged snapshot's pages arrive
            # (tens of ms), and a key pressed meanwhile is handled between the two halves.
            self._queue_pending = True
            self.call_later(self._show_queue)

    def _show_queue(self) -> None:
        self._queue_pending = False
        if not self.is_attached:
            return  # the app is going
        app = self.opsmon
        lookup, state, now = app.lookup, app.state, app.now()
        if lookup is None or app.is_wall:
            return
        stale = not app.online
        shown = self.rows.update(state, app.changes, lookup, self.filter, now, app.ground, until=time.perf_counter() + QUEUE_TURN_SECONDS)
        if not shown.caught_up:
            # A paged snapshot's pages (thousands of incidents a turn): the rest on a later
            # turn, after a pause in which a key pressed meanwhile is handled and painted.
            self._queue_pending = True
            self.set_timer(QUEUE_PAUSE_SECONDS, self._show_queue)
        self.marked -= {i for i in self.marked if i not in shown or shown.seen[i].status == "resolved"}
        table = self.query_one(IncidentQueue)
        keep = None
        if not self._initial_selection_done and len(shown):
            # On start: the most urgent unacknowledged incident, so `a` acts on it.
            keep = shown.id_at(0)
            self._initial_selection_done = True
        lost = table.show(shown, lookup, app.tr, now, self.marked, keep=keep, stale=stale)
        view = (self.filter.text, self.filter.severity, self.filter.unacked_only, self.filter.regency, app.ground)
        if lost is not None and view == self._filter_shown and table.selected_id is not None:
            # It left the queue (resolved or merged elsewhere): never land on another silently.
            app.say(app.tr("cursor.moved", gone=lost, id=table.selected_id), warning=True, timeout=4)
            table.following = table.selected_id  # it left for good (no filter hides it): follow the one now under the cursor
        self._filter_shown = view
        self._update_title(shown.open_work)

    def _update_title(self, count: int) -> None:
        app, view = self.opsmon, self.filter
        tr = app.tr
        # A paged snapshot's rest still coming (or not yet in the rows): the count is of those held so far, and says so.
        loading = f", {tr('queue.loading')}" if app.state.unheld or not self.rows.caught_up else ""
        parts = [
            f"{tr('queue.title')} ({tr('queue.count', count=count)}{loading})",
            tr("sort." + view.sort),
        ]  # open work only: not the resolved and merged rows it lists
        if not app.ground.whole:
            parts.append(tr("focus.title", what=app.ground_words()))
        if view.regency and app.lookup is not None:
            parts.append(tr("queue.filter.regency", regency=app.lookup.regency_short(view.regency)))
        if view.severity and app.lookup is not None:
            parts.append(tr("queue.filter.severity", severity=app.lookup.severity(view.severity)))
        if view.unacked_only:
            parts.append(tr("queue.filter.unacked"))
        if view.mine is not None:
            parts.append(tr("queue.filter.mine"))
        if view.text:
            parts.append(tr("queue.filter.text", text=view.text))
        if self.marked:
            parts.append(tr("queue.filter.marked", count=len(self.marked)))
        if count == 0:
            # "No matching incidents" only when a filter could be hiding some.
            filtered = bool(view.regency or view.severity or view.unacked_only or view.mine is not None or view.text or not app.ground.whole)
            parts.append(tr("queue.empty" if filtered else "queue.none"))
        title = " · ".join(parts)
        if title != self._title_shown:
            # One row whatever it says (opsmon.tcss): no layout of the dashboard for a new count.
            self.query_one("#queue-title", Static).update(plain(title), layout=False)  # the filter text is typed: plain
            self._title_shown = title

    # --- bindings ----------------------------------------------------------------------

    def action_toggle_mine(self) -> None:
        welcome = self.opsmon.welcome
        self.filter.mine = None if self.filter.mine is not None or welcome is None else welcome.user
        self.opsmon.mark_dirty()

    def action_cycle_sort(self) -> None:
        """S: most urgent, newest, severity, time left to the deadline (the queue's title says which)."""
        self.filter.sort = SORTS[(SORTS.index(self.filter.sort) + 1) % len(SORTS)] if self.filter.sort in SORTS else SORTS[0]
        self.opsmon.mark_dirty()

    def action_goto(self) -> None:
        """# or : (k9s' command mode): a line that takes an incident number."""
        field = self.query_one("#goto", Input)
        field.display = True
        field.value = ""
        self.set_focus(field)  # now (focus() is a turn later): the keys typed after it are the field's

    @on(Input.Submitted, "#goto")
    def _goto_done(self, event: Input.Submitted) -> None:
        field = self.query_one("#goto", Input)
        text = event.value.strip()
        number = incident_number(text)
        if text and number is None:
            self.opsmon.say(self.opsmon.tr("goto.bad", text=text), warning=True)  # the line stays: correct it, or esc
            return
        field.display = False
        self.query_one(IncidentQueue).focus()
        if number is not None:
            self.goto(number)

    def goto(self, incident_id: int, *, select: bool = True) -> None:
        """Put the cursor on #id; when a filter or the focus hides it (or `select` is
        False: another screen is on top), open its detail instead."""
        table = self.query_one(IncidentQueue)
        if select and incident_id in table.rows:
            table.select_incident(incident_id)
            return
        incident = self.opsmon.state.incidents.get(incident_id)
        if incident is None or not in_snapshot(incident, self.opsmon.now()):
            self.opsmon.say(self.opsmon.tr("goto.unknown", id=incident_id), warning=True)
            return
        if select:
            self.opsmon.say(self.opsmon.tr("goto.opened", id=incident_id), timeout=4)
        self.opsmon.open_detail(incident_id)

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.display = True
        field.value = self.filter.text
        # Now, not a turn later (focus()): the keys of the same burst ("/jakarta" over SSH)
        # are the field's, never the queue's verbs (the "a" acknowledged).
        self.set_focus(field)

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter.text = event.value.strip()
        self.opsmon.mark_dirty()

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        field = self.query_one("#filter", Input)
        field.display = bool(self.filter.text)
        self.query_one(IncidentQueue).focus()

    def action_cycle_severity(self) -> None:
        order: list[str | None] = [None, *SEVERITIES]
        self.filter.severity = order[(order.index(self.filter.severity) + 1) % len(order)]
        self.opsmon.mark_dirty()

    def action_toggle_unacked(self) -> None:
        self.filter.unacked_only = not self.filter.unacked_only
        self.opsmon.mark_dirty()

    def action_regency_detail(self) -> None:
        """The focused regency (1..0, tab), else the selected incident's."""
        code = self.filter.regency
        if code is None and not self.opsmon.is_wall and self.selected_id is not None:
            incident = self.opsmon.state.incidents.get(self.selected_id)
            code = incident.regency if incident else None
        if code is None:
            self.opsmon.say(self.opsmon.tr("regency.pick"), warning=True)
            return
        self.opsmon.open_regency(code)

    def action_sitrep(self) -> None:
        self.opsmon.open_sitrep()

    def action_toggle_map(self) -> None:
        shown = self.query_one(ProvinceMap).display
        self.map_wanted = not shown
        self._layout = None
        self._reflow(self.size.width, self.size.height)

    def action_focus_regency(self, n: int) -> None:
        codes = self.opsmon.regency_codes()
        if not 1 <= n <= len(codes):
            self.opsmon.say(self.opsmon.tr("nothing.regency", n=n), warning=True)
            return
        self.set_regency(codes[n - 1])

    def set_regency(self, code: str | None) -> None:
        self.filter.regency = code
        self.opsmon.mark_dirty()

    def _step_regency(self, step: int) -> None:
        if isinstance(self.focused, Input):
            return
        codes = self.opsmon.regency_codes()
        if not codes:
            return
        current = self.filter.regency
        if current in codes:
            self.set_regency(codes[(codes.index(current) + step) % len(codes)])
        else:
            self.set_regency(codes[0 if step > 0 else -1])

    def action_next_regency(self) -> None:
        self._step_regency(1)

    def action_previous_regency(self) -> None:
        self._step_regency(-1)

    def action_clear(self) -> None:
        field = self.query_one("#filter", Input)
        goto = self.query_one("#goto", Input)
        if self.focused is goto or goto.display:
            goto.value = ""
            goto.display = False
            self.query_one(IncidentQueue).focus()
        elif self.focused is field or field.display:
            self.filter.text = ""
            field.value = ""
            field.display = False
            self.query_one(IncidentQueue).focus()
        elif self.filter.regency is not None:
            self.filter.regency = None
        else:
            self.filter = QueueFilter(sort=self.filter.sort)  # the order is a choice, not a filter: it stays
            self.marked.clear()
        self.opsmon.mark_dirty()
