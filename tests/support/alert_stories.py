"""Breaking-news articles for the alert tests: ``story`` makes one, tagged
«عاجل» and first seen at ``NOW`` unless told otherwise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from feedpub.model import Article
from support.digest_fixtures import DAMASCUS, tag

# Monday 30 November 2026, 10:02 in Damascus: a run right after an ingest.
NOW = datetime(2026, 11, 30, 10, 2, tzinfo=DAMASCUS)


def story(
    ident: str,
    *,
    tags: tuple[str, ...] = ("عاجل",),
    published: datetime = NOW - timedelta(minutes=2),
    seen: datetime = NOW,
    title: str = "انفجار في مستودع للوقود قرب ميناء اللاذقية",
) -> Article:
    return Article(
        id=ident,
        title=title,
        summary="أفاد مراسلنا بسماع دوي انفجار قوي في مستودع للوقود قرب ميناء اللاذقية، "
        "وهرعت فرق الإطفاء إلى المكان.",
        content="<p>تفاصيل الخبر.</p>",
        published=published.astimezone(UTC),
        updated=published.astimezone(UTC),
        url=f"https://news.example.org/news/{ident}",
        image="https://news.example.org/media/latakia-port.jpg",
        image_width=1200,
        image_height=675,
        tags=tuple(tag(name) for name in tags),
        first_seen=seen.astimezone(UTC),
    )
