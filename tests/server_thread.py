"""The real server (tests.helpers.running_server) on its own event loop in a
background thread, for tests that call the synchronous `opsmon` CLI in-process
(it runs its own asyncio loop) or as a subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from opsmon.cli import main
from tests.helpers import Running, running_server

T = TypeVar("T")


class ServerThread:
    def __init__(self, running: Running, loop: asyncio.AbstractEventLoop) -> None:
        self.running = running
        self.loop = loop

    @property
    def url(self) -> str:
        return self.running.url

    @property
    def tokens(self) -> dict[str, str]:
        return self.running.tokens

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run a coroutine on the server's loop (e.g. to read its state safely)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def state(self) -> Any:
        async def copy() -> Any:
            return self.running.server.state.copy()

        return self.call(copy())


@contextlib.contextmanager
def server_in_thread(tmp_path: Path, **kwargs: Any) -> Iterator[ServerThread]:
    loop = asyncio.new_event_loop()
    ready: Future[Running] = Future()
    stop: asyncio.Event | None = None

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        try:
            async with running_server(tmp_path, **kwargs) as running:
                ready.set_result(running)
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), name="opsmon-test-server", daemon=True)
    thread.start()
    try:
        running = ready.result(timeout=15)
        yield ServerThread(running, loop)
    finally:
        if stop is not None:
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=15)
        loop.close()


def opsmon(live: ServerThread, *args: str, token: str = "officer") -> int:
    """`opsmon <args>` in-process against `live`, as the named token (or a literal one)."""
    return main([*args, "--url", live.url, "--token", live.tokens.get(token, token)])
