"""index.html: right to left, with autodiscovery links."""

from __future__ import annotations

import lxml.html

from feedpub.config import FeedsConfig
from feedpub.feeds.incremental import RenderedTree
from feedpub.feeds.urls import public_url
from support.feedfactory import (
    FEEDS_URL,
)


def test_index_page_is_right_to_left_with_autodiscovery(
    cfg: FeedsConfig, tree: RenderedTree
) -> None:
    page = lxml.html.fromstring(tree.files["index.html"] or b"")
    assert page.get("lang") == "ar" and page.get("dir") == "rtl"
    discovery = page.findall("head/link[@rel='alternate']")
    assert [(link.get("type"), link.get("href")) for link in discovery] == [
        ("application/atom+xml", f"{FEEDS_URL}/atom.xml"),
        ("application/rss+xml", f"{FEEDS_URL}/rss.xml"),
        ("application/feed+json", f"{FEEDS_URL}/feed.json"),
    ]
    assert all(link.get("title") for link in discovery)
    hrefs = {a.get("href") for a in page.iter("a")}
    for path in tree.files:
        if path.endswith((".xml", ".json", ".opml")):
            assert public_url(FEEDS_URL, path) in hrefs, path
    # Mixed-direction tag names are isolated so "C++" does not render "++C".
    assert "C++ / .NET" in [b.text for b in page.iter("bdi")]
