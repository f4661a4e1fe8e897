"""The header (province totals, user, WITA clock; who is on duty), the offline banner and the wall's ticker."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from rich.style import Style
from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

from opsmon.core.i18n import Translator, local_time, local_when, who
from opsmon.core.records import ConfigInfo, Incident, User
from opsmon.core.text import for_terminal
from opsmon.core.urgency import status_word
from opsmon.core.view import Duty, Focus, Lookup, Totals, on_duty
from opsmon.tui.widgets.bars import cut, cut_name, fit


class HeaderBar(Widget):
    """The province's totals, who is signed in, and the clock. What needs the officer
    (unacknowledged incidents, stale data, a blocked or late province stage) is a word
    in `header--alert` (reverse video in opsmon.tcss): it reads without colour. A second
    line says who is on duty for the officer's ground when the server sends rosters
    ("Piket Polri: Brigpol Andi (Polres Tanah Bumbu) s.d. 07:00"); it moves at the handover,
    on the screen's clock (an exercise's scenario time)."""

    DEFAULT_CSS = "HeaderBar { height: auto; max-height: 2; }"
    COMPONENT_CLASSES = {"header--alert", "header--strong", "header--quiet"}

    def __init__(self) -> None:
        super().__init__(id="header")
        self.tr = Translator()
        self.totals: Totals | None = None
        self.user: User | None = None
        self.province = ""
        self.now: datetime | None = None
        self.tz: tzinfo | None = None
        self.stale = False
        self.read_only = False
        self.connecting = ""
        self.config: ConfigInfo | None = None  # the welcome's: its rosters and people
        self.lookup: Lookup | None = None
        self.ground = Focus()
        self._rows = 1

    def on_mount(self) -> None:
        self.watch(self.app, "clock", self._clock_moved, init=False)  # the app's clock, once a second

    def _clock_moved(self, now: datetime | None) -> None:
        if now is not None:
            self.now = now
            self.refresh()

    def render(self) -> RenderResult:
        """Who is signed in and the clock always; the totals give way, least needed first
        (the kecamatan count, then a quiet province stage, then the open count, then an
        exercise's name, never its LATIHAN), so that at 80 columns nothing is cut to
        "Terbu…" and the unacknowledged count is never cut."""
        width = self.content_size.width
        for drop in range(7):  # what gives way, a step at a time: never the unacknowledged count
            left, right = self._left(width, drop), self._right(width, drop)
            if left.cell_len + right.cell_len + 1 <= width:
                break
        line = fit(left, right, width)
        duty = self._duty(width)
        if duty.cell_len:
            line.append("\n")
            line.append_text(duty)
        rows = 2 if duty.cell_len else 1
        if rows != self._rows:  # the duty line came or went: the screen gives it its row
            self._rows = rows
            self.call_later(self.refresh, layout=True)
        return line

    def follow(self, lookup: Lookup | None, focus: Focus) -> None:
        """The welcome's config (its rosters and people) and the officer's ground: whose duty it names."""
        self.lookup, self.config, self.ground = lookup, lookup.config if lookup is not None else None, focus

    def duties(self) -> list[Duty]:
        if self.config is None or not self.config.rosters or self.now is None:
            return []
        return on_duty(self.config, self.ground, self.now)

    def _duty(self, width: int) -> Text:
        """Who is on duty, in `width` cells: the positions go first, then the names are
        cut where they do not tell people apart (cut_name), never the handover time."""
        duties = self.duties()
        if not duties:
            return Text()
        for with_position in (True, False):
            line = self._duty_line(duties, with_position, None)
            if line.cell_len <= width:
                return line
        # The longest names give way first: each name at most `cap` cells, the largest cap that fits.
        longest = max((len(p.name) for d in duties for p in d.people), default=0)
        for cap in range(longest - 1, 2, -1):
            line = self._duty_line(duties, False, cap)
            if line.cell_len <= width:
                return line
        line.truncate(width, overflow="ellipsis")  # many desks at 80 columns: the last names give way
        return line

    def _duty_line(self, duties: list[Duty], with_position: bool, name_width: int | None) -> Text:
        tr, tz = self.tr, self.tz
        strong = self._style("strong")
        line = Text(tr("header.duty"))
        ends = {d.until for d in duties}
        shared_end = len(ends) == 1 and len(duties) > 1

        def until(duty: Duty) -> str:
            return tr("header.until", time=local_time(duty.until, tz).split()[0]) if tz is not None else ""

        if shared_end:
            line.append(" " + until(duties[0]))
        for duty in duties:
            # A regency's own roster says whose, unless the officer's ground is that one regency.
            named = duty.where and self.lookup is not None and self.ground.regencies != {duty.where}
            where = f" {self.lookup.regency_short(duty.where)}" if named and self.lookup is not None else ""
            label = for_terminal(duty.desk + where)
            line.append(f" {label}: " if len(duties) == 1 else f" · {label}: ")
            for k, person in enumerate(duty.people):
                name = for_terminal(person.name)
                if name_width is not None:
                    name = cut_name(name, name_width)
                line.append((", " if k else "") + name, strong)
            if with_position and len(duty.people) == 1 and duty.people[0].position:
                line.append(f" ({for_terminal(duty.people[0].position)})")
            if not shared_end:
                line.append(" " + until(duty))
        line.no_wrap = True
        return line

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"header--{name}", partial=True)

    def _left(self, width: int, drop: int) -> Text:
        tr = self.tr
        alert, strong, quiet = self._style("alert"), self._style("strong"), self._style("quiet")
        wide = width >= 130
        left = Text()
        words = getattr(self.app, "exercise_words", None)
        exercise = words(short=max(0, drop - 3)) if words is not None else ""
        if exercise:
            left.append(f" {exercise} ", alert)  # on every screen with a header: never taken for a real night
            left.append(" ")
        # At 80 columns the name gives way to the province's own stage.
        squeezed = width < 90 and self.totals is not None and bool(self.totals.province)
        trouble = self._trouble()
        name = (self.province or tr("app.title")) if wide else "" if squeezed else "opsmon"
        left.append(for_terminal(name), strong)
        totals = self.totals
        if totals is not None:
            short = "" if wide else "_short"
            parts = [f"{tr('header.tps' + short)} {totals.tps_counted}/{totals.tps_total}"]
            if drop < 1:
                parts.append(f"{tr('header.kecamatan' + short)} {totals.kecamatan_done}/{totals.kecamatan_total}")
            if drop < 3:
                parts.append(f"{tr('header.open' + short)} {totals.open}")
            left.append(("  " if name else "") + " · ".join(parts))
            left.append(f" · {tr('header.unacked' + short)} ")
            left.append(str(totals.unacked), alert if totals.unacked else "")
            for stage, row, late in [] if drop >= 2 and not trouble else totals.province:
                # The province's own plenary: once, here, never as a row per regency.
                label = for_terminal((stage.short or stage.label).get(tr.lang)) if wide else tr("header.province_short")
                left.append(f" · {label} ")
                if row is not None and row.status == "blocked":
                    left.append(tr("panel.blocked") if wide else tr("panel.blocked_short"), alert)
                    if wide and row.note:
                        left.append(": " + for_terminal(row.note))
                elif row is not None and row.status == "done":
                    left.append("✓")
                else:
                    left.append(f"{row.done if row else 0}/{row.total if row else 1}")
                    if late:
                        left.append(" " + tr("panel.late_short"), alert)
        elif self.connecting:
            left.append("  " + self.connecting, quiet)
        return left

    def _trouble(self) -> bool:
        """A blocked or late province stage: it never gives way."""
        return self.totals is not None and any(late or (row is not None and row.status == "blocked") for _, row, late in self.totals.province)

    def _right(self, width: int, drop: int) -> Text:
        tr = self.tr
        alert, strong, quiet = self._style("alert"), self._style("strong"), self._style("quiet")
        wide = width >= 130
        right = Text()
        if self.stale:
            right.append(tr("header.stale") + " ", alert)
        # Who is signed in, on every width: a name cut in the middle, never at its end.
        if self.user is not None:
            person = for_terminal(tr("header.user", agency=self.user.agency, name=self.user.name))
            right.append(cut_name(person, 24 if width >= 100 else 16), quiet)
            # Given several servers, the one connected to ("Bawaslu/Rahmat@host:port"), where there is room.
            connected_to = str(getattr(self.app, "server_label", ""))
            if connected_to and drop == 0:
                right.append(for_terminal(tr("header.server", server=connected_to)), quiet)
            right.append(" ")
        if self.read_only and not (width < 90 and self._trouble()):
            right.append(tr("header.readonly") + " ", quiet)
        if self.now is not None and self.tz is not None:
            right.append(local_time(self.now, self.tz, seconds=wide), strong)
        return right


class OfflineBanner(Widget):
    """Shown only while offline: since when, and that it keeps trying."""

    # Two rows at most: at 80 columns the reason ("(sambungan ditolak ...)") wraps, never cut.
    DEFAULT_CSS = "OfflineBanner { height: auto; max-height: 2; display: none; } OfflineBanner.-offline { display: block; }"

    def __init__(self) -> None:
        super().__init__(id="banner")
        self.text = ""

    def show(self, text: str | None) -> None:
        self.text = text or ""
        self.set_class(text is not None, "-offline")
        self.refresh()

    def render(self) -> RenderResult:
        return Text("⚠ " + for_terminal(self.text), overflow="ellipsis")  # bold: opsmon.tcss


class Ticker(Widget):
    """The wall's latest incidents, newest first: time, place, severity, title."""

    COMPONENT_CLASSES = {"ticker--alert", "ticker--strong", "ticker--quiet"}

    def __init__(self) -> None:
        super().__init__(id="ticker")
        self.tr = Translator()
        self.items: list[Incident] = []
        self.lookup: Lookup | None = None
        self.tz: tzinfo | None = None
        self.now = datetime.now(UTC)  # the day a time is on without its date (show gives the post's clock)
        self.border_title = ""

    def show(self, items: list[Incident], lookup: Lookup, tr: Translator, tz: tzinfo, now: datetime) -> None:
        self.items, self.lookup, self.tr, self.tz, self.now = items, lookup, tr, tz, now
        self.border_title = tr("ticker.title")
        self.refresh()

    def render(self) -> RenderResult:
        tr, lookup = self.tr, self.lookup
        alert, strong, quiet = (self.get_component_rich_style(f"ticker--{name}", partial=True) for name in ("alert", "strong", "quiet"))
        if lookup is None or self.tz is None:
            return Text(tr("ticker.no_data"), quiet)  # never connected: nothing is known yet
        if not self.items:
            return Text(tr("ticker.empty"), quiet)
        lines = []
        width = self.content_size.width
        narrow = width < 100  # at 80 columns: the severity's letter, the time without its zone (the header names it)
        for incident in self.items[: max(1, self.content_size.height)]:
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append(local_when(incident.reported, self.tz, self.now, zone=not narrow) + "  ")
            line.append(f"{lookup.regency_short(incident.regency):<13}", strong)
            severity = lookup.severity(incident.severity)
            letter = tr("sev.letter." + incident.severity)
            line.append(f"{letter} " if narrow else f"{letter}:{severity:<8} ", alert if incident.severity == "critical" else strong)
            status = tr("status." + status_word(incident))
            line.append(f"{status:<8}")
            line.append(f"#{incident.id} ")
            if incident.reports > 1:
                line.append(f"\u00d7{incident.reports} ", strong)  # repeats folded into it
            title = for_terminal(incident.title)
            by = who(incident.acknowledged_by) if incident.acknowledged_by is not None and incident.status == "acknowledged" else ""
            if by:
                # The title keeps 24 cells at least; the acknowledger the rest, cut where names differ.
                room = width - line.cell_len - min(len(title), 24) - 4
                by = cut_name(by, max(0, min(len(by), room)))
                if by:
                    title = cut(title, max(1, width - line.cell_len - len(by) - 4))
            line.append(title)
            if by:
                line.append("  ← " + by, quiet)
            lines.append(line)
        out = Text("\n").join(lines)
        out.no_wrap, out.overflow = True, "ellipsis"
        return out
