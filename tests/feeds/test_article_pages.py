"""Issue 10: a page for every article without a URL, and entry ids that never
change. Through the composition root, real ingest and a real store (SQLite
and PostgreSQL): records are written, ingested, built, edited, re-ingested
and built again, and the output folder is read as a reader would."""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import html5lib
import lxml.html
import pytest

from feedpub import app as pipeline
from feedpub.config import Config, SourceConfig
from feedpub.digests import plan_edition, render_edition
from feedpub.links import page_path
from feedpub.store import SqlStore
from support.digest_fixtures import DAILY, EMAIL, NOW
from support.feedfactory import FEEDS_URL, SITE_URL, make_config

FEED_FILES = ("atom.xml", "rss.xml", "feed.json")


def record(n: int, **fields: Any) -> dict[str, Any]:
    published = NOW - timedelta(hours=n)
    values: dict[str, Any] = {
        "id": f"r{n}",
        "title": f"خبر رقم {n} من دمشق",
        "text": f"نص الخبر {n} كاملاً.\n\nفقرة ثانية من الخبر {n}.",
        "published": published.isoformat(),
        "tags": ["اقتصاد", "دمشق"] if n % 2 else ["رياضة"],
    }
    values.update(fields)
    return values


def setup(tmp_path: Path) -> Config:
    (tmp_path / "records").mkdir()
    cfg = make_config(tmp_path / "public")
    return dataclasses.replace(cfg, sources=(SourceConfig.folder(tmp_path / "records"),))


def publish(cfg: Config, store: SqlStore, records: list[dict[str, Any]], now: datetime) -> Any:
    """Write the source file, ingest it, build: what a cron run does."""
    source = cfg.sources[0].path / "articles.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    with pipeline.make_publisher(cfg, now=now, store=store) as at:
        report = at.ingest()
        assert report.rejected == 0
        return at.build()


def local_file(cfg: Config, url: str) -> Path | None:
    """The file under feeds.output that ``url`` names, if it is one of ours."""
    if not url.startswith(FEEDS_URL + "/"):
        return None
    path = urllib.parse.unquote(url.removeprefix(FEEDS_URL + "/"))
    # A folder's URL is its index.html, as nginx and the web app serve it.
    return cfg.feeds.output / (path + "index.html" if path.endswith("/") or not path else path)


def entries(cfg: Config, path: str) -> dict[str, tuple[str, str | None]]:
    """Article id part of each entry -> (entry id, link), for one feed file."""
    data = (cfg.feeds.output / path).read_bytes()
    if path.endswith(".json"):
        return {item["title"]: (item["id"], item.get("url")) for item in json.loads(data)["items"]}
    parsed = feedparser.parse(data)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    found = {}
    for e in parsed.entries:
        alternate = [x.href for x in e.get("links", []) if x.rel == "alternate"]
        found[e.title] = (e.id, alternate[0] if alternate else None)
    return found


def feed_files(cfg: Config) -> list[str]:
    out = cfg.feeds.output
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.name in FEED_FILES)


def test_every_url_less_article_has_its_page_and_every_link_is_real(
    tmp_path: Path, store: SqlStore
) -> None:
    cfg = setup(tmp_path)
    records = [record(n) for n in range(1, 7)]
    records[1]["url"] = f"{SITE_URL}/economy/r2"
    publish(cfg, store, records, NOW)
    out = cfg.feeds.output

    pages = sorted(p.relative_to(out).as_posix() for p in (out / "articles").iterdir())
    assert pages == sorted(page_path(r["id"]) for r in records if "url" not in r)
    assert not (out / page_path("r2")).exists()

    # Every entry of every feed links to a page that exists or the article's own URL.
    checked = 0
    for path in feed_files(cfg):
        for _id, link in entries(cfg, path).values():
            assert link is not None
            target = local_file(cfg, link)
            assert link == f"{SITE_URL}/economy/r2" or (target is not None and target.is_file())
            checked += 1
    assert checked >= 3 * 6

    # Each page is HTML5 without a single parse error (html5lib implements
    # the WHATWG parsing algorithm; strict mode raises at the first error),
    # and its tags link to topic pages that exist in the output.
    html5 = html5lib.HTMLParser(strict=True)
    for page in pages:
        html5.parse((out / page).read_text("utf-8"))  # text: no charset sniffing (chardet)
        doc = lxml.html.fromstring((out / page).read_bytes())
        tag_links = [a.get("href") for a in doc.cssselect(".tags a")]
        assert tag_links
        for href in tag_links:
            target = local_file(cfg, href)
            assert target is not None and target.is_file() and target.name == "index.html"
            assert target.parent.parent.name == "tag"


def test_digest_items_link_to_the_article_page_when_the_article_has_no_url(
    tmp_path: Path, store: SqlStore
) -> None:
    cfg = setup(tmp_path)
    records = [record(n) for n in range(1, 5)]
    records[0]["url"] = f"{SITE_URL}/economy/r1"
    publish(cfg, store, records, NOW)

    planned = plan_edition(store, DAILY, NOW, tz=cfg.site.timezone)
    assert planned is not None and len(planned.articles) == 4
    edition = render_edition(planned, pipeline.digest_site(cfg), EMAIL)
    # The recipient slots (greeting, unsubscribe) stay empty: links are the same for all.
    parts = {"html": edition.html.fill({}), "archive": edition.archive_html}
    for name, html in parts.items():
        doc = lxml.html.fromstring(html)
        hrefs = {a.get("href") for a in doc.cssselect("h2 a")}
        assert len(hrefs) == 4, name
        for href in hrefs:
            target = local_file(cfg, href)
            assert href == f"{SITE_URL}/economy/r1" or (target is not None and target.is_file())
        assert SITE_URL + "/" not in hrefs and SITE_URL not in hrefs
    text = edition.text.fill({})
    for r in records[1:]:
        assert f"{FEEDS_URL}/{page_path(r['id'])}" in text


@pytest.mark.parametrize(
    "changes",
    [
        [None, f"{SITE_URL}/economy/r1"],
        [None, f"{SITE_URL}/economy/r1", f"{SITE_URL}/archive/2026/r1"],
        [f"{SITE_URL}/economy/r1", f"{SITE_URL}/archive/2026/r1"],
    ],
    ids=["url-gained", "url-gained-then-changed", "url-changed"],
)
def test_an_entry_id_never_changes_when_the_url_is_gained_or_changed(
    tmp_path: Path, store: SqlStore, changes: list[str | None]
) -> None:
    cfg = setup(tmp_path)
    others = [record(n) for n in (2, 3)]
    title = record(1)["title"]
    first_ids: dict[str, str] = {}
    for step, url in enumerate(changes):
        first = record(1) if url is None else record(1, url=url)
        publish(cfg, store, [first, *others], NOW + timedelta(minutes=step))
        holding = {path: entries(cfg, path) for path in feed_files(cfg)}
        holding = {path: found for path, found in holding.items() if title in found}
        assert len(holding) == 3 * 3  # main, اقتصاد, دمشق: in three formats
        for path, found in holding.items():
            entry_id, link = found[title]
            assert first_ids.setdefault(path, entry_id) == entry_id, (step, path)
            if url is None:
                assert link == f"{FEEDS_URL}/{page_path('r1')}"
            else:
                assert link == url
        assert (cfg.feeds.output / page_path("r1")).exists() == (url is None)
    expected_id = "tag:news.example.org,2026:article/r1" if changes[0] is None else changes[0]
    assert set(first_ids.values()) == {expected_id}


def test_pages_rebuild_only_when_their_article_changes(tmp_path: Path, store: SqlStore) -> None:
    cfg = setup(tmp_path)
    records = [record(n) for n in range(1, 5)]
    first = publish(cfg, store, records, NOW)
    assert {page_path(r["id"]) for r in records} <= set(first.written)

    noop = publish(cfg, store, records, NOW + timedelta(minutes=1))
    assert noop.written == () and noop.removed == ()

    records[2] = record(3, title="عنوان مصحح للخبر الثالث")
    edited = publish(cfg, store, records, NOW + timedelta(minutes=2))
    pages_written = {p for p in edited.written if p.startswith("articles/")}
    assert pages_written == {page_path("r3")}
    assert "عنوان مصحح للخبر الثالث" in (cfg.feeds.output / page_path("r3")).read_text("utf-8")

    records[3] = record(4, url=f"{SITE_URL}/sport/r4")
    gained = publish(cfg, store, records, NOW + timedelta(minutes=3))
    assert page_path("r4") in gained.removed
    assert not {p for p in gained.written if p.startswith("articles/")}
