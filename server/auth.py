"""Tokens: random secrets, shown once, stored only as SHA-256 hashes.

A token carries a person's name, role (viewer, officer, admin), agency and
optionally the regencies they may act on.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from opsmon.protocol import AGENCIES, ROLES, User, format_ts, utc_now
from server.store import Store, TokenRecord

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


async def add_token(store: Store, name: str, role: str, agency: str, regencies: list[str] | None, known_regencies: set[str]) -> str:
    """Create a token and return its secret; only its hash is kept."""
    check_token_fields(name, role, agency, regencies, known_regencies)
    secret = new_secret()
    record = TokenRecord(name=name, hash=hash_token(secret), role=role, agency=agency, regencies=regencies or None, created=format_ts(utc_now()), revoked=None)
    await store.add_token(record)
    return secret


async def authenticate(store: Store, token: str) -> tuple[User, str] | None:
    """The user a token belongs to and its hash, or None for an unknown or revoked token."""
    if not token:
        return None
    token_hash = hash_token(token)
    record = await store.token_by_hash(token_hash)
    if record is None or record.revoked is not None:
        return None
    return user_of(record), token_hash
