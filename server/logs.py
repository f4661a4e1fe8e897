"""The server's log: one line per happening, in the province's time (WITA),
as text or as one JSON object per line (journald, Loki), never a token.

Audit lines (commands carried out or refused) carry their fields as
`extra={"audit": {...}}`; the JSON form puts them beside the message so a
query can select by who, incident, regency or outcome.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import time
from collections.abc import Iterator
from datetime import datetime, tzinfo
from typing import Any

from websockets.frames import Frame, Opcode

LOG_FORMATS = ("text", "json")

# A token is `ops_` and 43 URL-safe characters. Anything that looks like one
# is cut out of every line, whoever wrote it (websockets' own debug lines
# include the frames, hello and its token among them).
_SECRET = re.compile(r"ops_(?!\[redacted\])[A-Za-z0-9_\-]*")
# A hello's `token` field, whatever it holds (a mistyped or foreign secret too),
# to its closing quote or the end of a cut-off text.
_TOKEN_FIELD = re.compile(r'("token"\s*:\s*)"(?:[^"\\]|\\.)*"?')
# How much of a frame's payload websockets' debug lines show.
_FRAME_SHOWN = 75
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def redact(text: str) -> str:
    """No part of a token: any `ops_...` and any JSON `"token"` field's value."""
    return _SECRET.sub("ops_[redacted]", _TOKEN_FIELD.sub(r'\1"[redacted]"', text))


def _frame(frame: Frame) -> str:
    """A websocket frame for websockets' debug line: its payload redacted whole,
    then cut (websockets cuts first, which could leave a token's tail behind)."""
    if frame.opcode not in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
        return redact(str(frame))
    size = f"{len(frame.data)} byte{'' if len(frame.data) == 1 else 's'}"
    if frame.opcode is Opcode.CONT or not frame.fin:
        return f"{frame.opcode.name} [{size}, part of a fragmented message: not shown]"
    text = redact(bytes(frame.data).decode("utf-8", "replace"))
    if len(text) > _FRAME_SHOWN:
        text = text[: _FRAME_SHOWN * 2 // 3] + "..." + text[-(_FRAME_SHOWN // 3) :]
    return f"{frame.opcode.name} {text!r} [{size}]"


def message_of(record: logging.LogRecord) -> str:
    """The record's message with every secret cut out, frames included."""
    if isinstance(record.args, tuple) and any(isinstance(arg, Frame) for arg in record.args):
        args = tuple(_frame(arg) if isinstance(arg, Frame) else arg for arg in record.args)
        try:
            return redact(str(record.msg) % args)
        except (TypeError, ValueError):
            return redact(" ".join(map(str, (record.msg, *args))))
    return redact(record.getMessage())


class Repeats(logging.Filter):
    """Identical warning (and error) lines within `interval` seconds are one
    line: the first is written, the others counted, and the next one after the
    interval says "(repeated N times in the last ... s)"."""

    def __init__(self, interval: float = 10.0, clock: Any = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self.clock = clock
        self.seen: dict[tuple[str, int, str], list[float | int]] = {}  # key -> [window start, repeats]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        text = message_of(record)
        key = (record.name, record.levelno, text)
        now = self.clock()
        held = self.seen.get(key)
        if held is not None and now - held[0] < self.interval:
            held[1] += 1
            return False
        if len(self.seen) > 1000:
            self.seen = {k: v for k, v in self.seen.items() if now - v[0] < self.interval or v[1]}
        self.seen[key] = [now, 0]
        if held is not None and held[1]:
            record.msg, record.args = f"{text} (repeated {held[1]} more times in the {self.interval:g} s before)", None
        return True

    def pending(self) -> list[str]:
        """What was counted and not yet said (for the last lines at shutdown)."""
        return [f"{text} (repeated {int(count)} more times in the last {self.interval:g} s)" for (_n, _l, text), (_s, count) in self.seen.items() if count]


def quote(text: str, limit: int = 80) -> str:
    """Text from the wire, for a log line: quoted, escaped, cut to `limit`."""
    cut = text if len(text) <= limit else text[: limit - 1] + "…"
    return json.dumps(cut, ensure_ascii=False)


def _one_line(text: str) -> str:
    """No line of the log can be forged by what a message holds."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text).replace("\n", "\\n")


class _Formatter(logging.Formatter):
    def __init__(self, tz: tzinfo) -> None:
        super().__init__()
        self.tz = tz

    def when(self, record: logging.LogRecord) -> datetime:
        return datetime.fromtimestamp(record.created, self.tz)


class TextFormatter(_Formatter):
    """`2024-02-14 21:05:09 WITA INFO opsmon.server: ...`"""

    def format(self, record: logging.LogRecord) -> str:
        when = self.when(record)
        line = f"{when:%Y-%m-%d %H:%M:%S} {when.tzname()} {record.levelname} {record.name}: {_one_line(message_of(record))}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)


class JsonFormatter(_Formatter):
    """One JSON object a line: ts (ISO 8601 with the province's offset), level, logger, message, and any audit fields."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": self.when(record).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message_of(record),
        }
        audit = getattr(record, "audit", None)
        if isinstance(audit, dict):
            body.update({k: v for k, v in audit.items() if v is not None and k not in body})
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        # The message is redacted whole above; here only what looks like a token (the audit `token` field names its holder).
        return _SECRET.sub("ops_[redacted]", json.dumps(body, ensure_ascii=False, default=str))


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a line is written."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


# Requests a load balancer or Prometheus makes every few seconds: websockets'
# INFO lines for them ("HTTP response sent", "connection closed") are logged at
# DEBUG instead (two lines a health check would be 86,000 a day per replica).
QUIET_PATHS = frozenset({"/healthz", "/metrics"})


class QuietProbes(logging.Filter):
    """On websockets' server logger: a health or metrics request's lines at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        try:
            request = getattr(getattr(record, "websocket", None), "request", None)
            path = str(request.path).split("?", 1)[0] if request is not None else None
        except ReferenceError:  # the connection is gone already (a weak proxy)
            return True
        if path not in QUIET_PATHS:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


@contextlib.contextmanager
def logging_to_stderr(level: str, fmt: str, tz: tzinfo) -> Iterator[None]:
    """While serving, the root logger writes to stderr in `fmt` ("text" or
    "json"); afterwards it is as it was (serve may run inside another program)."""
    handler = _Stderr()
    handler.setFormatter(JsonFormatter(tz) if fmt == "json" else TextFormatter(tz))
    repeats = Repeats()
    handler.addFilter(repeats)
    root = logging.getLogger()
    level_before = root.level
    root.addHandler(handler)
    root.setLevel(level.upper())
    quiet = QuietProbes()
    websockets_log = logging.getLogger("websockets.server")
    websockets_log.addFilter(quiet)
    try:
        yield
    finally:
        websockets_log.removeFilter(quiet)
        handler.removeFilter(repeats)
        for text in repeats.pending():
            handler.handle(logging.LogRecord("opsmon.server", logging.WARNING, __file__, 0, "%s", (text,), None))
        root.removeHandler(handler)
        root.setLevel(level_before)
