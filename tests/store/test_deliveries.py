"""Deliveries, the exactly-once record of sending, each test on SQLite and
on PostgreSQL (see conftest)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from feedpub.model import Edition
from feedpub.store import SqlStore, StoreError

T0 = datetime(2024, 3, 1, 7, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=5)
STALE = timedelta(minutes=30)


def edition_of(store: SqlStore, slot: datetime = T0) -> int:
    store.add_edition(Edition("daily", slot, ("a1",), created=slot))
    found = store.edition_id("daily", slot)
    assert found is not None
    return found


def recipients(n: int) -> list[tuple[int | None, str, str | None]]:
    return [(None, f"r{i}@x.org", "plain") for i in range(n)]


def test_enqueue_is_idempotent(store: SqlStore) -> None:
    edition = edition_of(store)

    assert store.enqueue_deliveries(edition, recipients(3), NOW) == 3
    assert store.enqueue_deliveries(edition, recipients(5), NOW) == 2
    assert store.enqueue_deliveries(edition, recipients(5), NOW) == 0
    assert store.delivery_counts(edition) == {
        "pending": 5,
        "claimed": 0,
        "sent": 0,
        "failed": 0,
        "skipped": 0,
    }


def test_enqueue_keeps_one_row_per_address_within_a_call_and_across_chunks(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from feedpub.store import deliveries

    monkeypatch.setattr(deliveries, "ENQUEUE_CHUNK", 2)
    edition = edition_of(store)
    twice = [(None, "a@x.org", "v1"), (None, "a@x.org", "v2"), (None, "b@x.org", None)]

    assert store.enqueue_deliveries(edition, [*twice, (None, "a@x.org", "v3")], NOW) == 2
    assert [(d.address, d.variant_key) for d in store.deliveries(edition)] == [
        ("a@x.org", "v1"),
        ("b@x.org", None),
    ]


def test_enqueue_for_an_unknown_edition_is_a_store_error(store: SqlStore) -> None:
    with pytest.raises(StoreError, match="cannot enqueue deliveries"):
        store.enqueue_deliveries(12345, recipients(1), NOW)


def test_a_subscriber_removed_later_leaves_the_delivery_with_its_address(
    store: SqlStore,
) -> None:
    edition = edition_of(store)
    subscriber, _ = store.add_subscriber("s@x.org", T0, status="active")
    store.enqueue_deliveries(edition, [(subscriber.id, subscriber.email, None)], NOW)
    assert store.deliveries(edition)[0].subscriber_id == subscriber.id

    store.remove_subscriber("s@x.org", NOW)

    (kept,) = store.deliveries(edition)
    assert (kept.subscriber_id, kept.address) == (None, "s@x.org")


def test_claim_takes_pending_rows_oldest_first_for_the_worker(store: SqlStore) -> None:
    edition = edition_of(store)
    store.enqueue_deliveries(edition, recipients(5), T0)

    claimed = store.claim_deliveries(edition, "w1", 3, NOW, STALE)

    assert [d.address for d in claimed] == ["r0@x.org", "r1@x.org", "r2@x.org"]
    assert {(d.status, d.claimed_by, d.claimed_at) for d in claimed} == {("claimed", "w1", NOW)}
    again = store.claim_deliveries(edition, "w2", 10, NOW, STALE)
    assert [d.address for d in again] == ["r3@x.org", "r4@x.org"]
    assert store.claim_deliveries(edition, "w3", 10, NOW, STALE) == []


def test_a_claim_older_than_stale_after_is_claimable_again_and_counted(
    store: SqlStore,
) -> None:
    edition = edition_of(store)
    store.enqueue_deliveries(edition, recipients(1), T0)
    (first,) = store.claim_deliveries(edition, "dead", 1, NOW, STALE)

    assert store.claim_deliveries(edition, "w2", 1, NOW + STALE - timedelta(seconds=1), STALE) == []
    (taken,) = store.claim_deliveries(edition, "w2", 1, NOW + STALE, STALE)

    assert taken.id == first.id
    assert (taken.claimed_by, taken.attempts) == ("w2", 1)
    assert taken.last_error == "claim expired: dead"
    # The dead worker, back after all, no longer owns it.
    assert not store.mark_sent(first.id, "<late@x>", NOW + STALE, worker="dead")


@pytest.mark.parametrize(
    ("finish", "status", "attempts", "claimable_again"),
    [
        ("sent", "sent", 1, False),
        ("failed", "failed", 1, False),
        ("skipped", "skipped", 0, False),
        ("released", "pending", 1, True),
    ],
)
def test_finishing_a_claimed_delivery(
    store: SqlStore, finish: str, status: str, attempts: int, claimable_again: bool
) -> None:
    edition = edition_of(store)
    store.enqueue_deliveries(edition, recipients(1), T0)
    (claimed,) = store.claim_deliveries(edition, "w1", 1, NOW, STALE)
    later = NOW + timedelta(seconds=30)
    act = {
        "sent": lambda: store.mark_sent(claimed.id, "<m1@x.org>", later),
        "failed": lambda: store.mark_failed(claimed.id, "550 no such user", later),
        "skipped": lambda: store.mark_skipped(claimed.id, "unsubscribed", later),
        "released": lambda: store.release(claimed.id, "421 try later", later),
    }[finish]

    assert act()
    assert not act()  # only a claimed row changes: never finished twice

    (row,) = store.deliveries(edition)
    assert (row.status, row.attempts, row.updated) == (status, attempts, later)
    if finish == "sent":
        assert (row.message_id, row.sent_at) == ("<m1@x.org>", later)
    if finish == "failed":
        assert store.delivery_failures(edition) == [row]
    else:
        assert store.delivery_failures(edition) == []
    if finish == "released":
        assert (row.claimed_by, row.claimed_at, row.last_error) == (None, None, "421 try later")
    assert bool(store.claim_deliveries(edition, "w2", 1, later, STALE)) is claimable_again


def test_finishing_checks_the_worker_when_given(store: SqlStore) -> None:
    edition = edition_of(store)
    store.enqueue_deliveries(edition, recipients(1), T0)
    (claimed,) = store.claim_deliveries(edition, "w1", 1, NOW, STALE)

    assert not store.mark_sent(claimed.id, "<m@x>", NOW, worker="w2")
    assert store.mark_sent(claimed.id, "<m@x>", NOW, worker="w1")


def test_deliveries_of_other_editions_are_apart(store: SqlStore) -> None:
    one, two = edition_of(store), edition_of(store, T0 + timedelta(days=1))
    store.enqueue_deliveries(one, recipients(2), T0)
    store.enqueue_deliveries(two, recipients(3), T0)

    assert len(store.claim_deliveries(one, "w", 10, NOW, STALE)) == 2
    assert store.delivery_counts(two)["pending"] == 3


def test_workers_claiming_at_once_never_share_a_row(store_url: str) -> None:
    """Each worker its own store (engine, connections), as on other machines."""
    total, workers = 120, 4
    with SqlStore.open(store_url) as setup:
        edition = edition_of(setup)
        setup.enqueue_deliveries(edition, recipients(total), T0)
    got: dict[str, list[int]] = {f"w{i}": [] for i in range(workers)}
    errors: list[BaseException] = []
    start = threading.Barrier(workers)

    def work(name: str) -> None:
        with SqlStore.open(store_url) as mine:
            start.wait(10)
            try:
                while batch := mine.claim_deliveries(edition, name, 7, NOW, STALE):
                    for delivery in batch:
                        got[name].append(delivery.id)
                        assert mine.mark_sent(delivery.id, f"<{delivery.id}@x>", NOW, worker=name)
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(name,)) for name in got]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    claimed = [i for ids in got.values() for i in ids]
    assert len(claimed) == len(set(claimed)) == total
    with SqlStore.open(store_url) as check:
        assert check.delivery_counts(edition)["sent"] == total


# --- the edition and its deliveries in one transaction; batches finished at once ---


def test_edition_and_deliveries_are_recorded_together_once(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from feedpub.store import deliveries

    monkeypatch.setattr(deliveries, "ENQUEUE_CHUNK", 2)  # several statements, one transaction
    edition = Edition("daily", T0, ("a1",), created=T0)
    queue = [*recipients(5), (None, "r0@x.org", "again")]
    edition_id = store.add_edition_with_deliveries(edition, queue, NOW)
    assert edition_id is not None and edition_id == store.edition_id("daily", T0)
    assert [d.address for d in store.deliveries(edition_id)] == [f"r{i}@x.org" for i in range(5)]
    # A second run of the same slot (another machine): nothing written.
    assert store.add_edition_with_deliveries(edition, recipients(9), NOW) is None
    assert len(store.deliveries(edition_id)) == 5
    assert len(store.editions("daily")) == 1


def test_edition_is_not_recorded_when_its_deliveries_cannot_be(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from feedpub.store import editions

    real = editions.delivery_rows
    calls = []

    def fails_second_chunk(*args: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise StoreError("the disk filled up")
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(editions, "ENQUEUE_CHUNK", 2)
    monkeypatch.setattr(editions, "delivery_rows", fails_second_chunk)
    with pytest.raises(StoreError):
        store.add_edition_with_deliveries(
            Edition("daily", T0, ("a1",), created=T0), recipients(5), NOW
        )
    assert store.editions("daily") == [] and store.edition_id("daily", T0) is None


def test_finish_deliveries_records_a_batch_and_skips_rows_another_worker_took(
    store: SqlStore,
) -> None:
    edition = edition_of(store)
    store.enqueue_deliveries(edition, recipients(4), T0)
    rows = store.claim_deliveries(edition, "w1", 4, NOW, STALE)
    # w1 was slow: its claims went stale and w2 took the oldest over.
    later = NOW + STALE
    (taken,) = [r.id for r in store.claim_deliveries(edition, "w2", 1, later, STALE)]
    assert taken == rows[0].id
    outcomes = [
        (taken, "sent", "<m0@x.org>", None),
        (rows[1].id, "sent", "<m1@x.org>", None),
        (rows[2].id, "failed", None, "550 no such user"),
        (rows[3].id, "skipped", None, "unsubscribed since"),
    ]
    recorded = store.finish_deliveries(outcomes, later, worker="w1")  # type: ignore[arg-type]
    assert recorded == {rows[1].id, rows[2].id, rows[3].id}
    by_id = {d.id: d for d in store.deliveries(edition)}
    other, sent, failed, skipped = (by_id[r.id] for r in rows)
    assert (sent.status, sent.message_id, sent.sent_at, sent.attempts) == (
        "sent",
        "<m1@x.org>",
        later,
        1,
    )
    assert (failed.status, failed.last_error, failed.attempts) == ("failed", "550 no such user", 1)
    assert (skipped.status, skipped.last_error, skipped.attempts) == (
        "skipped",
        "unsubscribed since",
        0,
    )
    assert (other.status, other.claimed_by) == ("claimed", "w2")
    with pytest.raises(ValueError, match="pending"):
        store.finish_deliveries([(rows[0].id, "pending", None, None)], later, worker="w1")
