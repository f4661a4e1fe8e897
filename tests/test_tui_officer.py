"""An officer responsible for one regency (issue 21, items 5-7): the token's regencies
first (queue, notices, bell), --regency/--desk and the palette change it and it is
remembered per token; # and : go to an incident by number; S sorts the queue; the
countdown to the ack deadline and the ages are exact to the minute."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from opsmon.cli import _focus, build_parser, main
from opsmon.client.session import Session
from opsmon.core.exits import EXIT_USAGE
from opsmon.core.protocol import IncidentDraft, Report
from opsmon.tui.app import OpsmonApp
from opsmon.tui.remembered import FILE, token_key
from opsmon.tui.widgets.queue import IncidentQueue
from opsmon.tui.widgets.regency import RegencyPanel
from tests.helpers import FakeClock, Running, hello, province
from tests.tui_helpers import queue_of, report, screen_lines, settle, until

SIZES = [(80, 24), (120, 40)]


@contextlib.asynccontextmanager
async def officer(server: Running, clock: FakeClock, token: str, size: tuple[int, int], **options: Any) -> AsyncIterator[tuple[OpsmonApp, Pilot[int]]]:
    """The dashboard as `token`, once the server has welcomed it."""
    app = OpsmonApp(url=server.url, token=server.tokens[token], clock=clock, desks=server.config.desks(), **options)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.welcome is not None and app.dashboard.ready)
        await settle(pilot)
        yield app, pilot


async def send(server: Running, drafts: list[tuple[str, str, str, str]]) -> list[int]:
    """Report (regency, category, severity, title) as the admin; returns the ids."""
    session = await Session.open(server.url, server.tokens["admin"])
    try:
        ids = []
        for regency, category, severity, title in drafts:
            result = await session.request(Report(id=f"o-{title}", incident=IncidentDraft(regency=regency, category=category, severity=severity, title=title)))
            assert result.ok, result
            ids.append(result.incident)
        return ids
    finally:
        await session.close()


def title_of(app: OpsmonApp) -> str:
    return str(app.dashboard.query_one("#queue-title").render())


def row_of(app: OpsmonApp, incident_id: int) -> str:
    """The queue's line for #id, as the terminal shows it."""
    return next(line for line in screen_lines(app) if f"#{incident_id} " in line)


# --- 5: the officer's own regencies -------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
async def test_a_scoped_token_starts_on_its_regency_and_only_its_alerts_ring(server: Running, clock: FakeClock, size: tuple[int, int]) -> None:
    ids = await report(server, clock, [("6371", "high", "Kotak suara rusak"), ("6310", "high", "Jalan putus")])
    async with officer(server, clock, "bjm", size) as (app, pilot):  # the token is scoped to 6371 Banjarmasin
        await until(pilot, lambda: queue_of(app).incident_ids == [ids[0]])
        assert "fokus: Banjarmasin" in title_of(app)
        panels = {panel.code: panel for panel in app.dashboard.query(RegencyPanel)}
        assert panels["6310"].has_class("-outside") and not panels["6371"].has_class("-outside")  # shown, quiet
        bells, notices = app.bells, len(app.notices)
        [elsewhere] = await send(server, [("6310", "keamanan", "critical", "Bentrok massa")])
        await until(pilot, lambda: elsewhere in app.state.incidents)
        await settle(pilot)
        assert app.bells == bells and len(app.notices) == notices  # another regency's critical: no bell, no notice
        assert elsewhere not in queue_of(app).incident_ids
        [here] = await send(server, [("6371", "keamanan", "critical", "Kotak dibakar")])
        await until(pilot, lambda: app.bells == bells + 1)
        assert any(f"#{here}" in notice for notice in app.notices)
        await until(pilot, lambda: queue_of(app).incident_ids[:1] == [here])
        await pilot.press("number_sign", *str(ids[1]), "enter")  # outside the focus: its detail opens
        await until(pilot, lambda: getattr(app.screen, "incident_id", None) == ids[1])


@pytest.mark.parametrize("size", SIZES)
async def test_the_palette_changes_the_focus_and_this_machine_remembers_it_per_token(
    server: Running, clock: FakeClock, tmp_path: Path, size: tuple[int, int]
) -> None:
    ids = await send(server, [("6371", "logistik", "high", "Surat suara kurang"), ("6310", "keamanan", "high", "Jalan diblokir")])
    async with officer(server, clock, "bjm", size, remember_in=tmp_path) as (app, pilot):
        await until(pilot, lambda: queue_of(app).incident_ids == [ids[0]])
        await pilot.press("ctrl+p", *"seluruh provinsi")
        await settle(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: sorted(queue_of(app).incident_ids) == sorted(ids))
        assert "fokus:" not in title_of(app)
        await pilot.press("ctrl+p", *"meja: polri")
        await settle(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: queue_of(app).incident_ids == [ids[1]])  # keamanan is the Polri desk's
        assert "meja Polri" in title_of(app)
    saved = (tmp_path / FILE).read_text()
    assert server.tokens["bjm"] not in saved  # a hash of the token, never the token
    async with officer(server, clock, "bjm", size, remember_in=tmp_path) as (app, pilot):
        await until(pilot, lambda: queue_of(app).incident_ids == [ids[1]])  # the province, the Polri desk: as left
    async with officer(server, clock, "officer", size, remember_in=tmp_path) as (app, pilot):
        await until(pilot, lambda: len(queue_of(app).incident_ids) == 2)  # another token: its own (the province)
    # --regency and --desk win over what was remembered, and are remembered in turn.
    async with officer(server, clock, "bjm", size, remember_in=tmp_path, regencies=("6371",), desk="") as (app, pilot):
        await until(pilot, lambda: queue_of(app).incident_ids == [ids[0]])
    async with officer(server, clock, "bjm", size, remember_in=tmp_path) as (app, pilot):
        await until(pilot, lambda: queue_of(app).incident_ids == [ids[0]])


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--regency", "Atlantis"], "--regency: unknown regency 'Atlantis' (known: 6301 Tanah Laut"),
        (["--regency", " , "], "--regency needs a regency name or code"),
        (["--desk", "Kodim"], "--desk: unknown desk 'Kodim' (known: Bawaslu, KPU, Polri, all)"),
    ],
)
def test_a_bad_regency_or_desk_is_one_clear_line(argv: list[str], said: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*argv, "--url", "ws://127.0.0.1:9/ws", "--token", "x"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert said in err and err.count("\n") == 1 and "Traceback" not in err


# --- 6: go to an incident by number ---------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
async def test_hash_and_colon_go_to_an_incident_from_the_queue_the_palette_and_search(server: Running, clock: FakeClock, size: tuple[int, int]) -> None:
    ids = await report(server, clock, [("6371", "high", "A"), ("6303", "medium", "B"), ("6302", "low", "C"), ("6304", "medium", "D")])
    async with officer(server, clock, "officer", size) as (app, pilot):
        queue = queue_of(app)
        await until(pilot, lambda: len(queue.incident_ids) == 4)
        await pilot.press("number_sign", *str(ids[2]), "enter")
        await settle(pilot)
        assert queue.selected_id == ids[2]
        await pilot.press("colon", *str(ids[3]), "enter")  # k9s' command mode
        await settle(pilot)
        assert queue.selected_id == ids[3]
        await pilot.press("ctrl+p", "number_sign", *str(ids[1]))
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert queue.selected_id == ids[1]
        await pilot.press("a")  # and the key acts on it
        await until(pilot, lambda: app.state.incidents[ids[1]].status == "acknowledged")
        await pilot.press("number_sign", *"999", "enter")
        await settle(pilot)
        assert "Insiden #999 tidak ada" in app.notices[-1] and queue.selected_id == ids[1]
        await pilot.press("colon", *"abc", "enter")
        await settle(pilot)
        assert "Bukan nomor insiden: abc" in app.notices[-1]
        await pilot.press("escape")
        await pilot.press("slash", "number_sign", *str(ids[0]), "enter")  # /#8 finds #8, not every 8 in a title
        await settle(pilot)
        assert queue.incident_ids == [ids[0]]


# --- 7: sort, countdown, exact ages ---------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
async def test_s_sorts_by_newest_severity_and_time_left_and_the_title_says_which(server: Running, clock: FakeClock, size: tuple[int, int]) -> None:
    # low first (4 h to ack), then critical (5 min), then high (15 min), 3 minutes apart.
    low, critical, high = await report(server, clock, [("6371", "low", "Tinta habis"), ("6303", "critical", "Kericuhan"), ("6302", "high", "Saksi diusir")])
    async with officer(server, clock, "officer", size) as (app, pilot):
        queue = queue_of(app)
        await until(pilot, lambda: len(queue.incident_ids) == 3)
        assert queue.incident_ids == [critical, high, low] and "urut: mendesak" in title_of(app)
        await pilot.press("a")  # the critical one is acknowledged: its deadline no longer runs
        await until(pilot, lambda: app.state.incidents[critical].status == "acknowledged")
        await pilot.press("S")
        await settle(pilot)
        assert "urut: terbaru" in title_of(app) and queue.incident_ids == [high, critical, low]
        await pilot.press("S")
        await settle(pilot)
        assert "urut: keparahan" in title_of(app) and queue.incident_ids == [critical, high, low]
        await pilot.press("S")
        await settle(pilot)
        assert "urut: sisa tenggat" in title_of(app) and queue.incident_ids == [high, low, critical]
        await pilot.press("escape")  # clearing the filters keeps the order chosen
        await settle(pilot)
        assert "urut: sisa tenggat" in title_of(app)
        await pilot.press("S")
        await settle(pilot)
        assert "urut: mendesak" in title_of(app)


@pytest.mark.parametrize("size", SIZES)
async def test_the_countdown_and_the_age_are_exact_to_the_minute(server: Running, clock: FakeClock, size: tuple[int, int]) -> None:
    clock.advance(seconds=19)  # reported 21:00:19 WITA; a critical is due 21:05:19
    reported = clock.now
    [incident] = await report(server, clock, [("6371", "critical", "Kotak hilang")])
    async with officer(server, clock, "officer", size) as (app, pilot):
        await until(pilot, lambda: len(queue_of(app).incident_ids) == 1)

        async def at(seconds_after: int, age: str, due: str) -> None:
            clock.now = reported + timedelta(seconds=seconds_after)
            await pilot.pause(1.2)  # the one-second tick redraws
            await settle(pilot)
            cells = row_of(app, incident).split()
            assert age in cells and due in " ".join(cells), (seconds_after, cells)

        await at(3 * 60 + 38, "3m", "2m")  # 21:03:57: 3 minutes old (not "2m"), 1m22s left (shown "2m")
        await at(4 * 60 + 1, "4m", "1m")  # 59 s left: the last minute
        await at(5 * 60, "5m", "LEWAT <1m")  # the deadline itself
        await at(7 * 60, "7m", "LEWAT 2m")
        await at(7 * 60 + 59, "7m", "LEWAT 2m")
        await at(8 * 60, "8m", "LEWAT 3m")
        # Days into a recapitulation the countdown is still whole ("LEWAT 6h0" was cut to the old 10 columns).
        await at(6 * 86400 + 10 * 60, "6h00j", "LEWAT 6h00j")


@pytest.mark.parametrize("size", SIZES)
async def test_a_long_nights_countdowns_are_whole_beside_the_scrollbar(server: Running, clock: FakeClock, size: tuple[int, int]) -> None:
    """More rows than the screen: the scrollbar takes the queue's last columns, and the
    columns are fitted to what is left (they were fitted to the whole width, and every
    countdown lost its end under the scrollbar: 'LEWAT 9h18' for 'LEWAT 9h18j')."""
    await report(server, clock, [("6371", "critical", f"Kotak hilang {n}") for n in range(40)])
    clock.advance(days=16)  # a recapitulation runs for weeks: two-digit days
    async with officer(server, clock, "officer", size) as (app, pilot):
        await until(pilot, lambda: len(queue_of(app).incident_ids) == 40)
        await settle(pilot)
        rows = [line for line in screen_lines(app) if "Kotak hilang" in line]
        assert len(rows) >= 5, rows
        for line in rows:
            assert re.search(r"LEWAT 16h\d\dj", line), line


# --- 8: the merge and assign pickers -------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
async def test_merge_offers_its_own_regency_first_and_enter_alone_merges_nothing(server: Running, clock: FakeClock, size: tuple[int, int]) -> None:
    bjm, tb1, tb2 = await report(
        server, clock, [("6371", "critical", "Kotak suara rusak"), ("6310", "high", "Surat suara basah"), ("6310", "medium", "Surat suara basah lagi")]
    )
    async with officer(server, clock, "officer", size) as (app, pilot):
        queue = queue_of(app)
        await until(pilot, lambda: len(queue.incident_ids) == 3)
        await pilot.press("number_sign", *str(tb2), "enter", "M")
        await until(pilot, lambda: type(app.screen).__name__ == "PickModal")
        picker: Any = app.screen
        assert picker.values[0] == tb1 and picker.values[2] == bjm  # Tanah Bumbu's own first, then "— wilayah lain —"
        assert "wilayah lain" in picker.labels[1] and picker.highlighted is None
        await pilot.press("enter")  # what `M Enter` did: merged into Banjarmasin's. Now: nothing
        await settle(pilot)
        assert type(app.screen).__name__ == "PickModal" and app.state.incidents[tb2].merged_into is None
        await pilot.press("j", "enter")
        await until(pilot, lambda: app.state.incidents[tb2].merged_into == tb1)


@pytest.mark.parametrize("size", SIZES)
async def test_assign_picks_among_the_people_the_server_knows(server: Running, clock: FakeClock, size: tuple[int, int]) -> None:
    [incident] = await report(server, clock, [("6371", "high", "Saksi diusir")])
    async with officer(server, clock, "polisi", size) as (app, pilot):  # a Polri officer: Polri's people first
        await until(pilot, lambda: len(queue_of(app).incident_ids) == 1)
        await pilot.press("T")
        await until(pilot, lambda: type(app.screen).__name__ == "PickModal")
        picker: Any = app.screen
        assert picker.labels == ["Polri/polisi", "Bawaslu/officer", "KPU/admin", "KPU/bjm"]  # no viewer, nothing to type
        assert any("Polri/polisi" in line for line in screen_lines(app))
        await pilot.press("enter")  # nothing highlighted: nobody assigned
        await settle(pilot)
        assert app.state.incidents[incident].owner is None and type(app.screen).__name__ == "PickModal"
        await pilot.press("j", "j", "enter")
        await until(pilot, lambda: app.state.incidents[incident].owner is not None)
        owner = app.state.incidents[incident].owner
        assert owner is not None and (owner.agency, owner.name) == ("Bawaslu", "officer")


async def test_the_welcome_names_who_an_incident_can_be_assigned_to(server: Running) -> None:
    ws, welcome = await hello(server.url, server.tokens["officer"])
    await ws.close()
    people = [(p["agency"], p["name"]) for p in welcome["people"]]
    assert people == [("Bawaslu", "officer"), ("KPU", "admin"), ("KPU", "bjm"), ("Polri", "polisi")]  # no viewer, no secret
    assert all(set(p) == {"name", "agency"} for p in welcome["people"])
    ws, welcome = await hello(server.url, server.tokens["wall"])
    await ws.close()
    assert welcome["people"] is None  # a token that only reads is told no names
    assert await server.store.revoke_token("polisi")
    ws, welcome = await hello(server.url, server.tokens["officer"])
    await ws.close()
    assert ("Polri", "polisi") not in [(p["agency"], p["name"]) for p in welcome["people"]]


# --- 9: the regency screen obeys the queue's keys ----------------------------------------


@pytest.mark.parametrize("size", SIZES)
async def test_the_regency_screen_obeys_j_k_enter_a_and_the_rest(server: Running, clock: FakeClock, size: tuple[int, int]) -> None:
    first, second, elsewhere = await report(server, clock, [("6371", "critical", "Kotak rusak"), ("6371", "high", "Saksi diusir"), ("6303", "high", "Banjir")])
    async with officer(server, clock, "officer", size) as (app, pilot):
        await until(pilot, lambda: len(queue_of(app).incident_ids) == 3)
        await pilot.press("number_sign", *str(first), "enter", "d")  # the selected incident's regency
        await until(pilot, lambda: type(app.screen).__name__ == "RegencyScreen")
        await settle(pilot)
        here = app.screen.query_one(IncidentQueue)
        assert here.incident_ids == [first, second] and here.selected_id == first  # this regency's only, on the one chosen
        await pilot.press("j")
        assert here.selected_id == second
        await pilot.press("enter")
        await until(pilot, lambda: getattr(app.screen, "incident_id", None) == second)
        await pilot.press("escape")
        await until(pilot, lambda: type(app.screen).__name__ == "RegencyScreen")
        await pilot.press("a")
        await until(pilot, lambda: app.state.incidents[second].status == "acknowledged")
        await settle(pilot)
        assert here.selected_id == second  # the cursor stays on it as it moves down
        await pilot.press("k", "n", *"dicek", "enter")
        await until(pilot, lambda: any(note.text == "dicek" for note in app.state.incidents[first].notes))
        await pilot.press("space", "j", "space", "t")  # marked rows, one verb: both taken
        await until(pilot, lambda: all(app.state.incidents[i].owner is not None for i in (first, second)))
        assert app.state.incidents[elsewhere].owner is None and app.state.incidents[elsewhere].status == "open"


def test_regency_and_desk_take_names_codes_and_lists_as_the_feeders_do() -> None:
    config = province()
    args = build_parser().parse_args(["--regency", "Tanah Bumbu,6371", "--regency", "banjarmasin", "--desk", "polri"])
    regencies, desk, desks = _focus(args, config)
    assert regencies == ("6310", "6371") and desk == "Polri" and "keamanan" in desks["Polri"]
    assert _focus(build_parser().parse_args(["--regency", "all", "--desk", "all"]), config)[:2] == ((), "")  # the province, every desk
    assert _focus(build_parser().parse_args([]), config)[:2] == (None, None)  # nothing asked: remembered, else the token's


async def test_a_broken_state_file_costs_only_the_memory(server: Running, clock: FakeClock, tmp_path: Path) -> None:
    ids = await send(server, [("6371", "logistik", "high", "Surat suara kurang"), ("6310", "keamanan", "high", "Jalan diblokir")])
    (tmp_path / FILE).write_text("{not json")
    async with officer(server, clock, "bjm", (80, 24), remember_in=tmp_path) as (app, pilot):
        await until(pilot, lambda: queue_of(app).incident_ids == [ids[0]])  # the token's own regency, as if nothing were kept
        await pilot.press("ctrl+p", *"seluruh provinsi")
        await settle(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: len(queue_of(app).incident_ids) == 2)
    assert (tmp_path / FILE).stat().st_mode & 0o777 == 0o600  # the officer's own, like a token file
    assert json.loads((tmp_path / FILE).read_text()) == {token_key(server.tokens["bjm"]): {"regencies": [], "desk": None}}
