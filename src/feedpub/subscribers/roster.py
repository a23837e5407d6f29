"""The subscriber list as the operators keep it (``feedpub subscribers``
and ``subscribers.seed``): add, remove, bounce, import, export."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol

from feedpub.model import Subscriber, SubscriberStatus
from feedpub.subscribers.csvfile import check_address, read_roster, write_roster

log = logging.getLogger(__name__)


class SubscriberList(Protocol):
    """What the roster needs of the store (``store.SqlStore`` has it)."""

    def add_subscriber(
        self,
        email: str,
        now: datetime,
        *,
        name: str | None = None,
        digests: Sequence[str] = (),
        tags: Sequence[str] = (),
        status: SubscriberStatus = "pending",
    ) -> tuple[Subscriber, bool]: ...
    def get_subscriber(self, email: str) -> Subscriber | None: ...
    def set_subscriber_status(
        self, email: str, status: SubscriberStatus, now: datetime
    ) -> bool: ...
    def remove_subscriber(self, email: str) -> bool: ...
    def subscribers(self, status: SubscriberStatus | None = None) -> list[Subscriber]: ...
    def subscribers_for(self, digest: str) -> Iterator[Subscriber]: ...


@dataclass(frozen=True)
class ImportReport:
    added: int
    existing: int
    problems: tuple[str, ...]

    def summary(self) -> str:
        return (
            f"subscribers: {self.added} added, {self.existing} already stored, "
            f"{len(self.problems)} refused"
        )


class Roster:
    """The subscribers of one store, for the digests named ``digests``."""

    def __init__(self, store: SubscriberList, digests: Sequence[str]) -> None:
        self._store = store
        self._digests = tuple(digests)

    def add(
        self,
        address: str,
        now: datetime,
        *,
        name: str | None = None,
        digests: Sequence[str] = (),
        tags: Sequence[str] = (),
    ) -> tuple[Subscriber, bool]:
        """Add (or update) an active subscriber; ValueError for a bad address
        or an unknown digest."""
        problem = check_address(address)
        if problem:
            raise ValueError(f"{address}: {problem}")
        for digest in digests:
            if digest not in self._digests:
                raise ValueError(f"no digest named {digest!r} ({', '.join(self._digests)})")
        subscriber, new = self._store.add_subscriber(
            address, now, name=name, digests=digests, tags=tags, status="active"
        )
        if not new and subscriber.status != "active":
            self._store.set_subscriber_status(address, "active", now)
            subscriber = replace(subscriber, status="active")
        return subscriber, new

    def remove(self, address: str) -> bool:
        return self._store.remove_subscriber(address)

    def bounce(self, address: str, now: datetime) -> bool:
        """Mark the address bounced: it gets nothing more."""
        return self._store.set_subscriber_status(address, "bounced", now)

    def export(self) -> str:
        """Every subscriber as CSV."""
        return write_roster(
            (s.email, s.name, s.digests, s.tags, s.status) for s in self._store.subscribers()
        )

    def import_csv(self, path: Path, now: datetime) -> ImportReport:
        """Add the CSV's addresses not yet stored, as active subscribers;
        stored ones are left exactly as they are (an unsubscribe is never
        undone by an import). Raises OSError when the file cannot be read."""
        entries, problems = read_roster(path.read_text(encoding="utf-8"))
        added = existing = 0
        refused = list(problems)
        for entry in entries:
            unknown = [d for d in entry.digests if d not in self._digests]
            if unknown:
                refused.append(f"{entry.email}: unknown digest {unknown[0]!r}")
                continue
            if self._store.get_subscriber(entry.email) is not None:
                existing += 1
                continue
            self._store.add_subscriber(
                entry.email,
                now,
                name=entry.name,
                digests=entry.digests,
                tags=entry.tags,
                status="active",
            )
            added += 1
        return ImportReport(added, existing, tuple(refused))

    def seed(self, path: Path, now: datetime) -> ImportReport:
        """``subscribers.seed``: import the CSV, adding only absent addresses."""
        report = self.import_csv(path, now)
        for problem in report.problems:
            log.warning("subscribers.seed %s: %s", path, problem)
        return report
