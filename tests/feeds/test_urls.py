"""Paths and public URLs: percent-encoded UTF-8, uppercase hex, ASCII only."""

from __future__ import annotations

import dataclasses
import json
import re

import feedparser
import lxml.html
from lxml import etree

from feedpub.config import FeedsConfig
from feedpub.feeds.incremental import RenderedTree
from feedpub.feeds.urls import feed_urls, public_url
from feedpub.text.uri import iri_to_uri
from support.feedfactory import (
    FEEDS_URL,
    plan_for,
    render,
    sample_articles,
)

A = "{http://www.w3.org/2005/Atom}"
# Percent-encoding must be uppercase: the canonical form validators want.
LOWER_ESCAPE = re.compile(r"%[0-9a-f][a-f]|%[a-f][0-9a-f]")


def _xml(data: bytes | None) -> etree._Element:
    assert data is not None
    return etree.fromstring(data)


def test_arabic_paths_are_percent_encoded_in_uppercase(
    cfg: FeedsConfig, tree: RenderedTree
) -> None:
    url = public_url(FEEDS_URL, "tag/بوتين/atom.xml")
    assert url == f"{FEEDS_URL}/tag/%D8%A8%D9%88%D8%AA%D9%8A%D9%86/atom.xml"
    assert iri_to_uri("https://x.org/a%d8%b3 b?q=ب#ت") == (
        "https://x.org/a%D8%B3%20b?q=%D8%A8#%D8%AA"
    )
    assert iri_to_uri("https://x.org/100%") == "https://x.org/100%25"


URL_ATTRS = ("href", "url", "xmlUrl", "htmlUrl")


def test_no_link_or_id_anywhere_holds_raw_non_ascii(tree: RenderedTree) -> None:
    for path, data in tree.files.items():
        assert data is not None
        if path.endswith(".json"):
            doc = json.loads(data)
            values = [doc["feed_url"], doc["home_page_url"]] + [
                v for item in doc["items"] for k, v in item.items() if k in ("id", "url", "image")
            ]
        elif path == "style.css":
            continue  # no URL in it: it fetches nothing
        elif path.endswith(".html"):
            root = lxml.html.fromstring(data)
            values = [el.get("href") for el in root.iter() if el.get("href")]
        else:
            root = etree.fromstring(data)
            values = [el.get(a) for el in root.iter() for a in URL_ATTRS if el.get(a)]
            values += [
                el.text
                for el in root.iter(f"{A}id", "guid", "link", f"{A}link")
                if el.text and el.text.strip()
            ]
        assert values, path
        for value in values:
            assert value.isascii(), (path, value)
            assert not LOWER_ESCAPE.search(value), (path, value)


def test_a_feeds_url_with_arabic_in_it_gives_percent_encoded_links(cfg: FeedsConfig) -> None:
    arabic = dataclasses.replace(cfg, url="https://news.example.org/خلاصات")
    tree = render(plan_for(sample_articles()), arabic)
    base = "https://news.example.org/%D8%AE%D9%84%D8%A7%D8%B5%D8%A7%D8%AA"
    for path in ("atom.xml", "tag/بوتين/rss.xml"):
        parsed = feedparser.parse(tree.files[path])
        assert parsed.bozo == 0
        (self_link,) = [link.href for link in parsed.feed.links if link.rel == "self"]
        assert self_link.startswith(base + "/") and self_link.isascii()
    assert _xml(tree.files["atom.xml"]).findtext(f"{A}id") == f"{base}/atom.xml"
    assert json.loads(tree.files["feed.json"] or b"")["feed_url"] == f"{base}/feed.json"
    opml_urls = [o.get("xmlUrl") for o in _xml(tree.files["feeds.opml"]).iter("outline")]
    assert opml_urls and all(str(u).startswith(base + "/") for u in opml_urls)


def test_feed_urls_names_live_feed_documents_only(cfg: FeedsConfig) -> None:
    paths = ["atom.xml", "tag/x/rss.xml", "feeds.opml", "index.html", "feed-archive/1/atom.xml"]
    assert feed_urls(FEEDS_URL, paths) == [f"{FEEDS_URL}/atom.xml", f"{FEEDS_URL}/tag/x/rss.xml"]
