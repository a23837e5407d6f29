"""Claims are leases with fencing (issue 22, findings 2 and 9): a second
sender never takes over the claims of one that is alive but slow, a row
taken over is never sent nor recorded by its old holder, and an unsubscribe
that lands while its reader's batch is being sent stops that message."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from feedpub import delivery
from feedpub.app import make_publisher
from feedpub.config import Config
from feedpub.delivery.smtp import SmtpSender, SmtpSettings
from feedpub.store import SqlStore
from support.delivery_site import NOW, SECRET, add_readers, make_cfg
from support.relays import SLOT, Clock, Slow, composer, readers, record_edition
from support.smtp_relay import HOST, Recorder, smtp_server


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDPUB_SECRET", SECRET)


def short_leases(cfg: Config, seconds: float) -> Config:
    # Below the config's one-minute floor, so that the test takes seconds.
    return replace(cfg, delivery=replace(cfg.delivery, stale_after=timedelta(seconds=seconds)))


def smtp(port: int, timeout: float) -> SmtpSender:
    return SmtpSender(SmtpSettings(HOST, port, security="none", timeout=timeout))


def test_a_second_sender_never_takes_over_a_slow_but_live_sender(
    tmp_path: Path, store_url: str
) -> None:
    """A relay answering in 3 s, claims stale after 5 s, and a second sender
    (a `feedpub digest` by hand while `serve` delivers) arriving once the
    first's claims are older than that: nobody gets two copies."""
    with SqlStore.open(store_url) as store:
        addresses = add_readers(store, 3)
    slow, fast = Slow(3.0), Recorder()
    outcomes: list[Any] = []
    with (
        smtp_server(slow) as slow_port,
        smtp_server(fast) as fast_port,
        SqlStore.open(store_url) as first_store,
        SqlStore.open(store_url) as second_store,
    ):
        cfg = short_leases(make_cfg(tmp_path, "sqlite:///unused.db", slow_port), 5)
        created = time.monotonic()
        first = make_publisher(cfg, now=NOW, store=first_store)
        first.use_sender(smtp(slow_port, timeout=4.0))
        first.ingest()
        sending = threading.Thread(target=lambda: outcomes.append(first.digest("daily")))
        sending.start()
        try:
            assert slow.first_data.wait(60)
            time.sleep(5.2)  # the first claim is now older than stale_after
            now = NOW + timedelta(seconds=time.monotonic() - created)
            with make_publisher(cfg, now=now, store=second_store) as second:
                second.use_sender(smtp(fast_port, timeout=4.0))
                outcomes.append(second.digest("daily"))
        finally:
            sending.join(60)
            first.close()
    got = Counter(slow.recipients() + fast.recipients())
    assert got == Counter(addresses), got  # each exactly once
    assert fast.recipients() == []  # the live sender's claims were never taken over


def test_an_unsubscribe_while_the_batch_is_sent_stops_that_message(
    tmp_path: Path, store: SqlStore
) -> None:
    """The batch is composed (its subscribers read) before the first message
    goes; reader 4 unsubscribes while reader 0's message is being sent."""
    addresses = add_readers(store, 6)

    class Unsubscribing(Recorder):
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            if not self.delivered:
                store.set_subscriber_status(addresses[4], "unsubscribed", NOW)
            return self.accept(session, envelope)

    handler = Unsubscribing()
    with smtp_server(handler) as port:
        cfg = make_cfg(tmp_path, "sqlite:///unused.db", port)
        with make_publisher(cfg, now=NOW, store=store) as pub:
            pub.use_sender(smtp(port, timeout=5.0))
            pub.ingest()
            outcome = pub.digest("daily")
    assert sorted(handler.recipients()) == sorted(a for a in addresses if a != addresses[4])
    assert outcome.skipped == 1
    edition_id = store.edition_id("daily", outcome.edition.slot)
    assert edition_id is not None
    (row,) = [d for d in store.deliveries(edition_id) if d.address == addresses[4]]
    assert row.status == "skipped"
    assert "unsubscribed" in (row.last_error or "")


def test_a_row_taken_over_mid_batch_is_neither_sent_nor_recorded_by_its_old_holder(
    store: SqlStore,
) -> None:
    """Another worker takes the batch over while its first message is being
    sent (as if this worker had stalled past its lease): this worker sends
    none of the rest, and records none of them, not even the one in flight."""
    addresses = readers(store, 5)
    edition_id = record_edition(store)
    stale = timedelta(minutes=1)
    taken: list[int] = []

    class TakesOver(Recorder):
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            if not self.delivered:
                later = NOW + timedelta(hours=1)
                taken.extend(
                    d.id for d in store.claim_deliveries(edition_id, "w2", 10, later, stale)
                )
            return self.accept(session, envelope)

    handler = TakesOver()
    with smtp_server(handler) as port:
        sender = smtp(port, timeout=5.0)
        try:
            report = delivery.deliver(
                store, edition_id, composer(), sender,
                digest="daily", slot=SLOT, worker="w1", batch=10, stale_after=stale,
                clock=Clock(),
            )  # fmt: skip
        finally:
            sender.close()
    assert handler.recipients() == [addresses[0]]
    assert len(taken) == 5  # the row in flight too: the old holder stalled past its lease
    # The one in flight went, but its record is refused (the report names it
    # as possibly sent twice); the other four were never sent by the old holder.
    assert (report.sent, report.lost, report.taken_over) == (1, 1, 4)
    rows = store.deliveries(edition_id)
    assert {(d.status, d.claimed_by) for d in rows} == {("claimed", "w2")}


def test_finishing_a_row_checks_the_claim_token(store: SqlStore) -> None:
    readers(store, 3)
    edition_id = record_edition(store)
    stale = timedelta(minutes=1)
    first = store.claim_deliveries(edition_id, "w", 3, NOW, stale, token="mine")
    assert store.renew_claim("mine", NOW + timedelta(seconds=50)) == 3
    # Renewed: not stale 70 s after the claim, only a minute after the renewal.
    assert store.claim_deliveries(edition_id, "w", 3, NOW + timedelta(seconds=70), stale) == []
    later = NOW + timedelta(seconds=111)
    (taken,) = store.claim_deliveries(edition_id, "w", 1, later, stale, token="theirs")
    assert taken.id == first[0].id
    # Same worker name, other claim: the fence is the token.
    assert not store.mark_sent(taken.id, "<m@x>", later, worker="w", token="mine")
    assert not store.release(taken.id, "x", later, worker="w", token="mine")
    assert store.claim_standing(taken.id, "mine")[0] is False
    assert store.claim_standing(first[1].id, "mine")[0] is True
    done = store.finish_deliveries(
        [(taken.id, "sent", "<m@x>", None), (first[1].id, "sent", "<n@x>", None)],
        later,
        worker="w",
        token="mine",
    )
    assert done == {first[1].id}
    assert store.renew_claim("mine", later) == 1  # the third row only
    assert store.mark_sent(taken.id, "<m@x>", later, worker="w", token="theirs")
