"""Text from the wire is hostile until proven otherwise: one definition of it.

The server refuses control characters at the protocol edge
(`forbidden_characters`), and every client renders wire text through
`for_terminal` as a second wall, so an old stored event, another server or
a bug elsewhere still cannot write escape sequences to an officer's
terminal.

No I/O and no textual here: shared by the server and every client.
"""

from __future__ import annotations

import re
import unicodedata

# Bidi embeddings/overrides (U+202A-U+202E) and isolates (U+2066-U+2069)
# can make a title read backwards on screen; the invisible direction marks
# (U+061C ARABIC LETTER MARK, U+200E/U+200F LEFT-TO-RIGHT/RIGHT-TO-LEFT MARK)
# reorder what follows them too. Refused in every field, drawn as a placeholder.
BIDI_CONTROLS = frozenset(chr(c) for c in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)))

# U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR break a line in
# WhatsApp, browsers and many editors: in a one-line field they fake extra
# lines (a second "incident" under a title). Refused in one-line fields.
LINE_SEPARATORS = frozenset("\u2028\u2029")

# Characters that draw nothing: U+200B ZERO WIDTH SPACE, U+2060 WORD JOINER,
# U+FEFF ZERO WIDTH NO-BREAK SPACE (a stray byte-order mark), U+180E
# MONGOLIAN VOWEL SEPARATOR. In a one-line field they make two titles,
# locations or names that look the same differ (a repeat report not seen as
# one, an officer's name faked): refused there, not silently stripped, so
# what is stored is what was sent. Multi-line text may hold them (pasted
# prose). U+200C/U+200D (zero width non-joiner/joiner) are allowed: emoji
# sequences and several scripts need them.
INVISIBLE = frozenset("\u200b\u2060\ufeff\u180e")

# What a one-line field refuses besides the controls.
ONE_LINE_FORBIDDEN = LINE_SEPARATORS | INVISIBLE

# What a multi-line text (an incident's detail, a note) may hold besides
# printable characters.
MULTILINE_ALLOWED = frozenset("\n\t")

PLACEHOLDER = "\N{REPLACEMENT CHARACTER}"


def is_control(char: str) -> bool:
    """C0 and C1 controls, DEL, and the bidi controls."""
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F or char in BIDI_CONTROLS


def _character_class(chars: frozenset[str] | set[str]) -> re.Pattern[str]:
    return re.compile("[" + "".join(re.escape(c) for c in sorted(chars)) + "]")


# is_control's characters, as sets: C0 and C1 controls, DEL, the bidi controls.
_CONTROLS = {chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))} | BIDI_CONTROLS
_ONE_LINE_FORBIDDEN = _character_class(_CONTROLS | ONE_LINE_FORBIDDEN)
_MULTILINE_FORBIDDEN = _character_class(_CONTROLS - MULTILINE_ALLOWED)


def forbidden_characters(text: str, *, multiline: bool = False) -> list[str]:
    """The distinct forbidden characters in `text`, in order of first use.

    One-line fields (titles, locations, names) allow no control character,
    no line or paragraph separator and no invisible character; `multiline`
    fields allow newline and tab (and line separators and invisible
    characters, which are prose there).
    """
    # One regular expression scan (C speed): every frame's every string passes here
    # before it is decided, a 4,000-character note included.
    return list(dict.fromkeys((_MULTILINE_FORBIDDEN if multiline else _ONE_LINE_FORBIDDEN).findall(text)))


def describe(char: str) -> str:
    """`U+001B` style name of a character, for error messages."""
    return f"U+{ord(char):04X}"


def describe_named(char: str) -> str:
    """`U+2028 LINE SEPARATOR`: the code and, where Unicode has one, the name."""
    name = unicodedata.name(char, "")
    return f"{describe(char)} {name}" if name else describe(char)


def for_terminal(text: str, *, multiline: bool = False) -> str:
    """`text` safe to draw: every control character becomes a visible placeholder.

    With `multiline`, newlines are kept (a tab becomes spaces, a line or
    paragraph separator a newline); otherwise they and the separators are
    replaced too, so one field never spills into the next row.
    """
    if not any(is_control(char) or char in LINE_SEPARATORS or unicodedata.category(char) == "Cs" for char in text):
        return text
    out: list[str] = []
    for char in text:
        if multiline and char in ("\n", *LINE_SEPARATORS):
            out.append("\n")
        elif multiline and char == "\t":
            out.append("    ")
        elif is_control(char) or char in LINE_SEPARATORS or unicodedata.category(char) == "Cs":
            out.append(PLACEHOLDER)
        else:
            out.append(char)
    return "".join(out)
