"""The client side of the protocol: one session, and a connection that never gives up.

`Session` is one websocket: hello, welcome, then frames; `request()` sends a
command and waits for its result. Feeders and tests use it directly.

`Connection` is what a screen uses: it keeps a `State` folded from the
server's snapshot and events, reconnects with capped exponential backoff and
jitter, resumes from its last (epoch, seq), checks that seq has no gap (and
asks for a snapshot when it has one), and resends unanswered commands with
their original ids after a reconnect, so nothing is lost or done twice.
It reports to a `Listener`; it knows nothing of Textual.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import secrets
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidMessage, InvalidStatus, InvalidURI

from opsmon import __version__
from opsmon.core.clock import utc_now
from opsmon.core.fold import apply
from opsmon.core.i18n import Translator
from opsmon.core.protocol import CLOSE_POLICY, Batch, Command, Error, Event, Hello, Result, ServerMessage, Snapshot, Status, Welcome
from opsmon.core.state import State
from opsmon.core.wire import BadMessage, decode_server, encode, event_digest

log = logging.getLogger("opsmon.client.session")

CLIENT_NAME = f"opsmon/{__version__}"


class ClientError(Exception):
    """Why a session could not be had, in one line a person can act on (English);
    `reason` and `params`, when known, say it again for i18n (`connect.<reason>`)."""

    def __init__(self, message: str, reason: str | None = None, params: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.params = params or {}


class Unauthorized(ClientError):
    """The server refused the token: retrying will not help."""


_ids = itertools.count(1)
_session_prefix = secrets.token_hex(4)


def new_command_id() -> str:
    """Unique per command: a per-process random prefix and a counter."""
    return f"{_session_prefix}-{next(_ids)}"


def ssl_context(url: str, cafile: str | None = None) -> ssl.SSLContext | None:
    """What a wss:// connection trusts: the post's own CA when given, else the
    system's CAs. Certificates and host names are always checked."""
    if not url.startswith("wss://"):
        return None
    try:
        return ssl.create_default_context(cafile=cafile or None)
    except FileNotFoundError:
        raise ClientError(f"CA file {cafile}: no such file (--cafile or [client] cafile)") from None
    except (OSError, ssl.SSLError) as exc:
        raise ClientError(f"CA file {cafile}: not a PEM certificate ({exc})") from None


def classify_failure(url: str, exc: BaseException) -> tuple[str, dict[str, Any]]:
    """Why a connection failed, as a reason code and its parameters (`connect.<code>` in i18n)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "tls_untrusted", {"url": url, "detail": str(exc.verify_message or exc.reason)}
    if isinstance(exc, ssl.SSLError):
        return "tls_failed", {"url": url, "detail": str(exc.reason or exc)}
    if isinstance(exc, InvalidURI):
        return "not_websocket_url", {"url": url}
    if isinstance(exc, InvalidStatus):
        return "http_status", {"url": url, "status": exc.response.status_code}
    if isinstance(exc, TimeoutError):
        return "timeout", {"url": url}
    if isinstance(exc, ConnectionRefusedError):
        return "refused", {"url": url}
    if isinstance(exc, OSError):
        return "unreachable", {"url": url, "detail": str(exc.strerror or exc)}
    if isinstance(exc, ConnectionClosed):
        return "closed", {"url": url, "code": exc.rcvd.code if exc.rcvd else "-"}
    if isinstance(exc, InvalidMessage) and url.startswith("ws://"):
        return "not_plain_http", {"url": url, "detail": str(exc)}
    if isinstance(exc, InvalidHandshake):
        return "handshake", {"url": url, "detail": str(exc)}
    return "other", {"url": url, "detail": str(exc)}


def failure(url: str, exc: BaseException) -> ClientError:
    """The ClientError for a failed connection: English text, with its reason code."""
    reason, params = classify_failure(url, exc)
    return ClientError(Translator("en")(f"connect.{reason}", **params), reason, params)


FrameHandler = Callable[[ServerMessage], None]
URLs = str | Sequence[str]


def url_list(url: URLs) -> list[str]:
    """One URL or several, as a list (a str is one URL, never split here: see opsmon.core.urls)."""
    urls = [url] if isinstance(url, str) else list(url)
    if not urls:
        raise ClientError("no server URL given (expected ws://HOST:PORT/ws)", "not_websocket_url", {"url": ""})
    return urls


@dataclass
class Backoff:
    """Capped exponential backoff with jitter: each delay is drawn between half
    the ceiling and the ceiling, which doubles per attempt up to `maximum`."""

    initial: float = 0.5
    maximum: float = 30.0
    attempt: int = 0

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * (2**self.attempt))
        self.attempt += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0


async def _handshake(
    url: str, token: str, *, client: str, epoch: str | None, since: int | None, digest: str | None, timeout: float, cafile: str | None
) -> tuple[ClientConnection, Welcome]:
    """Connect to one URL and greet: the socket and its welcome, or Unauthorized / ClientError."""
    if not url.startswith(("ws://", "wss://")):
        raise ClientError(f"{url!r} is not a websocket URL (expected ws://HOST:PORT/ws)", "not_websocket_url", {"url": url})
    context = ssl_context(url, cafile)
    try:
        if context is not None:
            ws = await connect(url, open_timeout=timeout, max_size=None, close_timeout=2, ssl=context)
        else:
            ws = await connect(url, open_timeout=timeout, max_size=None, close_timeout=2)
    except (OSError, InvalidHandshake, TimeoutError, ValueError) as exc:
        raise failure(url, exc) from None
    try:
        await ws.send(encode(Hello(token=token, client=client, epoch=epoch, since=since, digest=digest)), text=True)
        first = decode_server(await asyncio.wait_for(ws.recv(), timeout))
    except (ConnectionClosed, TimeoutError, BadMessage) as exc:
        await ws.close()
        raise failure(url, exc) from None
    if isinstance(first, Error):
        await ws.close()
        if first.code == "unauthorized":
            raise Unauthorized(f"token refused by {url}: {first.message}")
        raise ClientError(f"{url}: {first.code}: {first.message}")
    if not isinstance(first, Welcome):
        await ws.close()
        raise ClientError(f"{url}: expected welcome, got {type(first).__name__}")
    return ws, first


class Session:
    """One authenticated websocket, or, given several URLs, one that fails over.
    Use `await Session.open(...)`, then `close()`.

    With failover (on by default when several URLs are given) a lost connection
    is not the end: the session tries the next URL, then the others and the same
    ones again, with capped, jittered backoff, for up to `reconnect_for` seconds.
    It resumes from the last seq it saw (same epoch: the events after it; another
    epoch: a snapshot), drops any event it already has, and resends every command
    still unanswered with its own id, so the caller gets one result per command:
    `repeat` when the dead server had carried it out already. Only when no server
    answers in time do the waiting commands fail (ClientError), as with one URL."""

    def __init__(self, ws: ClientConnection, welcome: Welcome, url: str) -> None:
        self.ws = ws
        self.welcome = welcome
        self.url = url  # the server connected to now
        self.urls = [url]
        self._waiting: dict[str, asyncio.Future[Result]] = {}
        self._inflight: dict[str, Command] = {}  # sent (or to send), not answered, in sending order
        self._handlers: list[FrameHandler] = []
        self.frames: asyncio.Queue[ServerMessage] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self.closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.failure: tuple[str, dict[str, Any]] | None = None  # why it closed, as a reason code
        # Failover: off unless open() turns it on.
        self.failover = False
        self.backoff = Backoff()
        self.reconnect_for = 30.0
        self.reconnects = 0  # how many times it failed over (or reconnected)
        self.on_reconnect: Callable[[Session], None] | None = None
        self._greeting: dict[str, Any] = {}
        self._online = True
        self._closing = False
        self._reconnecting = False
        # Where the stream stands: the epoch, and the seq of the last event (or
        # snapshot) seen; None until one arrived (a resume then takes a snapshot).
        self.epoch: str | None = welcome.epoch
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
    ) -> Session:
        """Connect and greet the first URL that answers (in the order given).
        Raises Unauthorized, or ClientError with a readable reason (every URL's, when several).
        `failover` (default: when several URLs) keeps the session alive across lost connections."""
        urls = url_list(url)
        greeting: dict[str, Any] = {"client": client, "timeout": timeout, "cafile": cafile}
        failures: list[ClientError] = []
        for candidate in urls:
            try:
                ws, welcome = await _handshake(candidate, token, epoch=epoch, since=since, digest=digest, **greeting)
            except Unauthorized:
                raise
            except ClientError as exc:
                failures.append(exc)
                continue
            break
        else:
            if len(failures) == 1:
                raise failures[0]
            last = failures[-1]
            raise ClientError("no server answered: " + "; ".join(str(f) for f in failures), last.reason, last.params)
        session = cls(ws, welcome, candidate)
        session.urls = urls
        session.failover = len(urls) > 1 if failover is None else failover
        session.backoff = backoff or Backoff()
        session.reconnect_for = reconnect_for
        session._greeting = {"token": token, **greeting}
        if since is not None and welcome.epoch == epoch:
            session.position = since  # the server sends what follows it
        if on_frame is not None:
            session._handlers.append(on_frame)
        session._reader = asyncio.create_task(session._run(), name="opsmon-session-reader")
        return session

    # --- reading, and failing over ----------------------------------------------------

    async def _run(self) -> None:
        reason = "closed"
        try:
            while True:
                reason, worth_retrying = await self._read()
                if self._closing or not self.failover or not worth_retrying:
                    break
                try:
                    await self._reconnect(reason)
                except ClientError as exc:
                    reason = str(exc)
                    break
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
            async for raw in self.ws:
                message = decode_server(raw)
                if isinstance(message, Result):
                    self._inflight.pop(message.id, None)
                    future = self._waiting.pop(message.id, None)
                    if future is not None and not future.done():
                        future.set_result(message)
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
            return str(exc), False

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

    def _held_digest(self) -> str | None:
        if self._last_event is not None and self._last_event.seq == self.position:
            return event_digest(self._last_event)
        return self._snapshot_digest if self.position else None

    async def _reconnect(self, reason: str) -> None:
        """Greet the next server that answers, resume, resend what is unanswered.
        Raises ClientError once no server has answered for `reconnect_for` seconds."""
        self._online = False
        self._reconnecting = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.reconnect_for
        lost_from = self.url
        start = self.urls.index(self.url) + 1 if self.url in self.urls else 0
        order = self.urls[start:] + self.urls[:start]  # the others first, then the same one again
        tried: dict[str, str] = {}
        log.info("lost %s (%s); failing over to %s", lost_from, reason, ", ".join(order))
        try:
            for url in itertools.cycle(order):
                delay = self.backoff.next_delay()
                if loop.time() + delay > deadline:
                    detail = "; ".join(f"{u}: {why}" for u, why in tried.items()) or reason
                    raise ClientError(f"lost {lost_from} ({reason}) and no server answered within {self.reconnect_for:g} s: {detail}")
                await asyncio.sleep(delay)
                if self._closing:
                    raise ClientError("closed")
                since = self.position
                try:
                    ws, welcome = await _handshake(
                        url, epoch=self.epoch, since=since, digest=self._held_digest() if since is not None else None, **self._greeting
                    )
                except Unauthorized:
                    raise
                except ClientError as exc:
                    tried[url] = str(exc)
                    continue
                if self._closing:
                    await ws.close()
                    raise ClientError("closed")
                if welcome.epoch != self.epoch:
                    # Another log (a new database): the server sends a snapshot, and
                    # what we knew of the old one is void.
                    self.position, self._last_event, self._snapshot_digest = None, None, None
                self.ws, self.welcome, self.url, self.epoch = ws, welcome, url, welcome.epoch
                try:
                    await self._resend()
                except ConnectionClosed as exc:
                    tried[url] = str(failure(url, exc))
                    continue
                break
        finally:
            self._reconnecting = False
        self._online = True
        self.reconnects += 1
        self.backoff.reset()
        log.info("resumed on %s (epoch %s, seq %s, %d command(s) resent)", self.url, self.epoch, self.position, len(self._inflight))
        if self.on_reconnect is not None:
            self.on_reconnect(self)

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
        future = await self.send(command)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            self._waiting.pop(command.id, None)
            self._inflight.pop(command.id, None)
            raise ClientError(f"no answer from {self.url} within {timeout:.0f} s") from None

    @property
    def pending(self) -> int:
        """Commands sent (or waiting to be) and not answered yet."""
        return len(self._inflight)

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


# --- the long-lived connection -------------------------------------------------------


class Listener(Protocol):
    """What a Connection tells its owner. Called on the event loop; must not block."""

    def connected(self, welcome: Welcome) -> None: ...

    def synced(self, state: State, events: list[Event] | None) -> None:
        """State changed: a whole new state (events None, after a snapshot) or these events folded in."""

    def disconnected(self, since: datetime, reason: str) -> None: ...

    def refused(self, reason: str) -> None:
        """The token was refused: the connection has stopped trying."""


def _quiet(future: asyncio.Future[Result]) -> None:
    """The session's copy of a pending command's future: the Connection answers
    its caller from the Result frame, so a lost connection here is no news."""
    if not future.cancelled():
        future.exception()


class Connection:
    """Keeps a State in step with the server, across any number of reconnects."""

    def __init__(
        self,
        url: URLs,
        token: str,
        listener: Listener,
        *,
        client: str = CLIENT_NAME,
        backoff: Backoff | None = None,
        clock: Callable[[], datetime] = utc_now,
        cafile: str | None = None,
    ) -> None:
        self.urls = url_list(url)
        self._index = 0  # the server connected to, or to be tried next
        # Why each server failed in the current round of tries (url -> (reason, code, params)).
        self.round_failures: dict[str, tuple[str, str | None, dict[str, Any]]] = {}
        self.last_round: list[tuple[str, tuple[str, str | None, dict[str, Any]]]] = []  # the last whole round that failed
        self.cafile = cafile
        self.clock = clock
        self.token = token
        self.listener = listener
        self.client = client
        self.backoff = backoff or Backoff()
        self.state = State()
        self.epoch: str | None = None
        self.welcome: Welcome | None = None
        self.session: Session | None = None
        self.online = False
        self.disconnected_at: datetime | None = None
        self._has_state = False
        self._target_seq = 0
        # Commands not yet answered, in the order they were sent, resent after a reconnect.
        self._pending: dict[str, tuple[Command, asyncio.Future[Result]]] = {}
        self._gap = False
        self._stopping = False
        # What identifies the event at state.seq: the last one folded, or the
        # snapshot's digest. Sent on resume so the server can tell its history from ours.
        self._last_event: Event | None = None
        self._snapshot_digest: str | None = None
        # What keeps the server from saving commands (a full disk), as it last said.
        self.server_problem: str | None = None
        # The last disconnection's reason code and params (None: only its English text).
        self.failure: tuple[str, dict[str, Any]] | None = None

    def held_digest(self) -> str | None:
        """event_digest of the event at state.seq as this client holds it, if known."""
        if self._last_event is not None and self._last_event.seq == self.state.seq:
            return event_digest(self._last_event)
        return self._snapshot_digest if self.state.seq else None

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def url(self) -> str:
        """The server connected to (online) or being tried next (offline)."""
        return self.urls[self._index]

    def _next_server(self) -> None:
        """Fail over: the next URL in the list (the same one when there is one)."""
        self._index = (self._index + 1) % len(self.urls)

    async def run(self) -> None:
        """Connect, follow, reconnect: until stop() or a refused token."""
        while not self._stopping:
            try:
                since = self.state.seq if self._has_state and not self._gap else None
                digest = self.held_digest() if since is not None else None
                self.session = await Session.open(
                    self.url, self.token, client=self.client, epoch=self.epoch, since=since, digest=digest, on_frame=self._on_frame, cafile=self.cafile
                )
            except Unauthorized as exc:
                self._fail_pending(str(exc))
                self.listener.refused(str(exc))
                return
            except ClientError as exc:
                self.failure = (exc.reason, exc.params) if exc.reason else None
                self.round_failures[self.url] = (str(exc), exc.reason, exc.params)
                self._next_server()
                if self.welcome is None and len(self.round_failures) < len(self.urls):
                    continue  # never connected: try every server once before saying so
                if len(self.round_failures) >= len(self.urls):
                    self.last_round, self.round_failures = list(self.round_failures.items()), {}
                self._offline(str(exc))
                await asyncio.sleep(self.backoff.next_delay())
                continue
            self.round_failures = {}
            self._gap = False
            self._on_welcome(self.session.welcome)
            for command, _ in list(self._pending.values()):
                # Same id: the server answers once, whatever we resend.
                resent = await self.session.send(command)
                resent.add_done_callback(_quiet)
            reason = await self.session.closed
            if self._stopping:
                break
            if self.session.ws.close_code == CLOSE_POLICY:
                self.listener.refused(f"the server closed the session: {self.session.ws.close_reason or 'policy violation'}")
                self._fail_pending("token refused")
                return
            self.failure = self.session.failure
            if not self._gap:
                self._next_server()  # the others first, then this one again
            self._offline(reason)
            await asyncio.sleep(self.backoff.next_delay() if not self._gap else 0)

    async def stop(self) -> None:
        self._stopping = True
        if self.session is not None:
            await self.session.close()

    async def send(self, command: Command) -> Result:
        """Send a command and wait for its answer, across reconnects if need be."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending[command.id] = (command, future)
        if self.session is not None and self.online:
            sent = await self.session.send(command)
            sent.add_done_callback(_quiet)
        return await future

    def _fail_pending(self, reason: str) -> None:
        for _, future in self._pending.values():
            if not future.done():
                future.set_exception(ClientError(reason))
        self._pending.clear()

    def _offline(self, reason: str) -> None:
        if self.online or self.disconnected_at is None:
            self.disconnected_at = self.clock()
        self.online = False
        self.listener.disconnected(self.disconnected_at, reason)

    def _on_welcome(self, welcome: Welcome) -> None:
        if welcome.epoch != self.epoch:
            # A new database: what we knew is void.
            self._has_state = False
            self.state = State()
        self.epoch = welcome.epoch
        self.welcome = welcome
        self._target_seq = welcome.seq
        self.online = True
        self.disconnected_at = None
        self.backoff.reset()
        self.listener.connected(welcome)
        self._set_problem(welcome.problem)

    def _set_problem(self, problem: str | None) -> None:
        """The server's trouble changed: a listener that cares has `server_problem(problem)`."""
        if problem == self.server_problem:
            return
        self.server_problem = problem
        tell = getattr(self.listener, "server_problem", None)
        if tell is not None:
            tell(problem)

    def _on_frame(self, message: ServerMessage) -> None:
        if isinstance(message, Snapshot):
            state = State(seq=message.seq)
            state.incidents = {i.id: i for i in message.incidents}
            state.stages = {(r.regency, r.stage): r for r in message.stages}
            self.state = state
            self._has_state = True
            self._last_event, self._snapshot_digest = None, message.digest
            self.listener.synced(state, None)
        elif isinstance(message, Event | Batch):
            events = message.events if isinstance(message, Batch) else [message]
            folded = []
            for event in events:
                if event.seq <= self.state.seq:
                    continue  # already folded (cannot happen with a correct server; harmless)
                if event.seq != self.state.seq + 1 or not self._has_state:
                    log.warning("gap: have seq %d, got %d; asking for a snapshot", self.state.seq, event.seq)
                    self._gap = True
                    if self.session is not None:
                        asyncio.ensure_future(self.session.close())
                    break
                apply(self.state, event)
                folded.append(event)
            if folded:
                self._last_event = folded[-1]
                self.listener.synced(self.state, folded)
        elif isinstance(message, Status):
            self._set_problem(message.problem)
        elif isinstance(message, Result):
            entry = self._pending.pop(message.id, None)
            if entry is not None and not entry[1].done():
                entry[1].set_result(message)
