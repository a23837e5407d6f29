"""The subscriber list as the operators keep it (``feedpub subscribers``
and ``subscribers.seed``): add, remove, unsubscribe, bounce, import, export.

Consent is never overridden: an address on the suppression list (it
bounced hard, its reader unsubscribed or complained, an operator removed
it) is not added by an import or the seed file, and ``add`` refuses it
unless given a reason to subscribe it again. The seed file is applied only
when it changed since it was last applied (its fingerprint is kept in the
store), so its refused rows are reported once, not on every run.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol

from feedpub.model import Subscriber, SubscriberStatus, Suppression, SuppressionKind
from feedpub.subscribers.csvfile import RefusedRow, check_address, read_roster, write_roster

log = logging.getLogger(__name__)

# Refused rows of a changed seed file named in the log; the rest are counted.
SEED_PROBLEMS_SHOWN = 5


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
    def add_subscriber_entries(
        self,
        entries: Sequence[tuple[str, str | None, Sequence[str], Sequence[str]]],
        now: datetime,
        *,
        status: SubscriberStatus = "active",
    ) -> int: ...
    def get_subscriber(self, email: str) -> Subscriber | None: ...
    def set_subscriber_status(
        self,
        email: str,
        status: SubscriberStatus,
        now: datetime,
        *,
        reason: str = "",
        source: str = "",
    ) -> bool: ...
    def remove_subscriber(
        self, email: str, now: datetime, *, reason: str = "", source: str = ""
    ) -> bool: ...
    def subscribers(self, status: SubscriberStatus | None = None) -> list[Subscriber]: ...
    def subscribers_for(self, digest: str) -> Iterator[Subscriber]: ...
    def suppress(
        self, email: str, kind: SuppressionKind, reason: str, source: str, now: datetime
    ) -> bool: ...
    def lift_suppression(self, email: str, reason: str, now: datetime) -> bool: ...
    def suppression(self, email: str) -> Suppression | None: ...
    def suppressions(self) -> list[Suppression]: ...
    def suppressed_among(self, emails: Sequence[str]) -> set[str]: ...
    def subscribed_among(self, emails: Sequence[str]) -> set[str]: ...
    def meta_value(self, key: str) -> str | None: ...
    def set_meta_value(self, key: str, value: str) -> None: ...


class ConsentRefused(Exception):
    """``add`` of an address that bounced or unsubscribed, without a reason
    to subscribe it again. The message is one line saying why."""


@dataclass(frozen=True)
class AddOutcome:
    subscriber: Subscriber
    new: bool
    # The suppression ``add`` lifted (an operator's removal, or one lifted
    # with --resubscribe), None when the address was not suppressed.
    lifted: Suppression | None = None


@dataclass(frozen=True)
class ImportReport:
    path: Path
    added: int
    existing: int
    problems: tuple[RefusedRow, ...]
    suppressed: tuple[RefusedRow, ...] = ()

    def summary(self) -> str:
        return (
            f"subscribers: {self.added} added, {self.existing} already stored, "
            f"{len(self.suppressed)} suppressed, {len(self.problems)} refused"
        )

    def lines(self, rows: Sequence[RefusedRow]) -> list[str]:
        """``FILE: line N: 'value': reason``, one per row."""
        return [f"{self.path}: {row}" for row in rows]


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
        digests: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        resubscribe_reason: str | None = None,
    ) -> AddOutcome:
        """Add (or update) an active subscriber; what is not given (None)
        keeps its stored value. ValueError for a bad address or an unknown
        digest; ConsentRefused for an address that bounced or unsubscribed,
        unless ``resubscribe_reason`` says why it may be mailed again."""
        problem = check_address(address)
        if problem:
            raise ValueError(f"{address}: {problem}")
        for digest in digests or ():
            if digest not in self._digests:
                raise ValueError(f"no digest named {digest!r} ({', '.join(self._digests)})")
        current = self._store.get_subscriber(address)
        barred = self._barred(address, current)
        if barred is not None and barred.kind != "removed" and not resubscribe_reason:
            raise ConsentRefused(
                f"{address}: not subscribed: {barred.describe()}; "
                "to subscribe it again give --resubscribe --reason TEXT"
            )
        why = (
            f"subscribed again by an operator: {resubscribe_reason}"
            if resubscribe_reason
            else "added again by an operator"
        )
        kept = current or Subscriber(0, address, "active", now, now, "")
        subscriber, new = self._store.add_subscriber(
            address,
            now,
            name=kept.name if name is None else name,
            digests=kept.digests if digests is None else digests,
            tags=kept.tags if tags is None else tags,
            status="active",
        )
        if subscriber.status != "active":
            self._store.set_subscriber_status(address, "active", now, reason=why, source="operator")
            subscriber = replace(subscriber, status="active")
        if barred is not None:
            self._store.lift_suppression(address, why, now)
        return AddOutcome(subscriber, new, barred)

    def remove(self, address: str, now: datetime) -> bool:
        """Forget the subscriber; the address is remembered as removed, so
        the seed file or an import does not bring it back."""
        return self._store.remove_subscriber(address, now, source="operator")

    def unsubscribe(self, address: str, now: datetime, reason: str = "") -> Suppression | None:
        """End the address's subscription for good (kept, unlike ``remove``);
        an address that is no subscriber is put on the suppression list all
        the same. Returns the suppression that was already in force, or None
        when this call made it. ValueError for a bad address."""
        problem = check_address(address)
        if problem:
            raise ValueError(f"{address}: {problem}")
        found = self._barred(address, self._store.get_subscriber(address))
        if found is not None and found.kind != "removed":
            return found
        why = f"unsubscribed by an operator: {reason}" if reason else "unsubscribed by an operator"
        if not self._store.set_subscriber_status(
            address, "unsubscribed", now, reason=why, source="operator"
        ):
            self._store.suppress(address, "unsubscribed", why, "operator", now)
        return None

    def bounce(self, address: str, now: datetime) -> bool:
        """Mark the address bounced: it gets nothing more."""
        return self._store.set_subscriber_status(
            address, "bounced", now, reason="marked bounced by an operator", source="operator"
        )

    def suppressions(self) -> list[Suppression]:
        return self._store.suppressions()

    def export(self) -> str:
        """Every subscriber as CSV."""
        return write_roster(
            (s.email, s.name, s.digests, s.tags, s.status) for s in self._store.subscribers()
        )

    def import_csv(self, path: Path, now: datetime) -> ImportReport:
        """Add the CSV's addresses not yet stored and not suppressed, as
        active subscribers; stored ones are left exactly as they are (an
        unsubscribe is never undone by an import). Raises OSError when the
        file cannot be read, UnicodeDecodeError when it is not UTF-8."""
        # Bytes, not read_text: its newline translation would turn a CR quoted
        # inside a cell into a line feed.
        return self._import(path, path.read_bytes().decode("utf-8"), now)

    def seed(self, path: Path, now: datetime) -> ImportReport | None:
        """``subscribers.seed``: import the CSV when it changed since it was
        last applied (None when it did not), warning once about its refused
        rows: how many, and the first few."""
        key = "seed:" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:40]
        stat = path.stat()
        seen = json.loads(self._store.meta_value(key) or "{}")
        now_stat = [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]
        if seen.get("stat") == now_stat and seen.get("digests") == list(self._digests):
            return None
        data = path.read_bytes()
        fingerprint = {
            "stat": now_stat,
            "sha256": hashlib.sha256(data).hexdigest(),
            "digests": list(self._digests),
        }
        if {k: seen.get(k) for k in ("sha256", "digests")} == {
            k: fingerprint[k] for k in ("sha256", "digests")
        }:  # touched, not changed
            self._store.set_meta_value(key, json.dumps(fingerprint))
            return None
        report = self._import(path, data.decode("utf-8"), now)
        self._warn(report)
        # Only after the import finished: a failed one is tried again next run.
        self._store.set_meta_value(key, json.dumps(fingerprint))
        return report

    def _import(self, path: Path, text: str, now: datetime) -> ImportReport:
        entries, refused = read_roster(text)
        problems = list(refused)
        addresses = [e.email for e in entries]
        suppressed = self._store.suppressed_among(addresses)
        stored = self._store.subscribed_among(addresses)
        existing = 0
        kept_out: list[RefusedRow] = []
        new: list[tuple[str, str | None, Sequence[str], Sequence[str]]] = []
        for entry in entries:
            unknown = [d for d in entry.digests if d not in self._digests]
            key = entry.email.lower()
            if unknown:
                known = ", ".join(self._digests)
                reason = f"unknown digest {unknown[0]!r} (known: {known})"
                problems.append(RefusedRow(entry.line, entry.email, reason))
            elif key in stored:
                existing += 1
            elif key in suppressed:
                found = self._store.suppression(entry.email)
                why = found.describe() if found is not None else "suppressed"
                kept_out.append(RefusedRow(entry.line, entry.email, f"not added: {why}"))
            else:
                new.append((entry.email, entry.name, entry.digests, entry.tags))
        added = self._store.add_subscriber_entries(new, now, status="active")
        problems.sort(key=lambda row: row.line)
        return ImportReport(path, added, existing, tuple(problems), tuple(kept_out))

    def _barred(self, address: str, current: Subscriber | None) -> Suppression | None:
        """Why the address must not be mailed, or None."""
        found = self._store.suppression(address)
        if found is not None and found.active:
            return found
        if current is not None and current.status in ("bounced", "unsubscribed"):
            # Set without the store's suppression (a bulk load): the status says it.
            kind: SuppressionKind = "bounced" if current.status == "bounced" else "unsubscribed"
            return Suppression(current.email, kind, f"marked {kind}", "", current.updated)
        return None

    @staticmethod
    def _warn(report: ImportReport) -> None:
        where = f"subscribers.seed {report.path}"
        if report.problems:
            shown = report.problems[:SEED_PROBLEMS_SHOWN]
            log.warning(
                "%s: %d rows refused (the first %d follow); the file is read again when it changes",
                where,
                len(report.problems),
                len(shown),
            )
            for line in report.lines(shown):
                log.warning("subscribers.seed %s", line)
        if report.suppressed:
            log.info(
                "%s: %d addresses not added: bounced, unsubscribed or removed",
                where,
                len(report.suppressed),
            )
