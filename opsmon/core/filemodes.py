"""Secret files: the database, a TLS key, a token file (issue 22 item 13).

What opsmon creates holding secrets it creates 0600 (the owner only: the
umask cannot widen it); a secret someone else made that the group or the
world may read is named in a warning, with the chmod that fixes it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE = 0o600


def create_private(path: str | Path) -> bool:
    """Create `path` empty with mode 0600 if it does not exist; True if it was made."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def exposed(path: str | Path) -> str | None:
    """Why `path` is not private (its group or others may read or write it), or None."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None  # the caller's own read says what is wrong
    if not mode & 0o077:
        return None
    who = [w for w, bits in (("its group", 0o070), ("everyone", 0o007)) if mode & bits]
    return f"{path} may be read by {' and '.join(who)} (mode {mode:04o}): chmod 600 {path}"


def writable_by_others(path: str | Path) -> str | None:
    """Why `path` must not be trusted (its group or others may write it), or None:
    a token file anyone else may change could be made to hold their token."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None  # the caller's own read says what is wrong
    if not mode & 0o022:
        return None
    who = [w for w, bits in (("its group", 0o020), ("everyone", 0o002)) if mode & bits]
    return f"{path} may be written by {' and '.join(who)} (mode {mode:04o}), who could put another token in it: chmod 600 {path}"
