"""The long-lived connection a screen uses: a State kept in step with the server.

`Connection` folds the server's snapshot and events into a `State` and tells a
`Listener` what happens. The reconnecting (backoff, failover, resume from the
last (epoch, seq), resending unanswered commands) is the session's own loop
(`opsmon.client.session`); a gap in seq asks it for a snapshot. It knows nothing of Textual.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from opsmon.client.backoff import Backoff
from opsmon.client.failures import ClientError
from opsmon.client.handshake import CLIENT_NAME, URLs, url_list
from opsmon.client.paging import Paging, unheld_counts
from opsmon.client.session import Session
from opsmon.core.clock import utc_now
from opsmon.core.fold import apply, from_snapshot
from opsmon.core.protocol import CLOSE_POLICY, MAX_PAGE, Batch, Command, Event, Result, RosterInfo, ServerMessage, Snapshot, Status, Welcome
from opsmon.core.state import State

log = logging.getLogger("opsmon.client.session")  # the name its log lines have always had

# The incidents a snapshot holds at first: the queue's most urgent, more than a
# screen shows, so the screen is right at once (docs/protocol.md "Added: paging");
# the rest comes in pages of MAX_PAGE (fewer round trips). bench/night.py: about
# 110 KiB at 50,000 incidents, against 45 MiB whole.
PAGE = 100
# Seconds a page refused `rate_limited` waits before it is asked again.
PAGE_RETRY_SECONDS = 0.25
# Seconds between telling the listener of pages merged (and after the last).
PAGES_TOLD_EVERY = 0.25


class Listener(Protocol):
    """What a Connection tells its owner. Called on the event loop; must not block."""

    def connected(self, welcome: Welcome) -> None: ...

    def synced(self, state: State, events: list[Event] | None, arrived: list[int] | None = None) -> None:
        """State changed: a whole new state (events None, after a snapshot) or these events
        folded in; `arrived`: incidents a paged snapshot's pages brought (events [])."""

    def disconnected(self, since: datetime, reason: str) -> None: ...

    def refused(self, reason: str) -> None:
        """The token was refused: the connection has stopped trying."""


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
        page: int | None = PAGE,
        pull: int = MAX_PAGE,
    ) -> None:
        self.urls = url_list(url)
        # Why each server failed in the current round of tries (url -> (reason, code, params)).
        self.round_failures: dict[str, tuple[str, str | None, dict[str, Any]]] = {}
        self.last_round: list[tuple[str, tuple[str, str | None, dict[str, Any]]]] = []  # the last whole round that failed
        self.clock = clock
        self.listener = listener
        self.state = State()
        self.epoch: str | None = None
        self.welcome: Welcome | None = None
        # Patient: it looks for a server until one answers, and never gives up on one short of a refused token.
        self.session = Session(
            self.urls, token, client=client, cafile=cafile, failover=True, backoff=backoff or Backoff(), reconnect_for=math.inf, patient=True, page=page
        )
        self.session.on_welcome, self.session.on_lost, self.session.on_failed = self._on_welcome, self._on_lost, self._on_failed
        self.online = False
        self.disconnected_at: datetime | None = None
        self._has_state = False
        self._stopping = False
        # What keeps the server from saving commands (a full disk), as it last said.
        self.server_problem: str | None = None
        # The last disconnection's reason code and params (None: only its English text).
        self.failure: tuple[str, dict[str, Any]] | None = None
        # A paged snapshot being completed (None: the state holds the whole snapshot).
        self.pull = pull  # incidents asked for per page of the rest
        self.paging: Paging | None = None
        self._pager: asyncio.Future[None] | None = None
        self._pages_asked = 0
        self._caught_up = asyncio.Event()  # set when events were folded: a page waiting for its seq looks again

    # --- a paged snapshot's rest (opsmon.client.paging) ------------------------------

    def _page(self, snapshot: Snapshot) -> None:
        """A new snapshot: pull what it left out in the background, or nothing."""
        self._stop_paging()
        if snapshot.more is None:
            return
        self.state.unheld = unheld_counts(snapshot)
        paging = self.paging = Paging(snapshot, snapshot.more)
        self._pager = asyncio.ensure_future(self._pull(paging))

    def _stop_paging(self) -> None:
        self.paging = None
        if self._pager is not None:
            self._pager.cancel()
            self._pager = None

    async def _pull(self, paging: Paging) -> None:
        """Every page, one after the other; each merged once the state has
        folded the events up to the seq it was read at."""
        told = time.monotonic()
        arrived: list[int] = []
        try:
            while not paging.done and self.paging is paging:
                self._pages_asked += 1
                answer = await self.send(paging.command(f"page-{self._pages_asked}-{id(paging):x}", self.pull))
                if self.paging is not paging:
                    return
                if not answer.ok and answer.code == "rate_limited":
                    # The token's budget is shared with its other connections (a feeder on the
                    # same token): the page waits its turn and is asked again, never a new snapshot.
                    await asyncio.sleep(PAGE_RETRY_SECONDS)
                    continue
                if not answer.ok or answer.seq is None:
                    log.warning("a page of the snapshot was refused (%s): asking for a new snapshot", answer.message)
                    self._stop_paging()
                    self.session.resync()
                    return
                while self.state.seq < answer.seq:
                    self._caught_up.clear()
                    await self._caught_up.wait()
                    if self.paging is not paging:
                        return
                arrived += paging.merge(self.state, answer.seq, answer.incidents or [], answer.next)
                now = time.monotonic()
                if paging.done or now - told >= PAGES_TOLD_EVERY:
                    # A few times a second, not per page; the screens add what arrived (their
                    # indexes follow it), they do not read the whole state again.
                    self.listener.synced(self.state, [], arrived)
                    told, arrived = now, []
            if self.paging is paging:
                self.paging = None
                tell = getattr(self.listener, "paged", None)
                if tell is not None:
                    tell(paging)
        except ClientError as exc:
            log.info("the snapshot's pages stopped: %s", exc)
        except Exception:  # a fault of ours must not leave the panels counting pages that never come
            log.exception("merging the snapshot's pages failed: asking for a new snapshot")
            self._stop_paging()
            self.session.resync()

    def held_digest(self) -> str | None:
        """event_digest of the event at state.seq as this client holds it, if known."""
        return self.session.held_digest()

    @property
    def pending(self) -> int:
        return self.session.pending

    @property
    def url(self) -> str:
        """The server connected to (online) or being tried next (offline)."""
        return self.session.url

    async def run(self) -> None:
        """Connect, follow, reconnect: until stop() or a refused token."""
        if self._stopping:
            return
        self.session.start(self._on_frame)
        reason = await self.session.closed
        if self._stopping:
            return
        if self.session.refused:
            self.listener.refused(reason)
        elif self.session.close_code == CLOSE_POLICY:
            self.listener.refused(f"the server closed the session: {self.session.ws.close_reason or 'policy violation'}")

    async def stop(self) -> None:
        self._stopping = True
        self._stop_paging()
        await self.session.close()

    async def send(self, command: Command) -> Result:
        """Send a command and wait for its answer, across reconnects if need be."""
        return await (await self.session.send(command))

    def _offline(self, reason: str) -> None:
        if self.online or self.disconnected_at is None:
            self.disconnected_at = self.clock()
        self.online = False
        self.listener.disconnected(self.disconnected_at, reason)

    def _on_lost(self, reason: str) -> None:
        self.failure = self.session.failure
        self._offline(reason)

    def _on_failed(self, url: str, exc: ClientError) -> None:
        self.failure = (exc.reason, exc.params) if exc.reason else None
        self.round_failures[url] = (str(exc), exc.reason, exc.params)
        if self.welcome is None and len(self.round_failures) < len(self.urls):
            return  # never connected: try every server once before saying so
        if len(self.round_failures) >= len(self.urls):
            self.last_round, self.round_failures = list(self.round_failures.items()), {}
        self._offline(str(exc))

    def _on_welcome(self, welcome: Welcome) -> None:
        self.round_failures = {}
        if welcome.epoch != self.epoch:
            # A new database: what we knew is void.
            self._has_state = False
            self._stop_paging()
            self.state = State()
        self.epoch = welcome.epoch
        self.welcome = welcome
        self.online = True
        self.disconnected_at = None
        self.listener.connected(welcome)
        self._set_problem(welcome.problem)
        self._set_roster(welcome.exercise.roster if welcome.exercise is not None else None)

    def _set_problem(self, problem: str | None) -> None:
        """The server's trouble changed: a listener that cares has `server_problem(problem)`."""
        if problem == self.server_problem:
            return
        self.server_problem = problem
        tell = getattr(self.listener, "server_problem", None)
        if tell is not None:
            tell(problem)

    def _set_roster(self, roster: RosterInfo | None) -> None:
        """Who of an exercise's expected trainees is absent changed: a listener that cares has `roster_changed(roster)`."""
        tell = getattr(self.listener, "roster_changed", None)
        if tell is not None:
            tell(roster)

    def _on_frame(self, message: ServerMessage) -> None:
        if isinstance(message, Snapshot):
            state = from_snapshot(message)
            self.state = state
            self._has_state = True
            self._page(message)
            self.listener.synced(state, None)
        elif isinstance(message, Event | Batch):
            events = message.events if isinstance(message, Batch) else [message]
            folded = []
            for event in events:
                if event.seq <= self.state.seq:
                    continue  # already folded (cannot happen with a correct server; harmless)
                if event.seq != self.state.seq + 1 or not self._has_state:
                    log.warning("gap: have seq %d, got %d; asking for a snapshot", self.state.seq, event.seq)
                    self.session.resync()
                    break
                if self.paging is not None:
                    self.paging.saw(self.state, event)
                apply(self.state, event)
                folded.append(event)
            if folded:
                self._caught_up.set()
                self.listener.synced(self.state, folded)
            if self.paging is not None and self.paging.broken:
                # A merged incident reopened whose chain is not all held yet: start over.
                log.info("a merged incident was reopened while pages were coming; asking for a new snapshot")
                self._stop_paging()
                self.session.resync()
        elif isinstance(message, Status):
            self._set_problem(message.problem)
            if message.roster is not None:
                self._set_roster(message.roster)
