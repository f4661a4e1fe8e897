"""The notice line: what the officer is told (outcomes, alerts, a snooze that woke),
in rows of its own above the footer. It never covers the queue, the header or the map:
it takes its rows from the layout (the body above gets shorter), unlike Textual's toasts.

`NoticeBoard` is the model (no Textual): one notice per thing it is about (an incident's
newer notice takes its old one's place), each until its timeout; alerts of one kind,
when many, collapse into one line ("5 eskalasi baru: #5, #12, ..."). `NoticeBar` draws
the newest few lines of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count

from rich.style import Style
from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

from opsmon.core.i18n import Translator
from opsmon.core.text import for_terminal

GROUP_AT = 3  # this many standing alerts of one kind share one line
GROUP_IDS = 5  # the numbers named on a grouped line, then "..."
LEVELS = ("information", "warning", "error")


@dataclass
class Notice:
    text: str
    level: str  # information, warning, error
    until: float  # when it goes (the app's monotonic clock)
    key: object  # what it is about: a newer notice on the same key replaces it
    group: str | None = None  # alert kind (critical, escalated, woke): grouped when many
    incident: int | None = None
    order: int = 0


@dataclass
class NoticeBoard:
    """The notices standing now, newest last."""

    notices: dict[object, Notice] = field(default_factory=dict)
    _order: count[int] = field(default_factory=count)

    def add(self, text: str, *, level: str, timeout: float, now: float, key: object = None, group: str | None = None, incident: int | None = None) -> Notice:
        order = next(self._order)
        notice = Notice(
            for_terminal(text), level if level in LEVELS else "information", now + timeout, key if key is not None else ("once", order), group, incident, order
        )
        self.notices.pop(notice.key, None)  # the newer one goes last: the newest line
        self.notices[notice.key] = notice
        return notice

    def standing(self, key: object, now: float) -> bool:
        notice = self.notices.get(key)
        return notice is not None and notice.until > now

    def prune(self, now: float) -> bool:
        """Drop what has timed out; True if anything went."""
        gone = [key for key, notice in self.notices.items() if notice.until <= now]
        for key in gone:
            del self.notices[key]
        return bool(gone)

    def clear(self) -> None:
        self.notices.clear()

    def lines(self, tr: Translator, limit: int) -> list[tuple[str, str]]:
        """(text, level) lines, newest first, at most `limit`: a group of GROUP_AT or more
        alerts of one kind is one line naming their numbers; what does not fit is counted."""
        shown: list[tuple[int, str, str]] = []  # (order of the newest, text, level)
        groups: dict[str, list[Notice]] = {}
        for notice in self.notices.values():
            if notice.group is not None:
                groups.setdefault(notice.group, []).append(notice)
        grouped = {kind for kind, members in groups.items() if len(members) >= GROUP_AT}
        for notice in self.notices.values():
            if notice.group not in grouped:
                shown.append((notice.order, notice.text, notice.level))
        for kind in grouped:
            members = sorted(groups[kind], key=lambda n: n.order, reverse=True)
            ids = [f"#{n.incident}" for n in members if n.incident is not None]
            named = ", ".join(ids[:GROUP_IDS]) + (", ..." if len(ids) > GROUP_IDS else "")
            level = max((n.level for n in members), key=LEVELS.index)
            shown.append((members[0].order, tr(f"notice.group.{kind}", count=len(members), ids=named), level))
        shown.sort(key=lambda item: item[0], reverse=True)
        lines = [(text, level) for _, text, level in shown]
        if len(lines) > limit:
            hidden = len(lines) - (limit - 1)
            lines = [*lines[: limit - 1], (tr("notice.more", count=hidden), "information")]
        return lines


class NoticeBar(Widget):
    """The board's newest lines, above the footer; not there at all while nothing stands.
    An error is in reverse video (reads without colour), a warning bold."""

    DEFAULT_CSS = """
    NoticeBar { height: auto; max-height: 3; display: none; padding: 0 1; }
    NoticeBar.-showing { display: block; }
    """
    COMPONENT_CLASSES = {"notice--alert", "notice--strong"}

    def __init__(self) -> None:
        super().__init__(classes="notices")
        self.rows: list[tuple[str, str]] = []

    def on_mount(self) -> None:
        self.watch(self.app, "notice_revision", self._moved, init=True)  # the app bumps it on a resize too

    def limit(self) -> int:
        """Rows it may take: two on a short terminal (80x24), three from 40 rows."""
        return 3 if self.app.size.height >= 40 else 2

    def _moved(self) -> None:
        board: NoticeBoard | None = getattr(self.app, "board", None)
        tr: Translator = getattr(self.app, "tr", Translator())
        rows = board.lines(tr, self.limit()) if board is not None else []
        if rows != self.rows:
            taller = len(rows) != len(self.rows)  # one row a line (nowrap): new words alone keep its height
            self.rows = rows
            self.set_class(bool(rows), "-showing")
            self.refresh(layout=taller)  # a layout draws the whole screen again: only when the bar's height moves

    def render(self) -> RenderResult:
        styles = {
            "error": self.get_component_rich_style("notice--alert", partial=True),
            "warning": self.get_component_rich_style("notice--strong", partial=True),
            "information": Style(),
        }
        out = Text(no_wrap=True, overflow="ellipsis")
        for n, (text, level) in enumerate(self.rows):
            if n:
                out.append("\n")
            out.append(("! " if level == "error" else "· ") + text, styles[level])
        return out
