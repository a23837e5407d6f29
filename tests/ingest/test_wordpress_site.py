"""The ``wordpress`` source against a real WordPress (Debian's package, served
by ``php -S``, its database on the MariaDB at 127.0.0.1:3306): a site of 250
Arabic posts read into feeds, then edited, trashed, unpublished and added to;
a post saved in the same second as the cursor; the site going down mid-sync;
its API found with and without pretty permalinks; an application password.

Posts, terms, authors and featured images are made through WordPress itself
(``tests/support/wordpress.py``); the feeds are read back with feedparser.
One WordPress serves the whole module (installed once); each test starts
from an empty site (``wordpress.delete_all_posts``).
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import feedparser
import pytest

from feedpub import app
from feedpub.cli import main
from feedpub.config import Config, SourceConfig
from feedpub.ingest import http, wordpress_sync
from feedpub.store import SqlStore
from support import wordpress as wp_harness
from support.ingesting import make_config
from support.wordpress import WordPress

CATEGORIES = ("سياسة", "اقتصاد", "رياضة", "ثقافة")
TAGS = ("مصر", "غزة", "النفط", "كرة القدم", "الأمم المتحدة", "الذكاء الاصطناعي")
AUTHORS = {"sara": "سارة الأحمد", "omar": "عمر الخطيب", "lina": "لينا حداد"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WordPress]:
    problem = wp_harness.problem()
    if problem is not None:
        pytest.skip(problem)
    with wp_harness.running_wordpress(tmp_path_factory.mktemp("wordpress")) as made:
        made.make_authors(AUTHORS)
        made.make_images(
            [
                {
                    "name": "gaza",
                    "width": 1200,
                    "height": 800,
                    "alt": "شاحنات المساعدات",
                    "color": [180, 40, 40],
                },
                {
                    "name": "oil",
                    "width": 1600,
                    "height": 900,
                    "alt": "حقل نفط",
                    "color": [20, 20, 20],
                },
                {"name": "small", "width": 600, "height": 400, "alt": "", "color": [30, 90, 200]},
            ]
        )
        yield made


@pytest.fixture
def wordpress(site: WordPress, monkeypatch: pytest.MonkeyPatch) -> WordPress:
    """The module's site, emptied of posts, served, with plain permalinks."""
    site.start()
    site.delete_all_posts()
    site.set_permalinks("")
    # Retries without the production backoff: a refused connection fails in ms.
    monkeypatch.setattr(http, "DEFAULTS", replace(http.DEFAULTS, backoff=0.01))
    return site


def arabic_posts(
    count: int, start: datetime, *, first: int = 0, images: Sequence[int] = ()
) -> list[dict[str, Any]]:
    """``count`` posts ten minutes apart from ``start`` (UTC), each with a
    category, two tags, an author and (two in three) a featured image."""
    posts = []
    for n in range(first, first + count):
        post: dict[str, Any] = {
            # WordPress prints " - " as &#8211; and "..." as &#8220;&#8221;.
            "title": f'وزير الخارجية يبحث "ملف المياه" - الجولة {n}',
            "content": (
                f"<p>قال مسؤولون إن الجولة رقم {n} من المحادثات تناولت ملف المياه والطاقة.</p>\n"
                f"<p>وأضافوا أن الاجتماع المقبل سيعقد في القاهرة خلال أسبوعين.</p>"
            ),
            "categories": [CATEGORIES[n % len(CATEGORIES)]] if n % 10 else [],
            "tags": [TAGS[n % len(TAGS)], TAGS[(n + 1) % len(TAGS)]],
            "author": list(AUTHORS)[n % len(AUTHORS)],
            "date_gmt": (start + timedelta(minutes=10 * (n - first))).strftime("%Y-%m-%d %H:%M:%S"),
        }
        if n % 3 and images:
            post["image"] = images[n % len(images)]
        if n % 4 == 0:
            post["excerpt"] = f"ملخص الجولة {n} كما كتبه المحرر"
        posts.append(post)
    return posts


CONFIG = """\
site:
  title: "أخبار الاختبار"
  url: "https://news.example.org"
  timezone: "Africa/Cairo"
store:
  url: "sqlite:///{store}"
sources:
  - wordpress: {url}/
feeds:
  output: public
  items: 300
  archive: true
  archive_page_size: 100
digests: []
"""


def _config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(store=tmp_path / "feedpub.db", url=url), encoding="utf-8")
    return config


def _feed(path: Path) -> Any:
    parsed = feedparser.parse(path.read_bytes())
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def _requests(site: WordPress, after: int = 0) -> list[str]:
    """The requests the PHP server logged (its own access log), from line ``after``."""
    lines = (site.folder / "php-server.log").read_text(errors="replace").splitlines()[after:]
    return [m[1] for line in lines if (m := re.search(r"\[\d{3}\]: GET (\S+)", line))]


def _log_length(site: WordPress) -> int:
    return len((site.folder / "php-server.log").read_text(errors="replace").splitlines())


def test_a_site_of_250_posts_then_edits_deletions_and_additions_reach_the_feeds(
    wordpress: WordPress,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FEEDPUB_NOW", raising=False)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=5)
    ids = wordpress.insert_posts(arabic_posts(250, start, images=wordpress.images))
    config = _config(tmp_path, wordpress.url)
    mark = _log_length(wordpress)

    assert main(["--config", str(config), "ingest"]) == 0
    assert capsys.readouterr().out == "ingest: 250 new, 0 updated, 0 unchanged, 0 rejected\n"
    asked = [parse_qs(urlsplit(r).query) for r in _requests(wordpress, mark)]
    posts = [q for q in asked if q.get("rest_route") == ["/wp/v2/posts"]]
    listings = [q for q in posts if q["_fields"] == ["id,modified_gmt"]]
    fetched = [q["include"][0].split(",") for q in posts if "_embed" in q]
    assert len(listings) == 3  # 250 posts, 100 a page
    assert len(fetched) == 3 and sorted(int(i) for f in fetched for i in f) == sorted(ids)
    assert main(["--config", str(config), "build"]) == 0

    public = tmp_path / "public"
    published = wordpress.published()
    atom = _feed(public / "atom.xml")
    assert {e.id for e in atom.entries} == {p["link"] for p in published.values()}
    assert len(atom.entries) == 250
    by_link = {e.link: e for e in atom.entries}
    first = by_link[published[ids[1]]["link"]]
    assert first.title == "وزير الخارجية يبحث “ملف المياه” – الجولة 1"
    assert first.author == AUTHORS["omar"]
    assert {t.term for t in first.tags} == {"اقتصاد", "غزة", "النفط"}
    assert "الجولة رقم 1 من المحادثات" in first.content[0].value
    # The placeholder category of a post without one is not a tag.
    terms = {t.term for e in atom.entries for t in e.get("tags", [])}
    assert not terms & {"Uncategorized", "غير مصنف"}
    assert len(terms) == len(CATEGORIES) + len(TAGS)
    politics = _feed(public / "tag" / "سياسة" / "atom.xml")
    assert {e.id for e in politics.entries} == {
        published[i]["link"] for n, i in enumerate(ids) if n % 10 and n % 4 == 0
    }
    rss = _feed(public / "rss.xml")
    assert len(rss.entries) == 250
    feed_json = json.loads((public / "feed.json").read_text(encoding="utf-8"))
    with_image = next(i for i in feed_json["items"] if i["url"] == published[ids[1]]["link"])
    assert with_image["image"].endswith("/oil-1024x576.jpg")  # WordPress's large rendition

    link = published[ids[1]]["link"]
    assert main(["--config", str(config), "ingest", "--explain", link]) == 0
    explained = capsys.readouterr().out
    assert f"WordPress post {ids[1]} of wordpress:127.0.0.1:{wordpress.port}" in explained
    assert "_embedded.wp:term (category)" in explained and "اقتصاد" in explained

    # The newsroom's day: 5 edited, 2 trashed, 1 unpublished, 3 added.
    edited, trashed, unpublished = ids[10:15], ids[100:102], ids[200]
    wordpress.update_posts(
        [{"ID": i, "post_title": f"تحديث: الجولة {i} انتهت باتفاق"} for i in edited]
    )
    wordpress.trash_posts(trashed)
    wordpress.update_posts([{"ID": unpublished, "post_status": "draft"}])
    added = wordpress.insert_posts(
        arabic_posts(3, datetime.now(UTC) - timedelta(hours=1), first=300)
    )
    atom_updated = {e.id: e.updated_parsed for e in atom.entries}

    assert main(["--config", str(config), "ingest", "--reconcile"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "ingest: 3 new, 5 updated, 0 unchanged, 0 rejected, 3 withdrawn"
    )
    assert main(["--config", str(config), "build"]) == 0

    published = wordpress.published()
    assert len(published) == 250
    for name in ("atom.xml", "rss.xml"):
        entries = _feed(public / name).entries
        assert sorted(e.id if name == "atom.xml" else e.link for e in entries) == sorted(
            p["link"] for p in published.values()
        )
    atom = _feed(public / "atom.xml")
    by_id = {e.id: e for e in atom.entries}
    for post_id in edited:
        entry = by_id[published[post_id]["link"]]  # the same entry id as before
        assert entry.title == f"تحديث: الجولة {post_id} انتهت باتفاق"
        assert entry.updated_parsed > atom_updated[entry.id]
    for post_id in added:
        assert published[post_id]["link"] in by_id
    gone = {f"{wordpress.url}/?p={i}" for i in (*trashed, unpublished)}
    assert not gone & set(by_id)
    for tag_feed in (public / "tag").glob("*/atom.xml"):
        assert not gone & {e.id for e in _feed(tag_feed).entries}
    for page in (public / "archive").rglob("*.xml"):
        assert not gone & {e.get("id") for e in _feed(page).entries}

    assert main(["--config", str(config), "status"]) == 0
    status = capsys.readouterr().out
    assert f"source wordpress:127.0.0.1:{wordpress.port}: last sync " in status
    assert "failed" not in status


def _ingest(cfg: Config, store: SqlStore, now: datetime, **kwargs: Any) -> Any:
    with app.make_publisher(cfg, now=now, store=store) as pub:
        return pub.ingest(**kwargs)


def _cfg(tmp_path: Path, site: WordPress, **options: Any) -> Config:
    entry = SourceConfig("wordpress", site.url + "/", options, "config.yaml:8: sources[0]")
    return replace(make_config(tmp_path), sources=(entry,))


def test_a_post_saved_in_the_same_second_as_the_cursor_is_not_missed(
    wordpress: WordPress, tmp_path: Path
) -> None:
    store = SqlStore.open(f"sqlite:///{tmp_path / 'second.db'}")
    now = datetime.now(UTC).replace(microsecond=0)
    second = now - timedelta(hours=1)
    (first,) = wordpress.insert_posts(arabic_posts(1, second))
    cfg = _cfg(tmp_path, wordpress)
    assert _ingest(cfg, store, now).new == 1
    cursor = json.loads(store.source_cursor(f"wordpress:127.0.0.1:{wordpress.port}") or "")
    assert cursor["types"]["posts"]["modified"] == second.isoformat()

    # Saved in the very second the cursor stands at, after it was read.
    (late,) = wordpress.insert_posts(arabic_posts(1, second, first=1))
    assert wordpress.modified_gmt(late) == wordpress.modified_gmt(first)
    report = _ingest(cfg, store, now + timedelta(minutes=1))
    assert (report.new, report.updated) == (1, 0)
    assert {a.id.rsplit(":", 1)[1] for a in store.latest_articles()} == {str(first), str(late)}
    store.close()


def test_the_site_down_mid_sync_loses_nothing_and_doubles_nothing(
    wordpress: WordPress,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(wordpress_sync, "PER_PAGE", 10)  # three pages of 23 posts: a quicker test
    now = datetime.now(UTC).replace(microsecond=0)
    ids = wordpress.insert_posts(arabic_posts(23, now - timedelta(days=3)))
    cfg = _cfg(tmp_path, wordpress)
    name = f"wordpress:127.0.0.1:{wordpress.port}"
    with SqlStore.open(f"sqlite:///{tmp_path / 'down.db'}") as store:

        def site_goes_down(done: int, total: int) -> None:
            if done == 1:
                wordpress.stop()  # between the first page and the second

        with caplog.at_level(logging.ERROR):
            report = _ingest(cfg, store, now, progress=site_goes_down)
        (failure,) = report.failed_sources
        assert failure.startswith(f"{name}: http://127.0.0.1:{wordpress.port}/")
        assert "Connection refused" in failure and "\n" not in failure
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [failure]
        assert report.new == 10 and store.article_count() == 10
        state = {s.source: s for s in store.source_states()}[name]
        assert state.error == failure and state.cursor is not None

        wordpress.start()
        report = _ingest(cfg, store, now + timedelta(minutes=5))
        assert report.failed_sources == ()
        assert (report.new, report.updated) == (13, 0)
        stored = [a.id for a in store.latest_articles(limit=1000)]
        assert len(stored) == len(set(stored)) == 23
        assert {int(i.rsplit(":", 1)[1]) for i in stored} == set(ids)
        assert {s.source: s.error for s in store.source_states()}[name] is None


def test_the_api_is_found_with_plain_and_with_pretty_permalinks(
    wordpress: WordPress, tmp_path: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    wordpress.insert_posts(arabic_posts(2, now - timedelta(days=1)))
    cfg = _cfg(tmp_path, wordpress)
    name = f"wordpress:127.0.0.1:{wordpress.port}"
    with (
        SqlStore.open(f"sqlite:///{tmp_path / 'plain.db'}") as plain,
        SqlStore.open(f"sqlite:///{tmp_path / 'pretty.db'}") as pretty,
    ):
        assert _ingest(cfg, plain, now).new == 2
        assert json.loads(plain.source_cursor(name) or "")["api"] == (
            f"{wordpress.url}/index.php?rest_route=/"
        )
        assert {urlsplit(a.url or "").query[:2] for a in plain.latest_articles()} == {"p="}

        wordpress.set_permalinks("/%year%/%postname%/")
        wordpress.insert_posts(arabic_posts(1, now - timedelta(hours=1), first=2))
        assert _ingest(cfg, pretty, now).new == 3
        assert json.loads(pretty.source_cursor(name) or "")["api"] == f"{wordpress.url}/wp-json/"
        assert all(urlsplit(a.url or "").query == "" for a in pretty.latest_articles())
        # The API kept in the other store's cursor still answers there. (A new
        # permalink structure does not modify the posts: the two stored keep
        # their ?p= links, which WordPress redirects, until they are edited.)
        report = _ingest(cfg, plain, now + timedelta(minutes=1))
        assert (report.new, report.updated, report.failed_sources) == (1, 0, ())


def test_a_run_with_nothing_new_makes_one_request(
    wordpress: WordPress, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wordpress_sync, "PER_PAGE", 10)
    now = datetime.now(UTC).replace(microsecond=0)
    wordpress.insert_posts(arabic_posts(25, now - timedelta(days=2)))
    cfg = _cfg(tmp_path, wordpress)
    with SqlStore.open(f"sqlite:///{tmp_path / 'quiet.db'}") as store:
        assert _ingest(cfg, store, now).new == 25
        mark = _log_length(wordpress)
        report = _ingest(cfg, store, now + timedelta(hours=1))
        assert (report.new, report.updated) == (0, 0)
        assert len(_requests(wordpress, mark)) == 1


def test_deleted_posts_are_withdrawn_once_the_reconcile_period_has_passed(
    wordpress: WordPress, tmp_path: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    ids = wordpress.insert_posts(arabic_posts(4, now - timedelta(days=1)))
    cfg = _cfg(tmp_path, wordpress, reconcile="12h")
    name = f"wordpress:127.0.0.1:{wordpress.port}"
    with SqlStore.open(f"sqlite:///{tmp_path / 'later.db'}") as store:
        _ingest(cfg, store, now)
        wordpress.trash_posts([ids[0]])
        assert _ingest(cfg, store, now + timedelta(hours=11)).withdrawn == 0
        assert store.article_count() == 4
        assert _ingest(cfg, store, now + timedelta(hours=13)).withdrawn == 1
        assert f"{name}:{ids[0]}" not in {a.id for a in store.latest_articles()}
        assert [w[:3] for w in store.withdrawn()] == [
            (f"{name}:{ids[0]}", name, "gone from its source")
        ]
        # Put back from the trash: it comes back (untrashing modifies it).
        wordpress.php("<?php wp_untrash_post($in); wp_publish_post($in); return 1;", ids[0])
        assert _ingest(cfg, store, now + timedelta(hours=14)).new == 1
        assert store.article_count() == 4


def test_an_application_password_opens_an_api_closed_to_others_and_is_never_shown(
    wordpress: WordPress,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    wordpress.insert_posts(arabic_posts(1, now - timedelta(days=1)))
    password = wordpress.application_password("admin")
    wordpress.require_login(True)
    try:
        with SqlStore.open(f"sqlite:///{tmp_path / 'anonymous.db'}") as store:
            (failure,) = _ingest(_cfg(tmp_path, wordpress), store, now).failed_sources
        assert "answered 401 Unauthorized (Only logged-in users may read this API.)" in failure

        cfg = _cfg(tmp_path, wordpress, username="admin")
        monkeypatch.setenv("FEEDPUB_WORDPRESS_PASSWORD", password)
        with SqlStore.open(f"sqlite:///{tmp_path / 'auth.db'}") as store:
            assert _ingest(cfg, store, now).new == 1

        wrong = "abcd efgh ijkl mnop qrst uvwx"
        monkeypatch.setenv("FEEDPUB_WORDPRESS_PASSWORD", wrong)
        with (
            SqlStore.open(f"sqlite:///{tmp_path / 'wrong.db'}") as store,
            caplog.at_level(logging.DEBUG),
        ):
            (failure,) = _ingest(cfg, store, now).failed_sources
    finally:
        wordpress.require_login(False)
    assert "answered 401 Unauthorized" in failure
    secrets = [wrong, password]
    secrets += [base64.b64encode(f"admin:{p}".encode()).decode() for p in secrets]
    logged = "\n".join(r.getMessage() for r in caplog.records) + "\n".join(
        str(r.args) for r in caplog.records
    )
    assert not any(secret in logged or secret in failure for secret in secrets)
