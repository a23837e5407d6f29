"""Test factory for the feed tests: the feeds' narrow inputs (a FeedsConfig
and a FeedSite), a whole Config for the tests that go through app, and
Articles/FeedSpecs built directly (no store), including hostile ones."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from feedpub.config import (
    Config,
    DeliveryConfig,
    EmailConfig,
    FeedsConfig,
    IngestConfig,
    SiteConfig,
    StoreConfig,
    TagsConfig,
)
from feedpub.feeds import build
from feedpub.feeds.incremental import RenderedTree
from feedpub.feeds.select import FeedPlan, FeedSpec
from feedpub.feeds.site import FeedSite
from feedpub.model import Article, Tag

SITE_URL = "https://news.example.org"
FEEDS_URL = "https://news.example.org/feeds"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)

POLITICS = Tag(key="سياسة", name="سياسة", slug="سياسة")
PUTIN = Tag(key="بوتين", name="بوتين", slug="بوتين")
DOTNET = Tag(key="c++ / .net", name="C++ / .NET", slug="c-net")


SITE = FeedSite(
    title="أخبار المثال",
    url=SITE_URL,
    language="ar",
    description="آخر الأخبار من موقع المثال",
)


def feeds_config(output: Path = Path("public"), **feeds: Any) -> FeedsConfig:
    return FeedsConfig(output=output, url=FEEDS_URL, **feeds)


def make_config(output: Path, **feeds: Any) -> Config:
    """A whole Config (for tests that go through app) with the same site."""
    return Config(
        path=output.parent / "config.yaml",
        site=SiteConfig(
            title=SITE.title,
            url=SITE.url,
            language=SITE.language,
            timezone=ZoneInfo("Asia/Damascus"),
            description=SITE.description,
        ),
        store=StoreConfig(url="sqlite://"),
        sources=(),
        tags=TagsConfig(),
        ingest=IngestConfig(),
        feeds=feeds_config(output, **feeds),
        digests=(),
        email=EmailConfig(),
        delivery=DeliveryConfig(outbox=output.parent / "outbox"),
    )


def article(n: int, *tags: Tag, **fields: Any) -> Article:
    """Article ``n``: published n hours after T0 (so a higher n is newer)."""
    published = T0 + timedelta(hours=n)
    values: dict[str, Any] = {
        "id": f"a{n}",
        "title": f"خبر رقم {n} عن Python 3.12",
        "summary": f"ملخص الخبر {n}.",
        "content": f"<p>نص الخبر <b>{n}</b> مع English words.</p>",
        "published": published,
        "updated": published + timedelta(minutes=5),
        "author": "سارة",
        "url": f"{SITE_URL}/news/خبر-{n}/",
        "image": f"{SITE_URL}/img/{n}.jpg",
        "tags": tags,
        "content_hash": f"hash{n}",
    }
    values.update(fields)
    return Article(**values)


def hostile(n: int, *tags: Tag) -> Article:
    """Markup, CDATA terminators, script, control characters, no url."""
    return article(
        n,
        *tags,
        id=f"id with spaces/../{n}?#",
        title="<b>عنوان</b> & ]]> \x01 C++ / .NET",
        summary="ملخص <script>alert(1)</script> ]]> \x0b &amp;",
        content="<p>]]></p><script>alert('x')</script><p>a &lt; b\x08</p>",
        author=None,
        url=None,
        image=f"{SITE_URL}/img/صورة {n}.webp",
        content_hash=f"hostile{n}",
    )


def spec_for(
    tag: Tag | None, articles: list[Article], site_title: str = "أخبار المثال"
) -> FeedSpec:
    chosen = [a for a in articles if tag is None or tag in a.tags]
    chosen.sort(key=lambda a: (a.published, a.id), reverse=True)
    if tag is None:
        return FeedSpec(path="", title=site_title, articles=tuple(chosen))
    return FeedSpec(
        path=f"tag/{tag.slug}", title=f"{site_title}: {tag.name}", articles=tuple(chosen), tag=tag
    )


def plan_for(articles: list[Article], tags: list[Tag] | None = None, items: int = 20) -> FeedPlan:
    """A plan as select.feed_plan would make it: tag feeds sorted by slug."""
    if tags is None:
        tags = sorted({t for a in articles for t in a.tags}, key=lambda t: t.slug)
    main = spec_for(None, articles)
    tag_specs = tuple(spec_for(t, articles) for t in tags)

    def cap(spec: FeedSpec) -> FeedSpec:
        return dataclasses.replace(spec, articles=spec.articles[:items])

    return FeedPlan(main=cap(main), tags=tuple(cap(s) for s in tag_specs))


def sample_articles() -> list[Article]:
    return [
        article(1, POLITICS),
        article(2, POLITICS, PUTIN),
        article(3, DOTNET, author=None),
        hostile(4, PUTIN, DOTNET),
        article(5, url=None, image=None),
    ]


def render(
    plan: FeedPlan, feeds: FeedsConfig, previous: Mapping[str, str] | None = None
) -> RenderedTree:
    """The feeds of ``plan`` for the test site, as build.render_feeds makes them."""
    return build.render_feeds(plan, feeds, SITE, previous)
