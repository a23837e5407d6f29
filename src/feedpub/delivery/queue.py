"""What sending asks of the store and what it says back: the store's
queue as delivery sees it (``DeliveryQueue``, declared here by its
consumer), the plan of an edition's deliveries (``plan_queue``), the
composer's shape (``Compose``) and the report of a run (``DeliveryReport``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Protocol

from feedpub.delivery.sender import Outgoing
from feedpub.model import Delivery, DeliveryStatus, Subscriber

QueueEntry = tuple[int | None, str, str | None]  # (subscriber id, address, variant key)

# What a composer returns instead of a message: the reason nothing is sent.
Skip = str
# One message (or Skip) per claimed delivery, in the batch's order.
Compose = Callable[[Sequence[Delivery]], Sequence["Outgoing | EmailMessage | Skip"]]
# (delivery id, status, Message-ID of a sent one, reason of a failed or skipped one)
Finished = tuple[int, DeliveryStatus, str | None, str | None]
Clock = Callable[[], datetime]


class RunLockLost(OSError):
    """The run lock was found lost before a batch (its connection to the
    store died, or its file was removed): another run may have started, so
    this one stops. An ``OSError``, as any lost connection: the front ends
    report it as one line and exit 1."""


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
