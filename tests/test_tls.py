"""TLS without a proxy: wss:// and https:// from the server's own certificate,
verified by every client; a client that does not trust it is refused, in one line."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
import urllib.request
from pathlib import Path

import pytest

from opsmon.client.failures import ClientError
from opsmon.client.session import Session
from opsmon.core.config import ConfigError, load_config
from server.tls import TLSError, server_ssl_context
from tests.helpers import CONFIG_PATH, ROOT, free_port, running_server
from tests.pki import Pki, make_pki
from tests.processes import add_token, opsmon, opsmon_server, serving


def https_get(url: str, cafile: Path) -> bytes:
    with urllib.request.urlopen(url, context=ssl.create_default_context(cafile=str(cafile)), timeout=5) as answer:
        return bytes(answer.read())


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    folder = tmp_path / "pki"
    folder.mkdir()
    return make_pki(folder)


@pytest.mark.slow
async def test_the_real_cli_over_wss_trusts_only_the_posts_ca(tmp_path: Path, pki: Pki) -> None:
    db = tmp_path / "opsmon.db"
    token = add_token(db, "Rahmat")
    port = free_port()
    async with serving("--db", str(db), "--port", str(port), "--tls-cert", str(pki.cert), "--tls-key", str(pki.key)) as server:
        assert f"wss://127.0.0.1:{port}/ws" in server.first_line
        url = f"wss://127.0.0.1:{port}/ws"
        args = ("ack", "1", "--url", url, "--token", token, "--config", str(CONFIG_PATH))
        report = ("report", "--regency", "6371", "--category", "logistik", "--severity", "high", "--title", "Kotak suara rusak")

        trusted = opsmon(*report, *args[2:], "--cafile", str(pki.ca))
        assert trusted.returncode == 0, trusted.stderr
        assert trusted.stdout.strip() == "1"

        for cafile in ([], ["--cafile", str(pki.stranger)]):  # the system's CAs, or some other CA
            refused = opsmon(*args, *cafile)
            assert refused.returncode == 4, refused
            assert "certificate" in refused.stderr and "--cafile" in refused.stderr
            assert "Traceback" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1, refused.stderr

        # [client] cafile in the config does what --cafile does.
        config = tmp_path / "config.toml"
        config.write_text(CONFIG_PATH.read_text(encoding="utf-8").replace("[client]\n", '[client]\ncafile = "pki/ca.crt"\n'), encoding="utf-8")
        by_config = opsmon("ack", "1", "--url", url, "--token", token, "--config", str(config))
        assert by_config.returncode == 0, by_config.stderr

        # /healthz and /metrics are https:// on the same port.
        assert (
            json.loads(await asyncio.to_thread(https_get, f"https://127.0.0.1:{port}/healthz", pki.ca))["seq"] == 3
        )  # 1 is the token.added event, 2 the report, 3 the ack
        assert b"opsmon_head_seq 3.0" in await asyncio.to_thread(https_get, f"https://127.0.0.1:{port}/metrics", pki.ca)
        await server.stop()


async def test_session_over_wss(tmp_path: Path, pki: Pki) -> None:
    """The library the TUI and the feeders share verifies the certificate and the host name."""
    async with running_server(tmp_path, ssl_context=server_ssl_context(str(pki.cert), str(pki.key))) as running:
        assert running.url.startswith("wss://")
        session = await Session.open(running.url, running.tokens["wall"], cafile=str(pki.ca))
        assert session.welcome.user.name == "wall"
        await session.close()
        with pytest.raises(ClientError, match="certificate is not trusted"):
            await Session.open(running.url, running.tokens["wall"], cafile=str(pki.stranger))
        # Plain ws:// to a TLS server fails clearly, not with a hang.
        with pytest.raises(ClientError):
            await Session.open(running.url.replace("wss://", "ws://"), running.tokens["wall"], timeout=3)


def test_bad_certificate_files_are_one_line(tmp_path: Path, pki: Pki) -> None:
    with pytest.raises(TLSError, match="cannot read"):
        server_ssl_context(str(tmp_path / "missing.crt"), str(pki.key))
    with pytest.raises(TLSError, match="matching key"):
        server_ssl_context(str(pki.ca), str(pki.key))  # the CA's certificate with the server's key
    done = opsmon_server("serve", "--db", str(tmp_path / "x.db"), "--port", "0", "--tls-cert", str(pki.ca), "--tls-key", str(pki.key))
    assert done.returncode != 0 and "Traceback" not in done.stderr and "matching key" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    lonely = opsmon_server("serve", "--db", str(tmp_path / "x.db"), "--port", "0", "--tls-cert", str(pki.cert))
    assert lonely.returncode != 0 and "go together" in lonely.stderr


def test_tls_config_keys_are_checked(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG_PATH.read_text(encoding="utf-8").replace("[server]\n", '[server]\ntls_cert = "server.crt"\n'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"server\.tls_key: missing"):
        load_config(config)
    config.write_text(CONFIG_PATH.read_text(encoding="utf-8").replace("[client]\n", "[client]\ncafile = 3\n"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"client\.cafile: must be a string"):
        load_config(config)


async def test_the_dashboard_over_wss(tmp_path: Path, pki: Pki) -> None:
    """The officer's screen trusts the post's CA given to it, and stops with exit 4
    naming the certificate when it does not trust the server."""
    from opsmon.tui.app import OpsmonApp
    from tests.tui_helpers import until

    async with running_server(tmp_path, ssl_context=server_ssl_context(str(pki.cert), str(pki.key))) as running:
        app = OpsmonApp(url=running.url, token=running.tokens["officer"], cafile=str(pki.ca))
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.welcome is not None and app.online)
        stranger = OpsmonApp(url=running.url, token=running.tokens["officer"], cafile=str(pki.stranger))
        async with stranger.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: stranger.return_code is not None)
        assert stranger.return_code == 4
        assert "certificate" in stranger.exit_line and "--cafile" in stranger.exit_line


def tls_page_commands() -> list[str]:
    """The three openssl lines of the TLS page (docs/tls.md), as written."""
    section = (ROOT / "docs" / "tls.md").read_text(encoding="utf-8")
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("openssl") is None or shutil.which("bash") is None, reason="needs the openssl and bash commands")
async def test_the_tls_pages_three_commands_make_a_working_post_ca(tmp_path: Path) -> None:
    commands = tls_page_commands()
    assert len(commands) == 3 and all(c.startswith("openssl ") for c in commands)
    for line in commands:
        # The page's example address is the post's LAN; this test's server is on loopback.
        done = await asyncio.to_thread(
            subprocess.run, ["bash", "-c", line.replace("IP:192.168.10.5", "IP:127.0.0.1")], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
    async with running_server(tmp_path, ssl_context=server_ssl_context(str(tmp_path / "server.crt"), str(tmp_path / "server.key"))) as running:
        session = await Session.open(running.url, running.tokens["wall"], cafile=str(tmp_path / "ca.crt"))
        await session.close()
        with pytest.raises(ClientError, match="certificate"):
            await Session.open(running.url, running.tokens["wall"])


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl command")
async def test_the_tls_pages_health_check_works_with_tls_on(tmp_path: Path, pki: Pki) -> None:
    """docs/tls.md's curl line, as written but for the test's CA, name and port (its certificate names localhost)."""
    section = (ROOT / "docs" / "tls.md").read_text(encoding="utf-8").split("## The health check with TLS on", 1)[1]
    [line] = [line for line in section.split("```sh\n", 1)[1].split("```", 1)[0].splitlines() if line.strip()]
    async with running_server(tmp_path, ssl_context=server_ssl_context(str(pki.cert), str(pki.key))) as running:
        port = str(running.server.port)
        ran = line.replace("/etc/opsmon/tls/ca.crt", str(pki.ca)).replace("posko.local", "localhost").replace("8765", port)
        done = await asyncio.to_thread(subprocess.run, ["bash", "-c", ran], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        health = json.loads(done.stdout)
        assert health["status"] == "ok" and health["epoch"] == running.store.epoch
        # The plain-HTTP line of the deployment page gets nothing from a TLS port: why the page gives this one.
        plain = await asyncio.to_thread(subprocess.run, ["curl", "-s", f"http://127.0.0.1:{port}/healthz"], capture_output=True, text=True, timeout=30)
        assert plain.returncode != 0 and plain.stdout == ""
