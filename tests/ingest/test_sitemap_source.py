"""The ``sitemap`` source against a real HTTP server on a loopback port: a
news site of a few Arabic article pages behind a sitemap index (a Google
News sitemap, a gzip URL set, a URL set of listings), a robots.txt and
lastmods; what a second run fetches (counted at the server); the cap on
pages per run; pages gone; sitemaps that are not sitemaps; a site down."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest

from feedpub import app
from feedpub.config import Config, ConfigError, SourceConfig
from feedpub.ingest import http
from feedpub.ingest.source import SourceContext, make_sources
from feedpub.store import SqlStore
from support.http_server import Answer, Seen, Site, serving
from support.ingesting import make_config, run_settings

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
HTML = "text/html; charset=utf-8"
XML = "application/xml"


@dataclass
class Page:
    slug: str
    title: str
    published: str  # ISO, with its offset
    paragraphs: tuple[str, ...]
    tags: tuple[str, ...] = ()
    kind: str = "NewsArticle"


PAGES = [
    Page(
        "news/rafah-crossing-aid",
        "فتح معبر رفح أمام شاحنات المساعدات لليوم الثالث",
        "2026-11-30T09:15:00+02:00",
        (
            "أعلنت السلطات المصرية صباح اليوم فتح معبر رفح البري لليوم الثالث على التوالي أمام "
            "شاحنات المساعدات الإنسانية المتجهة إلى قطاع غزة.",
            "وقال مسؤول في الهلال الأحمر إن أكثر من مئتي شاحنة عبرت المعبر منذ الصباح، محملة "
            "بالأغذية والأدوية والوقود اللازم لتشغيل المستشفيات.",
            "وأضاف أن الفرق تعمل على مدار الساعة لتسريع إجراءات التفتيش، في ظل ازدحام كبير "
            "على الجانب المصري من الحدود.",
        ),
        ("غزة", "مصر"),
    ),
    Page(
        "news/cairo-metro-line-four",
        "بدء تشغيل المرحلة الأولى من الخط الرابع لمترو القاهرة",
        "2026-11-30T12:00:00+02:00",
        (
            "افتتحت وزارة النقل المصرية المرحلة الأولى من الخط الرابع لمترو الأنفاق، بطول "
            "يتجاوز ثمانية عشر كيلومترا وعدد من المحطات الجديدة.",
            "ومن المتوقع أن ينقل الخط نحو مليون راكب يوميا عند اكتماله، وأن يخفف الازدحام "
            "المروري في غرب العاصمة.",
        ),
        ("القاهرة", "النقل"),
    ),
    Page(
        "2026/11/egx-record",
        "البورصة المصرية تغلق عند مستوى قياسي جديد",
        "2026-11-28T15:30:00+02:00",
        (
            "أغلق المؤشر الرئيسي للبورصة المصرية تعاملات اليوم عند مستوى قياسي جديد، مدفوعا "
            "بمشتريات المستثمرين الأجانب في أسهم البنوك.",
            "وقال محللون إن قرارات البنك المركزي الأخيرة عززت ثقة المستثمرين في السوق.",
        ),
        ("اقتصاد",),
    ),
    Page(
        "2026/11/museum-visitors",
        "المتحف المصري الكبير يستقبل مليون زائر في شهره الأول",
        "2026-11-27T10:00:00+02:00",
        (
            "أعلنت إدارة المتحف المصري الكبير أن عدد زواره تجاوز مليون زائر خلال الشهر الأول "
            "من افتتاحه الرسمي، بينهم عدد كبير من السياح الأجانب.",
            "وأشارت الإدارة إلى أن قاعة توت عنخ آمون كانت الأكثر إقبالا من الزوار.",
        ),
        ("ثقافة",),
    ),
    Page(
        "2026/11/rain-warning",
        "الأرصاد تحذر من أمطار غزيرة على السواحل الشمالية",
        "2026-11-26T08:00:00+02:00",
        (
            "حذرت هيئة الأرصاد الجوية من سقوط أمطار غزيرة على السواحل الشمالية خلال اليومين "
            "المقبلين، مع نشاط للرياح وارتفاع الأمواج.",
            "ودعت الهيئة المواطنين إلى توخي الحذر أثناء القيادة على الطرق السريعة.",
        ),
    ),
]


def article_html(base: str, page: Page, *, body_note: str = "") -> str:
    url = f"{base}/{page.slug}/"
    data = {
        "@context": "https://schema.org",
        "@type": page.kind,
        "headline": page.title,
        "datePublished": page.published,
        "dateModified": page.published,
        "author": {"@type": "Person", "name": "قسم الأخبار"},
        "keywords": list(page.tags),
        "mainEntityOfPage": url,
    }
    paragraphs = "\n".join(f"<p>{p}</p>" for p in page.paragraphs)
    note = f"<p>{body_note}</p>" if body_note else ""
    return f"""<!DOCTYPE html>
<html dir="rtl" lang="ar"><head><meta charset="utf-8">
<title>{page.title} - أخبار النيل</title>
<link rel="canonical" href="{url}">
<meta property="og:type" content="article">
<script type="application/ld+json">{json.dumps(data, ensure_ascii=False)}</script>
</head><body>
<header><nav><a href="/">الرئيسية</a> <a href="/category/economy/">اقتصاد</a></nav></header>
<main><article><h1>{page.title}</h1>
{paragraphs}
{note}
</article></main>
<footer>جميع الحقوق محفوظة لأخبار النيل</footer>
</body></html>"""


LISTING = """<!DOCTYPE html>
<html dir="rtl" lang="ar"><head><meta charset="utf-8"><title>اقتصاد - أخبار النيل</title>
<script type="application/ld+json">{"@context":"https://schema.org","@type":"CollectionPage","name":"اقتصاد"}</script>
</head><body><h1>اقتصاد</h1>
<ul><li><a href="/2026/11/egx-record/">البورصة</a></li></ul></body></html>"""


class NewsSite:
    """The site on a loopback server, answering conditional GETs."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.base = site.url
        self.bodies: dict[str, bytes] = {}
        self.lastmods: dict[str, str] = {}
        self.robots = "User-agent: *\nDisallow: /private/\n"
        for page in PAGES:
            self.put(page, PAGES.index(page))
        self.put_raw("category/economy", LISTING.encode(), "2026-11-30T00:00:00+00:00")
        self.put_raw(
            "private/draft", b"<html><body>secret</body></html>", "2026-11-30T00:00:00+00:00"
        )
        self.put_raw("tag/gaza", LISTING.encode(), "2026-11-30T00:00:00+00:00")
        site.routes["/robots.txt"] = lambda _: Answer(
            200, self.robots.encode(), {"Content-Type": "text/plain"}
        )
        site.routes["/sitemap_index.xml"] = lambda r: self.conditional(r, self.index(), XML)
        site.routes["/sitemap-news.xml"] = lambda r: self.conditional(r, self.news(), XML)
        site.routes["/sitemap-posts.xml.gz"] = lambda r: self.conditional(
            r, gzip.compress(self.urlset(["2026/11/"]), mtime=0), "application/gzip"
        )
        site.routes["/sitemap-misc.xml"] = lambda r: self.conditional(
            r, self.urlset(["category/", "private/", "tag/"]), XML
        )

    def put(self, page: Page, number: int, *, note: str = "", lastmod: str = "") -> None:
        self.put_raw(
            page.slug,
            article_html(self.base, page, body_note=note).encode(),
            lastmod or page.published,
        )

    def put_raw(self, slug: str, body: bytes, lastmod: str) -> None:
        self.bodies[slug] = body
        self.lastmods[slug] = lastmod
        path = f"/{slug}/"
        self.site.routes[path] = lambda r, slug=slug: (
            self.conditional(r, self.bodies[slug], HTML)
            if slug in self.bodies
            else Answer(404, b"<html>404</html>", {"Content-Type": HTML})
        )

    def conditional(self, request: Seen, body: bytes, kind: str) -> Answer:
        tag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if request.headers.get("if-none-match") == tag:
            return Answer(304, b"", {"ETag": tag})
        return Answer(200, body, {"Content-Type": kind, "ETag": tag})

    def newest(self, prefix: str) -> str:
        return max(m for s, m in self.lastmods.items() if s.startswith(prefix))

    def index(self) -> bytes:
        return f"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>{self.base}/sitemap-news.xml</loc></sitemap>
<sitemap><loc>{self.base}/sitemap-posts.xml.gz</loc><lastmod>{self.newest("2026/")}</lastmod></sitemap>
<sitemap><loc>{self.base}/sitemap-misc.xml</loc><lastmod>2026-11-30T00:00:00+00:00</lastmod></sitemap>
</sitemapindex>""".encode()

    def news(self) -> bytes:
        entries = "".join(
            f"""<url><loc>{self.base}/{p.slug}/</loc><news:news><news:publication>
<news:name>أخبار النيل</news:name><news:language>ar</news:language></news:publication>
<news:publication_date>{self.lastmods[p.slug]}</news:publication_date>
<news:title>{p.title}</news:title></news:news></url>"""
            for p in PAGES
            if p.slug.startswith("news/")
        )
        return f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
 xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{entries}</urlset>""".encode()

    def urlset(self, prefixes: list[str]) -> bytes:
        entries = "".join(
            f"<url><loc>{self.base}/{slug}/</loc><lastmod>{lastmod}</lastmod></url>"
            for slug, lastmod in sorted(self.lastmods.items())
            if any(slug.startswith(p) for p in prefixes)
        )
        return f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>""".encode()

    def page_requests(self) -> list[str]:
        return [p for p in self.site.paths() if not p.endswith((".xml", ".gz", ".txt"))]


@pytest.fixture
def news(monkeypatch: pytest.MonkeyPatch) -> Iterator[NewsSite]:
    monkeypatch.setattr(http, "DEFAULTS", replace(http.DEFAULTS, backoff=0.001, retries=1))
    with serving() as site:
        yield NewsSite(site)


WHERE = "config.yaml:9: sources[0]"


def _cfg(tmp_path: Path, url: str, **options: Any) -> Config:
    options = {"delay": 0, "exclude": ["/tag/*"], **options}
    entry = SourceConfig("sitemap", url, options, WHERE)
    cfg = make_config(tmp_path)
    return replace(cfg, sources=(entry,), feeds=replace(cfg.feeds, output=tmp_path / "public"))


def _ingest(cfg: Config, store: SqlStore, now: datetime = NOW) -> Any:
    with app.make_publisher(cfg, now=now, store=store) as pub:
        return pub.ingest()


def test_a_site_is_read_through_its_sitemaps_and_a_second_run_fetches_nothing_unchanged(
    news: NewsSite, store: SqlStore, tmp_path: Path
) -> None:
    cfg = _cfg(tmp_path, news.base + "/sitemap_index.xml")
    report = _ingest(cfg, store)
    assert (report.new, report.rejected, report.failed_sources) == (5, 1, ())
    assert sorted(news.page_requests()) == sorted(
        [f"/{p.slug}/" for p in PAGES] + ["/category/economy/"]
    )  # not /private/ (robots.txt), not /tag/ (exclude)
    (reject,) = store.rejects()
    assert reject.source == f"{news.base}/category/economy/"
    titles = {a.title for a in store.latest_articles()}
    assert titles == {p.title for p in PAGES}
    rafah = next(a for a in store.latest_articles() if "رفح" in a.title)
    assert rafah.url == f"{news.base}/news/rafah-crossing-aid/"
    assert rafah.source == "sitemap:" + news.base.removeprefix("http://") + "/sitemap_index.xml"
    assert rafah.published == datetime(2026, 11, 30, 7, 15, tzinfo=UTC)
    with app.make_publisher(cfg, now=NOW, store=store) as pub:
        pub.build()
    feed = feedparser.parse((tmp_path / "public" / "atom.xml").read_bytes())
    assert not feed.bozo and {e.title for e in feed.entries} == titles

    news.site.seen.clear()
    report = _ingest(cfg, store, NOW + timedelta(hours=1))
    assert (report.new, report.updated, report.failed_sources) == (0, 0, ())
    # The index and the news sitemap (no lastmod in the index) asked again
    # conditionally, both 304; the URL sets whose lastmod stood, not at all;
    # robots.txt kept for the day; no page.
    assert sorted(news.site.paths()) == ["/sitemap-news.xml", "/sitemap_index.xml"]
    assert all(s.headers.get("if-none-match") for s in news.site.seen)

    # An article corrected: its lastmod moves, and only it is fetched.
    egx = PAGES[2]
    news.put(
        egx,
        2,
        note="تحديث: ارتفع المؤشر بنسبة اثنين في المئة.",
        lastmod="2026-11-30T18:00:00+00:00",
    )
    news.site.seen.clear()
    report = _ingest(cfg, store, NOW + timedelta(hours=2))
    assert (report.new, report.updated) == (0, 1)
    assert news.page_requests() == [f"/{egx.slug}/"]
    stored = next(a for a in store.latest_articles() if a.title == egx.title)
    assert "اثنين في المئة" in stored.content


def test_a_page_whose_lastmod_moved_but_not_its_bytes_costs_a_304(
    news: NewsSite, store: SqlStore, tmp_path: Path
) -> None:
    cfg = _cfg(tmp_path, news.base + "/sitemap_index.xml")
    _ingest(cfg, store)
    news.lastmods["2026/11/museum-visitors"] = "2026-11-30T20:00:00+00:00"
    news.site.seen.clear()
    report = _ingest(cfg, store, NOW + timedelta(hours=1))
    assert (report.new, report.updated, report.unchanged) == (0, 0, 0)
    (page,) = [s for s in news.site.seen if s.path == "/2026/11/museum-visitors/"]
    assert page.headers.get("if-none-match")


def test_a_first_run_on_a_big_site_is_spread_over_runs_newest_first(
    news: NewsSite, store: SqlStore, tmp_path: Path
) -> None:
    cfg = _cfg(tmp_path, news.base + "/sitemap_index.xml", max_pages_per_run=2)
    fetched: list[list[str]] = []
    for hour in range(4):
        news.site.seen.clear()
        _ingest(cfg, store, NOW + timedelta(hours=hour))
        fetched.append(news.page_requests())
    assert fetched[0] == ["/news/cairo-metro-line-four/", "/news/rafah-crossing-aid/"]
    assert [len(f) for f in fetched] == [2, 2, 2, 0]
    everything = [p for f in fetched for p in f]
    assert len(everything) == len(set(everything)) == 6  # each page once
    assert store.article_count() == 5


def test_a_page_that_is_gone_takes_its_article_with_it(
    news: NewsSite, store: SqlStore, tmp_path: Path
) -> None:
    cfg = _cfg(tmp_path, news.base + "/sitemap_index.xml")
    _ingest(cfg, store)
    del news.bodies["2026/11/rain-warning"]
    news.lastmods["2026/11/rain-warning"] = "2026-11-30T21:00:00+00:00"
    report = _ingest(cfg, store, NOW + timedelta(hours=1))
    assert report.withdrawn == 1
    assert store.article_count() == 4
    assert any(
        r.reason == "answered 404 Not Found" and r.source.endswith("/2026/11/rain-warning/")
        for r in store.rejects()
    )


def test_a_sitemap_that_is_an_html_page_fails_the_source_with_one_line(
    news: NewsSite, store: SqlStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    news.site.routes["/sitemap_index.xml"] = Answer(200, LISTING.encode(), {"Content-Type": HTML})
    cfg = _cfg(tmp_path, news.base + "/sitemap_index.xml")
    with caplog.at_level(logging.ERROR):
        (failure,) = _ingest(cfg, store).failed_sources
    name = "sitemap:" + news.base.removeprefix("http://") + "/sitemap_index.xml"
    assert failure == f"{name}: {news.base}/sitemap_index.xml: an HTML page, not a sitemap"
    assert [r.getMessage() for r in caplog.records] == [failure]
    assert store.source_cursor(name) is None and store.article_count() == 0


def test_a_broken_child_sitemap_is_a_reject_and_the_rest_is_read(
    news: NewsSite, store: SqlStore, tmp_path: Path
) -> None:
    news.site.routes["/sitemap-misc.xml"] = Answer(
        200, b"<urlset><url><loc>", {"Content-Type": XML}
    )
    report = _ingest(_cfg(tmp_path, news.base + "/sitemap_index.xml"), store)
    assert (report.new, report.failed_sources) == (5, ())
    (reject,) = store.rejects()
    assert reject.source == f"{news.base}/sitemap-misc.xml"
    assert reject.reason.startswith("not XML: ")


@pytest.mark.parametrize(
    ("robots", "expected"),
    [
        (
            Answer(503, b"busy"),
            "robots.txt cannot be read, and until it can nothing may be fetched",
        ),
        (None, "Connection refused"),
    ],
    ids=["robots-503", "site-down"],
)
def test_a_site_that_cannot_be_read_fails_with_one_line_naming_why(
    news: NewsSite, store: SqlStore, tmp_path: Path, robots: Answer | None, expected: str
) -> None:
    url = news.base + "/sitemap_index.xml"
    if robots is None:
        with serving() as gone:
            url = gone.url + "/sitemap_index.xml"
    else:
        news.site.routes["/robots.txt"] = robots
    (failure,) = _ingest(_cfg(tmp_path, url), store).failed_sources
    assert failure.startswith("sitemap:127.0.0.1:") and expected in failure
    assert "\n" not in failure


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"evry": 1}, f"{WHERE}.evry: unknown key (known here: include, exclude"),
        ({"include": "news"}, None),
        ({"include": [3]}, f"{WHERE}.include: a list of URL patterns"),
        ({"max_pages_per_run": 0}, f"{WHERE}.max_pages_per_run: a whole number"),
        ({"delay": "1s"}, f"{WHERE}.delay: seconds (0 or more)"),
    ],
)
def test_a_bad_entry_is_a_config_error_naming_its_key(
    tmp_path: Path, options: dict[str, Any], expected: str | None
) -> None:
    cfg = make_config(tmp_path)
    context = SourceContext(run_settings(cfg), cfg.site.timezone)
    entry = SourceConfig("sitemap", "https://news.example.org/sitemap.xml", options, WHERE)
    if expected is None:
        (made,) = make_sources([entry], context)
        made.close()
        return
    with pytest.raises(ConfigError) as caught:
        make_sources([entry], context)
    assert str(caught.value).startswith(expected)
    with pytest.raises(ConfigError, match="not an http"):
        make_sources([replace(entry, location="news.example.org/sitemap.xml", options={})], context)


def test_explain_fetches_a_page_of_the_site_and_says_where_each_field_came_from(
    news: NewsSite, tmp_path: Path
) -> None:
    cfg = make_config(tmp_path)
    context = SourceContext(run_settings(cfg), cfg.site.timezone)
    entry = SourceConfig("sitemap", news.base + "/sitemap_index.xml", {}, WHERE)
    (source,) = make_sources([entry], context)
    lines = source.explain(f"{news.base}/news/rafah-crossing-aid/", NOW)  # type: ignore[attr-defined]
    assert lines[0].endswith(f"fetched from {news.base}/news/rafah-crossing-aid/")
    assert any(line.startswith("title") and "رفح" in line for line in lines)
    assert source.explain("https://elsewhere.example.org/x/", NOW) is None  # type: ignore[attr-defined]
    source.close()


CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "html"


def test_the_html_corpus_fetched_through_a_sitemap_reads_as_its_saved_files(
    store: SqlStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every page of the HTML corpus (tests/fixtures/html) served over HTTP
    behind one sitemap: each article as its golden says (a page fetched is
    read as the saved file is), each page that is not one a reject naming
    its URL."""
    monkeypatch.setattr(http, "DEFAULTS", replace(http.DEFAULTS, backoff=0.001, retries=1))
    pages = sorted(CORPUS.glob("*/*.html"))
    with serving() as site:
        urls = {}
        for page in pages:
            path = f"/{page.parent.name}/{page.stem}/"
            # No charset: the server does not know it (a page says its own).
            site.routes[path] = Answer(200, page.read_bytes(), {"Content-Type": "text/html"})
            urls[page] = site.url + path
        entries = "".join(
            f"<url><loc>{u}</loc><lastmod>2026-11-29T20:00:00+00:00</lastmod></url>"
            for u in urls.values()
        )
        site.routes["/sitemap.xml"] = Answer(
            200,
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'.encode(),
            {"Content-Type": XML},
        )
        cfg = _cfg(tmp_path, site.url + "/sitemap.xml", max_pages_per_run=1000, exclude=[])
        report = _ingest(cfg, store)
    assert report.failed_sources == ()
    articles = {a.id: a for a in store.latest_articles(limit=1000)}
    rejected = {r.source for r in store.rejects()}
    for page in pages:
        golden = json.loads(page.with_name(f"{page.stem}.golden.json").read_text("utf-8"))
        if "reject" in golden:
            assert urls[page] in rejected, page.name
            continue
        # A relative canonical is resolved against where the page was read:
        # the site's URL for a saved file, the server's for a fetched page;
        # a page with no address at all is known by the URL it was fetched from.
        fetched_id = golden["id"].replace("https://news.example.org", site.url)
        found = articles.get(golden["id"]) or articles.get(fetched_id) or articles[urls[page]]
        assert (found.title, found.author) == (golden["title"], golden["author"]), page.name
        assert found.summary == golden["summary"], page.name
    assert len(articles) == sum(
        "reject" not in json.loads(p.with_name(f"{p.stem}.golden.json").read_text("utf-8"))
        for p in pages
    )
