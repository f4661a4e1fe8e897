"""Every action of the terminal client, once: its keys, its words, where it works, who may use it.

Each screen's BINDINGS, the words the help screen (`?`) gives each key, the
command palette (`opsmon.tui.palette`) and the actions a viewer token (the wall)
may use are all read from `ACTIONS`. A new action is a row here, its words in
`opsmon/core/i18n.py` (`key.<x>`, and `palette.<x>` to offer it in the palette), and
an `action_<name>` method on the screens that bind it.

The rows' order is the order of the keys in each screen's footer and help:
`? Bantuan` and `q Keluar` first, so they stay in the footer at 80 columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from textual.binding import Binding, BindingType

from opsmon.core.i18n import Translator

# Where an action's keys are bound: the screens, the incident queue (a widget on
# the dashboard), the help screen, and the app itself (on every screen, dialogs too).
DASHBOARD = "dashboard"
DETAIL = "detail"
REGENCY = "regency"
SITREP = "sitrep"
HANDOVER = "handover"
QUEUE = "queue"
HELP = "help"
APP = "app"


@dataclass(frozen=True)
class Keys:
    """Keys (Textual's names, comma-separated) bound to an action on some scopes."""

    keys: str
    scopes: tuple[str, ...]
    footer: bool = False  # shown in those screens' footer
    priority: bool = False  # before the focused widget has them (tab in the queue, ctrl+q in a dialog)


@dataclass(frozen=True)
class Action:
    name: str  # the Textual action: `action_<name>` on the screen (or the app, when `app`)
    label: str  # i18n key: the footer's word and the palette's title
    keys: tuple[Keys, ...]
    help: str | None = None  # i18n key: the help screen's longer words (None: the label)
    palette: str | None = None  # i18n key: the palette's line under the title (None: not offered there)
    viewer: bool = False  # a viewer token (the wall display) may use it
    app: bool = False  # the app's own action: screens bind it as `app.<name>`
    numbered: bool = False  # one binding per key, the n-th key running `<name>(n)`

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(scope for keys in self.keys for scope in keys.scopes)

    def binding_action(self, scope: str) -> str:
        return f"app.{self.name}" if self.app and scope != APP else self.name


def _on(keys: str, *scopes: str, footer: bool = False, priority: bool = False) -> Keys:
    return Keys(keys, scopes, footer=footer, priority=priority)


ACTIONS: tuple[Action, ...] = (
    # First, so the footer keeps them however narrow the terminal.
    Action(
        "help",
        "key.help",
        (_on("question_mark", DASHBOARD, DETAIL, REGENCY, HANDOVER, footer=True),),
        help="palette.help",
        palette="palette.help",
        viewer=True,
        app=True,
    ),
    # ctrl+c quits too: officers press it by reflex, and the demo promises it.
    Action(
        "quit",
        "key.quit",
        (_on("q", DASHBOARD, DETAIL, footer=True), _on("q", REGENCY, SITREP, HANDOVER), _on("ctrl+q,ctrl+c", APP, priority=True)),
        help="palette.quit",
        palette="palette.quit",
        viewer=True,
        app=True,
    ),
    Action("command_palette", "key.palette", (_on("ctrl+p", APP, priority=True),), viewer=True, app=True),
    Action("redraw", "key.redraw", (_on("ctrl+l", APP),), help="palette.redraw", palette="palette.redraw", viewer=True, app=True),
    Action("write", "key.write", (_on("w", SITREP, footer=True),)),  # the wall only previews the sitrep
    # The shift handover: the outgoing officer hands over, the incoming one takes over. A
    # viewer's key says why it may not (the screen lets the key through to say so).
    Action("confirm_handover", "key.handover_confirm", (_on("c", HANDOVER, footer=True),)),
    Action("accept_handover", "key.handover_accept", (_on("t", HANDOVER, footer=True),)),
    Action("back", "key.back", (_on("escape", DETAIL, REGENCY, SITREP, HANDOVER, footer=True),), viewer=True),
    Action("close", "key.back", (_on("escape,question_mark,q", HELP),), viewer=True),
    # Moving in the queue, as in less and k9s (the arrows are the queue's own).
    Action("cursor_down", "key.down", (_on("j", DASHBOARD, REGENCY), _on("down", QUEUE))),
    Action("cursor_up", "key.up", (_on("k", DASHBOARD, REGENCY), _on("up", QUEUE))),
    Action("cursor_top", "key.top", (_on("g", DASHBOARD, REGENCY), _on("home", QUEUE)), palette="palette.top"),
    Action("cursor_bottom", "key.bottom", (_on("G", DASHBOARD, REGENCY), _on("end", QUEUE))),
    Action("half_page_down", "key.half_down", (_on("ctrl+d", DASHBOARD, REGENCY),)),
    Action("half_page_up", "key.half_up", (_on("ctrl+u", DASHBOARD, REGENCY),)),
    Action("page_down", "key.page_down", (_on("ctrl+f", DASHBOARD, REGENCY), _on("pagedown", QUEUE))),
    Action("page_up", "key.page_up", (_on("ctrl+b", DASHBOARD, REGENCY), _on("pageup", QUEUE))),
    Action("open_detail", "key.open", (_on("enter", DASHBOARD, REGENCY),), help="palette.open", palette="palette.open"),
    # What an officer does to an incident: the selected one (or the marked ones), or the one shown.
    Action("ack", "key.ack", (_on("a", DASHBOARD, DETAIL, REGENCY, footer=True),), help="palette.ack", palette="palette.ack"),
    Action("escalate", "key.escalate", (_on("e", DASHBOARD, DETAIL, REGENCY, footer=True),), help="palette.escalate", palette="palette.escalate"),
    Action("note", "key.note", (_on("n", DASHBOARD, DETAIL, REGENCY, footer=True),), help="palette.note", palette="palette.note"),
    Action("resolve", "key.resolve", (_on("r", DASHBOARD, DETAIL, REGENCY, footer=True),), help="palette.resolve", palette="palette.resolve"),
    Action("reopen", "key.reopen", (_on("o", DASHBOARD, REGENCY), _on("o", DETAIL, footer=True)), help="palette.reopen", palette="palette.reopen"),
    Action("snooze", "key.snooze", (_on("z", DASHBOARD, DETAIL, REGENCY),), palette="palette.snooze"),
    Action("take", "key.take", (_on("t", DASHBOARD, DETAIL, REGENCY),), palette="palette.take"),
    Action("assign", "key.assign", (_on("T", DASHBOARD, DETAIL, REGENCY),), palette="palette.assign"),
    Action("change_severity", "key.change_severity", (_on("s", DASHBOARD, DETAIL, REGENCY),), palette="palette.change_severity"),
    Action("unack", "key.unack", (_on("U", DASHBOARD, DETAIL, REGENCY),), palette="palette.unack"),
    Action("merge", "key.merge", (_on("M", DASHBOARD, DETAIL, REGENCY),), palette="palette.merge"),
    Action("mark", "key.mark", (_on("space", DASHBOARD, REGENCY),), help="palette.mark", palette="palette.mark"),
    # What the queue shows.
    Action("filter", "key.filter", (_on("slash", DASHBOARD, footer=True),), help="palette.filter", palette="palette.filter"),
    Action("cycle_severity", "key.severity", (_on("f", DASHBOARD, footer=True),), help="palette.severity", palette="palette.severity"),
    Action("toggle_unacked", "key.unacked", (_on("u", DASHBOARD, footer=True),), help="palette.unacked", palette="palette.unacked"),
    Action("toggle_mine", "key.mine", (_on("i", DASHBOARD),), palette="palette.mine"),
    Action("cycle_sort", "key.sort", (_on("S", DASHBOARD),), help="palette.sort", palette="palette.sort"),
    # Go to an incident by its number, as k9s' command mode (the palette takes "#8" too).
    Action("goto", "key.goto", (_on("number_sign,colon", DASHBOARD),), help="palette.goto_hint"),
    # The province: the map and the sitrep work on the wall too.
    Action("toggle_map", "key.map", (_on("m", DASHBOARD, footer=True),), viewer=True),
    Action("sitrep", "key.sitrep", (_on("p", DASHBOARD, footer=True),), viewer=True),
    Action("handover", "key.handover", (_on("H", DASHBOARD, REGENCY),), help="palette.handover", palette="palette.handover", viewer=True),
    Action("regency_detail", "key.regency_detail", (_on("d", DASHBOARD),)),
    # The palette offers one "focus regency: <name>" per regency instead (opsmon.tui.palette).
    Action("focus_regency", "key.regency_keys", (_on("1,2,3,4,5,6,7,8,9,0", DASHBOARD),), palette="key.regency", numbered=True),
    Action("next_regency", "key.next_regency", (_on("tab", DASHBOARD, priority=True),)),
    Action("previous_regency", "key.prev_regency", (_on("shift+tab", DASHBOARD, priority=True),)),
    Action("clear", "key.clear", (_on("escape", DASHBOARD),), help="palette.clear", palette="palette.clear"),
)

BY_NAME: dict[str, Action] = {action.name: action for action in ACTIONS}

# What a viewer token (the wall display) may do: look, never act.
VIEWER_ACTIONS: frozenset[str] = frozenset(action.name for action in ACTIONS if action.viewer)


def may_use(action: str, *, read_only: bool) -> bool:
    """Whether an action (a binding's, `app.` and parameters allowed) works for this user."""
    return not read_only or action.split("(")[0].removeprefix("app.") in VIEWER_ACTIONS


def bindings(scope: str, lang: str = "id") -> list[BindingType]:
    """The Textual bindings of one scope, in the table's order, the footer's words in `lang`."""
    tr = Translator(lang)
    out: list[BindingType] = []
    for action in ACTIONS:
        for keys in action.keys:
            if scope not in keys.scopes:
                continue
            target = action.binding_action(scope)
            if action.numbered:
                for n, key in enumerate(keys.keys.split(","), start=1):
                    out.append(Binding(key, f"{target}({n})", tr(action.label), show=keys.footer, priority=keys.priority))
            else:
                out.append(Binding(keys.keys, target, tr(action.label), show=keys.footer, priority=keys.priority))
    return out


def help_label(binding_action: str, scope: str, tr: Translator) -> str | None:
    """The help screen's words for a binding's action on `scope`; None for one the table
    does not bind there (Textual's own, such as a scroll view's page keys)."""
    action = BY_NAME.get(binding_action.split("(")[0].removeprefix("app."))
    if action is None or scope not in action.scopes:
        return None
    return tr(action.help or action.label)


class Scoped:
    """A node whose bindings come from the table: its class names the scope."""

    SCOPE = ""


S = TypeVar("S", bound=type[Scoped])
_LOCALIZED: dict[tuple[type, str], type] = {}


def in_language(cls: S, lang: str) -> S:
    """`cls` with its footer in `lang`. Textual reads a binding's words from the class's
    BINDINGS, which speak Indonesian: for English, a subclass of the same name says them."""
    if lang == "id":
        return cls
    key = (cls, lang)
    if key not in _LOCALIZED:
        namespace = {"BINDINGS": bindings(cls.SCOPE, lang), "__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__}
        _LOCALIZED[key] = type(cls.__name__, (cls,), namespace)
    return _LOCALIZED[key]  # type: ignore[return-value]
