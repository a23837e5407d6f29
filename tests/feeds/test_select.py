"""Selection against a fake reader: which articles each feed and edition holds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from _digest_fixtures import FakeStore
from feedpub.config import Config, load_config
from feedpub.feeds import select
from feedpub.model import Article, Tag
from feedpub.text.arabic import make_tag

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


class RecordingStore(FakeStore):
    """The shared fake store, remembering what selection asked of it."""

    def __init__(self, stored: Sequence[Article] = ()) -> None:
        super().__init__(stored)
        self.calls: list[tuple[object, ...]] = []

    def articles_between(
        self,
        after: datetime | None,
        until: datetime,
        tag_keys: Sequence[str] = (),
        limit: int | None = None,
    ) -> list[Article]:
        self.calls.append(("between", after, until, tuple(tag_keys), limit))
        return super().articles_between(after, until, tag_keys, limit)


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    path = tmp_path / "config.yaml"
    path.write_text(
        'site:\n  title: "أخبار"\n  url: "https://news.example.org"\n'
        "feeds:\n  items: 3\n  min_items: 2\n  archive: true\n  archive_page_size: 2\n"
        'digests:\n  - name: daily\n    schedule: "0 7 * * *"\n    subject: "ن"\n'
        '    from: "a@news.example.org"\n    tags: ["بُوتـين", "روسيا"]\n    max_items: 4\n',
        encoding="utf-8",
    )
    return load_config(path)


RUSSIA, PUTIN, SPORT = tag("روسيا"), tag("بوتين"), tag("رياضة")


def test_feed_plan_caps_feeds_and_keeps_tags_with_enough_articles(cfg: Config) -> None:
    reader = RecordingStore(
        [article(n, RUSSIA, *([PUTIN] if n % 2 else [])) for n in range(6)]
        + [article(99, SPORT)]  # one sports article: below min_items
    )

    plan = select.feed_plan(reader, cfg.feeds, cfg.site.title)

    assert [a.id for a in plan.main.articles] == ["a99", "a5", "a4"]
    assert [(spec.path, len(spec.articles)) for spec in plan.tags] == [
        ("tag/بوتين", 3),
        ("tag/روسيا", 3),
    ]
    assert plan.tags[0].title == "أخبار: بوتين"
    # 7 articles, 3 in the current feed, pages of 2: two full archive pages
    assert plan.archive_pages == 2


def test_a_url_shared_by_two_articles_gives_one_entry_the_newest(cfg: Config) -> None:
    shared = "https://news.example.org/a/1"
    reader = RecordingStore([article(1, url=shared), article(2, url=shared), article(3)])

    plan = select.feed_plan(reader, cfg.feeds, cfg.site.title)

    assert [a.id for a in plan.main.articles] == ["a3", "a2"]


def test_archive_pages_count_from_the_oldest_so_new_articles_never_move_them() -> None:
    reader = RecordingStore([article(n) for n in range(5)])
    first = select.archive_page(reader, 1, 2)
    grown = RecordingStore([*reader.stored, article(50)])
    assert select.archive_page(grown, 1, 2) == first
    assert [a.id for a in first.articles] == ["a1", "a0"]
    with pytest.raises(ValueError, match="not full"):
        select.archive_page(reader, 4, 2)


def test_edition_articles_ask_for_the_digest_tags_by_key(cfg: Config) -> None:
    reader = RecordingStore([article(n, PUTIN) for n in range(6)] + [article(9, SPORT)])
    until = T0 + timedelta(days=1)

    chosen = select.edition_articles(reader, cfg.digest("daily"), T0, until)

    assert reader.calls == [("between", T0, until, (PUTIN.key, RUSSIA.key), 4)]
    assert [a.id for a in chosen] == ["a5", "a4", "a3", "a2"]
