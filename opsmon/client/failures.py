"""Why a client could not have its session: the errors, and a failed connection's
reason code (`connect.<reason>` in i18n) from whatever websockets, ssl or the OS raised."""

from __future__ import annotations

import errno
import socket
import ssl
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidMessage, InvalidStatus, InvalidURI

from opsmon.core.i18n import Translator
from opsmon.core.text import for_terminal


class ClientError(Exception):
    """Why a session could not be had, in one line a person can act on (English);
    `reason` and `params`, when known, say it again for i18n (`connect.<reason>`)."""

    def __init__(self, message: str, reason: str | None = None, params: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.params = params or {}


class Unauthorized(ClientError):
    """The server refused the token: retrying will not help."""


def classify_failure(url: str, exc: BaseException) -> tuple[str, dict[str, Any]]:
    """Why a connection failed, as a reason code and its parameters (`connect.<code>` in i18n)."""
    if isinstance(exc, InvalidMessage) and isinstance(exc.__cause__, OSError):
        return classify_failure(url, exc.__cause__)  # the socket failed under the handshake (reset, timed out): say that
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "tls_untrusted", {"url": url, "detail": str(exc.verify_message or exc.reason)}
    if isinstance(exc, ssl.SSLError):
        return "tls_failed", {"url": url, "detail": str(exc.reason or exc)}
    if isinstance(exc, InvalidURI):
        return "not_websocket_url", {"url": url}
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        said = _server_said(exc.response.body)
        if said is not None:  # opsmon-server's own refusal (too many connections, throttled hellos): its words
            return "http_refused", {"url": url, "status": status, "detail": said}
        if status in (502, 503, 504):  # a proxy with no live server behind it (HAProxy, nginx)
            return "proxy_down", {"url": url, "status": status}
        return "http_status", {"url": url, "status": status}
    if isinstance(exc, TimeoutError):
        return "timeout", {"url": url}
    if isinstance(exc, ConnectionRefusedError):
        return "refused", {"url": url}
    if isinstance(exc, OSError):
        # The OS's words are English; its error's name (ECONNRESET ...) lets them be said
        # in the officer's language (`os.<name>` in i18n), the words kept for the rest.
        name = "EAI" if isinstance(exc, socket.gaierror) else errno.errorcode.get(exc.errno or 0, "")
        return "unreachable", {"url": url, "detail": str(exc.strerror or exc), "errno": name}
    if isinstance(exc, ConnectionClosed):
        return "closed", {"url": url, "code": exc.rcvd.code if exc.rcvd else "-"}
    if isinstance(exc, InvalidMessage) and url.startswith("ws://"):
        return "not_plain_http", {"url": url, "detail": str(exc)}
    if isinstance(exc, InvalidHandshake):
        return "handshake", {"url": url, "detail": str(exc)}
    return "other", {"url": url, "detail": str(exc)}


def _server_said(body: bytes | bytearray | None) -> str | None:
    """The one plain-text line opsmon-server answers a refused /ws with, terminal-safe
    and cut short; None for anything else (a proxy's HTML page, nothing)."""
    if not body:
        return None
    text = bytes(body[:300]).decode("utf-8", "replace").strip()
    if not text or text.startswith("<") or "\n" in text:
        return None
    return for_terminal(text)[:200]


def failure(url: str, exc: BaseException) -> ClientError:
    """The ClientError for a failed connection: English text, with its reason code."""
    reason, params = classify_failure(url, exc)
    return ClientError(Translator("en")(f"connect.{reason}", **params), reason, params)
