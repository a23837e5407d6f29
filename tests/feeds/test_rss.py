"""RSS 2.0 documents (RSS Advisory Board profile) as the rss writer writes them."""

from __future__ import annotations

import email.utils

import pytest
from lxml import etree

from feedpub.feeds.incremental import RenderedTree
from feedpub.model import Article, Tag
from support.feedfactory import (
    FEEDS_URL,
    SITE_URL,
    plan_for,
    sample_articles,
)

A = "{http://www.w3.org/2005/Atom}"
DC = "{http://purl.org/dc/elements/1.1/}"
MEDIA = "{http://search.yahoo.com/mrss/}"


def _xml(data: bytes | None) -> etree._Element:
    assert data is not None
    return etree.fromstring(data)


def _expected_articles(tag: Tag | None) -> list[Article]:
    """The sample feed's articles for ``tag``, newest first."""
    plan = plan_for(sample_articles())
    spec = plan.main if tag is None else next(s for s in plan.tags if s.tag == tag)
    return list(spec.articles)


def _expected_ids(tag: Tag | None) -> list[str]:
    """Article ids of the sample feed for ``tag``, newest first."""
    return [a.id for a in _expected_articles(tag)]


@pytest.mark.parametrize(
    ("path", "home"),
    # A tag's feed mirrors its topic page, written beside it (topics.py).
    [("rss.xml", f"{SITE_URL}/"), ("tag/c-net/rss.xml", f"{FEEDS_URL}/tag/c-net/")],
)
def test_rss_channel_link_is_the_html_page_not_the_last_link_call(
    tree: RenderedTree, path: str, home: str
) -> None:
    channel = _xml(tree.files[path]).find("channel")
    assert channel is not None
    assert channel.findtext("link") == home
    atom_links = {link.get("rel"): link.get("href") for link in channel.findall(f"{A}link")}
    assert str(atom_links["self"]).endswith(path)
    assert atom_links["hub"] == "https://hub.example.org/"


def test_rss_items_have_rfc822_dates_guids_descriptions_and_media(
    tree: RenderedTree,
) -> None:
    channel = _xml(tree.files["rss.xml"]).find("channel")
    assert channel is not None
    by_id = {a.id: a for a in sample_articles()}
    newest = max(a.updated for a in sample_articles())
    assert email.utils.parsedate_to_datetime(channel.findtext("lastBuildDate") or "") == newest
    items = channel.findall("item")
    assert len(items) == len(by_id)
    for item, article_id in zip(items, _expected_ids(None), strict=True):
        source = by_id[article_id]
        assert email.utils.parsedate_to_datetime(item.findtext("pubDate") or "") == (
            source.published
        )
        guid = item.find("guid")
        assert guid is not None and guid.text
        assert guid.get("isPermaLink") == ("true" if source.url else "false")
        if source.url:
            assert guid.text == item.findtext("link")
        else:
            assert guid.text.startswith("tag:news.example.org,2026:article/")
        assert item.findtext("description")
        assert item.find("author") is None, "RSS <author> is an email address"
        assert item.findtext(f"{DC}creator") == (source.author or "أخبار المثال")
        # The sample images' sizes are unknown: Media RSS, no enclosure (test_images.py).
        assert item.find("enclosure") is None
        assert len(item.findall(f"{MEDIA}content")) == (1 if source.image else 0)
