"""Selection against a fake reader: which articles each feed holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feedpub.config import FeedsConfig
from feedpub.feeds import select
from feedpub.model import Article, Tag
from feedpub.text.arabic import make_tag
from support.digest_fixtures import FakeStore as FakeReader  # the in-memory store, its ordering

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def tag(name: str) -> Tag:
    made = make_tag(name)
    assert made is not None
    return made


def article(n: int, *tags: Tag, url: str | None = None) -> Article:
    when = T0 + timedelta(hours=n)
    return Article(
        id=f"a{n}", title=f"خبر {n}", summary="", content="", published=when, updated=when,
        url=url, tags=tags,
    )  # fmt: skip


FEEDS = FeedsConfig(
    output=Path("public"),
    url="https://news.example.org",
    items=3,
    min_items=2,
    archive=True,
    archive_page_size=2,
)


RUSSIA, PUTIN, SPORT = tag("روسيا"), tag("بوتين"), tag("رياضة")


def test_feed_plan_caps_feeds_and_keeps_tags_with_enough_articles() -> None:
    reader = FakeReader(
        [article(n, RUSSIA, *([PUTIN] if n % 2 else [])) for n in range(6)]
        + [article(99, SPORT)]  # one sports article: below min_items
    )

    plan = select.feed_plan(reader, FEEDS, "أخبار")

    assert [a.id for a in plan.main.articles] == ["a99", "a5", "a4"]
    assert [(spec.path, len(spec.articles)) for spec in plan.tags] == [
        ("tag/بوتين", 3),
        ("tag/روسيا", 3),
    ]
    assert plan.tags[0].title == "أخبار: بوتين"
    # 7 articles, 3 in the current feed, pages of 2: two full archive pages
    assert plan.archive_pages == 2


def test_a_url_shared_by_two_articles_gives_one_entry_the_newest() -> None:
    shared = "https://news.example.org/a/1"
    reader = FakeReader([article(1, url=shared), article(2, url=shared), article(3)])

    plan = select.feed_plan(reader, FEEDS, "أخبار")

    assert [a.id for a in plan.main.articles] == ["a3", "a2"]


def test_archive_pages_count_from_the_oldest_so_new_articles_never_move_them() -> None:
    reader = FakeReader([article(n) for n in range(5)])
    first = select.archive_page(reader, 1, 2)
    grown = FakeReader([*reader.stored, article(50)])
    assert select.archive_page(grown, 1, 2) == first
    assert [a.id for a in first.articles] == ["a1", "a0"]
    with pytest.raises(ValueError, match="not full"):
        select.archive_page(reader, 4, 2)
