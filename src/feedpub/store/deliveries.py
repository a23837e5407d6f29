"""Deliveries: one row per (edition, recipient), the source of truth for
sending each edition to each recipient exactly once.

A row is ``pending`` until a worker claims it, ``claimed`` while that worker
sends, then ``sent``, ``failed`` (given up) or ``skipped``; ``release`` puts
a deferred one back to ``pending``.

A claim is a lease: ``claimed_at`` is when it was taken or last renewed
(``renew_claim``), and a claim not renewed for ``stale_after`` is a worker
that died mid-send: its rows are claimable again. Each claim carries a random
token; the statements that finish a row check it (``WHERE claim_token =
:mine``), so a worker whose claim was taken over can never record the row,
and ``claim_standing`` tells a worker, just before it sends, whether the row
is still its own and whether its subscriber still receives.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    Text,
    and_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.engine import Connection

from feedpub.model import (
    DELIVERY_STATUSES,
    Delivery,
    DeliveryStatus,
    Subscriber,
    require_aware,
)
from feedpub.store.engine import StoreBase, chunks
from feedpub.store.schema import t_deliveries, t_editions, t_subscribers
from feedpub.store.subscribers import _subscriber

# Recipients per enqueue transaction: a crash mid-enqueue keeps the finished
# chunks, and the rerun (idempotent) adds only the rest.
ENQUEUE_CHUNK = 500

Recipient = tuple[int | None, str, str | None]  # (subscriber id, address, variant key)
# (delivery id, status, Message-ID of a sent one, reason of a failed or skipped one)
Finished = tuple[int, DeliveryStatus, str | None, str | None]
# (worker, deliveries it sent since the time asked, when it sent the first
# and the last of them)
SenderRate = tuple[str, int, datetime, datetime]

_d = t_deliveries.c
_s = t_subscribers.c


def delivery_rows(
    edition_id: int, recipients: Iterable[tuple[str, tuple[int | None, str | None]]], now: datetime
) -> list[dict[str, Any]]:
    """Pending delivery rows for (address, (subscriber id, variant key))."""
    return [
        {
            "edition_id": edition_id,
            "subscriber_id": sid,
            "address": address,
            "variant_key": key,
            "status": "pending",
            "attempts": 0,
            "created": now,
            "updated": now,
        }
        for address, (sid, key) in recipients
    ]


def _delivery(row: Row[Any]) -> Delivery:
    return Delivery(
        id=row.id,
        edition_id=row.edition_id,
        address=row.address,
        status=cast(DeliveryStatus, row.status),
        created=row.created,
        updated=row.updated,
        subscriber_id=row.subscriber_id,
        variant_key=row.variant_key,
        attempts=row.attempts,
        last_error=row.last_error,
        message_id=row.message_id,
        claimed_by=row.claimed_by,
        claimed_at=row.claimed_at,
        sent_at=row.sent_at,
    )


class DeliveriesMixin(StoreBase):
    def enqueue_deliveries(
        self, edition_id: int, recipients: Iterable[Recipient], now: datetime
    ) -> int:
        """Add a pending delivery per recipient address not yet queued for the
        edition; return how many were added (0 on a second call)."""
        require_aware("now", now)
        added = 0
        for chunk in chunks(recipients, ENQUEUE_CHUNK):
            # Queue order is input order; a repeated address keeps its first entry.
            wanted: dict[str, tuple[int | None, str | None]] = {}
            for sid, address, key in chunk:
                wanted.setdefault(address, (sid, key))
            # Under the writer lock: the existence check and the insert must
            # not interleave with another enqueue of the same edition.
            with self._guard("cannot enqueue deliveries"), self._writing() as conn:
                queued = conn.execute(
                    select(_d.address).where(
                        _d.edition_id == edition_id, _d.address.in_(list(wanted))
                    )
                ).scalars()
                for address in queued:
                    del wanted[address]
                rows = delivery_rows(edition_id, wanted.items(), now)
                if rows:
                    conn.execute(t_deliveries.insert(), rows)
            added += len(rows)
        return added

    def claim_deliveries(
        self,
        edition_id: int,
        worker: str,
        limit: int,
        now: datetime,
        stale_after: timedelta,
        *,
        token: str | None = None,
    ) -> list[Delivery]:
        """Claim up to ``limit`` pending (or stale claimed) deliveries of the
        edition for ``worker``, oldest first, and return them claimed (under
        ``token``, a random string unique to this claim, when given). Two
        workers, in any processes or on any machines, never get the same row.

        PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so workers claim side by side
        without waiting for each other or the ingest's writer lock. SQLite has
        one writer at a time anyway: the claim runs under the writer lock."""
        require_aware("now", now)
        if limit <= 0:
            return []
        stale = and_(_d.status == "claimed", _d.claimed_at <= now - stale_after)
        claimable = and_(_d.edition_id == edition_id, or_(_d.status == "pending", stale))
        query = (
            select(_d.id)
            .where(claimable)
            .order_by(_d.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        # A stale claim was a send that never reported back: count it.
        lost = _d.status == "claimed"
        with self._guard("cannot claim deliveries"), self._claiming() as conn:
            ids = list(conn.execute(query).scalars())
            if not ids:
                return []
            conn.execute(
                t_deliveries.update()
                .where(_d.id.in_(ids))
                .values(
                    status="claimed",
                    claimed_by=worker,
                    claimed_at=now,
                    claim_token=token,
                    updated=now,
                    attempts=case((lost, _d.attempts + 1), else_=_d.attempts),
                    last_error=case(
                        (lost, literal("claim expired: ") + func.coalesce(_d.claimed_by, "")),
                        else_=_d.last_error,
                    ),
                )
            )
            rows = conn.execute(select(t_deliveries).where(_d.id.in_(ids)).order_by(_d.id))
            return [_delivery(r) for r in rows]

    def mark_sent(
        self,
        delivery_id: int,
        message_id: str,
        now: datetime,
        *,
        worker: str | None = None,
        token: str | None = None,
    ) -> bool:
        """Record a claimed delivery as sent. False when it is not claimed
        (by ``worker`` under ``token``, when given): already finished, never
        claimed, or taken over."""
        return self._finish(
            delivery_id, worker, token, now, status="sent", message_id=message_id, sent_at=now
        )

    def mark_failed(
        self,
        delivery_id: int,
        reason: str,
        now: datetime,
        *,
        worker: str | None = None,
        token: str | None = None,
    ) -> bool:
        """Give up on a claimed delivery (a permanent error such as a rejected
        address); False when it is not claimed."""
        return self._finish(delivery_id, worker, token, now, status="failed", last_error=reason)

    def mark_skipped(
        self,
        delivery_id: int,
        reason: str,
        now: datetime,
        *,
        worker: str | None = None,
        token: str | None = None,
    ) -> bool:
        """Decide not to send a claimed delivery (the subscriber left since
        it was queued); False when it is not claimed."""
        # Not an attempt: nothing was tried.
        return self._finish(
            delivery_id, worker, token, now, tried=False, status="skipped", last_error=reason
        )

    def release(
        self,
        delivery_id: int,
        reason: str,
        now: datetime,
        *,
        worker: str | None = None,
        token: str | None = None,
    ) -> bool:
        """Defer a claimed delivery (a temporary error): back to pending with
        one more attempt counted; False when it is not claimed."""
        return self._finish(
            delivery_id,
            worker,
            token,
            now,
            status="pending",
            last_error=reason,
            claimed_by=None,
            claimed_at=None,
            claim_token=None,
        )

    def renew_claim(self, token: str, now: datetime) -> int:
        """Extend the lease of every row still claimed under ``token`` to
        ``now`` (the rows another worker took over as stale keep their new
        claim); return how many rows are still held."""
        require_aware("now", now)
        query = (
            t_deliveries.update()
            .where(_d.claim_token == token, _d.status == "claimed")
            .values(claimed_at=now)
        )
        with self._guard("cannot renew a claim"), self._engine.begin() as conn:
            return int(conn.execute(query).rowcount)

    def claim_standing(self, delivery_id: int, token: str) -> tuple[bool, Subscriber | None]:
        """Whether the delivery is still claimed under ``token`` (not taken
        over, not finished), and its subscriber as stored now (None for the
        editors' copy or a removed subscriber): one read, just before a send."""
        query = (
            select(
                _d.status.label("delivery_status"),
                _d.claim_token.label("delivery_token"),
                *t_subscribers.c,
            )
            .select_from(t_deliveries.outerjoin(t_subscribers, _s.id == _d.subscriber_id))
            .where(_d.id == delivery_id)
        )
        with self._guard("cannot read a delivery"), self._engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return False, None
        held = row.delivery_status == "claimed" and row.delivery_token == token
        return held, (_subscriber(row) if row.id is not None else None)

    def finish_deliveries(
        self,
        outcomes: Sequence[Finished],
        now: datetime,
        *,
        worker: str,
        token: str | None = None,
    ) -> set[int]:
        """Record a batch of claimed deliveries in one transaction, each
        ``(id, status, message_id, reason)`` with status sent, failed or
        skipped (as ``mark_sent``, ``mark_failed``, ``mark_skipped``). Returns
        the ids recorded: those still claimed by ``worker`` (under ``token``,
        when given; the others were taken over as stale and are left to their
        new claimant)."""
        require_aware("now", now)
        if not outcomes:
            return set()
        for _, status, _, _ in outcomes:
            if status not in ("sent", "failed", "skipped"):
                raise ValueError(f"delivery status {status!r} does not finish a delivery")
        ids = [o[0] for o in outcomes]
        held = [_d.id.in_(ids), _d.status == "claimed", _d.claimed_by == worker]
        if token is not None:
            held.append(_d.claim_token == token)
        still = select(_d.id).where(*held).with_for_update()
        update = (
            t_deliveries.update()
            .where(_d.id == bindparam("b_id"))
            .values(
                status=bindparam("b_status"),
                message_id=func.coalesce(bindparam("b_message_id", type_=Text), _d.message_id),
                sent_at=bindparam("b_sent_at"),
                last_error=func.coalesce(bindparam("b_error", type_=Text), _d.last_error),
                attempts=_d.attempts + bindparam("b_tried", type_=Integer),
                updated=now,
            )
        )
        with self._guard("cannot update deliveries"), self._claiming() as conn:
            mine = set(conn.execute(still).scalars())
            rows = [
                {
                    "b_id": delivery_id,
                    "b_status": status,
                    "b_message_id": message_id if status == "sent" else None,
                    "b_sent_at": now if status == "sent" else None,
                    "b_error": reason,
                    "b_tried": 0 if status == "skipped" else 1,  # skipping tries nothing
                }
                for delivery_id, status, message_id, reason in outcomes
                if delivery_id in mine
            ]
            if rows:
                conn.execute(update, rows)
        return mine

    def delivery_counts(self, edition_id: int) -> dict[DeliveryStatus, int]:
        """Deliveries of the edition per status, every status present."""
        counts: dict[DeliveryStatus, int] = dict.fromkeys(DELIVERY_STATUSES, 0)
        query = (
            select(_d.status, func.count()).where(_d.edition_id == edition_id).group_by(_d.status)
        )
        with self._guard("cannot count deliveries"), self._engine.connect() as conn:
            for status, count in conn.execute(query):
                counts[cast(DeliveryStatus, status)] = int(count)
        return counts

    def delivery_failures(self, edition_id: int) -> list[Delivery]:
        """The failed deliveries of the edition, in queue order."""
        query = (
            select(t_deliveries)
            .where(_d.edition_id == edition_id, _d.status == "failed")
            .order_by(_d.id)
        )
        with self._guard("cannot read deliveries"), self._engine.connect() as conn:
            return [_delivery(r) for r in conn.execute(query)]

    def deliveries(self, edition_id: int) -> list[Delivery]:
        """Every delivery of the edition, in queue order."""
        query = select(t_deliveries).where(_d.edition_id == edition_id).order_by(_d.id)
        with self._guard("cannot read deliveries"), self._engine.connect() as conn:
            return [_delivery(r) for r in conn.execute(query)]

    def sent_by_worker(self, edition_id: int, since: datetime) -> list[SenderRate]:
        """Per worker, the edition's deliveries it sent at or after ``since``
        and when it sent the first and the last of them (``feedpub status``:
        each sender's rate), by worker name."""
        require_aware("since", since)
        query = (
            select(_d.claimed_by, func.count(), func.min(_d.sent_at), func.max(_d.sent_at))
            .where(_d.edition_id == edition_id, _d.sent_at >= since, _d.status == "sent")
            .group_by(_d.claimed_by)
            .order_by(_d.claimed_by)
        )
        with self._guard("cannot read deliveries"), self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [(str(worker or ""), int(n), first, last) for worker, n, first, last in rows]

    def unfinished_editions(self, digest: str, recent: int = 2) -> list[tuple[int, datetime]]:
        """Of the latest ``recent`` editions of ``digest``, those with a
        pending or claimed delivery, as (edition id, slot), oldest first:
        what a sender that only claims and sends works through."""
        _e = t_editions.c
        latest = (
            select(_e.id, _e.slot)
            .where(_e.digest == digest)
            .order_by(_e.slot.desc())
            .limit(recent)
            .subquery()
        )
        open_rows = (
            select(_d.id)
            .where(_d.edition_id == latest.c.id, _d.status.in_(("pending", "claimed")))
            .exists()
        )
        query = select(latest.c.id, latest.c.slot).where(open_rows).order_by(latest.c.slot)
        with self._guard("cannot read editions"), self._engine.connect() as conn:
            return [(int(i), slot) for i, slot in conn.execute(query)]

    def _finish(
        self,
        delivery_id: int,
        worker: str | None,
        token: str | None,
        now: datetime,
        *,
        tried: bool = True,
        **values: Any,
    ) -> bool:
        require_aware("now", now)
        if values["status"] not in DELIVERY_STATUSES:
            raise ValueError(f"delivery status {values['status']!r}")
        where: list[ColumnElement[bool]] = [_d.id == delivery_id, _d.status == "claimed"]
        if worker is not None:
            where.append(_d.claimed_by == worker)
        if token is not None:
            where.append(_d.claim_token == token)
        query = (
            t_deliveries.update()
            .where(*where)
            .values(attempts=_d.attempts + int(tried), updated=now, **values)
        )
        with self._guard("cannot update delivery"), self._engine.begin() as conn:
            return bool(conn.execute(query).rowcount)

    def _claiming(self) -> AbstractContextManager[Connection]:
        if self._engine.dialect.name == "sqlite":
            return self._writing()
        return self._engine.begin()
