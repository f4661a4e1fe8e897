"""Tokens: random secrets, shown once, stored only as SHA-256 hashes.

A token carries a person's name, role (viewer, officer, admin), agency and
optionally the regencies they may act on.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, tzinfo

from opsmon.core.clock import format_ts, parse_ts, utc_now
from opsmon.core.records import AGENCIES, ROLES, Actor, User
from server.store.api import EventStore, TokenRecord

TOKEN_PREFIX = "ops_"
NAME_RE = re.compile(r"^[\w .'-]{1,64}$")


class AuthError(ValueError):
    """A token request that cannot be carried out; str() says why."""


def new_secret() -> str:
    # 32 random bytes: far beyond guessing, so a plain (unsalted) hash is enough.
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def user_of(record: TokenRecord) -> User:
    return User(name=record.name, role=record.role, agency=record.agency, regencies=record.regencies)


async def people(store: EventStore, now: datetime) -> list[Actor]:
    """Who an incident can be assigned to: the name and agency of every officer and admin
    token neither revoked nor expired, each once, by agency then name (never a secret or a hash)."""
    active = await store.active_token_hashes(format_ts(now))
    known = {(record.agency, record.name) for record in await store.tokens() if record.hash in active and record.role in ("officer", "admin")}
    return [Actor(name=name, agency=agency) for agency, name in sorted(known)]


def check_token_fields(name: str, role: str, agency: str, regencies: list[str] | None, known_regencies: set[str]) -> None:
    if not NAME_RE.fullmatch(name):
        raise AuthError(f"name {name!r}: use 1 to 64 letters, digits, spaces, dots, dashes or apostrophes")
    if role not in ROLES:
        raise AuthError(f"role {role!r}: must be one of {', '.join(ROLES)}")
    if agency not in AGENCIES:
        raise AuthError(f"agency {agency!r}: must be one of {', '.join(AGENCIES)}")
    for code in regencies or []:
        if code not in known_regencies:
            raise AuthError(f"regency {code!r}: not in the config (known: {', '.join(sorted(known_regencies))})")


def parse_expiry(text: str, tz: tzinfo, now: datetime | None = None) -> datetime:
    """`--expires`: an ISO date and time, e.g. 2024-03-11T00:00+08:00 (without an
    offset, the province's time); it must lie in the future."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise AuthError(f"--expires {text!r}: not a date and time like 2024-03-11T00:00+08:00") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    if when <= (now or utc_now()):
        raise AuthError(f"--expires {text!r}: that is already past")
    return when


async def add_token(
    store: EventStore,
    name: str,
    role: str,
    agency: str,
    regencies: list[str] | None,
    known_regencies: set[str],
    *,
    expires: datetime | None = None,
    by: str = "",
    log_change: bool = False,
) -> str:
    """Create a token and return its secret; only its hash is kept."""
    secret, _ = await add_token_record(store, name, role, agency, regencies, known_regencies, expires=expires, by=by, log_change=log_change)
    return secret


async def add_token_record(
    store: EventStore,
    name: str,
    role: str,
    agency: str,
    regencies: list[str] | None,
    known_regencies: set[str],
    *,
    expires: datetime | None = None,
    by: str = "",
    log_change: bool = False,
) -> tuple[str, TokenRecord | None]:
    """Create a token: its secret, and the name's earlier (revoked) token if it had one."""
    check_token_fields(name, role, agency, regencies, known_regencies)
    secret = new_secret()
    record = TokenRecord(
        name=name,
        hash=hash_token(secret),
        role=role,
        agency=agency,
        regencies=regencies or None,
        created=format_ts(utc_now()),
        revoked=None,
        expires=None if expires is None else format_ts(expires),
    )
    earlier = await store.add_token(record, by=by, log_change=log_change)
    return secret, earlier


@dataclass(frozen=True)
class Identified:
    """Who a hello's token belongs to, or why it is refused. `refusal` is for
    the client; `detail` (with the token's name) only for the server's log."""

    user: User | None
    hash: str
    refusal: str = ""
    detail: str = ""


async def identify(store: EventStore, token: str, now: datetime, tz: tzinfo) -> Identified:
    if not token:
        return Identified(None, "", "unknown or revoked token", "no token")
    token_hash = hash_token(token)
    record = await store.token_by_hash(token_hash)
    if record is None:
        return Identified(None, token_hash, "unknown or revoked token", "unknown token")
    if record.revoked is not None:
        return Identified(None, token_hash, "unknown or revoked token", f"token {record.name!r} revoked at {local_time(record.revoked, tz)}")
    if record.expires is not None and parse_ts(record.expires) <= now:
        expired = local_time(record.expires, tz)
        return Identified(None, token_hash, f"token expired at {expired}", f"token {record.name!r} expired at {expired}")
    return Identified(user_of(record), token_hash)


def local_time(ts: str, tz: tzinfo) -> str:
    """A stored UTC timestamp as the province's clock shows it: 2024-03-11 00:00 WITA."""
    when = parse_ts(ts).astimezone(tz)
    return f"{when:%Y-%m-%d %H:%M} {when.tzname()}"
