"""TLS for the server: wss:// and https:// (/healthz, /metrics) without a proxy."""

from __future__ import annotations

import logging
import ssl

from opsmon.core.filemodes import exposed

log = logging.getLogger("opsmon.server")


class TLSError(ValueError):
    """A certificate or key the server cannot use; str() says which and why."""


def server_ssl_context(cert: str, key: str) -> ssl.SSLContext:
    """TLS for wss:// and https:// (/healthz, /metrics) from PEM files."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    for path in (cert, key):
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise TLSError(f"{path}: cannot read ({exc.strerror})") from None
    loose = exposed(key)
    if loose is not None:
        log.warning("the TLS private key %s", loose)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise TLSError(f"{cert} / {key}: not a PEM certificate and its matching key ({exc.reason or exc})") from None
    return context
