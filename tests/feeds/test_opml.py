"""feeds.opml: every feed written, OPML 2.0."""

from __future__ import annotations

from lxml import etree

from feedpub.config import FeedsConfig
from feedpub.feeds.incremental import RenderedTree
from feedpub.feeds.urls import public_url
from support.feedfactory import (
    FEEDS_URL,
)


def _xml(data: bytes | None) -> etree._Element:
    assert data is not None
    return etree.fromstring(data)


def test_opml_lists_every_feed_written(cfg: FeedsConfig, tree: RenderedTree) -> None:
    opml = _xml(tree.files["feeds.opml"])
    assert opml.get("version") == "2.0"
    assert opml.findtext("head/title") == "أخبار المثال"
    outlines = opml.findall("body/outline")
    feed_files = sorted(p for p in tree.files if p.endswith((".xml", ".json")))
    assert sorted(str(o.get("xmlUrl")) for o in outlines) == sorted(
        public_url(FEEDS_URL, p) for p in feed_files
    )
    for outline in outlines:
        assert outline.get("type") == "rss"
        assert outline.get("text")
        assert outline.get("title") == outline.get("text")
