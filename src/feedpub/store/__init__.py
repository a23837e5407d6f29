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

Only this package imports SQLAlchemy. ``SqlStore`` is composed of one part
per domain (``articles``, ``rejects``, ``source_files``, ``editions``,
``subscribers``, ``deliveries``, ``runs``, ``entries`` the feeds' printed-entry cache,
``journal`` the change journal) over ``engine``, and ``locks`` the named
cross-process locks; ``schema`` holds the tables, ``migrations``
upgrades an older store in place, ``decide`` holds the pure upsert rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Protocol

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from feedpub.model import (
    Article,
    Delivery,
    DeliveryStatus,
    Edition,
    JobRun,
    Reject,
    SourceFile,
    Subscriber,
    SubscriberStatus,
    Tag,
    UpsertOutcome,
)
from feedpub.store.articles import BATCH_SIZE, ArticlesMixin
from feedpub.store.deliveries import DeliveriesMixin, Finished, Recipient
from feedpub.store.editions import EditionsMixin
from feedpub.store.engine import StoreError, UtcDateTime, mask_password, open_engine
from feedpub.store.entries import EntriesMixin
from feedpub.store.journal import JournalMixin
from feedpub.store.locks import LockHolder, StoreLock, lock_for
from feedpub.store.migrations import ensure_schema
from feedpub.store.rejects import RejectsMixin
from feedpub.store.runs import RunsMixin
from feedpub.store.schema import SCHEMA_VERSION
from feedpub.store.source_files import ReadFile, SourceFilesMixin
from feedpub.store.subscribers import SubscribersMixin

__all__ = [
    "BATCH_SIZE",
    "SCHEMA_VERSION",
    "ArticleStore",
    "DeliveryStore",
    "EditionStore",
    "EntryStore",
    "LockHolder",
    "ReadFile",
    "Recipient",
    "RejectStore",
    "RunStore",
    "SourceFileStore",
    "SqlStore",
    "Store",
    "StoreError",
    "StoreLock",
    "SubscriberStore",
    "UtcDateTime",
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
    def write_read_files(
        self,
        files: Sequence[ReadFile],
        now: datetime,
        *,
        unchanged: Sequence[SourceFile] = (),
        still_rejected: Sequence[str] = (),
    ) -> tuple[dict[UpsertOutcome, int], list[list[bool]], list[Reject]]: ...
    def finish_ingest(self, seen: Iterable[str]) -> None: ...


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
    def subscribers_by_ids(self, ids: Sequence[int]) -> dict[int, Subscriber]: ...
    def get_subscriber(self, email: str) -> Subscriber | None: ...
    def subscriber_by_token(self, token: str) -> Subscriber | None: ...
    def set_subscriber_status(
        self, email: str, status: SubscriberStatus, now: datetime
    ) -> bool: ...
    def remove_subscriber(self, email: str) -> bool: ...
    def subscribers(self, status: SubscriberStatus | None = None) -> list[Subscriber]: ...
    def subscribers_for(self, digest: str) -> Iterator[Subscriber]: ...
    def subscriber_count(self, status: SubscriberStatus | None = None) -> int: ...


class DeliveryStore(Protocol):
    """Exactly-once sending: one delivery per (edition, address). The
    ``mark_*`` and ``release`` methods act only on a claimed row and return
    False otherwise (a finished row is never changed again)."""

    def enqueue_deliveries(
        self, edition_id: int, recipients: Iterable[Recipient], now: datetime
    ) -> int: ...
    def claim_deliveries(
        self, edition_id: int, worker: str, limit: int, now: datetime, stale_after: timedelta
    ) -> list[Delivery]: ...
    def mark_sent(
        self, delivery_id: int, message_id: str, now: datetime, *, worker: str | None = None
    ) -> bool: ...
    def mark_failed(
        self, delivery_id: int, reason: str, now: datetime, *, worker: str | None = None
    ) -> bool: ...
    def mark_skipped(
        self, delivery_id: int, reason: str, now: datetime, *, worker: str | None = None
    ) -> bool: ...
    def release(
        self, delivery_id: int, reason: str, now: datetime, *, worker: str | None = None
    ) -> bool: ...
    def finish_deliveries(
        self, outcomes: Sequence[Finished], now: datetime, *, worker: str
    ) -> set[int]: ...
    def delivery_counts(self, edition_id: int) -> dict[DeliveryStatus, int]: ...
    def delivery_failures(self, edition_id: int) -> list[Delivery]: ...
    def deliveries(self, edition_id: int) -> list[Delivery]: ...


class RunStore(Protocol):
    """Finished job runs (``feedpub status``); lists latest first, the last
    run of each job by job name."""

    def add_run(self, run: JobRun) -> int: ...
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


class Store(
    ArticleStore,
    RejectStore,
    SourceFileStore,
    EditionStore,
    SubscriberStore,
    DeliveryStore,
    RunStore,
    EntryStore,
    Protocol,
):
    """The whole store, as ``SqlStore`` implements it."""

    def lock(self, name: str, *, timeout: float = 10.0) -> StoreLock: ...
    def close(self) -> None: ...


class SqlStore(
    SourceFilesMixin,
    ArticlesMixin,
    RejectsMixin,
    EditionsMixin,
    SubscribersMixin,
    DeliveriesMixin,
    RunsMixin,
    EntriesMixin,
    JournalMixin,
):
    """The ``Store`` over one SQL database. Open with ``SqlStore.open(url)``;
    close with ``close()`` or use it as a context manager. Safe to share
    between threads (one pooled engine)."""

    BATCH_SIZE = BATCH_SIZE
    SCHEMA_VERSION = SCHEMA_VERSION

    @classmethod
    def open(cls, url: str) -> SqlStore:
        """Connect, then create the schema of an empty store or migrate an
        older one in place. Raises ``StoreError`` when the URL is malformed,
        the database is unreachable, or its schema is newer than this code."""
        try:
            parsed = make_url(url)
        except SQLAlchemyError as exc:
            raise StoreError(f"store {mask_password(url)}: bad URL: {exc}") from exc
        where = parsed.render_as_string(hide_password=True)
        try:
            engine = open_engine(parsed)
        except (SQLAlchemyError, ImportError, OSError) as exc:
            raise StoreError(f"store {where}: cannot open: {exc}") from exc
        store = cls(engine)
        try:
            with store._guard("cannot open"):
                ensure_schema(engine, where)
        except BaseException:
            engine.dispose()
            raise
        return store

    def lock(self, name: str, *, timeout: float = 10.0) -> StoreLock:
        """The named lock (``run``, ``leader``) over this store, not yet
        taken: a file beside a SQLite database, a session advisory lock on
        a dedicated connection for PostgreSQL (see ``locks``). ``timeout``
        bounds how long a vanished holder keeps a PostgreSQL lock."""
        return lock_for(self._engine, self._where, name, timeout=timeout)

    def close(self) -> None:
        """Release every pooled connection. Safe to call twice."""
        self._engine.dispose()

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
