"""Who may connect: browser origins, connections per token and per address,
tokens that expire, and token changes as events in the log."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from opsmon.client.failures import ClientError, Unauthorized
from opsmon.client.session import Session
from opsmon.core.clock import format_ts
from opsmon.core.config import Config
from opsmon.core.fold import apply
from opsmon.core.protocol import Event, IncidentDraft, Report
from opsmon.core.records import SYSTEM
from opsmon.core.state import State
from opsmon.core.wire import convert_payload, to_builtins
from server.auth import add_token
from tests.helpers import FakeClock, province, running_server
from tests.processes import opsmon_server
from tests.wire import Peer, report


def with_server(**settings: object) -> Config:
    config = province()
    return msgspec.structs.replace(config, server=msgspec.structs.replace(config.server, **settings))


# --- origins ------------------------------------------------------------------------------


async def test_browser_origins_must_be_allowed(tmp_path: Path) -> None:
    config = with_server(allowed_origins=("https://dinding.posko.local",))
    async with running_server(tmp_path, config=config) as running:
        with pytest.raises(InvalidStatus) as refused:
            await connect(running.url, origin="https://evil.example")  # type: ignore[arg-type]
        assert refused.value.response.status_code == 403
        assert b"allowed_origins" in refused.value.response.body
        allowed = await Peer.open(running, running.tokens["wall"], origin="https://dinding.posko.local")
        await allowed.close()
        # The TUI and the feeders send no Origin: always allowed.
        session = await Session.open(running.url, running.tokens["wall"])
        await session.close()


async def test_no_browser_page_may_connect_by_default(tmp_path: Path) -> None:
    async with running_server(tmp_path) as running:
        assert running.config.server.allowed_origins == ()
        with pytest.raises(InvalidStatus) as refused:
            await connect(running.url, origin=f"http://127.0.0.1:{running.server.port}")  # type: ignore[arg-type]
        assert refused.value.response.status_code == 403


# --- connection limits ----------------------------------------------------------------------


async def test_connections_per_token_are_capped_with_a_clear_refusal(tmp_path: Path) -> None:
    async with running_server(tmp_path, config=with_server(max_connections_per_token=2)) as running:
        token = running.tokens["officer"]
        first, second = await Peer.open(running, token), await Peer.open(running, token)
        with pytest.raises(ClientError, match="too_many_connections.*already has 2 connections") as refused:
            await Session.open(running.url, token)
        assert not isinstance(refused.value, Unauthorized)  # a client tries again later; its token is fine
        other = await Peer.open(running, running.tokens["polisi"])  # another token is not affected
        await first.close()
        await asyncio.sleep(0.1)  # let the server see the close
        third = await Peer.open(running, token)
        for peer in (second, third, other):
            await peer.close()


async def test_connections_per_address_are_capped_before_the_hello(tmp_path: Path) -> None:
    async with running_server(tmp_path, config=with_server(max_connections_per_address=3)) as running:
        peers = [await Peer.open(running, running.tokens[name]) for name in ("officer", "polisi", "wall")]
        ws = await connect(running.url)
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))  # without sending anything
        assert frame["code"] == "too_many_connections" and "127.0.0.1" in frame["message"] and "max_connections_per_address" in frame["message"]
        await asyncio.sleep(0.05)
        assert ws.close_code == 1013
        await peers[0].close()
        await asyncio.sleep(0.1)
        again = await Peer.open(running, running.tokens["officer"])
        for peer in [*peers[1:], again]:
            await peer.close()


# --- expiry ---------------------------------------------------------------------------------


async def test_an_expired_token_is_refused_and_its_connections_closed(tmp_path: Path, clock: FakeClock) -> None:
    async with running_server(tmp_path, clock=clock) as running:
        known = {r.code for r in running.config.regencies}
        token = await add_token(running.store, "Relawan", "officer", "KPU", None, known, expires=clock.now + timedelta(hours=3), log_change=True)
        await running.server.tokens.check()  # the watcher's round: logs the new token
        peer = await Peer.open(running, token)
        assert (await peer.command("report", **report()))["ok"]
        clock.advance(hours=3)
        await running.server.tokens.check()
        code, frames = await peer.closed()
        assert code == 1008
        assert frames[-1]["code"] == "unauthorized" and frames[-1]["message"] == "token expired at 2024-02-15 00:00 WITA"
        with pytest.raises(Unauthorized, match="token expired at 2024-02-15 00:00 WITA"):
            await Session.open(running.url, token)
        # Both the token and its expiry are in the event log, once each.
        events = await running.store.events_since(0)
        kinds = [(e.kind, getattr(e.data, "name", None)) for e in events]
        assert kinds == [("token.added", "Relawan"), ("incident.reported", None), ("token.expired", "Relawan")]
        assert events[2].data.expired == format_ts(clock.now)
        await running.server.tokens.check()
        assert len(await running.store.events_since(0)) == 3


async def test_an_exercise_expires_tokens_on_the_real_clock_not_the_scenarios(tmp_path: Path) -> None:
    """A trainee's token made `--expires` at the end of the training day: the exercise
    server runs on a 2024 scenario clock, which never reached a 2026 expiry, so the token
    stayed good for ever there. Expiry and last use are real time, an exercise or not."""
    from tests.exercises import exercise_server

    async with exercise_server(tmp_path, speed=60) as (running, base):
        known = {r.code for r in running.config.regencies}
        token = await add_token(running.store, "Peserta 07", "officer", "KPU", None, known, expires=base.now + timedelta(hours=3), log_change=True)
        await running.server.tokens.check()
        peer = await Peer.open(running, token)
        assert (await peer.command("report", **report()))["ok"]
        assert running.server.clock().year == 2024  # the scenario's day, while the real one is 2026
        assert running.server.connections.used  # its last use, to be saved by the next round...
        assert next(iter(running.server.connections.used.values())) == format_ts(base.now)  # ...on the real clock
        base.advance(hours=3)
        await running.server.tokens.check()
        code, frames = await peer.closed()
        assert code == 1008 and frames[-1]["code"] == "unauthorized", frames[-1]
        with pytest.raises(Unauthorized, match="token expired"):
            await Session.open(running.url, token)
        other = await Session.open(running.url, running.tokens["officer"], page=1)
        try:  # the assign picker no longer offers the expired trainee either
            assert other.welcome.people is not None and "Peserta 07" not in {p.name for p in other.welcome.people}
        finally:
            await other.close()
        expired = [e for e in await running.store.events_since(0) if e.kind == "token.expired"]
        assert [e.data.expired for e in expired] == [format_ts(base.now)]  # type: ignore[union-attr]


def test_expires_must_be_a_future_time(tmp_path: Path) -> None:
    db = str(tmp_path / "opsmon.db")
    for given, says in (("besok", "not a date and time"), ("2020-01-01T00:00+08:00", "already past")):
        done = opsmon_server("token", "add", "X", "--role", "officer", "--agency", "KPU", "--expires", given, "--db", db)
        assert done.returncode != 0 and says in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


# --- token changes in the log, and the token list ---------------------------------------------


@pytest.mark.slow
async def test_token_add_revoke_and_add_again_are_events_and_keep_the_revocation(tmp_path: Path, clock: FakeClock) -> None:
    db = tmp_path / "opsmon.db"
    added = await asyncio.to_thread(
        opsmon_server, "token", "add", "Rahmat", "--role", "officer", "--agency", "Bawaslu", "--expires", "2099-03-11T00:00", "--db", str(db)
    )
    assert added.returncode == 0, added.stderr
    assert "until 2099-03-11 00:00 WITA" in added.stdout  # no offset given: the province's time
    old_secret = added.stdout.splitlines()[-1]
    assert (await asyncio.to_thread(opsmon_server, "token", "revoke", "Rahmat", "--db", str(db))).returncode == 0
    again = await asyncio.to_thread(opsmon_server, "token", "add", "Rahmat", "--role", "officer", "--agency", "Bawaslu", "--db", str(db))
    assert again.returncode == 0, again.stderr
    assert "had a token revoked at" in again.stdout and "stays revoked" in again.stdout
    new_secret = again.stdout.splitlines()[-1]
    listing = (await asyncio.to_thread(opsmon_server, "token", "list", "--db", str(db))).stdout
    lines = [line for line in listing.splitlines() if line.startswith("Rahmat")]
    assert len(lines) == 2 and "revoked" in lines[0] and lines[1].endswith("active") and all("never used" in line for line in lines)

    async with running_server(tmp_path, clock=clock) as running:
        events = await running.store.events_since(0)
        assert [(e.kind, e.data.name) for e in events] == [("token.added", "Rahmat"), ("token.revoked", "Rahmat"), ("token.added", "Rahmat")]
        assert events[0].data.expires == "2099-03-10T16:00:00.000Z" and events[0].data.agency == "Bawaslu"
        assert all(e.actor.name == "system" for e in events)
        text = json.dumps([to_builtins(e.data) for e in events])
        for secret in (old_secret, new_secret):
            assert secret not in text and secret[4:20] not in text
        with pytest.raises(Unauthorized):
            await Session.open(running.url, old_secret)  # revoked stays revoked
        session = await Session.open(running.url, new_secret)
        await session.close()
        await running.server.tokens.check()  # saves the last use
    listing = (await asyncio.to_thread(opsmon_server, "token", "list", "--db", str(db))).stdout
    lines = [line for line in listing.splitlines() if line.startswith("Rahmat")]
    assert "never used" in lines[0] and "last used 2" in lines[1] and "WITA" in lines[1]


def test_token_events_change_nothing_a_client_folds() -> None:
    """Clients fold every event with the same apply: a token event only moves seq."""
    state = State(seq=4)
    before = state.as_builtins()
    for seq, kind in enumerate(("token.added", "token.revoked", "token.expired", "some.future_kind"), start=5):
        apply(
            state,
            Event(
                seq=seq,
                ts="2024-02-14T13:00:00.000Z",
                kind=kind,
                actor=SYSTEM,
                data=convert_payload(
                    kind,
                    {
                        "name": "Rahmat",
                        "role": "officer",
                        "agency": "KPU",
                        "regencies": None,
                        "expires": None,
                        "by": None,
                        "expired": "2024-02-14T13:00:00.000Z",
                        "at": "2024-02-14T13:00:00.000Z",
                    },
                ),
            ),
        )
    assert state.seq == 8
    assert {**state.as_builtins(), "seq": 4} == before


async def test_the_dashboard_takes_token_events_in_its_stride(tmp_path: Path, clock: FakeClock) -> None:
    """A token added while screens are open reaches them as an event: the
    dashboard folds it (seq moves on), shows nothing for it, and keeps working."""
    from opsmon.tui.app import OpsmonApp
    from tests.tui_helpers import until

    async with running_server(tmp_path, clock=clock) as running:
        app = OpsmonApp(url=running.url, token=running.tokens["officer"], clock=clock)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.online and app.state.seq == 0)
            known = {r.code for r in running.config.regencies}
            await add_token(running.store, "Relawan", "officer", "KPU", None, known, log_change=True)
            await running.server.tokens.check()
            await until(pilot, lambda: app.state.seq == 1)
            assert app.state.incidents == {} and app.online
            assert not any("Relawan" in notice for notice in app.notices)
            session = await Session.open(running.url, running.tokens["admin"])
            assert (
                await session.request(
                    Report(id="after-token", incident=IncidentDraft(regency="6371", category="logistik", severity="high", title="Kotak suara rusak"))
                )
            ).ok
            await session.close()
            await until(pilot, lambda: app.state.seq == 2 and 1 in app.state.incidents)


# --- clients behind a proxy -----------------------------------------------------------------


async def _turned_away(url: str, forwarded: str) -> str | None:
    """A websocket that says it is from `forwarded`: the refusal sent before any hello, or None if it was let in."""
    ws = await connect(url, additional_headers={"X-Forwarded-For": forwarded})
    try:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
    except TimeoutError:
        await ws.close()
        return None
    await ws.close()
    return str(frame["message"]) if frame.get("code") == "too_many_connections" else None


async def test_the_per_address_limit_counts_the_client_a_trusted_proxy_names(tmp_path: Path) -> None:
    """Through a proxy every socket comes from the proxy: the limit counts the clients X-Forwarded-For names."""
    config = with_server(max_connections_per_address=2, trusted_proxies=("127.0.0.1/32",))
    async with running_server(tmp_path, config=config) as running:
        # Five clients behind the proxy, two connections each: none is the proxy's third.
        held = [await connect(running.url, additional_headers={"X-Forwarded-For": f"10.0.0.{n}"}) for n in range(5) for _ in range(2)]
        # A third from one client is turned away, naming that client; what it wrote left of the proxy's entry is not believed.
        said = await _turned_away(running.url, "192.0.2.7, 10.0.0.3")
        assert said is not None and "10.0.0.3" in said and "192.0.2.7" not in said and "127.0.0.1" not in said
        assert await _turned_away(running.url, "10.0.0.99") is None  # another client still gets in
        for ws in held:
            await ws.close()


async def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(tmp_path: Path) -> None:
    async with running_server(tmp_path, config=with_server(max_connections_per_address=2)) as running:
        held = [await connect(running.url, additional_headers={"X-Forwarded-For": f"10.0.0.{n}"}) for n in range(2)]
        said = await _turned_away(running.url, "10.0.0.9")
        assert said is not None and "127.0.0.1" in said and "10.0.0.9" not in said
        for ws in held:
            await ws.close()


def test_a_trusted_proxy_that_is_not_an_address_is_refused_naming_the_key(tmp_path: Path) -> None:
    from opsmon.core.config import ConfigError, load_config
    from tests.helpers import CONFIG_PATH

    text = CONFIG_PATH.read_text(encoding="utf-8").replace("metrics_allow = [", 'trusted_proxies = ["haproxy"]\nmetrics_allow = [', 1)
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"server.trusted_proxies\[0\]: 'haproxy' is not an address or network"):
        load_config(tmp_path / "config.toml")
