"""Notifications: the people an escalation names are told through Apprise
(issue 25), from an outbox kept in the event log.

The outbox is the log itself: an `incident.escalated` event with `notify`
names the people the server owes a message; a `notification.sent` or
`notification.failed` event with the same idempotency key (per incident,
level, repeat and person) and channel settles it. So a restart, a `kill -9`
between the decision and the send, or a replica that takes the timer lock
over, finds what is still owed in the log and sends it once; a crash after
the send and before its `notification.sent` is committed sends it again with
the same key, which receivers use to drop the repeat.

Messages are grouped: one person's channel gets at most one message per
[notify] group_seconds, naming every incident owed to it. A failed send is
tried again after retry_seconds, doubling, up to max_attempts, then written
as `notification.failed`. Quiet hours hold everything but critical.

Apprise blocks (sockets, SMTP): every send runs in a thread, never on the
writer's path; only the timer-lock holder sends.

Secrets: a person's Apprise URLs are read from their `channels_file` (never
from config.toml), and no URL reaches the log or an event: only its scheme
and its position in the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from opsmon.core.clock import parse_ts
from opsmon.core.config import Config, ConfigError, config_relative
from opsmon.core.domain import Decision
from opsmon.core.events import IncidentEscalated, Notification, NotificationFailed, NotificationSent
from opsmon.core.i18n import Translator, local_time
from opsmon.core.people import in_quiet_hours
from opsmon.core.protocol import Event
from opsmon.core.records import SEVERITIES, Incident
from opsmon.core.text import for_terminal

if TYPE_CHECKING:
    from server.app import OpsmonServer

log = logging.getLogger("opsmon.server")

ANSWER_MAX = 300  # characters of a channel's answer kept in an event


# --- channels: the secrets, read once ------------------------------------------------


@cache
def known_schemes() -> frozenset[str]:
    """Every URL scheme this Apprise can send to (mailto, json, tgram, whatsapp, ...)."""
    from apprise.manager_plugins import NotificationManager

    return frozenset(str(s).lower() for s in NotificationManager().schemas())  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class Channel:
    url: str  # a secret: never logged, never in an event
    index: int  # its line's position among the person's channels, from 1
    scheme: str


def load_channels(config: Config) -> dict[str, tuple[Channel, ...]]:
    """Each person's channels from their channels_file (one Apprise URL a line;
    blank lines and # comments skipped), checked: a file that cannot be read or a
    scheme Apprise does not know is a ConfigError naming the key, never the URL."""
    channels: dict[str, tuple[Channel, ...]] = {}
    for i, person in enumerate(config.people):
        if not person.channels_file:
            channels[person.name] = ()
            continue
        where = f"people[{i}].channels_file"
        path = Path(config_relative(config, person.channels_file))
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{where}: no such file {str(path)!r}") from None
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise ConfigError(f"{where}: cannot read {str(path)!r} ({why})") from None
        found: list[Channel] = []
        for n, line in enumerate(text.splitlines(), 1):
            url = line.strip()
            if not url or url.startswith("#"):
                continue
            scheme = url.split("://", 1)[0].lower() if "://" in url else ""
            if not re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme):
                raise ConfigError(f"{where}: line {n} of {str(path)!r} is not an Apprise URL like mailto://... or json://...")
            if scheme not in known_schemes():
                raise ConfigError(f"{where}: line {n} of {str(path)!r}: unknown channel scheme {scheme!r}")
            found.append(Channel(url=url, index=len(found) + 1, scheme=scheme))
        if not found:
            raise ConfigError(f"{where}: {str(path)!r} holds no channel (one Apprise URL a line)")
        channels[person.name] = tuple(found)
    return channels


# --- sending (in a thread) ------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    ok: bool
    text: str  # what the channel said, without the URL


def _with_keys(url: str, scheme: str, keys: list[str]) -> str:
    """A JSON or form webhook also carries the keys as a header and a field (receivers dedupe on them)."""
    if scheme not in ("json", "jsons", "form", "forms"):
        return url
    joined = urllib.parse.quote(",".join(keys), safe=",")
    return f"{url}{'&' if '?' in url else '?'}+X-Opsmon-Key={joined}&:idempotency_key={joined}"


def _clean(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[url]")
    return for_terminal(" ".join(text.split()))[:ANSWER_MAX]


def send(channel: Channel, title: str, body: str, keys: list[str], timeout: float) -> Answer:
    """One message through Apprise (blocks: run it in a thread); what the channel answered."""
    import apprise

    url = _with_keys(channel.url, channel.scheme, keys)
    notifier = apprise.Apprise()
    with apprise.LogCapture(level=logging.INFO) as captured:  # type: ignore[no-untyped-call]
        if not notifier.add(url):
            return Answer(False, f"{channel.scheme}: Apprise cannot use this URL")
        for service in notifier:
            for name in ("socket_connect_timeout", "socket_read_timeout"):
                if hasattr(service, name):
                    setattr(service, name, timeout)
        try:
            ok = bool(notifier.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT))
        except Exception as exc:  # a plugin's own failure: an answer, not a crash
            return Answer(False, _clean(f"{type(exc).__name__}: {exc}", (url, channel.url)))
        # "2024-02-14 21:05:00,000 - INFO - Sent Email to ...": the words after the level.
        said = [re.sub(r"^.*? - [A-Z]+ - ", "", line) for line in captured.getvalue().splitlines() if line.strip()]
        said = [line for line in said if not line.startswith("Notifying ")] or said
    text = said[-1] if said else ("sent" if ok else "not sent")
    return Answer(ok, _clean(text, (url, channel.url)))


async def send_bounded(channel: Channel, title: str, body: str, keys: list[str], timeout: float) -> Answer:
    """`send` in a thread, off the event loop, and never longer than the channel's
    timeout allows (connect and read, and a margin): past it, a failed answer."""
    bound = timeout * 2 + 5
    try:
        async with asyncio.timeout(bound):
            return await asyncio.to_thread(send, channel, title, body, keys, timeout)
    except TimeoutError:
        return Answer(False, f"no answer within {bound:g} s")


# --- the IT officer's test message (`opsmon-server notify test`, `opsmon notify test`) ---


def compose_test(config: Config, person: str, exercise: str | None = None) -> tuple[str, str]:
    """Title and body of a test message, in the province's language; an exercise
    server says `[LATIHAN name]` first, as every message of its notifier does."""
    tr = Translator(config.province.language)
    title, body = tr("notify.test_title"), tr("notify.test_body", name=person, post=config.sitrep.post)
    if config.notify.contact:
        body += f"\n{config.sitrep.post}: {config.notify.contact}"
    if exercise is not None:
        drill = tr("notify.exercise", name=for_terminal(exercise))
        title, body = f"{drill} {title}", f"{drill}\n{body}"
    return title, body


async def send_test(config: Config, person: str, channels: Iterable[Channel], exercise: str | None = None) -> list[tuple[Channel, Answer]]:
    """One test message to each of the person's channels, all at once (each in its
    own thread, bounded by the channel's timeout); each channel's answer, in order.
    It writes nothing: a test is not a notification the log owes anyone."""
    title, body = compose_test(config, person, exercise)
    timeout = config.notify.timeout_seconds
    chosen = list(channels)
    answers = await asyncio.gather(*(send_bounded(c, title, body, [f"opsmon-test-{c.index}"], timeout) for c in chosen))
    return list(zip(chosen, answers, strict=True))


# --- the message ------------------------------------------------------------------------


def _key(epoch: str, incident: int, level: int, repeat: int, final: bool, person: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", person.casefold()).strip("-") or "x"
    return f"opsmon-{epoch[:8]}-{incident}-{level}.{'final' if final else repeat}-{slug}"


@dataclass
class Owed:
    """One message owed: an incident's escalation to one person's channel."""

    key: str
    person: str
    channel: int
    incident: int
    level: int
    repeat: int
    final: bool
    decided: datetime
    attempts: int = 0
    next_try: datetime | None = None
    last_error: str = ""


def compose(config: Config, owed: list[Owed], incidents: dict[int, Incident], now: datetime, exercise: str | None = None, more: int = 0) -> tuple[str, str]:
    """Title and body of one message naming every incident owed, in the
    province's language, short enough for a phone; wire text made safe. In a
    training exercise every message says so first: nobody mistakes it for the night."""
    tr = Translator(config.province.language)
    tz = config.province.tz
    first = owed[0]
    if len(owed) == 1 and not more:
        incident = incidents.get(first.incident)
        where = _regency(config, incident.regency) if incident is not None else "?"
        title = tr("notify.title_one", id=first.incident, regency=where, level=first.level)
    else:
        title = tr("notify.title_many", n=len({o.incident for o in owed}) + more, level=max(o.level for o in owed))
    lines: list[str] = []
    for item in owed:
        incident = incidents.get(item.incident)
        if incident is None:
            lines.append(f"#{item.incident}")
            continue
        severity = config.severity(incident.severity)
        label = severity.label.get(config.province.language).upper() if severity is not None else incident.severity.upper()
        age = tr.age(now - parse_ts(incident.reported))
        lines.append(f"#{incident.id} {_regency(config, incident.regency)} · {label} · {age}")
        lines.append(for_terminal(incident.title)[:120])
        if incident.acknowledged_by is not None and incident.acknowledged is not None:
            who = f"{incident.acknowledged_by.agency}/{incident.acknowledged_by.name}" if incident.acknowledged_by.agency else incident.acknowledged_by.name
            lines.append(tr("notify.acked", who=for_terminal(who), time=f"{parse_ts(incident.acknowledged).astimezone(tz):%H:%M}"))
        elif item.final:
            lines.append(tr("notify.final", time=f"{parse_ts(incident.reported).astimezone(tz):%H:%M}", tz=config.province.timezone_name))
        else:
            lines.append(tr("notify.unacked", level=item.level) + (tr("notify.repeat", n=item.repeat) if item.repeat else ""))
        lines.append("")
    if more:
        lines += [tr("notify.more", n=more), ""]
    contact = config.notify.contact
    lines.append(f"{config.sitrep.post}" + (f": {contact}" if contact else ""))
    lines.append(tr("notify.keys", keys=", ".join(o.key for o in owed)))
    if exercise is not None:
        drill = tr("notify.exercise", name=for_terminal(exercise))
        title, lines = f"{drill} {title}", [drill, *lines]
    return title, "\n".join(lines)


def _rank(incident: Incident | None) -> int:
    """Most severe first in a message (and first to go when one message cannot name them all)."""
    return SEVERITIES.index(incident.severity) if incident is not None and incident.severity in SEVERITIES else len(SEVERITIES)


def _named(items: list[Owed]) -> str:
    """The incidents of a message for the log: a few, then how many more."""
    shown = ", ".join(f"#{i.incident}" for i in items[:10])
    return shown + (f" and {len(items) - 10} more" if len(items) > 10 else "")


def _regency(config: Config, code: str) -> str:
    regency = config.regency(code)
    return regency.short if regency is not None else code


# --- the outbox ---------------------------------------------------------------------------


@dataclass
class Notifier:
    """The outbox (what the log says is owed) and the loop that sends it."""

    server: OpsmonServer
    channels: dict[str, tuple[Channel, ...]] = field(default_factory=dict)
    owed: dict[tuple[str, int], Owed] = field(default_factory=dict)  # (key, channel) -> what is owed
    settled: set[tuple[str, int]] = field(default_factory=set)
    seen: int = 0  # the log's seq read so far
    last_sent: dict[tuple[str, int], datetime] = field(default_factory=dict)  # (person, channel) -> when
    running: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def active(self) -> bool:
        return any(self.channels.values())

    def take(self, events: Iterable[Event]) -> None:
        """Fold the log into the outbox."""
        epoch = self.server.store.epoch
        for event in events:
            self.seen = max(self.seen, event.seq)
            data = event.data
            if isinstance(data, IncidentEscalated) and isinstance(data.notify, list):
                repeat = data.repeat if isinstance(data.repeat, int) else 0
                final = data.final is True
                for person in data.notify:
                    key = _key(epoch, data.incident, data.level, repeat, final, person)
                    for channel in self.channels.get(person, ()):
                        if (key, channel.index) not in self.settled:
                            self.owed[(key, channel.index)] = Owed(key, person, channel.index, data.incident, data.level, repeat, final, parse_ts(event.ts))
            elif isinstance(data, Notification):
                self.settled.add((data.key, data.channel))
                self.owed.pop((data.key, data.channel), None)

    async def scan(self) -> None:
        self.take(await self.server.store.events_since(self.seen))

    def due(self, now: datetime) -> dict[tuple[str, int], list[Owed]]:
        """What may go now, grouped by (person, channel): at most one message per
        group_seconds to one channel; quiet hours hold all but critical."""
        settings = self.server.config.notify
        tz = self.server.config.province.tz
        groups: dict[tuple[str, int], list[Owed]] = {}
        for item in self.owed.values():
            if item.next_try is not None and item.next_try > now:
                continue
            incident = self.server.state.incidents.get(item.incident)
            person = self.server.rules.escalation.people.get(item.person)
            if person is not None and (incident is None or incident.severity != "critical"):
                ends = in_quiet_hours(person, now, tz)
                if ends is not None:
                    item.next_try = ends
                    continue
            groups.setdefault((item.person, item.channel), []).append(item)
        wait = timedelta(seconds=settings.group_seconds)
        due: dict[tuple[str, int], list[Owed]] = {}
        for target, items in groups.items():
            if target in self.last_sent and now - self.last_sent[target] < wait:
                continue  # this channel had its message for this interval: the rest waits for the next
            rank = {i.incident: _rank(self.server.state.incidents.get(i.incident)) for i in items}
            due[target] = sorted(items, key=lambda i: (rank[i.incident], i.decided, i.incident))
        return due

    async def check(self) -> int:
        """One round: read the log, send what is due (each channel in its own
        thread, at once), write the outcomes. Returns the messages sent."""
        await self.scan()
        if not self.server.holds_timers or not self.owed:
            return 0
        now = self.server.clock()
        groups = self.due(now)
        if not groups:
            return 0
        most = self.server.config.notify.max_per_message
        results = await asyncio.gather(*(self._deliver(person, index, items[:most], now, len(items) - most) for (person, index), items in groups.items()))
        decisions = [d for batch in results for d in batch[1]]
        if decisions:
            async with self.server.lock:
                await self.server.writer.write(decisions)
            await self.scan()
        return sum(1 for ok, _ in results if ok)

    async def _deliver(self, person: str, index: int, items: list[Owed], now: datetime, more: int) -> tuple[bool, list[Decision]]:
        config = self.server.config
        channel = next(c for c in self.channels[person] if c.index == index)
        drill = self.server.exercise.settings.name if self.server.exercise is not None else None
        title, body = compose(config, items, self.server.state.incidents, now, drill, more=max(0, more))
        answer = await send_bounded(channel, title, body, [i.key for i in items], config.notify.timeout_seconds)
        decisions: list[Decision] = []
        regency = {i.incident: (self.server.state.incidents[i.incident].regency if i.incident in self.server.state.incidents else None) for i in items}
        if answer.ok:
            self.last_sent[(person, index)] = now  # the interval counts from a message that went; a failed one retries on its own backoff
            log.info("notified %s (channel %d, %s) of %s: %s", person, index, channel.scheme, _named(items), answer.text)
            for i in items:
                sent = NotificationSent(incident=i.incident, person=person, key=i.key, level=i.level, channel=index, scheme=channel.scheme, answer=answer.text)
                decisions.append(Decision(sent, regency[i.incident]))
            return True, decisions
        settings = config.notify
        for i in items:
            i.attempts += 1
            i.last_error = answer.text
            if i.attempts >= settings.max_attempts:
                failed = NotificationFailed(
                    incident=i.incident, person=person, key=i.key, level=i.level, channel=index, scheme=channel.scheme, attempts=i.attempts, error=answer.text
                )
                decisions.append(Decision(failed, regency[i.incident]))
            else:
                i.next_try = now + timedelta(seconds=settings.retry_seconds * 2 ** (i.attempts - 1))
        retry = items[0].next_try
        log.warning(
            "could not notify %s (channel %d, %s) of %s, attempt %d of %d: %s%s",
            person, index, channel.scheme, _named(items), items[0].attempts, settings.max_attempts, answer.text.rstrip("."),
            f"; trying again at {local_time(retry, config.province.tz, seconds=True)}" if retry is not None and retry > now else "; giving up",
        )  # fmt: skip
        return False, decisions

    async def run(self) -> None:
        while True:
            if self.server.holds_timers:
                try:
                    await self.check()
                except Exception:  # a failed round must not end the loop; the next one retries
                    log.exception("notification round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.sleep(self.every)

    @property
    def every(self) -> float:
        every = self.server.config.notify.check_seconds
        if self.server.exercise is None:
            return every
        return min(every, max(0.1, every / self.server.exercise.settings.speed))
