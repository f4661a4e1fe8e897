"""The action table drives the keys, the footer, the help, the palette and what the wall may do;
the app tells why it stopped in one line after the terminal is back."""

from __future__ import annotations

import pytest

from opsmon.core.i18n import Translator
from opsmon.tui.actions import ACTIONS, DASHBOARD, DETAIL, VIEWER_ACTIONS
from opsmon.tui.app import OpsmonApp
from opsmon.tui.palette import commands, focus_commands
from opsmon.tui.screens.help import key_rows
from tests.helpers import Running
from tests.tui_helpers import night_app, screen_lines, settle, until


def _offered(scope: str, *, viewer: bool, tr: Translator) -> set[str]:
    """The palette titles the table promises over a screen of `scope` (regencies aside)."""
    return {tr(a.label) for a in ACTIONS if a.palette is not None and not a.numbered and (a.viewer or not viewer) and (a.app or scope in a.scopes)}


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_the_palette_offers_what_the_table_says_on_the_dashboard_and_the_incident(lang: str) -> None:
    app = night_app(lang=lang)
    tr = Translator(lang)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        titles = {c.title for c in commands(app, app.screen)}
        focus = {t for t in titles if t.startswith(tr("palette.focus", name=""))}
        ground = {c.title for c in focus_commands(app)}  # the officer's focus: the province, a regency, a desk
        assert titles - focus - ground == _offered(DASHBOARD, viewer=False, tr=tr)
        assert len(focus) == len(app.regency_codes())  # one per regency, by name
        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ == "IncidentScreen")
        titles = {c.title for c in commands(app, app.screen)}
        assert titles == _offered(DETAIL, viewer=False, tr=tr)
        assert tr("key.mark") not in titles and tr("key.ack") in titles  # marking is the queue's


async def test_the_wall_is_offered_only_what_a_viewer_may_use_and_refuses_the_rest() -> None:
    app = night_app(wall=True)
    tr = app.tr
    async with app.run_test(size=(200, 60)) as pilot:
        await settle(pilot)
        titles = {c.title for c in commands(app, app.screen)}
        assert titles == _offered(DASHBOARD, viewer=True, tr=tr) == {tr("key.help"), tr("key.quit"), tr("key.redraw"), tr("key.handover")}
        # Whatever runs it (a key, the palette, a script), an action a viewer may not use does nothing.
        before = app.dashboard.filter.unacked_only
        await app.dashboard.run_action("toggle_unacked")
        await app.dashboard.run_action("ack")
        await settle(pilot)
        assert app.dashboard.filter.unacked_only == before and type(app.screen).__name__ == "DashboardScreen"
        assert {"toggle_map", "sitrep", "handover", "help", "quit", "back"} <= VIEWER_ACTIONS and "ack" not in VIEWER_ACTIONS


@pytest.mark.parametrize(("lang", "help_word", "back"), [("id", "? Bantuan", "esc Kembali"), ("en", "? Help", "esc Back")])
async def test_every_screens_footer_speaks_the_officers_language(lang: str, help_word: str, back: str) -> None:
    app = night_app(lang=lang)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert screen_lines(app)[-1].lstrip().startswith(help_word)
        await pilot.press("enter")  # the incident
        await until(pilot, lambda: type(app.screen).__name__ == "IncidentScreen")
        await settle(pilot)
        assert screen_lines(app)[-1].lstrip().startswith(help_word) and back in screen_lines(app)[-1]
        await pilot.press("escape", "1", "d")  # the regency
        await until(pilot, lambda: type(app.screen).__name__ == "RegencyScreen")
        await settle(pilot)
        footer = screen_lines(app)[-1]
        assert footer.lstrip().startswith(help_word) and back in footer, footer
        rows = dict(key_rows(app, app.screen))
        assert rows["esc"] == Translator(lang)("key.back")
        # Only the table's keys: the page's own scroll keys (Textual's) are not listed as ours;
        # its incidents obey the queue's keys (issue 21 item 9).
        queue_keys = {"j / ↓", "k / ↑", "g / home", "G / end", "^d", "^u", "^f / pgdn", "^b / pgup", "⏎", "space"}
        verbs = {"a", "e", "n", "r", "o", "z", "t", "T", "s", "U", "M"}
        assert set(rows) == {"?", "q / ^q / ^c", "esc", "^p", "^l", "H"} | queue_keys | verbs, rows  # H: the shift handover


async def test_a_refused_token_says_why_once_in_one_line_after_the_terminal_is_back(server: Running, capfd: pytest.CaptureFixture[str]) -> None:
    refused = OpsmonApp(url=server.url, token="ops_not-a-token")
    async with refused.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: refused.return_code is not None)
    err = capfd.readouterr().err
    assert refused.exit_line and err.count(refused.exit_line) == 1, err
    assert refused.exit_line + "\n" in err  # the whole line, unwrapped at 80 columns
