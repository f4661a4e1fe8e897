"""`opsmon web` in a real headless Chromium: the wall drawn in the page, read from the terminal's buffer,
with every connection beyond this machine refused; and its guard against other sites, too many tabs
and huge terminals, against the real aiohttp server on a free port with a real websocket client.

Debian's `chromium` (installed by .ci/run) driven by Playwright's Python
package pointed at that executable: no browser is downloaded. The screenshot
is kept in tests/artifacts/ (gitignored) for a person to look at. The guard's
tests run each tab's process as a small probe speaking textual-serve's packets
(it answers the terminal size it was given), so no wall needs starting there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from opsmon.cli import main
from opsmon.core.config import WebSettings
from opsmon.web.server import WallServer
from tests.helpers import CONFIG_PATH, ROOT, free_port, province
from tests.server_thread import ServerThread

ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")

# The terminal object lives in a closure of textual-serve's page script; catch it as it is
# assigned (`this.terminal = new Terminal(...)`) so the test can read the buffer xterm.js holds.
CATCH_TERMINAL = """
window.__terminals = [];
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  get() { return undefined; },
  set(value) {
    Object.defineProperty(this, "terminal", {value, writable: true, configurable: true, enumerable: true});
    if (value && value.buffer) window.__terminals.push(value);
  },
});
"""
READ_BUFFER = """() => {
  const t = window.__terminals[0];
  if (!t) return "";
  const b = t.buffer.active, out = [];
  for (let y = 0; y < t.rows; y++) { const line = b.getLine(y); out.push(line ? line.translateToString(true) : ""); }
  return out.join("\\n");
}"""


def need_chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("no Chromium in CI: .ci/run installs Debian's chromium package")
        pytest.skip("no Chromium on this machine: apt-get install chromium (as .ci/run does)")
    return CHROMIUM


def test_web_refuses_a_token_that_may_act(live: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["web", "--url", live.url, "--token", live.tokens["officer"], "--port", str(free_port())]) == 2
    err = capsys.readouterr().err
    assert "--token is an officer token: the browser wall takes a viewer token" in err
    assert main(["web", "--url", "ws://127.0.0.1:9/ws", "--token", "x"]) == 4


def test_the_wall_in_a_browser(live: ServerThread, tmp_path: Path) -> None:
    executable = need_chromium()
    from playwright.sync_api import Route, sync_playwright
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    assert (
        main(
            [
                "report",
                "--url",
                live.url,
                "--token",
                live.tokens["officer"],
                "--regency",
                "6310",
                "--category",
                "keamanan",
                "--severity",
                "critical",
                "--title",
                "Kericuhan di PPK",
            ]
        )
        == 0
    )
    port = free_port()
    log_file = tmp_path / "web.log"
    config = tmp_path / "config.toml"  # the shipped config, one tab at a time
    config.write_text(CONFIG_PATH.read_text() + "\n[web]\nmax_sessions = 1\n")
    env = {**os.environ, "NO_COLOR": ""}
    env.pop("NO_COLOR")
    web = subprocess.Popen(
        [sys.executable, "-m", "opsmon.cli", "web", "--url", live.url, "--token", live.tokens["wall"], "--port", str(port), "--config", str(config)],
        cwd=tmp_path,
        env=env,
        stdout=log_file.open("w"),
        stderr=subprocess.PIPE,
    )
    try:
        page_url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        while True:  # wait for it to listen (not an assertion on speed: the machine is shared)
            try:
                with urllib.request.urlopen(page_url, timeout=2) as answer:
                    assert answer.status == 200
                    break
            except OSError:
                assert web.poll() is None, web.stderr.read().decode() if web.stderr else "opsmon web exited"
                assert time.monotonic() < deadline, "opsmon web never answered"
                time.sleep(0.3)
        with sync_playwright() as playwright:
            # No way out of this machine: every name but 127.0.0.1 fails to resolve, and every request
            # the page makes elsewhere is aborted and noted (the post's LAN has no internet).
            browser = playwright.chromium.launch(
                executable_path=executable,
                headless=True,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                    # Let a public page reach loopback, as browsers without these checks do, so the
                    # refusal below is the wall's own (the server's log line proves it), not Chromium's.
                    "--disable-features=LocalNetworkAccessChecks,PrivateNetworkAccessRespectPreflightResults,BlockInsecurePrivateNetworkRequests",
                ],
            )
            try:
                page = browser.new_page(viewport={"width": 1700, "height": 1000})
                elsewhere: list[str] = []

                def local_only(route: Route) -> None:
                    if urllib.parse.urlsplit(route.request.url).hostname == "127.0.0.1":
                        route.continue_()
                    else:
                        elsewhere.append(route.request.url)
                        route.abort()

                page.route("**/*", local_only)
                page.add_init_script(CATCH_TERMINAL)
                page.goto(page_url)
                # Drawn: the wall arrives in pieces over the websocket, so wait for all of it.
                expected = [r.short for r in province().regencies] + ["Peta provinsi", "KRITIS blm ack", "Kericuhan di PPK"]
                try:
                    page.wait_for_function(
                        f"(names) => {{ const text = ({READ_BUFFER})(); return names.every((n) => text.includes(n)); }}", arg=expected, timeout=120_000
                    )
                except PlaywrightTimeout:
                    screen = page.evaluate(READ_BUFFER)
                    pytest.fail(f"the wall was not drawn: missing {[n for n in expected if n not in screen]} in\n{screen}")
                screen = page.evaluate(READ_BUFFER)
                # Every regency by its short name (panels and the map's legend), the map, the ticker.
                for regency in province().regencies:
                    assert regency.short in screen, regency.short
                assert "Kericuhan di PPK" in screen and "hanya-baca" in screen
                # Read-only whatever is pressed or clicked: the incident stays unacknowledged.
                page.mouse.click(200, 200)
                for key in ("a", "Enter", "e", "r"):
                    page.keyboard.press(key)
                page.wait_for_timeout(500)
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "web-wall.png"))
                # Drawn with nothing from elsewhere: the page asked for nothing beyond this
                # machine, and its font is the local copy, loaded.
                assert elsewhere == []
                assert page.evaluate("() => [...document.fonts].some((f) => f.family.includes('Roboto Mono') && f.status === 'loaded')")
                # A second tab, past [web] max_sessions, is told why in the page (as text).
                second = browser.new_page()
                second.route("**/*", local_only)
                second.goto(page_url)
                second.wait_for_selector("body.-closed", timeout=30_000)
                assert second.text_content(".closed-dialog .message") == (
                    "opsmon web: 1 walls open, the most allowed ([web] max_sessions): close one and reload"
                )
                assert elsewhere == []
                # A page of another site (served here by the route, as if from the internet)
                # may not open the wall: its websocket is refused before any wall starts.
                evil = browser.new_page()
                evil.route(
                    "http://evil.example/**",
                    lambda route: route.fulfill(
                        content_type="text/html",
                        body=f"""<script>const s = new WebSocket("ws://127.0.0.1:{port}/ws");
                        s.onopen = () => {{ window.result = "open"; }};
                        s.onclose = () => {{ window.result = window.result || "refused"; }};</script>""",
                    ),
                )
                evil.goto("http://evil.example/")
                evil.wait_for_function("() => window.result !== undefined", timeout=30_000)
                assert evil.evaluate("() => window.result") == "refused"
            finally:
                browser.close()
        assert live.state().incidents[1].status == "open"
    finally:
        web.terminate()
        web.wait(timeout=20)
    logged = "".join(log_file.read_text().split())  # the log is wrapped to its terminal's width
    assert "refusedGET/wsfrom127.0.0.1:Origin'http://evil.example'maynotopenthiswall" in logged


# --- the guard: origins, hosts, tabs and terminal sizes ------------------------------------

# Stands in for a tab's `opsmon --wall`: textual-serve's prelude, then one data packet
# "size WxH" for the size it started at and for every resize it is sent; ends on "quit".
PROBE = r"""
import json, os, sys
out, inp = sys.stdout.buffer, sys.stdin.buffer
def send(text):
    data = text.encode()
    out.write(b"D" + len(data).to_bytes(4, "big") + data)
    out.flush()
out.write(b"__GANGLION__\n")
send(f"size {os.environ['COLUMNS']}x{os.environ['ROWS']}")
while len(head := inp.read(5)) == 5:
    body = inp.read(int.from_bytes(head[1:], "big"))
    if head[:1] == b"M":
        meta = json.loads(body)
        if meta["type"] == "resize":
            send(f"size {meta['width']}x{meta['height']}")
        elif meta["type"] == "quit":
            break
"""


@contextlib.asynccontextmanager
async def wall_server(tmp_path: Path, settings: WebSettings, public_url: str | None = None) -> AsyncIterator[WallServer]:
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    port = free_port()
    server = WallServer(shlex.join([sys.executable, str(probe)]), settings=settings, host="127.0.0.1", port=port, title="opsmon", public_url=public_url)
    runner = web.AppRunner(await server._make_app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield server
        for _ in range(300):  # every tab's handler done and its process reaped
            if server.sessions == 0:
                break
            await asyncio.sleep(0.1)
    finally:
        await runner.cleanup()


def tab_url(server: WallServer, query: str = "") -> str:
    return f"ws://127.0.0.1:{server.port}/ws{query}"


def open_tab(server: WallServer, query: str = "") -> connect:
    """A browser tab's websocket, from a page of the wall's own address."""
    return connect(tab_url(server, query), origin=f"http://127.0.0.1:{server.port}")  # type: ignore[arg-type]


async def next_size(tab: ClientConnection) -> str:
    message = await asyncio.wait_for(tab.recv(), 30)
    assert isinstance(message, bytes), message
    return message.decode()


async def http_get(port: int, path: str, host: str) -> tuple[int, str]:
    """A plain HTTP/1.1 GET with exactly this Host header (as a DNS-rebound page would send)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    answer = (await reader.read()).decode(errors="replace")
    writer.close()
    status = int(answer.split(" ", 2)[1])
    return status, answer.split("\r\n\r\n", 1)[1]


async def test_a_page_on_another_site_may_not_open_the_wall(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "opsmon.web")
    async with wall_server(tmp_path, WebSettings(allowed_origins=("https://dinding.posko.local",))) as server:
        with pytest.raises(InvalidStatus) as refused:
            await connect(tab_url(server), origin="http://evil.example")  # type: ignore[arg-type]
        assert refused.value.response.status_code == 403
        assert b"Origin 'http://evil.example' may not open this wall" in refused.value.response.body
        assert "refused GET /ws from 127.0.0.1: Origin 'http://evil.example' may not open this wall" in caplog.text
        assert server.sessions == 0  # no wall process was started for it
        # A name that resolves here only by DNS rebinding: its Host is refused, page and websocket.
        status, body = await http_get(server.port, "/", f"evil.example:{server.port}")
        assert status == 403 and "Host 'evil.example:" in body
        with socket.create_connection(("127.0.0.1", server.port)) as sock, pytest.raises(InvalidStatus) as rebound:
            await connect(f"ws://evil.example:{server.port}/ws", sock=sock, origin=f"http://evil.example:{server.port}")  # type: ignore[arg-type]
        assert rebound.value.response.status_code == 403
        # Its own address and the configured origin may.
        for origin in (f"http://127.0.0.1:{server.port}", f"http://localhost:{server.port}", "https://dinding.posko.local"):
            async with connect(tab_url(server), origin=origin) as tab:  # type: ignore[arg-type]
                assert await next_size(tab) == "size 80x24"


async def test_the_page_loads_nothing_from_elsewhere(tmp_path: Path) -> None:
    async with wall_server(tmp_path, WebSettings()) as server:
        status, page = await http_get(server.port, "/", f"127.0.0.1:{server.port}")
        assert status == 200
        base = f"http://127.0.0.1:{server.port}/static/"
        assert f'href="{base}css/xterm.css"' in page and f'src="{base}js/textual.js"' in page
        assert f'url("{base}fonts/RobotoMono-VariableFont_wght.ttf")' in page
        assert "googleapis" not in page
        # Every URL in the page is this server's (the svg namespace is no request).
        urls = [u for u in page.replace("'", '"').split('"') if "://" in u]
        assert urls and all(u.startswith((f"http://127.0.0.1:{server.port}/", f"ws://127.0.0.1:{server.port}/")) for u in urls), urls
        font_status, _ = await http_get(server.port, "/static/fonts/RobotoMono-VariableFont_wght.ttf", f"127.0.0.1:{server.port}")
        assert font_status == 200


async def test_tabs_are_capped_with_a_reason(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "opsmon.web")
    async with wall_server(tmp_path, WebSettings(max_sessions=2)) as server:
        first = await open_tab(server)
        async with open_tab(server) as second:
            assert await next_size(first) == await next_size(second) == "size 80x24"
            async with open_tab(server) as third:
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(third.recv(), 30)
                assert third.close_code == 1013
                assert third.close_reason == "opsmon web: 2 walls open, the most allowed ([web] max_sessions): close one and reload"
            assert "refused a wall tab from 127.0.0.1: 2 open already, [web] max_sessions" in caplog.text
            await first.close()
            # Closing a tab frees its place.
            for _ in range(100):
                if server.sessions < 2:
                    break
                await asyncio.sleep(0.1)
            async with open_tab(server) as again:
                assert await next_size(again) == "size 80x24"


async def test_a_tab_may_not_ask_for_a_huge_terminal(tmp_path: Path) -> None:
    async with wall_server(tmp_path, WebSettings()) as server, open_tab(server, "?width=3000&height=3000") as tab:
        assert await next_size(tab) == "size 300x120"
        await tab.send(json.dumps(["resize", {"width": 5000, "height": 40}]))
        assert await next_size(tab) == "size 300x40"
        await tab.send(json.dumps(["resize", {"width": "9999", "height": 40}]))  # not numbers: ignored
        await tab.send(json.dumps(["resize", {"width": -5, "height": 0}]))
        assert await next_size(tab) == "size 1x1"
        await tab.send(json.dumps(["resize", {"width": 220, "height": 60}]))
        assert await next_size(tab) == "size 220x60"
    async with wall_server(tmp_path, WebSettings(max_columns=100, max_rows=30)) as server, open_tab(server, "?width=3000&height=3000") as tab:
        assert await next_size(tab) == "size 100x30"


def test_web_settings_are_checked(tmp_path: Path) -> None:
    from opsmon.core.config import ConfigError, load_config

    bad = tmp_path / "config.toml"
    bad.write_text(CONFIG_PATH.read_text() + '\n[web]\nallowed_origins = ["https://dinding.posko.local/wall"]\n')
    with pytest.raises(ConfigError, match=r"web.allowed_origins\[0\]: 'https://dinding.posko.local/wall' is not an origin"):
        load_config(bad)
    bad.write_text(CONFIG_PATH.read_text() + "\n[web]\nmax_columns = 5000\n")
    with pytest.raises(ConfigError, match="web.max_columns"):
        load_config(bad)
    assert load_config(CONFIG_PATH).web == WebSettings(allowed_origins=(), max_sessions=8, max_columns=300, max_rows=120)
