"""Connections: the websocket handshake (hello, token, welcome, then a
snapshot or the events missed) and what the server counts per connection
(connections per address and per token, when each token was last used)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import resource
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import msgspec
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request

from opsmon.core.clock import format_ts, parse_ts
from opsmon.core.protocol import (
    CLOSE_POLICY,
    HELLO_TIMEOUT_SECONDS,
    MAX_HELLO_BYTES,
    MAX_PAGE,
    PROTOCOL_VERSION,
    Error,
    Event,
    Hello,
    LastSitrep,
    MorePages,
    Snapshot,
    Status,
    Welcome,
)
from opsmon.core.ratelimit import TokenBucket
from opsmon.core.records import Actor, Incident, User
from opsmon.core.state import stage_rows
from opsmon.core.urgency import SNAPSHOT_RESOLVED_WINDOW, for_snapshot, in_snapshot
from opsmon.core.wire import BadMessage, decode_client, encode, encode_list, event_digest
from server.auth import identify, people
from server.hub import Subscriber, batch_frames

if TYPE_CHECKING:
    from server.app import OpsmonServer

log = logging.getLogger("opsmon.server")

# A client further behind than this gets a snapshot instead of the missed events.
RESUME_LIMIT = 20_000
# Close code for a connection turned away for now (too many connections): the
# client retries later, unlike 1008, which tells it its token is no good.
CLOSE_TRY_AGAIN_LATER = 1013
# Sockets an address may hold open beyond max_connections_per_address, counted
# from TCP accept: room for its /healthz and /metrics requests (and for the
# refusal that names the limit) while its websockets are at their limit.
HEALTH_HEADROOM = 8
# A snapshot's bytes are built once and shared by every viewer who connects at
# the same seq within this long (by the server's clock: the 24-hour window of
# resolved incidents moves on by no more): a crowd reconnecting after a network
# blip costs one encoding, and one copy in memory, not one per viewer.
SNAPSHOT_REUSE = timedelta(seconds=10)
# Page sizes whose last snapshot is kept (a client may ask for any page up to MAX_PAGE).
SNAPSHOT_SIZES_HELD = 4
# A resume gap longer than this is streamed in pages of this many events.
RESUME_PAGE = 1_000
# Whole (unpaged) snapshots a token may be sent, counted in the incidents they hold: this
# many a second, after a burst of WHOLE_SNAPSHOT_BURST. One costs the loop about 9 us an
# incident (half a second at 50,000): a token reconnecting without paging, over and over,
# waits at its own connections (one of 50,000 every 25 s), not in front of everyone; a
# client reconnecting now and then never waits.
WHOLE_SNAPSHOT_INCIDENTS_PER_SECOND = 2_000
WHOLE_SNAPSHOT_BURST = 100_000
# A whole snapshot is encoded outside the writer's lock, this many incidents at a time
# (about 5 ms of the loop), the loop running what is ready in between.
WHOLE_SNAPSHOT_SLICE = 500
# Descriptors kept free of client sockets: the database, its WAL, the log,
# backups, and /healthz when every other socket is taken.
RESERVED_DESCRIPTORS = 64
# Sockets dropped at accept are logged once per address and reason in this many seconds, with a count.
DROP_LOG_SECONDS = 10.0
# Seconds from accept to a socket's whole HTTP request (at most handshake_timeout_seconds).
REQUEST_SECONDS = 5.0


class WholeSnapshotPaced(Exception):
    """A hello's whole snapshot waits for its token's allowance (`Connections.charge_whole_snapshot`)."""

    def __init__(self, incidents: int, wait: float) -> None:
        super().__init__(f"{incidents} incidents: {wait:.1f} s")
        self.incidents = incidents
        self.wait = wait


def descriptor_budget() -> int:
    """Client sockets this process may hold: its open-file limit (systemd's
    LimitNOFILE; docs/deploy.md) less what the server itself needs."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(32, soft - RESERVED_DESCRIPTORS)


def peer_address(connection: ServerConnection) -> str:
    """The client's IP address (no port): what the per-address limits count. The
    socket's peer, or, when that is a trusted proxy ([server] trusted_proxies),
    the client its X-Forwarded-For names (Connections.identify)."""
    client = getattr(connection, "client_address", None)
    if client:
        return str(client)
    remote = connection.remote_address
    return str(remote[0]) if remote else "unknown"


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def gated(connections: Connections) -> type[ServerConnection]:
    """The websocket connection class that counts its socket from TCP accept
    (Connections.accepted) and drops it there, before the handshake, past the limits."""

    class Gated(ServerConnection):
        address = "unknown"
        dropped = False

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            peer = transport.get_extra_info("peername")
            self.address = str(peer[0]) if peer else "unknown"
            if not connections.accepted(self.address):
                # Dropped before websockets sees it: no handler task, no handshake, no parser.
                self.dropped = True
                assert isinstance(transport, asyncio.Transport)
                transport.abort()
                return
            super().connection_made(transport)
            # A client sends its whole upgrade request at once (after TLS, which is
            # done by now): one still without it after `request_timeout` is trickling
            # its headers (slowloris) and goes, long before handshake_timeout_seconds.
            self.request_timer = self.loop.call_later(connections.request_timeout(), self.no_request)

        def no_request(self) -> None:
            if self.request is None and not self.transport.is_closing():
                connections.dropped(self.address, f"before its handshake: no complete HTTP request within {connections.request_timeout():g} s")
                self.transport.abort()

        def connection_lost(self, exc: Exception | None) -> None:
            connections.released(self.address)
            if not self.dropped:
                self.request_timer.cancel()
                super().connection_lost(exc)

    return Gated


class Connections:
    """Every websocket from its first frame to its close; its commands go to the writer."""

    def __init__(self, server: OpsmonServer) -> None:
        self.server = server
        self.proxies = [ipaddress.ip_network(n, strict=False) for n in server.settings.trusted_proxies]
        self._per_address: dict[str, int] = {}
        self._per_token: dict[str, int] = {}
        self.used: dict[str, str] = {}  # token hash -> last use, saved by the token sweep
        # Counted from TCP accept, before any handshake: sockets per address and in all.
        self.sockets: dict[str, int] = {}
        self.sockets_open = 0
        self.socket_budget = descriptor_budget()
        # Sockets dropped at accept, per (address, reason): (when last logged, how many since).
        self._drops: dict[tuple[str, str], tuple[float, int]] = {}
        self.drop_log_seconds = DROP_LOG_SECONDS
        self.request_seconds = REQUEST_SECONDS
        self.resume_page = RESUME_PAGE
        # Failed hellos per address: a bucket of failed_hellos_per_minute, refilled over a minute.
        self._failures: dict[str, TokenBucket] = {}
        # Commands per token, all its connections together (one per token hash; tokens are few).
        self._token_rates: dict[str, TokenBucket] = {}
        self._whole_snapshots: dict[str, TokenBucket] = {}  # per token: whole snapshots it may be built (first_frames)
        # The last snapshot encoded per page size (None: whole): (epoch, seq, made at by the server's clock, its bytes).
        self._snapshots: dict[int | None, tuple[str, int, datetime, bytes]] = {}
        # Whole snapshots being encoded, by (epoch, seq): hellos at that head share one.
        self._building: dict[tuple[str, int], asyncio.Future[bytes]] = {}

    def token_bucket(self, token_hash: str, role: str) -> TokenBucket:
        """The bucket all of one token's connections take their commands from."""
        bucket = self._token_rates.get(token_hash)
        if bucket is None:
            rate = self.server.settings.token_rate_for(role)
            bucket = self._token_rates[token_hash] = TokenBucket(rate, rate * 2)
        return bucket

    # --- counted from accept ----------------------------------------------------------

    def trusted(self, address: str) -> bool:
        """Whether `address` is a proxy in [server] trusted_proxies."""
        ip = _ip(address)
        return ip is not None and any(ip in network for network in self.proxies)

    def forwarded(self, connection: ServerConnection, request: Request) -> None:
        """A request through a trusted proxy: its client is the last address in
        X-Forwarded-For that is not itself a trusted proxy (what the proxy saw;
        anything left of it the client could have written). Untrusted peers'
        headers, and a header that holds no address, change nothing."""
        remote = connection.remote_address
        if not self.proxies or not remote or not self.trusted(str(remote[0])):
            return
        hops = [hop for header in request.headers.get_all("X-Forwarded-For") for hop in header.split(",")]
        for hop in reversed(hops):
            ip = _ip(hop)
            if ip is None:
                return
            if not any(ip in network for network in self.proxies):
                connection.client_address = str(ip)  # type: ignore[attr-defined]
                return

    def accepted(self, address: str) -> bool:
        """A TCP connection came in (nothing read yet): count it; False if it
        must be dropped at once (its address, or the process, has too many).
        A trusted proxy's sockets carry many clients: each is counted by its
        own address once its request is read (Connections.handle)."""
        self.sockets[address] = self.sockets.get(address, 0) + 1
        self.sockets_open += 1
        per_address = self.server.settings.max_connections_per_address + HEALTH_HEADROOM
        if self.sockets[address] > per_address and not self.trusted(address):
            self.dropped(address, f"at accept: {per_address} sockets open from it (max_connections_per_address + {HEALTH_HEADROOM})")
            return False
        if self.sockets_open > self.socket_budget:
            self.dropped(address, f"at accept: {self.socket_budget} sockets open, the most the open-file limit allows (raise LimitNOFILE: docs/deploy.md)")
            return False
        return True

    def request_timeout(self) -> float:
        """Seconds a socket has from accept to send its whole HTTP request."""
        return min(self.request_seconds, self.server.settings.handshake_timeout_seconds)

    def dropped(self, address: str, why: str) -> None:
        """A socket closed before its handshake: one log line per address and reason
        every `drop_log_seconds`, with the count since the last (a flood of sockets is
        thousands a second: no line, nor even a log record, for each)."""
        self.server.metrics.error("dropped_before_handshake")
        key = (address, why)
        now = time.monotonic()
        every = self.drop_log_seconds
        since, count = self._drops.get(key, (now - every, 0))
        if now - since < every:
            self._drops[key] = (since, count + 1)
            return
        if len(self._drops) > 1000:
            self._drops = {k: v for k, v in self._drops.items() if now - v[0] < every}
        self._drops[key] = (now, 0)
        more = f" ({count} more dropped since the last such line)" if count else ""
        log.warning("dropped a connection from %s %s%s", address, why, more)

    def released(self, address: str) -> None:
        """A socket counted by `accepted` closed."""
        self.sockets_open -= 1
        left = self.sockets.get(address, 1) - 1
        if left > 0:
            self.sockets[address] = left
        else:
            self.sockets.pop(address, None)

    def crowded(self) -> bool:
        """So many sockets open that the last few are kept for /healthz and /metrics."""
        return self.sockets_open > self.socket_budget - HEALTH_HEADROOM

    def hello_wait(self, address: str) -> float:
        """Seconds before `address` may try another hello (0: now): it failed too many lately."""
        bucket = self._failures.get(address)
        return 0.0 if bucket is None or bucket.tokens >= 1 else bucket.wait()

    def hello_failed(self, address: str) -> None:
        bucket = self._failures.get(address)
        if bucket is None:
            if len(self._failures) > 10_000:  # forget addresses whose buckets are full again
                for known in [a for a, b in self._failures.items() if b.wait() == 0 and b.tokens >= b.capacity - 1]:
                    del self._failures[known]
            most = self.server.settings.failed_hellos_per_minute
            bucket = self._failures[address] = TokenBucket(most / 60, most)
        bucket.take()

    async def handle(self, connection: ServerConnection) -> None:
        address = peer_address(connection)
        self._per_address[address] = self._per_address.get(address, 0) + 1
        try:
            limit = self.server.settings.max_connections_per_address
            if self._per_address[address] > limit:
                log.warning("turned away a connection from %s: it already has %d open (max_connections_per_address)", address, limit)
                await self.turn_away(
                    connection, f"more than {limit} connections from {address}; close some first (the limit is [server] max_connections_per_address)"
                )
                return
            session = await self.greet(connection, address)
            if session is None:
                return
            user, token_hash = session
            try:
                await self.server.writer.serve(connection, user, token_hash)
            except ConnectionClosed:
                pass
            finally:
                await self.server.hub.remove(connection)
                self.server.roster_moved()
                self.token_closed(token_hash)
        finally:
            left = self._per_address[address] - 1
            if left > 0:
                self._per_address[address] = left
            else:
                del self._per_address[address]

    async def turn_away(self, connection: ServerConnection, message: str) -> None:
        """Too many connections: say so, and close with 1013 so the client tries again later."""
        self.server.metrics.error("too_many_connections")
        with contextlib.suppress(ConnectionClosed):
            await connection.send(encode(Error(code="too_many_connections", message=message)), text=True)
            await connection.close(CLOSE_TRY_AGAIN_LATER, message[:120])

    async def refuse(self, connection: ServerConnection, message: str, detail: str = "") -> None:
        """A failed hello: the client hears `message`; the log names the address and why."""
        address = peer_address(connection)
        log.warning("refused a hello from %s: %s", address, detail or message)
        self.hello_failed(address)
        self.server.metrics.error("unauthorized")
        with contextlib.suppress(ConnectionClosed):
            await connection.send(encode(Error(code="unauthorized", message=message, reason="token_refused")), text=True)
            await connection.close(CLOSE_POLICY, message[:120])

    async def greet(self, connection: ServerConnection, address: str) -> tuple[User, str] | None:
        """hello -> welcome -> snapshot or the missed events; subscribe."""
        try:
            frame = await asyncio.wait_for(connection.recv(), HELLO_TIMEOUT_SECONDS)
        except TimeoutError:
            await self.refuse(connection, f"no hello within {HELLO_TIMEOUT_SECONDS:.0f} seconds")
            return None
        except ConnectionClosed:
            return None
        if len(frame) > MAX_HELLO_BYTES:  # refused before it is parsed
            await self.refuse(connection, f"the first message must be a valid hello (a hello is at most {MAX_HELLO_BYTES} bytes)")
            return None
        try:
            hello = decode_client(frame)
        except BadMessage as exc:
            await self.refuse(connection, f"the first message must be a valid hello ({exc})")
            return None
        if not isinstance(hello, Hello):
            await self.refuse(connection, "the first message must be hello")
            return None
        found = await identify(self.server.store, hello.token, self.server.wall_clock(), self.server.config.province.tz)
        if found.user is None:
            await self.refuse(connection, found.refusal, found.detail)
            return None
        user, token_hash = found.user, found.hash
        limit = self.server.settings.max_connections_per_token
        if self._per_token.get(token_hash, 0) >= limit:
            log.warning("turned away %s from %s: the token already has %d connections open (max_connections_per_token)", user.name, address, limit)
            await self.turn_away(
                connection, f"token {user.name!r} already has {limit} connections open; close one first (the limit is [server] max_connections_per_token)"
            )
            return None
        self._per_token[token_hash] = self._per_token.get(token_hash, 0) + 1
        self.used[token_hash] = format_ts(self.server.wall_clock())
        self.server.metrics.connections_total += 1
        # Who incidents can be assigned to, for the assign picker: not to a token that only reads.
        known = await people(self.server.store, self.server.wall_clock()) if user.may_act() else None  # expiry is real time (wall_clock)

        # A resume's missed events are read before the lock, on the store's reader,
        # up to the head as it is now: the lock is then held only for what was
        # committed meanwhile (usually nothing), so a long resume holds up no write.
        # A gap longer than RESUME_PAGE is streamed: the welcome first, then the
        # missed events a page at a time (one page in memory), then the rest as below.
        since = hello.since if hello.epoch == self.server.store.epoch else None
        read_to, early, streamed, welcomed = -1, list[Event](), -1, None
        epoch = self.server.store.epoch
        if since is not None and 0 <= since <= self.server.state.seq and self.server.state.seq - since <= RESUME_LIMIT:
            if self.server.state.seq - since > self.resume_page:
                if await self.recognised(user, since, hello.digest):
                    try:
                        welcomed = self.welcome(user, known)
                        streamed = await self.stream(connection, welcomed, since, epoch)
                    except ConnectionClosed:
                        self.token_closed(token_hash)
                        return None
                # (not this database's event at `since`: a snapshot, below, read nothing before)
            else:
                read_to = self.server.state.seq
                early = await self.server.store.events_since(since, until=read_to)
        reset, later, logged = False, None, False
        while True:
            try:
                async with self.server.lock:
                    if streamed >= 0 and (self.server.store.epoch != epoch or self.server.state.seq < streamed):
                        reset = True  # while it streamed: it comes back and gets this epoch's snapshot
                    elif streamed >= 0:
                        head = self.server.state.seq
                        frames = batch_frames(encode(event) for event in await self.server.store.events_since(streamed, until=head))
                        if welcomed is not None and self.server.problem != welcomed.problem:
                            # A `status` announced while it streamed, before it was subscribed: said again.
                            frames.append(encode(Status(problem=self.server.problem)))
                        self.subscribe(connection, user, token_hash, frames)
                        resume, why = True, "resumed"
                    else:
                        resume, why, later = await self.first_frames(connection, user, token_hash, hello, known, read_to, early)
                break
            except WholeSnapshotPaced as paced:
                # Waited for at its own connection, without the lock; then asked again (the head moves on).
                if not logged:
                    log.info(
                        "%s asks for whole snapshots of %d incidents without paging, over and over: the next in %.0f s", user.name, paced.incidents, paced.wait
                    )
                    logged = True
                await asyncio.sleep(paced.wait)
        if later is not None:
            # Its whole snapshot, encoded now that the lock is let go: commands are decided
            # and committed meanwhile, and their events queue behind it.
            subscriber, welcome, building = later
            subscriber.release([welcome, await building])
        if reset:
            self.token_closed(token_hash)
            with contextlib.suppress(ConnectionClosed):  # not under the lock: a close handshake can take seconds
                await connection.close(CLOSE_TRY_AGAIN_LATER, "the event log was reset; reconnect")
            return None
        log.info("%s (%s, %s) connected from %s, %s", user.name, user.role, user.agency, address, f"resuming after {hello.since}" if resume else why)
        return user, token_hash

    def token_closed(self, token_hash: str) -> None:
        """One of the token's connections closed (counted against max_connections_per_token)."""
        left = self._per_token.get(token_hash, 1) - 1
        if left > 0:
            self._per_token[token_hash] = left
        else:
            self._per_token.pop(token_hash, None)

    def welcome(self, user: User, known: list[Actor] | None) -> Welcome:
        return Welcome(
            protocol=PROTOCOL_VERSION,
            epoch=self.server.store.epoch,
            seq=self.server.state.seq,
            user=user,
            config=self.server.config_info,
            problem=self.server.problem,
            exercise=msgspec.structs.replace(self.server.exercise.info(), roster=self.server.roster(user.name)) if self.server.exercise is not None else None,
            people=known,
        )

    def subscribe(self, connection: ServerConnection, user: User, token_hash: str, frames: list[bytes], *, held: bool = False) -> Subscriber:
        settings = self.server.settings
        subscriber = Subscriber(connection, settings.client_queue_frames, token_hash, user.name, max_bytes=settings.client_queue_bytes, role=user.role)
        self.server.hub.add(subscriber, frames, held=held)
        self.server.roster_moved()
        return subscriber

    async def recognised(self, user: User, since: int, digest: str | None) -> bool:
        """Whether the client's event at `since` is this database's (no digest: trusted, as in v1)."""
        if since == 0 or digest is None:
            return True
        held = await self.server.store.event_at(since)
        if held is not None and event_digest(held) == digest:
            return True
        log.warning(
            "%s holds a different event at seq %d of epoch %s (digest %s): another copy of the history; sending a snapshot",
            user.name, since, self.server.store.epoch, digest,
        )  # fmt: skip
        return False

    async def stream(self, connection: ServerConnection, welcome: Welcome, since: int, epoch: str) -> int:
        """The welcome, then the events after `since` a page (RESUME_PAGE events) at a
        time, read on the store's reader without the lock, until what is left is
        under a page; returns the last seq sent (the rest goes under the lock)."""
        await connection.send(encode(welcome), text=True)
        sent = since
        while self.server.store.epoch == epoch and self.server.state.seq - sent > self.resume_page:
            # As stored (the wire's bytes): no decoding and encoding on the loop the writer shares.
            events = await self.server.store.raw_events_since(sent, self.resume_page, self.server.state.seq)
            if not events:
                break
            for frame in batch_frames(raw for _, raw in events):
                await connection.send(frame, text=True)
            sent = events[-1][0]
        return sent

    async def first_frames(
        self, connection: ServerConnection, user: User, token_hash: str, hello: Hello, known: list[Actor] | None, read_to: int, early: list[Event]
    ) -> tuple[bool, str, tuple[Subscriber, bytes, asyncio.Future[bytes]] | None]:
        """Under the lock: the welcome and the snapshot or the missed events; subscribe.
        Returns whether it resumed, and what it got otherwise (for the log line); and
        for a whole snapshot not built yet, the subscriber held until it is, its welcome
        and the snapshot being built (`greet` gives them to it once the lock is let go)."""
        if self.server.replicated is not None and hello.epoch == self.server.store.epoch and hello.since is not None and hello.since > self.server.state.seq:
            # It saw events on another replica that this one has not read yet.
            await self.server.follower.catch_up_locked()
        head = self.server.state.seq
        frames = [encode(self.welcome(user, known))]
        since = hello.since if hello.epoch == self.server.store.epoch else None
        resume = since is not None and 0 <= since <= head and head - since <= RESUME_LIMIT
        why = "snapshot"
        if since is not None and since > head:
            # The client saw events this file does not have: a file copy
            # that missed its WAL, or a restore. It gets this history whole.
            why = f"snapshot: it holds seq {since}, this database only {head}"
            log.warning(
                "%s holds seq %d of epoch %s but this database's head is %d: the database is behind what clients saw (a copy made with cp, or an old restore?); sending a snapshot",
                user.name, since, self.server.store.epoch, head,
            )  # fmt: skip
        elif since is not None and resume and not await self.recognised(user, since, hello.digest):
            resume, why = False, f"snapshot: its event {since} is not this database's"
        if since is not None and resume:
            if since <= read_to <= head and self.server.store.epoch == hello.epoch:
                missed = early + await self.server.store.events_since(read_to, until=head)
            else:  # the head moved back (a reset), another epoch, or a gap read in pages: read it now
                missed = await self.server.store.events_since(since, until=head)
            frames += batch_frames(encode(event) for event in missed)
        elif hello.page is None and self.held_snapshot(None) is None:
            building = self._building.get((self.server.store.epoch, head))
            if building is None:  # one to build for this hello: its token's allowance pays for it
                self.charge_whole_snapshot(token_hash)
                building = self.whole_snapshot()
            return resume, why, (self.subscribe(connection, user, token_hash, [], held=True), frames[0], building)
        else:
            frames.append(self.snapshot_frame(hello.page))
            if hello.page is not None:
                why = f"paged snapshot ({min(hello.page, MAX_PAGE)})"
        self.subscribe(connection, user, token_hash, frames)
        return resume, why, None

    def charge_whole_snapshot(self, token_hash: str) -> None:
        """Take a new whole snapshot's incidents from the token's allowance of them
        (WHOLE_SNAPSHOT_INCIDENTS_PER_SECOND), or raise WholeSnapshotPaced: how long until
        they are there. Snapshots shared with other hellos at the same head cost nothing."""
        queue = self.server.queue
        since = format_ts(self.server.clock() - SNAPSHOT_RESOLVED_WINDOW)
        incidents = len(queue.keys)  # every unresolved one, and those resolved since `since` (newest resolution last)
        for resolved in reversed(queue.resolved.values()):
            if resolved < since:
                break
            incidents += 1
        bucket = self._whole_snapshots.get(token_hash)
        if bucket is None:
            bucket = self._whole_snapshots[token_hash] = TokenBucket(WHOLE_SNAPSHOT_INCIDENTS_PER_SECOND, WHOLE_SNAPSHOT_BURST)
        if not bucket.take(incidents):
            raise WholeSnapshotPaced(incidents, bucket.wait(incidents))

    def whole_snapshot(self) -> asyncio.Future[bytes]:
        """Under the lock: the whole snapshot at the head as it is now, as
        `encode(self.snapshot())` would write it, its incidents taken now (an event
        replaces an incident, never changes it) and encoded by the task returned,
        WHOLE_SNAPSHOT_SLICE at a time with the loop's other work between (half a
        second at 50,000 incidents: not in front of everyone)."""
        now, epoch, seq = self.server.clock(), self.server.store.epoch, self.server.state.seq
        incidents = list(self.server.state.incidents.values())
        shell = encode(self.snapshot_at(now, []))
        marker = b'"incidents":[],"digest":'
        if shell.count(marker) != 1:  # cannot happen (every string is escaped): built at once, then
            built: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
            built.set_result(encode(self.snapshot_at(now, [for_snapshot(i) for i in incidents if in_snapshot(i, now)])))
            return built
        before, after = shell.split(marker)

        async def encoded() -> bytes:
            try:
                parts: list[bytes] = [before, b'"incidents":[']
                for start in range(0, len(incidents), WHOLE_SNAPSHOT_SLICE):
                    held = [for_snapshot(i) for i in incidents[start : start + WHOLE_SNAPSHOT_SLICE] if in_snapshot(i, now)]
                    if held:
                        parts += (b",", encode_list(held)[1:-1]) if len(parts) > 2 else (encode_list(held)[1:-1],)
                    await self.between_slices()
                frame = b"".join([*parts, b'],"digest":', after])  # one copy of the whole (45 MB at 50,000)
            finally:
                self._building.pop((epoch, seq), None)
            self.keep_snapshot(None, (epoch, seq, now, frame))
            return frame

        task = self._building[(epoch, seq)] = asyncio.create_task(encoded(), name=f"snapshot:{seq}")
        return task

    def snapshot_frame(self, page: int | None = None) -> bytes:
        """The snapshot as bytes (`page`: paged, at most that many incidents): the
        one built last for that page size, if nothing was committed since and it is
        under SNAPSHOT_REUSE old, else a new one."""
        size = None if page is None else min(page, MAX_PAGE)
        held = self.held_snapshot(size)
        if held is not None:
            return held
        now, epoch, seq = self.server.clock(), self.server.store.epoch, self.server.state.seq
        frame = encode(self.snapshot() if size is None else self.paged_snapshot(size))
        self.keep_snapshot(size, (epoch, seq, now, frame))
        return frame

    def keep_snapshot(self, size: int | None, held: tuple[str, int, datetime, bytes]) -> None:
        if size not in self._snapshots and len(self._snapshots) >= SNAPSHOT_SIZES_HELD:
            del self._snapshots[next(iter(self._snapshots))]  # the oldest page size asked for
        self._snapshots[size] = held

    async def between_slices(self) -> None:
        """Where a whole snapshot's encoding lets the loop run what is ready."""
        await asyncio.sleep(0)

    def held_snapshot(self, size: int | None) -> bytes | None:
        """The snapshot last built for this page size (None: whole), if it is still the
        head's and under SNAPSHOT_REUSE old."""
        held = self._snapshots.get(size)
        if (
            held is not None
            and held[0] == self.server.store.epoch
            and held[1] == self.server.state.seq
            and timedelta(0) <= self.server.clock() - held[2] < SNAPSHOT_REUSE
        ):
            return held[3]
        return None

    def snapshot(self) -> Snapshot:
        now = self.server.clock()
        return self.snapshot_at(now, [for_snapshot(i) for i in self.server.state.incidents.values() if in_snapshot(i, now)])

    def snapshot_at(self, now: datetime, incidents: list[Incident]) -> Snapshot:
        """The whole snapshot at the head, holding `incidents`."""
        state = self.server.state
        return Snapshot(
            epoch=self.server.store.epoch,
            seq=self.server.state.seq,
            stages=stage_rows(self.server.state, self.server.rules.stage_totals, self.server.store.created),  # in config order, untouched ones at zero
            incidents=incidents,
            digest=self.server.head_digest,
            sitrep=LastSitrep(number=state.sitrep_number, until=state.sitrep_until, seq=state.sitrep_seq) if state.sitrep_until is not None else None,
        )

    def paged_snapshot(self, page: int) -> Snapshot:
        """The snapshot's first `page` incidents (the queue's most urgent first), every
        unresolved one counted, and where the rest is (docs/protocol.md "Paging"):
        built from the queue index, so its cost is the page's, not the night's."""
        state = self.server.state
        # To the millisecond, as the wire writes it: the pages filter with this same `since`.
        since = format_ts(self.server.clock() - SNAPSHOT_RESOLVED_WINDOW)
        first, more = self.server.queue.first(state, page, parse_ts(since))
        return Snapshot(
            epoch=self.server.store.epoch,
            seq=state.seq,
            stages=stage_rows(state, self.server.rules.stage_totals, self.server.store.created),
            incidents=[for_snapshot(i) for i in first],
            digest=self.server.head_digest,
            sitrep=LastSitrep(number=state.sitrep_number, until=state.sitrep_until, seq=state.sitrep_seq) if state.sitrep_until is not None else None,
            counts=self.server.queue.count_rows(),
            more=MorePages(since=since, after=0) if more else None,
        )
