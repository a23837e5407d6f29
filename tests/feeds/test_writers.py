"""The registry of feed formats (feeds/writers.py): every module that names a
format reads it, so a format written in this file alone, plus its one
``register`` line, is built like the others: tag feeds, archive pages,
OPML, index.html, fingerprints and minimal writes."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from feedpub import app as pipeline
from feedpub.config import ConfigError
from feedpub.feeds import build as feed_build
from feedpub.feeds import writers
from feedpub.feeds.entry import FeedHead, FeedItem, Writer
from feedpub.store import SqlStore
from support.feedfactory import POLITICS, PUTIN, SITE, article, feeds_config, make_config

NOW = datetime(2026, 4, 1, tzinfo=UTC)


# --- a format of this test's own: one line per entry -------------------------


def _lines_entries(pairs: Sequence[tuple[FeedItem, FeedHead]]) -> list[bytes]:
    return [f"{item.id}\t{item.title}\n".encode() for item, _ in pairs]


def _lines_document(head: FeedHead, entries: Sequence[bytes]) -> bytes:
    top = f"# {head.title}\n# {head.urls['lines']}\n# home {head.home}\n".encode()
    return top + b"".join(entries)


LINES = Writer(
    name="lines",
    filename="lines.txt",
    media_type="text/plain",
    label="Lines",
    archivable=True,
    entries=_lines_entries,
    document=_lines_document,
)


@pytest.fixture
def lines_format() -> Iterator[Writer]:
    writers.register(LINES)  # the one line a new format adds
    try:
        yield LINES
    finally:
        writers.unregister(LINES.name)


# --- the registry ---------------------------------------------------------------


def test_the_built_in_formats_are_registered_once_each() -> None:
    assert writers.names() == ("atom", "rss", "json")
    assert [w.filename for w in writers.every()] == ["atom.xml", "rss.xml", "feed.json"]
    assert [w.archivable for w in writers.every()] == [True, True, False]
    assert {w.media_type for w in writers.every()} == {
        "application/atom+xml",
        "application/rss+xml",
        "application/feed+json",
    }


@pytest.mark.parametrize(
    "clash",
    [
        dataclasses.replace(LINES, name="atom"),
        dataclasses.replace(LINES, filename="rss.xml"),
    ],
)
def test_a_format_may_not_take_a_registered_name_or_file(clash: Writer) -> None:
    with pytest.raises(ValueError, match="clashes"):
        writers.register(clash)
    assert writers.names() == ("atom", "rss", "json")


def test_an_unknown_format_is_a_one_line_config_error_naming_the_known_ones() -> None:
    writers.check_formats(("atom", "json"), "config.yaml")
    with pytest.raises(ConfigError) as raised:
        writers.check_formats(("atom", "rdf"), "/etc/feedpub/config.yaml")
    assert str(raised.value) == (
        "/etc/feedpub/config.yaml: feeds.formats[1]: unknown format 'rdf' (known: atom, rss, json)"
    )
    with pytest.raises(ConfigError, match=r"^feeds.formats\[0\]: unknown format 'rdf'"):
        writers.check_formats(("rdf",), "")


def test_every_build_path_refuses_an_unknown_format(tmp_path: Path) -> None:
    bad = feeds_config(tmp_path / "public", formats=("atom", "rdf"))
    with pytest.raises(ConfigError, match="unknown format 'rdf'"):
        feed_build.stamp_of(bad, SITE, 1)
    with pytest.raises(ConfigError, match="unknown format 'rdf'"):
        feed_build.render_archive(0, bad, SITE, lambda n: pytest.fail("loaded a page"))
    with (
        SqlStore.open(f"sqlite:///{tmp_path / 'store.db'}") as store,
        pytest.raises(ConfigError, match="unknown format 'rdf'"),
    ):
        feed_build.build(store, bad, SITE)


# --- a new format, built like the others --------------------------------------


def test_a_format_registered_in_one_line_is_built_like_the_others(
    tmp_path: Path, lines_format: Writer
) -> None:
    cfg = make_config(
        tmp_path / "public", formats=("atom", "lines"), archive=True, archive_page_size=2, items=3
    )
    public = cfg.feeds.output
    articles = [article(n, POLITICS, *([PUTIN] if n % 2 else [])) for n in range(6)]
    with SqlStore.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        store.upsert_articles(articles, NOW)
        first = pipeline.build_feeds(cfg, store)

        # The main feed, each tag's feed and each archive page, in both formats.
        for folder in ("", "tag/سياسة/", "tag/بوتين/", "feed-archive/1/"):
            assert f"{folder}lines.txt" in first.written
            assert f"{folder}atom.xml" in first.written
        main = (public / "lines.txt").read_text(encoding="utf-8").splitlines()
        assert main[1] == "# https://news.example.org/feeds/lines.txt"
        assert [line.split("\t")[0] for line in main[3:]] == [
            f"https://news.example.org/news/%D8%AE%D8%A8%D8%B1-{n}/" for n in (5, 4, 3)
        ]
        putin = (public / "tag/بوتين/lines.txt").read_text(encoding="utf-8")
        assert putin.count("\n") == 3 + 3  # its three odd-numbered articles
        assert "feed.json" not in {p.rsplit("/", 1)[-1] for p in first.written}

        # Listed for people and for readers like every format.
        opml = etree.parse(str(public / "feeds.opml"))
        labels = [o.get("text") for o in opml.iter("outline")]
        assert "أخبار المثال (Lines)" in labels
        index = (public / "index.html").read_text(encoding="utf-8")
        assert 'type="text/plain"' in index and "lines.txt" in index

        # Fingerprints: nothing changed, nothing written.
        assert pipeline.build_feeds(cfg, store).written == ()

        # Minimal writes: an edit of a Putin-less article rewrites the main
        # feed and its tag's feed, in each format, and nothing else.
        edited = article(4, POLITICS, title="عنوان جديد", content_hash="hash4-v2")
        store.upsert_articles([edited], NOW + timedelta(hours=1))
        changed = pipeline.build_feeds(cfg, store)
        assert set(changed.written) == {
            f"{folder}{name}" for folder in ("", "tag/سياسة/") for name in ("atom.xml", "lines.txt")
        } | {"tag/سياسة/index.html"}  # the topic page shows the new title
        assert "عنوان جديد" in (public / "tag/سياسة/lines.txt").read_text(encoding="utf-8")
