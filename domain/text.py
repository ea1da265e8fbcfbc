"""What free text may hold: anything a person can see, and nothing that hides."""

from __future__ import annotations

import unicodedata

# Control, format (zero-width, direction overrides), lone surrogates, and the
# line and paragraph separators that split a one-line field in two.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def hidden_character(text: str, allowed: str = "") -> str | None:
    """The first invisible or control character in ``text`` (as U+XXXX), if any."""
    # Every hidden category is one that ``isprintable`` refuses, so text it
    # accepts (nearly every cell of an import) needs no look at each character.
    if text.isprintable():
        return None
    for char in text:
        if unicodedata.category(char) in _HIDDEN and char not in allowed:
            return f"U+{ord(char):04X}"
    return None


MAX_QUOTED = 60


def quoted(value: str) -> str:
    """``value`` as a message quotes it: in quotes, cut short when it is long."""
    if len(value) <= MAX_QUOTED:
        return repr(value)
    return f"{value[:MAX_QUOTED]!r}... ({len(value)} characters)"
