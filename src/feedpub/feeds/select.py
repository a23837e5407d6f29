"""Selection: which articles each feed holds.

The store is reached through ``FeedReader``, declared here beside its
consumer; ``store.SqlStore`` satisfies it and tests may pass a fake. The
digests select their editions themselves (digests never import feeds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from feedpub.config import FeedsConfig
from feedpub.model import Article, Tag


@dataclass(frozen=True)
class FeedSpec:
    """One feed to write: the main feed (``path`` "") or a tag's ("tag/<slug>").
    ``articles`` are newest first and already capped at ``feeds.items``."""

    path: str
    title: str
    articles: tuple[Article, ...]
    tag: Tag | None = None


@dataclass(frozen=True)
class ArchivePage:
    """One RFC 5005 archive page of the main feed: ``index`` 1 is the oldest.
    Only full pages are archived, so a page never changes once written."""

    index: int
    articles: tuple[Article, ...]  # newest first within the page


@dataclass(frozen=True)
class FeedPlan:
    """Every feed one build writes, selected from the store."""

    main: FeedSpec
    tags: tuple[FeedSpec, ...]
    # Number of full RFC 5005 archive pages (0 when archiving is off); pages are
    # loaded one at a time through ``archive_page`` to bound memory.
    archive_pages: int = 0


class FeedReader(Protocol):
    """What selection needs from a store. Datetimes are UTC-aware; lists are
    newest first (published desc, then id desc)."""

    def latest_articles(
        self,
        limit: int | None = None,
        tag_key: str | None = None,
        offset: int = 0,
        *,
        light: bool = False,
    ) -> list[Article]: ...

    def latest_per_tag(self, limit: int, *, light: bool = False) -> dict[str, list[Article]]:
        """Each tag key's newest ``limit`` articles, all tags in one call.
        ``light``: summary and content may be left empty when the content
        hash stands for them (load those with ``articles_by_ids``)."""
        ...

    def articles_by_ids(self, ids: Sequence[str]) -> list[Article]:
        """Whole articles, in the given order."""
        ...

    def article_count(self) -> int: ...

    def tags(self) -> list[tuple[Tag, int]]: ...

    def page_versions(
        self, ids: Sequence[str] | None = None
    ) -> list[tuple[str, str, datetime, tuple[str, ...]]]:
        """(id, content_hash, updated, tag keys) of every article without a
        URL (of ``ids`` only, when given)."""
        ...


class ChangeReader(Protocol):
    """The store's change journal (``store.SqlStore`` has it)."""

    def changed_tags(self, since: int) -> frozenset[str] | None:
        """Tag keys whose feeds changed after generation ``since`` ("" is the
        main feed's); None when that is not known (then build everything)."""
        ...

    def changed_articles(self, since: int) -> frozenset[str] | None:
        """Ids of the articles written after generation ``since``; None when
        that is not known (then every article page is checked)."""
        ...

    def tag_counts(self, keys: Sequence[str]) -> list[tuple[Tag, int]]:
        """Those tags with their article counts."""
        ...


def feed_plan(
    reader: FeedReader, feeds: FeedsConfig, site_title: str, *, light: bool = False
) -> FeedPlan:
    """The main feed (titled ``site_title``), one feed per tag with at least
    ``feeds.min_items`` articles (sorted by slug, so output order is stable),
    and the number of full archive pages when ``feeds.archive`` is on.
    ``light``: articles without summary and content where their hash
    stands for them (a builder with an entry cache prints few of them)."""
    items = feeds.items
    main = main_spec(reader, items, site_title, light=light)
    # One query for every tag feed, not one per tag (500 tags: 500 round trips).
    newest = reader.latest_per_tag(items, light=True) if light else reader.latest_per_tag(items)
    tag_feeds = tuple(
        tag_spec(tag, newest.get(tag.key, ()), site_title)
        for tag, count in sorted(reader.tags(), key=lambda pair: pair[0].slug)
        if count >= feeds.min_items
    )
    pages = 0
    if feeds.archive:
        # Everything older than the current feed's items, in full pages only.
        pages = max(0, reader.article_count() - items) // feeds.archive_page_size
    return FeedPlan(main=main, tags=tag_feeds, archive_pages=pages)


def main_spec(reader: FeedReader, items: int, site_title: str, *, light: bool = False) -> FeedSpec:
    # ``light`` passed only when asked for: a reader may not know the option.
    newest = (
        reader.latest_articles(limit=items, light=True)
        if light
        else reader.latest_articles(limit=items)
    )
    return FeedSpec(path="", title=site_title, articles=_one_per_url(newest))


def tag_spec(tag: Tag, newest: Sequence[Article], site_title: str) -> FeedSpec:
    """The feed of ``tag`` holding its ``newest`` articles (newest first)."""
    return FeedSpec(
        path=tag_path(tag),
        title=f"{site_title}: {tag.name}",
        articles=_one_per_url(newest),
        tag=tag,
    )


def tag_path(tag: Tag) -> str:
    return f"tag/{tag.slug}"


def _one_per_url(articles: Sequence[Article]) -> tuple[Article, ...]:
    """Newest first, keeping only the newest article per URL: a feed entry's
    id is its article's URL, and two entries with one id in a feed are a
    validator error and a duplicate in every reader (a page re-published
    under a new id keeps its URL)."""
    seen: set[str] = set()
    kept = []
    for article in articles:
        # The URL the entry id comes from (entry.entry_id): the first one.
        url = article.first_url if article.first_url is not None else article.url
        if url:
            if url in seen:
                continue
            seen.add(url)
        kept.append(article)
    return tuple(kept)


def archive_page(reader: FeedReader, index: int, page_size: int) -> ArchivePage:
    """Archive page ``index`` (1 = oldest): positions counted from the oldest
    article, so adding new articles never changes an existing page."""
    if index < 1:
        raise ValueError(f"archive pages count from 1, got {index}")
    total = reader.article_count()
    # newest-first offset of the page's newest article
    offset = total - index * page_size
    if offset < 0:
        raise ValueError(f"archive page {index} is not full ({total} articles)")
    return ArchivePage(
        index=index, articles=_one_per_url(reader.latest_articles(limit=page_size, offset=offset))
    )
