"""Every document a build writes, through build.render_feeds: what all formats share
(each format, the archive, OPML and index.html have their own test files)."""

from __future__ import annotations

import html
import json
import re
from datetime import datetime
from pathlib import Path

import feedparser
import lxml.html
import pytest
from lxml import etree

from feedpub.config import FeedsConfig
from feedpub.feeds import entry as feed_entry
from feedpub.feeds.incremental import RenderedTree
from feedpub.feeds.select import FeedPlan, FeedSpec
from feedpub.feeds.site import SiteValues
from feedpub.feeds.urls import feed_paths, public_url
from feedpub.links import page_url
from feedpub.model import Article, Tag
from feedpub.text.uri import iri_to_uri
from support.feedfactory import (
    DOTNET,
    FEEDS_URL,
    POLITICS,
    PUTIN,
    SITE_URL,
    article,
    feeds_config,
    hostile,
    plan_for,
    render,
    sample_articles,
)

A = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
# Percent-encoding must be uppercase: the canonical form validators want.
LOWER_ESCAPE = re.compile(r"%[0-9a-f][a-f]|%[a-f][0-9a-f]")


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


FEED_DOCS = [
    (directory, fmt, tag)
    for directory, tag in [
        ("", None),
        ("tag/سياسة", POLITICS),
        ("tag/بوتين", PUTIN),
        ("tag/c-net", DOTNET),
    ]
    for fmt in ("atom", "rss", "json")
]


@pytest.mark.parametrize(("directory", "fmt", "tag"), FEED_DOCS)
def test_every_feed_parses_cleanly_with_expected_entries(
    cfg: FeedsConfig, tree: RenderedTree, directory: str, fmt: str, tag: Tag | None
) -> None:
    path = feed_paths(directory, [fmt])[fmt]
    self_url = public_url(FEEDS_URL, path)
    assert self_url.startswith(FEEDS_URL + "/")
    assert not LOWER_ESCAPE.search(self_url)
    if fmt == "json":  # feedparser 6.0 does not read JSON Feed: see test_jsonfeed.py
        doc = json.loads(tree.files[path] or b"")
        assert doc["feed_url"] == self_url and doc["language"] == "ar"
        ids = [item["id"] for item in doc["items"]]
        links = [item.get("url") for item in doc["items"]]
        dates = [item["date_published"] for item in doc["items"]]
        names = [item.get("tags", []) for item in doc["items"]]
    else:
        parsed = feedparser.parse(tree.files[path])
        assert parsed.bozo == 0, parsed.get("bozo_exception")
        assert parsed.feed.language == "ar"
        assert [link.href for link in parsed.feed.links if link.rel == "self"] == [self_url]
        ids = [e.id for e in parsed.entries]
        # alternate links as written (feedparser's e.link falls back on an Atom id)
        links = [
            next((x.href for x in e.get("links", []) if x.rel == "alternate"), None)
            for e in parsed.entries
        ]
        dates = [datetime(*e.published_parsed[:6]).isoformat() for e in parsed.entries]
        names = [[t.label or t.term for t in e.get("tags", [])] for e in parsed.entries]
    assert len(ids) == len(_expected_ids(tag)) == len(set(ids))
    # each entry links to its own article, one without a url to feedpub's page for it
    assert links == [
        iri_to_uri(a.url) if a.url else page_url(FEEDS_URL, a.id) for a in _expected_articles(tag)
    ]
    assert dates == sorted(dates, reverse=True), "newest first"
    if tag is not None:
        assert all(tag.name in entry_tags for entry_tags in names)


def test_categories_carry_slug_as_term_and_name_as_label(tree: RenderedTree) -> None:
    entry = _xml(tree.files["tag/c-net/atom.xml"]).find(f"{A}entry")
    assert entry is not None
    cats = [(c.get("term"), c.get("label")) for c in entry.findall(f"{A}category")]
    assert ("c-net", "C++ / .NET") in cats
    item = _xml(tree.files["tag/c-net/rss.xml"]).find("channel/item")
    assert item is not None
    assert "C++ / .NET" in [c.text for c in item.findall("category")]


def test_entry_html_is_wrapped_right_to_left(tree: RenderedTree) -> None:
    feed = _xml(tree.files["atom.xml"])
    for entry in feed.iter(f"{A}entry"):
        for name in ("content", "summary"):
            text = entry.findtext(f"{A}{name}") or ""
            assert text.startswith('<div dir="rtl" lang="ar">') and text.endswith("</div>")
    item = _xml(tree.files["rss.xml"]).find("channel/item")
    assert item is not None
    assert (item.findtext(f"{CONTENT}encoded") or "").startswith('<div dir="rtl" lang="ar">')
    # Mixed text is kept as written: no bidi controls inserted into it.
    title = feed.findtext(f"{A}entry/{A}title") or ""
    assert "Python 3.12" in title and not re.search("[\u200e\u200f\u202a-\u202e]", title)


def test_hostile_content_still_gives_well_formed_xml(cfg: FeedsConfig) -> None:
    bad = hostile(9, PUTIN)
    tree = render(plan_for([bad]), cfg)
    for path, data in tree.files.items():
        assert data is not None
        if path.endswith(".xml") or path.endswith(".opml"):
            etree.fromstring(data)  # raises on anything malformed
        assert b"\x01" not in data and b"\x08" not in data and b"\x0b" not in data
    entry = _xml(tree.files["atom.xml"]).find(f"{A}entry")
    assert entry is not None
    content = entry.findtext(f"{A}content") or ""
    assert "<p>]]></p><script>" in content  # kept verbatim as escaped text, not CDATA
    title = entry.find(f"{A}title")
    assert title is not None and title.get("type") == "html"  # "<" in it: see entry.py
    assert html.unescape(title.text or "") == "<b>عنوان</b> & ]]> C++ / .NET"
    # No url: a stable tag: URI with the id percent-encoded (slashes included).
    assert entry.findtext(f"{A}id") == (
        "tag:news.example.org,2026:article/id%20with%20spaces%2F..%2F9%3F%23"
    )
    parsed = feedparser.parse(tree.files["rss.xml"])
    assert parsed.bozo == 0
    assert parsed.entries[0].title_detail.type == "text/html"
    assert html.unescape(parsed.entries[0].title) == "<b>عنوان</b> & ]]> C++ / .NET"


def test_summary_only_when_full_content_is_off(tmp_path: Path) -> None:
    cfg = feeds_config(tmp_path / "public", full_content=False)
    tree = render(plan_for(sample_articles()), cfg)
    feed = _xml(tree.files["atom.xml"])
    for entry in feed.iter(f"{A}entry"):
        summary = entry.findtext(f"{A}summary")
        assert summary
        if entry.find(f"{A}link[@rel='alternate']") is not None:
            assert entry.find(f"{A}content") is None
        else:  # RFC 4287 4.1.1: no alternate link, so content it must have
            assert entry.findtext(f"{A}content") == summary
    assert b"content:encoded" not in (tree.files["rss.xml"] or b"")
    assert "نص الخبر" not in (tree.files["feed.json"] or b"").decode()


def test_an_article_without_url_links_to_its_own_page_not_the_home_page(
    tmp_path: Path,
) -> None:
    """Every url-less entry linking to the home page reads as the same story
    told several times; each links to the page feedpub publishes for it, and
    its id stays the tag: URI (not the page's URL: pages are ours, ids are
    the article's)."""
    for full_content in (True, False):
        cfg = feeds_config(tmp_path / str(full_content), full_content=full_content)
        no_url = [article(n, url=None, content_hash=f"n{n}") for n in (1, 2)]
        tree = render(plan_for(no_url), cfg)
        pages = [page_url(FEEDS_URL, "a2"), page_url(FEEDS_URL, "a1")]
        atom = feedparser.parse(tree.files["atom.xml"])
        rss = feedparser.parse(tree.files["rss.xml"])
        assert atom.bozo == 0 and rss.bozo == 0
        alternates = [
            [
                link.get("href")
                for link in entry.findall(f"{A}link")
                if link.get("rel") == "alternate"
            ]
            for entry in _xml(tree.files["atom.xml"]).iter(f"{A}entry")
        ]
        assert alternates == [[url] for url in pages]
        items = _xml(tree.files["rss.xml"]).findall("channel/item")
        assert [item.findtext("link") for item in items] == pages
        for item in items:
            assert (item.find(f"{CONTENT}encoded") is not None) == full_content
            assert item.find("guid") is not None and item.find("guid").get("isPermaLink") == "false"
        json_items = json.loads(tree.files["feed.json"] or b"")["items"]
        assert [item.get("url") for item in json_items] == pages
        assert [e.id for e in atom.entries] == [
            "tag:news.example.org,2026:article/a2",
            "tag:news.example.org,2026:article/a1",
        ]
        assert all(url != SITE_URL + "/" for url in pages)


def test_relative_links_in_content_point_at_the_site_not_the_feed(cfg: FeedsConfig) -> None:
    """Feeds are served from feeds.url (here /feeds): left relative, a link in
    an entry would resolve against the feed document, not the article."""
    content = (
        '<p><a href="/news/other/">a</a><img src="pic.jpg" alt="x">'
        '<a href="https://other.example/x?a=1&amp;b=2">b</a><a href="mailto:x@y.org">c</a>'
        '<a href="?p=2&amp;q=3">d</a></p>'
    )
    # No image of their own: it would be the first <img> (test_images.py).
    with_url = article(2, content=content, url=f"{SITE_URL}/news/one/", image=None)  # the newer
    without = article(1, content=content, url=None, image=None)
    tree = render(plan_for([with_url, without]), cfg)
    resolved = {}
    for entry in _xml(tree.files["atom.xml"]).iter(f"{A}entry"):
        fragment = lxml.html.fragment_fromstring(entry.findtext(f"{A}content") or "")
        resolved[entry.findtext(f"{A}id")] = [
            el.get("href") or el.get("src") for el in fragment.iter("a", "img")
        ]
    assert resolved[f"{SITE_URL}/news/one/"] == [
        f"{SITE_URL}/news/other/",
        f"{SITE_URL}/news/one/pic.jpg",
        "https://other.example/x?a=1&b=2",
        "mailto:x@y.org",
        f"{SITE_URL}/news/one/?p=2&q=3",
    ]
    assert resolved["tag:news.example.org,2026:article/a1"][:2] == [
        f"{SITE_URL}/news/other/",
        f"{SITE_URL}/pic.jpg",
    ]
    rss_html = _xml(tree.files["rss.xml"]).findtext(f"channel/item/{CONTENT}encoded") or ""
    json_html = json.loads(tree.files["feed.json"] or b"")["items"][0]["content_html"]
    for fragment in (rss_html, json_html):
        img = lxml.html.fragment_fromstring(fragment).find(".//img")
        assert img is not None and img.get("src") == f"{SITE_URL}/news/one/pic.jpg"


@pytest.mark.parametrize(
    ("formats", "names"),
    [
        (("atom",), {"atom.xml"}),
        (("rss", "json"), {"rss.xml", "feed.json"}),
        (("atom", "rss", "json"), {"atom.xml", "rss.xml", "feed.json"}),
    ],
)
def test_formats_choose_the_files_written(
    tmp_path: Path, formats: tuple[str, ...], names: set[str]
) -> None:
    cfg = feeds_config(tmp_path / "public", formats=formats)
    tree = render(plan_for(sample_articles()), cfg)
    pages = {"feeds.opml", "index.html", "style.css"}
    feed_files = {p.rsplit("/", 1)[-1] for p in tree.files} - pages
    assert feed_files == names
    outlines = _xml(tree.files["feeds.opml"]).findall("body/outline")
    assert len(outlines) == 4 * len(names)


def test_feed_updated_is_newest_entry_and_empty_feed_uses_fixed_epoch(cfg: FeedsConfig) -> None:
    empty = FeedPlan(main=FeedSpec(path="", title="أخبار المثال", articles=()), tags=())
    tree = render(empty, cfg)
    feed = _xml(tree.files["atom.xml"])
    assert feed.findtext(f"{A}updated") == "1970-01-01T00:00:00+00:00"
    assert feedparser.parse(tree.files["rss.xml"]).bozo == 0
    full = render(plan_for([article(1), article(7)]), cfg)
    assert _xml(full.files["atom.xml"]).findtext(f"{A}updated") == (article(7).updated.isoformat())


def test_hub_is_advertised_only_when_configured(tmp_path: Path, tree: RenderedTree) -> None:
    assert _xml(tree.files["atom.xml"]).find(f"{A}link[@rel='hub']") is not None
    plain = render(plan_for(sample_articles()), feeds_config(tmp_path / "p"))
    assert b'rel="hub"' not in (plain.files["atom.xml"] or b"")
    assert b'rel="hub"' not in (plain.files["rss.xml"] or b"")
    assert "hubs" not in json.loads(plain.files["feed.json"] or b"")


def test_an_article_is_prepared_once_per_build(
    cfg: FeedsConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = feed_entry.make_item

    def counting(article: Article, site: SiteValues) -> feed_entry.FeedItem:
        calls.append(article.id)
        return real(article, site)

    monkeypatch.setattr(feed_entry, "make_item", counting)
    # Documents render when written (here: when .files asks for them); these
    # feeds are one batch, and a batch prepares each article once.
    assert render(plan_for(sample_articles()), cfg).files
    assert sorted(calls) == sorted(a.id for a in sample_articles())


@pytest.mark.parametrize("slug", ["..", ".", ".hidden", "", "a\\b", "x\x00y"])
def test_a_hostile_slug_is_skipped_not_written(cfg: FeedsConfig, slug: str) -> None:
    evil = Tag(key="evil", name="evil", slug=slug)
    plan = plan_for([article(1, evil, POLITICS)])
    tree = render(plan, cfg)
    assert any("skipped" in note for note in tree.notes)
    assert all(".." not in p.split("/") and not p.startswith("/") for p in tree.files)
    assert "tag/سياسة/atom.xml" in tree.files


# --- RFC 5005 archive ---------------------------------------------------------
