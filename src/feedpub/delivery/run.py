"""Sending one recorded edition to its recipients exactly once.

The store's deliveries table is the source of truth: one row per (edition,
address), enqueued after the edition is recorded, claimed a batch at a time
(two workers, on any machines, never hold the same row), and finished as
sent, failed, skipped or released for a later run. This module holds the
pure plan (who gets a row, with which content variant) and the loop; what a
message says is the caller's ``Compose`` (digests builds it: delivery never
renders), so the layers stay as they are.

Lanes. A backend that is a ``Pool`` (SMTP over N connections) is sent over
by one thread per connection; each claims its own batches and sends them in
order, so a relay's latency is paid N times at once. Everything shared is
guarded here: the composer is called by one lane at a time, the run lock
checked by one lane at a time; the store is safe to share between threads.

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

import contextlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Protocol

from feedpub.delivery.outbox import message_key
from feedpub.delivery.sender import Lane, Outgoing, Pool, Sender, StopReason
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


class RunLockLost(Exception):
    """The run lock was found lost before a batch (its connection to the
    store died, or its file was removed): another run may have started, so
    this one stops. The caller exits 1 with this one line."""


class DeliveryQueue(Protocol):
    """What sending needs of the store (``store.SqlStore`` has it); declared
    here by its consumer."""

    def claim_deliveries(
        self,
        edition_id: int,
        worker: str,
        limit: int,
        now: datetime,
        stale_after: timedelta,
        *,
        token: str | None = None,
    ) -> list[Delivery]: ...
    def renew_claim(self, token: str, now: datetime) -> int: ...
    def claim_standing(self, delivery_id: int, token: str) -> tuple[bool, Subscriber | None]: ...
    def mark_sent(
        self,
        delivery_id: int,
        message_id: str,
        now: datetime,
        *,
        worker: str | None = None,
        token: str | None = None,
    ) -> bool: ...
    def finish_deliveries(
        self,
        outcomes: Sequence[Finished],
        now: datetime,
        *,
        worker: str,
        token: str | None = None,
    ) -> set[int]: ...
    def release(
        self,
        delivery_id: int,
        reason: str,
        now: datetime,
        *,
        worker: str | None = None,
        token: str | None = None,
    ) -> bool: ...
    def delivery_counts(self, edition_id: int) -> dict[DeliveryStatus, int]: ...


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
    # Handed back for a later run: the backend deferred them, or a deadline
    # or a stopped connection left them untried.
    deferred: int = 0
    skipped: int = 0
    # Recorded by nobody here: another worker had taken the claim over after
    # this one sent (a stalled process): the message may have gone twice.
    lost: int = 0
    # Taken over by another worker before this one sent them: not sent here.
    taken_over: int = 0
    # A deadline cut the run short (``max_run_seconds``, or a relay that did
    # not answer within a message's deadline): rows are left for a later run
    # and the caller exits 1; ``stopped`` says why, in one line.
    timed_out: bool = False
    stopped: str = ""
    where: list[str] = field(default_factory=list)  # the sender's detail for each message sent


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
    needed = max(lane.send_deadline for lane in lanes)
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
    run = _Run(
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


class _Run:
    """What the lanes of one ``deliver`` share; every method is thread-safe."""

    def __init__(
        self,
        *,
        queue: DeliveryQueue,
        compose: Compose,
        edition_id: int,
        digest: str,
        slot: datetime,
        worker: str,
        limit: int,
        stale_after: timedelta,
        clock: Clock,
        still_ours: Callable[[], bool] | None,
        monotonic: Callable[[], float],
        until: float | None,
        max_run_seconds: float | None,
    ) -> None:
        self.queue, self.edition_id, self.digest, self.slot = queue, edition_id, digest, slot
        self.worker, self.limit, self.stale_after, self.clock = worker, limit, stale_after, clock
        self._compose, self._still_ours = compose, still_ours
        self._monotonic, self._until, self._max_run_seconds = monotonic, until, max_run_seconds
        self.report = DeliveryReport()
        self.stop = threading.Event()
        self.stop_reason = "not sent: the run stopped"
        self._lock = threading.Lock()  # the report, deferred, errors
        self._compose_lock = threading.Lock()
        self._lock_check = threading.Lock()
        self._deferred: dict[int, tuple[str, str]] = {}  # id -> (token, reason)
        self._errors: list[BaseException] = []
        self._opened = 0
        self._unopened: list[OSError] = []  # TimeoutError: no answer in time

    # --- the lanes --------------------------------------------------------------

    def all(self, lanes: Sequence[Sender]) -> None:
        if len(lanes) == 1:
            _LaneRun(self, lanes[0]).work()
            return
        threads = [
            threading.Thread(target=self._guarded, args=(lane,), name=f"feedpub-send-{i}")
            for i, lane in enumerate(lanes)
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                thread.join()
        except BaseException:  # interrupted: every lane stops before its next message
            self.halt("not sent: the run was interrupted")
            for thread in threads:
                thread.join()
            raise
        if self._errors:
            raise self._errors[0]

    def _guarded(self, lane: Sender) -> None:
        try:
            _LaneRun(self, lane).work()
        except BaseException as exc:
            with self._lock:
                self._errors.append(exc)
            self.halt("not sent: the run stopped on an error")

    def halt(self, reason: str) -> None:
        with self._lock:
            if not self.stop.is_set():
                self.stop_reason = reason
                self.stop.set()

    def opened(self, ok: bool) -> None:
        if ok:
            with self._lock:
                self._opened += 1

    def unopened(self, problem: OSError) -> None:
        with self._lock:
            self._unopened.append(problem)

    def finish(self) -> DeliveryReport:
        """The report. When no lane could open: a relay that did not answer
        is a timed-out run (nothing was claimed); one that cannot be reached
        at all raises, as the backend's failure."""
        if self._unopened and not self._opened:
            silent = [p for p in self._unopened if isinstance(p, TimeoutError)]
            if len(silent) < len(self._unopened):
                raise next(p for p in self._unopened if not isinstance(p, TimeoutError))
            self.timed_out(f"{silent[0]}: nothing was sent")
        else:
            for problem in self._unopened:
                log.warning(
                    "delivery %s: a connection could not be opened: %s", self.digest, problem
                )
        return self.report

    # --- deadlines, the run lock, the composer ---------------------------------

    def out_of_time(self) -> bool:
        if self._until is None or self._monotonic() < self._until:
            return self.stop.is_set()
        reason = f"the run's deadline (max_run_seconds {self._max_run_seconds:g}) passed"
        self.timed_out(reason)
        self.halt(f"not sent: {reason}")
        return True

    def timed_out(self, reason: str) -> None:
        with self._lock:
            self.report.timed_out = True
            self.report.stopped = self.report.stopped or reason

    def check_lock(self) -> None:
        if self._still_ours is None:
            return
        with self._lock_check:  # a lock object is not shared between threads
            ours = self._still_ours()
        if not ours:
            self.halt("not sent: the run lock was lost")
            raise RunLockLost(
                f"delivery {self.digest}: the run lock was lost (its connection to the "
                "store closed?); stopped before the next batch, another run may go on"
            )

    def compose(self, rows: Sequence[Delivery]) -> Sequence[Outgoing | EmailMessage | Skip]:
        with self._compose_lock:
            return self._compose(rows)

    # --- the report and what is handed back -------------------------------------

    def count(self, name: str, by: int = 1) -> None:
        with self._lock:
            setattr(self.report, name, getattr(self.report, name) + by)

    def sent(self, detail: str) -> None:
        with self._lock:
            self.report.sent += 1
            self.report.where.append(detail)

    def defer(self, rows: Iterable[int], token: str, reason: str, *, now: bool = False) -> None:
        """Hand ``rows`` back: at the end of the run, or at once (``now``:
        rows never tried, which another lane of this run may then take)."""
        rows = list(rows)
        if now and not self.stop.is_set():
            for delivery_id in rows:
                self.queue.release(
                    delivery_id, reason, self.clock(), worker=self.worker, token=token
                )
            self.count("deferred", len(rows))
            return
        with self._lock:
            for delivery_id in rows:
                if delivery_id not in self._deferred:
                    self.report.deferred += 1
                self._deferred[delivery_id] = (token, reason)

    def release_deferred(self) -> None:
        for delivery_id, (token, reason) in self._deferred.items():
            with contextlib.suppress(Exception):  # the store may be what failed
                self.queue.release(
                    delivery_id, reason, self.clock(), worker=self.worker, token=token
                )


@dataclass
class _Lease:
    """One claim's token and when this worker last renewed it."""

    token: str
    renewed: datetime


class _LaneRun:
    """One lane: claim a batch, compose it, send it in order, record."""

    def __init__(self, run: _Run, sender: Sender) -> None:
        self.run = run
        self.sender = sender
        self.lane = sender if isinstance(sender, Lane) else None

    def work(self) -> None:
        run = self.run
        if not self._open():
            return
        while not run.out_of_time():
            run.check_lock()
            token = secrets.token_hex(16)
            now = run.clock()
            claimed = run.queue.claim_deliveries(
                run.edition_id, run.worker, run.limit, now, run.stale_after, token=token
            )
            if not claimed or not self._batch(claimed, _Lease(token, now)):
                return

    def _open(self) -> bool:
        if self.lane is None:
            self.run.opened(True)
            return True
        try:
            ok = self.lane.open()
        except OSError as exc:
            self.run.unopened(exc)
            return False
        self.run.opened(ok)
        return ok

    def _batch(self, claimed: Sequence[Delivery], lease: _Lease) -> bool:
        """Send one claimed batch; False when this lane stops."""
        run = self.run
        try:
            made = run.compose(claimed)
        except BaseException:
            run.defer((r.id for r in claimed), lease.token, "not sent: composing failed")
            raise
        finished: list[Finished] = []
        done = 0  # rows tried so far, the one in hand included
        stop: StopReason | None = None
        try:
            for row, message in zip(claimed, made, strict=True):
                if self.lane is not None and not isinstance(message, str):
                    self.lane.wait_turn()
                if run.out_of_time():
                    break
                done += 1
                stop = self._one(row, message, lease, finished)
                if stop is not None:
                    break
            self._record(finished, lease.token)
        except BaseException:
            # The rest of the batch was never tried: give it back rather than
            # leave it to go stale. What was handed over is recorded if the
            # sender and the store still can; else it is released too (the
            # outbox finds its files again, nothing goes twice).
            run.defer((r.id for r in claimed[done:]), lease.token, "not sent: the run stopped")
            try:
                self._record(finished, lease.token)
            except Exception:
                sent = [d for d, status, _, _ in finished if status == "sent"]
                run.defer(sent, lease.token, "not recorded: the run stopped")
            raise
        rest = [r.id for r in claimed[done:]]
        if stop is not None:
            reason = "the relay refused this connection" if stop == "limit" else "timed out"
            run.defer(rest, lease.token, f"not sent: {reason} on this connection", now=True)
            return False
        if rest:
            run.defer(rest, lease.token, run.stop_reason)
        return not run.stop.is_set()

    def _one(
        self,
        row: Delivery,
        message: Outgoing | EmailMessage | Skip,
        lease: _Lease,
        finished: list[Finished],
    ) -> StopReason | None:
        run = self.run
        if isinstance(message, str):
            run.count("skipped")
            finished.append((row.id, "skipped", None, message))
            return None
        outgoing = Outgoing.of(message)
        if not self.sender.idempotent and not self._still_sendable(row, lease, finished):
            return None
        try:
            result = self.sender.send(outgoing, message_key(run.digest, run.slot, row.address))
        except BaseException:
            # The backend as a whole is unusable (or we are interrupted): this
            # message was not handed over, so it may go in the next run.
            run.defer([row.id], lease.token, "not sent: the backend failed")
            raise
        if result.status in ("sent", "duplicate"):
            # A duplicate is the outbox holding this very message from a run that
            # died before recording it: it was handed over, so it counts as sent.
            run.sent(result.detail)
            if self.sender.idempotent:
                finished.append((row.id, "sent", outgoing.message_id, None))
            else:  # a relay's acceptance is recorded before the next message goes
                recorded = run.queue.mark_sent(
                    row.id, outgoing.message_id, run.clock(), worker=run.worker, token=lease.token
                )
                if not recorded:
                    self._lost(row.id, row.address)
        elif result.status == "failed":
            run.count("failed")
            log.warning("delivery %s to %s failed: %s", run.digest, row.address, result.detail)
            finished.append((row.id, "failed", None, result.detail))
        else:
            run.defer([row.id], lease.token, result.detail or "deferred")
            if result.stop == "timeout":
                run.timed_out(f"{result.detail}: deferred to a later run")
            return result.stop
        return None

    def _still_sendable(self, row: Delivery, lease: _Lease, finished: list[Finished]) -> bool:
        """Just before the send: the lease renewed if it could run out
        during it; the row still ours; its subscriber still receiving."""
        run = self.run
        now = run.clock()
        life = run.stale_after.total_seconds()
        left = (lease.renewed + run.stale_after - now).total_seconds()
        if left < max(life / 2, 2 * self.sender.send_deadline):
            run.queue.renew_claim(lease.token, now)
            lease.renewed = now
        held, subscriber = run.queue.claim_standing(row.id, lease.token)
        if not held:
            run.count("taken_over")
            log.info(
                "delivery %d to %s: taken over by another worker before it was sent; not sent here",
                row.id,
                row.address,
            )
            return False
        if row.subscriber_id is not None and (
            subscriber is None or not subscriber.receives(run.digest)
        ):
            left_how = "was removed" if subscriber is None else f"is {subscriber.status}"
            run.count("skipped")
            finished.append(
                (row.id, "skipped", None, f"the subscriber {left_how} or left this digest "
                 "after the message was composed")
            )  # fmt: skip
            return False
        return True

    def _record(self, finished: list[Finished], token: str) -> None:
        if not finished:
            return
        run = self.run
        if any(status == "sent" for _, status, _, _ in finished):
            self.sender.sync()  # on disk before the store says sent
        recorded = run.queue.finish_deliveries(
            finished, run.clock(), worker=run.worker, token=token
        )
        for delivery_id, _, _, _ in finished:
            if delivery_id not in recorded:
                self._lost(delivery_id, "")
        finished.clear()

    def _lost(self, delivery_id: int, address: str) -> None:
        self.run.count("lost")
        log.warning(
            "delivery %d%s: the claim was taken over by another worker (this one "
            "stalled longer than half of stale_after?); it may have been sent twice",
            delivery_id,
            f" to {address}" if address else "",
        )
