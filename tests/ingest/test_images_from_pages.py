"""An image's size and alternative text, as a publisher's page states them,
reach the feeds through the store: a saved HTML page (og:image:width and
height) is ingested, built, and read back from the written Atom file."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import feedparser

from feedpub import app
from feedpub.store import SqlStore
from support.ingesting import make_config

PAGE = Path(__file__).resolve().parents[1] / "fixtures" / "html" / "wp-jannah"
NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def test_the_pages_image_size_reaches_the_built_feed(tmp_path: Path, store: SqlStore) -> None:
    folder = tmp_path / "pages"
    folder.mkdir()
    shutil.copy(PAGE / "parliament-budget-2027.html", folder)
    cfg = make_config(tmp_path, sources=[folder])
    report = app.ingest_sources(cfg, store, NOW)
    assert report.new == 1, report
    (article,) = store.latest_articles()
    assert (article.image_width, article.image_height) == (1200, 675)
    app.build_feeds(cfg, store)
    feed = feedparser.parse((cfg.feeds.output / "atom.xml").read_bytes())
    (entry,) = feed.entries
    (media,) = entry.media_content
    assert media["url"].endswith("parliament-budget-2027.jpg")
    assert (media["width"], media["height"]) == ("1200", "675")
    # The page's body shows the picture already: it is not added a second time.
    assert entry.content[0].value.count("parliament-budget-2027.jpg") == 1
