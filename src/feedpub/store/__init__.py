"""The article store: SQLAlchemy 2 Core over SQLite or PostgreSQL.

The only module that imports SQLAlchemy. One code path serves both databases;
the URL picks one (``sqlite:////abs/feedpub.db`` by default,
``postgresql+psycopg://user@host/db`` for a shared server).

Datetimes go in and come out as UTC-aware values: SQLite has no time zones,
so ``UtcDateTime`` stores naive UTC there and re-attaches UTC on the way out.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Row,
    Select,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import URL, Connection, Dialect, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError, StatementError
from sqlalchemy.types import TypeDecorator

from feedpub.model import Article, Edition, Reject, Tag, UpsertOutcome, require_aware

SCHEMA_VERSION = 1

# Articles per write transaction in bulk ingest: big enough to amortise commits,
# small enough that one bad batch costs little and IN lists stay short.
BATCH_SIZE = 500
# Rows written by a bulk upsert before PostgreSQL statistics are refreshed.
# Without statistics (autovacuum off, or not caught up with a first big
# ingest) its planner sequentially scans article_tags for "article_id IN
# (...)": 30 ms instead of 0.1 ms per page of articles, minutes per build.
ANALYZE_AFTER = 10_000
_ANALYZE_AT_END = 1_000
# Ids per IN (...) list when loading: SQLite caps bound parameters per statement.
_IN_CHUNK = 900

T = TypeVar("T")


class StoreError(Exception):
    """The store cannot be reached or its schema is unusable. The message names
    the URL with the password hidden; the SQLAlchemy error is the ``__cause__``."""


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back UTC-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        require_aware("stored datetime", value)
        value = value.astimezone(UTC)
        # SQLite would silently drop the offset; store naive UTC explicitly so
        # text ordering and equality are by UTC instant.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData()

t_schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
)

t_articles = Table(
    "articles",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("content", Text, nullable=False),
    Column("author", Text),
    Column("published", UtcDateTime, nullable=False),
    Column("updated", UtcDateTime, nullable=False),
    Column("url", Text),
    Column("image", Text),
    Column("source", Text, nullable=False),
    Column("content_hash", String(128), nullable=False),
    Column("first_seen", UtcDateTime, nullable=False),
    # Main feed, archive pages and digests all read newest first.
    Index("ix_articles_published_id", "published", "id"),
)

t_tags = Table(
    "tags",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("name", Text, nullable=False),
    Column("slug", String(255), nullable=False, unique=True),
)

t_article_tags = Table(
    "article_tags",
    metadata,
    Column(
        "article_id",
        String(255),
        ForeignKey("articles.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("tag_key", String(255), ForeignKey("tags.key"), primary_key=True),
    # A copy of articles.published so per-tag newest-N is one index range scan
    # instead of a join that sorts every article of a big tag.
    Column("published", UtcDateTime, nullable=False),
    Index("ix_article_tags_tag_published", "tag_key", "published", "article_id"),
)

t_rejects = Table(
    "rejects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("seen", UtcDateTime, nullable=False),
    Column("location", Text),
    Index("ix_rejects_seen", "seen"),
)

t_editions = Table(
    "editions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("digest", String(255), nullable=False),
    Column("slot", UtcDateTime, nullable=False),
    Column("created", UtcDateTime, nullable=False),
    Column("dropped", Integer, nullable=False, default=0),
    # Ordered JSON list: an edition is written once and always read whole.
    Column("article_ids", Text, nullable=False),
    # The guard that makes re-running a slot (even concurrently) a no-op.
    UniqueConstraint("digest", "slot", name="uq_editions_digest_slot"),
)


@dataclass
class _Stored:
    """What an upsert needs to know about an article already in the store."""

    content_hash: str
    updated: datetime
    first_seen: datetime
    tag_keys: frozenset[str]


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _mask_password(url: str) -> str:
    """Hide the password of a URL that SQLAlchemy could not even parse."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def _first_per_key(tags: Iterable[Tag]) -> list[Tag]:
    """One tag per key, the first spelling seen winning."""
    first: dict[str, Tag] = {}
    for tag in tags:
        first.setdefault(tag.key, tag)
    return list(first.values())


def _short_hash(key: str, length: int) -> str:
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:length]


class SqlStore:
    """Articles, tags, rejects and digest editions in one SQL database.

    Open with ``SqlStore.open(url)``; close with ``close()`` or use it as a
    context manager. Safe to share between threads (one pooled engine).

    Contract (the ``select.ArticleReader`` Protocol is a subset):

    - Every datetime passed in must be timezone-aware (``ValueError`` otherwise);
      every datetime returned is UTC-aware.
    - Article lists are newest first: ``published`` desc, then ``id`` desc.
    - Returned articles carry their tags as stored (first name and slug seen
      for the key), sorted by name.
    - Connection and schema problems, and any other database failure, raise
      ``StoreError`` naming the URL without its password.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._where = engine.url.render_as_string(hide_password=True)
        # key -> Tag. A stored tag never changes (later spellings keep the
        # first name and slug), so a cached one can never be stale.
        self._tag_cache: dict[str, Tag] = {}

    # --- lifecycle --------------------------------------------------------------

    @classmethod
    def open(cls, url: str) -> SqlStore:
        """Connect and create the schema if missing (idempotent).

        Raises ``StoreError`` when the URL is malformed, the database is
        unreachable, or it holds a schema version this code does not know.
        """
        try:
            parsed = make_url(url)
        except SQLAlchemyError as exc:
            raise StoreError(f"store {_mask_password(url)}: bad URL: {exc}") from exc
        where = parsed.render_as_string(hide_password=True)
        try:
            engine = _create_engine(parsed)
        except (SQLAlchemyError, ImportError, OSError) as exc:
            raise StoreError(f"store {where}: cannot open: {exc}") from exc
        store = cls(engine)
        try:
            with store._guard("cannot open"):
                store._ensure_schema()
        except BaseException:
            engine.dispose()
            raise
        return store

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

    # --- articles ---------------------------------------------------------------

    def upsert_article(self, article: Article, now: datetime) -> UpsertOutcome:
        """Insert or update one article; see ``upsert_articles`` for the rules."""
        require_aware("now", now)
        with self._guard("cannot write article"), self._writing() as conn:
            return self._upsert_batch(conn, [article], now)[0]

    def upsert_articles(
        self, articles: Iterable[Article], now: datetime
    ) -> dict[UpsertOutcome, int]:
        """Insert or update many articles, ``BATCH_SIZE`` per transaction.

        Per article: "new" inserts it with ``first_seen = now``; "unchanged"
        (same ``content_hash`` and the same tag keys) writes nothing; "updated"
        replaces every field but ``first_seen``, and moves ``updated`` forward:
        to ``article.updated`` when later than the stored one, else to ``now``.
        A batch that fails is rolled back whole; earlier batches stay committed.
        """
        require_aware("now", now)
        counts: dict[UpsertOutcome, int] = {"new": 0, "updated": 0, "unchanged": 0}
        unanalysed = 0
        for batch in _chunks(articles, BATCH_SIZE):
            with self._guard("cannot write articles"), self._writing() as conn:
                for outcome in self._upsert_batch(conn, batch, now):
                    counts[outcome] += 1
                    unanalysed += outcome != "unchanged"
                if unanalysed >= ANALYZE_AFTER:
                    self._analyze(conn)
                    unanalysed = 0
        if unanalysed >= _ANALYZE_AT_END:
            with self._guard("cannot analyse"), self._engine.begin() as conn:
                self._analyze(conn)
        return counts

    def get_article(self, article_id: str) -> Article | None:
        found = self.articles_by_ids([article_id])
        return found[0] if found else None

    def article_count(self) -> int:
        with self._guard("cannot count articles"), self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t_articles)).scalar_one())

    def latest_articles(
        self, limit: int | None = None, tag_key: str | None = None, offset: int = 0
    ) -> list[Article]:
        """Newest first, optionally only those tagged ``tag_key``; ``limit``
        None means all. Per-tag pages read the (tag, published) index."""
        query: Select[Any]
        if tag_key is None:
            query = select(t_articles).order_by(
                t_articles.c.published.desc(), t_articles.c.id.desc()
            )
        else:
            # Order by the article_tags copy of published so the index serves
            # both the filter and the sort.
            query = (
                select(t_articles)
                .join(t_article_tags, t_article_tags.c.article_id == t_articles.c.id)
                .where(t_article_tags.c.tag_key == tag_key)
                .order_by(t_article_tags.c.published.desc(), t_article_tags.c.article_id.desc())
            )
        query = query.limit(limit).offset(offset or None)
        return self._fetch(query)

    def articles_between(
        self,
        after: datetime | None,
        until: datetime,
        tag_keys: Sequence[str] = (),
        limit: int | None = None,
    ) -> list[Article]:
        """Articles with ``after < published <= until`` (no lower bound when
        ``after`` is None), carrying any of ``tag_keys`` (all articles when
        empty), each once, newest first, at most ``limit``."""
        require_aware("until", until)
        require_aware("after", after)
        query = select(t_articles).where(t_articles.c.published <= until)
        if after is not None:
            query = query.where(t_articles.c.published > after)
        if tag_keys:
            # IN (subquery) rather than a join: an article in two of the tags
            # must appear once.
            tagged = select(t_article_tags.c.article_id).where(
                t_article_tags.c.tag_key.in_(list(tag_keys)), t_article_tags.c.published <= until
            )
            if after is not None:
                tagged = tagged.where(t_article_tags.c.published > after)
            query = query.where(t_articles.c.id.in_(tagged))
        query = query.order_by(t_articles.c.published.desc(), t_articles.c.id.desc()).limit(limit)
        return self._fetch(query)

    def articles_by_ids(self, ids: Sequence[str]) -> list[Article]:
        """The articles with these ids, in the given order; unknown ids skipped."""
        found: dict[str, Article] = {}
        with self._guard("cannot read articles"), self._engine.connect() as conn:
            for chunk in _chunks(dict.fromkeys(ids), _IN_CHUNK):
                rows = conn.execute(select(t_articles).where(t_articles.c.id.in_(chunk))).all()
                for article in self._with_tags(conn, rows):
                    found[article.id] = article
        return [found[i] for i in ids if i in found]

    def tags(self) -> list[tuple[Tag, int]]:
        """Every tag with the number of articles carrying it, sorted by slug."""
        count = func.count(t_article_tags.c.article_id)
        query = (
            select(t_tags.c.key, t_tags.c.name, t_tags.c.slug, count)
            .select_from(t_tags.outerjoin(t_article_tags, t_article_tags.c.tag_key == t_tags.c.key))
            .group_by(t_tags.c.key, t_tags.c.name, t_tags.c.slug)
            .order_by(t_tags.c.slug)
        )
        with self._guard("cannot read tags"), self._engine.connect() as conn:
            return [(Tag(r.key, r.name, r.slug), int(r[3])) for r in conn.execute(query)]

    # --- rejects ----------------------------------------------------------------

    def add_reject(self, reject: Reject) -> bool:
        """Record a reject; True when it is new. The same problem seen again
        (same source, location and reason: a bad file re-read by every cron
        run) only moves its ``seen`` time, so the table does not grow per run."""
        same = (
            (t_rejects.c.source == reject.source)
            & (t_rejects.c.reason == reject.reason)
            & (
                t_rejects.c.location.is_(None)
                if reject.location is None
                else t_rejects.c.location == reject.location
            )
        )
        with self._guard("cannot write reject"), self._writing() as conn:
            moved = conn.execute(t_rejects.update().where(same).values(seen=reject.seen))
            if moved.rowcount:
                return False
            conn.execute(
                t_rejects.insert().values(
                    source=reject.source,
                    reason=reject.reason,
                    seen=reject.seen,
                    location=reject.location,
                )
            )
            return True

    def replace_rejects(self, source: str, rejects: Sequence[Reject]) -> list[bool]:
        """Make ``rejects`` the recorded problems of ``source`` (a file just
        read, or a source path just listed), in one transaction: its earlier
        rejects not among them are deleted (the file was fixed, or the
        problem moved); one seen again only moves its ``seen`` time, as in
        ``add_reject``. Per reject, True when it is new."""
        for reject in rejects:
            if reject.source != source:
                raise ValueError(f"reject of {reject.source!r} given for {source!r}")
        with self._guard("cannot write rejects"), self._writing() as conn:
            rows = conn.execute(
                select(t_rejects.c.id, t_rejects.c.location, t_rejects.c.reason).where(
                    t_rejects.c.source == source
                )
            ).all()
            wanted = {(r.location, r.reason): r for r in rejects}
            stored: dict[tuple[str | None, str], list[int]] = {}
            for row in rows:
                stored.setdefault((row.location, row.reason), []).append(row.id)
            stale = [i for what, row_ids in stored.items() if what not in wanted for i in row_ids]
            for chunk in _chunks(stale, _IN_CHUNK):
                conn.execute(t_rejects.delete().where(t_rejects.c.id.in_(chunk)))
            fresh = []
            for what, reject in wanted.items():
                if what in stored:
                    conn.execute(
                        t_rejects.update()
                        .where(t_rejects.c.id.in_(stored[what]))
                        .values(seen=reject.seen)
                    )
                else:
                    fresh.append(
                        {
                            "source": source,
                            "reason": reject.reason,
                            "seen": reject.seen,
                            "location": reject.location,
                        }
                    )
            if fresh:
                conn.execute(t_rejects.insert(), fresh)
        return [(r.location, r.reason) not in stored for r in rejects]

    def rejects(self) -> list[Reject]:
        """Every reject, newest first (ties: most recently added first)."""
        query = select(t_rejects).order_by(t_rejects.c.seen.desc(), t_rejects.c.id.desc())
        with self._guard("cannot read rejects"), self._engine.connect() as conn:
            return [
                Reject(source=r.source, reason=r.reason, seen=r.seen, location=r.location)
                for r in conn.execute(query)
            ]

    # --- digest editions --------------------------------------------------------

    def add_edition(self, edition: Edition) -> bool:
        """Record an edition. False, and nothing written, when its (digest,
        slot) exists already, also when another process wins the race."""
        values = {
            "digest": edition.digest,
            "slot": edition.slot,
            "created": edition.created,
            "dropped": edition.dropped,
            "article_ids": json.dumps(list(edition.article_ids)),
        }
        with self._guard("cannot write edition"):
            # The transaction must end before the IntegrityError is handled:
            # PostgreSQL refuses further work in a failed transaction.
            try:
                with self._engine.begin() as conn:
                    conn.execute(t_editions.insert().values(**values))
            except IntegrityError:
                return False
        return True

    def get_edition(self, digest: str, slot: datetime) -> Edition | None:
        require_aware("slot", slot)
        query = select(t_editions).where(t_editions.c.digest == digest, t_editions.c.slot == slot)
        return next(iter(self._editions(query)), None)

    def last_edition(self, digest: str) -> Edition | None:
        """The edition with the latest slot, or None before the first."""
        query = (
            select(t_editions)
            .where(t_editions.c.digest == digest)
            .order_by(t_editions.c.slot.desc())
            .limit(1)
        )
        return next(iter(self._editions(query)), None)

    def editions(self, digest: str) -> list[Edition]:
        """Every edition of the digest, latest slot first."""
        query = (
            select(t_editions)
            .where(t_editions.c.digest == digest)
            .order_by(t_editions.c.slot.desc())
        )
        return self._editions(query)

    # --- internals --------------------------------------------------------------

    @contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        """Turn any SQLAlchemy error into a StoreError naming the store."""
        try:
            yield
        except SQLAlchemyError as exc:
            # The underlying message alone (from the driver, or from a bind
            # processor such as an out-of-range date): SQLAlchemy's also
            # carries the statement and its parameters (whole article bodies).
            orig = exc.orig if isinstance(exc, StatementError) else None
            detail = orig if orig is not None else exc
            raise StoreError(
                f"store {self._where}: {doing}: {type(exc).__name__}: {detail}".strip()
            ) from exc

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A read-then-write transaction, run one at a time against every
        other feedpub writer of this store, in any process: two ingests at
        once (an overlapping cron run, ``serve`` beside a manual run) must
        not both find an article or tag missing and both insert it.

        SQLite: ``BEGIN IMMEDIATE`` takes the write lock up front, waiting up
        to the busy timeout (a deferred transaction that read first would get
        "database is locked" at once when another process wrote meanwhile).
        PostgreSQL: a transaction-scoped advisory lock per schema."""
        with self._engine.connect() as conn:
            conn.execution_options(**{_SQLITE_BEGIN: "BEGIN IMMEDIATE"})
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(hashtext(:name || current_schema()))"),
                        {"name": "feedpub-store-write:"},
                    )
                yield conn

    def _ensure_schema(self) -> None:
        with self._writing() as conn:
            if inspect(conn).has_table(t_schema_version.name):
                found = conn.execute(select(func.max(t_schema_version.c.version))).scalar()
                if found is not None and found != SCHEMA_VERSION:
                    raise StoreError(
                        f"store {self._where}: schema version {found} is not the "
                        f"{SCHEMA_VERSION} this feedpub knows; a newer feedpub created "
                        "it, upgrade feedpub (or point store.url elsewhere)"
                    )
            metadata.create_all(conn)  # checkfirst: only what is missing
            if conn.execute(select(func.count()).select_from(t_schema_version)).scalar_one() == 0:
                conn.execute(t_schema_version.insert().values(version=SCHEMA_VERSION))

    def _analyze(self, conn: Connection) -> None:
        """Refresh planner statistics after bulk writes (PostgreSQL only:
        SQLite picks these indexes by rule, statistics or not)."""
        if conn.dialect.name == "postgresql":
            conn.execute(text("ANALYZE articles, article_tags, tags"))

    def _fetch(self, query: Select[Any]) -> list[Article]:
        with self._guard("cannot read articles"), self._engine.connect() as conn:
            rows = conn.execute(query).all()
            return self._with_tags(conn, rows)

    def _with_tags(self, conn: Connection, rows: Sequence[Row[Any]]) -> list[Article]:
        """Build Articles from rows, loading the tags of all of them in one
        query per ``_IN_CHUNK`` ids (never one per article)."""
        keys_of: dict[str, list[str]] = {row.id: [] for row in rows}
        for chunk in _chunks(keys_of, _IN_CHUNK):
            query = select(t_article_tags.c.article_id, t_article_tags.c.tag_key).where(
                t_article_tags.c.article_id.in_(chunk)
            )
            for r in conn.execute(query):
                keys_of[r.article_id].append(r.tag_key)
        self._cache_tags(conn, {key for keys in keys_of.values() for key in keys})
        by_article = {
            article_id: sorted((self._tag_cache[k] for k in keys), key=lambda t: (t.name, t.key))
            for article_id, keys in keys_of.items()
        }
        return [
            Article(
                id=row.id,
                title=row.title,
                summary=row.summary,
                content=row.content,
                published=row.published,
                updated=row.updated,
                author=row.author,
                url=row.url,
                image=row.image,
                tags=tuple(by_article[row.id]),
                source=row.source,
                content_hash=row.content_hash,
                first_seen=row.first_seen,
            )
            for row in rows
        ]

    def _cache_tags(self, conn: Connection, keys: Iterable[str]) -> None:
        missing = [key for key in keys if key not in self._tag_cache]
        for chunk in _chunks(missing, _IN_CHUNK):
            for r in conn.execute(select(t_tags).where(t_tags.c.key.in_(chunk))):
                self._tag_cache[r.key] = Tag(r.key, r.name, r.slug)

    def _editions(self, query: Select[Any]) -> list[Edition]:
        with self._guard("cannot read editions"), self._engine.connect() as conn:
            return [
                Edition(
                    digest=r.digest,
                    slot=r.slot,
                    article_ids=tuple(json.loads(r.article_ids)),
                    created=r.created,
                    dropped=r.dropped,
                )
                for r in conn.execute(query)
            ]

    def _upsert_batch(
        self, conn: Connection, batch: Sequence[Article], now: datetime
    ) -> list[UpsertOutcome]:
        """Upsert ``batch`` in the caller's transaction with a fixed number of
        statements (not per article). Outcomes in input order; an id repeated
        in the batch is judged against its earlier occurrence."""
        ids = list(dict.fromkeys(a.id for a in batch))
        stored: dict[str, _Stored] = {}
        rows = conn.execute(
            select(
                t_articles.c.id,
                t_articles.c.content_hash,
                t_articles.c.updated,
                t_articles.c.first_seen,
            ).where(t_articles.c.id.in_(ids))
        ).all()
        stored_keys: dict[str, set[str]] = {row.id: set() for row in rows}
        for r in conn.execute(
            select(t_article_tags.c.article_id, t_article_tags.c.tag_key).where(
                t_article_tags.c.article_id.in_(ids)
            )
        ):
            stored_keys[r.article_id].add(r.tag_key)
        for row in rows:
            stored[row.id] = _Stored(
                row.content_hash, row.updated, row.first_seen, frozenset(stored_keys[row.id])
            )
        in_db = set(stored)

        outcomes: list[UpsertOutcome] = []
        # id -> (article, updated, first_seen) to write; the last occurrence wins
        final: dict[str, tuple[Article, datetime, datetime]] = {}
        for article in batch:
            keys = frozenset(tag.key for tag in article.tags)
            before = stored.get(article.id)
            if before is None:
                outcome: UpsertOutcome = "new"
                updated, first_seen = article.updated, now
            elif before.content_hash == article.content_hash and before.tag_keys == keys:
                outcomes.append("unchanged")
                continue
            else:
                outcome = "updated"
                # A change must be visible to feed readers as a newer entry, even
                # when the source did not bump (or moved back) its own time.
                updated = article.updated if article.updated > before.updated else now
                first_seen = before.first_seen
            outcomes.append(outcome)
            stored[article.id] = _Stored(article.content_hash, updated, first_seen, keys)
            final[article.id] = (article, updated, first_seen)
        if not final:
            return outcomes

        self._ensure_tags(conn, [t for a, _, _ in final.values() for t in _first_per_key(a.tags)])

        inserts = [{"id": i, **_article_values(*v)} for i, v in final.items() if i not in in_db]
        updates = [{"b_id": i, **_article_values(*v)} for i, v in final.items() if i in in_db]
        if inserts:
            conn.execute(t_articles.insert(), inserts)
        if updates:
            conn.execute(t_articles.update().where(t_articles.c.id == bindparam("b_id")), updates)
            changed = [u["b_id"] for u in updates]
            conn.execute(t_article_tags.delete().where(t_article_tags.c.article_id.in_(changed)))
        links = [
            {"article_id": a.id, "tag_key": t.key, "published": a.published}
            for a, _, _ in final.values()
            for t in _first_per_key(a.tags)
        ]
        if links:
            conn.execute(t_article_tags.insert(), links)
        return outcomes

    def _ensure_tags(self, conn: Connection, wanted: Sequence[Tag]) -> None:
        """Insert the tags whose key is new; known keys keep their stored name
        and slug. A new key whose slug another key holds gets the slug plus
        "-" and a short hash of its key, so slugs (file names) stay unique."""
        new = {t.key: t for t in _first_per_key(wanted)}
        for chunk in _chunks(list(new), _IN_CHUNK):
            for key in conn.execute(select(t_tags.c.key).where(t_tags.c.key.in_(chunk))).scalars():
                del new[key]
        if not new:
            return
        # Every slug a new tag might take, looked up at once.
        options = {
            key: [tag.slug] + [f"{tag.slug}-{_short_hash(key, n)}" for n in (8, 16, 40)]
            for key, tag in new.items()
        }
        taken: set[str] = set()
        for chunk in _chunks([s for slugs in options.values() for s in slugs], _IN_CHUNK):
            taken.update(
                conn.execute(select(t_tags.c.slug).where(t_tags.c.slug.in_(chunk))).scalars()
            )
        rows = []
        for key, tag in new.items():
            slug = next((s for s in options[key] if s not in taken), None)
            if slug is None:
                raise StoreError(f"store {self._where}: no free slug for tag {key!r}")
            taken.add(slug)
            rows.append({"key": key, "name": tag.name, "slug": slug})
        conn.execute(t_tags.insert(), rows)


def _article_values(article: Article, updated: datetime, first_seen: datetime) -> dict[str, Any]:
    return {
        "title": article.title,
        "summary": article.summary,
        "content": article.content,
        "author": article.author,
        "published": article.published,
        "updated": updated,
        "url": article.url,
        "image": article.image,
        "source": article.source,
        "content_hash": article.content_hash,
        "first_seen": first_seen,
    }


# Execution option naming the statement that opens a SQLite transaction.
_SQLITE_BEGIN = "feedpub_sqlite_begin"


def _create_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        database = url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # pre_ping: a long-running service outlives server restarts and idle timeouts.
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The sqlite3 module only opens a transaction before the first write, so
    # the reads of a transaction would each see another snapshot and an
    # upgrade to writing could fail at once. feedpub emits BEGIN itself
    # (``_sqlite_begin``), the documented SQLAlchemy recipe for pysqlite.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # Cascade deletes to article_tags; WAL lets feed builds read while
        # ingest writes; wait for a writer instead of failing at once.
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
    finally:
        cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql(conn.get_execution_options().get(_SQLITE_BEGIN, "BEGIN"))
