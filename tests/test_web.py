"""`opsmon web` in a real headless Chromium: the wall drawn in the page, read from the terminal's buffer.

Debian's `chromium` (installed by .ci/run) driven by Playwright's Python
package pointed at that executable: no browser is downloaded. The screenshot
is kept in tests/artifacts/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from opsmon.cli import main
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
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

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
    env = {**os.environ, "NO_COLOR": ""}
    env.pop("NO_COLOR")
    web = subprocess.Popen(
        [sys.executable, "-m", "opsmon.cli", "web", "--url", live.url, "--token", live.tokens["wall"], "--port", str(port), "--config", str(CONFIG_PATH)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
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
            browser = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox", "--disable-gpu"])
            try:
                page = browser.new_page(viewport={"width": 1700, "height": 1000})
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
            finally:
                browser.close()
        assert live.state().incidents[1].status == "open"
    finally:
        web.terminate()
        web.wait(timeout=20)
