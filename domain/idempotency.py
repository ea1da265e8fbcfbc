"""Idempotency keys: the same request sent twice is carried out once.

A key is claimed in the same atomic save as the events of the command it guards,
so a command is either done and its key taken, or neither: a retry after a lost
response finds the key and gets the first outcome back, with nothing appended.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.errors import InvalidInput
from domain.events import Aggregate, Event

_NAMESPACE = uuid5(NAMESPACE_URL, "qualify:idempotency-key")
MAX_KEY_LENGTH = 200


def check_key(raw: str) -> str:
    """A key is 1 to 200 printable ASCII characters, spaces at either end trimmed."""
    key = raw.strip()
    if (
        not key
        or len(key) > MAX_KEY_LENGTH
        or not key.isascii()
        or not key.isprintable()
    ):
        raise InvalidInput(
            f"An Idempotency-Key is 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
            field="Idempotency-Key",
        )
    return key


def key_id(username: str, key: str) -> UUID:
    """Keys belong to the user who sent them: two users never share one."""
    return uuid5(_NAMESPACE, f"{username}\n{key}")


def fingerprint(command: object) -> str:
    """What a command asked for, so a key reused for another request is caught."""
    return hashlib.sha256(repr(command).encode()).hexdigest()


class IdempotencyKey(Aggregate):
    """A key, the request it guarded, and what that request produced."""

    TOPIC = "qualify:IdempotencyKey"

    def __init__(self, id: UUID, created_on: datetime, event: CommandAccepted) -> None:
        super().__init__(id, created_on)
        self.command = event.command
        self.fingerprint = event.fingerprint
        self.value = event.value


class CommandAccepted(Event):
    TOPIC = "qualify:CommandAccepted"
    command: str
    fingerprint: str
    value: str | None

    def create(self) -> IdempotencyKey:
        return IdempotencyKey(self.originator_id, self.timestamp, self)

    def apply(self, aggregate: IdempotencyKey) -> None:
        pass
