"""A recapitulation runs for weeks: a time from another day always carries its date.

Walking an exercise of the `rekap` scenario past its first days, the wall's latest
incidents read "20:04 WITA, 15:39 WITA, 22:02 WITA" for reports of three different days,
and an incident's notes and the handover's notes showed a bare clock time beside a
history that had dates. The time alone stays for today's moments (the screen is narrow).
"""

from __future__ import annotations

from datetime import UTC, datetime

from opsmon.core.protocol import IncidentDraft, Note, Report
from opsmon.core.view import handover_lines, handover_sheet
from opsmon.tui.app import OpsmonApp
from opsmon.tui.widgets.status import Ticker
from tests.helpers import FakeClock, Running
from tests.tui_helpers import act, screen_lines, until


async def two_days(server: Running, clock: FakeClock) -> None:
    """#1 reported 14/02 23:50 WITA with a note at 23:55; #2 at 00:20 on 15/02, now."""
    clock.now = datetime(2024, 2, 14, 15, 50, tzinfo=UTC)  # 23:50 WITA
    await act(server, "admin", Report(id="r1", incident=IncidentDraft(regency="6371", category="logistik", severity="critical", title="Kotak suara basah")))
    clock.advance(minutes=5)
    await act(server, "polisi", Note(id="n1", incident=1, text="Polsek meluncur"))
    clock.advance(minutes=25)  # 00:20 WITA on the 15th
    await act(server, "admin", Report(id="r2", incident=IncidentDraft(regency="6303", category="logistik", severity="high", title="Surat suara kurang")))


async def test_the_wall_dates_yesterdays_reports_and_not_todays(server: Running, clock: FakeClock) -> None:
    await two_days(server, clock)
    app = OpsmonApp(url=server.url, token=server.tokens["wall"], clock=clock)
    async with app.run_test(size=(160, 48)) as pilot:

        def ticker() -> list[str]:
            return str(app.dashboard.query_one(Ticker).render()).splitlines()

        await until(pilot, lambda: any("Surat suara kurang" in line for line in ticker()))
        today = next(line for line in ticker() if "#2 " in line)
        yesterday = next(line for line in ticker() if "#1 " in line)
        assert today.startswith("00:20 WITA "), today
        assert yesterday.startswith("14/02 23:50 WITA "), yesterday


async def test_an_incidents_notes_carry_their_date(server: Running, clock: FakeClock) -> None:
    await two_days(server, clock)
    app = OpsmonApp(url=server.url, token=server.tokens["polisi"], clock=clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: 1 in app.state.incidents and 2 in app.state.incidents)
        app.open_detail(1)
        await until(pilot, lambda: any("Polsek meluncur" in line for line in screen_lines(app)))
        note = next(line for line in screen_lines(app) if "Polsek meluncur" in line)
        assert "14/02 23:55 WITA" in note, note


async def test_the_handover_dates_a_note_from_before_the_shifts_day(server: Running, clock: FakeClock) -> None:
    await two_days(server, clock)
    await act(server, "polisi", Note(id="n2", incident=1, text="Kotak dijemur"))
    state = server.server.state
    config = server.config
    sheet = handover_sheet(
        state.incidents.values(),
        [],
        desk="KPU",
        desks={c.key: c.desk for c in config.categories},
        regencies=None,
        rosters=[],
        tz=config.province.tz,
        now=clock.now,
    )
    lines = [text for kind, text in handover_lines(sheet, server.server.config_info, "id") if kind == "note"]
    assert any("14/02 23:55 WITA" in line and "Polsek meluncur" in line for line in lines), lines
    assert any(line.strip().startswith("00:20 WITA") and "Kotak dijemur" in line for line in lines), lines
