"""The upsert rules as plain values: no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from feedpub.model import Article, Tag
from feedpub.store.decide import Decision, Stored, decide, kept_first_url, moved_forward

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=1)
ECONOMY = Tag("اقتصاد", "اقتصاد", "economy")
URL = "https://example.sy/1"


def incoming(**fields: object) -> Article:
    values: dict[str, object] = {
        "id": "a1",
        "title": "عنوان",
        "summary": "ملخص",
        "content": "<p>نص</p>",
        "published": T0,
        "updated": T0,
        "content_hash": "h1",
        "tags": (ECONOMY,),
        "url": URL,
    }
    values.update(fields)
    return Article(**values)  # type: ignore[arg-type]


def stored(**fields: object) -> Stored:
    values: dict[str, object] = {
        "content_hash": "h1",
        "updated": T0,
        "first_seen": T0 - timedelta(days=3),
        "tag_keys": frozenset({ECONOMY.key}),
        "first_url": URL,
    }
    values.update(fields)
    return Stored(**values)  # type: ignore[arg-type]


FIRST_SEEN = T0 - timedelta(days=3)


@pytest.mark.parametrize(
    ("article", "before", "expected"),
    [
        (incoming(), None, Decision("new", T0, NOW, URL)),
        (incoming(url=None), None, Decision("new", T0, NOW, "")),
        (incoming(), stored(), Decision("unchanged", T0, FIRST_SEEN, URL)),
        # A changed hash with a later source time takes the source time.
        (
            incoming(content_hash="h2", updated=T0 + timedelta(hours=1)),
            stored(),
            Decision("updated", T0 + timedelta(hours=1), FIRST_SEEN, URL),
        ),
        # ... with the same or an earlier source time moves to now.
        (incoming(content_hash="h2"), stored(), Decision("updated", NOW, FIRST_SEEN, URL)),
        (
            incoming(content_hash="h2", updated=T0 - timedelta(days=9)),
            stored(),
            Decision("updated", NOW, FIRST_SEEN, URL),
        ),
        # Same hash, other tag keys: a change too.
        (incoming(tags=()), stored(), Decision("updated", NOW, FIRST_SEEN, URL)),
        # A changed URL keeps the first one.
        (
            incoming(content_hash="h2", url="https://example.sy/moved"),
            stored(),
            Decision("updated", NOW, FIRST_SEEN, URL),
        ),
        # An article first stored without a URL keeps "" when it gains one:
        # its feed entry id (a tag: URI) must not change.
        (
            incoming(content_hash="h2"),
            stored(first_url=""),
            Decision("updated", NOW, FIRST_SEEN, ""),
        ),
        # A row stored before "" was written (None) had no URL either.
        (
            incoming(content_hash="h2"),
            stored(first_url=None),
            Decision("updated", NOW, FIRST_SEEN, ""),
        ),
        # Losing the URL keeps the first one too.
        (
            incoming(content_hash="h2", url=None),
            stored(),
            Decision("updated", NOW, FIRST_SEEN, URL),
        ),
    ],
    ids=[
        "new",
        "new-without-url",
        "unchanged",
        "updated-later-source-time",
        "updated-same-source-time",
        "updated-earlier-source-time",
        "updated-tags-only",
        "updated-url-changed",
        "updated-url-gained",
        "updated-url-gained-legacy-row",
        "updated-url-lost",
    ],
)
def test_decision(article: Article, before: Stored | None, expected: Decision) -> None:
    assert decide(article, before, NOW) == expected


@pytest.mark.parametrize(
    ("incoming_time", "stored_time", "expected"),
    [
        (T0 + timedelta(seconds=1), T0, T0 + timedelta(seconds=1)),
        (T0, T0, NOW),
        (T0 - timedelta(seconds=1), T0, NOW),
    ],
    ids=["later", "same", "earlier"],
)
def test_updated_only_moves_forward(
    incoming_time: datetime, stored_time: datetime, expected: datetime
) -> None:
    assert moved_forward(incoming_time, stored_time, NOW) == expected


@pytest.mark.parametrize(
    ("before", "now_url", "expected"),
    [(None, None, ""), (None, "b", ""), ("", "b", ""), ("a", "b", "a"), ("a", None, "a")],
    ids=["legacy-none", "legacy-gains", "none-gains", "changed", "lost"],
)
def test_first_url_is_fixed_at_first_sight(
    before: str | None, now_url: str | None, expected: str
) -> None:
    assert kept_first_url(before, now_url) == expected


def test_decision_as_stored_is_what_the_next_decision_compares_with() -> None:
    article = incoming(content_hash="h2", tags=())
    decision = decide(article, stored(), NOW)

    assert decide(article, decision.as_stored(article), NOW + timedelta(hours=1)).outcome == (
        "unchanged"
    )
