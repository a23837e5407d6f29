"""The ``Source`` seam: a kind registered by a test (no other module
touched) is read by the real ingest job into a real store; its cursor moves
only with what it covers; a failing source is one line and the others go
on; what a source withdraws leaves the store."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest

from feedpub import app
from feedpub.config import ConfigError, SourceConfig
from feedpub.ingest import source as sources
from feedpub.ingest.source import Batch, Item, Progress, SourceContext, SourceError
from feedpub.model import Article, Reject
from feedpub.store import SqlStore
from support.ingesting import make_config

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _article(number: int, title: str = "") -> Article:
    return Article(
        id=f"feed:{number}",
        title=title or f"خبر رقم {number}",
        summary="ملخص",
        content="<p>نص الخبر</p>",
        published=datetime(2026, 11, 30, number % 24, tzinfo=UTC),
        updated=datetime(2026, 11, 30, number % 24, tzinfo=UTC),
        source="feed",
    )


class ListSource:
    """A test-only kind: ``- listed: NAME`` with ``pages`` of article numbers.
    Its cursor is the number of pages stored; ``fail_at`` raises SourceError
    when that page is reached; ``withdraw`` ids go with the last page."""

    script: ClassVar[dict[str, dict[str, object]]] = {}

    def __init__(self, config: SourceConfig) -> None:
        self.name = f"listed:{config.location}"
        self.plan = self.script[config.location]
        self.cursors_seen: list[str | None] = []
        self.closed = False

    def read(self, cursor: str | None, now: datetime, progress: Progress | None) -> Iterator[Batch]:
        self.cursors_seen.append(cursor)
        pages: Sequence[Sequence[int]] = self.plan["pages"]  # type: ignore[assignment]
        start = int(cursor or 0)
        for index in range(start, len(pages)):
            if self.plan.get("fail_at") == index:
                raise SourceError(f"{self.name}: page {index + 1}: the site answered 503")
            items = tuple(Item(f"{self.name}#{n}", (_article(n),)) for n in pages[index])
            bad = (Reject(f"{self.name}#bad", "not an article", now),)
            last = index == len(pages) - 1
            yield Batch(
                items=(*items, Item(f"{self.name}#bad", (), bad)) if last else items,
                withdrawn=tuple(self.plan.get("withdraw", ())) if last else (),  # type: ignore[arg-type]
                cursor=str(index + 1),
            )

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def listed(monkeypatch: pytest.MonkeyPatch) -> list[ListSource]:
    made: list[ListSource] = []

    def factory(configs: Sequence[SourceConfig], context: SourceContext) -> list[ListSource]:
        for config in configs:
            if set(config.options) - {"every"}:
                raise ConfigError(f"{config.where}: unknown option")
        made.extend(ListSource(c) for c in configs)
        return made[-len(configs) :]

    monkeypatch.setattr(sources, "KINDS", {"listed": factory})
    monkeypatch.setattr(ListSource, "script", {})
    return made


def _cfg(tmp_path: Path, *names: str, options: dict[str, object] | None = None) -> object:
    cfg = make_config(tmp_path)
    entries = tuple(SourceConfig("listed", n, options or {}, f"config.yaml: {n}") for n in names)
    return replace(cfg, sources=entries)


def _ingest(cfg: object, store: SqlStore) -> object:
    with app.make_publisher(cfg, now=NOW, store=store) as pub:  # type: ignore[arg-type]
        return pub.ingest()


def test_a_registered_kind_is_read_into_the_store_and_its_cursor_kept(
    tmp_path: Path, store: SqlStore, listed: list[ListSource]
) -> None:
    ListSource.script["a"] = {"pages": [[1, 2], [3]]}
    report = _ingest(_cfg(tmp_path, "a"), store)
    assert report.new == 3 and report.rejected == 1  # type: ignore[attr-defined]
    assert {a.id for a in store.latest_articles()} == {"feed:1", "feed:2", "feed:3"}
    assert store.source_cursor("listed:a") == "2"
    assert [r.source for r in store.rejects()] == ["listed:a#bad"]
    assert listed[0].closed

    ListSource.script["a"] = {"pages": [[1, 2], [3], [4]]}
    report = _ingest(_cfg(tmp_path, "a"), store)
    assert listed[1].cursors_seen == ["2"]  # resumes where the stored batches end
    assert report.new == 1  # type: ignore[attr-defined]
    assert store.source_cursor("listed:a") == "3"


def test_a_source_failing_mid_way_keeps_what_it_stored_and_the_others_go_on(
    tmp_path: Path,
    store: SqlStore,
    listed: list[ListSource],
    caplog: pytest.LogCaptureFixture,
) -> None:
    ListSource.script["down"] = {"pages": [[1], [2], [3]], "fail_at": 1}
    ListSource.script["up"] = {"pages": [[10]]}
    with caplog.at_level(logging.ERROR):
        report = _ingest(_cfg(tmp_path, "down", "up"), store)
    assert report.failed_sources == ("listed:down: page 2: the site answered 503",)  # type: ignore[attr-defined]
    assert {a.id for a in store.latest_articles()} == {"feed:1", "feed:10"}
    assert store.source_cursor("listed:down") == "1"  # page 1 only: it was stored
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        "listed:down: page 2: the site answered 503"
    ]
    states = {s.source: s for s in store.source_states()}
    assert states["listed:down"].error == "listed:down: page 2: the site answered 503"
    assert states["listed:down"].synced is None
    assert states["listed:up"].synced == NOW and states["listed:up"].error is None

    ListSource.script["down"] = {"pages": [[1], [2], [3]]}  # the site is back
    report = _ingest(_cfg(tmp_path, "down", "up"), store)
    assert report.failed_sources == ()  # type: ignore[attr-defined]
    assert {a.id for a in store.latest_articles()} >= {"feed:2", "feed:3"}
    assert {s.source: s.error for s in store.source_states()}["listed:down"] is None


def test_what_a_source_withdraws_leaves_the_store_and_comes_back_when_republished(
    tmp_path: Path, store: SqlStore, listed: list[ListSource]
) -> None:
    ListSource.script["a"] = {"pages": [[1, 2]]}
    _ingest(_cfg(tmp_path, "a"), store)
    ListSource.script["a"] = {"pages": [[1, 2], []], "withdraw": ["feed:2", "feed:99"]}
    report = _ingest(_cfg(tmp_path, "a"), store)
    assert report.withdrawn == 1  # type: ignore[attr-defined]  # feed:99 was never stored
    assert [a.id for a in store.latest_articles()] == ["feed:1"]
    assert [w[0] for w in store.withdrawn()] == ["feed:2"]  # only a stored one has a tombstone

    ListSource.script["a"] = {"pages": [[1, 2], [], [2]]}
    _ingest(_cfg(tmp_path, "a"), store)
    assert {a.id for a in store.latest_articles()} == {"feed:1", "feed:2"}
    assert store.withdrawn() == []


def test_an_article_an_editor_withdrew_stays_out_while_its_source_has_it(
    tmp_path: Path, store: SqlStore, listed: list[ListSource]
) -> None:
    ListSource.script["a"] = {"pages": [[1, 2]]}
    _ingest(_cfg(tmp_path, "a"), store)
    assert store.withdraw_articles(["feed:2", "feed:404"], "legal request", NOW) == ["feed:2"]
    ListSource.script["a"] = {"pages": [[1, 2], [2]]}
    _ingest(_cfg(tmp_path, "a"), store)
    assert [a.id for a in store.latest_articles()] == ["feed:1"]
    assert [(w[0], w[2], w[4]) for w in store.withdrawn()] == [("feed:2", "legal request", True)]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (SourceConfig("nosuch", "x", {}, "config.yaml:7: sources[0]"), "unknown source kind"),
        (SourceConfig("listed", "a", {"evry": 1}, "config.yaml:7: sources[0]"), "unknown option"),
        (
            SourceConfig("path", "/tmp", {"recursive": True}, "config.yaml:7: sources[0]"),
            "sources[0].recursive: unknown key",
        ),
    ],
)
def test_a_bad_source_entry_is_a_config_error_naming_it(
    tmp_path: Path, listed: list[ListSource], entry: SourceConfig, expected: str
) -> None:
    cfg = replace(make_config(tmp_path), sources=(entry,))
    with pytest.raises(ConfigError) as caught:
        app.check_config(cfg)
    assert expected in str(caught.value)
    assert str(caught.value).startswith("config.yaml:7: sources[0]")
