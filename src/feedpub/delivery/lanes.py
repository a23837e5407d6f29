"""The lanes of one ``deliver``: one thread per connection of the backend,
each claiming its own batches, composing them (one lane at a time), and
sending each message after checking its claim (see ``run`` for the
promises); and what they share, guarded here.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from feedpub.delivery.outbox import message_key
from feedpub.delivery.queue import (
    Clock,
    Compose,
    DeliveryQueue,
    DeliveryReport,
    Finished,
    RunLockLost,
    Skip,
)
from feedpub.delivery.sender import Lane, Outgoing, Sender, StopReason, send_deadline
from feedpub.model import Delivery

log = logging.getLogger("feedpub.delivery.run")


class Run:
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
            LaneRun(self, lanes[0]).work()
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
            LaneRun(self, lane).work()
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
class Lease:
    """One claim's token and when this worker last renewed it."""

    token: str
    renewed: datetime


class LaneRun:
    """One lane: claim a batch, compose it, send it in order, record."""

    def __init__(self, run: Run, sender: Sender) -> None:
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
            if not claimed or not self._batch(claimed, Lease(token, now)):
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

    def _batch(self, claimed: Sequence[Delivery], lease: Lease) -> bool:
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
        lease: Lease,
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

    def _still_sendable(self, row: Delivery, lease: Lease, finished: list[Finished]) -> bool:
        """Just before the send: the lease renewed if it could run out
        during it; the row still ours; its subscriber still receiving."""
        run = self.run
        now = run.clock()
        life = run.stale_after.total_seconds()
        left = (lease.renewed + run.stale_after - now).total_seconds()
        if left < max(life / 2, 2 * send_deadline(self.sender)):
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
