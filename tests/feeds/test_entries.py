"""Entry bytes kept in the store between builds: an unchanged article's entry
is printed once, a change to the article or to what the renderer prints
from reprints it, and the documents always equal a build with no cache."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from feedpub.config import FeedsConfig
from feedpub.feeds import build as feed_build
from feedpub.feeds import printing
from feedpub.feeds.entry import MAX_CATEGORIES
from feedpub.feeds.site import FeedSite
from feedpub.model import Article, Tag
from feedpub.store import SqlStore
from support.feedfactory import DOTNET, POLITICS, PUTIN, SITE, article, feeds_config

NOW = datetime(2026, 4, 1, tzinfo=UTC)
MANY = tuple(Tag(key=f"وسم{n}", name=f"وسم {n}", slug=f"wasm-{n}") for n in range(40))


class Counting:
    """The store's entry cache, counting the entries each build prints."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.kept: list[str] = []

    def cached_entries(self, slots: Sequence[str]) -> dict[str, tuple[str, bytes]]:
        return self.store.cached_entries(slots)

    def keep_entries(self, entries: Sequence[tuple[str, str, bytes]]) -> None:
        self.kept += [slot for slot, _, _ in entries]
        self.store.keep_entries(entries)


def corpus() -> list[Article]:
    """Plain articles, one with no author (RSS dc:creator falls back on the
    feed's), and one with more tags than an entry carries (each tag feed
    adds its own tag to the capped list)."""
    articles = [article(n, POLITICS, *([PUTIN] if n % 2 else [])) for n in range(6)]
    articles.append(article(6, DOTNET, author=None))
    articles.append(article(7, PUTIN, *MANY))
    # no content hash: a light selection still carries its text
    articles.append(article(8, POLITICS, content_hash=""))
    assert len(MANY) + 1 > MAX_CATEGORIES
    return articles


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    with SqlStore.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        store.upsert_articles(corpus(), NOW)
        yield store


def build(
    store: SqlStore, cache: Counting | None, feeds: FeedsConfig, site: FeedSite = SITE
) -> dict[str, bytes | None]:
    return feed_build.build(store, feeds, site, cache=cache).files


def cfg(**fields: Any) -> FeedsConfig:
    return feeds_config(Path("public"), items=20, min_items=1, **fields)


def test_a_second_build_prints_no_entry_and_writes_the_same_bytes(store: SqlStore) -> None:
    cache = Counting(store)
    first = build(store, cache, cfg())
    articles = len(corpus())
    # every article once per format, plus the capped one once more per tag feed
    assert len(cache.kept) == ALL == 3 * (articles + len(MANY) + 1)
    cache.kept.clear()
    again = build(store, cache, cfg())
    assert cache.kept == []
    assert again == first == build(store, None, cfg())


def test_a_capped_entry_names_the_tag_of_each_feed_it_is_in(store: SqlStore) -> None:
    files = build(store, Counting(store), cfg())
    for tag in (MANY[0], MANY[-1]):
        data = files[f"tag/{tag.slug}/atom.xml"]
        assert data is not None and f'term="{tag.slug}"'.encode() in data
    main = files["atom.xml"]
    assert main is not None and f'term="{MANY[-1].slug}"'.encode() not in main
    rss = files["tag/c-net/rss.xml"]
    assert rss is not None and f"<dc:creator>{SITE.title}</dc:creator>".encode() in rss


ALL = 3 * (len(corpus()) + len(MANY) + 1)


@pytest.mark.parametrize(
    ("change", "reprinted"),
    [
        ("edited article", 3),  # its entry in each format
        ("re-tagged article", 3),
        # only the RSS item with no author of its own prints the site's name
        ("site title", 1),
        ("full_content off", ALL),
        ("site url", ALL),
        ("site language", ALL),
        # head values: documents change, entries do not
        ("websub hub", 0),
        ("site description", 0),
        ("feeds url", 0),
    ],
)
def test_a_change_reprints_exactly_the_entries_it_affects(
    store: SqlStore, change: str, reprinted: int
) -> None:
    feeds, site = cfg(), SITE
    cache = Counting(store)
    build(store, cache, feeds, site)
    cache.kept.clear()
    if change == "edited article":
        store.upsert_articles([article(3, POLITICS, PUTIN, title="معدل", content_hash="h3")], NOW)
    elif change == "re-tagged article":
        store.upsert_articles([article(3, DOTNET, content_hash="h3-tags")], NOW)
    elif change == "site title":
        site = dataclasses.replace(SITE, title="موقع آخر")
    elif change == "full_content off":
        feeds = cfg(full_content=False)
    elif change == "websub hub":
        feeds = cfg(websub_hub="https://hub.example.org/")
    elif change == "site description":
        site = dataclasses.replace(SITE, description="وصف آخر")
    elif change == "feeds url":
        feeds = dataclasses.replace(cfg(), url="https://cdn.example.org/feeds")
    elif change == "site url":
        site = dataclasses.replace(SITE, url="https://other.example.org")
    else:
        site = dataclasses.replace(SITE, language="fa")
    files = build(store, cache, feeds, site)
    assert files == build(store, None, feeds, site)
    assert len(cache.kept) == reprinted


def test_entries_printed_by_worker_processes_make_the_same_documents(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_here = build(store, None, cfg())
    monkeypatch.setattr(printing, "MIN_ENTRIES", 1)
    monkeypatch.setattr(printing, "CHUNK", 7)  # several tasks per format, out of step with feeds
    monkeypatch.setattr(printing.os, "cpu_count", lambda: 2)
    workers: list[int] = []
    real = printing.workers_for

    def counted(entries: int) -> int:
        workers.append(real(entries))
        return workers[-1]

    monkeypatch.setattr(printing, "workers_for", counted)
    cache = Counting(store)
    assert build(store, cache, cfg()) == in_here  # printed by workers, kept in the cache
    assert workers and all(n == 2 for n in workers)
    assert len(cache.kept) == ALL
    assert build(store, cache, cfg()) == in_here  # read back from the cache


def test_entries_are_printed_in_the_build_process_beside_another_thread() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert printing.workers_for(100 * printing.MIN_ENTRIES) == 0
    finally:
        stop.set()
        thread.join()
    assert printing.workers_for(printing.MIN_ENTRIES - 1) == 0
