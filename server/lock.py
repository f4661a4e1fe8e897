"""One writer per database: a lock file beside it, held with flock.

`opsmon.db.lock` holds the running server's pid and port, so a second server
on the same file can say who has it. The kernel drops the lock when the
process dies (kill -9 included), so a stale file never blocks a restart.

The file also remembers the last (epoch, seq, digest) the server wrote. A
server started on a database that is behind that, or that holds another
event at that seq, is on a restored or copied file: see `replaced()`.
They are rewritten at most once a second (HEAD_EVERY; a rewrite is JSON and
two system calls, and the digest is computed for it), and at a clean stop:
after a kill -9 the file may be up to a second behind the database, which
is still what it held then, so the check stays true; only a copy of that
last second put back in its place would pass as the same history.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import getpass
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Seconds between two rewrites of the head (epoch, seq, digest) in the lock file.
HEAD_EVERY = 1.0


class LockError(RuntimeError):
    """The database is taken, or the lock file cannot be made; str() says which."""


def lock_path(database: str | Path) -> Path:
    return Path(f"{database}.lock")


def user_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a uid with no passwd entry
        return f"uid {os.getuid()}"


def _owner(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return "?"
    try:
        import pwd

        name = pwd.getpwuid(st.st_uid).pw_name
    except (KeyError, ImportError):
        name = f"uid {st.st_uid}"
    return f"{name}, mode {stat.S_IMODE(st.st_mode):04o}"


def why_not_writable(path: Path) -> str | None:
    """Why this user cannot write `path` (a file to create or change), or None if it can."""
    folder = path.parent
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return f"folder {folder} is on a read-only filesystem (remount it read-write or choose another place)"
    except OSError:
        return f"folder {folder} does not exist or cannot be read by user {user_name()}"
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path} is read-only for user {user_name()} (owner {_owner(path)}): chown it to the service user or chmod u+w"
    if not path.exists() and not os.access(folder, os.W_OK | os.X_OK):
        return f"folder {folder} is not writable by user {user_name()} (owner {_owner(folder)}): chown it to the service user or chmod u+w"
    return None


def holder(database: str | Path) -> str:
    """Who holds the database's lock, as "pid N, port P", read from the lock file."""
    info = _read(lock_path(database))
    pid, port = info.get("pid", "?"), info.get("port")
    return f"pid {pid}, port {port}" if port else f"pid {pid}, still starting"


def _read(path: Path) -> dict[str, Any]:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


class DatabaseLock:
    """Held for a server's whole life: `acquire()`, `update(...)`, `release()`."""

    def __init__(self, database: str | Path) -> None:
        self.database = Path(database)
        self.path = lock_path(database)
        self._fd: int | None = None
        self.info: dict[str, Any] = {}
        # What the previous holder last wrote (epoch, seq, digest), if anything.
        self.previous: dict[str, Any] = {}
        # The head's fields, read when a rewrite is due; the rewrite planned, when it was last done.
        self._head: Callable[[], dict[str, Any]] | None = None
        self._due: asyncio.TimerHandle | None = None
        self._head_written = float("-inf")

    def acquire(self, purpose: str = "serve") -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            why = why_not_writable(self.path) or f"{exc.strerror or exc} (user {user_name()})"
            raise LockError(f"cannot open the lock file {self.path}: {why}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockError(
                f"{self.database} is in use by another opsmon-server ({holder(self.database)}): one server per database; stop it first or use another --db"
            ) from None
        self._fd = fd
        self.previous = _read(self.path)
        self.info = {"pid": os.getpid(), "port": None, "purpose": purpose}
        for key in ("epoch", "seq", "digest"):
            if key in self.previous:
                self.info[key] = self.previous[key]
        self._write()

    def update(self, **fields: Any) -> None:
        self.info.update(fields)
        self._write()

    def head_moved(self, head: Callable[[], dict[str, Any]]) -> None:
        """A commit moved the head: `head()` (epoch, seq, digest) goes to the file now if
        the last rewrite is HEAD_EVERY old, else when it is (one rewrite for every commit
        in between, read then). Called on the event loop."""
        self._head = head
        if self._due is not None:
            return
        loop = asyncio.get_running_loop()
        wait = self._head_written + HEAD_EVERY - loop.time()
        if wait <= 0:
            self._write_head()
        else:
            self._due = loop.call_later(wait, self._write_head)

    def _write_head(self) -> None:
        self._due = None
        if self._head is not None:
            self._head_written = asyncio.get_running_loop().time()
            self.update(**self._head())

    def _write(self) -> None:
        if self._fd is None:
            return
        data = json.dumps(self.info, sort_keys=True).encode()
        # A failed write (disk full) costs only restore detection: never the server.
        with contextlib.suppress(OSError):
            os.pwrite(self._fd, data, 0)
            os.ftruncate(self._fd, len(data))

    def release(self) -> None:
        if self._due is not None:  # a rewrite still planned: the head as it is now, then
            self._due.cancel()
            self._due = None
            if self._head is not None:
                self.info.update(self._head())
        if self._fd is not None:
            fd, self._fd = self._fd, None
            self.info["pid"], self.info["port"] = None, None
            with contextlib.suppress(OSError):
                data = json.dumps(self.info, sort_keys=True).encode()
                os.pwrite(fd, data, 0)
                os.ftruncate(fd, len(data))
            os.close(fd)

    def __enter__(self) -> DatabaseLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
