"""textual-serve's server, closed to other sites and bounded: the Host and Origin checked on
every request, a cap on tabs, a cap on the terminal a tab may ask for, the page's assets local.

Which pages may open the wall: the address it serves on (with 127.0.0.1,
localhost and [::1] when that is this machine or every interface), its
--public-url, and `[web] allowed_origins`. Anything else gets HTTP 403 and
one warning line: a page on another site (its `Origin`), or a name that
only resolves here by DNS rebinding (its `Host`). A request without an
`Origin` (not a browser's websocket) is judged by its Host alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import urllib.parse
from collections.abc import Awaitable, Callable

import aiohttp_jinja2
import jinja2
from aiohttp import WSCloseCode, web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

from opsmon.core.config import WebSettings
from opsmon.web.page import PAGE

log = logging.getLogger("opsmon.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
EVERY_INTERFACE = ("", "0.0.0.0", "::")
MAX_MESSAGE_BYTES = 64 * 1024  # what a browser tab sends: keys, resizes, pings


def origin_key(origin: str) -> tuple[str, str, int] | None:
    """`https://Wall.Posko` -> ("https", "wall.posko", 443); None when it is no http(s) origin."""
    try:
        parts = urllib.parse.urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") or parts.query or parts.username:
        return None
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


def host_key(host: str) -> tuple[str, int | None] | None:
    """A Host header, `wall.posko:8080` or `[::1]:8080` -> (name, port or None)."""
    try:
        parts = urllib.parse.urlsplit("//" + host)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or parts.path or parts.query or parts.username:
        return None
    return parts.hostname.lower(), port


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def served_origins(host: str, port: int, public_url: str | None, allowed: tuple[str, ...]) -> set[tuple[str, str, int]]:
    """Every origin whose pages may open this wall."""
    names = {host} if host not in EVERY_INTERFACE else set()
    if _is_loopback(host) or host in EVERY_INTERFACE:
        names.update(LOOPBACK_NAMES)
    keys = {("http", name.lower(), port) for name in names}
    for origin in (*allowed, *([public_url] if public_url else [])):
        key = origin_key(origin.rstrip("/"))
        if key is not None:
            keys.add(key)
    return keys


class BoundedAppService(AppService):
    """One tab's `opsmon --wall`, never asked to draw a terminal larger than [web] max_columns x max_rows."""

    def __init__(self, *args: object, columns: int, rows: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.columns, self.rows = columns, rows

    def clamp(self, width: int, height: int) -> tuple[int, int]:
        return max(1, min(width, self.columns)), max(1, min(height, self.rows))

    async def start(self, width: int, height: int) -> None:
        await super().start(*self.clamp(width, height))

    async def set_terminal_size(self, width: int, height: int) -> None:
        if not isinstance(width, int) or not isinstance(height, int):
            return  # a resize without two whole numbers: ignored, as a terminal would
        await super().set_terminal_size(*self.clamp(width, height))


async def reap(app_service: AppService) -> None:
    """Wait for a tab's process to exit after its quit (killed if it will not), so none is left behind."""
    process = app_service._process
    if process is None or process.returncode is not None:
        return
    try:
        await asyncio.wait_for(process.wait(), 10)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


class WallServer(Server):
    def __init__(self, command: str, *, settings: WebSettings, host: str, port: int, title: str, public_url: str | None) -> None:
        super().__init__(command, host=host, port=port, title=title, public_url=public_url)
        self.settings = settings
        self.origins = served_origins(host, port, public_url, settings.allowed_origins)
        self.sessions = 0

    def refusal(self, host: str | None, origin: str | None) -> str | None:
        """Why a request with these headers may not be answered, or None."""
        if origin is not None and origin_key(origin) not in self.origins:
            return f"Origin {origin!r} may not open this wall (see [web] allowed_origins)"
        key = host_key(host) if host is not None else None
        if key is None or not any(key[0] == name and key[1] in (port, None) for _, name, port in self.origins):
            return f"Host {host!r} is not an address this wall serves (see --public-url and [web] allowed_origins)"
        return None

    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        refusal = self.refusal(request.headers.get("Host"), request.headers.get("Origin"))
        if refusal is not None:
            log.warning("refused %s %s from %s: %s", request.method, request.path[:100].encode("unicode_escape").decode(), request.remote, refusal)
            raise web.HTTPForbidden(text=f"opsmon web: {refusal}\n")
        return await handler(request)

    async def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self.guard])
        aiohttp_jinja2.setup(app, loader=jinja2.DictLoader({"app_index.html": PAGE}), autoescape=True)
        app.add_routes(
            [
                web.get("/", self.handle_index, name="index"),
                web.get("/ws", self.handle_websocket, name="websocket"),
                web.get("/download/{key}", self.handle_download, name="download"),
                web.static("/static", self.statics_path, name="static"),
            ]
        )
        app.on_startup.append(self.on_startup)
        app.on_shutdown.append(self.on_shutdown)
        return app

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        if self.sessions >= self.settings.max_sessions:
            log.warning("refused a wall tab from %s: %d open already, [web] max_sessions", request.remote, self.sessions)
            websocket = web.WebSocketResponse()
            await websocket.prepare(request)
            reason = f"opsmon web: {self.sessions} walls open, the most allowed ([web] max_sessions): close one and reload"
            await websocket.close(code=WSCloseCode.TRY_AGAIN_LATER, message=reason.encode()[:123])
            return websocket
        self.sessions += 1
        try:
            return await self._session(request)
        finally:
            self.sessions -= 1

    async def _session(self, request: web.Request) -> web.WebSocketResponse:
        """textual-serve's handler, with a bounded AppService and a bound on what a tab may send."""
        websocket = web.WebSocketResponse(heartbeat=15, max_msg_size=MAX_MESSAGE_BYTES)
        width = to_int(request.query.get("width", "80"), 80)
        height = to_int(request.query.get("height", "24"), 24)
        app_service: BoundedAppService | None = None
        try:
            await websocket.prepare(request)
            app_service = BoundedAppService(
                self.command,
                write_bytes=websocket.send_bytes,
                write_str=websocket.send_str,
                close=websocket.close,
                download_manager=self.download_manager,
                debug=self.debug,
                columns=self.settings.max_columns,
                rows=self.settings.max_rows,
            )
            await app_service.start(width, height)
            await self._process_messages(websocket, app_service)
        except asyncio.CancelledError:
            await websocket.close()
        except Exception as error:
            log.warning("a wall tab from %s ended: %s", request.remote, type(error).__name__)
        finally:
            if app_service is not None:
                await app_service.stop()
                await reap(app_service)
        return websocket
