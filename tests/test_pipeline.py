"""The composition root on both databases: a whole run, reruns, edits and
digest slots, with a fixed clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
import pytest

from feedpub import app as pipeline
from feedpub.config import Config, SourceConfig, load_config
from feedpub.store import SqlStore

REPO = Path(__file__).resolve().parents[1]
DAMASCUS = ZoneInfo("Asia/Damascus")
NOW = datetime(2026, 11, 29, 8, 0, tzinfo=DAMASCUS)


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    path = tmp_path / "config.yaml"
    text = (REPO / "config.yaml").read_text(encoding="utf-8")
    text = text.replace("path: samples/", f"path: {REPO}/samples/")
    text = text.replace("first_lookback: 52w", "first_lookback: 3d")
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def test_whole_run_then_rerun(cfg: Config, store: SqlStore) -> None:
    first = pipeline.run(cfg, store, NOW)
    assert (first.ingest.new, first.ingest.rejected) == (27, 0)
    assert first.build.written and not first.build.removed
    (outcome,) = first.digests
    assert outcome.edition is not None
    assert outcome.edition.slot == datetime(2026, 11, 29, 7, 0, tzinfo=DAMASCUS)
    # first_lookback 3d: published after 26 Nov 07:00, up to the slot
    expected = store.articles_between(
        outcome.edition.slot - timedelta(days=3), outcome.edition.slot
    )
    assert list(outcome.edition.article_ids) == [a.id for a in expected][:15]
    assert store.last_edition("daily") == outcome.edition

    again = pipeline.run(cfg, store, NOW + timedelta(minutes=10))
    assert again.ingest.unchanged == 27
    assert not again.build.written
    assert again.digests[0].edition is None
    assert len(store.editions("daily")) == 1
    assert len(list(cfg.delivery.outbox.glob("*.eml"))) == 1


def test_next_slot_carries_only_newer_articles(cfg: Config, store: SqlStore) -> None:
    pipeline.ingest_sources(cfg, store, NOW)
    first = pipeline.make_digest(cfg, store, "daily", NOW)
    assert first.edition is not None
    # nothing was published after the first slot: only_if_new makes no edition
    tomorrow = pipeline.make_digest(cfg, store, "daily", NOW + timedelta(days=1))
    assert tomorrow.edition is None
    assert [e.slot for e in store.editions("daily")] == [first.edition.slot]


def test_edited_article_reaches_the_feeds_with_a_later_updated_time(
    cfg: Config, store: SqlStore, tmp_path: Path
) -> None:
    pipeline.run(cfg, store, NOW)
    records = tmp_path / "records.jsonl"
    records.write_text(
        '{"id": "r-2026-11-28-weekend-weather", "title": "طقس معدّل", "text": "نص جديد.",'
        ' "published": "2026-11-28T07:30:00+03:00", "tags": ["طقس"]}\n',
        encoding="utf-8",
    )
    edited = replace(cfg, sources=(*cfg.sources, SourceConfig(records)))
    later = NOW + timedelta(hours=1)
    report = pipeline.ingest_sources(edited, store, later)
    assert (report.new, report.updated) == (0, 1)
    built = pipeline.build_feeds(edited, store)
    assert "atom.xml" in built.written
    feed = feedparser.parse((cfg.feeds.output / "atom.xml").read_bytes())
    entry = next(e for e in feed.entries if e.title == "طقس معدّل")
    assert entry.updated.startswith("2026-11-29T06:00:00")  # the edit's time, in UTC
    # one entry per article: an edit never duplicates it
    assert sum(e.id == entry.id for e in feed.entries) == 1
