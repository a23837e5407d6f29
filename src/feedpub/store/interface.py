"""What the store's callers hold without importing SQLAlchemy: its error,
its lock types and the schema version this code writes.

Kept apart so that a command which may not need the store's SQL at all
(``feedpub build`` with nothing changed: ``store.probe``) and the front
ends' error handling do not import SQLAlchemy just to name them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

# The version of the schema this code creates and reads (``migrations``
# upgrades an older store to it).
SCHEMA_VERSION = 17


class StoreError(Exception):
    """The store cannot be reached, its schema is unusable, or a database
    operation failed. The message names the URL with the password hidden and
    the reason; the SQLAlchemy error, if any, is the ``__cause__``."""


@dataclass(frozen=True)
class LockHolder:
    """Who holds a lock: written by the holder, read by whoever is refused."""

    host: str
    pid: int
    since: datetime

    def describe(self) -> str:
        return f"{self.host} pid {self.pid} since {self.since.astimezone(UTC):%Y-%m-%d %H:%M:%SZ}"


class StoreLock(Protocol):
    """One named lock; not shared between threads."""

    def acquire(self, holder: LockHolder, *, wait: float = 0.0) -> bool:
        """Take the lock, waiting up to ``wait`` seconds; False when another
        process holds it still. True at once when this object holds it."""
        ...

    def holder(self) -> LockHolder | None:
        """Who holds the lock now, as far as can be told; None when free."""
        ...

    def healthy(self) -> bool:
        """Whether this object still holds the lock (PostgreSQL: its
        connection answers and the server still grants it). A lock found
        lost is released, so ``acquire`` may be tried again."""
        ...

    def release(self) -> None:
        """Give the lock up; safe when not held."""
        ...

    def close(self) -> None:
        """Release, and free whatever the lock opened (its connection)."""
        ...
