"""RFC 5005 archive pages of the main feed."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import feedparser
import pytest
from lxml import etree

from feedpub.config import FeedsConfig
from feedpub.feeds import build
from feedpub.feeds.select import ArchivePage
from feedpub.model import Article, Tag
from support.feedfactory import (
    FEEDS_URL,
    SITE,
    article,
    plan_for,
    render,
    sample_articles,
)

A = "{http://www.w3.org/2005/Atom}"
FH = "{http://purl.org/syndication/history/1.0}"


def _xml(data: bytes | None) -> etree._Element:
    assert data is not None
    return etree.fromstring(data)


def _links(feed: etree._Element, tag: str) -> dict[str, str]:
    """Feed-level links (not the entries')."""
    return {link.get("rel", ""): link.get("href", "") for link in feed.findall(tag)}


def test_main_feed_points_to_the_newest_archive_page(cfg: FeedsConfig) -> None:
    plan = dataclasses.replace(plan_for(sample_articles()), archive_pages=3)
    tree = render(plan, cfg)
    atom = _links(_xml(tree.files["atom.xml"]), f"{A}link")
    assert atom["prev-archive"] == f"{FEEDS_URL}/feed-archive/3/atom.xml"
    channel = _xml(tree.files["rss.xml"]).find("channel")
    assert channel is not None
    rss = _links(channel, f"{A}link")
    assert rss["prev-archive"] == f"{FEEDS_URL}/feed-archive/3/rss.xml"
    assert "prev-archive" not in _links(_xml(tree.files["tag/بوتين/atom.xml"]), f"{A}link")


@pytest.mark.parametrize(
    ("index", "rels"),
    [
        (1, {"self", "alternate", "current", "next-archive"}),
        (2, {"self", "alternate", "current", "prev-archive", "next-archive"}),
        (3, {"self", "alternate", "current", "prev-archive"}),
    ],
)
def test_archive_pages_chain_and_are_marked_archived(
    cfg: FeedsConfig, index: int, rels: set[str]
) -> None:
    page = ArchivePage(index=index, articles=tuple(reversed([article(i) for i in range(3)])))
    files = build.render_archive_page(page, 3, cfg, SITE)
    assert set(files) == {f"feed-archive/{index}/atom.xml", f"feed-archive/{index}/rss.xml"}
    atom = _xml(files[f"feed-archive/{index}/atom.xml"])
    assert atom.find(f"{FH}archive") is not None
    links = _links(atom, f"{A}link")
    assert set(links) == rels
    assert links["current"] == f"{FEEDS_URL}/atom.xml"
    if "next-archive" in links:
        assert links["next-archive"] == f"{FEEDS_URL}/feed-archive/{index + 1}/atom.xml"
    rss = _xml(files[f"feed-archive/{index}/rss.xml"])
    channel = rss.find("channel")
    assert channel is not None and channel.find(f"{FH}archive") is not None
    assert set(_links(channel, f"{A}link")) == rels - {"alternate"}
    assert "hub" not in links  # archives never change: nothing to subscribe to
    for data in files.values():
        assert feedparser.parse(data).bozo == 0


def test_archive_pages_whose_articles_did_not_change_are_not_rendered_again(
    cfg: FeedsConfig,
) -> None:
    edits: dict[int, Article] = {}

    def load(index: int) -> ArchivePage:
        return ArchivePage(index=index, articles=(edits.get(index, article(index)),))

    first = build.render_archive(2, cfg, SITE, load)
    assert len(first.rendered) == 4
    again = build.render_archive(2, cfg, SITE, load, first.fingerprints)
    assert again.rendered == ()
    grown = build.render_archive(3, cfg, SITE, load, first.fingerprints)
    # page 2 gains its next-archive link, page 3 is new, page 1 is untouched
    assert {p.split("/")[1] for p in grown.rendered} == {"2", "3"}


@pytest.mark.parametrize(
    "edit",
    [
        {"title": "عنوان معدل", "content_hash": "hash1-v2"},
        {"tags": (Tag(key="رياضة", name="رياضة", slug="رياضة"),)},
        {"updated": article(1).updated + timedelta(hours=1)},
    ],
    ids=["edited", "re-tagged", "updated"],
)
def test_a_changed_article_on_an_archive_page_re_renders_that_page_only(
    cfg: FeedsConfig, edit: dict[str, Any]
) -> None:
    edits: dict[int, Article] = {}

    def load(index: int) -> ArchivePage:
        return ArchivePage(index=index, articles=(edits.get(index, article(index)),))

    first = build.render_archive(2, cfg, SITE, load)
    edits[1] = dataclasses.replace(article(1), **edit)
    again = build.render_archive(2, cfg, SITE, load, first.fingerprints)
    assert sorted(again.rendered) == ["feed-archive/1/atom.xml", "feed-archive/1/rss.xml"]
    assert (
        again.files["feed-archive/1/atom.xml"]
        == build.render_archive(2, cfg, SITE, load).files["feed-archive/1/atom.xml"]
    )


def test_a_new_archive_page_size_rewrites_every_archive_page(cfg: FeedsConfig) -> None:
    """Pages are cut by position from the oldest article: with another size
    page 1 holds other articles, so no page may be kept."""
    loaded: list[int] = []

    def load(index: int) -> ArchivePage:
        loaded.append(index)
        return ArchivePage(index=index, articles=(article(index),))

    first = build.render_archive(2, cfg, SITE, load)
    resized = dataclasses.replace(cfg, archive_page_size=7)
    loaded.clear()
    again = build.render_archive(2, resized, SITE, load, first.fingerprints)
    assert loaded == [1, 2]
    assert set(again.rendered) == set(first.files)
