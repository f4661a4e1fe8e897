"""Greeting one server: the URL list, TLS trust, hello and welcome; and command ids."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import ssl
from collections.abc import Sequence

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from opsmon import __version__
from opsmon.client.failures import ClientError, Unauthorized, failure
from opsmon.core.protocol import Error, Hello, Welcome
from opsmon.core.wire import BadMessage, decode_server, encode

CLIENT_NAME = f"opsmon/{__version__}"
URLs = str | Sequence[str]

_ids = itertools.count(1)
_session_prefix = secrets.token_hex(4)


def new_command_id() -> str:
    """Unique per command: a per-process random prefix and a counter."""
    return f"{_session_prefix}-{next(_ids)}"


def url_list(url: URLs) -> list[str]:
    """One URL or several, as a list (a str is one URL, never split here: see opsmon.core.urls)."""
    urls = [url] if isinstance(url, str) else list(url)
    if not urls:
        raise ClientError("no server URL given (expected ws://HOST:PORT/ws)", "not_websocket_url", {"url": ""})
    return urls


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


async def greet(
    url: str,
    token: str,
    *,
    client: str,
    epoch: str | None,
    since: int | None,
    digest: str | None,
    timeout: float,
    cafile: str | None,
    page: int | None = None,
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
        await ws.send(encode(Hello(token=token, client=client, epoch=epoch, since=since, digest=digest, page=page)), text=True)
        first = decode_server(await asyncio.wait_for(ws.recv(decode=False), timeout))  # bytes: msgspec reads UTF-8 itself
    except (ConnectionClosed, TimeoutError, BadMessage) as exc:
        await ws.close()
        raise failure(url, exc) from None
    if isinstance(first, Error):
        await ws.close()
        if first.code == "unauthorized":
            raise Unauthorized(f"token refused by {url}: {first.message}", first.reason, dict(first.params or {}))
        raise ClientError(f"{url}: {first.code}: {first.message}")
    if not isinstance(first, Welcome):
        await ws.close()
        raise ClientError(f"{url}: expected welcome, got {type(first).__name__}")
    return ws, first
