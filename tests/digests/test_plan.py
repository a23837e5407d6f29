"""Planning a digest edition: its identity (digest, slot), what it holds,
only_if_new and the preview; the planner is handed a DigestConfig and the
site's time zone, nothing else."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from lxml import html as lxml_html

from feedpub.config import EmailConfig
from feedpub.digests import Site, edition_record, plan_edition, preview_edition, render_edition
from feedpub.digests.plan import edition_articles
from feedpub.digests.render import NOTHING_NEW, RECIPIENT_RESERVE
from feedpub.model import Article
from feedpub.text.arabic import tag_key
from feedpub.text.rtl import RLM
from support.digest_fixtures import (
    DAILY,
    DAMASCUS,
    EMAIL,
    EVENING,
    NOW,
    SLOT,
    FakeStore,
    articles,
    big_articles,
    make_site,
)
from support.digest_render import VALUES, email_doc, rendered_demo


def test_edition_articles_ask_for_the_digest_tags_by_key() -> None:
    # Each tag once, by its matching key, with the digest's cap; the first
    # edition reaches back first_lookback.
    asked: list[tuple[object, ...]] = []

    class Reader(FakeStore):
        def articles_for_edition(  # type: ignore[no-untyped-def]
            self, until, seen_until, *, published_after, seen_after=None, tag_keys=(), limit=None
        ):
            asked.append((until, seen_until, published_after, seen_after, tuple(tag_keys), limit))
            return []

    digest = dataclasses.replace(EVENING, tags=("روسيا", "روسيا", "الأسد"), max_items=7)
    assert edition_articles(Reader(), digest, SLOT, NOW, []) == []
    keys = (tag_key("روسيا"), tag_key("الأسد"))
    assert asked == [(SLOT, NOW, SLOT - EVENING.first_lookback, None, keys, 7)]


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return make_site(tmp_path)


# --- planning ------------------------------------------------------------------


def test_first_edition_reaches_back_first_lookback(site: Site) -> None:
    old = dataclasses.replace(articles()[0], id="old", published=SLOT - timedelta(hours=25))
    planned = plan_edition(FakeStore([*articles(), old]), DAILY, NOW, tz=DAMASCUS)
    assert planned is not None
    assert planned.slot == SLOT
    assert planned.after == SLOT - timedelta(hours=24)
    assert planned.article_ids == ("a1", "a2", "a3", "a4", "a5")  # newest first, not "old"


def test_articles_after_the_slot_wait_for_the_next_edition(site: Site) -> None:
    late = dataclasses.replace(articles()[0], id="late", published=SLOT + timedelta(minutes=10))
    planned = plan_edition(FakeStore([*articles(), late]), DAILY, NOW, tz=DAMASCUS)
    assert planned is not None
    assert "late" not in planned.article_ids


def test_only_if_new_and_nothing_new_gives_none(site: Site) -> None:
    assert plan_edition(FakeStore([]), DAILY, NOW, tz=DAMASCUS) is None


def test_without_only_if_new_an_empty_edition_says_there_is_nothing_new(site: Site) -> None:
    daily = dataclasses.replace(DAILY, only_if_new=False)
    planned = plan_edition(FakeStore([]), daily, NOW, tz=DAMASCUS)
    assert planned is not None and planned.articles == ()
    rendered = render_edition(planned, site, EMAIL)
    assert rendered.articles == () and rendered.dropped == 0
    assert "<h2" not in rendered.html.fill(VALUES)
    notice = NOTHING_NEW
    doc = email_doc(rendered)
    assert [p.text_content() for p in doc.xpath("//td[@class='empty']/p")] == [notice]
    preheader = doc.xpath("//div[contains(@class, 'preheader')]")[0]
    assert preheader.text_content() == notice
    assert f"\n{RLM}{notice}\n" in rendered.text.fill(VALUES)
    archive = lxml_html.document_fromstring(rendered.archive_html)
    assert [p.text_content() for p in archive.xpath("//section[@class='empty']/p")] == [notice]


def test_the_nothing_new_notice_is_only_for_an_empty_edition(tmp_path: Path) -> None:
    # An edition whose articles were all left out for size says how many are
    # on the site instead; one with articles says neither.
    assert NOTHING_NEW not in rendered_demo(make_site(tmp_path)).html.fill(VALUES)
    tiny = dataclasses.replace(EMAIL, max_html_bytes=8_600)
    rendered = rendered_demo(make_site(tmp_path), big_articles(3), tiny)
    assert rendered.articles == () and rendered.dropped == 3
    for page in (rendered.html.fill(VALUES), rendered.text.fill(VALUES), rendered.archive_html):
        assert NOTHING_NEW not in page
        assert "على الموقع" in page


def test_max_items_caps_newest_first(site: Site) -> None:
    daily = dataclasses.replace(DAILY, max_items=2)
    planned = plan_edition(FakeStore(articles()), daily, NOW, tz=DAMASCUS)
    assert planned is not None and planned.article_ids == ("a1", "a2")


def test_same_slot_twice_makes_one_edition(site: Site) -> None:
    store = FakeStore(articles())
    daily = DAILY
    planned = plan_edition(store, daily, NOW, tz=DAMASCUS)
    assert planned is not None
    edition = edition_record(planned, render_edition(planned, site, EMAIL), NOW)
    assert store.add_edition(edition)
    # The same run again, and a later run still inside the same slot.
    assert plan_edition(store, daily, NOW, tz=DAMASCUS) is None
    assert plan_edition(store, daily, NOW + timedelta(hours=20), tz=DAMASCUS) is None
    assert len(store.editions("daily")) == 1


def test_next_slot_picks_only_newer_articles(site: Site) -> None:
    store = FakeStore(articles())
    daily = DAILY
    first = plan_edition(store, daily, NOW, tz=DAMASCUS)
    assert first is not None
    store.add_edition(edition_record(first, render_edition(first, site, EMAIL), NOW))

    next_slot = SLOT + timedelta(days=1)
    # two new stories for tomorrow
    store.stored.extend(dataclasses.replace(a, id=f"new-{a.id}") for a in articles(next_slot)[:2])
    second = plan_edition(store, daily, NOW + timedelta(days=1), tz=DAMASCUS)
    assert second is not None
    assert second.slot == next_slot
    assert second.after == SLOT
    assert second.article_ids == ("new-a1", "new-a2")


def test_edition_record_holds_what_the_email_holds(site: Site) -> None:
    planned = plan_edition(FakeStore(articles()), DAILY, NOW, tz=DAMASCUS)
    assert planned is not None
    rendered = render_edition(planned, site, EMAIL)
    edition = edition_record(planned, rendered, NOW)
    assert (edition.digest, edition.slot, edition.created) == ("daily", SLOT, NOW)
    assert edition.article_ids == planned.article_ids
    assert edition.dropped == 0


def test_tagged_digest_selects_its_tags_only(site: Site) -> None:
    planned = plan_edition(FakeStore(articles()), EVENING, NOW, tz=DAMASCUS)
    assert planned is not None
    assert planned.article_ids == ("a1",)  # the only story tagged روسيا


def test_preview_shows_the_coming_slot_when_the_current_one_is_done(site: Site) -> None:
    store = FakeStore(articles())
    daily = DAILY
    first = plan_edition(store, daily, NOW, tz=DAMASCUS)
    assert first is not None
    store.add_edition(edition_record(first, render_edition(first, site, EMAIL), NOW))
    fresh = dataclasses.replace(articles()[0], id="fresh", published=NOW - timedelta(minutes=5))
    store.stored.append(fresh)
    preview = preview_edition(store, daily, NOW, tz=DAMASCUS)
    assert preview.slot == SLOT + timedelta(days=1)
    assert preview.article_ids == ("fresh",)
    assert store.editions("daily") == [store.recorded[0]]  # nothing recorded


# --- what the size guard left out ----------------------------------------------


def heavy_first(slot: datetime) -> list[Article]:
    """The demo stories before ``slot``, the top two made heavy (long title and
    summary), ids prefixed by the slot's day so editions do not share them."""
    padded = " ".join(["تطورات"] * 200)
    made = []
    for index, story in enumerate(articles(slot)):
        story = dataclasses.replace(story, id=f"{slot.day}-{story.id}", image=None)
        if index < 2:
            story = dataclasses.replace(story, title=padded[:290], summary=padded)
        made.append(story)
    return made


def tight_email(site: Site, store: FakeStore) -> EmailConfig:
    """An EmailConfig whose limit fits the light demo stories of the edition
    due at NOW but not its two heavy ones."""
    planned = plan_edition(store, DAILY, NOW, tz=DAMASCUS)
    assert planned is not None
    light = dataclasses.replace(planned, articles=planned.articles[2:])
    size = render_edition(light, site, EMAIL).html_bytes
    return dataclasses.replace(EMAIL, max_html_bytes=size + RECIPIENT_RESERVE + 600)


def test_left_out_articles_come_in_the_next_edition(site: Site) -> None:
    store = FakeStore(heavy_first(SLOT))
    email = tight_email(site, store)
    first = plan_edition(store, DAILY, NOW, tz=DAMASCUS)
    assert first is not None
    rendered = render_edition(first, site, email)
    edition = edition_record(first, rendered, NOW)
    # The record holds exactly what the email held; the two heavy ones are not in it.
    assert edition.article_ids == tuple(a.id for a in rendered.articles) == first.article_ids[2:]
    assert edition.dropped == 2
    store.add_edition(edition)

    tomorrow = SLOT + timedelta(days=1)
    store.stored.extend(articles(tomorrow)[:1])
    second = plan_edition(store, DAILY, NOW + timedelta(days=1), tz=DAMASCUS)
    assert second is not None
    # Tomorrow's news first, then yesterday's left-out ones, newest first.
    assert second.article_ids == ("a1", "28-a1", "28-a2")
    # A preview of that edition shows them too.
    preview = preview_edition(store, DAILY, NOW + timedelta(days=1), tz=DAMASCUS)
    assert preview.article_ids == second.article_ids


def test_left_out_articles_alone_make_an_edition(site: Site) -> None:
    # Nothing new since, but readers never had the left-out ones: only_if_new
    # still makes an edition of them.
    store = FakeStore(heavy_first(SLOT))
    email = tight_email(site, store)
    first = plan_edition(store, DAILY, NOW, tz=DAMASCUS)
    assert first is not None
    store.add_edition(edition_record(first, render_edition(first, site, email), NOW))
    second = plan_edition(store, DAILY, NOW + timedelta(days=1), tz=DAMASCUS)
    assert second is not None and second.article_ids == ("28-a1", "28-a2")


def test_left_out_articles_get_one_more_chance_only(site: Site) -> None:
    # Left out again in the next edition, they are not carried a third time:
    # an article too big for any email must not come back in every edition.
    store = FakeStore(heavy_first(SLOT))
    email = tight_email(site, store)
    first = plan_edition(store, DAILY, NOW, tz=DAMASCUS)
    assert first is not None
    store.add_edition(edition_record(first, render_edition(first, site, email), NOW))
    second = plan_edition(store, DAILY, NOW + timedelta(days=1), tz=DAMASCUS)
    assert second is not None and len(second.articles) == 2
    # Room for the email and its «more on the site» line, not for one story.
    bare = render_edition(dataclasses.replace(second, articles=()), site, EMAIL).html_bytes
    tiny = dataclasses.replace(EMAIL, max_html_bytes=bare + RECIPIENT_RESERVE + 600)
    rendered = render_edition(second, site, tiny)
    assert rendered.articles == () and rendered.dropped == 2
    store.add_edition(edition_record(second, rendered, NOW + timedelta(days=1)))
    assert plan_edition(store, DAILY, NOW + timedelta(days=2), tz=DAMASCUS) is None
    store.stored.extend(articles(SLOT + timedelta(days=2))[:1])
    third = plan_edition(store, DAILY, NOW + timedelta(days=2), tz=DAMASCUS)
    assert third is not None and third.article_ids == ("a1",)


# --- what readers have not been sent yet ------------------------------------------


def _seen(article: Article, published: datetime, first_seen: datetime, name: str) -> Article:
    return dataclasses.replace(article, id=name, published=published, first_seen=first_seen)


def _make(store: FakeStore, site: Site, now: datetime) -> tuple[str, ...]:
    """Plan and record the edition due at ``now`` (as ``digest`` does)."""
    planned = plan_edition(store, DAILY, now, tz=DAMASCUS)
    if planned is None:
        return ()
    store.add_edition(edition_record(planned, render_edition(planned, site, EMAIL), now))
    return planned.article_ids


def test_an_article_ingested_after_its_slots_edition_goes_in_the_next_one(site: Site) -> None:
    """Published 06:55, ingested 07:10, after the 07:00 edition was made at
    07:05: a window of publication times would skip it for good."""
    base = articles()[0]
    store = FakeStore([_seen(base, SLOT - timedelta(hours=2), SLOT - timedelta(hours=2), "early")])
    made = SLOT + timedelta(minutes=5)
    assert _make(store, site, made) == ("early",)
    late = _seen(base, SLOT - timedelta(minutes=5), SLOT + timedelta(minutes=10), "late")
    store.stored.append(late)
    assert _make(store, site, made + timedelta(minutes=30)) == ()  # same slot: no second edition
    assert _make(store, site, made + timedelta(days=1)) == ("late",)
    assert _make(store, site, made + timedelta(days=2)) == ()  # and never again


def test_a_late_batch_of_fifty_reaches_the_next_edition_as_any_burst_would(site: Site) -> None:
    """Fifty articles of the morning, all ingested after the 07:00 edition:
    the next edition holds the newest, up to max_items, as it would hold a
    burst of fifty fresh ones; none of them comes a second time."""
    base = articles()[0]
    store = FakeStore([_seen(base, SLOT - timedelta(hours=1), SLOT - timedelta(hours=1), "x")])
    made = SLOT + timedelta(minutes=1)
    _make(store, site, made)
    batch = [
        _seen(base, SLOT - timedelta(minutes=i + 1), SLOT + timedelta(hours=3), f"b{i:02d}")
        for i in range(50)
    ]
    store.stored.extend(batch)
    assert _make(store, site, made + timedelta(days=1)) == tuple(f"b{i:02d}" for i in range(15))
    assert _make(store, site, made + timedelta(days=2)) == ()


def test_an_edited_article_never_comes_twice(site: Site) -> None:
    base = articles()[0]
    store = FakeStore([_seen(base, SLOT - timedelta(hours=1), SLOT - timedelta(hours=1), "e")])
    assert _make(store, site, NOW) == ("e",)
    # The edit moves its publication time past the slot; it was first seen before.
    edited = dataclasses.replace(store.stored[0], title="معدّل", published=SLOT + timedelta(hours=3))
    store.stored[0] = edited
    assert _make(store, site, NOW + timedelta(days=1)) == ()
