"""The night as charts: incidents per hour by severity, and TPS counted, as Textual Sparklines.

Each series is a labelled row with its total (a number, not only a bar), so
the chart reads with NO_COLOR=1: the bars are characters of different heights.
"""

from __future__ import annotations

from datetime import tzinfo

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

from opsmon.core.i18n import Translator, local_time
from opsmon.core.view import Lookup
from opsmon.reports.timeline import SEVERITIES, Night


class NightCharts(Vertical):
    DEFAULT_CSS = """
    NightCharts { height: auto; width: 100%; padding: 0 1; }
    NightCharts .chart-row { height: 1; width: 100%; }
    NightCharts .chart-label { width: 30; }
    NightCharts Sparkline { width: 1fr; height: 1; }
    """

    COMPONENT_CLASSES = {"charts--strong", "charts--quiet"}  # styled in opsmon.tcss

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self._shown: object = None

    def compose(self) -> ComposeResult:
        yield Static(classes="chart-title")
        for series in (*SEVERITIES, "tps"):
            with Horizontal(classes="chart-row"):
                yield Static(classes="chart-label", id=f"label-{series}")
                yield Sparkline([0], id=f"spark-{series}")

    def show(self, night: Night, lookup: Lookup, tr: Translator, tz: tzinfo) -> None:
        key = (night.incidents, night.tps, night.hours[0], tr.lang)
        if key == self._shown:
            return  # nothing new: no repaint
        self._shown = key
        span = f"{local_time(night.hours[0], tz)}-{local_time(night.hours[-1], tz)}"
        self.query_one(".chart-title", Static).update(
            Text(tr("charts.title", hours=len(night.hours), span=span), self.get_component_rich_style("charts--strong", partial=True))
        )
        for severity in SEVERITIES:
            counts = night.incidents[severity]
            label = Text()
            label.append(f"{tr('sev.letter.' + severity)} ", self.get_component_rich_style("charts--strong", partial=True))
            label.append(f"{lookup.severity(severity)[:12]:<12} {sum(counts):>4} ")
            label.append(tr("charts.peak", n=max(counts)), self.get_component_rich_style("charts--quiet", partial=True))
            self.query_one(f"#label-{severity}", Static).update(label)
            self.query_one(f"#spark-{severity}", Sparkline).data = counts
        tps = Text()
        tps.append(tr("charts.tps", done=night.tps[-1], total=night.tps_total))
        self.query_one("#label-tps", Static).update(tps)
        self.query_one("#spark-tps", Sparkline).data = night.tps
