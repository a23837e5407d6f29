"""The ``wordpress`` source without a WordPress: every field of a post as a
real WordPress answered it (``tests/fixtures/wordpress/posts.json``) and the
cases derived from it; its config entry; and sites on a loopback server that
are not WordPress, answer garbage, moved their API, or whose listing skips a
post while it pages (the real site is in ``test_wordpress_site.py``)."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from feedpub.config import ConfigError, SourceConfig
from feedpub.ingest import http, job
from feedpub.ingest.context import FileContext
from feedpub.ingest.source import SourceContext, make_sources
from feedpub.ingest.wordpress import WordPressSource
from feedpub.ingest.wordpress_posts import map_post
from feedpub.ingest.wordpress_sync import query_start
from feedpub.model import Article, Reject
from feedpub.store import SqlStore
from support.http_server import Answer, Seen, Site, serving
from support.ingesting import make_config, run_settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "wordpress"
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
SOURCE = "wordpress:news.example.org"


def fixture_posts() -> list[dict[str, Any]]:
    return list(json.loads((FIXTURES / "posts.json").read_text(encoding="utf-8")))


def _map(post: Mapping[str, Any], tmp_path: Path, **vocabulary: tuple[str, ...]) -> Any:
    settings = run_settings(make_config(tmp_path, vocabulary=vocabulary))
    article_id = f"{SOURCE}:{post['id']}"
    return map_post(post, article_id, SOURCE, FileContext(article_id, settings, NOW, NOW))


def _article(mapped: Any) -> Article:
    (article,) = [i for i in mapped.items if isinstance(i, Article)]
    return article


# --- the fields ------------------------------------------------------------------------


def test_every_field_of_a_real_post_is_mapped(tmp_path: Path) -> None:
    mapped = _map(fixture_posts()[0], tmp_path)
    article = _article(mapped)
    assert article.id == f"{SOURCE}:5" and article.source == SOURCE
    assert article.title == "وزير الخارجية: “المحادثات مستمرة” – والجولة المقبلة في القاهرة"
    assert article.summary.startswith("قال وزير الخارجية إن المحادثات مستمرة & إن الجولة")
    assert article.summary.endswith("وتابع أن…") and "[" not in article.summary
    assert article.content.startswith("<p>قال وزير الخارجية إن المحادثات مستمرة &amp; إن")
    assert article.published == article.updated == datetime(2026, 11, 30, 7, 15, tzinfo=UTC)
    assert article.url == "https://news.example.org/?p=5"
    assert article.author == "سارة الأحمد"
    assert [t.name for t in article.tags] == ["أخبار عربية", "سياسة", "غزة", "مصر"]
    assert article.image == (
        "https://news.example.org/wp-content/uploads/2026/12/gaza-aid-1024x683.jpg"
    )
    assert (article.image_width, article.image_height) == (1024, 683)
    assert article.image_alt == "شاحنات المساعدات عند معبر رفح"
    fields = {name for name, _origin, _value in mapped.trail}
    assert fields >= {"id", "title", "summary", "content", "published", "updated", "url"}
    assert ("published", "date_gmt, as UTC", "2026-11-30T07:15:00+00:00") in mapped.trail


def test_a_post_without_a_category_is_not_tagged_with_the_placeholder(tmp_path: Path) -> None:
    mapped = _map(fixture_posts()[1], tmp_path)
    article = _article(mapped)
    assert article.tags == ()
    assert ("tag", "DROPPED: WordPress's placeholder category", "Uncategorized") in mapped.trail
    assert article.image is None and article.image_width is None


def _with(post: dict[str, Any], **changes: Any) -> dict[str, Any]:
    changed = copy.deepcopy(post)
    for key, value in changes.items():
        if value is None:
            changed.pop(key, None)
        else:
            changed[key] = value
    return changed


MORE = (
    '<p>ملخص المحرر للخبر&hellip; <a href="https://news.example.org/?p=5" class="more-link">'
    'أكمل القراءة<span class="screen-reader-text"> &#8220;الخبر&#8221;</span></a></p>'
)


@pytest.mark.parametrize(
    ("changes", "summary"),
    [
        ({"excerpt": {"rendered": MORE, "protected": False}}, "ملخص المحرر للخبر…"),
        (
            # A theme's link to the post itself, without the class.
            {
                "excerpt": {
                    "rendered": '<p>ملخص قصير <a href="/?p=5">اقرأ المزيد &raquo;</a></p>',
                    "protected": False,
                }
            },
            "ملخص قصير",
        ),
        ({"excerpt": {"rendered": "", "protected": False}}, "FIRST PARAGRAPH"),
        ({"excerpt": None}, "FIRST PARAGRAPH"),
    ],
    ids=["more-link", "link-to-itself", "empty", "absent"],
)
def test_the_summary_drops_the_continue_reading_link_or_falls_back_to_the_lead(
    tmp_path: Path, changes: dict[str, Any], summary: str
) -> None:
    post = fixture_posts()[1]
    post["link"] = "https://news.example.org/?p=5"
    article = _article(_map(_with(post, **changes), tmp_path))
    # Never the caption of the figure the content opens with.
    assert article.summary == ("فقرة أولى من الخبر." if summary == "FIRST PARAGRAPH" else summary)


def test_content_is_sanitised_like_every_other_input(tmp_path: Path) -> None:
    content = (
        '<p onclick="steal()">نص <script>alert(1)</script><a href="javascript:x()">رابط</a></p>'
        '<iframe src="https://ads.example.com/"></iframe>'
    )
    post = _with(fixture_posts()[0], content={"rendered": content, "protected": False})
    article = _article(_map(post, tmp_path))
    for bad in ("onclick", "<script", "alert", "javascript:", "<iframe"):
        assert bad not in article.content
    assert "نص" in article.content and "رابط" in article.content


@pytest.mark.parametrize(
    ("changes", "published", "updated"),
    [
        # A post edited later: date_gmt stays, modified_gmt moves.
        ({"modified_gmt": "2026-11-30T09:00:00"}, "2026-11-30T07:15", "2026-11-30T09:00"),
        # No date_gmt (a draft's, or a broken plugin's): modified_gmt for both.
        ({"date_gmt": None}, "2026-11-30T07:15", "2026-11-30T07:15"),
        # modified before date (a scheduled post): updated is never earlier.
        ({"modified_gmt": "2026-11-29T00:00:00"}, "2026-11-30T07:15", "2026-11-30T07:15"),
        # The site-local date without an offset is never read.
        ({"date": "2026-11-30T09:15:00"}, "2026-11-30T07:15", "2026-11-30T07:15"),
    ],
    ids=["edited", "no-date-gmt", "scheduled", "local-date-ignored"],
)
def test_dates_come_from_the_gmt_fields_as_utc(
    tmp_path: Path, changes: dict[str, Any], published: str, updated: str
) -> None:
    article = _article(_map(_with(fixture_posts()[0], **changes), tmp_path))
    assert article.published == datetime.fromisoformat(published).replace(tzinfo=UTC)
    assert article.updated == datetime.fromisoformat(updated).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "reason", "withdraw"),
    [
        (
            {"content": {"rendered": "", "protected": True}},
            "https://news.example.org/?p=5: password-protected, its text is not public",
            True,
        ),
        (
            {"title": {"rendered": " "}},
            "https://news.example.org/?p=5: the post has no title",
            False,
        ),
        (
            {"date_gmt": None, "modified_gmt": None},
            "https://news.example.org/?p=5: neither date_gmt nor modified_gmt is a date",
            False,
        ),
    ],
    ids=["protected", "untitled", "undated"],
)
def test_a_post_that_cannot_be_published_is_a_reject_naming_it(
    tmp_path: Path, changes: dict[str, Any], reason: str, withdraw: bool
) -> None:
    mapped = _map(_with(fixture_posts()[0], **changes), tmp_path)
    (reject,) = mapped.items
    assert isinstance(reject, Reject)
    assert (reject.source, reject.reason) == (f"{SOURCE}:5", reason)
    assert mapped.withdraw is withdraw


def test_featured_media_the_reader_may_not_see_or_without_sizes(tmp_path: Path) -> None:
    post = fixture_posts()[0]
    hidden = copy.deepcopy(post)
    hidden["_embedded"]["wp:featuredmedia"] = [{"code": "rest_forbidden", "message": "x"}]
    assert _article(_map(hidden, tmp_path)).image is None
    small = copy.deepcopy(post)
    media = small["_embedded"]["wp:featuredmedia"][0]
    media["media_details"]["sizes"] = {}  # an image too small for WordPress to resize
    article = _article(_map(small, tmp_path))
    assert article.image == media["source_url"]
    assert (article.image_width, article.image_height) == (1200, 800)


def test_terms_go_through_the_tag_vocabulary(tmp_path: Path) -> None:
    article = _article(_map(fixture_posts()[0], tmp_path, **{"فلسطين": ("غزة",), "القاهرة": ()}))
    names = [t.name for t in article.tags]
    assert "فلسطين" in names and "غزة" not in names  # an alias becomes its tag
    assert "القاهرة" in names  # found in the text


# --- the config entry --------------------------------------------------------------------


def _context(tmp_path: Path, **environ: str) -> SourceContext:
    cfg = make_config(tmp_path)
    return SourceContext(run_settings(cfg), cfg.site.timezone, environ=environ)


WHERE = "config.yaml:9: sources[1]"


@pytest.mark.parametrize(
    ("location", "options", "environ", "expected"),
    [
        ("https://x.org/", {"evry": 1}, {}, f"{WHERE}.evry: unknown key (known here: post_types"),
        ("news.example.org", {}, {}, f"{WHERE}: wordpress: not an http(s) URL: 'news.example.org'"),
        ("https://x.org/", {"post_types": "Posts!"}, {}, f"{WHERE}.post_types: a list of REST"),
        ("https://x.org/", {"reconcile": "daily"}, {}, f"{WHERE}.reconcile: a duration such as"),
        ("https://x.org/", {"delay": -1}, {}, f"{WHERE}.delay: seconds (0 or more), got -1"),
        (
            "https://x.org/",
            {"username": "feeds"},
            {},
            f"{WHERE}.username: no application password: provide $FEEDPUB_WORDPRESS_PASSWORD",
        ),
        (
            "http://x.org/",
            {"username": "feeds"},
            {"FEEDPUB_WORDPRESS_PASSWORD": "p"},
            f"{WHERE}.username: the application password would cross the network in clear",
        ),
    ],
    ids=["unknown", "not-a-url", "post-types", "reconcile", "delay", "no-password", "http"],
)
def test_a_bad_entry_is_a_config_error_naming_its_key(
    tmp_path: Path, location: str, options: dict[str, Any], environ: dict[str, str], expected: str
) -> None:
    entry = SourceConfig("wordpress", location, options, WHERE)
    with pytest.raises(ConfigError) as caught:
        make_sources([entry], _context(tmp_path, **environ))
    assert str(caught.value).startswith(expected)


def test_two_sites_never_share_an_id_and_one_site_is_one_entry(tmp_path: Path) -> None:
    entries = [
        SourceConfig("wordpress", "https://news.example.org/", {"reconcile": "off"}, WHERE),
        SourceConfig("wordpress", "https://NEWS.example.org/ar", {"post_types": ["posts"]}, WHERE),
    ]
    a, b = make_sources(entries, _context(tmp_path))
    assert isinstance(a, WordPressSource) and isinstance(b, WordPressSource)
    assert (a.name, b.name) == ("wordpress:news.example.org", "wordpress:news.example.org/ar")
    assert a.article_id(7) != b.article_id(7)
    assert a.options.reconcile is None and b.options.reconcile == timedelta(days=1)
    with pytest.raises(ConfigError, match="is already a source"):
        make_sources([entries[0], entries[0]], _context(tmp_path))


def test_the_query_starts_before_the_cursor_and_before_an_hour_a_clock_change_repeats() -> None:
    cairo = ZoneInfo("Africa/Cairo")  # summer time ended on 29 October 2026
    cursor = datetime(2026, 10, 29, 20, 30, tzinfo=UTC)  # 23:30 summer time (+3)
    assert query_start(cursor, cairo, cursor + timedelta(hours=1)) == cursor - timedelta(
        hours=1, seconds=10
    )
    steady = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    assert query_start(steady, cairo, NOW) == steady - timedelta(seconds=10)
    assert query_start(steady, None, NOW) == steady - timedelta(seconds=10)
    assert query_start(None, cairo, NOW) is None


# --- sites on a loopback server -----------------------------------------------------------


class FakeApi:
    """Enough of WordPress's REST API to read a list of posts: the home
    page's Link header, the index, wp/v2/posts with modified_after, paging,
    include and _fields=id."""

    def __init__(self, site: Site, posts: list[dict[str, Any]], root: str = "/wp-json/") -> None:
        self.site, self.posts, self.root = site, posts, root
        self.skip_in_listing: set[int] = set()
        site.routes["/"] = lambda _: Answer(
            200, b"<html></html>", {"Link": f'<{site.url}{self.root}>; rel="https://api.w.org/"'}
        )
        site.routes["/wp-json/"] = self.index
        site.routes["/wp-json/wp/v2/posts"] = self.list

    def index(self, _: Seen) -> Answer:
        body = {"namespaces": ["oembed/1.0", "wp/v2"], "timezone_string": "Africa/Cairo"}
        return Answer(200, json.dumps(body).encode(), {"Content-Type": "application/json"})

    def list(self, request: Seen) -> Answer:
        query = {k: v[0] for k, v in parse_qs(urlsplit(request.path).query).items()}
        found = sorted(self.posts, key=lambda p: (p["modified_gmt"], p["id"]))
        if "modified_after" in query:
            after = datetime.fromisoformat(query["modified_after"])
            found = [
                p for p in found if datetime.fromisoformat(p["modified_gmt"] + "+00:00") > after
            ]
        if "include" in query:
            wanted = {int(i) for i in query["include"].split(",")}
            found = [p for p in found if p["id"] in wanted]
        elif "slug" in query:
            found = [p for p in found if p["link"].rstrip("/").endswith("/" + query["slug"])]
        elif query.get("_fields") == "id":
            found = [p for p in found if p["id"] not in self.skip_in_listing]
        per_page, page = int(query.get("per_page", 10)), int(query.get("page", 1))
        pages = max(1, -(-len(found) // per_page))
        if page > pages:
            return Answer(400, b'{"code":"rest_post_invalid_page_number"}')
        chosen = found[(page - 1) * per_page : page * per_page]
        if query.get("_fields") == "id":
            chosen = [{"id": p["id"]} for p in chosen]
        headers = {"Content-Type": "application/json", "X-WP-TotalPages": str(pages)}
        return Answer(200, json.dumps(chosen, ensure_ascii=False).encode(), headers)


def _posts(count: int) -> list[dict[str, Any]]:
    base = fixture_posts()[0]
    made = []
    for n in range(1, count + 1):
        post = copy.deepcopy(base)
        when = (datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=n)).strftime(
            "%Y-%m-%dT%H:%M:%S"
        )
        post.update(id=n, date_gmt=when, modified_gmt=when, link=f"https://news.example.org/?p={n}")
        made.append(post)
    return made


@pytest.fixture
def site() -> Iterator[Site]:
    with serving() as served:
        yield served


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "DEFAULTS", replace(http.DEFAULTS, backoff=0.001, retries=1))


def _read(
    site: Site, store: SqlStore, tmp_path: Path, now: datetime = NOW, *, reconcile: bool = False
) -> Any:
    cfg = make_config(tmp_path)
    entry = SourceConfig("wordpress", site.url + "/", {}, WHERE)
    context = SourceContext(run_settings(cfg), cfg.site.timezone, files=store, reconcile=reconcile)
    return job.run_sources(make_sources([entry], context), store, now)


def test_a_site_that_is_not_wordpress_fails_with_one_line_and_keeps_its_cursor(
    site: Site, store: SqlStore, tmp_path: Path, quick: None, caplog: pytest.LogCaptureFixture
) -> None:
    site.routes["/"] = Answer(
        200, "<html><body>موقع</body></html>".encode(), {"Content-Type": "text/html"}
    )
    name = f"wordpress:127.0.0.1:{urlsplit(site.url).port}"
    with caplog.at_level(logging.ERROR):
        report = _read(site, store, tmp_path)
    (failure,) = report.failed_sources
    assert failure == (
        f"{name}: not a WordPress site: its home page announces no REST API "
        f'(no Link rel="https://api.w.org/"); {site.url}/wp-json/ answered 404; '
        f"{site.url}/?rest_route=/ is not a WordPress API index (no wp/v2 namespace)"
    )
    assert [r.getMessage() for r in caplog.records] == [failure]
    assert store.source_cursor(name) is None


def test_an_api_answering_garbage_fails_and_the_next_run_resumes(
    site: Site, store: SqlStore, tmp_path: Path, quick: None
) -> None:
    api = FakeApi(site, _posts(3))
    assert _read(site, store, tmp_path).new == 3
    name = f"wordpress:127.0.0.1:{urlsplit(site.url).port}"
    cursor = store.source_cursor(name)

    site.routes["/wp-json/wp/v2/posts"] = Answer(
        200, b"<html>Database error</html>", {"Content-Type": "text/html"}
    )
    (failure,) = _read(site, store, tmp_path, NOW + timedelta(hours=1)).failed_sources
    assert failure.startswith(f"{name}: {site.url}/wp-json/wp/v2/posts?")
    assert failure.endswith("the answer is not JSON (text/html, 27 bytes)")
    assert store.source_cursor(name) == cursor

    site.routes["/wp-json/wp/v2/posts"] = api.list
    api.posts += _posts(4)[3:]
    report = _read(site, store, tmp_path, NOW + timedelta(hours=2))
    assert (report.new, report.failed_sources) == (1, ())


def test_an_api_that_moved_is_found_again(
    site: Site, store: SqlStore, tmp_path: Path, quick: None
) -> None:
    api = FakeApi(site, _posts(2))
    assert _read(site, store, tmp_path).new == 2
    # The site now answers only at ?rest_route= (its /wp-json/ is gone).
    del site.routes["/wp-json/"], site.routes["/wp-json/wp/v2/posts"]
    api.root = "/index.php?rest_route=/"
    site.routes["/index.php"] = lambda r: (
        api.index(r)
        if "rest_route=%2F&" in r.path + "&" or r.path.endswith("rest_route=/")
        else api.list(r)
    )
    api.posts += _posts(3)[2:]
    report = _read(site, store, tmp_path, NOW + timedelta(hours=1))
    assert (report.new, report.failed_sources) == (1, ())
    name = f"wordpress:127.0.0.1:{urlsplit(site.url).port}"
    assert json.loads(store.source_cursor(name) or "")["api"].endswith("/index.php?rest_route=/")


def test_a_post_the_listing_skipped_while_paging_is_checked_and_never_withdrawn(
    site: Site, store: SqlStore, tmp_path: Path, quick: None
) -> None:
    api = FakeApi(site, _posts(5))
    assert _read(site, store, tmp_path).new == 5
    api.skip_in_listing = {2}  # paged past while another post moved
    api.posts = [p for p in api.posts if p["id"] != 4]  # trashed
    site.seen.clear()
    report = _read(site, store, tmp_path, NOW + timedelta(hours=1), reconcile=True)
    assert report.withdrawn == 1
    name = f"wordpress:127.0.0.1:{urlsplit(site.url).port}"
    assert sorted(a.id for a in store.latest_articles()) == [f"{name}:{n}" for n in (1, 2, 3, 5)]
    checks = [p for p in site.paths() if "include=" in p]
    assert len(checks) == 1 and "include=2%2C4" in checks[0]


def test_the_stored_ids_of_a_source_are_its_own(store: SqlStore) -> None:
    def article(n: int, source: str) -> Article:
        return Article(
            id=f"{source}:{n}",
            title="خبر",
            summary="",
            content="",
            published=NOW,
            updated=NOW,
            source=source,
        )

    for n, source in ((1, "wordpress:a"), (2, "wordpress:a"), (1, "wordpress:b")):
        store.upsert_article(article(n, source), NOW)
    assert sorted(store.source_article_ids("wordpress:a")) == ["wordpress:a:1", "wordpress:a:2"]
    assert store.source_article_ids("wordpress:c") == []


def test_explain_shows_where_each_field_of_a_post_comes_from(
    site: Site, tmp_path: Path, quick: None
) -> None:
    posts = _posts(2)
    posts[1]["link"] = "https://news.example.org/2026/11/وزير-الخارجية/"
    FakeApi(site, posts)
    entry = SourceConfig("wordpress", site.url + "/", {}, WHERE)
    (source,) = make_sources([entry], _context(tmp_path))
    assert isinstance(source, WordPressSource)
    by_id = source.explain(f"{source.name}:1", NOW)
    assert by_id is not None
    assert by_id[0].startswith(f"WordPress post 1 of {source.name}, read from {site.url}/")
    rows = {line.split()[0]: line for line in by_id[1:]}
    assert "title.rendered, entities decoded" in rows["title"]
    assert "date_gmt, as UTC" in rows["published"]
    assert "_embedded.wp:featuredmedia (large)" in rows["image"]
    by_url = source.explain(f"{site.url}/?p=2", NOW)
    assert by_url is not None and by_url[0].startswith("WordPress post 2 of")
    by_slug = source.explain(
        f"{site.url}/2026/11/%D9%88%D8%B2%D9%8A%D8%B1-%D8%A7%D9%84%D8%AE%D8%A7%D8%B1%D8%AC%D9%8A%D8%A9/",
        NOW,
    )
    assert by_slug is not None and by_slug[0].startswith("WordPress post 2 of")
    assert source.explain("https://elsewhere.example.org/?p=2", NOW) is None
    assert source.explain("samples/pages/a.txt", NOW) is None
    with pytest.raises(OSError, match="no published post answers"):
        source.explain(f"{source.name}:99", NOW)
    source.close()
