"""Several senders on one edition: ``feedpub deliver [DIGEST]`` is a
process that only claims and sends, started on as many machines as needed
(sharing one PostgreSQL store) while one leader plans the editions. Each
works through what is left of the latest editions; the claims (leases with
fencing, see ``run``) keep every recipient to one message however many
senders there are, and a sender that dies leaves its claims to the others
once they go stale.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from feedpub.delivery.run import Clock, Compose, DeliveryQueue, DeliveryReport, deliver
from feedpub.delivery.sender import Sender


class EditionQueue(DeliveryQueue, Protocol):
    def unfinished_editions(self, digest: str, recent: int = 2) -> list[tuple[int, datetime]]: ...


@dataclass(frozen=True)
class EditionSent:
    edition_id: int
    slot: datetime
    report: DeliveryReport


def deliver_unfinished(
    queue: EditionQueue,
    digest: str,
    compose_for: Callable[[int, datetime], Compose],
    sender: Sender,
    *,
    worker: str,
    batch: int,
    stale_after: timedelta,
    clock: Clock,
    recent: int = 2,
    wait: float = 0.0,
    until_finished: bool = False,
    poll: float = 5.0,
    max_run_seconds: float | None = None,
    still_ours: Callable[[], bool] | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[EditionSent]:
    """Send what is left of the latest ``recent`` editions of ``digest``
    (oldest first); ``compose_for(edition_id, slot)`` is that edition's
    composer. One report per edition, oldest first.

    With nothing to send, look again every ``poll`` seconds for up to
    ``wait`` seconds (a sender started before the leader recorded the
    edition). ``until_finished``: while other senders still hold claims on
    an edition, look again every ``poll`` seconds, so the claims of one that
    died are taken over once stale (``stale_after``) instead of waiting for
    the next run. ``max_run_seconds`` bounds the whole call; the report of
    the edition it cut short says ``timed_out``."""
    started = monotonic()

    def left() -> float | None:
        return None if max_run_seconds is None else max_run_seconds - (monotonic() - started)

    editions = queue.unfinished_editions(digest, recent)
    while not editions and monotonic() - started + poll <= wait:
        sleep(poll)
        editions = queue.unfinished_editions(digest, recent)
    reports: dict[int, EditionSent] = {}
    while editions:
        for edition_id, slot in editions:
            remaining = left()
            if remaining is not None and remaining <= 0:
                report = DeliveryReport(timed_out=True, stopped="the run's deadline passed")
            else:
                report = deliver(
                    queue,
                    edition_id,
                    compose_for(edition_id, slot),
                    sender,
                    digest=digest,
                    slot=slot,
                    worker=worker,
                    batch=batch,
                    stale_after=stale_after,
                    clock=clock,
                    max_run_seconds=remaining,
                    still_ours=still_ours,
                    monotonic=monotonic,
                )
            before = reports.get(edition_id)
            reports[edition_id] = EditionSent(
                edition_id, slot, report if before is None else _sum(before.report, report)
            )
            if report.timed_out:
                return list(reports.values())
        if not until_finished:
            break
        # Claims others hold: in flight, or a dead sender's, stale in time.
        editions = [e for e in editions if queue.delivery_counts(e[0])["claimed"]]
        if editions:
            sleep(poll)
    return list(reports.values())


def _sum(a: DeliveryReport, b: DeliveryReport) -> DeliveryReport:
    return DeliveryReport(
        sent=a.sent + b.sent,
        failed=a.failed + b.failed,
        deferred=b.deferred,  # what the last pass left, not every retry of it
        skipped=a.skipped + b.skipped,
        lost=a.lost + b.lost,
        taken_over=a.taken_over + b.taken_over,
        timed_out=b.timed_out,
        stopped=b.stopped,
        where=a.where + b.where,
    )
