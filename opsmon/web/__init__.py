"""`opsmon web`: the wall display in a browser, served by textual-serve.

Each browser tab gets its own `opsmon --wall` process, the same TUI the
wall terminal runs (no second UI to keep in step). It is read-only twice
over: wall mode has no action keys, and the token must be a viewer token,
which the server refuses to let act whatever is clicked. The token reaches
those processes through their environment, never a command line or the page.
Only pages of the wall's own address (and `[web] allowed_origins`) may open
it, at most `[web] max_sessions` tabs at once, each at most `max_columns` x
`max_rows`, with every asset served from here (opsmon/web/server.py, page.py).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import shlex
import sys
from typing import Any

from opsmon.client.failures import ClientError, Unauthorized
from opsmon.client.handshake import URLs
from opsmon.client.session import Session
from opsmon.core.config import Config
from opsmon.core.exits import EXIT_OK, EXIT_UNAUTHORIZED, EXIT_UNREACHABLE, EXIT_USAGE, FeedError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _role(url: URLs, token: str, cafile: str | None) -> str:
    session = await Session.open(url, token, client="opsmon-web", cafile=cafile, page=1)  # the welcome is all it reads
    try:
        return session.welcome.user.role
    finally:
        await session.close()


def wall_command(url: URLs, config: Config, lang: str | None, cafile: str | None = None) -> str:
    """What each browser tab runs: the wall, on this machine's Python and config."""
    command = [sys.executable, "-m", "opsmon.cli", "--wall"]
    for each in [url] if isinstance(url, str) else url:
        command += ["--url", each]
    if cafile:
        command += ["--cafile", cafile]
    if config.path is not None:
        command += ["--config", str(config.path)]
    if lang:
        command += ["--lang", lang]
    return shlex.join(command)


def run_web_cli(args: argparse.Namespace, config: Config, url: URLs, token: str, cafile: str | None) -> int:
    try:
        role = asyncio.run(_role(url, token, cafile))
    except Unauthorized as exc:
        raise FeedError(str(exc), EXIT_UNAUTHORIZED) from None
    except ClientError as exc:
        raise FeedError(str(exc), EXIT_UNREACHABLE) from None
    if role != "viewer":
        raise FeedError(
            f'--token is an {role} token: the browser wall takes a viewer token (opsmon-server token add "Wall" --role viewer --agency KPU), so nothing clicked there can act',
            EXIT_USAGE,
        )
    if not is_loopback(args.host):
        print(
            f"opsmon web: warning: listening on {args.host}, not only this machine: anyone who reaches port {args.port} sees the wall; "
            "put it behind a reverse proxy with TLS and a login (docs/web.md, 'The wall in a browser')",
            file=sys.stderr,
        )
    if args.host in ("", "0.0.0.0", "::") and not args.public_url and not config.web.allowed_origins:
        print(
            f"opsmon web: note: on every interface, browsers may open the wall only as http://127.0.0.1:{args.port}; "
            "give --public-url or [web] allowed_origins for the address others use (anything else is refused with 403)",
            file=sys.stderr,
        )
    from opsmon.web.server import WallServer

    os.environ["OPSMON_TOKEN"] = token  # inherited by each tab's process
    command = wall_command(url, config, getattr(args, "lang", None), cafile)
    server = WallServer(command, settings=config.web, host=args.host, port=args.port, title="opsmon", public_url=args.public_url)
    server.serve()
    return EXIT_OK


def add_parser(commands: Any, connection: Any) -> None:
    parser = commands.add_parser(
        "web",
        help="serve the wall display to browsers (read-only; localhost unless --host)",
        description="Serve the wall display to web browsers with textual-serve: each tab runs `opsmon --wall` against the server. "
        "Takes a viewer token only. Binds to 127.0.0.1 unless --host says otherwise; beyond this machine, put it behind a reverse proxy with TLS.",
    )
    connection(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080)")
    parser.add_argument("--public-url", metavar="URL", help="the address browsers use, when behind a reverse proxy (e.g. https://dinding.posko.example)")
    parser.add_argument("--lang", choices=("id", "en"), default=argparse.SUPPRESS, help="language of the wall")
