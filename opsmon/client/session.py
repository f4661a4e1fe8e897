"""One session, with the one reconnect loop every client uses.

`Session` is one websocket: hello, welcome, then frames; `request()` sends a
command and waits for its result. Feeders and tests use it directly; the TUI's
`opsmon.client.connection.Connection` keeps its state folded from one.

With failover it is not lost with its socket: it tries the next URL, then the
others and the same ones again, with capped, jittered backoff, resumes from its
last (epoch, seq) and resends unanswered commands with their original ids, so
nothing is lost or done twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

from opsmon.client.backoff import Backoff
from opsmon.client.failures import ClientError, Unauthorized, failure
from opsmon.client.handshake import CLIENT_NAME, URLs, greet, url_list
from opsmon.core.protocol import CLOSE_POLICY, Batch, Command, Error, Event, Result, ServerMessage, Snapshot, Welcome
from opsmon.core.wire import BadMessage, decode_server, encode, event_digest

log = logging.getLogger("opsmon.client.session")

FrameHandler = Callable[[ServerMessage], None]

# The first wait before a command answered `unavailable` is sent again (then doubled, up to 5 s).
UNAVAILABLE_RETRY_SECONDS = 0.25


class Session:
    """One authenticated websocket, or, given several URLs, one that fails over.
    Use `await Session.open(...)`, then `close()`.

    With failover (on by default, with one URL or several) a lost connection
    is not the end: the session tries the next URL, then the others and the same
    ones again, with capped, jittered backoff, for up to `reconnect_for` seconds.
    It resumes from the last seq it saw (same epoch: the events after it; another
    epoch: a snapshot), drops any event it already has, and resends every command
    still unanswered with its own id, so the caller gets one result per command:
    `repeat` when the dead server had carried it out already. Only when no server
    answers in time do the waiting commands fail (ClientError), as with one URL.

    A `patient` session (the TUI's) never gives up short of a refused token: it is
    started with `start()` and finds its first server in the same loop, in rounds."""

    ws: ClientConnection
    welcome: Welcome

    def __init__(
        self,
        urls: list[str],
        token: str,
        *,
        client: str = CLIENT_NAME,
        timeout: float = 10.0,
        cafile: str | None = None,
        epoch: str | None = None,
        since: int | None = None,
        digest: str | None = None,
        failover: bool = False,
        backoff: Backoff | None = None,
        reconnect_for: float = 30.0,
        patient: bool = False,
        page: int | None = None,
    ) -> None:
        self.urls = urls
        self.url = urls[0]  # the server connected to now (or, finding one, being tried)
        # `page`: ask for a paged snapshot (docs/protocol.md "Paging"); None: the whole one.
        self._greeting: dict[str, Any] = {"token": token, "client": client, "timeout": timeout, "cafile": cafile, "page": page}
        self._asked = (since, digest)  # where the first greeting resumes from
        self._waiting: dict[str, asyncio.Future[Result]] = {}
        self._inflight: dict[str, Command] = {}  # sent (or to send), not answered, in sending order
        self._handlers: list[FrameHandler] = []
        self.frames: asyncio.Queue[ServerMessage] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self.closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.failure: tuple[str, dict[str, Any]] | None = None  # why it closed, as a reason code
        self.refused = False  # it ended on a refused token
        # Why the token was refused or withdrawn, as the server's reason and params (`refused.<reason>` in i18n).
        self.refusal: tuple[str, dict[str, Any]] | None = None
        self.failover = failover
        self.patient = patient
        self.backoff = backoff or Backoff()
        self.reconnect_for = reconnect_for
        self.reconnects = 0  # how many times it failed over (or reconnected)
        self.resent_unavailable = 0  # commands sent again after an `unavailable` answer
        # What a long-lived owner (opsmon.client.connection) hears of the loop.
        self.on_welcome: Callable[[Welcome], None] | None = None  # greeted: the first time, and after every reconnect
        self.on_lost: Callable[[str], None] | None = None  # the socket is gone: finding a server again
        self.on_failed: Callable[[str, ClientError], None] | None = None  # one server did not answer
        self._online = False
        self._closing = False
        self._reconnecting = False
        self._resync = False  # a gap: start over from a snapshot, on the same server, at once
        # Where the stream stands: the epoch, and the seq of the last event (or
        # snapshot) seen; None until one arrived (a resume then takes a snapshot).
        self.epoch: str | None = epoch
        self.position: int | None = None
        self._last_event: Event | None = None
        self._snapshot_digest: str | None = None

    @classmethod
    async def open(
        cls,
        url: URLs,
        token: str,
        *,
        client: str = CLIENT_NAME,
        epoch: str | None = None,
        since: int | None = None,
        digest: str | None = None,
        timeout: float = 10.0,
        on_frame: FrameHandler | None = None,
        cafile: str | None = None,
        failover: bool | None = None,
        backoff: Backoff | None = None,
        reconnect_for: float = 30.0,
        page: int | None = None,
    ) -> Session:
        """Connect and greet the first URL that answers (in the order given).
        Raises Unauthorized, or ClientError with a readable reason (every URL's, when several).
        `failover` (on by default) keeps the session alive across lost connections: the
        other URLs first, then the same ones again (one URL: a proxy in front of
        replicas, or a server restarting), with backoff, for up to `reconnect_for` seconds."""
        urls = url_list(url)
        failover = True if failover is None else failover
        greeting: dict[str, Any] = {"client": client, "timeout": timeout, "cafile": cafile, "page": page}
        session = cls(urls, token, epoch=epoch, since=since, digest=digest, failover=failover, backoff=backoff, reconnect_for=reconnect_for, **greeting)
        if on_frame is not None:
            session._handlers.append(on_frame)
        await session._find_server(None)
        session._reader = asyncio.create_task(session._run(connect=False), name="opsmon-session-reader")
        return session

    def start(self, on_frame: FrameHandler) -> None:
        """Find a server and follow it, in the background (a patient session: `closed` says when it ends)."""
        self._handlers.append(on_frame)
        self._reader = asyncio.create_task(self._run(connect=True), name="opsmon-session-reader")

    # --- reading, and failing over ----------------------------------------------------

    async def _run(self, *, connect: bool) -> None:
        reason = "closed"
        try:
            if connect:
                await self._find_server(None)
            while True:
                reason, worth_retrying = await self._read()
                if self._closing or not self.failover or not worth_retrying:
                    break
                await self._find_server(reason)
        except ClientError as exc:
            reason = str(exc)
            self.refused = isinstance(exc, Unauthorized)
            if self.refused and exc.reason:
                self.refusal = (exc.reason, exc.params)
        finally:
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(ClientError(f"connection lost before an answer: {reason}"))
            self._waiting.clear()
            self._inflight.clear()
            if not self.closed.done():
                self.closed.set_result(reason)

    async def _read(self) -> tuple[str, bool]:
        """Read this socket until it ends: why it ended, and whether another try may help."""
        try:
            while True:
                try:
                    # Bytes, not str: a text frame decoded to str first would be held twice
                    # (a 44 MiB snapshot became an 88 MiB str: one non-ASCII char makes it 2 bytes
                    # a char); msgspec reads the UTF-8 bytes as they came.
                    raw = await self.ws.recv(decode=False)
                except ConnectionClosedOK:
                    break  # a clean close: said below, as the server closing
                message = decode_server(raw)
                del raw  # the frame is not kept while the handlers fold what it said
                if isinstance(message, Error) and message.code == "unauthorized" and message.reason:
                    self.refusal = (message.reason, dict(message.params or {}))
                if isinstance(message, Result):
                    self._inflight.pop(message.id, None)
                    future = self._waiting.pop(message.id, None)
                    if future is not None and not future.done():
                        future.set_result(message)
                elif self._resync:
                    continue  # closing for a snapshot: what follows the gap is void
                else:
                    kept = self._follow(message)
                    if kept is None:
                        continue  # only events this session already had (after a resume)
                    message = kept
                for handler in self._handlers:
                    handler(message)
                if not self._handlers:
                    self.frames.put_nowait(message)
            code = self.ws.close_code
            self.failure = ("server_closed", {"code": code, "text": f" {self.ws.close_reason}" if self.ws.close_reason else ""})
            # 1008: the token was refused or revoked; no other server will take it either.
            return f"server closed the connection ({code} {self.ws.close_reason or ''})".strip(), code != CLOSE_POLICY
        except ConnectionClosed as exc:
            lost = failure(self.url, exc)
            self.failure = (lost.reason or "other", lost.params)
            return str(lost), not (exc.rcvd is not None and exc.rcvd.code == CLOSE_POLICY)
        except BadMessage as exc:
            await self.ws.close()
            return str(exc), self.patient  # a feeder stops on garbage; the TUI tries again

    def _follow(self, message: ServerMessage) -> ServerMessage | None:
        """Keep the stream's position; drop events already seen (None: nothing new)."""
        if isinstance(message, Snapshot):
            self.epoch, self.position = message.epoch, message.seq
            self._last_event, self._snapshot_digest = None, message.digest
        elif isinstance(message, Event):
            if self.position is not None and message.seq <= self.position:
                return None
            self._advance(message)
        elif isinstance(message, Batch):
            events = message.events
            if self.position is not None and events and events[0].seq <= self.position:
                events = [e for e in events if e.seq > self.position]
                if not events:
                    return None
                message = Batch(events=events)
            if events:
                self._advance(events[0], events[-1])
        return message

    def _advance(self, first: Event, last: Event | None = None) -> None:
        if self.position is not None and first.seq > self.position + 1:
            log.warning("gap: have seq %d, got %d", self.position, first.seq)
        self._last_event = last or first
        self.position = self._last_event.seq

    def held_digest(self) -> str | None:
        """event_digest of the event at `position` as this client holds it, if known:
        sent on resume so the server can tell its history from ours."""
        if self._last_event is not None and self._last_event.seq == self.position:
            return event_digest(self._last_event)
        return self._snapshot_digest if self.position else None

    def resync(self) -> None:
        """Start over from a snapshot (the stream had a gap): close, and greet the same server again at once."""
        if self._resync:
            return
        self._resync = True
        self.position, self._last_event, self._snapshot_digest = None, None, None
        asyncio.ensure_future(self.ws.close())

    async def _find_server(self, reason: str | None) -> None:
        """The one reconnect loop: greet the next server that answers, resume, resend what is unanswered.
        First (reason None): every URL in order at once, then (a patient session) again in rounds.
        After a loss: the others first, then the same one again, with backoff.
        Raises Unauthorized, or ClientError once no server has answered in time."""
        first = reason is None
        self._online = False
        self._reconnecting = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.reconnect_for if self.patient or not first else 0.0)
        resync, lost_from = self._resync, self.url
        if first:
            order = list(self.urls)
        else:
            start = self.urls.index(self.url) + (0 if resync else 1) if self.url in self.urls else 0
            order = self.urls[start:] + self.urls[:start]  # the others first, then the same one again
            log.info("lost %s (%s); failing over to %s", lost_from, reason, ", ".join(order))
        self.url = order[0]
        if reason is not None and self.on_lost is not None:
            self.on_lost(reason)
        tried: list[tuple[str, ClientError]] = []
        try:
            for n, url in enumerate(itertools.cycle(order)):
                self.url = url
                # Never connected: a round of every server at once, then a wait. Lost: a wait before each try.
                if (n > 0 and n % len(order) == 0) if first else not (n == 0 and resync):
                    delay = self.backoff.next_delay()
                    if loop.time() + delay > deadline:
                        raise self._gave_up(reason, lost_from, tried)
                    await asyncio.sleep(delay)
                if self._closing:
                    raise ClientError("closed")
                since, digest = self._asked if first else (self.position, self.held_digest() if self.position is not None else None)
                try:
                    ws, welcome = await greet(url, epoch=self.epoch, since=since, digest=digest, **self._greeting)
                except Unauthorized:
                    raise
                except ClientError as exc:
                    tried.append((url, exc))
                    self.url = order[(n + 1) % len(order)]  # the one tried next
                    if self.on_failed is not None:
                        self.on_failed(url, exc)
                    continue
                if self._closing:
                    await ws.close()
                    raise ClientError("closed")
                if first and since is not None and welcome.epoch == self.epoch:
                    self.position = since  # the server sends what follows it
                elif welcome.epoch != self.epoch:
                    # Another log (a new database): the server sends a snapshot, and
                    # what we knew of the old one is void.
                    self.position, self._last_event, self._snapshot_digest = None, None, None
                self.ws, self.welcome, self.url, self.epoch = ws, welcome, url, welcome.epoch
                try:
                    await self._resend()
                except ConnectionClosed as exc:
                    tried.append((url, failure(url, exc)))
                    continue
                break
        finally:
            self._reconnecting = False
        self._online, self._resync = True, False
        self.backoff.reset()
        if not first:
            self.reconnects += 1
            log.info("resumed on %s (epoch %s, seq %s, %d command(s) resent)", self.url, self.epoch, self.position, len(self._inflight))
        if self.on_welcome is not None:
            self.on_welcome(self.welcome)

    def _gave_up(self, reason: str | None, lost_from: str, tried: list[tuple[str, ClientError]]) -> ClientError:
        if reason is None:  # the first round: each server's own reason
            if len(tried) == 1:
                return tried[0][1]
            last = tried[-1][1]
            return ClientError("no server answered: " + "; ".join(str(exc) for _, exc in tried), last.reason, last.params)
        detail = "; ".join(f"{u}: {why}" for u, why in dict(tried).items()) or reason
        return ClientError(f"lost {lost_from} ({reason}) and no server answered within {self.reconnect_for:g} s: {detail}")

    async def _resend(self) -> None:
        """Every unanswered command again, in order, with its id: the server answers
        each once (`repeat` if it was carried out before the loss)."""
        sent: set[str] = set()
        while True:
            todo = [command for command_id, command in self._inflight.items() if command_id not in sent]
            if not todo:
                return  # no await between this check and going online: nothing is left behind
            for command in todo:
                sent.add(command.id)
                await self.ws.send(encode(command), text=True)

    # --- commands -----------------------------------------------------------------------

    async def send(self, command: Command) -> asyncio.Future[Result]:
        """Send a command; the future resolves with its result (with failover: across reconnects)."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        if self.closed.done():
            future.set_exception(ClientError(f"not connected: {self.closed.result()}"))
            return future
        self._waiting[command.id] = future
        self._inflight[command.id] = command
        if not self._online:
            return future  # failing over: sent once a server has greeted us
        try:
            await self.ws.send(encode(command), text=True)
        except ConnectionClosed as exc:
            if not self.failover:
                self._waiting.pop(command.id, None)
                self._inflight.pop(command.id, None)
                future.set_exception(failure(self.url, exc))
            # with failover the reader sees the loss too, and resends it
        return future

    async def request(self, command: Command, timeout: float = 30.0) -> Result:
        """Send a command and wait for its result, for up to `timeout` seconds in all.
        Answered `unavailable` (the server could not save it: nothing was changed,
        send it again), it is sent again with the same id, with backoff, while time is left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = UNAVAILABLE_RETRY_SECONDS
        while True:
            future = await self.send(command)
            try:
                result = await asyncio.wait_for(future, max(0.0, deadline - loop.time()))
            except TimeoutError:
                self._waiting.pop(command.id, None)
                self._inflight.pop(command.id, None)
                raise ClientError(f"no answer from {self.url} within {timeout:.0f} s") from None
            if result.ok or result.code != "unavailable" or loop.time() + delay >= deadline:
                return result
            log.info("%s answered %s unavailable (%s); sending it again in %.1f s", self.url, command.id, result.message, delay)
            self.resent_unavailable += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    @property
    def pending(self) -> int:
        """Commands sent (or waiting to be) and not answered yet."""
        return len(self._inflight)

    @property
    def close_code(self) -> int | None:
        """How the last socket closed (None: never connected, or still open)."""
        return self.ws.close_code if hasattr(self, "ws") else None

    async def next_frame(self, timeout: float = 10.0) -> ServerMessage:
        return await asyncio.wait_for(self.frames.get(), timeout)

    async def close(self) -> None:
        self._closing = True
        with contextlib.suppress(Exception):
            await self.ws.close()
        if self._reader is not None:
            if self._reconnecting:
                self._reader.cancel()  # waiting out a backoff: nothing to finish
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
