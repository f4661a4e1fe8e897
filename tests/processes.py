"""`opsmon-server serve` and `opsmon` as real processes, with any arguments."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from tests.helpers import CONFIG_PATH, ROOT, free_port

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def opsmon(*args: str, timeout: float = 30, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The `opsmon` client CLI, as a process."""
    return subprocess.run([sys.executable, "-m", "opsmon.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env={**ENV, **(env or {})})


def opsmon_server(*args: str, config: Path | None = CONFIG_PATH, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """`opsmon-server` (not serve), as a process."""
    extra = ["--config", str(config)] if config is not None else []
    return subprocess.run([sys.executable, "-m", "server.cli", *args, *extra], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=ENV)


def into_a_closed_pipe(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """`python -m ARGS | head`: stdout a pipe whose reader is gone before anything is written."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, "-m", *args], stdout=write_end, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT, timeout=timeout)
    finally:
        os.close(write_end)


class Serving:
    """A running `opsmon-server serve`; `log` is what it has written to stderr so far."""

    def __init__(self, process: asyncio.subprocess.Process, first_line: str) -> None:
        self.process = process
        self.first_line = first_line
        self.log: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self.log.append(line.decode())

    async def stop(self) -> str:
        """SIGTERM; the whole log."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.process.wait(), 15)
        await asyncio.wait_for(self._reader, 5)
        return "".join(self.log)

    async def until_logged(self, text: str, timeout: float = 10.0) -> str:
        """Wait for a log line containing `text`, and return it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            for line in self.log:
                if text in line:
                    return line
            await asyncio.sleep(0.05)
        raise AssertionError(f"no log line with {text!r} in:\n{''.join(self.log)}")


@contextlib.asynccontextmanager
async def serving(*args: str, config: Path = CONFIG_PATH) -> AsyncIterator[Serving]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server.cli", "serve", "--config", str(config), *args,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=ENV,
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
    if "listening on" not in line:
        process.kill()
        raise AssertionError(line + (await process.stderr.read()).decode())
    running = Serving(process, line)
    try:
        yield running
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def add_token(db: Path, name: str, role: str = "officer", agency: str = "KPU") -> str:
    done = opsmon_server("token", "add", name, "--role", role, "--agency", agency, "--db", str(db))
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


class ServerProcess:
    def __init__(self, db: Path, port: int) -> None:
        self.db, self.port = db, port
        self.process: asyncio.subprocess.Process | None = None
        self.output: list[str] = []

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server.cli", "serve", "--config", str(CONFIG_PATH), "--db", str(self.db), "--port", str(self.port), "--log-level", "warning",
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        assert self.process.stdout is not None
        line = (await asyncio.wait_for(self.process.stdout.readline(), 15)).decode()
        self.output.append(line)
        assert "listening on" in line, line + (await self.process.stderr.read()).decode()  # type: ignore[union-attr]

    async def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(self.process.wait(), 10) == -signal.SIGKILL

    async def stop(self) -> tuple[int, str, str]:
        """SIGTERM, and the exit code with the rest of the output."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(self.process.communicate(), 15)
        return self.process.returncode or 0, "".join(self.output) + out.decode(), err.decode()

    async def ensure_dead(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


@contextlib.asynccontextmanager
async def server_process(db: Path, port: int | None = None) -> AsyncIterator[ServerProcess]:
    proc = ServerProcess(db, port or free_port())
    try:
        await proc.start()
        yield proc
    finally:
        await proc.ensure_dead()
