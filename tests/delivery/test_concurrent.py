"""Sending over many connections at once (issue 24) keeps every promise:
each recipient once through 421s and drops on 8 connections, one rate limit
over all of them, a 421 slowing only its own connection, a relay's own
connection limit, and the deadlines (issue 22): a relay that never answers,
the run's deadline, a lost run lock. Real SMTP servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from conftest import PG_CONNINFO
from feedpub import delivery
from feedpub.app import make_publisher
from feedpub.delivery.pool import Relay, SmtpPool
from feedpub.delivery.smtp import SmtpSender, SmtpSettings
from feedpub.store import LockHolder, SqlStore
from support.delivery_site import NOW, SECRET, add_readers, make_cfg, parsed
from support.relays import (
    SLOT,
    Clock,
    DropsAfterData,
    Unreliable,
    composer,
    hung_server,
    limited_server,
    readers,
    record_edition,
)
from support.smtp_relay import HOST, Recorder, smtp_server

STALE = timedelta(minutes=15)


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDPUB_SECRET", SECRET)


def pool(
    port: int,
    connections: int,
    *,
    rate: float | None = None,
    sleep: Any = lambda _: None,
    **settings: Any,
) -> SmtpPool:
    options: dict[str, Any] = {"security": "none", "timeout": 10.0, **settings}
    relay = Relay(SmtpSettings(HOST, port, **options), connections)
    return SmtpPool([relay], rate=rate, sleep=sleep)


def send_all(store: SqlStore, edition_id: int, sender: delivery.Sender, **kwargs: Any) -> Any:
    options: dict[str, Any] = {
        "digest": "daily",
        "slot": SLOT,
        "worker": "w1",
        "batch": 100,
        "stale_after": STALE,
        "clock": Clock(),
        **kwargs,
    }
    try:
        return delivery.deliver(store, edition_id, composer(), sender, **options)
    finally:
        sender.close()


def test_eight_connections_through_421s_and_drops_reach_everyone_once(
    tmp_path: Path, store: SqlStore
) -> None:
    """The user's path: the edition made and sent by the publisher, over 8
    connections to a relay answering 421 to a tenth of the messages and
    dropping a twentieth of the connections mid-message."""
    addresses = add_readers(store, 160)
    handler = Unreliable(busy=0.1, drop=0.05)
    with limited_server(handler, limit=100) as server:
        port = server.port
        cfg = make_cfg(tmp_path, "sqlite:///unused.db", port)
        with make_publisher(cfg, now=NOW, store=store) as pub:
            pub.use_sender(pool(port, 8, max_attempts=8))
            pub.ingest()
            outcome = pub.digest("daily")
        most_at_once = server.counts[2]
    assert Counter(handler.recipients()) == Counter(addresses)
    assert len(outcome.delivered) == 160 and not outcome.deferred
    assert handler.busy_replies and handler.drops
    assert most_at_once >= 8  # (a closed one may linger a moment on the server's side)
    for _, (rcpt,), content in handler.delivered[:20]:  # the real composer's messages
        assert parsed(content)["To"].addresses[0].addr_spec == rcpt


def test_one_rate_limit_holds_over_every_connection(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """delivery.rate is one token bucket for all 8 connections: the tokens
    granted (their times, not the wall clock of the sends) never come faster
    than the rate, in any second or over the whole run."""
    rate = 37.0  # a rate no other test uses: the process's bucket is its own
    addresses = readers(store, 111)
    edition_id = record_edition(store)
    handler = Recorder()
    with smtp_server(handler) as port:
        sender = pool(port, 8, rate=rate)
        limiter = sender.limiter
        assert limiter is not None
        granted: list[float] = []
        take = limiter.acquire

        def recorded(*args: Any) -> float:
            slot = take(*args)
            with threading.Lock():
                granted.append(slot)
            return slot

        monkeypatch.setattr(limiter, "acquire", recorded)
        report = send_all(store, edition_id, sender)
    assert report.sent == 111
    assert Counter(handler.recipients()) == Counter(addresses)
    assert len(granted) == 111  # one token per message handed over
    granted.sort()
    overall = (len(granted) - 1) / (granted[-1] - granted[0])
    assert overall <= rate * 1.1
    for i, start in enumerate(granted):
        in_a_second = sum(1 for t in granted[i:] if t < start + 1.0)
        assert in_a_second <= rate * 1.1, (i, in_a_second)


def test_a_421_slows_its_own_connection_not_the_others(store: SqlStore) -> None:
    """The first message meets a 421; its connection waits out its backoff
    until the other three connections have sent all of theirs."""
    addresses = readers(store, 40)
    edition_id = record_edition(store)

    class BusyOnce(Recorder):
        busy = True

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            with self.lock:
                busy, BusyOnce.busy = BusyOnce.busy, False
            return "421 4.7.0 Slow down" if busy else self.accept(session, envelope)

    handler = BusyOnce()
    others_went: list[bool] = []

    def backoff(_: float) -> None:  # returns once the other lanes sent theirs
        for _ in range(400):
            if len(handler.delivered) >= 30:
                others_went.append(True)
                return
            threading.Event().wait(0.05)
        others_went.append(False)

    with smtp_server(handler) as port:
        report = send_all(store, edition_id, pool(port, 4, sleep=backoff))
    assert others_went == [True]
    assert report.sent == 40
    assert Counter(handler.recipients()) == Counter(addresses)


def test_a_relay_that_takes_fewer_connections_is_used_with_those(
    store: SqlStore, caplog: pytest.LogCaptureFixture
) -> None:
    addresses = readers(store, 60)
    edition_id = record_edition(store)
    handler = Recorder()
    with limited_server(handler, limit=3) as server, caplog.at_level(logging.WARNING):
        report = send_all(
            store, edition_id, pool(server.port, 8, backoff_base=0.2, sleep=threading.Event().wait)
        )
        most_at_once, refused = server.counts[2], server.counts[1]
    assert Counter(handler.recipients()) == Counter(addresses)
    assert report.sent == 60 and not report.deferred
    assert most_at_once == 3 and refused >= 5
    limits = [r for r in caplog.records if "refuses more than" in r.getMessage()]
    assert len(limits) == 1, [r.getMessage() for r in caplog.records]
    assert "of our 8 connections" in limits[0].getMessage()


def test_a_relay_that_never_answers_is_given_up_after_one_deadline(store: SqlStore) -> None:
    """It accepts TCP and says nothing: the run stops after one message
    deadline (1 s here), not one per recipient, sends nothing, claims
    nothing, and says it timed out."""
    readers(store, 50)
    edition_id = record_edition(store)
    with hung_server() as port:
        report = send_all(store, edition_id, pool(port, 4, timeout=1.0))
    assert report.timed_out and report.sent == 0
    assert "did not answer within 1s" in report.stopped
    assert store.delivery_counts(edition_id)["pending"] == 50


def test_a_relay_that_stops_answering_mid_edition_defers_the_rest(store: SqlStore) -> None:
    addresses = readers(store, 30)
    edition_id = record_edition(store)

    class Stalls(Recorder):
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            if len(self.delivered) >= 5:
                await asyncio.sleep(30)
            return self.accept(session, envelope)

    handler = Stalls()
    with smtp_server(handler) as port:
        report = send_all(store, edition_id, pool(port, 3, timeout=1.0))
    assert report.timed_out and report.sent == 5
    assert "did not answer within 1s: deferred to a later run" in report.stopped
    counts = store.delivery_counts(edition_id)
    assert (counts["sent"], counts["pending"], counts["claimed"]) == (5, 25, 0)
    assert report.deferred == 25
    got = Counter(handler.recipients())
    assert set(got) <= set(addresses) and set(got.values()) == {1}


def test_the_runs_deadline_leaves_the_rest_for_a_later_run(store: SqlStore) -> None:
    readers(store, 20)
    edition_id = record_edition(store)
    ticks = itertools.count()
    handler = Recorder()
    with smtp_server(handler) as port:
        sender = SmtpSender(SmtpSettings(HOST, port, security="none", timeout=5.0))
        report = send_all(
            store,
            edition_id,
            sender,
            batch=8,
            max_run_seconds=6,
            monotonic=lambda: float(next(ticks)),  # one second per look at the clock
        )
    assert report.timed_out
    assert "max_run_seconds 6" in report.stopped
    assert 0 < report.sent < 20
    counts = store.delivery_counts(edition_id)
    assert counts["sent"] == report.sent == len(handler.delivered)
    assert counts["pending"] == 20 - report.sent and counts["claimed"] == 0


def test_a_lost_run_lock_stops_the_run_before_its_next_batch(store: SqlStore) -> None:
    readers(store, 12)
    edition_id = record_edition(store)
    answers = iter([True, False])
    handler = Recorder()
    with smtp_server(handler) as port:
        sender = SmtpSender(SmtpSettings(HOST, port, security="none", timeout=5.0))
        with pytest.raises(delivery.RunLockLost, match="the run lock was lost"):
            send_all(store, edition_id, sender, batch=5, still_ours=lambda: next(answers))
    assert len(handler.delivered) == 5
    counts = store.delivery_counts(edition_id)
    assert (counts["sent"], counts["pending"], counts["claimed"]) == (5, 7, 0)


@pytest.mark.postgres
def test_the_postgresql_run_lock_lost_with_its_connection_stops_the_run(
    store: SqlStore, store_url: str
) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("the advisory lock lives on a PostgreSQL connection")
    readers(store, 12)
    edition_id = record_edition(store)
    holder = f"lock-test-{uuid.uuid4().hex[:8]}"
    lock = store.lock("run", timeout=2)
    assert lock.acquire(LockHolder(holder, 4242, NOW))

    class KillsTheLock(Recorder):
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            if len(self.delivered) == 2:
                with psycopg.connect(PG_CONNINFO, autocommit=True) as conn:
                    conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name LIKE %s",
                        (f"feedpub 4242 % {holder}",),
                    )
            return self.accept(session, envelope)

    handler = KillsTheLock()
    try:
        with smtp_server(handler) as port:
            sender = SmtpSender(SmtpSettings(HOST, port, security="none", timeout=5.0))
            with pytest.raises(delivery.RunLockLost):
                send_all(store, edition_id, sender, batch=5, still_ours=lock.healthy)
    finally:
        lock.close()
    assert len(handler.delivered) == 5  # the batch in hand finished, no other began
    assert store.delivery_counts(edition_id)["pending"] == 7


def test_a_drop_after_data_costs_one_copy_per_drop(store: SqlStore) -> None:
    """The window no protocol closes (see feedpub.delivery.smtp): the relay
    keeps the message and drops the connection before replying. Each such
    drop costs one second copy, never more, and nobody is missed."""
    addresses = readers(store, 400)
    edition_id = record_edition(store)
    handler = DropsAfterData(every=50)
    with smtp_server(handler) as port:
        report = send_all(store, edition_id, pool(port, 8))
    got = Counter(handler.recipients())
    assert set(got) == set(addresses) and report.sent == 400
    assert handler.drops >= 8
    assert sum(got.values()) - 400 == handler.drops
    assert max(got.values()) == 2
