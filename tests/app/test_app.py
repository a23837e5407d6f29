"""The composition root on both databases: a whole run, reruns, edits and
digest slots, with a fixed clock; the store's lifetime; what each stage is
handed."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

import feedparser
import pytest

from feedpub import app
from feedpub.app import Publisher, make_publisher
from feedpub.config import Config, SourceConfig, load_config
from feedpub.digests import DigestOutcome
from feedpub.model import BuildReport, IngestReport
from feedpub.store import SqlStore
from support.digest_fixtures import (
    DAILY,
    EMAIL,
    EVENING,
    FakeStore,
    big_articles,
    make_config,
    make_site,
)
from support.digest_fixtures import NOW as DIGEST_NOW

REPO = Path(__file__).resolve().parents[2]
DAMASCUS = ZoneInfo("Asia/Damascus")
NOW = datetime(2026, 11, 29, 8, 0, tzinfo=DAMASCUS)


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    # The shipped config seeds the demo subscribers, whose links need a secret.
    monkeypatch.setenv("FEEDPUB_SECRET", "test-secret-test-secret-test-secret")
    path = tmp_path / "config.yaml"
    text = (REPO / "config.yaml").read_text(encoding="utf-8")
    text = text.replace("path: samples/", f"path: {REPO}/samples/")
    text = text.replace("seed: samples/", f"seed: {REPO}/samples/")
    text = text.replace("first_lookback: 52w", "first_lookback: 3d")
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def publisher(cfg: Config, store: SqlStore, now: datetime = NOW) -> Publisher:
    return make_publisher(cfg, now=now, store=store)


@dataclass(frozen=True)
class Run:
    ingest: IngestReport
    build: BuildReport
    digests: tuple[DigestOutcome, ...]


def run(pub: Publisher) -> Run:
    """``feedpub run``'s jobs, every one of which must work."""
    outcomes = pub.run_jobs()
    assert not [o.run.error for o in outcomes if o.failed]
    ingest, build, *digests = (o.report for o in outcomes)
    assert isinstance(ingest, IngestReport) and isinstance(build, BuildReport)
    return Run(ingest, build, tuple(d for d in digests if isinstance(d, DigestOutcome)))


def test_whole_run_then_rerun(cfg: Config, store: SqlStore) -> None:
    first = run(publisher(cfg, store))
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

    again = run(publisher(cfg, store, NOW + timedelta(minutes=10)))
    assert again.ingest.unchanged == 27
    assert not again.build.written
    assert again.digests[0].edition is None
    assert len(store.editions("daily")) == 1
    # One message per demo subscriber (samples/subscribers.csv), none twice.
    sent = sorted(p.name for p in (cfg.delivery.outbox / "new").glob("*.eml"))
    assert len(sent) == 5 and all("-editor@" not in name for name in sent), sent


def test_next_slot_carries_only_newer_articles(cfg: Config, store: SqlStore) -> None:
    today = publisher(cfg, store)
    today.ingest()
    first = today.digest("daily")
    assert first.edition is not None
    # nothing was published after the first slot: only_if_new makes no edition
    tomorrow = publisher(cfg, store, NOW + timedelta(days=1)).digest("daily")
    assert tomorrow.edition is None
    assert [e.slot for e in store.editions("daily")] == [first.edition.slot]


def test_edited_article_reaches_the_feeds_with_a_later_updated_time(
    cfg: Config, store: SqlStore, tmp_path: Path
) -> None:
    # The shipped records, copied so that one can be edited where it stands
    # (the same id in a second file would be a duplicate, refused).
    shipped = REPO / "samples" / "records"
    records = tmp_path / "records"
    shutil.copytree(shipped, records)
    sources = [SourceConfig.folder(records) if s.path == shipped else s for s in cfg.sources]
    cfg = replace(cfg, sources=tuple(sources))
    run(publisher(cfg, store))
    export = records / "articles.jsonl"
    edit = (
        '{"id": "r-2026-11-28-weekend-weather", "title": "طقس معدّل", "text": "نص جديد.",'
        ' "published": "2026-11-28T07:30:00+03:00", "tags": ["طقس"]}'
    )
    lines = [
        edit if '"r-2026-11-28-weekend-weather"' in line else line
        for line in export.read_text(encoding="utf-8").splitlines()
    ]
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    later = NOW + timedelta(hours=1)
    with make_publisher(cfg, now=later, store=store) as at_later:
        report = at_later.ingest()
        assert (report.new, report.updated) == (0, 1)
        built = at_later.build()
    assert "atom.xml" in built.written
    feed = feedparser.parse((cfg.feeds.output / "atom.xml").read_bytes())
    entry = next(e for e in feed.entries if e.title == "طقس معدّل")
    assert entry.updated.startswith("2026-11-29T06:00:00")  # the edit's time, in UTC
    # one entry per article: an edit never duplicates it
    assert sum(e.id == entry.id for e in feed.entries) == 1


# --- the publisher's own contract ------------------------------------------------------


class CountingStore(FakeStore):
    closed = 0

    def close(self) -> None:
        CountingStore.closed += 1


def test_an_opened_store_is_closed_by_the_publisher_and_when_construction_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = make_config(tmp_path)
    monkeypatch.setattr(SqlStore, "open", classmethod(lambda cls, url: CountingStore()))
    CountingStore.closed = 0
    with make_publisher(cfg, now=DIGEST_NOW):
        assert CountingStore.closed == 0
    assert CountingStore.closed == 1
    with pytest.raises(ValueError, match="timezone-aware"):
        make_publisher(cfg, now=DIGEST_NOW.replace(tzinfo=None))
    assert CountingStore.closed == 2


def test_an_injected_store_stays_open(tmp_path: Path) -> None:
    store = CountingStore()
    CountingStore.closed = 0
    with make_publisher(make_config(tmp_path), now=DIGEST_NOW, store=cast(SqlStore, store)):
        pass
    with pytest.raises(ValueError):
        make_publisher(
            make_config(tmp_path), now=DIGEST_NOW.replace(tzinfo=None), store=cast(SqlStore, store)
        )
    assert CountingStore.closed == 0


def test_the_digests_get_narrow_inputs_equal_to_the_config(tmp_path: Path) -> None:
    # The fixtures' hand-built values are what app hands the digests for
    # CONFIG_YAML, so digest tests that use them test the real wiring.
    cfg = make_config(tmp_path)
    assert app.digest_site(cfg) == make_site(tmp_path)
    assert cfg.email == EMAIL
    assert cfg.digests == (DAILY, EVENING)


def test_a_run_that_drops_articles_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = make_config(tmp_path, max_html_bytes=20_000)
    store = SqlStore.open(f"sqlite:///{tmp_path / 'feedpub.db'}")
    store.upsert_articles(big_articles(15), DIGEST_NOW)
    with caplog.at_level(logging.WARNING), make_publisher(cfg, now=DIGEST_NOW, store=store) as pub:
        outcome = pub.digest("daily")
    store.close()
    assert outcome.edition is not None and outcome.edition.dropped > 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "largest of 15 articles" in warnings[0], warnings
    (sent,) = outcome.delivered
    assert Path(sent).parent == cfg.delivery.outbox / "new"
