"""The mail that comes back: each inbound message read (by the hash of its
bytes) with what it decided, and per address what it said (the events soft
bounces are counted in, and an edition's bounce and complaint counts)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, and_, distinct, func, select

from feedpub.model import (
    INBOUND_KINDS,
    Delivery,
    FeedbackCounts,
    InboundEffect,
    InboundEvent,
    InboundKind,
    InboundRecord,
    InboundState,
    require_aware,
)
from feedpub.store.deliveries import _delivery as delivery_from_row
from feedpub.store.engine import IN_CHUNK, StoreBase, chunks
from feedpub.store.schema import t_deliveries, t_inbound_events, t_inbound_messages

_STATES: tuple[InboundState, ...] = ("recorded", "done", "kept")


def _effects_json(effects: Sequence[InboundEffect]) -> str:
    return json.dumps(
        [[e.address, e.action, e.reason, e.delivery_id, e.list_name] for e in effects],
        ensure_ascii=False,
    )


def _effects(text: str) -> tuple[InboundEffect, ...]:
    return tuple(
        InboundEffect(address, action, reason, delivery_id, list_name)
        for address, action, reason, delivery_id, list_name in json.loads(text)
    )


def _record(row: Row[Any]) -> InboundRecord:
    kind = row.kind if row.kind in INBOUND_KINDS else "other"
    state = row.state if row.state in _STATES else "kept"
    return InboundRecord(
        key=row.key,
        kind=cast(InboundKind, kind),
        state=cast(InboundState, state),
        received=row.received,
        message_id=row.message_id,
        sender=row.sender,
        subject=row.subject,
        detector=row.detector,
        mailbox=row.mailbox,
        location=row.location,
        effects=_effects(row.effects),
    )


class InboundMixin(StoreBase):
    def inbound_records(self, keys: Sequence[str]) -> dict[str, InboundRecord]:
        """The stored messages among ``keys``, by key."""
        found: dict[str, InboundRecord] = {}
        with self._guard("cannot read inbound messages"), self._engine.connect() as conn:
            for chunk in chunks(keys, IN_CHUNK):
                query = select(t_inbound_messages).where(t_inbound_messages.c.key.in_(chunk))
                found.update((r.key, _record(r)) for r in conn.execute(query))
        return found

    def record_inbound(
        self,
        entries: Sequence[tuple[InboundRecord, Sequence[InboundEvent]]],
        now: datetime,
    ) -> list[str]:
        """Store messages with their events and effects, in one transaction;
        a key already stored (another process got there first) is left as it
        is. Returns the keys stored now."""
        require_aware("now", now)
        stored: list[str] = []
        with self._guard("cannot record inbound messages"), self._writing() as conn:
            keys = [record.key for record, _ in entries]
            known: set[str] = set()
            for chunk in chunks(keys, IN_CHUNK):
                query = select(t_inbound_messages.c.key).where(t_inbound_messages.c.key.in_(chunk))
                known.update(conn.execute(query).scalars())
            messages: list[dict[str, Any]] = []
            events: list[dict[str, Any]] = []
            for record, record_events in entries:
                if record.key in known:
                    continue
                known.add(record.key)
                stored.append(record.key)
                messages.append(
                    {
                        "key": record.key,
                        "kind": record.kind,
                        "state": record.state,
                        "received": record.received,
                        "updated": now,
                        "message_id": record.message_id,
                        "sender": record.sender,
                        "subject": record.subject,
                        "detector": record.detector,
                        "mailbox": record.mailbox,
                        "location": record.location,
                        "effects": _effects_json(record.effects),
                    }
                )
                events += [
                    {
                        "message_key": record.key,
                        "address": e.address.lower(),
                        "kind": e.kind,
                        "delivery_id": e.delivery_id,
                        "status": e.status,
                        "detail": e.detail,
                        "at": record.received,
                    }
                    for e in record_events
                ]
            if messages:
                conn.execute(t_inbound_messages.insert(), messages)
            if events:
                conn.execute(t_inbound_events.insert(), events)
        return stored

    def finish_inbound(self, keys: Sequence[str], now: datetime) -> int:
        """Mark recorded messages done (their effects applied); how many were."""
        require_aware("now", now)
        done = 0
        with self._guard("cannot finish inbound messages"), self._engine.begin() as conn:
            for chunk in chunks(keys, IN_CHUNK):
                query = (
                    t_inbound_messages.update()
                    .where(
                        t_inbound_messages.c.key.in_(chunk),
                        t_inbound_messages.c.state == "recorded",
                    )
                    .values(state="done", updated=now)
                )
                done += conn.execute(query).rowcount
        return done

    def relocate_inbound(self, key: str, location: str, now: datetime) -> None:
        """A stored message found at another place in its mailbox (a new
        IMAP UIDVALIDITY, a file renamed by a mail client)."""
        require_aware("now", now)
        query = (
            t_inbound_messages.update()
            .where(t_inbound_messages.c.key == key)
            .values(location=location, updated=now)
        )
        with self._guard("cannot update inbound message"), self._engine.begin() as conn:
            conn.execute(query)

    def kept_inbound(self, mailbox: str | None = None) -> list[InboundRecord]:
        """The messages kept for a person, oldest first (of one mailbox if given)."""
        query = (
            select(t_inbound_messages)
            .where(t_inbound_messages.c.state == "kept")
            .order_by(t_inbound_messages.c.received, t_inbound_messages.c.key)
        )
        if mailbox is not None:
            query = query.where(t_inbound_messages.c.mailbox == mailbox)
        with self._guard("cannot read inbound messages"), self._engine.connect() as conn:
            return [_record(r) for r in conn.execute(query)]

    def soft_bounce_counts(self, addresses: Sequence[str], since: datetime) -> dict[str, int]:
        """Per address (lower-cased), the soft bounces recorded at or after
        ``since``: each delivery once (a report without one counts alone)."""
        require_aware("since", since)
        seen: dict[str, set[str]] = {}
        e = t_inbound_events.c
        with self._guard("cannot read inbound events"), self._engine.connect() as conn:
            for chunk in chunks([a.lower() for a in addresses], IN_CHUNK):
                query = select(e.address, e.delivery_id, e.message_key).where(
                    e.address.in_(chunk), e.kind == "soft", e.at >= since
                )
                for address, delivery_id, key in conn.execute(query):
                    one = f"d{delivery_id}" if delivery_id is not None else f"m{key}"
                    seen.setdefault(address, set()).add(one)
        return {address: len(ones) for address, ones in seen.items()}

    def deliveries_by_ids(self, ids: Sequence[int]) -> dict[int, Delivery]:
        """The deliveries among ``ids``, by id (a VERP address names one)."""
        found: dict[int, Delivery] = {}
        with self._guard("cannot read deliveries"), self._engine.connect() as conn:
            for chunk in chunks(ids, IN_CHUNK):
                query = select(t_deliveries).where(t_deliveries.c.id.in_(chunk))
                found.update((r.id, delivery_from_row(r)) for r in conn.execute(query))
        return found

    def deliveries_by_message_ids(self, message_ids: Sequence[str]) -> dict[str, Delivery]:
        """The deliveries sent with these Message-IDs (``<...>``), by Message-ID."""
        found: dict[str, Delivery] = {}
        with self._guard("cannot read deliveries"), self._engine.connect() as conn:
            for chunk in chunks(message_ids, IN_CHUNK):
                query = select(t_deliveries).where(t_deliveries.c.message_id.in_(chunk))
                found.update((r.message_id, delivery_from_row(r)) for r in conn.execute(query))
        return found

    def feedback_counts(self, edition_id: int) -> FeedbackCounts:
        """How many of an edition's deliveries came back, by kind."""
        e, d = t_inbound_events.c, t_deliveries.c
        query = (
            select(e.kind, func.count(distinct(e.delivery_id)))
            .select_from(
                t_inbound_events.join(
                    t_deliveries, and_(d.id == e.delivery_id, d.edition_id == edition_id)
                )
            )
            .group_by(e.kind)
        )
        with self._guard("cannot count feedback"), self._engine.connect() as conn:
            counts = {kind: int(n) for kind, n in conn.execute(query)}
        return FeedbackCounts(
            hard=counts.get("hard", 0),
            soft=counts.get("soft", 0),
            complaints=counts.get("complaint", 0),
            unsubscribes=counts.get("unsubscribe", 0),
        )
