"""The change journal: which feeds' inputs each article write changed.

Every write that changes articles bumps the generation (``feed_generation``)
and, in the same transaction, records under the new generation the tag keys
those articles had before and have after (old keys: a re-tagged article
leaves a feed) plus ``MAIN`` (the main feed and the archive), and the ids of
the articles written (``changed_articles``: the article pages to check). A build that
rendered generation g asks ``changed_tags(g)``: the union since then, so it
selects and renders only those feeds. The journal is kept for
``JOURNAL_KEEP`` generations; a builder further behind (or a store upgraded
from before the journal) gets None and builds everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Connection

from feedpub.model import Tag
from feedpub.store.engine import IN_CHUNK, StoreBase, chunks
from feedpub.store.schema import (
    t_article_tags,
    t_feed_changed_articles,
    t_feed_changes,
    t_feed_generation,
    t_tags,
)

MAIN = ""  # the key recorded for every change: the main feed's
JOURNAL_KEEP = 1000  # generations of journal kept behind the newest


def record_change(conn: Connection, tag_keys: Iterable[str], article_ids: Iterable[str]) -> int:
    """In the writer's transaction, so the journal, the counter and the
    articles commit together: bump the generation, journal ``tag_keys``
    (and MAIN) and ``article_ids`` under it, forget generations older than
    JOURNAL_KEEP."""
    bumped = conn.execute(
        t_feed_generation.update().values(generation=t_feed_generation.c.generation + 1)
    )
    if not bumped.rowcount:
        conn.execute(t_feed_generation.insert().values(id=1, generation=1))
    generation = int(conn.execute(select(t_feed_generation.c.generation)).scalar_one())
    keys = sorted({MAIN, *tag_keys})
    conn.execute(t_feed_changes.insert(), [{"generation": generation, "tag_key": k} for k in keys])
    ids = [{"generation": generation, "article_id": i} for i in sorted(set(article_ids))]
    if ids:
        conn.execute(t_feed_changed_articles.insert(), ids)
    for table in (t_feed_changes, t_feed_changed_articles):
        conn.execute(delete(table).where(table.c.generation <= generation - JOURNAL_KEEP))
    return generation


class JournalMixin(StoreBase):
    def changed_tags(self, since: int) -> frozenset[str] | None:
        """The tag keys whose feeds' inputs changed after generation
        ``since`` (MAIN always among them when anything did); None when the
        journal does not cover every generation since (build everything)."""
        table = t_feed_changes
        with self._guard("cannot read the change journal"), self._engine.connect() as conn:
            now = int(conn.execute(select(t_feed_generation.c.generation)).scalar() or 0)
            if now < since:
                return None  # a store replaced by an older copy
            if now == since:
                return frozenset()
            covered = conn.execute(
                select(func.count(func.distinct(table.c.generation))).where(
                    table.c.generation > since, table.c.generation <= now
                )
            ).scalar_one()
            if int(covered) != now - since:
                return None
            keys = conn.execute(
                select(table.c.tag_key).distinct().where(table.c.generation > since)
            ).scalars()
            return frozenset(keys)

    def changed_articles(self, since: int) -> frozenset[str] | None:
        """The ids of the articles written after generation ``since``; None
        when the journal does not cover every generation since (one written
        before the store had this journal: check every article)."""
        table = t_feed_changed_articles
        with self._guard("cannot read the change journal"), self._engine.connect() as conn:
            now = int(conn.execute(select(t_feed_generation.c.generation)).scalar() or 0)
            if now < since:
                return None
            rows = conn.execute(
                select(table.c.generation, table.c.article_id).where(
                    table.c.generation > since, table.c.generation <= now
                )
            ).all()
        # Every generation writes at least one article, so each has rows.
        if len({r.generation for r in rows}) != now - since:
            return None
        return frozenset(r.article_id for r in rows)

    def tag_counts(self, keys: Sequence[str]) -> list[tuple[Tag, int]]:
        """Those tags (unknown keys left out) with their article counts."""
        count = func.count(t_article_tags.c.article_id)
        found: list[tuple[Tag, int]] = []
        with self._guard("cannot read tags"), self._engine.connect() as conn:
            for chunk in chunks(list(keys), IN_CHUNK):
                query = (
                    select(t_tags.c.key, t_tags.c.name, t_tags.c.slug, count)
                    .select_from(
                        t_tags.outerjoin(t_article_tags, t_article_tags.c.tag_key == t_tags.c.key)
                    )
                    .where(t_tags.c.key.in_(chunk))
                    .group_by(t_tags.c.key, t_tags.c.name, t_tags.c.slug)
                )
                found += [(Tag(r.key, r.name, r.slug), int(r[3])) for r in conn.execute(query)]
        return sorted(found, key=lambda pair: pair[0].slug)
