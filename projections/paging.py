"""Keyset paging: a page of rows after an opaque cursor, never an offset."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from domain.errors import InvalidInput, InvalidReference
from domain.text import hidden_character

T = TypeVar("T")
MAX_PAGE_SIZE = 100
MAX_CURSOR_LENGTH = 512
MAX_SEARCH_LENGTH = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a longer list, with the cursor of each item."""

    items: Sequence[T]
    total_count: int
    has_next_page: bool
    has_previous_page: bool
    cursors: Sequence[str]


def encode_cursor(kind: str, *key: str) -> str:
    """An opaque cursor naming the list it belongs to and the item's sort key."""
    text = json.dumps([kind, *key], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str, parts: int = 1) -> list[str]:
    """The sort key in ``cursor``; refused when damaged or from another list.

    A well-formed cursor with a made-up key is not refused: it pages on from
    where that key would sort, which shows nothing the list would not.
    """
    value = None
    # Our cursors are short; a long one is not ours, and is not decoded at all.
    if len(cursor) <= MAX_CURSOR_LENGTH:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            value = json.loads(base64.urlsafe_b64decode(padded.encode()))
        except (ValueError, binascii.Error, UnicodeError, RecursionError):
            value = None
    if (
        not isinstance(value, list)
        or len(value) != parts + 1
        or value[0] != kind
        or not all(isinstance(part, str) for part in value[1:])
        # Ours never hold control characters, and PostgreSQL refuses a NUL.
        or any(hidden_character(part) for part in value[1:])
    ):
        raise InvalidReference(
            "The cursor is damaged or belongs to another list; use one this list "
            "returned.",
            field="after",
        )
    return value[1:]


def check_page_size(first: int, largest: int = MAX_PAGE_SIZE) -> int:
    """Pages hold 1 to ``largest`` items (100 unless configured otherwise)."""
    if not 1 <= first <= largest:
        raise InvalidInput(
            f"first must be from 1 to {largest}; got {first}.", field="first"
        )
    return first


def check_search(search: str) -> str:
    """A search text is at most 100 visible characters."""
    hidden = hidden_character(search)
    if hidden:
        raise InvalidInput(
            f"A search cannot hold the control or invisible character {hidden}.",
            field="search",
        )
    if len(search) > MAX_SEARCH_LENGTH:
        raise InvalidInput(
            f"A search has at most {MAX_SEARCH_LENGTH} characters; "
            f"this one has {len(search)}.",
            field="search",
        )
    return search


def like_pattern(search: str) -> str:
    """A lower-case LIKE pattern (escape ``!``) matching ``search`` anywhere.

    Wildcards in the search are taken literally; the caller compares it with
    lower-cased text, since PostgreSQL's LIKE is case-sensitive and SQLite's not.
    """
    escaped = search.lower().replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped}%"
