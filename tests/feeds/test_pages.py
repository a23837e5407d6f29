"""The page of a url-less article (feeds/pages.py) and where it lives
(links.py): one safe file per id, valid right-to-left HTML5, tags linking
to their feeds, re-rendered only when its inputs change."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

import lxml.html
import pytest

from feedpub import links
from feedpub.feeds import pages
from feedpub.feeds.site import SiteValues
from feedpub.model import Article
from feedpub.output import safe_join
from support.feedfactory import (
    DOTNET,
    FEEDS_URL,
    POLITICS,
    PUTIN,
    SITE,
    SITE_URL,
    article,
    feeds_config,
)

SITE_VALUES = SiteValues.of(SITE, feeds_config())
CHROMIUM = Path("/usr/bin/chromium")

PLAIN_IDS = ["a1", "r-2026-11-20-fuel-prices", "خبر-١٢", "v1.2", "-x", "under_score"]
HOSTILE_IDS = [
    "a/b",
    "a_b",
    "../../etc/passwd",
    "..",
    ".",
    ".hidden",
    "",
    "a b",
    "a~b",
    "a?b#c&d",
    "مقال/٢",
    "back\\slash",
    "tab\tand\nnewline",
    "x" * 255,
    "خ" * 100,  # 200 bytes: over MAX_PLAIN_BYTES
    "a\x00b",
    "é",  # e + combining accent: not a letter on its own
    "CON",
]


@pytest.mark.parametrize("article_id", PLAIN_IDS)
def test_a_plain_id_is_its_own_file_name(article_id: str) -> None:
    assert links.page_path(article_id) == f"articles/{article_id}.html"


@pytest.mark.parametrize("article_id", PLAIN_IDS + HOSTILE_IDS)
def test_every_id_gets_one_safe_file_under_articles(article_id: str, tmp_path: Path) -> None:
    path = links.page_path(article_id)
    folder, name = path.split("/")
    assert folder == "articles" and name.endswith(".html")
    assert not name.startswith(".") and "\\" not in name
    assert name.isprintable() and len(name.encode("utf-8")) <= 255
    assert safe_join(tmp_path, path).parent == (tmp_path / "articles").resolve()
    assert links.page_path(article_id) == path  # stable: the same id, the same file
    url = links.page_url(FEEDS_URL, article_id)
    assert url.startswith(FEEDS_URL + "/articles/") and url.isascii()
    assert " " not in url and "?" not in url and "#" not in url


def test_no_two_ids_share_a_page() -> None:
    ids = PLAIN_IDS + HOSTILE_IDS + ["a-b", "a b", "a/b", "a\\b", "a~b", "a~" + "0" * 20]
    assert len({links.page_path(i) for i in ids}) == len(set(ids))


def test_arabic_ids_stay_readable_and_are_percent_encoded_in_urls() -> None:
    assert links.page_path("خبر-١٢") == "articles/خبر-١٢.html"
    url = links.page_url(FEEDS_URL, "خبر-١٢")
    assert url == FEEDS_URL + "/articles/%D8%AE%D8%A8%D8%B1-%D9%A1%D9%A2.html"


@pytest.mark.parametrize(
    ("url", "own"),
    [(None, False), ("", False), ("  ", False), ("https://a.sy/1", True), ("/local/1", True)],
)
def test_article_url_is_its_own_else_its_page(url: str | None, own: bool) -> None:
    item = article(1, url=url)
    assert links.has_own_url(item) == own
    expected = (url or "").strip() if own else links.page_url(FEEDS_URL, "a1")
    assert links.article_url(FEEDS_URL, item) == expected


def _page(item: Article, tag_links: dict[str, str] | None = None) -> lxml.html.HtmlElement:
    data = pages.render(SITE_VALUES, item, tag_links or {})
    assert data.startswith(b"<!DOCTYPE html>\n")
    return lxml.html.document_fromstring(data)


def test_the_page_is_right_to_left_html5_with_the_site_and_the_article() -> None:
    item = article(3, POLITICS, PUTIN, url=None, author="سارة")
    damascus = dataclasses.replace(SITE, timezone=ZoneInfo("Asia/Damascus"))
    data = pages.render(SiteValues.of(damascus, feeds_config()), item, {})
    doc = lxml.html.document_fromstring(data)
    assert doc.getroottree().docinfo.doctype == "<!DOCTYPE html>"
    assert (doc.get("lang"), doc.get("dir")) == ("ar", "rtl")
    head, body = doc.find("head"), doc.find("body")
    assert head is not None and body is not None
    assert [m.get("charset") for m in head.findall("meta") if m.get("charset")] == ["utf-8"]
    assert head.find("meta") is head[0], "charset first, within the first 1024 bytes"
    viewport = [m.get("content") for m in head.findall("meta") if m.get("name") == "viewport"]
    assert viewport == ["width=device-width, initial-scale=1"]
    assert len(doc.findall(".//title")) == 1 and len(doc.findall(".//h1")) == 1
    assert doc.findtext(".//title") == f"{item.title} - {SITE.title}"
    assert doc.find(".//h1").text_content() == item.title
    home = [a for a in body.iter("a") if a.get("rel") == "home"]
    assert [(a.get("href"), a.text_content()) for a in home] == [(SITE_URL + "/", SITE.title)]
    time = doc.find(".//time")
    # In the site's zone, ar_SY month names, Arabic-Indic digits (as the digests).
    assert time is not None and time.get("datetime") == "2026-03-01T14:00:00+03:00"
    assert time.text == "الأحد، ١ آذار ٢٠٢٦، ٢:٠٠ م"
    assert doc.find(".//div[@class='content']/p/b").text == "3"
    assert "سارة" in doc.find(".//p[@class='meta']").text_content()
    canonical = [x.get("href") for x in head.findall("link") if x.get("rel") == "canonical"]
    assert canonical == [links.page_url(FEEDS_URL, "a3")]
    # Every element lxml saw is one HTML5 knows (no typo, nothing it had to invent).
    known = {"html", "head", "meta", "title", "base", "link", "style", "body", "header"}
    known |= {"p", "a", "bdi", "main", "article", "h1", "time", "div", "b", "footer", "span"}
    assert {el.tag for el in doc.iter() if isinstance(el.tag, str)} <= known


def test_tags_link_to_their_topic_page_and_a_tag_without_one_is_text() -> None:
    item = article(1, POLITICS, DOTNET, url=None)
    # Only tags whose feed the build writes are linked, to that tag's page.
    built = {"tag/c-net/atom.xml", "tag/c-net/index.html"}
    links_of = pages.tag_pages(SITE_VALUES, [POLITICS, DOTNET], built)
    assert links_of == {DOTNET.key: f"{FEEDS_URL}/tag/c-net/"}
    doc = _page(item, links_of)
    tags = doc.find(".//p[@class='tags']")
    assert tags is not None
    assert [(a.get("href"), a.get("rel"), a.text_content()) for a in tags.iter("a")] == [
        (f"{FEEDS_URL}/tag/c-net/", "tag", "C++ / .NET")
    ]
    assert [s.text_content() for s in tags.iter("span")] == ["سياسة"]
    # A site with topic pages of its own gets those linked instead.
    own = SiteValues.of(SITE, feeds_config(tag_page_url=f"{SITE_URL}/tag/{{slug}}/"))
    assert pages.tag_pages(own, [DOTNET], built) == {DOTNET.key: f"{SITE_URL}/tag/c-net/"}


def test_a_hostile_title_is_text_and_the_sanitised_content_is_html() -> None:
    item = article(
        1,
        url=None,
        title="<script>alert(1)</script> & ]]>\x0b",
        content='<p>فقرة <a href="/local/2">رابط</a></p>',
    )
    data = pages.render(SITE_VALUES, item, {})
    assert b"<script>" not in data and b"&lt;script&gt;" in data and b"\x0b" not in data
    doc = lxml.html.document_fromstring(data)
    doc.make_links_absolute(doc.find(".//base").get("href"))
    # A relative link of scraped content points into the site, not our folder.
    assert doc.find(".//div[@class='content']//a").get("href") == SITE_URL + "/local/2"


def test_an_article_without_content_shows_its_summary() -> None:
    doc = _page(article(1, url=None, content=""))
    assert doc.find(".//div[@class='content']/p").text == "ملخص الخبر 1."


def _versions(items: Sequence[Article]) -> list[pages.PageVersion]:
    return [(a.id, a.content_hash, a.updated, tuple(t.key for t in a.tags)) for a in items]


def test_only_pages_whose_inputs_changed_are_rendered_again() -> None:
    items = [article(n, POLITICS, url=None, content_hash=f"h{n}") for n in (1, 2, 3)]
    loaded: list[list[str]] = []

    def load(ids: Sequence[str]) -> list[Article]:
        loaded.append(list(ids))
        return [a for a in items if a.id in ids]

    feed_path = "tag/سياسة/atom.xml"
    first = pages.render_pages(
        SITE_VALUES, _versions(items), [POLITICS], {feed_path: b""}, load, {}
    )
    assert first.rendered == tuple(links.page_path(a.id) for a in items)

    loaded.clear()
    same = pages.render_pages(
        SITE_VALUES, _versions(items), [POLITICS], {feed_path: None}, load, first.fingerprints
    )
    assert same.rendered == () and loaded == []
    assert same.fingerprints == first.fingerprints

    items[1] = article(2, POLITICS, url=None, content_hash="edited")
    edited = pages.render_pages(
        SITE_VALUES, _versions(items), [POLITICS], {feed_path: None}, load, first.fingerprints
    )
    assert edited.rendered == (links.page_path("a2"),) and loaded == []  # loaded when written
    assert sorted(edited.files) == [links.page_path(a.id) for a in items] and loaded == [["a2"]]

    # The tag's feed is gone (min_items raised): every page linking it changes.
    gone = pages.render_pages(SITE_VALUES, _versions(items), [], {}, load, edited.fingerprints)
    assert set(gone.rendered) == {links.page_path(a.id) for a in items}
    assert all(b"tag/" not in (data or b"") for data in gone.files.values())


class DictCache:
    """The store's cache of rendered bytes, in a dict."""

    def __init__(self) -> None:
        self.held: dict[str, tuple[str, bytes]] = {}

    def cached_entries(self, slots: Sequence[str]) -> dict[str, tuple[str, bytes]]:
        return {slot: self.held[slot] for slot in slots if slot in self.held}

    def keep_entries(self, entries: Sequence[tuple[str, str, bytes]]) -> None:
        self.held.update({slot: (print_, data) for slot, print_, data in entries})


@pytest.mark.parametrize(
    ("change", "loaded_again"),
    [
        ("nothing: an empty output folder", []),
        ("an edited article", ["a2"]),
        ("the tag's feed gone", ["a1", "a2", "a3"]),
    ],
)
def test_a_cached_page_is_neither_loaded_nor_rendered_again(
    change: str, loaded_again: list[str]
) -> None:
    items = [article(n, POLITICS, url=None, content_hash=f"h{n}") for n in (1, 2, 3)]
    loaded: list[str] = []

    def load(ids: Sequence[str]) -> list[Article]:
        loaded.extend(ids)
        return [a for a in items if a.id in ids]

    cache = DictCache()
    built: dict[str, object] = {"tag/سياسة/atom.xml": b""}
    first = pages.render_pages(SITE_VALUES, _versions(items), [POLITICS], built, load, {}, cache)
    cold = first.files
    assert len(cache.held) == 3 and loaded == ["a1", "a2", "a3"]

    loaded.clear()
    if change == "an edited article":
        items[1] = article(2, POLITICS, url=None, content_hash="edited")
    elif change == "the tag's feed gone":
        built = {}
    # No previous fingerprints: every page must be produced, from the cache where it can.
    again = pages.render_pages(SITE_VALUES, _versions(items), [POLITICS], built, load, {}, cache)
    files = again.files
    assert sorted(loaded) == loaded_again
    uncached = pages.render_pages(
        SITE_VALUES, _versions(items), [POLITICS], built, lambda ids: items, {}
    )
    assert files == uncached.files, "cached pages are the pages a cold build renders"
    if change == "nothing: an empty output folder":
        assert files == cold


def test_a_page_of_an_article_written_while_building_is_not_cached() -> None:
    """Rendered from the newer article, but not kept under the fingerprint
    of the version selected earlier (the next build would take it as current)."""
    selected = article(1, url=None, content_hash="old")
    written_since = article(1, url=None, content_hash="new")
    cache = DictCache()
    tree = pages.render_pages(
        SITE_VALUES, _versions([selected]), [], {}, lambda ids: [written_since], {}, cache
    )
    assert list(tree.files) == [links.page_path("a1")] and cache.held == {}


def test_an_article_given_a_url_since_the_versions_were_read_gets_no_page() -> None:
    item = article(1, url=None)
    moved = article(1, url="https://a.sy/1")
    tree = pages.render_pages(SITE_VALUES, _versions([item]), [], {}, lambda ids: [moved], {})
    assert tree.files == {}


@pytest.mark.chromium
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_chromium_lays_the_page_out_right_to_left(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(pages.render(SITE_VALUES, article(1, PUTIN, url=None), {}))
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
    command += ["--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={tmp_path / 'p'}"]
    done = subprocess.run(
        [*command, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr[-2000:]
    dom = lxml.html.document_fromstring(done.stdout)
    assert (dom.get("dir"), dom.get("lang")) == ("rtl", "ar")
    assert dom.find(".//h1").text_content() == article(1).title
    assert [t.text_content() for t in dom.iter("span")] == ["بوتين"]
