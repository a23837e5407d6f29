"""``feedpub serve`` keeps publishing while a relay hangs: delivery runs on a
worker of its own, so an article ingested during a stuck delivery is built
into the feeds before that delivery gives up; the delivery then defers its
recipients and says so. The relay is a TCP socket that accepts and never
answers; the scheduler and the jobs are the service's own."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from feedpub import service
from feedpub.app import Publisher, make_publisher
from feedpub.app.reports import ScheduledJob
from feedpub.config import load_config
from feedpub.model import IngestReport
from feedpub.store import SqlStore

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
NOW = datetime.fromisoformat("2026-11-29T08:00:00+03:00")  # after the daily 07:00 slot
RELAY_TIMEOUT = 12  # seconds a message may take: the delivery hangs this long

CONFIG = """\
site:
  title: "أخبار الشام"
  url: "https://news.example.org"
store:
  url: "sqlite:///var/feedpub.db"
sources:
  - path: {records}
feeds:
  output: public
digests:
  - name: daily
    schedule: "0 7 * * *"
    subject: "{{{{ site_title }}}}: {{{{ date }}}}"
    from: "news@news.example.org"
    first_lookback: 10d
delivery:
  backend: smtp
  smtp:
    host: 127.0.0.1
    port: {port}
    security: none
    timeout: {timeout}
    connections: 1
"""

LATE = {
    "id": "r-late-during-delivery",
    "title": "خبر وصل أثناء إرسال النشرة",
    "text": "وصل هذا الخبر بينما كانت النشرة عالقة عند خادم البريد.\n\nويجب أن يُنشر فوراً.",
    "published": "2026-11-29T07:50:00+03:00",
    "tags": ["اقتصاد"],
}


@contextmanager
def hung_relay() -> Iterator[tuple[int, threading.Event]]:
    """A relay that accepts TCP and never says a word; the event is set once
    a sender has connected (the delivery is under way)."""
    listener = socket.create_server(("127.0.0.1", 0))
    connected = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)
            connected.set()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield int(listener.getsockname()[1]), connected
    finally:
        listener.close()
        for conn in held:
            conn.close()


def wait_until(check: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"not within {seconds}s: {what}")
        time.sleep(0.1)


def test_an_article_ingested_while_a_relay_hangs_is_built_before_the_delivery_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    records = tmp_path / "records"
    records.mkdir()
    shutil.copy(SAMPLES / "records" / "articles.jsonl", records / "articles.jsonl")
    monkeypatch.setenv("FEEDPUB_SECRET", "serve-workers-test-secret-0123456789")
    monkeypatch.delenv("FEEDPUB_STORE_URL", raising=False)
    caplog.set_level(logging.INFO)
    with hung_relay() as (port, connected):
        config = tmp_path / "config.yaml"
        config.write_text(
            CONFIG.format(records=records, port=port, timeout=RELAY_TIMEOUT), encoding="utf-8"
        )
        cfg = load_config(config)
        atom = tmp_path / "public" / "atom.xml"
        delivering = threading.Event()
        delivered = threading.Event()
        with make_publisher(cfg, now=NOW) as publisher:
            publisher.add_subscriber("reader@example.org")
            jobs = []
            for job in publisher.service_jobs(clock=lambda: NOW):

                def watched(job: ScheduledJob = job) -> None:
                    if job.worker == "delivery":
                        delivering.set()
                    job.run()
                    if job.worker == "delivery":
                        delivered.set()

                jobs.append(ScheduledJob(job.name, job.schedule, watched, job.worker))
            assert {j.name: j.worker for j in jobs} == {
                "publish": "publish",
                "digest-daily": "delivery",
            }
            started = datetime.now(UTC)
            scheduler = service.build_service(
                jobs, cfg.site.timezone, first_run=started, background=True
            )
            scheduler.start()
            try:
                wait_until(delivering.is_set, 30, "the digest job started")
                # The digest's own publish step ran first: the feeds exist.
                wait_until(atom.is_file, 30, "the first build")
                wait_until(connected.is_set, 30, "the sender connected to the relay")
                # An editor's late article lands while the relay hangs ...
                with (records / "articles.jsonl").open("a", encoding="utf-8") as out:
                    out.write(json.dumps(LATE, ensure_ascii=False) + "\n")
                scheduler.get_job("publish").modify(next_run_time=datetime.now(UTC))
                # ... and is in the feed before the delivery has given up.
                wait_until(
                    lambda: LATE["title"] in atom.read_text(encoding="utf-8"),
                    RELAY_TIMEOUT - 2,
                    "the late article in atom.xml",
                )
                assert not delivered.is_set(), "the delivery should still hang on the relay"
                wait_until(delivered.is_set, RELAY_TIMEOUT * 3, "the delivery gave up")
            finally:
                scheduler.shutdown(wait=True)
    text = caplog.text
    assert "did not answer within" in text, text
    with SqlStore.open(cfg.store.url) as store:
        (edition,) = store.editions("daily")
        edition_id = store.edition_id("daily", edition.slot)
        assert edition_id is not None
        counts = store.delivery_counts(edition_id)
    assert counts.get("sent", 0) == 0 and counts["pending"] == 1, counts


def test_digest_jobs_take_the_run_lock_and_publish_jobs_do_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """While another process's `feedpub run` (or `digest`) holds the store's
    run lock, serve's digest job sends nothing and says why in one line; its
    publish job still ingests and builds, since it never waits on that lock."""
    monkeypatch.setenv("FEEDPUB_SECRET", "serve-workers-test-secret-0123456789")
    monkeypatch.delenv("FEEDPUB_STORE_URL", raising=False)
    config = tmp_path / "config.yaml"
    text = CONFIG.format(records=SAMPLES / "records", port=25, timeout=5)
    config.write_text(text.split("delivery:")[0] + "delivery:\n  outbox: outbox\n", "utf-8")
    cfg = load_config(config)
    with make_publisher(cfg, now=NOW) as other, make_publisher(cfg, now=NOW) as serving:
        serving.add_subscriber("reader@example.org")
        jobs = {job.name: job for job in serving.service_jobs(clock=lambda: NOW)}
        with other.exclusive_run():
            jobs["digest-daily"].run()
            jobs["publish"].run()
        assert (tmp_path / "public" / "atom.xml").is_file()
        assert not (tmp_path / "outbox").exists()
        errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
        assert len(errors) == 1 and "holds the run lock" in errors[0], errors
        jobs["digest-daily"].run()  # the lock is free again: the edition goes out
    assert len(list((tmp_path / "outbox" / "new").glob("*.eml"))) == 1


class SteppingClock:
    """Each reading a second after the last, from ``at``."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        self.at += timedelta(seconds=1)
        return self.at


@pytest.mark.parametrize(
    ("digest_begins", "ingests"),
    [(0, 1), (3600, 2)],  # seconds after the publish job began
    ids=["the-same-tick", "a-later-tick"],
)
def test_the_jobs_of_one_tick_read_the_sources_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, digest_begins: int, ingests: int
) -> None:
    """The publish job and the digest job of one tick each begin with an
    ingest and build; the one that gets there second finds an ingest that
    ended after it began and does not read the sources (a site's API) again.
    A job of a later tick does."""
    monkeypatch.setenv("FEEDPUB_SECRET", "serve-workers-test-secret-0123456789")
    monkeypatch.delenv("FEEDPUB_STORE_URL", raising=False)
    config = tmp_path / "config.yaml"
    text = CONFIG.format(records=SAMPLES / "records", port=25, timeout=5)
    config.write_text(text.split("delivery:")[0] + "delivery:\n  outbox: outbox\n", "utf-8")
    cfg = load_config(config)
    read: list[datetime] = []
    with make_publisher(cfg, now=NOW) as serving:
        ingest = type(serving).ingest

        def counted(self: Publisher, *args: Any, **kwargs: Any) -> IngestReport:
            read.append(self.now)
            return ingest(self, *args, **kwargs)

        monkeypatch.setattr(type(serving), "ingest", counted)
        clock = SteppingClock(NOW)
        jobs = {job.name: job for job in serving.service_jobs(clock=clock)}
        jobs["publish"].run()
        clock.at = NOW + timedelta(seconds=digest_begins)
        jobs["digest-daily"].run()
    assert len(read) == ingests, read


def test_feedpub_run_with_a_hung_relay_builds_defers_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The cron path: the feeds are built, the digest's recipient deferred
    after one message deadline, and the run says so and exits 1."""
    from feedpub.cli import main

    monkeypatch.setenv("FEEDPUB_SECRET", "serve-workers-test-secret-0123456789")
    monkeypatch.setenv("FEEDPUB_NOW", NOW.isoformat())
    monkeypatch.delenv("FEEDPUB_STORE_URL", raising=False)
    with hung_relay() as (port, connected):
        config = tmp_path / "config.yaml"
        config.write_text(
            CONFIG.format(records=SAMPLES / "records", port=port, timeout=2), encoding="utf-8"
        )
        assert main(["--config", str(config), "subscribers", "add", "reader@example.org"]) == 0
        capsys.readouterr()
        assert main(["--config", str(config), "run"]) == 1
    assert connected.is_set()
    assert (tmp_path / "public" / "atom.xml").is_file()
    err = capsys.readouterr().err
    assert "did not answer within 2s" in err, err
    cfg = load_config(config)
    with SqlStore.open(cfg.store.url) as store:
        (edition,) = store.editions("daily")
        edition_id = store.edition_id("daily", edition.slot)
        assert edition_id is not None
        assert store.delivery_counts(edition_id)["pending"] == 1
