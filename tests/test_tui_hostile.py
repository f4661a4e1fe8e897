"""Report text is shown as it was typed, in every widget: never read as markup.

A title `Kotak suara rusak [/b]` crashed the merge picker (MarkupError) and
`[@click=app.quit]` became a clickable action (issue 21, defect 2)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from opsmon.client.session import Session
from opsmon.core.protocol import Assign, IncidentDraft, Note, Owner, Report
from opsmon.tui.app import OpsmonApp
from tests.helpers import FakeClock, province, running_server
from tests.tui_helpers import act, loaded, screen_lines, settle, until

# Markup closing nothing, an action link, a variable, a style, and (through the config) control characters.
HOSTILE = "[/b] [@click=app.quit] [$x] [bold red]"
TITLE = "Kotak [/b] [@click=app.quit]"
LOCATION = "TPS [$x] [bold red]merah"
NOTE = "Tim [/b] tiba [@click=app.quit]"
PERSON = "Rahmat [bold red]"
LABEL = "Logistik [/b]"


def hostile_config():  # type: ignore[no-untyped-def]
    config = province()
    categories = tuple(
        msgspec.structs.replace(c, label=msgspec.structs.replace(c.label, id=LABEL, en=LABEL)) if c.key == "logistik" else c for c in config.categories
    )
    return msgspec.structs.replace(config, categories=categories)


def shown(app: OpsmonApp) -> str:
    return "\n".join(screen_lines(app))


@pytest.mark.parametrize("size", [(80, 24), (220, 60)])
async def test_hostile_text_is_shown_literally_on_every_screen_and_dialog(tmp_path: Path, size: tuple[int, int]) -> None:
    clock = FakeClock()
    async with running_server(tmp_path, clock=clock, config=hostile_config()) as server:
        session = await Session.open(server.url, server.tokens["admin"])
        for n, regency in ((1, "6371"), (2, "6310")):  # two regencies: not one incident's repeat
            draft = IncidentDraft(regency=regency, category="logistik", severity="critical", title=f"{TITLE} {n}", location=LOCATION)
            assert (await session.request(Report(id=f"r{n}", incident=draft))).ok
        await session.close()
        await act(server, "admin", Note(id="n1", incident=1, text=NOTE))
        await act(server, "admin", Assign(id="a1", incident=1, to=Owner(name=PERSON, agency="KPU")))
        app = OpsmonApp(url=server.url, token=server.tokens["officer"], clock=clock)
        async with app.run_test(size=size) as pilot:
            await until(pilot, loaded(app, 2))
            await settle(pilot)
            assert "[/b]" in shown(app)  # the queue's title column
            # Every screen, dialog and picker: none raises, each shows the text as typed.
            for keys, literal in [
                (["enter"], "[@click=app.quit]"),  # detail: title, location, note, owner, category
                (["d"], "[/b]"),  # the regency screen's incidents
                (["p"], None),  # sitrep preview
                (["question_mark"], None),  # help
                (["n"], None),  # note dialog
                (["z"], None),  # snooze dialog
                (["T"], None),  # assign dialog
                (["s"], None),  # severity picker
                (["M"], "[/b]"),  # merge picker: the other incident's title
                (["ctrl+p", *"lompat"], None),  # palette, searching
                (["ctrl+p"], None),  # palette, discovery
            ]:
                for key in keys:
                    await pilot.press(key)
                await settle(pilot)
                assert app.return_code is None, keys  # no crash, no [@click=app.quit] run
                text = shown(app)
                if literal is not None:
                    assert literal in text, (keys, text)
                await pilot.press("escape")
                await settle(pilot)
                if keys[0] == "ctrl+p" and len(keys) > 1:
                    await pilot.press("escape")
                    await settle(pilot)
            await pilot.press("enter")
            await settle(pilot)
            text = shown(app)
            for literal in ("[$x]", "[bold red]merah", "Tim [/b] tiba", "Rahmat [bold red]", "Logistik [/b]"):
                assert literal in text, (literal, text)
            assert "\x1b" not in text and "\x07" not in text  # escapes made visible, never sent to the terminal
            assert app.return_code is None
