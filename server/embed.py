"""The server's public entry for programs that run it inside themselves.

`opsmon demo` starts a whole server in its own asyncio loop from settings
(`embedded_server`), and `opsmon exercise report` reads an exercise's log
from its database (`read_exercise_log`). Nothing in opsmon/ imports any other
server module: an import-linter contract in pyproject.toml keeps it so, and
the server's internals can change without touching the client side.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsmon.core.config import Config
from opsmon.core.protocol import Event
from opsmon.core.records import Attempt, StageRow
from opsmon.core.state import State, stage_rows
from opsmon.training.exercise import is_exercise_epoch
from server.app import OpsmonServer
from server.auth import add_token
from server.exercise import ExerciseSettings, prepare, seen
from server.store.api import EventStore, StoreError
from server.store.backends import open_store

__all__ = [
    "Attempt",
    "Embedded",
    "ExerciseLog",
    "ExerciseRefused",
    "ExerciseSession",
    "exercise_sessions",
    "ExerciseSettings",
    "StoreError",
    "TokenSpec",
    "embedded_server",
    "read_exercise_log",
]


class ExerciseRefused(StoreError):
    """The database cannot run this exercise (e.g. it holds a real night, or another exercise)."""


@dataclass(frozen=True)
class TokenSpec:
    """A token the embedded server is started with: its name, role and agency."""

    name: str
    role: str
    agency: str


@dataclass
class Embedded:
    """A running embedded server: its URL, the tokens it was started with (by name) and its state."""

    url: str
    tokens: dict[str, str]
    database: Path
    _server: OpsmonServer = field(repr=False)

    @property
    def state(self) -> State:
        """The server's folded state right now (read it, never change it)."""
        return self._server.state

    @property
    def stages(self) -> list[StageRow]:
        """Every configured stage row, in config order (untouched ones at zero, as clients see them)."""
        server = self._server
        return stage_rows(server.state, server.rules.stage_totals, server.store.created)


async def _fresh_token(store: EventStore, spec: TokenSpec, known: set[str]) -> str:
    """A fresh token under this name (a kept database may hold one from an earlier run)."""
    existing = await store.token_by_name(spec.name)
    if existing is not None and existing.revoked is None:
        await store.revoke_token(spec.name)
    return await add_token(store, spec.name, spec.role, spec.agency, None, known)


@contextlib.asynccontextmanager
async def embedded_server(
    config: Config,
    database: Path,
    tokens: Sequence[TokenSpec],
    *,
    exercise: ExerciseSettings | None = None,
    restart_clock: bool = False,
) -> AsyncIterator[Embedded]:
    """A server on a free loopback port over this SQLite database, with these tokens.

    `exercise`: run it as an exercise on scenario time; `restart_clock` starts
    the scenario clock again (a demo plays its night from the start each
    time). StoreError if the database cannot be opened, ExerciseRefused if it
    cannot run this exercise. On exit the server and the store are closed."""
    store = open_store(database, synchronous="normal")
    await store.open()
    try:
        known = {r.code for r in config.regencies}
        secrets = {spec.name: await _fresh_token(store, spec, known) for spec in tokens}
        running = None
        if exercise is not None:
            if restart_clock:
                await store.set_meta("exercise_clock", "{}")
            try:
                running = await prepare(store, exercise)
            except StoreError as exc:
                raise ExerciseRefused(str(exc)) from None
        server = OpsmonServer(config, store, exercise=running)
        await server.start("127.0.0.1", 0)
        try:
            yield Embedded(f"ws://127.0.0.1:{server.port}/ws", secrets, database, server)
        finally:
            await server.close()
    finally:
        await store.close()


@dataclass(frozen=True)
class ExerciseLog:
    """What an after-action report reads from a database: this epoch's events and refused attempts."""

    events: list[Event]
    attempts: list[Attempt]
    exercise: dict[str, Any] | None  # the exercise's settings, None for a real night's database
    epoch: str
    trainees: list[tuple[str, str]] = field(default_factory=list)  # (name, agency) of every officer token not revoked
    seen: set[str] | None = None  # the token names that connected in this session, if the server recorded them


async def read_exercise_log(database: str) -> ExerciseLog:
    """The log of the database's current epoch (the caller checks the file exists: opening creates a database)."""
    async with open_store(database) as store:
        officers = [(t.name, t.agency) for t in await store.tokens() if t.role == "officer" and t.revoked is None]
        return ExerciseLog(await store.events_since(0), await store.attempts(), await store.exercise(), store.epoch, officers, await seen(store))


@dataclass(frozen=True)
class ExerciseSession:
    """One session of an exercise database (an epoch, from serve or a `reset`) and where its log is now."""

    number: int  # 1 for the first session
    epoch: str
    started: str  # when the epoch began (the real clock)
    current: bool  # the database's own log
    database: str | None  # where the session's log can be read: the database, the copy `reset` kept, or None
    events: int | None  # how many events it holds, if it can be read


async def exercise_sessions(database: str) -> list[ExerciseSession]:
    """Every exercise session of a SQLite database, oldest first: the current one and those `reset` kept in a copy beside it
    (`FILE.before-reset-STAMP.bak`). The caller checks the file exists."""
    path = Path(database)
    async with open_store(database) as store:
        epochs = [(epoch, started) for epoch, started, _ in await store.epochs() if is_exercise_epoch(epoch)]
        current, head = store.epoch, await store.head()
    kept: dict[str, tuple[str, int]] = {}
    copies = await asyncio.to_thread(lambda: sorted(path.parent.glob(f"{path.name}.before-reset-*.bak")))
    for copy in copies:
        try:
            async with open_store(copy) as old:
                kept.setdefault(old.epoch, (str(copy), await old.head()))
        except StoreError:
            continue  # not a readable copy: it is not listed
    out = []
    for number, (epoch, started) in enumerate(epochs, start=1):
        if epoch == current:
            out.append(ExerciseSession(number, epoch, started, True, database, head))
        else:
            where, events = kept.get(epoch, (None, None))
            out.append(ExerciseSession(number, epoch, started, False, where, events))
    return out
