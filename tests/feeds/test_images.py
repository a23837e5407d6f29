"""The article's image in every place a reader looks for it: Media RSS
``media:content`` and ``media:thumbnail`` (RSS and Atom), an ``<img>`` at
the top of the entry's HTML, JSON Feed ``image``, and an enclosure only when
its size is known. Read back by feedparser and by the ``reader`` library
from the files a build wrote."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import feedparser
import lxml.html
import pytest
from lxml import etree

from feedpub import output
from feedpub.config import FeedsConfig
from feedpub.links import page_url
from feedpub.model import Article
from feedpub.text.uri import iri_to_uri
from support.feedfactory import (
    FEEDS_URL,
    POLITICS,
    PUTIN,
    SITE_URL,
    article,
    feeds_config,
    hostile,
    plan_for,
    render,
)

A = "{http://www.w3.org/2005/Atom}"
MEDIA = "{http://search.yahoo.com/mrss/}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
IMAGE = f"{SITE_URL}/img/7.jpg"


def known() -> Article:
    """An article whose source told the image's size, alt text and bytes."""
    return article(
        7,
        POLITICS,
        image_width=1200,
        image_height=675,
        image_alt="جلسة البرلمان",
        image_bytes=48_213,
    )


def corpus() -> list[Article]:
    """One image fully described, one only a URL, one hostile (no URL, a
    WebP with a space and Arabic in its name), one without an image."""
    return [known(), article(6, PUTIN), hostile(5, PUTIN), article(4, POLITICS, image=None)]


def _xml(data: bytes | None) -> etree._Element:
    assert data is not None
    return etree.fromstring(data)


def _entries(tree: dict[str, bytes | None], path: str) -> dict[str, etree._Element]:
    """Title -> entry (Atom) or item (RSS) of one document."""
    root = _xml(tree[path])
    found = root.iter(f"{A}entry") if path.endswith("atom.xml") else root.iter("item")
    return {str(e.findtext(f"{A}title") or e.findtext("title")): e for e in found}


def test_media_rss_carries_url_type_and_the_size_when_known(tmp_path: Path) -> None:
    files = render(plan_for(corpus()), feeds_config(tmp_path / "p")).files
    for path in ("atom.xml", "rss.xml", "tag/سياسة/rss.xml"):
        entry = _entries(files, path)[known().title]
        (content,) = entry.findall(f"{MEDIA}content")
        assert dict(content.attrib) == {
            "url": IMAGE,
            "fileSize": "48213",
            "type": "image/jpeg",
            "medium": "image",
            "height": "675",
            "width": "1200",
        }
        (thumbnail,) = entry.findall(f"{MEDIA}thumbnail")
        assert dict(thumbnail.attrib) == {"url": IMAGE, "height": "675", "width": "1200"}
        assert entry.find(f"{MEDIA}group") is None  # at the entry's level

        # Unknown size: the URL and type only, never a guessed width.
        other = _entries(files, "atom.xml" if path == "atom.xml" else "rss.xml")
        (bare,) = other[article(6).title].findall(f"{MEDIA}content")
        assert dict(bare.attrib) == {
            "url": f"{SITE_URL}/img/6.jpg",
            "type": "image/jpeg",
            "medium": "image",
        }
        assert other[article(4).title].find(f"{MEDIA}content") is None


def test_an_enclosure_only_where_the_length_is_known(tmp_path: Path) -> None:
    files = render(plan_for(corpus()), feeds_config(tmp_path / "p")).files
    rss = _entries(files, "rss.xml")
    enclosures = {title: item.findall("enclosure") for title, item in rss.items()}
    assert [dict(e.attrib) for e in enclosures.pop(known().title)] == [
        {"url": IMAGE, "length": "48213", "type": "image/jpeg"}
    ]
    assert all(found == [] for found in enclosures.values())
    atom = _entries(files, "atom.xml")
    links = {t: e.findall(f"{A}link[@rel='enclosure']") for t, e in atom.items()}
    assert [dict(x.attrib) for x in links.pop(known().title)] == [
        {"href": IMAGE, "rel": "enclosure", "type": "image/jpeg", "length": "48213"}
    ]
    assert all(found == [] for found in links.values())
    items = {i["title"]: i for i in json.loads(files["feed.json"] or b"")["items"]}
    assert items[known().title]["attachments"] == [
        {"url": IMAGE, "mime_type": "image/jpeg", "size_in_bytes": 48213}
    ]
    assert items[known().title]["image"] == IMAGE
    assert items[article(6).title]["image"] == f"{SITE_URL}/img/6.jpg"
    assert "attachments" not in items[article(6).title]
    assert "image" not in items[article(4).title]


def _first_img(fragment: str) -> dict[str, str] | None:
    img = lxml.html.fragment_fromstring(fragment, create_parent="div").find(".//img")
    return None if img is None else dict(img.attrib)


def test_the_image_opens_the_entry_html_with_alt_and_known_dimensions(tmp_path: Path) -> None:
    files = render(plan_for(corpus()), feeds_config(tmp_path / "p")).files
    atom = _entries(files, "atom.xml")
    rss = _entries(files, "rss.xml")
    items = {i["title"]: i for i in json.loads(files["feed.json"] or b"")["items"]}
    expected = {"src": IMAGE, "alt": "جلسة البرلمان", "width": "1200", "height": "675"}
    title = known().title
    for html in (
        atom[title].findtext(f"{A}content"),
        rss[title].findtext(f"{CONTENT}encoded"),
        items[title]["content_html"],
    ):
        assert html is not None and html.startswith('<div dir="rtl" lang="ar"><p><img ')
        assert _first_img(html) == expected
    # No alt text from the source: the title stands for it; no size: none printed.
    assert _first_img(items[article(6).title]["content_html"]) == {
        "src": f"{SITE_URL}/img/6.jpg",
        "alt": article(6).title,
    }
    hostile_item = items[hostile(5).title.replace("\x01 ", "")]
    assert _first_img(hostile_item["content_html"]) == {
        "src": f"{SITE_URL}/img/%D8%B5%D9%88%D8%B1%D8%A9%205.webp",
        "alt": "<b>عنوان</b> & ]]> C++ / .NET",  # the title as text, escaped in the markup
    }
    assert _first_img(items[article(4).title]["content_html"]) is None


def test_an_image_already_in_the_text_is_not_added_twice(tmp_path: Path) -> None:
    shown = article(1, content=f'<p><img src="{SITE_URL}/img/1.jpg" alt="x"></p><p>نص</p>')
    relative = article(2, content='<p><img src="/img/2.jpg" alt="x"></p>', image="/img/2.jpg")
    files = render(plan_for([shown, relative]), feeds_config(tmp_path / "p")).files
    for entry in _entries(files, "atom.xml").values():
        html = entry.findtext(f"{A}content") or ""
        assert html.count("<img") == 1, html


def test_the_image_in_the_html_can_be_turned_off(tmp_path: Path) -> None:
    cfg = feeds_config(tmp_path / "p", image_in_content=False)
    files = render(plan_for([known()]), cfg).files
    entry = _entries(files, "atom.xml")[known().title]
    assert "<img" not in (entry.findtext(f"{A}content") or "")
    assert entry.find(f"{MEDIA}thumbnail") is not None  # still there for the readers of it


def test_a_summary_only_feed_opens_its_summary_with_the_image(tmp_path: Path) -> None:
    cfg = feeds_config(tmp_path / "p", full_content=False)
    files = render(plan_for([known()]), cfg).files
    item = _entries(files, "rss.xml")[known().title]
    assert item.find(f"{CONTENT}encoded") is None
    assert (_first_img(item.findtext("description") or "") or {}).get("src") == IMAGE


# --- read back by real clients ---------------------------------------------------


@pytest.fixture
def built(tmp_path: Path) -> Iterator[tuple[FeedsConfig, Path]]:
    """The corpus built and written to disk as a build writes it."""
    cfg = feeds_config(tmp_path / "public")
    tree = render(plan_for(corpus()), cfg)
    output.sync_tree(cfg.output, tree.outputs, output.read_manifest(cfg.output))
    yield cfg, cfg.output


def _with_image() -> dict[str, str]:
    """Entry link -> the image URL readers must show for it."""
    return {
        iri_to_uri(str(known().url)): IMAGE,
        iri_to_uri(str(article(6).url)): f"{SITE_URL}/img/6.jpg",
        page_url(FEEDS_URL, hostile(5).id): f"{SITE_URL}/img/%D8%B5%D9%88%D8%B1%D8%A9%205.webp",
    }


@pytest.mark.parametrize("path", ["atom.xml", "rss.xml", "tag/بوتين/atom.xml", "tag/بوتين/rss.xml"])
def test_feedparser_finds_a_thumbnail_for_every_article_with_an_image(
    built: tuple[FeedsConfig, Path], path: str
) -> None:
    _, public = built
    parsed = feedparser.parse((public / path).read_bytes())
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    expected = _with_image()
    seen = 0
    for entry in parsed.entries:
        if entry.link in expected:
            assert [t["url"] for t in entry.media_thumbnail] == [expected[entry.link]]
            assert entry.media_content[0]["url"] == expected[entry.link]
            seen += 1
        else:
            assert "media_thumbnail" not in entry
    assert seen == len([e for e in parsed.entries if e.link in expected]) > 0


def test_the_reader_library_shows_the_image_of_every_article_that_has_one(
    built: tuple[FeedsConfig, Path],
) -> None:
    """reader keeps no media:thumbnail: what it shows is the entry's HTML, whose
    first <img> is the image (as NetNewsWire and ReadYou take it)."""
    reader_lib = pytest.importorskip("reader")
    _, public = built
    reader = reader_lib.make_reader(":memory:", feed_root=str(public))
    try:
        names = ["atom.xml", "rss.xml", "feed.json", "tag/بوتين/feed.json"]
        for name in names:
            reader.add_feed(f"file:{name}")
        results = list(reader.update_feeds_iter())
        assert all(not isinstance(r.value, Exception) for r in results), results
        expected = _with_image()
        by_feed: dict[str, int] = {}
        for entry in reader.get_entries():
            html = entry.get_content().value if entry.get_content() else entry.summary
            img = _first_img(html or "")
            if entry.link in expected:
                assert img is not None and img["src"] == expected[entry.link], entry.link
                by_feed[entry.feed_url] = by_feed.get(entry.feed_url, 0) + 1
            else:
                assert img is None, entry.link
        assert sorted(by_feed) == sorted(f"file:{name}" for name in names)
    finally:
        reader.close()


NEWSBOAT = shutil.which("newsboat")


@pytest.mark.skipif(NEWSBOAT is None, reason="needs Debian's newsboat (.ci/run installs it)")
@pytest.mark.parametrize("path", ["rss.xml", "atom.xml", "tag/بوتين/rss.xml"])
def test_newsboat_shows_the_image_of_every_article_that_has_one(
    built: tuple[FeedsConfig, Path], tmp_path: Path, path: str
) -> None:
    """newsboat keeps enclosures of podcasts only and shows an entry's HTML as
    text with its images as numbered links: the first of them is the image.
    Read from the cache newsboat itself fills (``-x reload``, no terminal)."""
    _, public = built
    home = tmp_path / "newsboat"
    home.mkdir()
    (home / "urls").write_text((public / path).as_uri() + "\n", encoding="utf-8")
    (home / "config").write_text("", encoding="utf-8")
    cache = home / "cache.db"
    files = ["-u", str(home / "urls"), "-c", str(cache), "-C", str(home / "config")]
    done = subprocess.run(
        [str(NEWSBOAT), *files, "-x", "reload"],
        env={"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(cache) as db:
        rows = db.execute("SELECT url, content FROM rss_item").fetchall()
    expected = _with_image()
    assert {url for url, _ in rows} & set(expected), rows
    for url, content in rows:
        img = _first_img(content)
        if url in expected:
            assert img is not None and img["src"] == expected[url], url
        else:
            assert img is None, url
