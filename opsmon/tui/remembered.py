"""The officer's focus (regencies, desk), remembered per token on this machine.

Kept in the user's state folder ($XDG_STATE_HOME/opsmon, else
~/.local/state/opsmon) as focus.json, keyed by a SHA-256 of the token: the
token itself is never written. A file that cannot be read is as good as none
(the token's own regencies are the default), and one that cannot be written
costs only the memory, never the session."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

FILE = "focus.json"
KEEP = 50  # tokens remembered per machine (the oldest forgotten first)


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "opsmon"


def token_key(token: str) -> str:
    return hashlib.sha256(("opsmon-focus:" + token).encode()).hexdigest()


@dataclass(frozen=True)
class Remembered:
    regencies: tuple[str, ...]  # empty: the whole province
    desk: str | None


def _read(folder: Path) -> dict[str, object]:
    try:
        data = json.loads((folder / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def recall(folder: Path, token: str) -> Remembered | None:
    entry = _read(folder).get(token_key(token))
    if not isinstance(entry, dict):
        return None
    regencies, desk = entry.get("regencies"), entry.get("desk")
    if not isinstance(regencies, list) or not all(isinstance(code, str) for code in regencies):
        return None
    return Remembered(tuple(regencies), desk if isinstance(desk, str) else None)


def remember(folder: Path, token: str, choice: Remembered) -> bool:
    """Save `choice` for `token`; False when the folder cannot be written."""
    data = _read(folder)
    key = token_key(token)
    data.pop(key, None)
    data[key] = {"regencies": list(choice.regencies), "desk": choice.desk}
    kept = dict(list(data.items())[-KEEP:])
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = folder / (FILE + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(kept, out)
        os.replace(temporary, folder / FILE)
    except OSError:
        return False
    return True
