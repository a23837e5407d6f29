"""Sending one recorded edition to its recipients exactly once.

The store's deliveries table is the source of truth: one row per (edition,
address), enqueued after the edition is recorded, claimed a batch at a time
(two workers, on any machines, never hold the same row), and finished as
sent, failed, skipped or released for a later run. This module holds the
pure plan (who gets a row, with which content variant) and the loop; what a
message says is the caller's ``Compose`` (digests builds it: delivery never
renders), so the layers stay as they are.

The one window left: the relay accepted a message and the process died
before ``mark_sent``. The claim goes stale, another run takes it over and
sends that one message again, with the same Message-ID (so a receiving
system that dedupes on it drops the copy).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Protocol

from feedpub.delivery.outbox import message_key
from feedpub.delivery.sender import Sender
from feedpub.model import Delivery, Subscriber

log = logging.getLogger(__name__)

QueueEntry = tuple[int | None, str, str | None]  # (subscriber id, address, variant key)

# What a composer returns instead of a message: the reason nothing is sent.
Skip = str
Compose = Callable[[Delivery], "EmailMessage | Skip"]
Clock = Callable[[], datetime]


class DeliveryQueue(Protocol):
    """What sending needs of the store (``store.SqlStore`` has it); declared
    here by its consumer."""

    def enqueue_deliveries(
        self, edition_id: int, recipients: Iterable[QueueEntry], now: datetime
    ) -> int: ...
    def claim_deliveries(
        self, edition_id: int, worker: str, limit: int, now: datetime, stale_after: timedelta
    ) -> list[Delivery]: ...
    def mark_sent(
        self, delivery_id: int, message_id: str, now: datetime, *, worker: str | None = None
    ) -> bool: ...
    def mark_failed(
        self, delivery_id: int, reason: str, now: datetime, *, worker: str | None = None
    ) -> bool: ...
    def mark_skipped(
        self, delivery_id: int, reason: str, now: datetime, *, worker: str | None = None
    ) -> bool: ...
    def release(
        self, delivery_id: int, reason: str, now: datetime, *, worker: str | None = None
    ) -> bool: ...


def variant_key(tags: Iterable[str]) -> str | None:
    """The content variant of a subscriber's tag choice: None for the whole
    edition, else the sorted tags as JSON (one render per distinct key)."""
    chosen = sorted(set(tags))
    return json.dumps(chosen, ensure_ascii=False) if chosen else None


def plan_queue(
    subscribers: Iterable[Subscriber],
    digest: str,
    *,
    recorded: datetime,
    editor: str,
) -> Iterator[QueueEntry]:
    """The deliveries of an edition recorded at ``recorded``: one per active
    subscriber of ``digest`` who had subscribed by then (so resuming an old
    edition never mails it to someone who joined later); when there is no
    such subscriber at all, one editors' copy to ``editor`` (subscriber id
    None), as before there were subscriber lists."""
    anyone = False
    for subscriber in subscribers:
        if subscriber.receives(digest) and subscriber.created <= recorded:
            anyone = True
            yield subscriber.id, subscriber.email, variant_key(subscriber.tags)
    if not anyone:
        yield None, editor, None


@dataclass
class DeliveryReport:
    """What one run of ``deliver`` did to one edition."""

    sent: int = 0
    failed: int = 0
    deferred: int = 0
    skipped: int = 0
    # Claims another worker had taken over as stale (this worker was too
    # slow): the message may have gone twice.
    lost: int = 0
    where: list[str] | None = None  # the sender's detail for each message sent

    def __post_init__(self) -> None:
        if self.where is None:
            self.where = []


def deliver(
    queue: DeliveryQueue,
    edition_id: int,
    compose: Compose,
    sender: Sender,
    *,
    digest: str,
    slot: datetime,
    worker: str,
    batch: int,
    stale_after: timedelta,
    clock: Clock,
) -> DeliveryReport:
    """Claim, send and record the edition's deliveries until none is left
    that this run may take (pending, or claimed by a dead worker).

    A message the sender defers (after its own bounded retries) stays
    claimed by this run until the loop ends, so this run does not claim it
    again, and is then released for a later run."""
    report = DeliveryReport()
    deferred: dict[int, str] = {}
    try:
        while True:
            claimed = queue.claim_deliveries(edition_id, worker, batch, clock(), stale_after)
            if not claimed:
                return report
            for done, row in enumerate(claimed, start=1):
                try:
                    _deliver_one(
                        queue, row, compose, sender, digest, slot, worker, clock, report, deferred
                    )
                except BaseException:
                    # The rest of the batch was never tried: give it back now
                    # rather than leave it to go stale.
                    for untried in claimed[done:]:
                        deferred[untried.id] = "not sent: the run stopped"
                    raise
    finally:
        for delivery_id, reason in deferred.items():
            with contextlib.suppress(Exception):  # the store may be what failed
                queue.release(delivery_id, reason, clock(), worker=worker)


def _deliver_one(
    queue: DeliveryQueue,
    row: Delivery,
    compose: Compose,
    sender: Sender,
    digest: str,
    slot: datetime,
    worker: str,
    clock: Clock,
    report: DeliveryReport,
    deferred: dict[int, str],
) -> None:
    try:
        made = compose(row)
    except BaseException:
        deferred[row.id] = "not sent: the run failed while composing"
        raise
    if isinstance(made, str):
        report.skipped += 1
        _finished(queue.mark_skipped(row.id, made, clock(), worker=worker), row, report)
        return
    try:
        result = sender.send(made, message_key(digest, slot, row.address))
    except BaseException:
        # The backend as a whole is unusable (or we are interrupted): this
        # message was not handed over, so it may go in the next run.
        deferred[row.id] = "not sent: the backend failed"
        raise
    message_id = str(made["Message-ID"] or "")
    if result.status in ("sent", "duplicate"):
        # A duplicate is the outbox holding this very message from a run that
        # died before recording it: it was handed over, so it counts as sent.
        report.sent += 1
        assert report.where is not None
        report.where.append(result.detail)
        _finished(queue.mark_sent(row.id, message_id, clock(), worker=worker), row, report)
    elif result.status == "failed":
        report.failed += 1
        log.warning("delivery %s to %s failed: %s", digest, row.address, result.detail)
        _finished(queue.mark_failed(row.id, result.detail, clock(), worker=worker), row, report)
    else:
        report.deferred += 1
        deferred[row.id] = result.detail or "deferred"


def _finished(recorded: bool, row: Delivery, report: DeliveryReport) -> None:
    if not recorded:
        report.lost += 1
        log.warning(
            "delivery %d to %s: the claim was taken over by another worker (stale_after "
            "too short for this batch?); it may have been sent twice",
            row.id,
            row.address,
        )
