"""Articles and their tags: every article query in one place."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Row, Select, and_, bindparam, case, func, literal, or_, select
from sqlalchemy.engine import Connection

from feedpub.model import Article, Tag, UpsertOutcome, require_aware
from feedpub.store import journal
from feedpub.store.decide import Stored, decide
from feedpub.store.engine import IN_CHUNK, StoreBase, StoreError, analyze, chunks, insert_rows
from feedpub.store.schema import (
    t_article_tags,
    t_articles,
    t_feed_generation,
    t_tags,
    t_withdrawn,
)

# Articles per write transaction in bulk ingest: big enough to amortise commits,
# small enough that one bad batch costs little and IN lists stay short.
BATCH_SIZE = 500
# Rows written by a bulk upsert before PostgreSQL statistics are refreshed.
# Without statistics (autovacuum off, or not caught up with a first big
# ingest) its planner sequentially scans article_tags for "article_id IN
# (...)", which turns a build of minutes' work into hours.
ANALYZE_AFTER = 10_000
_ANALYZE_AT_END = 1_000
_ANALYZED = "articles, article_tags, tags"


def _first_per_key(tags: Iterable[Tag]) -> list[Tag]:
    """One tag per key, the first spelling seen winning."""
    first: dict[str, Tag] = {}
    for tag in tags:
        first.setdefault(tag.key, tag)
    return list(first.values())


def _short_hash(key: str, length: int) -> str:
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:length]


class ArticlesMixin(StoreBase):
    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        # key -> Tag. A stored tag never changes (later spellings keep the
        # first name and slug), so a cached one can never be stale.
        self._tag_cache: dict[str, Tag] = {}

    def upsert_article(self, article: Article, now: datetime) -> UpsertOutcome:
        """Insert or update one article; see ``upsert_articles`` for the rules."""
        require_aware("now", now)
        with self._guard("cannot write article"), self._writing() as conn:
            return self._upsert_batch(conn, [article], now)[0]

    def upsert_articles(
        self, articles: Iterable[Article], now: datetime
    ) -> dict[UpsertOutcome, int]:
        """Insert or update many articles, ``BATCH_SIZE`` per transaction, each
        as ``decide.decide`` says. A batch that fails is rolled back whole;
        earlier batches stay committed."""
        require_aware("now", now)
        counts: dict[UpsertOutcome, int] = {"new": 0, "updated": 0, "unchanged": 0}
        unanalysed = 0
        for batch in chunks(articles, BATCH_SIZE):
            with self._guard("cannot write articles"), self._writing() as conn:
                for outcome in self._upsert_batch(conn, batch, now):
                    counts[outcome] += 1
                    unanalysed += outcome != "unchanged"
                if unanalysed >= ANALYZE_AFTER:
                    analyze(conn, _ANALYZED)
                    unanalysed = 0
        if unanalysed >= _ANALYZE_AT_END:
            with self._guard("cannot analyse"), self._engine.begin() as conn:
                analyze(conn, _ANALYZED)
        return counts

    def get_article(self, article_id: str) -> Article | None:
        found = self.articles_by_ids([article_id])
        return found[0] if found else None

    def article_count(self) -> int:
        with self._guard("cannot count articles"), self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t_articles)).scalar_one())

    def latest_articles(
        self,
        limit: int | None = None,
        tag_key: str | None = None,
        offset: int = 0,
        *,
        light: bool = False,
    ) -> list[Article]:
        """Newest first, optionally only those tagged ``tag_key``; ``limit``
        None means all. Per-tag pages read the (tag, published) index.
        ``light``: see ``_columns``."""
        query: Select[Any]
        if tag_key is None:
            query = select(*_columns(light)).order_by(
                t_articles.c.published.desc(), t_articles.c.id.desc()
            )
        else:
            # Order by the article_tags copy of published so the index serves
            # both the filter and the sort.
            query = (
                select(*_columns(light))
                .join(t_article_tags, t_article_tags.c.article_id == t_articles.c.id)
                .where(t_article_tags.c.tag_key == tag_key)
                .order_by(t_article_tags.c.published.desc(), t_article_tags.c.article_id.desc())
            )
        query = query.limit(limit).offset(offset or None)
        return self._fetch(query)

    def page_versions(
        self, ids: Sequence[str] | None = None
    ) -> list[tuple[str, str, datetime, tuple[str, ...]]]:
        """``(id, content_hash, updated, tag keys)`` of every article without
        a URL (feedpub publishes a page for each), or of those of ``ids``, by
        id: enough to tell which pages changed without reading any content."""
        # As links.has_own_url: a blank URL is none.
        no_url = or_(t_articles.c.url.is_(None), func.trim(t_articles.c.url) == "")
        found: list[tuple[str, str, datetime, tuple[str, ...]]] = []
        with self._guard("cannot read articles"), self._engine.connect() as conn:
            for chunk in [None] if ids is None else chunks(sorted(ids), IN_CHUNK):
                where = no_url if chunk is None else and_(no_url, t_articles.c.id.in_(chunk))
                cols = (t_articles.c.id, t_articles.c.content_hash, t_articles.c.updated)
                rows = conn.execute(select(*cols).where(where).order_by(t_articles.c.id)).all()
                keys: dict[str, list[str]] = {row.id: [] for row in rows}
                tagged = select(t_article_tags.c.article_id, t_article_tags.c.tag_key).join(
                    t_articles, t_articles.c.id == t_article_tags.c.article_id
                )
                for r in conn.execute(tagged.where(where)):
                    if r.article_id in keys:  # not one written between the two queries
                        keys[r.article_id].append(r.tag_key)
                found += [
                    (r.id, r.content_hash, r.updated, tuple(sorted(keys[r.id]))) for r in rows
                ]
        return found

    def generation(self) -> int:
        """A counter bumped by every write that changes an article (0 for a
        store never written): equal values mean the same articles."""
        with self._guard("cannot read the generation"), self._engine.connect() as conn:
            found = conn.execute(select(t_feed_generation.c.generation)).scalar()
            return int(found or 0)

    def latest_per_tag(self, limit: int, *, light: bool = False) -> dict[str, list[Article]]:
        """Every tag's newest ``limit`` articles (newest first), keyed by tag
        key, in one ranked query instead of one query per tag. ``light``:
        see ``_columns``."""
        rank = (
            func.row_number()
            .over(
                partition_by=t_article_tags.c.tag_key,
                order_by=(t_article_tags.c.published.desc(), t_article_tags.c.article_id.desc()),
            )
            .label("rank")
        )
        ranked = select(t_article_tags.c.tag_key, t_article_tags.c.article_id, rank).subquery()
        query = (
            select(ranked.c.tag_key, ranked.c.article_id)
            .where(ranked.c.rank <= limit)
            .order_by(ranked.c.tag_key, ranked.c.rank)
        )
        with self._guard("cannot read articles"), self._engine.connect() as conn:
            pairs = conn.execute(query).all()
        ids = list(dict.fromkeys(p[1] for p in pairs))
        by_id = {a.id: a for a in self.articles_by_ids(ids, light=light)}
        newest: dict[str, list[Article]] = {}
        for tag_key, article_id in pairs:
            if article_id in by_id:
                newest.setdefault(tag_key, []).append(by_id[article_id])
        return newest

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

    def articles_for_edition(
        self,
        until: datetime,
        seen_until: datetime,
        *,
        published_after: datetime,
        seen_after: datetime | None = None,
        tag_keys: Sequence[str] = (),
        limit: int | None = None,
    ) -> list[Article]:
        """The articles an edition of slot ``until`` made at ``seen_until``
        may hold: published by the slot and first seen by the time it is
        made, and new to the digest: published after ``published_after`` or
        (with ``seen_after``) first seen after it. Tags, order and limit as
        ``articles_between``."""
        require_aware("until", until)
        require_aware("seen_until", seen_until)
        require_aware("published_after", published_after)
        require_aware("seen_after", seen_after)
        a = t_articles.c
        new = a.published > published_after
        if seen_after is not None:
            new = new | (a.first_seen > seen_after)
        query = select(t_articles).where(a.published <= until, a.first_seen <= seen_until, new)
        if tag_keys:
            tagged = select(t_article_tags.c.article_id).where(
                t_article_tags.c.tag_key.in_(list(tag_keys)), t_article_tags.c.published <= until
            )
            query = query.where(a.id.in_(tagged))
        query = query.order_by(a.published.desc(), a.id.desc()).limit(limit)
        return self._fetch(query)

    def articles_by_ids(self, ids: Sequence[str], *, light: bool = False) -> list[Article]:
        """The articles with these ids, in the given order; unknown ids skipped."""
        found: dict[str, Article] = {}
        with self._guard("cannot read articles"), self._engine.connect() as conn:
            for chunk in chunks(dict.fromkeys(ids), IN_CHUNK):
                query = select(*_columns(light)).where(t_articles.c.id.in_(chunk))
                rows = conn.execute(query).all()
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

    # --- internals --------------------------------------------------------------

    def _fetch(self, query: Select[Any]) -> list[Article]:
        with self._guard("cannot read articles"), self._engine.connect() as conn:
            rows = conn.execute(query).all()
            return self._with_tags(conn, rows)

    def _with_tags(self, conn: Connection, rows: Sequence[Row[Any]]) -> list[Article]:
        """Build Articles from rows, loading the tags of all of them in one
        query per ``IN_CHUNK`` ids (never one per article)."""
        keys_of: dict[str, list[str]] = {row.id: [] for row in rows}
        for chunk in chunks(keys_of, IN_CHUNK):
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
                image_width=row.image_width,
                image_height=row.image_height,
                image_alt=row.image_alt or "",
                image_bytes=row.image_bytes,
                tags=tuple(by_article[row.id]),
                source=row.source,
                content_hash=row.content_hash,
                first_seen=row.first_seen,
                first_url=row.first_url,
            )
            for row in rows
        ]

    def _cache_tags(self, conn: Connection, keys: Iterable[str]) -> None:
        missing = [key for key in keys if key not in self._tag_cache]
        for chunk in chunks(missing, IN_CHUNK):
            for r in conn.execute(select(t_tags).where(t_tags.c.key.in_(chunk))):
                self._tag_cache[r.key] = Tag(r.key, r.name, r.slug)

    def _stored(self, conn: Connection, ids: list[str]) -> dict[str, Stored]:
        rows = conn.execute(
            select(
                t_articles.c.id,
                t_articles.c.content_hash,
                t_articles.c.updated,
                t_articles.c.first_seen,
                t_articles.c.first_url,
            ).where(t_articles.c.id.in_(ids))
        ).all()
        keys: dict[str, set[str]] = {row.id: set() for row in rows}
        for r in conn.execute(
            select(t_article_tags.c.article_id, t_article_tags.c.tag_key).where(
                t_article_tags.c.article_id.in_(ids)
            )
        ):
            keys[r.article_id].add(r.tag_key)
        return {
            row.id: Stored(
                content_hash=row.content_hash,
                updated=row.updated,
                first_seen=row.first_seen,
                tag_keys=frozenset(keys[row.id]),
                first_url=row.first_url,
            )
            for row in rows
        }

    def _upsert_batch(
        self, conn: Connection, batch: Sequence[Article], now: datetime
    ) -> list[UpsertOutcome]:
        """Upsert ``batch`` in the caller's transaction with a fixed number of
        statements (not per article). Outcomes in input order; an id repeated
        in the batch is judged against its earlier occurrence."""
        ids = list(dict.fromkeys(a.id for a in batch))
        stored = self._stored(conn, ids)
        in_db = set(stored)
        held = _clear_withdrawn(conn, ids)
        keys_before = {i: s.tag_keys for i, s in stored.items()}  # for the change journal
        outcomes: list[UpsertOutcome] = []
        # id -> (article, its values to write); the last occurrence wins
        final: dict[str, tuple[Article, dict[str, Any]]] = {}
        for article in batch:
            if article.id in held:  # withdrawn by an editor: stays out
                outcomes.append("unchanged")
                continue
            decision = decide(article, stored.get(article.id), now)
            outcomes.append(decision.outcome)
            if decision.outcome == "unchanged":
                continue
            stored[article.id] = decision.as_stored(article)
            values = _article_values(article)
            values.update(
                updated=decision.updated,
                first_seen=decision.first_seen,
                first_url=decision.first_url,
            )
            final[article.id] = (article, values)
        if not final:
            return outcomes
        # The feeds each written article left or is in (journal.py).
        journal.record_change(
            conn,
            {k for i in final for k in keys_before.get(i, ())}
            | {t.key for a, _ in final.values() for t in a.tags},
            final,
        )

        self._ensure_tags(conn, [t for a, _ in final.values() for t in _first_per_key(a.tags)])

        inserts = [{"id": i, **v} for i, (_, v) in final.items() if i not in in_db]
        updates = [{"b_id": i, **v} for i, (_, v) in final.items() if i in in_db]
        insert_rows(conn, t_articles, inserts)
        if updates:
            conn.execute(t_articles.update().where(t_articles.c.id == bindparam("b_id")), updates)
            changed = [u["b_id"] for u in updates]
            conn.execute(t_article_tags.delete().where(t_article_tags.c.article_id.in_(changed)))
        links = [
            {"article_id": a.id, "tag_key": t.key, "published": a.published}
            for a, _ in final.values()
            for t in _first_per_key(a.tags)
        ]
        insert_rows(conn, t_article_tags, links)
        return outcomes

    def _ensure_tags(self, conn: Connection, wanted: Sequence[Tag]) -> None:
        """Insert the tags whose key is new; known keys keep their stored name
        and slug. A new key whose slug another key holds gets the slug plus
        "-" and a short hash of its key, so slugs (file names) stay unique."""
        new = {t.key: t for t in _first_per_key(wanted)}
        for chunk in chunks(list(new), IN_CHUNK):
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
        for chunk in chunks([s for slugs in options.values() for s in slugs], IN_CHUNK):
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


def _columns(light: bool) -> list[Any]:
    """The article columns to read. ``light`` leaves summary and content
    (most of a row's bytes) empty where the content hash stands for them,
    for a reader that needs them only for the few articles it must print."""
    if not light:
        return [t_articles]
    hashless = t_articles.c.content_hash == ""
    return [
        *(c for c in t_articles.c if c.name not in ("summary", "content")),
        case((hashless, t_articles.c.summary), else_=literal("")).label("summary"),
        case((hashless, t_articles.c.content), else_=literal("")).label("content"),
    ]


def _article_values(article: Article) -> dict[str, Any]:
    return {
        "title": article.title,
        "summary": article.summary,
        "content": article.content,
        "author": article.author,
        "published": article.published,
        "url": article.url,
        "image": article.image,
        "image_width": article.image_width,
        "image_height": article.image_height,
        "image_alt": article.image_alt,
        "image_bytes": article.image_bytes,
        "source": article.source,
        "content_hash": article.content_hash,
    }


def _clear_withdrawn(conn: Connection, ids: Sequence[str]) -> set[str]:
    """The ids among ``ids`` an editor withdrew (they stay out); the
    tombstones of the others, back in their source, are cleared."""
    held: set[str] = set()
    for chunk in chunks(ids, IN_CHUNK):
        rows = conn.execute(
            select(t_withdrawn.c.id, t_withdrawn.c.by_hand).where(t_withdrawn.c.id.in_(chunk))
        ).all()
        held.update(r.id for r in rows if r.by_hand)
        back = [r.id for r in rows if not r.by_hand]
        if back:
            conn.execute(t_withdrawn.delete().where(t_withdrawn.c.id.in_(back)))
    return held
