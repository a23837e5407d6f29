"""HTML pages, one behaviour at a time: which source each field comes from,
what is not an article, how a page is decoded, which blocks of the body
are dropped, and the dispatch of ``.html``/``.htm`` files by ``ingest``."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedpub import ingest
from feedpub.config import IngestConfig, TagsConfig
from feedpub.ingest.context import FileContext
from feedpub.ingest.html_explain import explain_html
from feedpub.ingest.html_pages import (
    PageReading,
    page_items,
    read_html,
    read_page,
    url_id,
)
from feedpub.model import Article, Reject

TZ = ZoneInfo("Asia/Damascus")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=TZ)
MTIME = datetime(2026, 11, 29, 20, 0, tzinfo=TZ)
TITLE = "الحكومة تقر خطة جديدة لدعم المزارعين في المحافظات الشمالية"
PARAGRAPHS = [
    "أقرت الحكومة في جلستها الأسبوعية خطة جديدة لدعم المزارعين في المحافظات الشمالية، "
    "تتضمن قروضاً ميسرة وتوزيع بذور محسنة على أكثر من عشرين ألف أسرة.",
    "وقال وزير الزراعة إن الخطة تمتد ثلاث سنوات وتركز على القمح والشعير والبقوليات، "
    "مع إنشاء مراكز لتخزين المحاصيل قرب مناطق الإنتاج.",
    "وأضاف أن التمويل يأتي من موازنة الدولة ومن منحة دولية، على أن يبدأ التنفيذ مطلع العام المقبل.",
]


def article_html(paragraphs: list[str] | None = None, extra: str = "") -> str:
    body = "".join(f"<p>{p}</p>" for p in (paragraphs or PARAGRAPHS))
    return f"<h1>{TITLE}</h1><div class='entry-content'>{body}{extra}</div>"


def doc(head: str = "", article: str | None = None, after: str = "", lang: str = "ar") -> bytes:
    return (
        f"<!DOCTYPE html><html lang='{lang}' dir='rtl'><head><meta charset='utf-8'>"
        f"<title>{TITLE} - موقع الأخبار</title>{head}</head><body>"
        "<header><nav><a href='/'>الرئيسية</a> <a href='/s'>سياسة</a></nav></header>"
        f"<main><article>{article if article is not None else article_html()}</article></main>"
        f"{after}<footer><p>جميع الحقوق محفوظة</p></footer></body></html>"
    ).encode()


def jsonld(data: Any) -> str:
    return f"<script type='application/ld+json'>{json.dumps(data, ensure_ascii=False)}</script>"


def context(**limits: Any) -> FileContext:
    run = ingest.settings(
        replace(IngestConfig(), **limits),
        TagsConfig(vocabulary={"سوريا": ("سورية",)}),
        timezone=TZ,
        site_url="https://news.example.org",
    )
    return FileContext(source="page.html", settings=run, now=NOW, mtime=MTIME)


def read(data: bytes, url: str | None = None, **limits: Any) -> PageReading:
    return read_page(data, context(**limits), url=url, path=Path("saved-page.html"))


def the_article(data: bytes, url: str | None = None, **limits: Any) -> Article:
    items = read_html(data, context(**limits), url=url, path=Path("saved-page.html"))
    assert isinstance(items[0], Article), items[0]
    return items[0]


def the_reject(data: bytes, **limits: Any) -> str:
    items = read_html(data, context(**limits), path=Path("saved-page.html"))
    assert len(items) == 1 and isinstance(items[0], Reject), items
    assert items[0].source == "page.html"
    return items[0].reason


# --- each field from the first source that gives it ----------------------------------------

GRAPH = {
    "@context": "https://schema.org",
    "@graph": [
        {
            "@type": "NewsArticle",
            "@id": "https://s.example/a/#article",
            "headline": "عنوان من JSON-LD",
            "datePublished": "2026-11-20T10:00:00+03:00",
            "dateModified": "2026-11-21T09:00:00+03:00",
            "author": {"@id": "https://s.example/#/person/1"},
            "image": {"@id": "https://s.example/a/#img"},
            "keywords": ["زراعة", "قمح"],
            "articleSection": "اقتصاد",
            "mainEntityOfPage": {"@id": "https://s.example/a/"},
        },
        {"@type": "WebPage", "@id": "https://s.example/a/", "description": "وصف الصفحة"},
        {"@type": "Person", "@id": "https://s.example/#/person/1", "name": "سلمى حداد"},
        {
            "@type": "ImageObject",
            "@id": "https://s.example/a/#img",
            "url": "https://s.example/a.jpg",
            "width": "1200",
            "height": {"@type": "QuantitativeValue", "value": 675},
            "caption": "حقل قمح",
        },
    ],
}
OPEN_GRAPH = (
    "<meta property='og:title' content='عنوان من Open Graph'>"
    "<meta property='og:description' content='وصف Open Graph'>"
    "<meta property='article:published_time' content='2026-11-19T08:00:00+02:00'>"
    "<meta property='article:tag' content='وسم من الميتا'>"
    "<meta property='og:image' content='https://s.example/og.jpg'>"
)


def test_json_ld_in_a_graph_is_followed_through_its_ids_and_outranks_open_graph() -> None:
    reading = read(doc(jsonld(GRAPH) + OPEN_GRAPH))
    article = the_article(doc(jsonld(GRAPH) + OPEN_GRAPH))
    assert article.title == "عنوان من JSON-LD"
    assert reading.title.origin == "JSON-LD NewsArticle.headline"
    assert article.summary == "وصف الصفحة"  # the WebPage the article is the main entity of
    assert article.author == "سلمى حداد"
    assert article.published == datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
    assert article.published.tzinfo is UTC
    assert article.updated == datetime(2026, 11, 21, 6, 0, tzinfo=UTC)
    assert reading.image is not None
    assert (reading.image.url, reading.image.width, reading.image.height, reading.image.alt) == (
        "https://s.example/a.jpg",
        1200,
        675,
        "حقل قمح",
    )
    assert [t.name for t in article.tags] == ["اقتصاد", "زراعة", "قمح", "وسم من الميتا"]
    assert article.url == article.id == "https://s.example/a/"


@pytest.mark.parametrize(
    ("head", "field", "value", "origin"),
    [
        (
            jsonld([{"@type": "BlogPosting", "headline": "تدوينة"}, {"@type": "BreadcrumbList"}]),
            "title",
            "تدوينة",
            "JSON-LD BlogPosting.headline",
        ),
        (
            jsonld({"@type": "schema:ReportageNewsArticle", "headline": "تقرير ميداني"}),
            "title",
            "تقرير ميداني",
            "JSON-LD ReportageNewsArticle.headline",
        ),
        (
            "<script type='application/ld+json'>{not json</script>"
            + jsonld({"@type": "Article", "headline": "الكتلة الثانية"}),
            "title",
            "الكتلة الثانية",
            "JSON-LD Article.headline",
        ),
        (
            "<meta property='og:title' content='خبر اليوم | موقع الأخبار'>"
            "<meta property='og:site_name' content='موقع الأخبار'>",
            "title",
            "خبر اليوم",
            "meta og:title",
        ),
        ("<meta name='author' content='ليلى'>", "author", "ليلى", "meta author"),
        (
            "<meta property='article:author' content='https://facebook.com/someone'>",
            "author",
            None,
            "",
        ),
        (
            jsonld({"@type": "NewsArticle", "author": [{"name": "أ"}, {"name": "ب"}, "ب"]}),
            "author",
            "أ، ب",
            "JSON-LD NewsArticle.author",
        ),
        (
            "<meta name='description' content='ملخص الميتا'>",
            "summary",
            "ملخص الميتا",
            "meta description",
        ),
        ("", "summary", PARAGRAPHS[0], "body: the first paragraph"),
        ("", "title", TITLE, "the page's <h1>"),
    ],
)
def test_a_field_comes_from_the_first_source_that_gives_it(
    head: str, field: str, value: str | None, origin: str
) -> None:
    reading = read(doc(head))
    taken = getattr(reading, field)
    assert (taken.value, taken.origin) == (value, origin)


def test_microdata_gives_the_fields_of_a_page_without_json_ld() -> None:
    article = (
        "<div itemscope itemtype='http://schema.org/NewsArticle'>"
        f"<h1 itemprop='headline'>{TITLE}</h1>"
        "<meta itemprop='datePublished' content='2026-11-22T11:30:00+02:00'>"
        "<span itemprop='author' itemscope itemtype='http://schema.org/Person'>"
        "<span itemprop='name'>كريم فؤاد</span></span>"
        "<img itemprop='image' src='/up/1.jpg' width='640' height='360' alt='صورة'>"
        "<meta itemprop='keywords' content='الأهلي، الزمالك'>"
        f"<div itemprop='articleBody'>{''.join(f'<p>{p}</p>' for p in PARAGRAPHS)}</div></div>"
    )
    got = the_article(doc(article=article), url="https://n.example/News/1")
    assert got.published == datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    assert got.author == "كريم فؤاد"
    assert got.image == "https://n.example/up/1.jpg"
    assert [t.name for t in got.tags] == ["الأهلي", "الزمالك"]


@pytest.mark.parametrize(
    ("published", "want"),
    [
        ("2026-11-20T10:00:00", datetime(2026, 11, 20, 7, 0, tzinfo=UTC)),  # the site's zone
        ("2026-11-20T10:00:00Z", datetime(2026, 11, 20, 10, 0, tzinfo=UTC)),
        ("2026-11-20T10:00:00+0200", datetime(2026, 11, 20, 8, 0, tzinfo=UTC)),
        ("22/11/2026 11:30", datetime(2026, 11, 22, 8, 30, tzinfo=UTC)),  # as pages write it
        ("الأحد، 22 نوفمبر 2026 11:30 م", datetime(2026, 11, 22, 20, 30, tzinfo=UTC)),
    ],
)
def test_dates_are_utc_and_a_date_without_offset_is_in_the_sites_zone(
    published: str, want: datetime
) -> None:
    head = jsonld({"@type": "NewsArticle", "datePublished": published})
    assert the_article(doc(head)).published == want


def test_a_date_that_is_not_one_falls_through_to_the_next_source_with_a_note() -> None:
    head = jsonld({"@type": "NewsArticle", "datePublished": "قريباً"}) + OPEN_GRAPH
    reading = read(doc(head))
    assert reading.published == datetime(2026, 11, 19, 6, 0, tzinfo=UTC)
    assert reading.published_from.origin == "meta article:published_time"
    assert any("قريباً" in note for note in reading.published_from.notes)


def test_an_update_before_the_publication_is_not_taken() -> None:
    head = jsonld(
        {
            "@type": "NewsArticle",
            "datePublished": "2026-11-20T10:00:00+03:00",
            "dateModified": "2026-11-01T10:00:00+03:00",
        }
    )
    article = the_article(doc(head))
    assert article.updated == article.published
    assert read(doc(head)).updated_from.notes


def test_a_page_without_metadata_is_dated_by_the_date_line_under_its_title_else_its_mtime() -> None:
    dated = article_html().replace(
        "</h1>", "</h1><div class='meta'>نشر بتاريخ: 28/11/2026 - 12:20</div>"
    )
    # The date bar at the top of the page is above the title: not the article's.
    top = "<div class='datebar'>الأحد، 29 نوفمبر 2026</div>"
    reading = read(doc(article=top + dated))
    assert reading.published == datetime(2026, 11, 28, 9, 20, tzinfo=UTC)
    assert reading.published_from.origin.startswith("the date line under the title")
    undated = the_article(doc())
    assert undated.published == MTIME
    assert not read(doc()).updated


@pytest.mark.parametrize(
    ("url", "head", "want_url", "want_id"),
    [
        (None, "<link rel='canonical' href='https://s.example/a/'>", "https://s.example/a/", None),
        (
            None,
            "<link rel='canonical' href='/ar/node/7'>",
            "https://news.example.org/ar/node/7",
            None,
        ),
        (
            "https://s.example/x/y",
            "<link rel='canonical' href='../z'>",
            "https://s.example/z",
            None,
        ),
        ("https://s.example/x/y", "", "https://s.example/x/y", None),
        (None, "", None, "saved-page"),  # a file without an address: its name, as scraped pages
        (None, "<link rel='canonical' href='javascript:alert(1)'>", None, "saved-page"),
        (
            None,
            "<link rel='canonical' href='https://s.example/%d8%ae%d8%a8%d8%b1/'>",
            "https://s.example/%d8%ae%d8%a8%d8%b1/",
            "https://s.example/خبر/",
        ),
    ],
)
def test_the_address_is_the_canonical_link_resolved_and_the_id_is_it_readable(
    url: str | None, head: str, want_url: str | None, want_id: str | None
) -> None:
    article = the_article(doc(head), url=url)
    assert article.url == want_url
    assert article.id == (want_id or want_url)


def test_an_id_too_long_for_the_store_is_the_urls_sha256() -> None:
    long_url = "https://s.example/" + "خبر-" * 80
    assert url_id(long_url).startswith("sha256:")
    assert url_id("https://s.example/%ff%fe/") == "https://s.example/%ff%fe/"  # not UTF-8: as is
    assert url_id("https://s.example/a%0Ab") == "https://s.example/a%0Ab"  # no newline in an id


def test_rel_tag_links_of_the_post_are_tags_and_those_of_widgets_are_not() -> None:
    own = (
        "<div class='post-tags'><a rel='tag' href='/t/1'>الزراعة</a>"
        " <a rel='category tag' href='/c'>اقتصاد</a></div>"
    )
    widget = (
        "<aside><a rel='tag' href='/t/2'>رياضة</a></aside>"
        "<div class='related-posts'><a rel='tag' href='/t/3'>فن</a></div>"
    )
    reading = read(doc(article=article_html(extra=own), after=widget))
    assert [t.value for t in reading.tags] == ["الزراعة", "اقتصاد"]
    assert reading.meta is not None
    assert [t.value for t in reading.meta.dropped_tags] == ["رياضة", "فن"]


def test_tags_go_through_the_vocabulary() -> None:
    head = jsonld({"@type": "NewsArticle", "keywords": "سورية، زراعة"})
    assert [t.name for t in the_article(doc(head)).tags] == ["سوريا", "زراعة"]


def test_the_image_gets_its_size_and_alt_from_another_description_of_it() -> None:
    head = "<meta property='og:image' content='/img/cover.jpg'>"
    article = article_html(
        extra="<img src='https://news.example.org/img/cover.jpg' width='800' height='450'"
        " alt='الغلاف'>"
    )
    reading = read(doc(head, article=article))
    assert reading.image is not None
    assert (reading.image.url, reading.image.width, reading.image.height, reading.image.alt) == (
        "https://news.example.org/img/cover.jpg",
        800,
        450,
        "الغلاف",
    )


def test_without_a_metadata_image_the_first_picture_of_the_body_is_the_image() -> None:
    article = article_html(extra="<figure><img src='/a/b.jpg' alt='x'></figure>")
    got = the_article(doc(article=article), url="https://s.example/n/1")
    assert got.image == "https://s.example/a/b.jpg"


# --- pages that are not articles -----------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (
            doc(jsonld({"@type": "CollectionPage", "name": "اقتصاد"})),
            "not an article: JSON-LD says CollectionPage (a listing page)",
        ),
        (
            doc(jsonld({"@type": "SearchResultsPage"})),
            "not an article: JSON-LD says SearchResultsPage (a search results page)",
        ),
        (
            doc("<meta property='og:type' content='website'>"),
            "not an article: og:type is 'website' and the page gives no date",
        ),
        (
            doc(article="<h1>الصفحة غير موجودة</h1><p>عذراً، لم نجد ما تبحث عنه.</p>"),
            "not an article: an error page («الصفحة غير موجودة»)",
        ),
        (
            doc(article="<h1>Error 404</h1><p>Not found.</p>", lang="en"),
            "not an article: an error page («Error 404»)",
        ),
        (
            doc(article=f"<h1>{TITLE}</h1><p>قريباً.</p>"),
            "not an article: its body holds 7 characters of text",
        ),
        (b"", "empty file"),
        (b"  \n\t ", "empty file"),
        (
            b"<html>\x00\x01</html>",
            "binary file (contains NUL bytes: UTF-16 without a byte order mark?)",
        ),
        (
            "<html><body><p>خبر</p></body></html>".encode("cp1256"),
            "not utf-8 (byte 0xce at offset 15) and the page declares no charset",
        ),
        (
            b"<meta charset='klingon'>" + "خبر".encode("cp1256"),
            "unknown charset 'klingon' (and not UTF-8)",
        ),
        (b"<html><body></body></html>", "no title: not an article page"),
    ],
)
def test_a_page_that_is_not_an_article_is_one_reject_saying_why(data: bytes, reason: str) -> None:
    assert the_reject(data) == reason


def test_og_type_website_with_a_date_is_still_an_article() -> None:
    head = "<meta property='og:type' content='website'>"
    dated = article_html().replace("</h1>", "</h1><p>2026-11-28 12:20</p>")
    assert the_article(doc(head, article=dated)).published == datetime(
        2026, 11, 28, 9, 20, tzinfo=UTC
    )


# --- decoding ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "charset", "how"),
    [
        (
            doc().replace(b"utf-8", b"windows-1256").decode().encode("cp1256"),
            None,
            "cp1256 (declared)",
        ),
        (
            doc().replace(b"utf-8", b"iso-8859-6").decode().encode("iso-8859-6", "replace"),
            None,
            None,
        ),
        (doc().decode().encode("cp1256"), "windows-1256", "cp1256 (declared by HTTP)"),
        # A wrong declaration is a common slip: UTF-8 that decodes is UTF-8.
        (doc().replace(b"utf-8", b"windows-1256"), None, "utf-8"),
        (b"\xff\xfe" + doc().decode().encode("utf-16-le"), None, "utf-16 (byte order mark)"),
        (b"\xef\xbb\xbf" + doc(), None, "utf-8-sig (byte order mark)"),
    ],
)
def test_a_page_is_decoded_by_its_declared_charset_when_it_is_not_utf8(
    data: bytes, charset: str | None, how: str | None
) -> None:
    reading = read_page(data, context(), path=Path("p.html"), charset=charset)
    if how is not None:
        assert reading.charset == how
        assert reading.title.value == TITLE
        assert reading.reject is None


# --- the body ------------------------------------------------------------------------------


def test_chrome_inside_the_article_is_dropped_and_explained() -> None:
    extra = (
        "<p><strong>اقرأ أيضاً:</strong> <a href='/n/2'>خبر آخر عن الزراعة في الجنوب</a></p>"
        "<div class='stream-item'><span>إعلان</span><a href='https://ads.example/c'><img src='https://ads.example/b.gif'></a></div>"
        "<p>كتب: فريق التحرير</p>"
        "<div class='post-tags'><p>الوسوم</p><p>زراعة</p></div>"
        "<div id='comments'><h3>التعليقات (2)</h3>"
        "<p>تعليق طويل من قارئ يقول فيه رأيه بالخطة كلها.</p></div>"
    )
    data = doc(article=article_html(extra=extra), after="")
    reading = read(data, url="https://s.example/n/1")
    kept = [b.text for b in reading.blocks if b.dropped is None]
    assert kept == PARAGRAPHS
    assert "ads.example" not in the_article(data).content
    assert "تعليق" not in the_article(data).content
    lines = explain_html(data, context(), path=Path("p.html"))
    assert any("[a link to another article]" in line for line in lines)
    assert any("ad slot(s) or comment box(es) removed" in line for line in lines)


def test_paragraphs_written_between_double_line_breaks_become_paragraphs() -> None:
    body = "<br /><br />\n".join(PARAGRAPHS)
    article = f"<h1>{TITLE}</h1><span id='lblBody'>{body}</span>"
    content = the_article(doc(article=article)).content
    assert content.count("<p>") == 3
    assert the_article(doc(article=article)).summary == PARAGRAPHS[0]


def test_links_and_pictures_of_the_body_are_absolute_and_sanitised() -> None:
    extra = (
        "<p>وللمزيد <a href='/reports/7'>التقرير الكامل</a>"
        " و<a href='javascript:alert(1)'>هنا</a>.</p>"
        "<script>alert(1)</script><iframe src='https://evil.example'></iframe>"
    )
    content = the_article(
        doc(article=article_html(extra=extra)), url="https://s.example/n/1"
    ).content
    assert 'href="https://s.example/reports/7"' in content
    assert "javascript" not in content and "<script" not in content and "iframe" not in content


def test_content_over_the_article_limit_is_a_reject_but_a_big_page_is_read() -> None:
    long = [f"{n}: {PARAGRAPHS[n % 3]}" for n in range(40)]
    big_page = doc(article=article_html(long), after="<!--" + "x" * 5000 + "-->")
    assert the_article(big_page, max_article_bytes=len(big_page) - 1000)
    reason = the_reject(big_page, max_article_bytes=2000)
    assert reason.startswith("article content is ") and "ingest.max_article_bytes (2000)" in reason


def test_tags_over_the_limit_are_dropped_with_a_note_and_the_article_stays() -> None:
    head = jsonld({"@type": "NewsArticle", "keywords": [f"وسم {n}" for n in range(8)]})
    items = read_html(doc(head), context(max_tags=3), path=Path("p.html"))
    assert isinstance(items[0], Article) and len(items[0].tags) == 3
    assert isinstance(items[1], Reject) and "more than ingest.max_tags (3)" in items[1].reason


def test_a_hostile_page_is_an_article_or_a_reject_never_an_exception() -> None:
    nested = "<div>" * 5000 + article_html() + "</div>" * 5000
    for data in (
        doc(article=nested),
        doc("<script type='application/ld+json'>" + "[" * 5000 + "</script>"),
        doc(jsonld({"@type": "NewsArticle", "headline": ["a", {"x": 1}], "author": 5, "image": 7})),
        b"<html><body><h1>" + "ع".encode() * 300_000 + b"</h1></body></html>",
    ):
        items = read_html(data, context(), path=Path("p.html"))
        assert items and all(isinstance(i, Article | Reject) for i in items)


# --- through ingest: suffixes, sizes, the mtime --------------------------------------------


def test_html_and_htm_files_are_discovered_and_read_as_html_pages(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_bytes(doc(jsonld({"@type": "NewsArticle", "headline": "أ"})))
    (tmp_path / "b.HTM").write_bytes(doc(jsonld({"@type": "NewsArticle", "headline": "ب"})))
    (tmp_path / "c.txt").write_text(f"{TITLE}\n\n{PARAGRAPHS[0]}\n", encoding="utf-8")
    paths, problems = ingest.discover([tmp_path], NOW)
    assert not problems and [p.name for p in paths] == ["a.html", "b.HTM", "c.txt"]
    run = context().settings
    titles = [
        item.title
        for path in paths
        for item in ingest.read_path(path, run, NOW)
        if isinstance(item, Article)
    ]
    assert titles[:2] == ["أ", "ب"]


def test_an_html_page_is_bounded_by_the_file_limit_not_the_article_limit(tmp_path: Path) -> None:
    page = tmp_path / "big.html"
    page.write_bytes(doc(after="<!--" + "x" * 4000 + "-->"))
    run = ingest.settings(
        IngestConfig(max_article_bytes=3000, max_file_bytes=100_000),
        TagsConfig(),
        timezone=TZ,
        site_url="https://news.example.org",
    )
    assert isinstance(ingest.read_path(page, run, NOW)[0], Article)
    small = replace(run, limits=replace(run.limits, max_file_bytes=2000))
    reason = ingest.read_path(page, small, NOW)[0]
    assert isinstance(reason, Reject) and "ingest.max_file_bytes (2000)" in reason.reason


def test_explain_path_explains_an_html_page(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    page.write_bytes(doc(jsonld(GRAPH)))
    lines = ingest.explain_path(page, context().settings, NOW)
    assert lines[0] == f"{page}:"
    assert any(line.startswith("author") and "JSON-LD NewsArticle.author" in line for line in lines)


def test_an_html_folder_learns_no_chrome_and_a_page_key_ignores_it(tmp_path: Path) -> None:
    for n in range(4):
        (tmp_path / f"p{n}.html").write_bytes(doc())
    learned = ingest.learn_chrome(sorted(tmp_path.iterdir()), IngestConfig())
    lines = learned[tmp_path]
    assert lines.pages == 0
    opened = ingest.open_source(tmp_path / "p0.html", context().settings, NOW)
    assert ingest.page_chrome(opened, lines) == []


def test_an_html_page_reads_the_same_twice() -> None:
    data = doc(jsonld(GRAPH) + OPEN_GRAPH)
    first, second = (page_items(read(data), context()) for _ in range(2))
    assert first == second


# --- any bytes at all ----------------------------------------------------------------------

PIECES = st.sampled_from(
    [
        "<div>",
        "</div>",
        "<p>",
        "</p>",
        "<br>",
        "<br><br>",
        "<h1>",
        "</h1>",
        "<a rel='tag' href='/t'>",
        "<a href='javascript:x'>",
        "</a>",
        "<img src='//x/%zz'>",
        "<article itemscope itemtype='http://schema.org/NewsArticle'>",
        "<span itemprop='datePublished'>",
        "<meta itemprop='image' content='::'>",
        "<abbr class='published' title='2026-13-45'>",
        "<script type='application/ld+json'>",
        "</script>",
        '{"@type": "NewsArticle", "headline": ',
        '{"@graph": [{"@id": "x", "author": {"@id": "x"}}]}',
        "<link rel='canonical' href='http://[::1'>",
        "<meta property='og:image' content='https://'>",
        "<meta charset='utf-16'>",
        "<form>",
        "<span>إعلان</span>",
        "اقرأ أيضاً: ",
        "الوسوم",
        "\ud800",
        "\x00",
        "\u202e",
        "&#0;&bogus;",
        PARAGRAPHS[0],
    ]
)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(PIECES, st.text(max_size=30)), max_size=40))
def test_any_page_is_an_article_or_a_reject_never_an_exception(pieces: list[str]) -> None:
    data = "".join(pieces).encode("utf-8", "surrogatepass")
    items = read_html(data, context(), path=Path("p.html"))
    assert items and all(isinstance(item, Article | Reject) for item in items)
    for item in items:
        if isinstance(item, Article):
            assert item.title and item.content and "\x00" not in item.content
