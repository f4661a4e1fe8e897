"""Server URLs as a client is given them: one, or several to fail over between.

`--url A --url B`, `$OPSMON_URL` and `[client] url` may each hold a comma
list (`ws://a:8765/ws,ws://b:8765/ws`). `parse_urls` turns one such value
into its URLs, or says exactly what is wrong with it. No dependencies: the
config, the feeders and the client all use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit


class BadURL(ValueError):
    """A URL list that cannot be used; str() says which entry and why."""


def _check(url: str, where: str) -> str:
    if not url:
        raise BadURL(f"{where}: an empty URL in the list (two commas, or a comma at an end?): expected ws://HOST:PORT/ws")
    if any(c.isspace() for c in url):
        raise BadURL(f"{where}: {url!r} holds a space: separate several URLs with commas only")
    if url.count("://") > 1:
        raise BadURL(f"{where}: {url!r} holds more than one URL: separate several with commas (ws://a:8765/ws,ws://b:8765/ws)")
    if url.startswith(("http://", "https://")):
        raise BadURL(
            f"{where}: {url!r} is not a websocket URL: http(s):// is the health page, the websocket is ws:// (wss:// with TLS), e.g. ws://HOST:PORT/ws"
        )
    if not url.startswith(("ws://", "wss://")):
        raise BadURL(f"{where}: {url!r} is not a websocket URL: expected ws://HOST:PORT/ws or wss://HOST:PORT/ws")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is not a number or out of range
    except ValueError as exc:
        raise BadURL(f"{where}: {url!r} is not a valid URL ({exc})") from None
    if not parts.hostname:
        raise BadURL(f"{where}: {url!r} names no host: expected ws://HOST:PORT/ws")
    if port == 0:
        raise BadURL(f"{where}: {url!r} has port 0: give the server's port")
    return url


def parse_urls(value: str | Iterable[str], where: str = "url") -> list[str]:
    """The URLs in `value`: a comma list, or several values each a comma list.
    `where` names the source in the error (--url, $OPSMON_URL, client.url)."""
    values = [value] if isinstance(value, str) else list(value)
    if not values:
        raise BadURL(f"{where}: no URL given: expected ws://HOST:PORT/ws")
    urls: list[str] = []
    for text in values:
        if not text.strip():
            raise BadURL(f"{where}: an empty URL: expected ws://HOST:PORT/ws (several: ws://a:8765/ws,ws://b:8765/ws)")
        for part in text.split(","):
            url = _check(part.strip(), where)
            if url in urls:
                raise BadURL(f"{where}: {url} is given twice: each server once")
            urls.append(url)
    return urls


def short(url: str) -> str:
    """host:port of a URL, for a narrow header or banner ("127.0.0.1:8765")."""
    parts = urlsplit(url)
    return parts.netloc.rsplit("@", 1)[-1] or url
