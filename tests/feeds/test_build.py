"""Atom, RSS, OPML and index.html as written by build.render_feeds (JSON Feed
specifics are in test_jsonfeed.py, the file tree in test_publish.py)."""

from __future__ import annotations

import dataclasses
import email.utils
import hashlib
import html
import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import feedparser
import lxml.html
import pytest
from lxml import etree

from feedfactory import (
    DOTNET,
    FEEDS_URL,
    POLITICS,
    PUTIN,
    SITE,
    SITE_URL,
    article,
    feeds_config,
    hostile,
    plan_for,
    render,
    sample_articles,
)
from feedpub.config import FeedsConfig
from feedpub.feeds import build
from feedpub.feeds import entry as feed_entry
from feedpub.feeds.incremental import RenderedTree
from feedpub.feeds.select import ArchivePage, FeedPlan, FeedSpec
from feedpub.feeds.site import SiteValues
from feedpub.feeds.urls import feed_paths, feed_urls, public_url
from feedpub.model import Article, Tag
from feedpub.text.uri import iri_to_uri

A = "{http://www.w3.org/2005/Atom}"
FH = "{http://purl.org/syndication/history/1.0}"
DC = "{http://purl.org/dc/elements/1.1/}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)$")
# Percent-encoding must be uppercase: the canonical form validators want.
LOWER_ESCAPE = re.compile(r"%[0-9a-f][a-f]|%[a-f][0-9a-f]")


@pytest.fixture
def cfg(tmp_path: Path) -> FeedsConfig:
    return feeds_config(tmp_path / "public", websub_hub="https://hub.example.org/")


@pytest.fixture
def tree(cfg: FeedsConfig) -> RenderedTree:
    return render(plan_for(sample_articles()), cfg)


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
    # each entry links to its own article, and one without a url links nowhere
    assert links == [iri_to_uri(a.url) if a.url else None for a in _expected_articles(tag)]
    assert dates == sorted(dates, reverse=True), "newest first"
    if tag is not None:
        assert all(tag.name in entry_tags for entry_tags in names)


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


def test_atom_has_every_element_rfc4287_requires(tree: RenderedTree) -> None:
    for path in ("atom.xml", "tag/بوتين/atom.xml"):
        feed = _xml(tree.files[path])
        assert feed.get("{http://www.w3.org/XML/1998/namespace}lang") == "ar"
        for name in ("id", "title", "updated"):
            assert feed.findtext(f"{A}{name}"), name
        assert feed.findtext(f"{A}author/{A}name") == "أخبار المثال"
        assert RFC3339.match(feed.findtext(f"{A}updated") or "")
        for entry in feed.iter(f"{A}entry"):
            for name in ("id", "title", "updated", "published"):
                assert entry.findtext(f"{A}{name}"), name
            assert RFC3339.match(entry.findtext(f"{A}updated") or "")
            assert RFC3339.match(entry.findtext(f"{A}published") or "")
            content = entry.find(f"{A}content")
            assert content is not None and content.get("type") == "html"  # not feedgen's CDATA
            generator = feed.find(f"{A}generator")
            assert generator is not None and generator.text == "feedpub"
            assert generator.get("version") is None


def test_feedgen_090_keeps_rel_type_and_length_on_atom_entry_links(tree: RenderedTree) -> None:
    """feedgen 1.0.0 drops them (lkiesow/python-feedgen#135, #143)."""
    feed = _xml(tree.files["atom.xml"])
    entries = list(feed.iter(f"{A}entry"))
    assert entries
    for entry in entries:
        links = entry.findall(f"{A}link")
        has_url = str(entry.findtext(f"{A}id")).startswith("https://")
        assert [link.get("rel") for link in links].count("alternate") == int(has_url)
        for link in links:
            assert link.get("rel") in ("alternate", "enclosure")
            if link.get("rel") == "enclosure":
                assert link.get("type", "").startswith("image/")
                assert link.get("length") == "0"
    assert sum(len(e.findall(f"{A}link[@rel='enclosure']")) for e in entries) == 4


def test_each_feed_has_its_own_atom_id_and_self_link(tree: RenderedTree) -> None:
    atom_paths = [p for p in tree.files if p.endswith("atom.xml")]
    ids = {_xml(tree.files[p]).findtext(f"{A}id") for p in atom_paths}
    assert len(ids) == len(atom_paths) == 4


@pytest.mark.parametrize(
    ("path", "home"),
    [("rss.xml", f"{SITE_URL}/"), ("tag/c-net/rss.xml", f"{SITE_URL}/tag/c-net/")],
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


def test_rss_items_have_rfc822_dates_guids_descriptions_and_one_enclosure(
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
        enclosures = item.findall("enclosure")
        assert len(enclosures) == (1 if source.image else 0)
        for enclosure in enclosures:
            assert {"url", "length", "type"} <= set(enclosure.keys())


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


def test_an_article_without_url_links_nowhere_rather_than_to_the_home_page(
    tmp_path: Path,
) -> None:
    """Every url-less entry linking to the home page reads as the same story
    told several times, and the home page is not the article."""
    for full_content in (True, False):
        cfg = feeds_config(tmp_path / str(full_content), full_content=full_content)
        no_url = [article(n, url=None, content_hash=f"n{n}") for n in (1, 2)]
        tree = render(plan_for(no_url), cfg)
        atom = feedparser.parse(tree.files["atom.xml"])
        rss = feedparser.parse(tree.files["rss.xml"])
        assert atom.bozo == 0 and rss.bozo == 0
        for entry in _xml(tree.files["atom.xml"]).iter(f"{A}entry"):
            assert entry.findall(f"{A}link") == [link for link in entry.findall(f"{A}link")
                if link.get("rel") == "enclosure"]  # fmt: skip
            assert (entry.findtext(f"{A}content") or "").startswith('<div dir="rtl"')
        items = _xml(tree.files["rss.xml"]).findall("channel/item")
        assert len(items) == 2
        for item in items:
            assert item.find("link") is None
            assert (item.find(f"{CONTENT}encoded") is not None) == full_content
        json_items = json.loads(tree.files["feed.json"] or b"")["items"]
        assert [item.get("url") for item in json_items] == [None, None]
        assert [e.id for e in atom.entries] == [
            "tag:news.example.org,2026:article/a2",
            "tag:news.example.org,2026:article/a1",
        ]


def test_relative_links_in_content_point_at_the_site_not_the_feed(cfg: FeedsConfig) -> None:
    """Feeds are served from feeds.url (here /feeds): left relative, a link in
    an entry would resolve against the feed document, not the article."""
    content = (
        '<p><a href="/news/other/">a</a><img src="pic.jpg" alt="x">'
        '<a href="https://other.example/x?a=1&amp;b=2">b</a><a href="mailto:x@y.org">c</a>'
        '<a href="?p=2&amp;q=3">d</a></p>'
    )
    with_url = article(2, content=content, url=f"{SITE_URL}/news/one/")  # the newer
    without = article(1, content=content, url=None)
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
    feed_files = {p.rsplit("/", 1)[-1] for p in tree.files} - {"feeds.opml", "index.html"}
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


def test_two_renders_are_byte_identical(cfg: FeedsConfig) -> None:
    first = render(plan_for(sample_articles()), cfg)
    second = render(plan_for(sample_articles()), cfg)
    assert first.files == second.files
    assert first.fingerprints == second.fingerprints


_DIGEST_SCRIPT = """
import hashlib, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from feedfactory import feeds_config, plan_for, render, sample_articles
tree = render(plan_for(sample_articles()), feeds_config(Path({out!r})))
h = hashlib.sha256()
for path in sorted(tree.files):
    h.update(path.encode() + tree.files[path])
print(h.hexdigest())
"""


def test_builds_on_other_machines_are_byte_identical(tmp_path: Path) -> None:
    """Another process with another time zone, locale and hash seed."""
    script = _DIGEST_SCRIPT.format(tests=str(Path(__file__).parents[1]), out=str(tmp_path / "p"))
    digests = set()
    for tz, seed in (("UTC", "1"), ("America/New_York", "2")):
        env = {**os.environ, "TZ": tz, "PYTHONHASHSEED": seed, "LC_ALL": "C.UTF-8"}
        run = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        digests.add(run.stdout.strip())
    tree = render(plan_for(sample_articles()), feeds_config(tmp_path / "p"))
    h = hashlib.sha256()
    for path in sorted(tree.files):
        h.update(path.encode() + (tree.files[path] or b""))
    digests.add(h.hexdigest())
    assert len(digests) == 1


def test_unchanged_feeds_are_not_rendered_again(cfg: FeedsConfig) -> None:
    articles = sample_articles()
    first = render(plan_for(articles), cfg)
    assert all(data is not None for data in first.files.values())
    same = render(plan_for(articles), cfg, first.fingerprints)
    assert same.rendered == ()
    assert same.fingerprints == first.fingerprints

    newer = [*articles, article(10, POLITICS)]
    after = render(plan_for(newer), cfg, first.fingerprints)
    assert set(after.rendered) == {
        f"{d}{name}" for d in ("", "tag/سياسة/") for name in ("atom.xml", "rss.xml", "feed.json")
    }

    edited = [dataclasses.replace(a, content_hash="new") if a.id == "a3" else a for a in articles]
    after_edit = render(plan_for(edited), cfg, first.fingerprints)
    assert {p.rsplit("/", 1)[0] for p in after_edit.rendered} == {"atom.xml", "rss.xml",
        "feed.json", "tag/c-net"}  # fmt: skip

    renamed = PUTIN.__class__(key=PUTIN.key, name="فلاديمير بوتين", slug=PUTIN.slug)
    retagged = [
        dataclasses.replace(a, tags=tuple(renamed if t == PUTIN else t for t in a.tags))
        for a in articles
    ]
    after_rename = render(plan_for(retagged), cfg, first.fingerprints)
    assert "feeds.opml" in after_rename.rendered  # the tag feed's title changed
    assert "tag/سياسة/atom.xml" in after_rename.rendered  # article 2's category label changed
    assert "tag/c-net/atom.xml" in after_rename.rendered  # article 4 has the tag as well


def test_an_article_is_prepared_once_per_build(
    cfg: FeedsConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = feed_entry.make_item

    def counting(article: Article, site: SiteValues) -> feed_entry.FeedItem:
        calls.append(article.id)
        return real(article, site)

    monkeypatch.setattr(feed_entry, "make_item", counting)
    render(plan_for(sample_articles()), cfg)
    assert sorted(calls) == sorted(a.id for a in sample_articles())


@pytest.mark.parametrize("slug", ["..", ".", ".hidden", "", "a\\b", "x\x00y"])
def test_a_hostile_slug_is_skipped_not_written(cfg: FeedsConfig, slug: str) -> None:
    evil = Tag(key="evil", name="evil", slug=slug)
    plan = plan_for([article(1, evil, POLITICS)])
    tree = render(plan, cfg)
    assert any("skipped" in note for note in tree.notes)
    assert all(".." not in p.split("/") and not p.startswith("/") for p in tree.files)
    assert "tag/سياسة/atom.xml" in tree.files


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


def test_feed_urls_names_live_feed_documents_only(cfg: FeedsConfig) -> None:
    paths = ["atom.xml", "tag/x/rss.xml", "feeds.opml", "index.html", "feed-archive/1/atom.xml"]
    assert feed_urls(FEEDS_URL, paths) == [f"{FEEDS_URL}/atom.xml", f"{FEEDS_URL}/tag/x/rss.xml"]


# --- RFC 5005 archive ---------------------------------------------------------


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


def test_archive_pages_already_written_are_not_loaded_again(cfg: FeedsConfig) -> None:
    loaded: list[int] = []

    def load(index: int) -> ArchivePage:
        loaded.append(index)
        return ArchivePage(index=index, articles=(article(index),))

    first = build.render_archive(2, cfg, SITE, load)
    assert loaded == [1, 2]
    loaded.clear()
    again = build.render_archive(2, cfg, SITE, load, first.fingerprints)
    assert loaded == [] and again.rendered == ()
    grown = build.render_archive(3, cfg, SITE, load, first.fingerprints)
    assert loaded == [2, 3]  # page 2 gains its next-archive link, page 1 is untouched
    assert "feed-archive/1/atom.xml" not in grown.rendered


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


def test_entry_dates_keep_their_zone(cfg: FeedsConfig) -> None:
    from zoneinfo import ZoneInfo

    local = datetime(2026, 3, 1, 10, 0, tzinfo=ZoneInfo("Asia/Damascus"))
    tree = render(plan_for([article(1, published=local, updated=local)]), cfg)
    entry = _xml(tree.files["atom.xml"]).find(f"{A}entry")
    assert entry is not None
    assert entry.findtext(f"{A}published") == "2026-03-01T10:00:00+03:00"
