"""Timestamps as the protocol writes them: RFC 3339 UTC with milliseconds and Z."""

from __future__ import annotations

from datetime import UTC, datetime

# --- time ----------------------------------------------------------------------------


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_ts(moment: datetime) -> str:
    """RFC 3339 UTC with milliseconds and Z, as the protocol writes every ts."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    if moment.year < 1000:  # strftime's %Y does not pad these; isoformat would
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    # isoformat is C all the way: half the time of strftime plus an f-string (every event's ts).
    return moment.isoformat(timespec="milliseconds")[:-6] + "Z"


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
