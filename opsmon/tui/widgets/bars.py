"""Small text helpers shared by the widgets."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text


def bar(done: int, total: int, width: int, *, rest: Style | str = "") -> Text:
    """A progress bar in blocks: readable without colour. `rest` styles the part still to do."""
    width = max(1, width)
    filled = 0 if total <= 0 else round(width * min(done, total) / total)
    if total > 0 and done > 0 and filled == 0:
        filled = 1  # something happened: show it
    if total > 0 and done < total and filled == width:
        filled = width - 1  # not finished: never a full bar
    text = Text()
    text.append("█" * filled)
    text.append("░" * (width - filled), rest)
    return text


def fit(left: Text, right: Text, width: int) -> Text:
    """`left` then `right` flush right, cutting `left` if the line is too short."""
    room = width - right.cell_len - (1 if right.cell_len else 0)
    if room < 4:
        right.truncate(max(0, width - 5), overflow="ellipsis")
        room = width - right.cell_len - (1 if right.cell_len else 0)
    if left.cell_len > room:
        left.truncate(max(1, room), overflow="ellipsis")
    gap = max(1 if right.cell_len else 0, width - left.cell_len - right.cell_len)
    line = Text()
    line.append_text(left)
    line.append(" " * gap)
    line.append_text(right)
    return line


def cut(text: str, width: int) -> str:
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


# Ranks and honorifics that many names share (Polri, TNI, civil titles): at a tight width
# they go before anything that tells one person from another ("Polri/Bripka ..." is every Bripka).
SHARED_WORDS = frozenset(
    word.casefold()
    for word in [
        "Bripda",
        "Briptu",
        "Brigpol",
        "Brigadir",
        "Bripka",
        "Aipda",
        "Aiptu",
        "Ipda",
        "Iptu",
        "AKP",
        "Kompol",
        "AKBP",
        "Kombes",
        "Brigjen",
        "Irjen",
        "Serda",
        "Sertu",
        "Serka",
        "Serma",
        "Pelda",
        "Peltu",
        "Letda",
        "Lettu",
        "Kapten",
        "Mayor",
        "Letkol",
        "Kolonel",
        "H.",
        "Hj.",
        "Dr.",
        "Drs.",
        "Dra.",
        "Ir.",
        "Prof.",
        "KH.",
        "Ust.",
        "Pak",
        "Bu",
        "Bapak",
        "Ibu",
    ]
)


def cut_name(text: str, width: int) -> str:
    """A person ("Polri/Bripka Ahmad Fauzi Rahman") in `width` cells, keeping what tells
    them apart: shared ranks and titles go first, then middle names ("Ahmad…Rahman"),
    then first names to initials ("A.F.Rahman"); the agency goes only when nothing else
    fits; never cut at the end into "Polri/Br…"."""
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    agency, slash, name = text.rpartition("/")
    words = name.split()
    kept = [w for w in words if w.casefold() not in SHARED_WORDS] or words
    forms = [" ".join(kept)]
    if len(kept) > 2:
        forms.append(f"{kept[0]}…{kept[-1]}")
    if len(kept) > 1:
        forms.append("".join(w[0] + "." for w in kept[:-1]) + kept[-1])
    for prefix in (agency + slash, ""):
        for form in forms:
            if len(prefix) + len(form) <= width:
                return prefix + form
    name = forms[-1]
    if width < 3:
        return cut(name, width)
    head = width // 2
    tail = width - 1 - head
    return name[:head] + "…" + (name[-tail:] if tail else "")
