"""Topic pages (feeds/topics.py): ``tag/<slug>/index.html`` beside each tag's
feeds, the page those feeds link home to; index.html links them and the
sign-up page; ``feeds.tag_page_url`` hands the job to the site's own pages.
The last test follows every home link and every page link of a real build."""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import html5lib
import lxml.html
import pytest
from lxml import etree

from feedpub import app as pipeline
from feedpub.config import Config, FeedsConfig
from feedpub.feeds.incremental import RenderedTree
from feedpub.feeds.urls import public_url
from feedpub.model import Article
from feedpub.store import SqlStore
from support.feedfactory import (
    DOTNET,
    FEEDS_URL,
    POLITICS,
    PUTIN,
    SITE_URL,
    article,
    feeds_config,
    make_config,
    plan_for,
    render,
    sample_articles,
)

NOW = datetime(2026, 4, 1, tzinfo=UTC)
A = "{http://www.w3.org/2005/Atom}"
TOPICS = {"tag/سياسة": POLITICS, "tag/بوتين": PUTIN, "tag/c-net": DOTNET}
FORMATS = [
    ("application/atom+xml", "atom.xml"),
    ("application/rss+xml", "rss.xml"),
    ("application/feed+json", "feed.json"),
]


def _page(tree: RenderedTree, path: str) -> lxml.html.HtmlElement:
    data = tree.files[path]
    assert data is not None
    html5lib.HTMLParser(strict=True).parse(data.decode("utf-8"))  # no parse error at all
    return lxml.html.document_fromstring(data)


def _feed_links(tree: RenderedTree, directory: str) -> list[str]:
    """The entry links of a feed, in its order."""
    feed = etree.fromstring(tree.files[f"{directory}/atom.xml"] or b"")
    return [str(e.find(f"{A}link[@rel='alternate']").get("href")) for e in feed.iter(f"{A}entry")]


@pytest.mark.parametrize("directory", sorted(TOPICS))
def test_each_tag_feed_has_a_right_to_left_topic_page_listing_its_articles(
    tree: RenderedTree, directory: str
) -> None:
    doc = _page(tree, f"{directory}/index.html")
    tag = TOPICS[directory]
    assert (doc.get("lang"), doc.get("dir")) == ("ar", "rtl")
    assert doc.find(".//h1").text_content() == tag.name
    assert doc.findtext(".//title") == f"{tag.name} - أخبار المثال"
    here = public_url(FEEDS_URL, directory) + "/"
    assert [x.get("href") for x in doc.findall(".//link[@rel='canonical']")] == [here]
    assert [x.get("href") for x in doc.findall(".//link[@rel='stylesheet']")] == [
        f"{FEEDS_URL}/style.css"
    ]
    # Its articles, as its feed holds them: same links, same order, a date each.
    listed = doc.cssselect("ul.articles > li")
    assert [li.find("a").get("href") for li in listed] == _feed_links(tree, directory)
    for li in listed:
        time = li.find("time")
        assert time is not None and time.text and datetime.fromisoformat(time.get("datetime"))
    # Its feeds, announced to browsers and readers, and linked for people.
    urls = [(t, public_url(FEEDS_URL, f"{directory}/{name}")) for t, name in FORMATS]
    discovery = doc.findall(".//head/link[@rel='alternate']")
    assert [(x.get("type"), x.get("href")) for x in discovery] == urls
    assert all(x.get("title") for x in discovery)
    assert [(a.get("type"), a.get("href")) for a in doc.cssselect(".formats a")] == urls
    hrefs = {a.get("href") for a in doc.iter("a")}
    assert {f"{SITE_URL}/subscribe", f"{FEEDS_URL}/index.html", f"{SITE_URL}/"} <= hrefs


def test_the_dates_are_the_sites_in_its_digits(cfg: FeedsConfig) -> None:
    tree = render(plan_for([article(1, PUTIN)]), cfg)
    (time,) = _page(tree, "tag/بوتين/index.html").iter("time")
    assert time.get("datetime") == "2026-03-01T09:00:00+00:00"
    assert time.text == "١ آذار ٢٠٢٦"


def test_the_feeds_of_a_tag_link_home_to_its_topic_page(tree: RenderedTree) -> None:
    for directory in TOPICS:
        page = public_url(FEEDS_URL, directory) + "/"
        atom = etree.fromstring(tree.files[f"{directory}/atom.xml"] or b"")
        alternate = atom.findall(f"{A}link[@rel='alternate']")
        assert [x.get("href") for x in alternate] == [page]
        rss = etree.fromstring(tree.files[f"{directory}/rss.xml"] or b"")
        assert rss.findtext("channel/link") == page
        assert json.loads(tree.files[f"{directory}/feed.json"] or b"")["home_page_url"] == page
    opml = etree.fromstring(tree.files["feeds.opml"] or b"")
    homes = {o.get("htmlUrl") for o in opml.iter("outline")}
    assert homes == {f"{SITE_URL}/"} | {public_url(FEEDS_URL, d) + "/" for d in TOPICS}


def test_index_links_every_topic_page_and_the_sign_up_page(tree: RenderedTree) -> None:
    doc = _page(tree, "index.html")
    topics = {a.text_content(): a.get("href") for a in doc.cssselect("a.topic")}
    assert topics == {t.name: public_url(FEEDS_URL, d) + "/" for d, t in TOPICS.items()}
    assert [a.get("href") for a in doc.cssselect("a.button")] == [f"{SITE_URL}/subscribe"]
    assert [x.get("href") for x in doc.findall(".//link[@rel='stylesheet']")] == [
        f"{FEEDS_URL}/style.css"
    ]


def test_a_configured_sign_up_page_is_linked_instead(tmp_path: Path) -> None:
    cfg = feeds_config(tmp_path / "p", subscribe_url="https://lists.example.org/join")
    tree = render(plan_for(sample_articles()), cfg)
    for path in ("index.html", "tag/بوتين/index.html"):
        buttons = _page(tree, path).cssselect("a.button")
        assert [a.get("href") for a in buttons] == ["https://lists.example.org/join"]


def test_the_sites_own_topic_pages_replace_feedpubs(tmp_path: Path) -> None:
    cfg = feeds_config(tmp_path / "p", tag_page_url="https://news.example.org/وسم/{slug}/")
    tree = render(plan_for(sample_articles()), cfg)
    assert not [p for p in tree.files if p.startswith("tag/") and p.endswith(".html")]
    own = "https://news.example.org/%D9%88%D8%B3%D9%85/%D8%A8%D9%88%D8%AA%D9%8A%D9%86/"
    atom = etree.fromstring(tree.files["tag/بوتين/atom.xml"] or b"")
    assert [x.get("href") for x in atom.findall(f"{A}link[@rel='alternate']")] == [own]
    assert json.loads(tree.files["tag/بوتين/feed.json"] or b"")["home_page_url"] == own
    topics = {
        a.text_content(): a.get("href") for a in _page(tree, "index.html").cssselect("a.topic")
    }
    assert topics["بوتين"] == own


def test_topic_pages_are_byte_identical_and_kept_when_nothing_changed(
    cfg: FeedsConfig, tree: RenderedTree
) -> None:
    again = render(plan_for(sample_articles()), cfg)
    pages = [p for p in tree.files if p.startswith("tag/") and p.endswith("index.html")]
    assert len(pages) == 3
    assert all(again.files[p] == tree.files[p] for p in pages)
    kept = render(plan_for(sample_articles()), cfg, tree.fingerprints)
    assert kept.rendered == ()


def _records(store: SqlStore, articles: list[Article], at: datetime) -> None:
    store.upsert_articles(articles, at)


def test_a_topic_page_is_rewritten_only_when_what_it_shows_changes(tmp_path: Path) -> None:
    """Through the store and the journal builds a cron run makes."""
    cfg = make_config(tmp_path / "public")
    articles = [article(n, POLITICS, *([PUTIN] if n % 2 else [])) for n in range(4)]
    with SqlStore.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        _records(store, articles, NOW)
        first = pipeline.build_feeds(cfg, store)
        assert {"tag/سياسة/index.html", "tag/بوتين/index.html", "style.css"} <= set(first.written)
        page = cfg.feeds.output / "tag/بوتين/index.html"
        before = page.read_bytes()

        # Its text edited: the feeds change, the topic page (titles, dates) does not.
        edited = dataclasses.replace(articles[3], content="<p>نص جديد</p>", content_hash="h3b")
        _records(store, [edited], NOW + timedelta(hours=1))
        report = pipeline.build_feeds(cfg, store)
        assert "tag/بوتين/atom.xml" in report.written
        assert not [p for p in report.written if p.endswith(".html")]
        assert page.read_bytes() == before

        # A new title: the pages that list it are written again, nothing else.
        renamed = dataclasses.replace(edited, title="عنوان آخر", content_hash="h3c")
        _records(store, [renamed], NOW + timedelta(hours=2))
        report = pipeline.build_feeds(cfg, store)
        pages = {p for p in report.written if p.endswith(".html")}
        assert pages == {"tag/بوتين/index.html", "tag/سياسة/index.html"}
        assert "عنوان آخر" in page.read_text("utf-8")

        # A new article in one tag: that tag's page only.
        _records(store, [article(9, POLITICS)], NOW + timedelta(hours=3))
        report = pipeline.build_feeds(cfg, store)
        assert {p for p in report.written if p.endswith(".html")} == {"tag/سياسة/index.html"}


# --- every link followed --------------------------------------------------------


def _local(cfg: Config, url: str) -> Path | None:
    """The file of the build a URL under feeds.url names (a folder: its index.html)."""
    if not url.startswith(FEEDS_URL + "/"):
        return None
    path = urllib.parse.unquote(url.removeprefix(FEEDS_URL + "/"))
    return cfg.feeds.output / (path + "index.html" if path.endswith("/") or not path else path)


def _home_links(public: Path) -> list[str]:
    """The home link of every feed document, in every format, and of the OPML."""
    found: list[str] = []
    for path in sorted(public.rglob("*")):
        if path.name in ("atom.xml", "rss.xml"):
            parsed = feedparser.parse(path.read_bytes())
            assert parsed.bozo == 0, path
            found.append(parsed.feed.link)
        elif path.name == "feed.json":
            found.append(json.loads(path.read_bytes())["home_page_url"])
        elif path.name == "feeds.opml":
            found += [str(o.get("htmlUrl")) for o in etree.parse(str(path)).iter("outline")]
    return found


def _page_links(public: Path) -> list[str]:
    """Every href of index.html and the topic pages."""
    found: list[str] = []
    for page in [public / "index.html", *sorted(public.glob("tag/*/index.html"))]:
        doc = lxml.html.document_fromstring(page.read_bytes())
        found += [str(el.get("href")) for el in doc.iter("a", "link")]
    return found


@pytest.mark.parametrize("own_pages", [False, True], ids=["feedpub-pages", "site-pages"])
def test_every_home_link_and_page_link_resolves(tmp_path: Path, own_pages: bool) -> None:
    tag_page_url = f"{SITE_URL}/tag/{{slug}}/" if own_pages else ""
    cfg = make_config(tmp_path / "public", archive=True, archive_page_size=2, items=3)
    cfg = dataclasses.replace(cfg, feeds=dataclasses.replace(cfg.feeds, tag_page_url=tag_page_url))
    articles = [article(n, POLITICS, *([PUTIN] if n % 3 else [])) for n in range(7)]
    articles += [article(8, DOTNET, url=None)]  # read on feedpub's own page
    with SqlStore.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        store.upsert_articles(articles, NOW)
        pipeline.build_feeds(cfg, store)
    public = cfg.feeds.output
    configured = {f"{SITE_URL}/", f"{SITE_URL}/subscribe"}
    own_urls = {str(a.url) for a in articles if a.url}
    slugs = {t.slug for a in articles for t in a.tags}
    if own_pages:
        configured |= {f"{SITE_URL}/tag/{urllib.parse.quote(s)}/" for s in slugs}
    homes, links = _home_links(public), _page_links(public)
    assert len(homes) >= 4 * 3 + 4 * 3  # 4 feeds x 3 formats, the OPML, archive pages
    followed = 0
    for url in homes + links:
        target = _local(cfg, url)
        if target is not None:
            assert target.is_file(), url
            followed += 1
        else:
            assert url in configured or urllib.parse.unquote(url) in own_urls, url
    assert followed > 0
    written_topics = sorted(p.parent.name for p in public.glob("tag/*/index.html"))
    assert written_topics == ([] if own_pages else sorted(slugs))
