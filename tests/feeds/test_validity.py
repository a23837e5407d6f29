"""Every document a build writes, checked against the rules the W3C feed
validator applies (the checks listed in shared/notes/feeds-and-standards.md:
RFC 4287, the RSS Advisory Board profile, Media RSS, JSON Feed 1.1, RFC 5005,
OPML 2.0), over a site with images (of known and unknown size), hostile
text, tag feeds and archive pages. A warning is a failure: 0 allowed."""

from __future__ import annotations

import email.utils
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from lxml import etree

from feedpub.feeds import build
from feedpub.feeds.select import ArchivePage
from feedpub.model import Article
from support.feedfactory import (
    DOTNET,
    POLITICS,
    PUTIN,
    SITE,
    article,
    feeds_config,
    hostile,
    plan_for,
)

A = "{http://www.w3.org/2005/Atom}"
MEDIA = "{http://search.yahoo.com/mrss/}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
DC = "{http://purl.org/dc/elements/1.1/}"
FH = "{http://purl.org/syndication/history/1.0}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)$")
LOWER_ESCAPE = re.compile(r"%[0-9a-f][a-f]|%[a-f][0-9a-f]")
IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp", "image/avif", "image/svg+xml"}


def corpus() -> list[Article]:
    sized = {"image_width": 800, "image_height": 450, "image_alt": "صورة", "image_bytes": 9000}
    return [
        article(1, POLITICS, **sized),
        article(2, POLITICS, PUTIN),  # image of unknown size
        article(3, DOTNET, author=None, image=None),
        hostile(4, PUTIN, DOTNET),
        article(5, url=None, image="/img/relative.png", **sized),
        article(6, POLITICS, image="https://cdn.example.org/no-extension"),
    ]


def _url(value: str | None, where: str, problems: list[str]) -> None:
    if not value or not re.match(r"^https?://[^/\s]+", value):
        problems.append(f"{where}: not an absolute http(s) URL: {value!r}")
    elif not value.isascii() or LOWER_ESCAPE.search(value):
        problems.append(f"{where}: not in canonical form (ASCII, uppercase escapes): {value!r}")


def _positive(value: str | None, where: str, problems: list[str]) -> None:
    if value is not None and not (value.isdigit() and int(value) > 0):
        problems.append(f"{where}: not a positive integer: {value!r}")


def _media(entry: etree._Element, where: str, problems: list[str]) -> None:
    """Media RSS: https://www.rssboard.org/media-rss"""
    contents = entry.findall(f"{MEDIA}content")
    thumbnails = entry.findall(f"{MEDIA}thumbnail")
    if len(contents) > 1 or len(thumbnails) > 1 or len(contents) != len(thumbnails):
        problems.append(f"{where}: {len(contents)} media:content, {len(thumbnails)} thumbnails")
    for el in contents + thumbnails:
        _url(el.get("url"), f"{where} {el.tag}", problems)
        for name in ("width", "height", "fileSize"):
            _positive(el.get(name), f"{where} {el.tag} {name}", problems)
    for el in contents:
        if el.get("medium") != "image":
            problems.append(f"{where}: media:content medium {el.get('medium')!r}")
        if el.get("type") is not None and el.get("type") not in IMAGE_TYPES:
            problems.append(f"{where}: media:content type {el.get('type')!r}")


def atom_problems(path: str, data: bytes) -> list[str]:
    problems: list[str] = []
    feed = etree.fromstring(data)
    if not feed.get(XML_LANG):
        problems.append(f"{path}: no xml:lang")
    for name in ("id", "title", "updated"):
        if len(feed.findall(f"{A}{name}")) != 1:
            problems.append(f"{path}: feed needs exactly one {name}")
    if not RFC3339.match(feed.findtext(f"{A}updated") or ""):
        problems.append(f"{path}: updated is not RFC 3339")
    _url(feed.findtext(f"{A}id"), f"{path} id", problems)
    links = Counter(
        (x.get("rel"), x.get("type"), x.get("hreflang")) for x in feed.findall(f"{A}link")
    )
    if [k for k in links if k[0] == "self"] != [("self", "application/atom+xml", None)]:
        problems.append(f"{path}: needs exactly one self link of the Atom type")
    problems += [f"{path}: {n} links {k}" for k, n in links.items() if n > 1]
    for link in feed.findall(f"{A}link"):
        _url(link.get("href"), f"{path} link {link.get('rel')}", problems)
    feed_author = bool(feed.findtext(f"{A}author/{A}name"))
    ids = []
    for n, entry in enumerate(feed.iter(f"{A}entry")):
        where = f"{path} entry {n}"
        for name in ("id", "title", "updated", "published"):
            if len(entry.findall(f"{A}{name}")) != 1:
                problems.append(f"{where}: needs exactly one {name}")
        ids.append(entry.findtext(f"{A}id"))
        for name in ("updated", "published"):
            if not RFC3339.match(entry.findtext(f"{A}{name}") or ""):
                problems.append(f"{where}: {name} is not RFC 3339")
        if not feed_author and not entry.findtext(f"{A}author/{A}name"):
            problems.append(f"{where}: no author, and the feed has none")
        entry_links = entry.findall(f"{A}link")
        alternates = [x for x in entry_links if x.get("rel") == "alternate"]
        content = entry.find(f"{A}content")
        if content is None and not alternates:
            problems.append(f"{where}: neither content nor an alternate link")
        if content is not None and content.get("type") not in ("html", "text", "xhtml"):
            problems.append(f"{where}: content type {content.get('type')!r}")
        if len({x.get("type") for x in alternates}) != len(alternates):
            problems.append(f"{where}: duplicate alternate links")
        for link in entry_links:
            _url(link.get("href"), f"{where} link", problems)
            if link.get("rel") == "enclosure":
                _positive(link.get("length"), f"{where} enclosure length", problems)
                if link.get("length") is None or link.get("type") not in IMAGE_TYPES:
                    problems.append(f"{where}: enclosure without length or image type")
        _media(entry, where, problems)
    problems += [f"{path}: id {i} twice" for i, n in Counter(ids).items() if n > 1]
    return problems


def rss_problems(path: str, data: bytes) -> list[str]:
    problems: list[str] = []
    rss = etree.fromstring(data)
    channel = rss.find("channel")
    assert channel is not None
    for name in ("title", "link", "description", "language", "lastBuildDate"):
        if not channel.findtext(name):
            problems.append(f"{path}: channel needs {name}")
    if email.utils.parsedate_to_datetime(channel.findtext("lastBuildDate") or "") is None:
        problems.append(f"{path}: lastBuildDate is not RFC 822")
    _url(channel.findtext("link"), f"{path} link", problems)
    selves = [x for x in channel.findall(f"{A}link") if x.get("rel") == "self"]
    if len(selves) != 1 or selves[0].get("type") != "application/rss+xml":
        problems.append(f"{path}: needs exactly one atom:link self of the RSS type")
    guids = []
    for n, item in enumerate(channel.findall("item")):
        where = f"{path} item {n}"
        if not (item.findtext("title") or item.findtext("description")):
            problems.append(f"{where}: neither title nor description")
        guid = item.find("guid")
        if guid is None or not guid.text:
            problems.append(f"{where}: no guid")
            continue
        guids.append(guid.text)
        if guid.get("isPermaLink") == "true":
            _url(guid.text, f"{where} guid", problems)
        _url(item.findtext("link"), f"{where} link", problems)
        try:
            email.utils.parsedate_to_datetime(item.findtext("pubDate") or "")
        except (TypeError, ValueError):
            problems.append(f"{where}: pubDate is not RFC 822")
        if item.find("author") is not None:
            problems.append(f"{where}: author must be an email address (dc:creator instead)")
        if not item.findtext(f"{DC}creator"):
            problems.append(f"{where}: no dc:creator")
        if any(not (c.text or "").strip() for c in item.findall("category")):
            problems.append(f"{where}: an empty category")
        enclosures = item.findall("enclosure")
        if len(enclosures) > 1:
            problems.append(f"{where}: more than one enclosure")
        for enclosure in enclosures:
            _url(enclosure.get("url"), f"{where} enclosure", problems)
            _positive(enclosure.get("length") or "0", f"{where} enclosure length", problems)
            if enclosure.get("type") not in IMAGE_TYPES:
                problems.append(f"{where}: enclosure type {enclosure.get('type')!r}")
        _media(item, where, problems)
    problems += [f"{path}: guid {g} twice" for g, n in Counter(guids).items() if n > 1]
    return problems


def json_problems(path: str, data: bytes) -> list[str]:
    problems: list[str] = []
    doc = json.loads(data)
    if doc.get("version") != "https://jsonfeed.org/version/1.1" or not doc.get("title"):
        problems.append(f"{path}: version 1.1 and a title are required")
    for key in ("home_page_url", "feed_url"):
        _url(doc.get(key), f"{path} {key}", problems)
    ids = []
    for n, item in enumerate(doc["items"]):
        where = f"{path} item {n}"
        if not isinstance(item.get("id"), str) or not item["id"]:
            problems.append(f"{where}: id must be a non-empty string")
        ids.append(item.get("id"))
        if not (item.get("content_html") or item.get("content_text")):
            problems.append(f"{where}: content_html or content_text is required")
        for key in ("url", "image"):
            if key in item:
                _url(item[key], f"{where} {key}", problems)
        for key in ("date_published", "date_modified"):
            if key in item and not RFC3339.match(item[key]):
                problems.append(f"{where}: {key} is not RFC 3339")
        for attachment in item.get("attachments", []):
            _url(attachment.get("url"), f"{where} attachment", problems)
            if attachment.get("mime_type") not in IMAGE_TYPES:
                problems.append(f"{where}: attachment mime_type {attachment.get('mime_type')!r}")
            if not isinstance(attachment.get("size_in_bytes"), int):
                problems.append(f"{where}: an attachment of unknown size")
    problems += [f"{path}: id {i} twice" for i, n in Counter(ids).items() if n > 1]
    return problems


def opml_problems(path: str, data: bytes) -> list[str]:
    root = etree.fromstring(data)
    problems = [] if root.get("version") == "2.0" else [f"{path}: not OPML 2.0"]
    for n, outline in enumerate(root.iter("outline")):
        if not outline.get("text") or outline.get("type") != "rss":
            problems.append(f"{path} outline {n}: needs text and type rss")
        _url(outline.get("xmlUrl"), f"{path} outline {n} xmlUrl", problems)
    return problems


def problems_of(path: str, data: bytes) -> list[str]:
    if path.endswith("atom.xml"):
        return atom_problems(path, data)
    if path.endswith("rss.xml"):
        return rss_problems(path, data)
    if path.endswith("feed.json"):
        return json_problems(path, data)
    if path.endswith(".opml"):
        return opml_problems(path, data)
    return []


@pytest.mark.parametrize("image_in_content", [True, False])
@pytest.mark.parametrize("full_content", [True, False])
def test_every_document_passes_the_validators_rules_with_no_warning(
    tmp_path: Path, full_content: bool, image_in_content: bool
) -> None:
    cfg = feeds_config(
        tmp_path / "p",
        websub_hub="https://hub.example.org/",
        full_content=full_content,
        image_in_content=image_in_content,
    )
    articles = corpus()
    files = dict(build.render_feeds(plan_for(articles), cfg, SITE).files)
    # Two RFC 5005 archive pages of the same articles, chained.
    pages = [ArchivePage(1, tuple(articles[3:])), ArchivePage(2, tuple(articles[:3]))]
    files.update(build.render_archive(2, cfg, SITE, lambda n: pages[n - 1]).files)
    checked = [p for p in files if p.endswith((".xml", ".json", ".opml"))]
    assert len(checked) == 4 * 3 + 2 * 2 + 1  # 4 feeds, 2 archive pages, the OPML
    found = [problem for path in checked for problem in problems_of(path, files[path] or b"")]
    assert found == []


def test_archive_pages_are_marked_and_chained(tmp_path: Path) -> None:
    cfg = feeds_config(tmp_path / "p")
    articles = corpus()
    pages = [ArchivePage(1, tuple(articles[3:])), ArchivePage(2, tuple(articles[:3]))]
    files = build.render_archive(2, cfg, SITE, lambda n: pages[n - 1]).files
    first = etree.fromstring(files["feed-archive/1/atom.xml"] or b"")
    assert first.find(f"{FH}archive") is not None
    rels = {x.get("rel") for x in first.findall(f"{A}link")}
    assert {"current", "next-archive", "self"} <= rels and "prev-archive" not in rels


def test_the_checks_catch_what_they_check() -> None:
    """A checker that finds nothing proves nothing: each rule fires."""
    bad_atom = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><id>x</id><title>t</title>'
        b"<updated>yesterday</updated><entry><id>a</id><title>t</title>"
        b"<updated>2026-01-01T00:00:00Z</updated><published>2026-01-01T00:00:00Z</published>"
        b'<link rel="enclosure" href="https://x.org/i.jpg" length="0" type="image/jpeg"/>'
        b"</entry></feed>"
    )
    found = " | ".join(atom_problems("atom.xml", bad_atom))
    for expected in ("xml:lang", "RFC 3339", "absolute", "self link", "no author", "enclosure"):
        assert expected in found, expected
    bad_rss = (
        b'<rss version="2.0"><channel><title>t</title><link>https://x.org/</link>'
        b"<description>d</description><language>ar</language>"
        b"<lastBuildDate>Thu, 01 Jan 2026 00:00:00 +0000</lastBuildDate>"
        b"<item><title>t</title><link>https://x.org/a</link><author>x</author>"
        b'<enclosure url="https://x.org/i" length="0" type="application/octet-stream"/>'
        b"</item></channel></rss>"
    )
    found = " | ".join(rss_problems("rss.xml", bad_rss))
    assert "no guid" in found and "atom:link self" in found
    bad_json = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "t",
            "home_page_url": "https://x.org/",
            "feed_url": "https://x.org/feed.json",
            "items": [{"id": "a", "attachments": [{"url": "https://x.org/i", "mime_type": "x"}]}],
        }
    ).encode()
    found = " | ".join(json_problems("feed.json", bad_json))
    assert "content_html" in found and "unknown size" in found and "mime_type" in found
