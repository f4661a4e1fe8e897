"""Clients through a proxy (issue 23 items 3, 4, 5, 6): the HAProxy config of
docs/replicas.md, run as written (only its addresses and ports made the
test's) by Debian's `haproxy`, in front of two real `opsmon-server serve`
replicas on PostgreSQL; and what a client says when a proxy answers 502/503.

Where `haproxy` is not installed the proxy cases skip, saying so (CI installs
it: .ci/run); in CI (CI=true) they fail instead."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import sys
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from opsmon.client.failures import ClientError
from opsmon.client.session import Session
from opsmon.core.config import Config
from server.auth import add_token
from server.store.backends import open_store
from tests.backends import Databases
from tests.helpers import ROOT, STANDARD_TOKENS, free_port, province
from tests.processes import Serving, serving
from tests.wire import Peer

REPLICAS_PAGE = ROOT / "docs" / "replicas.md"

pytestmark = pytest.mark.slow  # haproxy and opsmon-server processes


def haproxy_config(text: str) -> str:
    """The page's HAProxy block (the ```text block after "HAProxy (`/etc/haproxy/haproxy.cfg`")."""
    after = text[text.index("HAProxy (`/etc/haproxy/haproxy.cfg`") :]
    found = re.search(r"^```text\n(.*?)^```", after, flags=re.S | re.M)
    assert found is not None, "no HAProxy block in docs/replicas.md"
    return found.group(1)


def localized(config: str, front: int, ports: dict[str, int]) -> str:
    """The block with the test's addresses: the frontend on a free loopback port, the replicas on theirs."""
    assert "bind :80\n" in config and "127.0.0.1:8801" in config and "127.0.0.1:8802" in config
    config = config.replace("bind :80\n", f"bind 127.0.0.1:{front}\n")
    return config.replace("127.0.0.1:8801", f"127.0.0.1:{ports['a']}").replace("127.0.0.1:8802", f"127.0.0.1:{ports['b']}")


def need_haproxy() -> str:
    found = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("haproxy is not installed: CI installs it (.ci/run)", pytrace=False)
        pytest.skip("haproxy is not installed (apt-get install haproxy)")
    return found


async def _tokens(database: str, config: Config) -> dict[str, str]:
    async with open_store(database) as store:
        known = {r.code for r in config.regencies}
        return {name: await add_token(store, name, role, agency, regencies, known) for name, (role, agency, regencies) in STANDARD_TOKENS.items()}


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


async def _until(check: object, what: str, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()  # type: ignore[operator]
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


class Proxy:
    """haproxy in the foreground on a config file; `stop()` ends it."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port
        self.ws = f"ws://127.0.0.1:{port}/ws"
        self.http = f"http://127.0.0.1:{port}"


@contextlib.asynccontextmanager
async def haproxy(config_text: str, tmp_path: Path) -> AsyncIterator[Proxy]:
    binary = need_haproxy()
    front = free_port()
    path = tmp_path / "haproxy.cfg"
    path.write_text(config_text.replace("__FRONT__", str(front)), encoding="utf-8")
    checked = await asyncio.create_subprocess_exec(binary, "-c", "-f", str(path), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    said, _ = await checked.communicate()
    assert checked.returncode == 0, said.decode()
    process = await asyncio.create_subprocess_exec(binary, "-db", "-f", str(path), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        yield Proxy(process, front)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 5)
        if process.returncode is None:
            process.kill()
            await process.wait()


def _connections(port: int) -> int:
    status, body = _get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200, body
    return int(float(next(line.split()[1] for line in body.splitlines() if line.startswith("opsmon_connections "))))


async def test_a_feeder_through_the_docs_haproxy_survives_kill_minus_nine_of_its_replica(pg: Databases, tmp_path: Path) -> None:
    """The docs' HAProxy config with two real replicas: `opsmon simulate --url ws://proxy/ws`
    goes on through a kill -9 of the replica it is on and prints its summary; every
    report it was told `ok` is in the log once; new connections during the kill window succeed."""
    need_haproxy()
    url = pg.url()
    tokens = await _tokens(url, province())
    ports = {"a": free_port(), "b": free_port()}
    front = free_port()
    text = localized(haproxy_config(REPLICAS_PAGE.read_text(encoding="utf-8")), front, ports)
    async with (
        serving("--db", url, "--port", str(ports["a"]), "--replica-name", "A") as a,
        serving("--db", url, "--port", str(ports["b"]), "--replica-name", "B") as b,
        haproxy(text.replace(str(front), "__FRONT__"), tmp_path) as proxy,
    ):
        replicas: dict[str, Serving] = {"a": a, "b": b}
        await _until(lambda: _get(proxy.http + "/healthz")[0] == 200, "the proxy to find a replica up")
        simulating = ["simulate", "--rate", "40", "--duration", "10", "--reports-only", "--quiet", "--json", "--url", proxy.ws, "--token", tokens["admin"]]
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "opsmon.cli", *simulating, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        # Its replica: the one holding its connection; killed once it has done some work.
        await _until(lambda: _connections(ports["a"]) + _connections(ports["b"]) >= 1, "the simulator to connect")
        on = "a" if _connections(ports["a"]) else "b"
        other = "b" if on == "a" else "a"
        await _until(lambda: json.loads(_get(f"http://127.0.0.1:{ports[other]}/healthz")[1])["seq"] >= 40, "40 commands done")
        replicas[on].process.kill()
        await replicas[on].process.wait()
        # New connections at once, in the seconds before the health check marks it down: every one gets in.
        for _ in range(8):
            peer = await Peer.open(proxy.ws, tokens["wall"])
            assert peer.snapshot is not None
            await peer.close()
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()
        stats = json.loads(out)  # its summary
        assert stats["sent"] == stats["ok"] > 40 and stats["refused"] == {}, stats
        async with open_store(url) as store:
            log = await store.events_since(0)
        assert [e.seq for e in log] == list(range(1, len(log) + 1))
        # Every command answered ok is one event, once (token.added: the tokens written before).
        assert len([e for e in log if not e.kind.startswith("token.")]) == stats["ok"]


async def test_a_proxy_with_no_replica_behind_it_is_named_as_such_not_a_wrong_path(tmp_path: Path) -> None:
    """A 503 from HAProxy (every replica down) reads "the server behind the proxy is down", not "is the path /ws?"."""
    text = localized(haproxy_config(REPLICAS_PAGE.read_text(encoding="utf-8")), 1, {"a": free_port(), "b": free_port()})
    async with haproxy(text.replace("bind 127.0.0.1:1\n", "bind 127.0.0.1:__FRONT__\n"), tmp_path) as proxy:
        await _until(lambda: _get(proxy.http + "/healthz")[0] == 503, "the proxy to answer 503")
        with pytest.raises(ClientError) as refused:
            await Session.open(proxy.ws, "ops_" + "x" * 43, failover=False)
        text = str(refused.value)
        assert refused.value.reason == "proxy_down" and "HTTP 503 from a proxy: the server behind the proxy is down" in text
        assert "is the path /ws" not in text


def _tls_block(text: str, title: str) -> str:
    after = text[text.index(title) :]
    found = re.search(r"^```text\n(.*?)^```", after, flags=re.S | re.M)
    assert found is not None, f"no HAProxy block after {title!r}"
    return found.group(1)


def _https(url: str, cafile: Path) -> int:
    import ssl

    context = ssl.create_default_context(cafile=str(cafile))
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


@pytest.mark.parametrize("shape", ["*TLS at the proxy*", "*TLS end to end*"])
async def test_tls_at_the_proxy_and_tls_end_to_end_as_the_docs_write_them(shape: str, tmp_path: Path) -> None:
    from tests.pki import make_pki
    from tests.processes import add_token as add_token_cli

    need_haproxy()
    pki = make_pki(tmp_path)
    pem = tmp_path / "posko.pem"
    pem.write_bytes(pki.cert.read_bytes() + pki.key.read_bytes())
    block = _tls_block(REPLICAS_PAGE.read_text(encoding="utf-8"), shape)
    port = free_port()
    assert "bind :443 ssl crt /etc/haproxy/posko.pem\n" in block
    block = block.replace("bind :443 ssl crt /etc/haproxy/posko.pem\n", f"bind 127.0.0.1:__FRONT__ ssl crt {pem}\n")
    block = block.replace("/etc/opsmon/ca.crt", str(pki.ca))
    block = re.sub(r"server a \S+\n", f"server a 127.0.0.1:{port}\n", block)
    block = re.sub(r"^ *server b \S+\n", "", block, flags=re.M)  # one replica is enough to show the check and the TLS
    db = tmp_path / "opsmon.db"
    token = add_token_cli(db, "Rahmat")
    tls = ["--tls-cert", str(pki.cert), "--tls-key", str(pki.key)] if shape == "*TLS end to end*" else []
    async with serving("--db", str(db), "--host", "127.0.0.1", "--port", str(port), *tls), haproxy(block, tmp_path) as proxy:
        https = proxy.http.replace("http://", "https://")
        # The proxy's health check finds the replica up (end to end: over TLS, its certificate verified).
        await _until(lambda: _https(https + "/healthz", pki.ca) == 200, "the proxy's check to find the replica up")
        session = await Session.open(proxy.ws.replace("ws://", "wss://"), token, cafile=str(pki.ca), on_frame=lambda _: None)
        assert session.welcome.user.name == "Rahmat"
        await session.close()
        # A client that does not trust the post's CA is told so, not let in.
        with pytest.raises(ClientError) as untrusted:
            await Session.open(proxy.ws.replace("ws://", "wss://"), token, cafile=str(pki.stranger), failover=False)
        assert untrusted.value.reason == "tls_untrusted"


async def test_through_the_docs_haproxy_the_per_address_limit_counts_clients_not_the_proxy(tmp_path: Path) -> None:
    """`option forwardfor` in the docs' config and `[server] trusted_proxies`: each client behind
    the proxy is counted by its own address (here, as the test's clients share the proxy's
    loopback, by the address each one's X-Forwarded-For names before the proxy's own entry)."""
    from websockets.asyncio.client import connect

    from tests.helpers import CONFIG_PATH
    from tests.processes import add_token as add_token_cli

    need_haproxy()
    config = tmp_path / "config.toml"
    text = CONFIG_PATH.read_text(encoding="utf-8")
    assert "\n[server]\n" in text
    config.write_text(text.replace("\n[server]\n", '\n[server]\ntrusted_proxies = ["127.0.0.1/32"]\nmax_connections_per_address = 2\n', 1), encoding="utf-8")
    db = tmp_path / "opsmon.db"
    add_token_cli(db, "Rahmat")
    ports = {"a": free_port(), "b": free_port()}
    block = localized(haproxy_config(REPLICAS_PAGE.read_text(encoding="utf-8")), 1, ports).replace("bind 127.0.0.1:1\n", "bind 127.0.0.1:__FRONT__\n")
    async with serving("--db", str(db), "--host", "127.0.0.1", "--port", str(ports["a"]), config=config), haproxy(block, tmp_path) as proxy:
        await _until(lambda: _get(proxy.http + "/healthz")[0] == 200, "the proxy to find the replica up")
        # Six sockets through the proxy, two per client: none is turned away (the proxy is not one address).
        held = [await connect(proxy.ws, additional_headers={"X-Forwarded-For": f"10.0.0.{n}"}) for n in range(3) for _ in range(2)]
        for ws in held:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.3)  # open, waiting for a hello: not refused
        # A client's third is: the refusal names that client.
        third = await connect(proxy.ws, additional_headers={"X-Forwarded-For": "10.0.0.1"})
        frame = json.loads(await asyncio.wait_for(third.recv(), 5))
        assert frame["code"] == "too_many_connections" and "10.0.0.1" in frame["message"] and "127.0.0.1" not in frame["message"], frame
        for ws in [*held, third]:
            await ws.close()
