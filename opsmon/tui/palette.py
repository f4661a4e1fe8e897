"""ctrl+p: the command palette's commands, read from the action table (`opsmon.tui.actions`).

Each command's title is its footer word in the officer's language; typing the
other language's finds it too (`quit` finds Keluar on an Indonesian screen,
`keluar` finds Quit on an English one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.align import Align
from rich.text import Text
from textual.command import CommandList, CommandPalette, DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.widgets.option_list import Option

from opsmon.core.i18n import Translator
from opsmon.core.text import for_terminal
from opsmon.core.view import incident_number
from opsmon.tui.actions import ACTIONS, DASHBOARD, DETAIL, REGENCY, Action, Scoped
from opsmon.tui.plain import highlighted, plain
from opsmon.tui.screens.inject import is_trainer, open_inject

if TYPE_CHECKING:
    from textual.screen import Screen

    from opsmon.tui.host import OpsmonHost


@dataclass(frozen=True)
class PaletteCommand:
    title: str  # in the officer's language
    other: str  # the same in the other language
    help: str
    callback: Callable[[], Any]


def commands(app: OpsmonHost, screen: Screen[Any]) -> Iterator[PaletteCommand]:
    """What the palette offers over `screen`: the incident shown or the dashboard's
    selection (from any other screen, the dashboard's), never a write on the wall."""
    tr = app.tr
    other = Translator("en" if tr.lang == "id" else "id")
    dashboard = app.dashboard
    target: Screen[Any] = screen if getattr(screen, "SCOPE", "") in (DASHBOARD, DETAIL, REGENCY) else dashboard
    scope = target.SCOPE if isinstance(target, Scoped) else DASHBOARD
    for action in ACTIONS:
        if action.palette is None or (app.is_wall and not action.viewer):
            continue
        if action.app:
            yield PaletteCommand(tr(action.label), other(action.label), tr(action.palette), _run(app, action))
        elif scope in action.scopes:
            if action.numbered:  # one per regency, by name
                for n, code in enumerate(app.regency_codes(), start=1):
                    name = app.lookup.regency_short(code) if app.lookup else code
                    yield PaletteCommand(tr("palette.focus", name=name), other("palette.focus", name=name), tr(action.palette, n=n), _focus(dashboard, code))
            else:
                yield PaletteCommand(tr(action.label), other(action.label), tr(action.palette), _run(target, action))
    if not app.is_wall and screen is dashboard:
        yield from focus_commands(app)

    if is_trainer(app):  # the trainer's seat only: an exercise's inject (opsmon.tui.screens.inject)
        yield PaletteCommand(tr("palette.inject"), other("palette.inject"), tr("palette.inject.help"), lambda: open_inject(app))


def focus_commands(app: OpsmonHost) -> Iterator[PaletteCommand]:
    """The officer's focus (remembered per token): a regency, the token's own, the province, a desk."""
    tr = app.tr
    other = Translator("en" if tr.lang == "id" else "id")
    help_text = tr("palette.focus_help")
    welcome = app.welcome
    own = tuple(code for code in (welcome.user.regencies or []) if code in app.regency_codes()) if welcome is not None else ()
    names = ", ".join(app.lookup.regency_short(code) if app.lookup else code for code in own)
    if own:
        yield PaletteCommand(tr("palette.focus_scope", names=names), other("palette.focus_scope", names=names), help_text, _set_focus(app, own, keep_desk=True))
    yield PaletteCommand(tr("palette.focus_province"), other("palette.focus_province"), help_text, _set_focus(app, (), keep_desk=True))
    for code in app.regency_codes():
        name = app.lookup.regency_short(code) if app.lookup else code
        yield PaletteCommand(tr("palette.focus_mine", name=name), other("palette.focus_mine", name=name), help_text, _set_focus(app, (code,), keep_desk=True))
    for desk in app.desks:
        yield PaletteCommand(tr("palette.focus_desk", desk=desk), other("palette.focus_desk", desk=desk), help_text, _set_focus(app, None, desk=desk))
    if app.desks:
        yield PaletteCommand(tr("palette.focus_all_desks"), other("palette.focus_all_desks"), help_text, _set_focus(app, None, desk=None))


def _set_focus(app: OpsmonHost, regencies: tuple[str, ...] | None, *, keep_desk: bool = False, desk: str | None = None) -> Callable[[], None]:
    return lambda: app.set_ground(regencies, app.ground.desk if keep_desk else desk)


def goto_command(app: OpsmonHost, query: str) -> PaletteCommand | None:
    """ "#8" or ":8" typed in the palette: go to that incident (not on the wall)."""
    text = query.strip()
    number = incident_number(text) if text.startswith(("#", ":")) else None
    if number is None or app.is_wall:
        return None
    tr = app.tr
    other = Translator("en" if tr.lang == "id" else "id")
    dashboard = app.dashboard
    return PaletteCommand(
        tr("palette.goto", id=number), other("palette.goto", id=number), tr("palette.goto_help", id=number), lambda: _goto(app, dashboard, number)
    )


def _goto(app: OpsmonHost, dashboard: Any, number: int) -> None:
    # On the dashboard the cursor goes to it; over another screen, its detail opens.
    dashboard.goto(number, select=app.screen is dashboard)


def _run(node: Any, action: Action) -> Callable[[], Any]:
    return lambda: node.run_action(action.name)


def _focus(dashboard: Any, code: str) -> Callable[[], None]:
    return lambda: dashboard.set_regency(code)


class ActionCommands(Provider):
    """The palette's provider: every command of `commands`, found by its title in either language."""

    def _commands(self) -> list[PaletteCommand]:
        app = self.app
        return list(commands(app, self.screen)) if hasattr(app, "dashboard") else []  # type: ignore[arg-type]

    async def discover(self) -> Hits:
        for command in sorted(self._commands(), key=lambda c: c.title):
            # Content, not str: the palette reads a str as markup (a regency name is the config's text).
            yield DiscoveryHit(plain(command.title), command.callback, text=command.title, help=plain(command.help))  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        app = self.app
        goto = goto_command(app, query) if hasattr(app, "dashboard") else None  # type: ignore[arg-type]
        if goto is not None:
            yield Hit(1.0, plain(goto.title), goto.callback, text=goto.title, help=plain(goto.help))  # type: ignore[arg-type]
        matcher = self.matcher(query)
        for command in self._commands():
            title = for_terminal(command.title)
            score, offsets = matcher.fuzzy_search.match(matcher.query, title)
            # Highlighted here, not by matcher.highlight: that one reads the title as markup.
            shown: Content = highlighted(title, offsets, matcher.match_style) if score else plain(title)
            if command.other != command.title and (alias := matcher.match(command.other)) > score:
                score, shown = alias, plain(f"{command.title} ({command.other})")
            if score > 0:
                yield Hit(score, shown, command.callback, text=command.title, help=plain(command.help))  # type: ignore[arg-type]


class OpsmonPalette(CommandPalette):
    """Textual's palette, saying "nothing found" in the officer's language (Textual's
    own line is English): the same countdown, our words."""

    def __init__(self, no_matches: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.no_matches = no_matches

    def _start_no_matches_countdown(self, search_value: str) -> None:
        self._stop_no_matches_countdown()

        def show_no_matches() -> None:
            if search_value:
                self.query_one(CommandList).add_option(Option(Align.center(Text(self.no_matches, style="not bold")), disabled=True, id=self._NO_MATCHES))
                self._list_visible = True
            else:
                self._list_visible = False  # discovering, not searching: nothing to say

        self._no_matches_timer = self.set_timer(self._NO_MATCHES_COUNTDOWN, show_no_matches)
