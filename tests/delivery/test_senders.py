"""Several senders on one edition (issue 24): processes that only claim and
send (``support/sender_process.py``, what ``feedpub deliver`` is), sharing one
PostgreSQL store, each over its own SMTP connections; one of them killed
with SIGKILL part-way. And what ``feedpub status`` shows of them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from feedpub import delivery
from feedpub.app import make_publisher
from feedpub.config import load_config
from feedpub.delivery.smtp import SmtpSender, SmtpSettings
from feedpub.store import SqlStore
from support.delivery_site import ENV_NOW, SECRET, add_readers, config_text
from support.relays import NOW, SLOT, Clock, Slow, composer, readers, record_edition
from support.smtp_relay import HOST, Recorder, smtp_server

HELPER = Path(__file__).parents[1] / "support" / "sender_process.py"
STALE_SECONDS = 3


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDPUB_SECRET", SECRET)


def postgres_only(store_url: str) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("several machines share a PostgreSQL store")


def lead(tmp_path: Path, store_url: str, port: int, readers_count: int, connections: int) -> Path:
    """The leader: the articles in, the edition and its deliveries recorded
    (nothing sent); returns the senders' config (a message's deadline 1 s,
    inside the tests' 3 s leases)."""
    text = config_text("sqlite:///unused.db", port, batch=10, connections=connections)
    path = tmp_path / "config.yaml"
    path.write_text(text.replace("    timeout: 5\n", "    timeout: 1\n"), "utf-8")
    os.environ["FEEDPUB_STORE_URL"] = store_url
    try:
        cfg = load_config(path)
    finally:
        del os.environ["FEEDPUB_STORE_URL"]
    with SqlStore.open(store_url) as store:
        add_readers(store, readers_count)
        with make_publisher(cfg, now=NOW, store=store) as pub:
            pub.ingest()
            edition, joined = pub.editions().make(cfg.digest("daily"), NOW)
    assert edition is not None and not joined
    return path


def senders(config: Path, store_url: str, count: int) -> list[subprocess.Popen[str]]:
    env = {
        **os.environ,
        "FEEDPUB_STORE_URL": store_url,
        "FEEDPUB_NOW": ENV_NOW,
        "SENDERS_EPOCH": repr(time.time()),
    }
    return [
        subprocess.Popen(
            [sys.executable, str(HELPER), str(config), str(STALE_SECONDS)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]


def sent_by(store: SqlStore, edition_id: int, pid: int) -> int:
    return sum(
        1
        for d in store.deliveries(edition_id)
        if d.status == "sent" and f":{pid}:" in (d.claimed_by or "")
    )


def sent_counts(outputs: list[str]) -> list[int]:
    return [sum(int(n) for n in re.findall(r" sent (\d+)", out)) for out in outputs]


@pytest.mark.postgres
def test_four_senders_share_one_edition_and_send_nobody_twice(
    tmp_path: Path, store_url: str
) -> None:
    postgres_only(store_url)
    handler = Slow(0.03)
    with smtp_server(handler) as port:
        config = lead(tmp_path, store_url, port, 200, connections=2)
        procs = senders(config, store_url, 4)
        results = [p.communicate(timeout=180) for p in procs]
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
    got = Counter(handler.recipients())
    assert len(got) == 200 and set(got.values()) == {1}
    shares = sent_counts([out for out, _ in results])
    assert sum(shares) == 200 and sum(1 for s in shares if s) >= 2, shares


@pytest.mark.postgres
def test_a_killed_sender_leaves_its_claims_to_the_others_and_nobody_is_missed(
    tmp_path: Path, store_url: str
) -> None:
    """SIGKILL one of four senders (4 connections each) part-way: the
    others take its claims over once stale and send them; at most one
    message per connection of the killed one goes twice."""
    postgres_only(store_url)
    handler = Slow(0.05)
    with smtp_server(handler) as port:
        config = lead(tmp_path, store_url, port, 300, connections=4)
        procs = senders(config, store_url, 4)
        victim = procs[0]
        with SqlStore.open(store_url) as store:
            edition_id = store.edition_id("daily", SLOT)
            assert edition_id is not None
            deadline = time.monotonic() + 120
            # Part-way: it has sent a few and holds claims on more.
            while sent_by(store, edition_id, victim.pid) < 5:
                assert time.monotonic() < deadline and victim.poll() is None
                time.sleep(0.05)
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=30)
        results = [p.communicate(timeout=180) for p in procs[1:]]
    for proc, (_, err) in zip(procs[1:], results, strict=True):
        assert proc.returncode == 0, err
    got = Counter(handler.recipients())
    assert len(got) == 300  # nobody missed
    assert sum(got.values()) - 300 <= 4, got.most_common(5)
    with SqlStore.open(store_url) as store:
        rows = store.deliveries(edition_id)
    assert {d.status for d in rows} == {"sent"}
    taken = [d for d in rows if f":{victim.pid}:" in (d.last_error or "")]
    assert taken and all(d.claimed_by and f":{victim.pid}:" not in d.claimed_by for d in taken)


def test_status_shows_each_senders_rate_and_the_editions_progress(store: SqlStore) -> None:
    readers(store, 30)
    edition_id = record_edition(store)
    handler = Recorder()
    with smtp_server(handler) as port:
        for worker, batch in (("host-a:1:aa", 12), ("host-b:2:bb", 8)):
            sender = SmtpSender(SmtpSettings(HOST, port, security="none", timeout=5.0))
            try:
                delivery.deliver(
                    _Stopping(store, after=batch), edition_id, composer(), sender,
                    digest="daily", slot=SLOT, worker=worker, batch=batch,
                    stale_after=timedelta(minutes=15), clock=Clock(),
                )  # fmt: skip
            finally:
                sender.close()
    now = NOW + timedelta(minutes=1)
    rates = store.sent_by_worker(edition_id, now - delivery.RATE_WINDOW)
    assert [(w, n) for w, n, _, _ in rates] == [("host-a:1:aa", 12), ("host-b:2:bb", 8)]
    progress = delivery.edition_progress(store.delivery_counts(edition_id), rates, now=now)
    assert (progress.total, progress.done, progress.left) == (30, 20, 10)
    assert [s.worker for s in progress.senders] == ["host-a:1:aa", "host-b:2:bb"]
    assert progress.per_second > 0 and progress.finish is not None
    assert progress.finish == now + timedelta(seconds=10 / progress.per_second)
    assert "20 of 30 done" in progress.describe() and "2 senders" in progress.describe()
    # Nobody sent in the window: no rate, no finish time.
    quiet = delivery.edition_progress(
        store.delivery_counts(edition_id), [], now=now + timedelta(hours=1)
    )
    assert quiet.finish is None and "not sending" in quiet.describe()


class _Stopping:
    """The store, claiming nothing after ``after`` rows (a sender that
    stopped part-way, leaving the rest to others)."""

    def __init__(self, store: SqlStore, after: int) -> None:
        self._store, self._left = store, after

    def claim_deliveries(self, *args: Any, **kwargs: Any) -> Any:
        if self._left <= 0:
            return []
        claimed = self._store.claim_deliveries(*args, **kwargs)
        self._left -= len(claimed)
        return claimed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_a_sender_started_before_the_edition_waits_for_it(store: SqlStore) -> None:
    """``feedpub deliver`` started before the leader recorded the edition
    looks again every poll until ``wait`` runs out."""
    addresses = readers(store, 3)
    looks: list[float] = []

    def sleep(seconds: float) -> None:
        looks.append(seconds)
        if len(looks) == 3:  # the leader records the edition meanwhile
            record_edition(store)

    handler = Recorder()
    with smtp_server(handler) as port:
        sender = SmtpSender(SmtpSettings(HOST, port, security="none", timeout=5.0))
        try:
            done = delivery.deliver_unfinished(
                store, "daily", lambda edition_id, slot: composer(), sender,
                worker="w", batch=10, stale_after=timedelta(minutes=15), clock=Clock(),
                wait=60, poll=5, monotonic=lambda: 5.0 * len(looks), sleep=sleep,
            )  # fmt: skip
            nothing = delivery.deliver_unfinished(
                store, "daily", lambda edition_id, slot: composer(), sender,
                worker="w", batch=10, stale_after=timedelta(minutes=15), clock=Clock(),
            )  # fmt: skip
        finally:
            sender.close()
    assert looks == [5, 5, 5]
    assert [(e.slot, e.report.sent) for e in done] == [(SLOT, 3)]
    assert sorted(handler.recipients()) == sorted(addresses)
    assert nothing == []
