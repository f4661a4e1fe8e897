"""The roster on the wall (issue 26 item 3): who of an exercise's expected trainees
is not connected, said in the welcome and, on change only, in `status`; the wall
(and the trainer's admin token) shows it in one line. A real exercise server,
real websockets, Textual Pilot."""

from __future__ import annotations

from pathlib import Path

from opsmon.training.roster import Trainee
from opsmon.tui.app import OpsmonApp
from server.auth import add_token
from tests.exercises import exercise_server
from tests.helpers import running_server
from tests.tui_helpers import screen_lines, settle, until
from tests.wire import Peer

ROSTER = (Trainee("Officer", "Bawaslu"), Trainee("polisi", "Polri"), Trainee("Sari", "KPU"))


def absent(info: dict[str, object] | None) -> list[str]:
    assert info is not None
    return [f"{a['agency']}/{a['name']}" for a in info["absent"]]  # type: ignore[index, attr-defined]


async def test_the_welcome_and_a_status_on_each_change_say_who_is_not_connected(tmp_path: Path) -> None:
    async with exercise_server(tmp_path, speed=60, roster=ROSTER) as (server, _):
        wall = await Peer.open(server, server.tokens["wall"])
        roster = wall.welcome["exercise"]["roster"]
        assert roster["expected"] == 3 and absent(roster) == ["Bawaslu/Officer", "KPU/Sari", "Polri/polisi"]  # by desk, as the post sits
        trainee = await Peer.open(server, server.tokens["officer"])
        assert absent(trainee.welcome["exercise"]["roster"]) == ["KPU/Sari", "Polri/polisi"]  # its own name counts as connected
        status = await wall.until(lambda f: f.get("type") == "status")
        assert status["problem"] is None and absent(status["roster"]) == ["KPU/Sari", "Polri/polisi"]
        # Someone not on the roster (a second wall) changes nothing: no frame for it.
        other = await Peer.open(server, server.tokens["bjm"])
        assert not [f for f in await wall.quiet(0.3) if f.get("type") == "status"]
        await trainee.close()
        status = await wall.until(lambda f: f.get("type") == "status")
        assert absent(status["roster"]) == ["Bawaslu/Officer", "KPU/Sari", "Polri/polisi"]
        await other.close()
        await wall.close()
    # Without --roster every officer token is expected; a real night says nothing of a roster.
    (tmp_path / "tokens").mkdir()
    async with exercise_server(tmp_path / "tokens", speed=60) as (server, _):
        wall = await Peer.open(server, server.tokens["wall"])
        assert absent(wall.welcome["exercise"]["roster"]) == ["Bawaslu/officer", "KPU/bjm", "Polri/polisi"]
        # A trainee's token added while it serves is expected from the server's next token round.
        await add_token(server.store, "Peserta 21", "officer", "Polri", None, {r.code for r in server.config.regencies}, log_change=True)
        await server.server.tokens.check()
        status = await wall.until(lambda f: f.get("type") == "status")
        assert absent(status["roster"]) == ["Bawaslu/officer", "KPU/bjm", "Polri/Peserta 21", "Polri/polisi"]
        await wall.close()
    async with running_server(tmp_path, db_name="malam.db") as real:
        wall = await Peer.open(real, real.tokens["wall"])
        assert wall.welcome["exercise"] is None
        await wall.close()


async def test_the_wall_shows_who_is_not_connected_and_a_trainee_does_not(tmp_path: Path) -> None:
    async with exercise_server(tmp_path, speed=60, roster=ROSTER) as (server, clock):
        app = OpsmonApp(url=server.url, token=server.tokens["wall"], clock=clock)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.welcome is not None and app.roster is not None)
            await settle(pilot)
            line = next((row for row in screen_lines(app) if "Belum tersambung" in row), "")
            assert "Belum tersambung (3 dari 3): Bawaslu/Officer, KPU/Sari, Polri/polisi" in line
            trainee = await Peer.open(server, server.tokens["officer"])
            polisi = await Peer.open(server, server.tokens["polisi"])
            await until(pilot, lambda: "Belum tersambung (1 dari 3): KPU/Sari" in app.absent_text)
            await settle(pilot)
            assert any("Belum tersambung (1 dari 3): KPU/Sari" in row and "Officer" not in row for row in screen_lines(app))
            await polisi.close()
            await until(pilot, lambda: "Polri/polisi" in app.absent_text)
            await settle(pilot)
            assert any("Belum tersambung (2 dari 3): KPU/Sari, Polri/polisi" in row for row in screen_lines(app))
            await trainee.close()
        # A trainee's screen has no such line; the trainer's (an admin token) has.
        for token, shown in (("officer", False), ("admin", True)):
            seat = OpsmonApp(url=server.url, token=server.tokens[token], clock=clock)
            async with seat.run_test(size=(120, 40)) as pilot:
                await until(pilot, lambda: seat.welcome is not None and seat.roster is not None)  # noqa: B023 - awaited here
                await settle(pilot)
                assert any("Belum tersambung" in row for row in screen_lines(seat)) is shown, token
