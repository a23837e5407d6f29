"""The change journal: each article write records, with the generation it
bumps, the tag keys whose feeds it changed (old and new) and the ids it
wrote, and a builder
learns the union since its last build, or that it cannot know."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from feedpub.store import SqlStore, journal
from feedpub.store.schema import t_feed_changed_articles
from support.feedfactory import DOTNET, POLITICS, PUTIN, article

NOW = datetime(2026, 4, 1, tzinfo=UTC)
MAIN = journal.MAIN


@pytest.mark.parametrize(
    ("write", "changed"),
    [
        ("new article", {MAIN, POLITICS.key}),
        ("edited article", {MAIN, POLITICS.key, PUTIN.key}),
        ("re-tagged article", {MAIN, POLITICS.key, PUTIN.key, DOTNET.key}),
        ("untagged article", {MAIN}),
        ("unchanged article", set()),
    ],
)
def test_a_write_journals_the_tags_it_had_and_has(
    store: SqlStore, write: str, changed: set[str]
) -> None:
    store.upsert_articles([article(1, POLITICS, PUTIN), article(2, DOTNET)], NOW)
    since = store.generation()
    batch = {
        "new article": [article(3, POLITICS)],
        "edited article": [article(1, POLITICS, PUTIN, title="معدل", content_hash="h1")],
        "re-tagged article": [article(1, DOTNET, content_hash="h1-tags")],
        "untagged article": [article(4)],
        "unchanged article": [article(1, POLITICS, PUTIN)],
    }[write]
    store.upsert_articles(batch, NOW)
    assert store.changed_tags(since) == frozenset(changed)
    assert store.generation() == since + (1 if changed else 0)
    assert store.changed_articles(since) == ({a.id for a in batch} if changed else set())


def test_changes_accumulate_over_generations(store: SqlStore) -> None:
    store.upsert_articles([article(1, POLITICS)], NOW)
    since = store.generation()
    store.upsert_articles([article(2, PUTIN)], NOW)
    store.upsert_articles([article(3, DOTNET)], NOW)
    assert store.changed_tags(since) == {MAIN, PUTIN.key, DOTNET.key}
    assert store.changed_tags(since + 1) == {MAIN, DOTNET.key}
    assert store.changed_tags(store.generation()) == frozenset()
    assert store.changed_articles(since) == {"a2", "a3"}
    assert store.changed_articles(since + 1) == {"a3"}
    assert store.changed_articles(store.generation()) == frozenset()


def test_a_journal_that_does_not_reach_back_says_so(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal, "JOURNAL_KEEP", 2)
    for n in range(4):
        store.upsert_articles([article(n, POLITICS)], NOW)
    now = store.generation()
    assert store.changed_tags(now - 1) == {MAIN, POLITICS.key}
    assert store.changed_tags(now - 3) is None  # pruned: build everything
    assert store.changed_tags(now + 1) is None  # a store older than the build
    assert store.changed_articles(now - 1) == {"a3"}
    assert store.changed_articles(now - 3) is None
    assert store.changed_articles(now + 1) is None


def test_generations_written_before_the_article_journal_are_not_covered(
    store: SqlStore,
) -> None:
    """A store upgraded to v8 journals no ids for its older generations: a
    build behind them checks every article page."""
    store.upsert_articles([article(1, POLITICS)], NOW)
    since = store.generation()
    store.upsert_articles([article(2, POLITICS)], NOW)
    with store._engine.begin() as conn:  # as a write made before v8 left it
        conn.execute(t_feed_changed_articles.delete())
    store.upsert_articles([article(3, POLITICS)], NOW)
    assert store.changed_articles(since) is None
    assert store.changed_articles(since + 1) == {"a3"}


def test_tag_counts_gives_only_the_tags_asked_for(store: SqlStore) -> None:
    store.upsert_articles([article(1, POLITICS, PUTIN), article(2, POLITICS)], NOW)
    counts = {tag.key: count for tag, count in store.tag_counts([POLITICS.key, "no such"])}
    assert counts == {POLITICS.key: 2}
