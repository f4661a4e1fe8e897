"""ctrl+p: the command palette's commands, read from the action table (`opsmon.tui.actions`).

Each command's title is its footer word in the officer's language; typing the
other language's finds it too (`quit` finds Keluar on an Indonesian screen,
`keluar` finds Quit on an English one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content

from opsmon.core.i18n import Translator
from opsmon.core.text import for_terminal
from opsmon.tui.actions import ACTIONS, DASHBOARD, DETAIL, Action, Scoped
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
    target: Screen[Any] = screen if getattr(screen, "SCOPE", "") in (DASHBOARD, DETAIL) else dashboard
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
    if is_trainer(app):  # the trainer's seat only: an exercise's inject (opsmon.tui.screens.inject)
        yield PaletteCommand(tr("palette.inject"), other("palette.inject"), tr("palette.inject.help"), lambda: open_inject(app))


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
