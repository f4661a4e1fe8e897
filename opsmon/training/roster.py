"""An exercise's roster: the trainees expected at the post, each at a desk (pure).

`opsmon-server serve --exercise NAME --roster FILE` reads it; the after-action
report then lists everyone on it, those who never connected or handled
nothing included. Two shapes, by the file's extension:

    # peserta.csv: a header, then one trainee a line
    name,desk
    Peserta 01,KPU
    Peserta 02,Bawaslu

    # peserta.toml
    [[trainee]]
    name = "Peserta 01"
    desk = "KPU"

A name is the trainee's token's name (`opsmon-server token add NAME`); a desk
is an agency (KPU, Bawaslu, Polri). A bad file is one line saying where.
"""

from __future__ import annotations

import csv
import io
import tomllib
from dataclasses import dataclass
from pathlib import Path

from opsmon.core.records import AGENCIES
from opsmon.core.text import describe, forbidden_characters

MAX_TRAINEES = 500
NAME_MAX = 80  # a token's name


class RosterError(ValueError):
    """A roster file that cannot be used: one line."""


@dataclass(frozen=True)
class Trainee:
    name: str
    desk: str


def _trainee(name: object, desk: object, where: str) -> Trainee:
    if not isinstance(name, str) or not name.strip():
        raise RosterError(f"{where}: the name is missing")
    name = name.strip()
    if len(name) > NAME_MAX:
        raise RosterError(f"{where}: the name is longer than {NAME_MAX} characters")
    bad = forbidden_characters(name)
    if bad:
        raise RosterError(f"{where}: the name holds control characters ({', '.join(describe(c) for c in bad)})")
    if not isinstance(desk, str) or not desk.strip():
        raise RosterError(f"{where}: {name!r} has no desk (one of {', '.join(AGENCIES)})")
    known = {a.lower(): a for a in AGENCIES}
    canonical = known.get(desk.strip().lower())
    if canonical is None:
        raise RosterError(f"{where}: desk {desk.strip()[:40]!r} is not one of {', '.join(AGENCIES)}")
    return Trainee(name, canonical)


def _from_csv(text: str) -> list[tuple[Trainee, str]]:
    rows = list(csv.reader(io.StringIO(text)))
    numbered = [(n, row) for n, row in enumerate(rows, start=1) if any(cell.strip() for cell in row) and not row[0].lstrip().startswith("#")]
    if not numbered:
        raise RosterError("no trainees in it (a header line name,desk, then one trainee a line)")
    line, header = numbered[0]
    columns = [cell.strip().lower() for cell in header]
    if "name" not in columns or "desk" not in columns:
        raise RosterError(f"line {line}: the first line must be the header name,desk (it is {','.join(header)[:60]!r})")
    name_at, desk_at = columns.index("name"), columns.index("desk")
    out = []
    for line, row in numbered[1:]:
        if len(row) != len(columns):
            raise RosterError(f"line {line}: {len(row)} fields, the header has {len(columns)}")
        out.append((_trainee(row[name_at], row[desk_at], f"line {line}"), f"line {line}"))
    return out


def _from_toml(text: str) -> list[tuple[Trainee, str]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RosterError(f"not valid TOML ({exc})") from None
    unknown = sorted(set(data) - {"trainee"})
    if unknown:
        raise RosterError(f"unknown key {unknown[0]!r} (a roster has [[trainee]] tables with name and desk)")
    tables = data.get("trainee", [])
    if not isinstance(tables, list):
        raise RosterError("trainee must be [[trainee]] tables, one per trainee")
    out = []
    for n, table in enumerate(tables, start=1):
        where = f"trainee {n}"
        if not isinstance(table, dict):
            raise RosterError(f"{where}: not a table")
        extra = sorted(set(table) - {"name", "desk"})
        if extra:
            raise RosterError(f"{where}: unknown key {extra[0]!r} (name and desk only)")
        out.append((_trainee(table.get("name"), table.get("desk"), where), where))
    return out


def parse_roster(text: str, kind: str) -> list[Trainee]:
    """The roster in `text`, a "csv" or "toml" file's; RosterError (one line) if it cannot be used."""
    found = _from_csv(text) if kind == "csv" else _from_toml(text)
    if not found:
        raise RosterError("no trainees in it")
    if len(found) > MAX_TRAINEES:
        raise RosterError(f"{len(found)} trainees; a roster holds at most {MAX_TRAINEES}")
    seen: dict[str, str] = {}
    for trainee, where in found:
        key = trainee.name.casefold()
        if key in seen:
            raise RosterError(f"{where}: {trainee.name!r} is on the roster twice (also {seen[key]})")
        seen[key] = where
    return [trainee for trainee, _ in found]


def load_roster(path: str | Path) -> list[Trainee]:
    """A roster file (.csv or .toml); RosterError saying the file and where in it."""
    path = Path(path).expanduser()
    kind = path.suffix.lower().lstrip(".")
    try:
        if kind not in ("csv", "toml"):
            raise RosterError("a roster is a .csv or a .toml file")
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise RosterError(f"cannot read it ({exc.strerror or exc})") from None
        if len(raw) > 1 << 20:
            raise RosterError("larger than 1 MiB: not a roster")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise RosterError("not UTF-8 text") from None
        return parse_roster(text, kind)
    except RosterError as exc:
        raise RosterError(f"{path}: {exc}") from None
