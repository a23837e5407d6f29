"""The mail loop as the composition root runs it: the bounce mailbox read
and acted on, the relay's refusals counted as hard bounces, a digest paused
when its editions draw too many, and each delivery's envelope sender.

A digest is paused when one of its last ``EDITIONS_JUDGED`` editions, once
``delivery.pause_min_deliveries`` of its messages were sent, has a hard
bounce rate over ``delivery.pause_hard_bounce_rate`` or a complaint rate
over ``delivery.pause_complaint_rate`` (``rules.pause_reason``). It stays
paused, sending nothing, until an operator resumes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from feedpub.config import DeliveryConfig, InboundConfig
from feedpub.inbound.classify import Keys
from feedpub.inbound.job import (
    InboundReport,
    InboundStore,
    SubscriberStatusWriter,
    kept_line,
    list_kept,
    process,
    record_refusal,
)
from feedpub.inbound.mailbox import Mailbox
from feedpub.inbound.rules import Rules, pause_reason
from feedpub.inbound.verp import envelope_sender
from feedpub.model import Delivery, DeliveryStatus, Edition, FeedbackCounts

log = logging.getLogger(__name__)

# The editions of a digest whose rates can pause it: the latest, and the one
# before (its late bounces still arrive while the next one is sent).
EDITIONS_JUDGED = 2


class LoopStore(InboundStore, Protocol):
    """What the loop needs of the store beyond the inbound job's."""

    def editions(self, digest: str) -> list[Edition]: ...
    def edition_id(self, digest: str, slot: datetime) -> int | None: ...
    def delivery_counts(self, edition_id: int) -> dict[DeliveryStatus, int]: ...
    def delivery_failures(self, edition_id: int) -> list[Delivery]: ...
    def feedback_counts(self, edition_id: int) -> FeedbackCounts: ...
    def pause_digest(self, digest: str, reason: str, now: datetime) -> bool: ...


class MailLoop:
    def __init__(
        self,
        store: LoopStore,
        subscribers: SubscriberStatusWriter,
        *,
        inbound: InboundConfig,
        sending: DeliveryConfig,
        digests: Sequence[str],
        unsubscribe_address: str,
        clock: Callable[[], datetime],
        secret: Callable[[], bytes],
        open_mailbox: Callable[[InboundConfig], Mailbox],
    ) -> None:
        self._store = store
        self._subscribers = subscribers
        self._inbound = inbound
        self._sending = sending
        self._digests = tuple(digests)
        self._unsubscribe = unsubscribe_address
        self._clock = clock
        self._secret = secret
        self._open = open_mailbox
        self._rules = Rules(inbound.soft_bounce_limit, timedelta(days=inbound.soft_bounce_days))

    def envelope(self) -> Callable[[int], str] | None:
        """A delivery id's envelope sender (VERP), None without
        ``delivery.return_path``."""
        return_path = self._sending.return_path
        if return_path is None:
            return None
        return lambda delivery_id: envelope_sender(self._secret(), return_path, delivery_id)

    def read_mailbox(self) -> InboundReport:
        """Every new message of the bounce mailbox, acted on; then every
        digest's rates judged."""
        mailbox = self._open(self._inbound)
        try:
            report = process(
                mailbox, self._store, self._subscribers, self._keys(), self._rules, self._clock()
            )
        finally:
            mailbox.close()
        for digest in self._digests:
            self._judge(digest)
        return report

    def kept(self) -> list[str]:
        """The messages kept for a person, one line each."""
        mailbox = self._open(self._inbound)
        try:
            return [kept_line(record) for record in list_kept(mailbox, self._store)]
        finally:
            mailbox.close()

    def after_delivery(self, digest: str) -> None:
        """The relay's 5xx refusals of the digest's last editions, counted
        once each as hard bounces; then the digest's rates judged."""
        for edition_id in self._judged(digest):
            for failure in self._store.delivery_failures(edition_id):
                record_refusal(
                    self._store,
                    self._subscribers,
                    self._rules,
                    delivery_id=failure.id,
                    address=failure.address,
                    detail=failure.last_error or "",
                    now=self._clock(),
                )
        self._judge(digest)

    def _keys(self) -> Keys:
        return Keys(self._secret(), self._digests, self._unsubscribe, self._sending.return_path)

    def _judged(self, digest: str) -> list[int]:
        found = []
        for edition in self._store.editions(digest)[:EDITIONS_JUDGED]:
            edition_id = self._store.edition_id(edition.digest, edition.slot)
            if edition_id is not None:
                found.append(edition_id)
        return found

    def _judge(self, digest: str) -> None:
        for edition_id in self._judged(digest):
            sent = self._store.delivery_counts(edition_id)["sent"]
            if sent < self._sending.pause_min_deliveries:
                continue
            back = self._store.feedback_counts(edition_id)
            reason = pause_reason(
                sent,
                back.hard,
                back.complaints,
                hard_rate=self._sending.pause_hard_bounce_rate,
                complaint_rate=self._sending.pause_complaint_rate,
            )
            if reason is not None and self._store.pause_digest(digest, reason, self._clock()):
                log.error(
                    "digest %s: paused: %s; nothing is sent until 'feedpub digests resume %s'",
                    digest,
                    reason,
                    digest,
                )
                return
