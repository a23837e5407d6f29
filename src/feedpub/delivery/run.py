"""Sending one recorded edition to its recipients exactly once.

The store's deliveries table is the source of truth: one row per (edition,
address), enqueued after the edition is recorded, claimed a batch at a time
(two workers, on any machines, never hold the same row), and finished as
sent, failed, skipped or released for a later run. This module holds the
pure plan (who gets a row, with which content variant) and the loop; what a
message says is the caller's ``Compose`` (digests builds it: delivery never
renders), so the layers stay as they are.

Recording: a batch is composed at once (the composer reads its subscribers
in one query), then each message is handed over. An SMTP relay's acceptance
is recorded at once, message by message; the outbox's files (idempotent: one
file per key) are synced once for the batch and the batch is recorded in one
transaction, so a crash before that record makes the rerun find the files
and write none twice.

The one window left: the relay accepted a message and the process died
before ``mark_sent``. The claim goes stale, another run takes it over and
sends that one message again, with the same Message-ID (so a receiving
system that dedupes on it drops the copy).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Protocol

from feedpub.delivery.outbox import message_key
from feedpub.delivery.sender import Outgoing, Sender
from feedpub.model import Delivery, DeliveryStatus, Subscriber

log = logging.getLogger(__name__)

QueueEntry = tuple[int | None, str, str | None]  # (subscriber id, address, variant key)

# What a composer returns instead of a message: the reason nothing is sent.
Skip = str
# One message (or Skip) per claimed delivery, in the batch's order.
Compose = Callable[[Sequence[Delivery]], Sequence["Outgoing | EmailMessage | Skip"]]
# (delivery id, status, Message-ID of a sent one, reason of a failed or skipped one)
Finished = tuple[int, DeliveryStatus, str | None, str | None]
Clock = Callable[[], datetime]


class DeliveryQueue(Protocol):
    """What sending needs of the store (``store.SqlStore`` has it); declared
    here by its consumer."""

    def claim_deliveries(
        self, edition_id: int, worker: str, limit: int, now: datetime, stale_after: timedelta
    ) -> list[Delivery]: ...
    def mark_sent(
        self, delivery_id: int, message_id: str, now: datetime, *, worker: str | None = None
    ) -> bool: ...
    def finish_deliveries(
        self, outcomes: Sequence[Finished], now: datetime, *, worker: str
    ) -> set[int]: ...
    def release(
        self, delivery_id: int, reason: str, now: datetime, *, worker: str | None = None
    ) -> bool: ...


def variant_key(tags: Iterable[str]) -> str | None:
    """The content variant of a subscriber's tag choice: None for the whole
    edition, else the sorted tags as JSON (one render per distinct key)."""
    if not tags:
        return None
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
    batch_run = _Batch(queue, sender, digest, slot, worker, clock, report, deferred)
    try:
        while True:
            claimed = queue.claim_deliveries(edition_id, worker, batch, clock(), stale_after)
            if not claimed:
                return report
            batch_run.run(claimed, compose)
    finally:
        for delivery_id, reason in deferred.items():
            with contextlib.suppress(Exception):  # the store may be what failed
                queue.release(delivery_id, reason, clock(), worker=worker)


@dataclass
class _Batch:
    queue: DeliveryQueue
    sender: Sender
    digest: str
    slot: datetime
    worker: str
    clock: Clock
    report: DeliveryReport
    deferred: dict[int, str]

    def run(self, claimed: Sequence[Delivery], compose: Compose) -> None:
        try:
            made = compose(claimed)
        except BaseException:
            for row in claimed:
                self.deferred[row.id] = "not sent: the run failed while composing"
            raise
        finished: list[Finished] = []
        done = 0  # rows tried so far, the one in hand included
        try:
            for row, message in zip(claimed, made, strict=True):
                done += 1
                self._one(row, message, finished)
            self._record(finished)
        except BaseException:
            # The rest of the batch was never tried: give it back now rather
            # than leave it to go stale. What was handed over is recorded if
            # the sender and the store still can; else it is released too
            # (the outbox finds its files again, nothing goes twice).
            for untried in claimed[done:]:
                self.deferred[untried.id] = "not sent: the run stopped"
            try:
                self._record(finished)
            except Exception:
                for delivery_id, status, _, _ in finished:
                    if status == "sent":
                        self.deferred[delivery_id] = "not recorded: the run stopped"
            raise

    def _one(
        self, row: Delivery, message: Outgoing | EmailMessage | Skip, finished: list[Finished]
    ) -> None:
        report = self.report
        if isinstance(message, str):
            report.skipped += 1
            finished.append((row.id, "skipped", None, message))
            return
        outgoing = Outgoing.of(message)
        try:
            result = self.sender.send(outgoing, message_key(self.digest, self.slot, row.address))
        except BaseException:
            # The backend as a whole is unusable (or we are interrupted): this
            # message was not handed over, so it may go in the next run.
            self.deferred[row.id] = "not sent: the backend failed"
            raise
        if result.status in ("sent", "duplicate"):
            # A duplicate is the outbox holding this very message from a run that
            # died before recording it: it was handed over, so it counts as sent.
            report.sent += 1
            assert report.where is not None
            report.where.append(result.detail)
            if self.sender.idempotent:
                finished.append((row.id, "sent", outgoing.message_id, None))
            else:  # a relay's acceptance is recorded before the next message goes
                recorded = self.queue.mark_sent(
                    row.id, outgoing.message_id, self.clock(), worker=self.worker
                )
                if not recorded:
                    self._lost(row.id, row.address)
        elif result.status == "failed":
            report.failed += 1
            log.warning("delivery %s to %s failed: %s", self.digest, row.address, result.detail)
            finished.append((row.id, "failed", None, result.detail))
        else:
            report.deferred += 1
            self.deferred[row.id] = result.detail or "deferred"

    def _record(self, finished: list[Finished]) -> None:
        if not finished:
            return
        if any(status == "sent" for _, status, _, _ in finished):
            self.sender.sync()  # on disk before the store says sent
        recorded = self.queue.finish_deliveries(finished, self.clock(), worker=self.worker)
        for delivery_id, _, _, _ in finished:
            if delivery_id not in recorded:
                self._lost(delivery_id, "")
        finished.clear()

    def _lost(self, delivery_id: int, address: str) -> None:
        self.report.lost += 1
        log.warning(
            "delivery %d%s: the claim was taken over by another worker (stale_after "
            "too short for this batch?); it may have been sent twice",
            delivery_id,
            f" to {address}" if address else "",
        )
