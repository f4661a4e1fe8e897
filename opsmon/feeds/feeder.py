"""What the command-line feeders share: local validation against
config.toml, and a pipelined sender over one `opsmon.client.session.Session`.

Local checks only give a clearer message earlier; the server still has the
final word on every command. No textual here: feeders never import it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field

from opsmon.client.failures import ClientError, Unauthorized
from opsmon.client.handshake import URLs
from opsmon.client.session import Session
from opsmon.core.config import Config, Regency, Stage
from opsmon.core.exits import EXIT_UNAUTHORIZED, EXIT_UNREACHABLE, EXIT_USAGE, FeedError
from opsmon.core.protocol import Command, Result
from opsmon.core.ratelimit import TokenBucket
from opsmon.core.urls import BadURL, parse_urls


class LocalInvalid(ValueError):
    """A value the config does not know; str() says which and what is known."""


# --- local validation -------------------------------------------------------------


def resolve_regency(config: Config, value: str) -> Regency:
    """A regency by BPS code or by short/full name, case-insensitive ("Banjarmasin" -> 6371)."""
    found = config.find_regency(value)
    if found is not None:
        return found
    known = config.regencies_known()
    raise LocalInvalid(f"unknown regency {value!r} (known: {known})")


def stage_regency(config: Config, key: str, regency: str | None) -> tuple[Stage, Regency | None]:
    """The stage, and the regency a stage update is for: None for a province
    stage (one row for the whole province), which takes no regency."""
    stage = config.stage(key)
    if stage is None:
        raise LocalInvalid(f"unknown stage {key!r} (known: {', '.join(s.key for s in config.stages)})")
    if stage.province_wide:
        if regency is not None and regency.strip() != config.province.code:
            raise LocalInvalid(
                f"{key} is one plenary for the whole province ({config.province.name}): leave out the regency (--regency, `regency` in an import line)"
            )
        return stage, None
    if regency is None or not regency.strip():
        raise LocalInvalid(f"{key} is counted per regency: name the regency (--regency, `regency` in an import line)")
    return stage, resolve_regency(config, regency)


def check_stage(config: Config, key: str, regency: Regency | None, done: int | None) -> None:
    stage = config.stage(key)
    if stage is None:
        raise LocalInvalid(f"unknown stage {key!r} (known: {', '.join(s.key for s in config.stages)})")
    if done is None:
        return  # the server keeps the count it has
    total = stage.total_for(regency)
    if done < 0:
        raise LocalInvalid(f"done must be 0 or more, not {done}")
    if done > total:
        where = regency.short if regency is not None else config.province.name
        raise LocalInvalid(f"done {done} is more than the {total} {stage.unit} that {where} counts to in {key}")


def check_category(config: Config, key: str) -> None:
    if config.category(key) is None:
        raise LocalInvalid(f"unknown category {key!r} (known: {', '.join(c.key for c in config.categories)})")


def check_severity(config: Config, key: str) -> None:
    if config.severity(key) is None:
        raise LocalInvalid(f"unknown severity {key!r} (known: {', '.join(s.key for s in config.severities)})")


# --- sessions ---------------------------------------------------------------------


def check_url(url: str) -> str:
    """A websocket URL, or FeedError(EXIT_USAGE): an http:// URL is a mistake in
    the command line, not a server that is down."""
    if url.startswith(("ws://", "wss://")):
        return url
    hint = "; http(s):// is the health page, the websocket is ws:// (wss:// with TLS)" if url.startswith(("http://", "https://")) else ""
    raise FeedError(f"{url!r} is not a websocket URL: expected ws://HOST:PORT/ws or wss://HOST:PORT/ws{hint}", EXIT_USAGE)


def check_urls(value: str | Sequence[str], where: str = "--url") -> list[str]:
    """The servers in `value` (a comma list, or several), or FeedError(EXIT_USAGE)
    naming where the bad one came from (--url, $OPSMON_URL, [client] url)."""
    try:
        return parse_urls(value, where)
    except BadURL as exc:
        raise FeedError(str(exc), EXIT_USAGE) from None


def _ignore(_: object) -> None:
    """Feeders do not follow the event stream: drop broadcast frames instead of queueing them."""


@contextlib.asynccontextmanager
async def feeder_session(
    url: URLs, token: str, *, client: str = "opsmon-feeder", timeout: float = 10.0, cafile: str | None = None, follow: bool = False
) -> AsyncIterator[Session]:
    """An open session, or FeedError with the exit code for unreachable or unauthorized.
    With `follow`, the frames the server sends (the snapshot first) wait in `session.frames`.
    Several URLs: the first that answers, failing over to the others if it is lost."""
    if isinstance(url, str):
        check_url(url)
    else:
        check_urls(url)
    try:
        # page=1: a feeder reads no incident from the snapshot (lists ask `incidents`), and
        # the whole one is tens of megabytes on a long night, sent and decoded per command.
        session = await Session.open(url, token, client=client, timeout=timeout, on_frame=None if follow else _ignore, cafile=cafile, page=1)
    except Unauthorized as exc:
        raise FeedError(str(exc), EXIT_UNAUTHORIZED) from None
    except ClientError as exc:
        raise FeedError(str(exc), EXIT_UNREACHABLE) from None
    try:
        yield session
    finally:
        await session.close()


class Pacer:
    """A client-side token bucket, so a batch stays under the server's per-connection
    command rate instead of collecting `rate_limited` answers."""

    def __init__(self, rate: float | None, burst: float = 1.0) -> None:
        self.bucket = TokenBucket(rate, max(1.0, burst)) if rate is not None else None

    async def take(self) -> None:
        if self.bucket is None:
            return
        while True:
            if self.bucket.take():
                return
            await asyncio.sleep(self.bucket.wait())


@dataclass
class Outcome:
    """A command's fate: its result (None if the connection failed first) and its latency."""

    result: Result | None
    seconds: float
    error: str | None = None
    retries: int = 0


@dataclass
class Pipeline:
    """Several commands in flight on one session, paced, with `rate_limited`
    answers retried (same id: the server never did them)."""

    session: Session
    window: int = 32
    rate: float | None = None
    burst: float = 1.0
    timeout: float = 30.0
    max_retries: int = 8
    latencies: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.pacer = Pacer(self.rate, self.burst)
        self._slots = asyncio.Semaphore(self.window)
        self._tasks: set[asyncio.Task[None]] = set()
        self.lost: str | None = None

    async def request(self, command: Command, *, paced: bool = False) -> Outcome:
        retries = 0
        while True:
            if not paced or retries:
                await self.pacer.take()
            started = time.perf_counter()
            try:
                result = await self.session.request(command, timeout=self.timeout)
            except ClientError as exc:
                self.lost = self.lost or str(exc)
                return Outcome(None, time.perf_counter() - started, str(exc), retries)
            seconds = time.perf_counter() - started
            if result.ok or result.code != "rate_limited" or retries >= self.max_retries:
                self.latencies.append(seconds)
                return Outcome(result, seconds, None, retries)
            retries += 1
            await asyncio.sleep(min(2.0, 0.1 * 2**retries))

    async def submit(self, command: Command, done: Callable[[Outcome], None]) -> None:
        """Wait for a free slot and the pacer, then send in the background; `done` gets
        the outcome. Commands leave in the order they were submitted."""
        await self._slots.acquire()
        await self.pacer.take()

        async def run() -> None:
            try:
                outcome = await self.request(command, paced=True)
            finally:
                self._slots.release()
            done(outcome)

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def run_all(self, commands: Iterable[Command], done: Callable[[Command, Outcome], None]) -> None:
        for command in commands:
            if self.lost:
                break
            await self.submit(command, lambda outcome, command=command: done(command, outcome))  # type: ignore[misc]
        await self.drain()


def pace_for(config: Config, role: str = "officer") -> tuple[float, float]:
    """A rate and burst that stay under the server's limit for this role
    (`commands_per_second`, or `admin_commands_per_second` for an admin token;
    the same config.toml the server reads)."""
    limit = config.server.rate_for(role)
    return limit * 0.9, max(1.0, limit)


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]
