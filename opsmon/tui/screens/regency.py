"""One regency in full: every stage, its night as charts, and its open incidents as a
queue that obeys the dashboard's keys (j/k, Enter, a and the rest: opsmon.tui.screens.queuescreen)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from opsmon.core.i18n import local_time, who
from opsmon.core.text import for_terminal
from opsmon.core.view import SEVERITIES, QueueFilter, QueueIndex, stage_corrections, totals
from opsmon.tui.actions import REGENCY, bindings
from opsmon.tui.screens.queuescreen import QueueScreen
from opsmon.tui.widgets.charts import NightCharts
from opsmon.tui.widgets.footer import KeyFooter
from opsmon.tui.widgets.notices import NoticeBar
from opsmon.tui.widgets.queue import IncidentQueue
from opsmon.tui.widgets.status import HeaderBar, OfflineBanner


class RegencyScreen(QueueScreen):
    SCOPE = REGENCY
    BINDINGS = bindings(REGENCY)

    def __init__(self, code: str) -> None:
        super().__init__(id="regency-detail")
        self.code = code
        self.ready = False
        self._first = True
        self.rows = QueueIndex(live_only=True)  # its open incidents (not resolved or merged), kept as events arrive

    def compose(self) -> ComposeResult:
        yield HeaderBar()
        yield OfflineBanner()
        with VerticalScroll(id="regency-body"):
            yield Static(id="regency-facts")
            yield NightCharts(id="regency-charts")
        yield Static(id="regency-incidents")
        yield IncidentQueue()
        yield NoticeBar()  # notices take rows of their own: never over the work
        yield KeyFooter()

    def on_mount(self) -> None:
        self.ready = True
        self.query_one(IncidentQueue).can_focus = not self.opsmon.is_wall
        if not self.opsmon.is_wall:
            self.query_one(IncidentQueue).focus()
        self.refresh_view()

    def refresh_view(self) -> None:
        if not self.ready:
            return
        app = self.opsmon
        tr, lookup, state = app.tr, app.lookup, app.state
        header = self.query_one(HeaderBar)
        header.tr, header.now, header.tz, header.stale = tr, app.now(), app.tz, not app.online and app.welcome is not None
        if app.welcome is not None:
            header.user, header.province = app.welcome.user, app.province_name
        header.read_only = app.is_wall
        header.follow(app.lookup, app.ground)
        if lookup is not None:
            header.totals = totals(state, lookup.config, tally=app.counted())
        header.refresh()
        self.query_one(OfflineBanner).show(app.banner_text())
        if lookup is None:
            return
        facts = Table.grid(padding=(0, 2))
        facts.add_row(Text(tr("regency.title", name=lookup.regency_long(self.code), code=self.code), self.style_for("strong")))
        stages = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
        for stage in lookup.config.stages:
            if stage.scope == "province":
                continue
            row = state.stages.get((self.code, stage.key))
            status = row.status if row else "pending"
            line = [
                Text(lookup.stage_label(stage)),
                Text(f"{row.done if row else 0}/{row.total if row else 0}"),
                Text(tr("stage.status." + status), self.style_for("alert") if status == "blocked" else ""),
            ]
            if row is not None and row.note:
                line.append(Text(for_terminal(row.note, multiline=True)))
            stages.add_row(*line)
        facts.add_row(Text(tr("regency.stages"), self.style_for("heading")))
        facts.add_row(stages)
        # A count stepped back or a block lifted is said as a correction, never silent.
        labels = {s.key: lookup.stage_label(s) for s in lookup.config.stages}
        for fix in stage_corrections(app.recent_events, self.code)[:3]:
            was = f"{fix.was}" + (" " + tr("panel.blocked") if fix.was_blocked else "")
            said = tr(
                "regency.correction",
                stage=labels.get(fix.stage) or for_terminal(fix.stage),
                was=was,
                now=fix.now,
                time=local_time(fix.at, app.tz),
                who=who(fix.by),
            )
            note = for_terminal(fix.note, multiline=True).replace("\n", " ").strip()
            facts.add_row(Text(said + (f": {note}" if note else ""), self.style_for("alert")))
        self.query_one("#regency-facts", Static).update(facts)
        self.query_one(NightCharts).show(app.night(self.code), lookup, tr, app.tz)
        now = app.now()
        shown = self.rows.update(state, app.changes, lookup, QueueFilter(regency=self.code), now)
        out = Text()
        out.append(tr("regency.open") + "  ", self.style_for("heading"))
        severities = shown.values.get("severity", {})
        out.append(" ".join(f"{tr('sev.letter.' + s)}{severities.get(s, 0)}" for s in SEVERITIES))
        if not len(shown):
            out.append("  " + tr("regency.none_open"), self.style_for("quiet"))
        self.query_one("#regency-incidents", Static).update(out)
        table = self.query_one(IncidentQueue)
        # On opening: the incident the dashboard had selected, if it is this regency's, else the most urgent.
        keep = None
        if self._first and len(shown):
            self._first = False
            selected = getattr(app.dashboard, "selected_id", None)
            keep = selected if selected in shown else shown.id_at(0)
        table.show(shown, lookup, tr, now, self.marked, keep=keep, stale=not app.online)

    def action_back(self) -> None:
        self.dismiss(None)
