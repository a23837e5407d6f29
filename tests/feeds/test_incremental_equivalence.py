"""An output folder built incrementally through a sequence of ingests equals,
byte for byte, a from-scratch build of the same store; and a build after no
change reads the generation and renders nothing."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest

from feedpub import app as pipeline
from feedpub import output as publish
from feedpub.app import feed_site
from feedpub.config import Config
from feedpub.feeds import build as feed_build
from feedpub.model import Article, Tag
from feedpub.store import SqlStore
from support.feedfactory import DOTNET, POLITICS, PUTIN, article, make_config

NOW = datetime(2026, 4, 1, tzinfo=UTC)
SPORT = Tag(key="رياضة", name="رياضة", slug="رياضة")


def tree(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def config(root: Path, name: str) -> Config:
    return make_config(root / name / "public", items=3, min_items=1, archive=True,
                       archive_page_size=2)  # fmt: skip


def steps() -> list[list[Article]]:
    """new articles; an edit; a re-tag; more new ones (one moving a tag below
    the cap); a url-less article (it has its own page) gaining a URL (its
    page goes); a step that re-ingests nothing new (deleted from the source:
    the store keeps the article). Url-less articles are added and edited on
    the way (their pages through the journal path)."""
    first = [article(n, POLITICS, *([PUTIN] if n % 2 else [])) for n in range(6)]
    first.append(article(7, POLITICS, url=None))
    edited = [article(2, POLITICS, title="عنوان معدل", content_hash="hash2-v2")]
    retagged = [article(3, SPORT, DOTNET, content_hash="hash3-v2")]
    newer = [article(n, SPORT, POLITICS) for n in range(10, 13)]
    newer.append(article(13, POLITICS, url=None))
    moved = [article(4, PUTIN, published=article(20).published, content_hash="hash4-v2")]
    moved.append(article(13, POLITICS, url=None, title="صفحة معدلة", content_hash="hash13-v2"))
    gained_url = [article(7, POLITICS, content_hash="hash7-v2")]
    return [first, edited, retagged, newer, moved, gained_url, []]


# Steps built from the whole store; the others read the change journal (or,
# the last, only the generation). Step 2 adds two tags, so two new feeds and
# a new feed list: a full build. With archive pages every change is one.
FULL_BUILDS = {False: [0, 2], True: [0, 1, 2, 3, 4, 5]}


@pytest.mark.parametrize("archive", [True, False])
def test_incremental_builds_equal_a_from_scratch_build(
    tmp_path: Path, archive: bool, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = config(tmp_path, "incremental")
    cfg = dataclasses.replace(cfg, feeds=dataclasses.replace(cfg.feeds, archive=archive))
    store = SqlStore.open(store_url)
    full: list[int] = []
    asked: list[tuple[int, frozenset[str] | None]] = []  # page_versions(ids)
    try:
        for n, batch in enumerate(steps()):
            store.upsert_articles(batch, NOW + timedelta(hours=n))
            with monkeypatch.context() as patch:

                def counted(
                    limit: int, n: int = n, every_tag: Any = store.latest_per_tag, **light: bool
                ) -> dict[str, list[Article]]:
                    full.append(n)
                    result: dict[str, list[Article]] = every_tag(limit, **light)
                    return result

                patch.setattr(store, "latest_per_tag", counted)

                def versions(
                    ids: Any = None, n: int = n, every: Any = store.page_versions
                ) -> list[Any]:
                    asked.append((n, None if ids is None else frozenset(ids)))
                    return list(every(ids))

                patch.setattr(store, "page_versions", versions)
                pipeline.build_feeds(cfg, store)

            fresh = dataclasses.replace(
                cfg,
                feeds=dataclasses.replace(cfg.feeds, output=tmp_path / f"fresh{n}" / "public"),
            )
            pipeline.build_feeds(fresh, store)
            assert tree(cfg.feeds.output) == tree(fresh.feeds.output), f"after step {n}"
            # A journal build changes the last manifest rather than writing it
            # anew: it must own and fingerprint what a fresh build would.
            kept, made = (publish.read_manifest(c.feeds.output) for c in (cfg, fresh))
            assert (kept.files, kept.fingerprints) == (made.files, made.fingerprints), n
            # Both of those took entries from the store's cache: a build
            # without one prints every entry, and must print the same bytes.
            site = feed_site(cfg)
            cold = feed_build.build(store, cfg.feeds, site).files
            assert cold == tree(cfg.feeds.output), f"after step {n}, against a cold build"
            page = cfg.feeds.output / "articles" / "a7.html"
            assert page.exists() == (n < 5), f"after step {n}: the page of a7"
        for path, data in tree(cfg.feeds.output).items():
            if path.endswith(".xml") and not path.endswith(".opml"):
                assert not feedparser.parse(data).bozo, path
        assert full == FULL_BUILDS[archive]
        # A journal build checks the pages of the articles just written only.
        written = {n: frozenset(a.id for a in batch) for n, batch in enumerate(steps())}
        journal = [n for n in range(len(steps()) - 1) if n not in FULL_BUILDS[archive]]
        assert [(n, ids) for n, ids in asked if ids is not None] == [
            (n, written[n]) for n in journal
        ]
    finally:
        store.close()


def test_a_build_after_no_change_renders_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = config(tmp_path, "noop")
    store = SqlStore.open(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        store.upsert_articles(steps()[0], NOW)
        pipeline.build_feeds(cfg, store)
        before = store.generation()
        store.upsert_articles(steps()[0], NOW)  # unchanged: no bump
        assert store.generation() == before

        def refuse(*args: object, **kwargs: object) -> None:
            raise AssertionError("a no-op build selected articles")

        monkeypatch.setattr(feed_build.select, "feed_plan", refuse)
        report = pipeline.build_feeds(cfg, store)
        assert report.written == () and report.removed == ()

        # A deleted file makes the manifest incomplete: a real build again.
        (cfg.feeds.output / "rss.xml").unlink()
        monkeypatch.undo()
        report = pipeline.build_feeds(cfg, store)
        assert report.written == ("rss.xml",)

        store.upsert_articles(steps()[1], NOW)
        assert store.generation() == before + 1
    finally:
        store.close()


def test_a_journal_build_names_only_what_the_new_article_changes(tmp_path: Path) -> None:
    """After one new article the build is a change to the last tree: the
    main feed and its tags' feeds, nothing else listed (its cost follows the
    change, not the tree)."""
    cfg = config(tmp_path, "change")
    cfg = dataclasses.replace(cfg, feeds=dataclasses.replace(cfg.feeds, archive=False))
    store = SqlStore.open(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        store.upsert_articles(steps()[0] + steps()[3], NOW)
        pipeline.build_feeds(cfg, store)
        store.upsert_articles([article(30, SPORT, published=article(40).published)], NOW)
        manifest = publish.read_manifest(cfg.feeds.output)
        changed = feed_build.build(
            store, cfg.feeds, feed_site(cfg), manifest.fingerprints,
            generation=store.generation(), previous_stamp=manifest.stamp,
            cache=store, changes=store,
        )  # fmt: skip
        assert changed.keeps_rest and changed.removed == frozenset()
        feeds = {
            f"{d}{n}" for d in ("", "tag/رياضة/") for n in ("atom.xml", "rss.xml", "feed.json")
        } | {"tag/رياضة/index.html"}  # and its topic page
        assert set(changed.outputs) == feeds
        report = pipeline.build_feeds(cfg, store)
        assert set(report.written) == feeds
        assert len(report.unchanged) == len(manifest.files) - len(feeds)
    finally:
        store.close()
