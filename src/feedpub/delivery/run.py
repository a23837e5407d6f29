"""Sending one recorded edition to its recipients exactly once.

The store's deliveries table is the source of truth: one row per (edition,
address), enqueued after the edition is recorded, claimed a batch at a time
(two workers, on any machines, never hold the same row), and finished as
sent, failed, skipped or released for a later run. This module is the
entry (``deliver``); ``queue`` holds the pure plan (who gets a row, with
which content variant) and the report, ``lanes`` the loop. What a message
says is the caller's ``Compose`` (digests builds it: delivery never
renders), so the layers stay as they are.

Lanes. A backend that is a ``Pool`` (SMTP over N connections) is sent over
by one thread per connection; each claims its own batches and sends them in
order, so a relay's latency is paid N times at once. What they share is
guarded in ``lanes``: the composer is called by one lane at a time, the run
lock checked by one lane at a time; the store is safe to share between
threads (one pooled engine: at most 15 connections a process, which a
lane holds for one statement).

Claims are leases with fencing. A claim is taken under a random token; a
claim not renewed for ``stale_after`` is a dead worker's, and another may
take it over. Just before each SMTP message goes, its lane renews the lease
when less than half of it (or less than two deadlines of a send) is left,
and reads the row back (``claim_standing``): a row taken over, or whose
subscriber left after the batch was composed, is not sent. The row is then
marked sent in a statement that checks the token, so a worker whose claim
was taken over can never record it. A send lasts at most the backend's
``send_deadline``, which the lease outlasts by half of ``stale_after``:
clocks of the machines sharing a store may disagree by up to that margin.

Recording: an SMTP relay's acceptance is recorded at once, before that
connection sends its next message; the outbox's files (idempotent: one file
per key) are synced once for the batch and the batch is recorded in one
transaction, so a crash before that record makes the rerun find the files
and write none twice. The outbox batch is written within milliseconds of
composing, which read its subscribers: that is its unsubscribe check.

What no record closes (the promises table):

- A crash (SIGKILL, power) after a relay accepted a message and before
  ``mark_sent``: at most one message per open connection goes twice (16 at
  the default ``delivery.smtp.connections``), with the same Message-ID, when
  another run takes the claim over. ``tests/delivery/test_senders.py``
  kills a sender of 4 connections mid-edition and counts at most 4.
- A relay that drops the connection after DATA, before its reply: see
  ``smtp`` (one possible copy per such drop).
- A process stalled (a suspended machine) for more than half of
  ``stale_after`` between its lease check and its send: its row may have
  been taken over and goes twice; the fence then refuses its record, and
  the report counts it as ``lost``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from feedpub.delivery.lanes import Run
from feedpub.delivery.queue import (
    Clock,
    Compose,
    DeliveryQueue,
    DeliveryReport,
    Finished,
    QueueEntry,
    RunLockLost,
    Skip,
    plan_queue,
    variant_key,
)
from feedpub.delivery.sender import Pool, Sender, send_deadline

__all__ = [
    "Clock",
    "Compose",
    "DeliveryQueue",
    "DeliveryReport",
    "Finished",
    "QueueEntry",
    "RunLockLost",
    "Skip",
    "deliver",
    "plan_queue",
    "variant_key",
]


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
    max_run_seconds: float | None = None,
    still_ours: Callable[[], bool] | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> DeliveryReport:
    """Claim, send and record the edition's deliveries until none is left
    that this run may take (pending, or claimed by a dead worker), over
    every lane of ``sender`` at once.

    A message the sender defers (after its own bounded retries) stays
    claimed by this run until the loop ends, so this run does not claim it
    again, and is then released for a later run. After ``max_run_seconds``
    nothing more is claimed or sent: the rest is released and the report
    says ``timed_out``. ``still_ours`` (the run lock's health) is asked
    before each batch; False raises ``RunLockLost``. ``compose`` is called
    by one lane at a time. ``clock`` must be safe to call from any thread."""
    lanes: list[Sender] = list(sender.lanes()) if isinstance(sender, Pool) else [sender]
    needed = max(send_deadline(lane) for lane in lanes)
    if stale_after.total_seconds() <= needed:
        raise ValueError(
            f"stale_after ({stale_after.total_seconds():g}s) must outlast a send's "
            f"deadline ({needed:g}s): a claim would expire while its message is sent"
        )
    counts = queue.delivery_counts(edition_id)
    left = counts["pending"] + counts["claimed"]
    if not left:  # nothing to send: no connection opened
        return DeliveryReport()
    # A share each, so that a small edition still goes over every lane.
    limit = max(1, min(batch, -(-left // len(lanes))))
    run = Run(
        queue=queue,
        compose=compose,
        edition_id=edition_id,
        digest=digest,
        slot=slot,
        worker=worker,
        limit=limit,
        stale_after=stale_after,
        clock=clock,
        still_ours=still_ours,
        monotonic=monotonic,
        until=None if max_run_seconds is None else monotonic() + max_run_seconds,
        max_run_seconds=max_run_seconds,
    )
    try:
        run.all(lanes)
    finally:
        run.release_deferred()
    return run.finish()
