"""Sitemaps and robots.txt, parsed: indexes and URL sets, gzip, Google News,
``lastmod``, the bounds, and a clear error naming the URL for whatever is
not a sitemap."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from feedpub.ingest.sitemaps import Child, Page, Robots, SitemapError, parse_sitemap

TZ = ZoneInfo("Asia/Damascus")
URL = "https://news.example.org/sitemap.xml"
SM = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
NEWS = 'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"'


def urlset(*entries: str, attrs: str = SM) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset {attrs}>{"".join(entries)}</urlset>'
    ).encode()


def index(*entries: str) -> bytes:
    return f'<?xml version="1.0"?><sitemapindex {SM}>{"".join(entries)}</sitemapindex>'.encode()


PLUS3 = timezone(timedelta(hours=3))


@pytest.mark.parametrize(
    ("data", "pages"),
    [
        (
            urlset(
                "<url><loc>https://s.example/a</loc>"
                "<lastmod>2026-11-28T10:15:00+03:00</lastmod></url>",
                "<url><loc> https://s.example/b\n</loc><changefreq>daily</changefreq></url>",
            ),
            [
                Page("https://s.example/a", datetime(2026, 11, 28, 10, 15, tzinfo=PLUS3)),
                Page("https://s.example/b"),
            ],
        ),
        (  # W3C dates at every precision; without a zone, the site's
            urlset(
                "<url><loc>https://s.example/d</loc><lastmod>2026-11-28</lastmod></url>",
                "<url><loc>https://s.example/m</loc><lastmod>2026-11</lastmod></url>",
                "<url><loc>https://s.example/y</loc><lastmod>2026</lastmod></url>",
                "<url><loc>https://s.example/z</loc><lastmod>2026-11-28T07:00Z</lastmod></url>",
            ),
            [
                Page("https://s.example/d", datetime(2026, 11, 28, tzinfo=TZ)),
                Page("https://s.example/m", datetime(2026, 11, 1, tzinfo=TZ)),
                Page("https://s.example/y", datetime(2026, 1, 1, tzinfo=TZ)),
                Page("https://s.example/z", datetime(2026, 11, 28, 7, tzinfo=UTC)),
            ],
        ),
        (  # Google News
            urlset(
                "<url><loc>https://s.example/%D8%AE%D8%A8%D8%B1</loc><news:news>"
                "<news:publication><news:name>شام تايمز</news:name>"
                "<news:language>ar</news:language></news:publication>"
                "<news:publication_date>2026-11-29T13:40:00+03:00</news:publication_date>"
                "<news:title>قمة الأسد – بوتين</news:title></news:news></url>",
                attrs=f"{SM} {NEWS}",
            ),
            [
                Page(
                    "https://s.example/%D8%AE%D8%A8%D8%B1",
                    None,
                    news_title="قمة الأسد – بوتين",
                    news_published=datetime(2026, 11, 29, 13, 40, tzinfo=PLUS3),
                )
            ],
        ),
        (  # no namespace at all: still the protocol's elements
            b"<urlset><url><loc>https://s.example/n</loc></url></urlset>",
            [Page("https://s.example/n")],
        ),
        (urlset(), []),
    ],
)
def test_a_url_set_lists_its_pages(data: bytes, pages: list[Page]) -> None:
    sitemap = parse_sitemap(data, URL, TZ)
    assert not sitemap.index
    assert list(sitemap.pages) == pages
    assert sitemap.notes == ()


def test_a_page_is_changed_at_its_lastmod_else_its_news_date() -> None:
    news = datetime(2026, 11, 29, 13, 40, tzinfo=PLUS3)
    assert Page("u", news_published=news).changed == news
    assert Page("u", datetime(2026, 11, 30, tzinfo=UTC), news_published=news).changed == datetime(
        2026, 11, 30, tzinfo=UTC
    )


def test_a_sitemap_index_lists_its_sitemaps() -> None:
    data = index(
        "<sitemap><loc>https://s.example/post-sitemap.xml</loc>"
        "<lastmod>2026-11-29T08:00:00+00:00</lastmod></sitemap>",
        "<sitemap><loc>https://s.example/news-sitemap.xml.gz</loc></sitemap>",
    )
    sitemap = parse_sitemap(data, URL, TZ)
    assert sitemap.index and not sitemap.pages
    assert list(sitemap.children) == [
        Child("https://s.example/post-sitemap.xml", datetime(2026, 11, 29, 8, tzinfo=UTC)),
        Child("https://s.example/news-sitemap.xml.gz"),
    ]


def test_a_gzipped_sitemap_reads_as_the_plain_one() -> None:
    data = urlset("<url><loc>https://s.example/a</loc></url>")
    assert parse_sitemap(gzip.compress(data), URL + ".gz", TZ).pages == (
        Page("https://s.example/a"),
    )


@pytest.mark.parametrize(
    ("entry", "note"),
    [
        ("<url><lastmod>2026-11-28</lastmod></url>", "entry 1: no <loc>"),
        (
            "<url><loc>ftp://s.example/a</loc></url>",
            "entry 1: <loc> 'ftp://s.example/a' is not an http(s) URL",
        ),
        (
            "<url><loc>/relative/page</loc></url>",
            "entry 1: <loc> '/relative/page' is not an http(s) URL",
        ),
        (
            "<url><loc>https://s.example/a</loc><lastmod>yesterday</lastmod></url>",
            "https://s.example/a: <lastmod> 'yesterday' is not a W3C date: ignored",
        ),
        (
            "<url><loc>https://s.example/a</loc><lastmod>2026-02-31</lastmod></url>",
            "https://s.example/a: <lastmod> '2026-02-31' is not a W3C date: ignored",
        ),
    ],
)
def test_a_bad_entry_is_skipped_with_a_note_and_the_rest_is_read(entry: str, note: str) -> None:
    good = "<url><loc>https://s.example/good</loc></url>"
    sitemap = parse_sitemap(urlset(entry, good), URL, TZ)
    assert sitemap.notes == (note,)
    assert sitemap.pages[-1] == Page("https://s.example/good")


def test_entries_past_the_bound_are_not_read_and_say_so() -> None:
    entries = [f"<url><loc>https://s.example/{n}</loc></url>" for n in range(5)]
    sitemap = parse_sitemap(urlset(*entries), URL, TZ, max_urls=3)
    assert [p.url for p in sitemap.pages] == [f"https://s.example/{n}" for n in range(3)]
    assert sitemap.notes == ("5 entries, more than 3: the rest are not read",)


BOMB = gzip.compress(b"<urlset>" + b" " * 5_000_000 + b"</urlset>")


@pytest.mark.parametrize(
    ("data", "max_bytes", "message"),
    [
        (
            b"<!DOCTYPE html><html><head><title>404</title></head><body>Not found</body></html>",
            None,
            f"{URL}: an HTML page, not a sitemap",
        ),
        (
            "\n  <html lang='ar'><body>الصفحة غير موجودة</body></html>".encode(),
            None,
            f"{URL}: an HTML page, not a sitemap",
        ),
        (b"<urlset><url><loc>https://s.example/a</loc></urlset>", None, f"{URL}: not XML: "),
        (
            b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>',
            None,
            f"{URL}: the XML is a <rss>, not a <urlset> or <sitemapindex>",
        ),
        (b"", None, f"{URL}: empty document, not a sitemap"),
        (b"\x1f\x8b\x08\x00broken", None, f"{URL}: broken gzip: "),
        (BOMB, 1_000_000, f"{URL}: sitemap is more than 1000000 bytes uncompressed"),
        (urlset("<url><loc>https://s.example/a</loc></url>"), 50, f"{URL}: sitemap is "),
    ],
)
def test_what_is_not_a_sitemap_is_an_error_naming_the_url(
    data: bytes, max_bytes: int | None, message: str
) -> None:
    bound = {"max_bytes": max_bytes} if max_bytes else {}
    with pytest.raises(SitemapError) as caught:
        parse_sitemap(data, URL, TZ, **bound)
    assert str(caught.value).startswith(message)


def test_entities_are_not_expanded_and_no_dtd_is_fetched() -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY ext SYSTEM "file:///etc/passwd">]>'
        b"<urlset><url><loc>https://s.example/&lol2;&ext;</loc></url></urlset>"
    )
    sitemap = parse_sitemap(laughs, URL, TZ)
    assert all("lollol" not in p.url and "root:" not in p.url for p in sitemap.pages)


# --- robots.txt ------------------------------------------------------------------------------

ROBOTS = b"""\
User-agent: *
Disallow: /wp-admin/
Disallow: /search
Allow: /wp-admin/admin-ajax.php

User-agent: feedpub
Disallow: /private/
Crawl-delay: 2

Sitemap: https://s.example/sitemap_index.xml
Sitemap: https://s.example/news-sitemap.xml
"""


@pytest.mark.parametrize(
    ("agent", "url", "allowed"),
    [
        ("feedpub/0.1", "https://s.example/2026/11/29/a/", True),
        ("feedpub/0.1", "https://s.example/private/x", False),
        ("feedpub/0.1", "https://s.example/wp-admin/", True),  # feedpub's own group applies
        ("OtherBot", "https://s.example/wp-admin/options.php", False),
        ("OtherBot", "https://s.example/search?q=x", False),
        ("OtherBot", "https://s.example/%D8%AE%D8%A8%D8%B1/", True),
    ],
)
def test_robots_txt_says_what_an_agent_may_fetch(agent: str, url: str, allowed: bool) -> None:
    assert Robots.parse(ROBOTS).allowed(url, agent) is allowed


def test_robots_txt_names_the_sitemaps_and_the_delay() -> None:
    robots = Robots.parse(ROBOTS)
    assert robots.sitemaps == [
        "https://s.example/sitemap_index.xml",
        "https://s.example/news-sitemap.xml",
    ]
    assert robots.crawl_delay("feedpub/0.1") == 2.0
    assert robots.crawl_delay("OtherBot") is None


@pytest.mark.parametrize(
    ("status", "allowed"),
    [(200, False), (404, True), (401, True), (503, False), (None, False)],
)
def test_an_answer_that_is_not_a_robots_txt_follows_rfc_9309(
    status: int | None, allowed: bool
) -> None:
    robots = Robots.for_status(status, b"User-agent: *\nDisallow: /\n")
    assert robots.allowed("https://s.example/a", "feedpub") is allowed


def test_a_robots_txt_with_a_bad_byte_keeps_its_other_rules() -> None:
    robots = Robots.parse(b"User-agent: *\n# \xff\xfe\nDisallow: /x/\n")
    assert not robots.allowed("https://s.example/x/1", "feedpub")
