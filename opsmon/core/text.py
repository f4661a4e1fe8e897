"""Text from the wire is hostile until proven otherwise: one definition of it.

The server refuses control characters at the protocol edge
(`forbidden_characters`), and every client renders wire text through
`for_terminal` as a second wall, so an old stored event, another server or
a bug elsewhere still cannot write escape sequences to an officer's
terminal.

No I/O and no textual here: shared by the server and every client.
"""

from __future__ import annotations

import unicodedata

# Bidi embeddings/overrides (U+202A-U+202E) and isolates (U+2066-U+2069)
# can make a title read backwards on screen.
BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))

# What a multi-line text (an incident's detail, a note) may hold besides
# printable characters.
MULTILINE_ALLOWED = frozenset("\n\t")

PLACEHOLDER = "\N{REPLACEMENT CHARACTER}"


def is_control(char: str) -> bool:
    """C0 and C1 controls, DEL, and the bidi controls."""
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F or char in BIDI_CONTROLS


def forbidden_characters(text: str, *, multiline: bool = False) -> list[str]:
    """The distinct forbidden characters in `text`, in order of first use.

    One-line fields (titles, locations, names) allow none; `multiline`
    fields allow newline and tab.
    """
    found: list[str] = []
    for char in text:
        if is_control(char) and not (multiline and char in MULTILINE_ALLOWED) and char not in found:
            found.append(char)
    return found


def describe(char: str) -> str:
    """`U+001B` style name of a character, for error messages."""
    return f"U+{ord(char):04X}"


def for_terminal(text: str, *, multiline: bool = False) -> str:
    """`text` safe to draw: every control character becomes a visible placeholder.

    With `multiline`, newlines are kept (a tab becomes spaces); otherwise they
    are replaced too, so one field never spills into the next row.
    """
    if not any(is_control(char) or unicodedata.category(char) == "Cs" for char in text):
        return text
    out: list[str] = []
    for char in text:
        if multiline and char == "\n":
            out.append(char)
        elif multiline and char == "\t":
            out.append("    ")
        elif is_control(char) or unicodedata.category(char) == "Cs":
            out.append(PLACEHOLDER)
        else:
            out.append(char)
    return "".join(out)
