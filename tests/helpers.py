"""A real server on a free loopback port, with a real SQLite file, for tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from opsmon.core.config import Config, load_config
from opsmon.core.state import State, stage_rows
from server.app import OpsmonServer
from server.auth import add_token
from server.store.api import EventStore
from server.store.backends import open_store

ROOT = Path(__file__).resolve().parent.parent
CONFIG_PATH = ROOT / "config.toml"


def province() -> Config:
    return load_config(CONFIG_PATH)


class FakeClock:
    """A clock the test moves by hand: deadlines without real waiting."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2024, 2, 14, 13, 0, tzinfo=UTC)  # 21:00 WITA, election night

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Running:
    server: OpsmonServer
    store: EventStore
    config: Config
    db_path: Path
    tokens: dict[str, str] = field(default_factory=dict)
    # What --db takes: the file's path, or a PostgreSQL URL.
    database: str = ""

    @property
    def url(self) -> str:
        scheme = "wss" if self.server.ssl_context is not None else "ws"
        return f"{scheme}://127.0.0.1:{self.server.port}/ws"

    @property
    def http(self) -> str:
        scheme = "https" if self.server.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.server.port}"


STANDARD_TOKENS = {
    # name: (role, agency, regencies)
    "admin": ("admin", "KPU", None),
    "officer": ("officer", "Bawaslu", None),
    "polisi": ("officer", "Polri", None),
    "bjm": ("officer", "KPU", ["6371"]),
    "wall": ("viewer", "KPU", None),
}


@contextlib.asynccontextmanager
async def running_server(
    tmp_path: Path,
    *,
    clock: Any = None,
    config: Config | None = None,
    db_name: str = "opsmon.db",
    ssl_context: ssl.SSLContext | None = None,
    database: str | None = None,
) -> AsyncIterator[Running]:
    """On tmp_path/db_name, or on `database` (a path or URL from tests.backends)."""
    config = config or province()
    db_path = tmp_path / db_name
    database = database or str(db_path)
    async with open_store(database, synchronous="normal") as store:
        tokens = {}
        known = {r.code for r in config.regencies}
        for name, (role, agency, regencies) in STANDARD_TOKENS.items():
            if await store.token_by_name(name) is None:
                tokens[name] = await add_token(store, name, role, agency, regencies, known)
        kwargs = {"clock": clock} if clock is not None else {}
        server = OpsmonServer(config, store, ssl_context=ssl_context, **kwargs)
        await server.start("127.0.0.1", 0)
        try:
            yield Running(server, store, config, db_path, tokens, database)
        finally:
            await server.close()


async def hello(url: str, token: str, *, epoch: str | None = None, since: int | None = None) -> tuple[ClientConnection, dict[str, Any]]:
    """Open a raw websocket, greet, and return it with the welcome."""
    ws = await connect(url, max_size=None)
    await ws.send(json.dumps({"type": "hello", "token": token, "client": "tests", "epoch": epoch, "since": since}))
    welcome = json.loads(await ws.recv())
    return ws, welcome


async def recv_json(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:

    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def shipped() -> dict[str, Any]:
    return tomllib.loads(CONFIG_PATH.read_text(encoding="utf-8"))


def as_shown(server: OpsmonServer) -> dict[str, Any]:
    """The server's state as a client holds it from a snapshot: every configured
    stage row, the untouched ones at zero (the server itself holds only rows events made)."""
    state = server.state
    shown = State(seq=state.seq, incidents=state.incidents)
    shown.stages = {(r.regency, r.stage): r for r in stage_rows(state, server.rules.stage_totals, server.store.created)}
    return shown.as_builtins()
