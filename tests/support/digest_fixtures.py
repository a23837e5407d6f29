"""Shared by the digest tests: a config, Arabic articles, an in-memory store
fake and a fixed clock. (Not collected: the name does not start with test_.)"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from feedpub.config import Config, DigestConfig, EmailConfig, load_config
from feedpub.digests import Site
from feedpub.model import Article, Edition, Tag
from feedpub.text.arabic import make_tag

DAMASCUS = ZoneInfo("Asia/Damascus")
# 28 November 2026, 07:30 in Damascus (UTC+3): half an hour after the 07:00 slot.
NOW = datetime(2026, 11, 28, 7, 30, tzinfo=DAMASCUS)
SLOT = datetime(2026, 11, 28, 7, 0, tzinfo=DAMASCUS)

CONFIG_YAML = """\
site:
  title: "أخبار الشام"
  url: "https://news.example.org"
  description: "آخر أخبار سورية والمنطقة والعالم"
  language: ar
  timezone: Asia/Damascus
feeds:
  output: public
digests:
  - name: daily
    title: "النشرة اليومية"
    schedule: "0 7 * * *"
    subject: "{{ site_title }}: أهم الأخبار ليوم {{ date }}"
    from: "أخبار الشام <news@news.example.org>"
    reply_to: "editor@news.example.org"
    max_items: 15
    only_if_new: true
    first_lookback: 24h
  - name: evening
    title: "نشرة المساء"
    schedule: "0 7,19 * * *"
    subject: "{{ digest_title }} ({{ count }})"
    from: "news@news.example.org"
    tags: [روسيا]
email:
  postal_address: "أخبار الشام، شارع بغداد 12، دمشق، سورية"
  locale: ar_SY
  digits: arab
  unsubscribe_url: "https://news.example.org/unsubscribe/{list}/{token}"
  unsubscribe_mailto: "unsubscribe@news.example.org"
delivery:
  outbox: var/outbox
"""


def make_config(folder: Path, **email: object) -> Config:
    path = folder / "config.yaml"
    path.write_text(CONFIG_YAML, encoding="utf-8")
    cfg = load_config(path)
    if email:
        cfg = dataclasses.replace(cfg, email=dataclasses.replace(cfg.email, **email))
    return cfg


def tag(name: str) -> Tag:
    made = make_tag(name)
    assert made is not None
    return made


# (title, summary, tags, hours before the slot, image)
_STORIES: tuple[tuple[str, str, tuple[str, ...], float, str | None], ...] = (
    (
        "بوتين يستقبل الأسد في موسكو ويبحثان التعاون الاقتصادي",
        "استقبل الرئيس الروسي Vladimir Putin نظيره السوري في الكرملين، وبحث الجانبان "
        "توسيع التبادل التجاري وإعادة الإعمار، وفق ما نقلته وكالة TASS.",
        ("روسيا", "بوتين", "الأسد"),
        1.5,
        "/images/2026/11/kremlin.jpg",
    ),
    (
        "تراجع إصابات COVID-19 في دمشق للأسبوع الثالث",
        "قالت وزارة الصحة إن عدد الإصابات الجديدة بفيروس COVID-19 انخفض بنسبة 12% "
        "خلال الأسبوع الماضي، ودعت إلى استكمال التلقيح.",
        ("كورونا", "سوريا"),
        3,
        None,
    ),
    (
        "افتتاح طريق سريع بطول 150 كم بين حمص وطرطوس",
        "افتتحت وزارة النقل الطريق الجديد الذي يختصر زمن الرحلة إلى ساعة ونصف، "
        "وتفاصيل المشروع على الموقع https://transport.example.gov.sy/roads.",
        ("سوريا",),
        5,
        "https://cdn.example.org/roads/homs-tartus.jpg",
    ),
    (
        "مهرجان دمشق السينمائي يعلن برنامج دورته الجديدة",
        "يعرض المهرجان أكثر من 40 فيلماً من 18 دولة، بينها أفلام من إنتاج Netflix "
        "وBBC Films، وتقام العروض في دار الأوبرا.",
        (),
        8,
        None,
    ),
    (
        "ارتفاع أسعار الذهب في الأسواق المحلية",
        "سجل غرام الذهب عيار 21 ارتفاعاً جديداً صباح اليوم متأثراً بالأسعار العالمية.",
        ("سوريا",),
        20,
        None,
    ),
)


def articles(slot: datetime = SLOT) -> list[Article]:
    """The five demo stories, published 1.5 to 20 hours before ``slot``."""
    made = []
    for index, (title, summary, tags, hours, image) in enumerate(_STORIES, start=1):
        published = (slot - timedelta(hours=hours)).astimezone(UTC)
        made.append(
            Article(
                id=f"a{index}",
                title=title,
                summary=summary,
                content=f"<p>{summary}</p>",
                published=published,
                updated=published,
                url=f"/news/2026/11/{index}",
                image=image,
                tags=tuple(tag(name) for name in tags),
            )
        )
    return made


def big_articles(count: int, slot: datetime = SLOT, words: int = 300) -> list[Article]:
    """``count`` articles with long titles and summaries (cut by the digest to
    SUMMARY_CHARS), images and several tags: a heavy edition."""
    body = " ".join(["تطورات"] * words)
    made = []
    for index in range(count):
        published = (slot - timedelta(minutes=10 * (index + 1))).astimezone(UTC)
        made.append(
            Article(
                id=f"big{index:03d}",
                title=f"العنوان الطويل رقم {index} عن التطورات السياسية والاقتصادية في المنطقة",
                summary=body,
                content=f"<p>{body}</p>",
                published=published,
                updated=published,
                url=f"https://news.example.org/news/big/{index}",
                image=f"https://cdn.example.org/big/{index}.jpg",
                tags=(tag("سوريا"), tag("روسيا"), tag("بوتين")),
            )
        )
    return made


class FakeStore:
    """The in-memory stand-in for store.SqlStore: the reader protocols of
    feeds.select and digests, with the same ordering rules."""

    def __init__(self, stored: Sequence[Article] = ()) -> None:
        self.stored = list(stored)
        self.recorded: list[Edition] = []

    # select.ArticleReader
    def _newest_first(self, items: list[Article]) -> list[Article]:
        return sorted(items, key=lambda a: (a.published, a.id), reverse=True)

    def latest_articles(
        self, limit: int | None = None, tag_key: str | None = None, offset: int = 0
    ) -> list[Article]:
        items = [a for a in self.stored if tag_key is None or tag_key in {t.key for t in a.tags}]
        items = self._newest_first(items)[offset:]
        return items if limit is None else items[:limit]

    def latest_per_tag(self, limit: int) -> dict[str, list[Article]]:
        keys = {t.key for a in self.stored for t in a.tags}
        return {key: self.latest_articles(limit=limit, tag_key=key) for key in keys}

    def article_count(self) -> int:
        return len(self.stored)

    def tags(self) -> list[tuple[Tag, int]]:
        counts: dict[Tag, int] = {}
        for article in self.stored:
            for t in article.tags:
                counts[t] = counts.get(t, 0) + 1
        return sorted(counts.items())

    def page_versions(self) -> list[tuple[str, str, datetime, tuple[str, ...]]]:
        return [
            (a.id, a.content_hash, a.updated, tuple(sorted(t.key for t in a.tags)))
            for a in sorted(self.stored, key=lambda a: a.id)
            if not a.url
        ]

    def articles_by_ids(self, ids: Sequence[str]) -> list[Article]:
        by_id = {a.id: a for a in self.stored}
        return [by_id[i] for i in ids if i in by_id]

    def articles_between(
        self,
        after: datetime | None,
        until: datetime,
        tag_keys: Sequence[str] = (),
        limit: int | None = None,
    ) -> list[Article]:
        items = [
            a
            for a in self.stored
            if (after is None or a.published > after)
            and a.published <= until
            and (not tag_keys or {t.key for t in a.tags} & set(tag_keys))
        ]
        items = self._newest_first(items)
        return items if limit is None else items[:limit]

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
        def seen(a: Article) -> datetime:
            return a.first_seen or a.published  # as stored, first_seen is always set

        items = [
            a
            for a in self.stored
            if a.published <= until
            and seen(a) <= seen_until
            and (a.published > published_after or (seen_after and seen(a) > seen_after))
            and (not tag_keys or {t.key for t in a.tags} & set(tag_keys))
        ]
        items = self._newest_first(items)
        return items if limit is None else items[:limit]

    # digests.EditionReader / ArchiveReader
    def add_edition(self, edition: Edition) -> bool:
        if self.get_edition(edition.digest, edition.slot) is not None:
            return False
        self.recorded.append(edition)
        return True

    def get_edition(self, digest: str, slot: datetime) -> Edition | None:
        for edition in self.recorded:
            if edition.digest == digest and edition.slot == slot:
                return edition
        return None

    def last_edition(self, digest: str) -> Edition | None:
        mine = self.editions(digest)
        return mine[0] if mine else None

    def editions(self, digest: str) -> list[Edition]:
        return sorted(
            (e for e in self.recorded if e.digest == digest), key=lambda e: e.slot, reverse=True
        )


# The narrow inputs of the digests, built directly (tests/app/test_app.py checks
# they are what app makes of CONFIG_YAML): a renderer test needs no Config.
EMAIL = EmailConfig(
    postal_address="أخبار الشام، شارع بغداد 12، دمشق، سورية",
    locale="ar_SY",
    digits="arab",
    unsubscribe_url="https://news.example.org/unsubscribe/{list}/{token}",
    unsubscribe_mailto="unsubscribe@news.example.org",
    preferences_url="https://news.example.org/preferences/{token}",
)
DAILY = DigestConfig(
    name="daily",
    title="النشرة اليومية",
    schedule="0 7 * * *",
    subject="{{ site_title }}: أهم الأخبار ليوم {{ date }}",
    from_addr="أخبار الشام <news@news.example.org>",
    reply_to="editor@news.example.org",
    max_items=15,
    only_if_new=True,
    first_lookback=timedelta(hours=24),
)
EVENING = DigestConfig(
    name="evening",
    title="نشرة المساء",
    schedule="0 7,19 * * *",
    subject="{{ digest_title }} ({{ count }})",
    from_addr="news@news.example.org",
    tags=("روسيا",),
)


def make_site(folder: Path) -> Site:
    """The site of CONFIG_YAML, its public folder under ``folder``."""
    return Site(
        title="أخبار الشام",
        url="https://news.example.org",
        language="ar",
        timezone=DAMASCUS,
        domain="news.example.org",
        public_url="https://news.example.org",
        public_dir=folder / "public",
    )
