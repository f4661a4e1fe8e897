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
    found = _open_to(path, group=0o070, others=0o007)
    if found is None:
        return None
    mode, who = found
    return f"{path} may be read by {who} (mode {mode:04o}): chmod 600 {path}"


def writable_by_others(path: str | Path) -> str | None:
    """Why `path` must not be trusted (its group or others may write it), or None:
    a token file anyone else may change could be made to hold their token."""
    found = _open_to(path, group=0o020, others=0o002)
    if found is None:
        return None
    mode, who = found
    return f"{path} may be written by {who} (mode {mode:04o}), who could put another token in it: chmod 600 {path}"


def _open_to(path: str | Path, *, group: int, others: int) -> tuple[int, str] | None:
    """`path`'s mode and who besides its owner has these permission bits on it
    ("its group", "everyone" or both), or None: nobody (or no such file: the
    caller's own read says what is wrong)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None
    who = [w for w, bits in (("its group", group), ("everyone", others)) if mode & bits]
    return (mode, " and ".join(who)) if who else None
