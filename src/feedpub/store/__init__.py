"""The store: articles, rejects, digest editions, subscribers and deliveries
in one SQL database (SQLAlchemy 2 Core over SQLite or PostgreSQL).

The contract, for every method of every Protocol below:

- Datetimes go in timezone-aware (a naive one raises ``ValueError``) and
  come out UTC-aware; SQLite has no zones, so it stores naive UTC.
- Any database problem (unreachable, schema unusable, a statement failing, a
  value the driver cannot take) raises ``StoreError``, whose message names the
  store with its password hidden and the reason, never the statement or its
  data; the driver's error is its ``__cause__``.
- Writes that read first (upserts, rejects, subscribers, enqueueing) run
  one at a time against every other feedpub writer of the store, in any
  process; a method either commits its work or none of it (bulk upserts and
  enqueues: per batch).
- Lists are in a documented, stable order; nothing returned is mutable.

Only this package imports SQLAlchemy, and only when ``SqlStore`` (``sql``)
is first used: ``interface`` holds the error, lock types and schema version,
and ``probe`` reads a SQLite store's generation with the stdlib driver for a
build that turns out to be a no-op. ``SqlStore`` is composed of one part
per domain (``articles``, ``rejects``, ``source_files``, ``editions``,
``subscribers``, ``deliveries``, ``runs``, ``entries`` the feeds' printed-entry cache,
``journal`` the change journal, ``inbound`` the mail that comes back) over
``engine``, and ``locks`` the named cross-process locks; ``schema`` holds the tables, ``migrations``
upgrades an older store in place, ``decide`` holds the pure upsert rules.
"""

from __future__ import annotations

import importlib
from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from feedpub.model import (
    Article,
    Delivery,
    DeliveryStatus,
    Edition,
    FeedbackCounts,
    InboundEvent,
    InboundRecord,
    JobRun,
    Reject,
    SitemapPage,
    SourceFile,
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionKind,
    Tag,
    UpsertOutcome,
)
from feedpub.store.interface import SCHEMA_VERSION, LockHolder, StoreError, StoreLock

if TYPE_CHECKING:
    from feedpub.store.articles import BATCH_SIZE
    from feedpub.store.deliveries import Finished, Recipient, SenderRate
    from feedpub.store.engine import UtcDateTime
    from feedpub.store.source_files import FilesWritten, ReadFile, duplicate_reject
    from feedpub.store.sources import SourceBatch, SourceState
    from feedpub.store.sql import SqlStore

# Imported on first use (PEP 562): these need SQLAlchemy, which a command
# that never opens the store through it does not pay for (``interface``).
_LAZY = {
    "BATCH_SIZE": "feedpub.store.articles",
    "Finished": "feedpub.store.deliveries",
    "ReadFile": "feedpub.store.source_files",
    "Recipient": "feedpub.store.deliveries",
    "SourceBatch": "feedpub.store.sources",
    "SourceState": "feedpub.store.sources",
    "SenderRate": "feedpub.store.deliveries",
    "SqlStore": "feedpub.store.sql",
    "UtcDateTime": "feedpub.store.engine",
    "duplicate_reject": "feedpub.store.source_files",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "BATCH_SIZE",
    "SCHEMA_VERSION",
    "ArticleStore",
    "DeliveryStore",
    "EditionStore",
    "EntryStore",
    "InboundStore",
    "LockHolder",
    "MetaStore",
    "ReadFile",
    "Recipient",
    "RejectStore",
    "RunStore",
    "SenderRate",
    "SourceBatch",
    "SourceFileStore",
    "SourceState",
    "SourceStateStore",
    "SqlStore",
    "Store",
    "StoreError",
    "StoreLock",
    "SubscriberStore",
    "UtcDateTime",
    "duplicate_reject",
]


class ArticleStore(Protocol):
    """Articles and tags. Article lists are newest first (``published`` desc,
    then ``id`` desc); returned articles carry their tags as first stored
    (name and slug of the first spelling of the key), sorted by name, and
    ``first_url``, the URL they had when they first had one."""

    def upsert_article(self, article: Article, now: datetime) -> UpsertOutcome: ...
    def upsert_articles(
        self, articles: Iterable[Article], now: datetime
    ) -> dict[UpsertOutcome, int]: ...
    def get_article(self, article_id: str) -> Article | None: ...
    def article_count(self) -> int: ...
    def latest_articles(
        self, limit: int | None = None, tag_key: str | None = None, offset: int = 0
    ) -> list[Article]: ...
    def latest_per_tag(self, limit: int) -> dict[str, list[Article]]: ...
    def page_versions(
        self, ids: Sequence[str] | None = None
    ) -> list[tuple[str, str, datetime, tuple[str, ...]]]: ...
    def generation(self) -> int: ...
    def articles_between(
        self,
        after: datetime | None,
        until: datetime,
        tag_keys: Sequence[str] = (),
        limit: int | None = None,
    ) -> list[Article]: ...
    def articles_for_edition(
        self,
        until: datetime,
        seen_until: datetime,
        *,
        published_after: datetime,
        seen_after: datetime | None = None,
        tag_keys: Sequence[str] = (),
        limit: int | None = None,
    ) -> list[Article]: ...
    def articles_by_ids(self, ids: Sequence[str]) -> list[Article]: ...
    def tags(self) -> list[tuple[Tag, int]]: ...


class RejectStore(Protocol):
    """Rejected input; the same problem seen again only moves its time."""

    def add_reject(self, reject: Reject) -> bool: ...
    def replace_rejects(self, source: str, rejects: Sequence[Reject]) -> list[bool]: ...
    def rejects(self) -> list[Reject]: ...


class SourceFileStore(Protocol):
    """What ingest last read from each source file (``source_files``), and
    the batch write of read files: rejects, articles and rows in one
    transaction (``source_files``)."""

    def source_files(self) -> dict[str, SourceFile]: ...
    def article_hashes(self, ids: Iterable[str]) -> dict[str, str]: ...
    def reject_counts(self, sources: Iterable[str]) -> dict[str, int]: ...
    def article_sources(self, ids: Iterable[str]) -> dict[str, str]: ...
    def write_read_files(
        self,
        files: Sequence[ReadFile],
        now: datetime,
        *,
        unchanged: Sequence[SourceFile] = (),
        still_rejected: Sequence[str] = (),
        released: Collection[str] = (),
    ) -> FilesWritten: ...
    def finish_ingest(self, seen: Iterable[str]) -> None: ...


class SourceStateStore(Protocol):
    """Each source's cursor, moved only with the batch it covers, its last
    sync and error (``sources``), and withdrawn articles: deleted with their
    tags, journalled, and kept as a tombstone; one an editor withdrew stays
    out while its source still has it."""

    def source_cursor(self, source: str) -> str | None: ...
    def source_states(self) -> list[SourceState]: ...
    def source_article_ids(self, source: str) -> list[str]: ...
    def sitemap_pages(self, source: str) -> dict[str, SitemapPage]: ...
    def note_source(self, source: str, now: datetime, error: str | None) -> None: ...
    def write_batch(self, source: str, batch: SourceBatch, now: datetime) -> FilesWritten: ...
    def withdraw_articles(self, ids: Iterable[str], reason: str, now: datetime) -> list[str]: ...
    def withdrawn(self) -> list[tuple[str, str, str, datetime, bool]]: ...


class MetaStore(Protocol):
    """The store's instance key (Message-IDs carry it), made once, and the
    digests paused by their bounce or complaint rates (``meta``)."""

    def instance_key(self) -> str: ...
    def pause_digest(self, digest: str, reason: str, now: datetime) -> bool: ...
    def resume_digest(self, digest: str) -> bool: ...
    def digest_pauses(self) -> dict[str, tuple[str, datetime]]: ...
    def alerts_seen(self, digest: str) -> datetime | None: ...
    def set_alerts_seen(self, digest: str, until: datetime) -> None: ...
    def meta_value(self, key: str) -> str | None: ...
    def set_meta_value(self, key: str, value: str) -> None: ...


class EditionStore(Protocol):
    """Digest editions, unique per (digest, slot); lists latest slot first."""

    def add_edition(self, edition: Edition) -> bool: ...
    def add_edition_with_deliveries(
        self, edition: Edition, recipients: Iterable[Recipient], now: datetime
    ) -> int | None: ...
    def edition_id(self, digest: str, slot: datetime) -> int | None: ...
    def get_edition(self, digest: str, slot: datetime) -> Edition | None: ...
    def last_edition(self, digest: str) -> Edition | None: ...
    def editions(self, digest: str) -> list[Edition]: ...
    def editions_since(self, digest: str, created_after: datetime) -> list[Edition]: ...


class SubscriberStore(Protocol):
    """Subscribers, one per address ignoring case; lists oldest first."""

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
    def add_subscribers(
        self,
        entries: Sequence[tuple[str, str | None]],
        now: datetime,
        *,
        status: SubscriberStatus = "active",
    ) -> int: ...
    def add_subscriber_entries(
        self,
        entries: Sequence[tuple[str, str | None, Sequence[str], Sequence[str]]],
        now: datetime,
        *,
        status: SubscriberStatus = "active",
    ) -> int: ...
    def subscribers_by_ids(self, ids: Sequence[int]) -> dict[int, Subscriber]: ...
    def get_subscriber(self, email: str) -> Subscriber | None: ...
    def subscriber_by_token(self, token: str) -> Subscriber | None: ...
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
    def subscribers_for(self, digest: str, *, opt_in: bool = False) -> Iterator[Subscriber]: ...
    def subscriber_count(self, status: SubscriberStatus | None = None) -> int: ...
    # The suppression list (bounced, unsubscribed, removed), kept by address.
    def suppress(
        self, email: str, kind: SuppressionKind, reason: str, source: str, now: datetime
    ) -> bool: ...
    def lift_suppression(self, email: str, reason: str, now: datetime) -> bool: ...
    def suppression(self, email: str) -> Suppression | None: ...
    def suppressions(self) -> list[Suppression]: ...
    def suppressed_among(self, emails: Sequence[str]) -> set[str]: ...
    def subscribed_among(self, emails: Sequence[str]) -> set[str]: ...


class DeliveryStore(Protocol):
    """Exactly-once sending: one delivery per (edition, address). The
    ``mark_*`` and ``release`` methods act only on a claimed row and return
    False otherwise (a finished row is never changed again); with ``token``
    only on a row still held under that claim (fencing: see ``deliveries``)."""

    def enqueue_deliveries(
        self, edition_id: int, recipients: Iterable[Recipient], now: datetime
    ) -> int: ...
    def claim_deliveries(
        self,
        edition_id: int,
        worker: str,
        limit: int,
        now: datetime,
        stale_after: timedelta,
        *,
        token: str | None = None,
    ) -> list[Delivery]: ...
    def renew_claim(self, token: str, now: datetime) -> int: ...
    def claim_standing(self, delivery_id: int, token: str) -> tuple[bool, Subscriber | None]: ...
    def mark_sent(
        self,
        delivery_id: int,
        message_id: str,
        now: datetime,
        *,
        worker: str | None = None,
        token: str | None = None,
    ) -> bool: ...
    def mark_failed(
        self,
        delivery_id: int,
        reason: str,
        now: datetime,
        *,
        worker: str | None = None,
        token: str | None = None,
    ) -> bool: ...
    def mark_skipped(
        self,
        delivery_id: int,
        reason: str,
        now: datetime,
        *,
        worker: str | None = None,
        token: str | None = None,
    ) -> bool: ...
    def release(
        self,
        delivery_id: int,
        reason: str,
        now: datetime,
        *,
        worker: str | None = None,
        token: str | None = None,
    ) -> bool: ...
    def finish_deliveries(
        self,
        outcomes: Sequence[Finished],
        now: datetime,
        *,
        worker: str,
        token: str | None = None,
    ) -> set[int]: ...
    def delivery_counts(self, edition_id: int) -> dict[DeliveryStatus, int]: ...
    def delivery_failures(self, edition_id: int) -> list[Delivery]: ...
    def deliveries(self, edition_id: int) -> list[Delivery]: ...
    def sent_by_worker(self, edition_id: int, since: datetime) -> list[SenderRate]: ...
    def unfinished_editions(self, digest: str, recent: int = 2) -> list[tuple[int, datetime]]: ...


class RunStore(Protocol):
    """Finished job runs (``feedpub status``); lists latest first, the last
    run of each job by job name."""

    def add_run(self, run: JobRun, keep: timedelta | None = None) -> int: ...
    def last_runs(self) -> list[JobRun]: ...
    def runs(self, job: str | None = None, limit: int | None = None) -> list[JobRun]: ...


class EntryStore(Protocol):
    """Printed feed entries kept between builds, by slot (a cache: see
    ``entries``; the feeds' ``EntryCache``), and the change journal (which
    tags' feeds changed since a generation: see ``journal``)."""

    def cached_entries(self, slots: Sequence[str]) -> dict[str, tuple[str, bytes]]: ...
    def keep_entries(self, entries: Sequence[tuple[str, str, bytes]]) -> None: ...
    def changed_tags(self, since: int) -> frozenset[str] | None: ...
    def changed_articles(self, since: int) -> frozenset[str] | None: ...
    def tag_counts(self, keys: Sequence[str]) -> list[tuple[Tag, int]]: ...


class InboundStore(Protocol):
    """The mail that comes back (``inbound``): each message read, by the
    hash of its bytes, with its events and effects (``record_inbound``
    stores a batch in one transaction, skipping keys already there);
    ``finish_inbound`` marks recorded ones done once their effects are
    applied. Lists of kept messages are oldest first; lookups return dicts
    keyed as asked (addresses lower-cased)."""

    def inbound_records(self, keys: Sequence[str]) -> dict[str, InboundRecord]: ...
    def record_inbound(
        self, entries: Sequence[tuple[InboundRecord, Sequence[InboundEvent]]], now: datetime
    ) -> list[str]: ...
    def finish_inbound(self, keys: Sequence[str], now: datetime) -> int: ...
    def relocate_inbound(self, key: str, location: str, now: datetime) -> None: ...
    def kept_inbound(self, mailbox: str | None = None) -> list[InboundRecord]: ...
    def soft_bounce_counts(self, addresses: Sequence[str], since: datetime) -> dict[str, int]: ...
    def deliveries_by_ids(self, ids: Sequence[int]) -> dict[int, Delivery]: ...
    def deliveries_by_message_ids(self, message_ids: Sequence[str]) -> dict[str, Delivery]: ...
    def feedback_counts(self, edition_id: int) -> FeedbackCounts: ...


class Store(
    ArticleStore,
    RejectStore,
    SourceFileStore,
    SourceStateStore,
    MetaStore,
    EditionStore,
    SubscriberStore,
    DeliveryStore,
    RunStore,
    EntryStore,
    InboundStore,
    Protocol,
):
    """The whole store, as ``SqlStore`` implements it."""

    def lock(self, name: str, *, timeout: float = 10.0) -> StoreLock: ...
    def close(self) -> None: ...
