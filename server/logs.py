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
from collections.abc import Iterator
from datetime import datetime, tzinfo
from typing import Any

LOG_FORMATS = ("text", "json")

# A token is `ops_` and 43 URL-safe characters. Anything that looks like one
# is cut out of every line, whoever wrote it (websockets' own debug lines
# include the frames, hello and its token among them).
_SECRET = re.compile(r"ops_[A-Za-z0-9_\-]{8,}")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def redact(text: str) -> str:
    return _SECRET.sub("ops_[redacted]", text)


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
        line = f"{when:%Y-%m-%d %H:%M:%S} {when.tzname()} {record.levelname} {record.name}: {_one_line(record.getMessage())}"
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
            "message": record.getMessage(),
        }
        audit = getattr(record, "audit", None)
        if isinstance(audit, dict):
            body.update({k: v for k, v in audit.items() if v is not None and k not in body})
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(body, ensure_ascii=False, default=str))


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a line is written."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


@contextlib.contextmanager
def logging_to_stderr(level: str, fmt: str, tz: tzinfo) -> Iterator[None]:
    """While serving, the root logger writes to stderr in `fmt` ("text" or
    "json"); afterwards it is as it was (serve may run inside another program)."""
    handler = _Stderr()
    handler.setFormatter(JsonFormatter(tz) if fmt == "json" else TextFormatter(tz))
    root = logging.getLogger()
    level_before = root.level
    root.addHandler(handler)
    root.setLevel(level.upper())
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level_before)
