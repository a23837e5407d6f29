"""The inbound job: read a mailbox, classify each message, decide, record,
apply, move. One function, ``process``, called by the composition root.

For each batch of messages, in this order:

1. each message's key is the SHA-256 of its bytes (line ends made LF, so a
   Maildir file and the same message over IMAP agree); a key the store
   already holds is not decided again;
2. new ones are classified (``classify``), their deliveries looked up (the
   VERP id, else the returned original's Message-ID), and the rules decide
   (``rules``), soft bounces counted from the store's history;
3. the batch's records, events and effects are stored in one transaction
   (state ``recorded``, or ``kept`` for a person, or ``done`` when there was
   nothing to apply);
4. the effects of every ``recorded`` message are applied through the
   subscriber writer (idempotent: setting a status it already has) and the
   records marked ``done``;
5. only then are messages moved (``processed``) or left (``keep``).

A crash anywhere leaves each message either unrecorded (decided afresh
next time), recorded (its stored effects applied next time, never decided
twice) or done and not yet moved (moved next time). Nothing is deleted.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Protocol

from feedpub.inbound.classify import Classified, Keys, Recipient, classify
from feedpub.inbound.mailbox import Incoming, Mailbox
from feedpub.inbound.reports import one_line
from feedpub.inbound.rules import Facts, Rules, decide, refusal_event
from feedpub.model import (
    Delivery,
    FeedbackKind,
    InboundEffect,
    InboundEvent,
    InboundRecord,
    InboundState,
    SubscriberStatus,
)

log = logging.getLogger(__name__)

BATCH = 200  # messages per store transaction


class InboundStore(Protocol):
    """What the job needs of the store (``store.SqlStore`` implements it;
    see ``store.InboundStore`` for the contract)."""

    def inbound_records(self, keys: Sequence[str]) -> dict[str, InboundRecord]: ...
    def record_inbound(
        self, entries: Sequence[tuple[InboundRecord, Sequence[InboundEvent]]], now: datetime
    ) -> list[str]: ...
    def finish_inbound(self, keys: Sequence[str], now: datetime) -> int: ...
    def relocate_inbound(self, key: str, location: str, now: datetime) -> None: ...
    def kept_inbound(self, mailbox: str | None = None) -> list[InboundRecord]: ...
    def soft_bounce_counts(self, addresses: Sequence[str], since: datetime) -> dict[str, int]: ...
    def deliveries_by_ids(self, ids: Sequence[int]) -> dict[int, Delivery]: ...
    def deliveries_by_message_ids(self, message_ids: Sequence[str]) -> dict[str, Delivery]: ...


class SubscriberStatusWriter(Protocol):
    """What the job needs of the subscribers: each method idempotent, each
    address matched ignoring case. ``reason`` is one line to keep with the
    change (the suppression list's why)."""

    def subscriber_status(self, address: str) -> SubscriberStatus | None:
        """The subscriber's status, None when the address is none of ours."""
        ...

    def mark_bounced(self, address: str, reason: str, now: datetime) -> bool:
        """Stop mailing the address for good (bounced); False when it is not
        a subscriber or already bounced or unsubscribed."""
        ...

    def unsubscribe(self, address: str, list_name: str | None, reason: str, now: datetime) -> bool:
        """Stop ``list_name`` (None: every list); False when nothing changed."""
        ...


@dataclass(frozen=True)
class InboundReport:
    """What one run did. ``read`` counts every message looked at; the kinds
    count those decided in this run; ``again`` those already recorded by an
    earlier one (finished now: applied, moved)."""

    mailbox: str
    read: int = 0
    bounces: int = 0
    complaints: int = 0
    unsubscribes: int = 0
    auto_replies: int = 0
    kept: int = 0
    again: int = 0
    bounced: int = 0  # addresses marked bounced
    unsubscribed: int = 0  # addresses (or lists) stopped
    kept_lines: tuple[str, ...] = ()  # one line per message newly kept for a person
    effects: tuple[InboundEffect, ...] = field(default=(), repr=False)

    def summary(self) -> str:
        if not self.read:
            return f"inbound: {self.mailbox}: no new mail"
        parts = [
            f"{n} {word}"
            for n, word in (
                (self.bounces, "bounce" if self.bounces == 1 else "bounces"),
                (self.complaints, "complaint" if self.complaints == 1 else "complaints"),
                (self.unsubscribes, "unsubscribe" if self.unsubscribes == 1 else "unsubscribes"),
                (
                    self.auto_replies,
                    "automatic reply" if self.auto_replies == 1 else "automatic replies",
                ),
                (self.kept, "kept for a person"),
                (self.again, "finished from an earlier run"),
            )
            if n
        ]
        did = f"; {self.bounced} marked bounced, {self.unsubscribed} unsubscribed"
        return (
            f"inbound: {self.mailbox}: {self.read} read: {', '.join(parts) or 'nothing new'}{did}"
        )

    def failure(self) -> str | None:
        return None

    def counts(self) -> dict[str, int]:
        """The numbers, for the run log (``feedpub status``)."""
        return {
            "read": self.read,
            "bounces": self.bounces,
            "complaints": self.complaints,
            "unsubscribes": self.unsubscribes,
            "auto_replies": self.auto_replies,
            "kept": self.kept,
            "bounced": self.bounced,
            "unsubscribed": self.unsubscribed,
        }


def message_key(data: bytes) -> str:
    """The identity of a message's bytes, whatever its line ends."""
    return hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest()


def process(
    mailbox: Mailbox,
    store: InboundStore,
    subscribers: SubscriberStatusWriter,
    keys: Keys,
    rules: Rules,
    now: datetime,
    *,
    batch: int = BATCH,
) -> InboundReport:
    """Read every new message of ``mailbox`` and act on it (see the module
    docstring). Raises ``InboundError`` when the mailbox fails and
    ``StoreError`` when the store does; what was finished stays finished."""
    tally = _Tally(mailbox.name)
    skip = {r.location for r in store.kept_inbound(mailbox.name) if r.location}
    for chunk in _batched(mailbox.messages(skip), batch):
        _Batch(mailbox, store, subscribers, keys, rules, now, tally).run(chunk)
    return tally.report()


def record_refusal(
    store: InboundStore,
    subscribers: SubscriberStatusWriter,
    rules: Rules,
    *,
    delivery_id: int | None,
    address: str,
    detail: str,
    now: datetime,
) -> tuple[InboundEffect, ...]:
    """An SMTP refusal while sending (the backend's ``failed`` detail): a
    5xx reply counts as a hard bounce, recorded and applied like a DSN's,
    once per delivery. Returns the effects (none for anything but a 5xx)."""
    event = refusal_event(address, delivery_id, detail)
    if event is None:
        return ()
    key = (
        f"smtp-refusal:{delivery_id}"
        if delivery_id is not None
        else f"smtp-refusal:{message_key(f'{address}|{detail}'.encode())}"
    )
    record = store.inbound_records([key]).get(key)
    if record is None:
        verdict = decide(Facts("bounce", (event,)), rules)
        record = InboundRecord(
            key=key,
            kind="bounce",
            state="recorded" if verdict.effects else "done",
            received=now,
            subject=one_line(detail, 300),
            detector="smtp",
            mailbox="smtp",
            effects=verdict.effects,
        )
        store.record_inbound([(record, [event])], now)
        record = store.inbound_records([key])[key]
    if record.state == "recorded":
        for effect in record.effects:
            apply_effect(subscribers, effect, now)
        store.finish_inbound([key], now)
    return record.effects


def apply_effect(subscribers: SubscriberStatusWriter, effect: InboundEffect, now: datetime) -> bool:
    """Carry out one decision; True when it changed something."""
    if effect.action == "bounce":
        return subscribers.mark_bounced(effect.address, effect.reason, now)
    return subscribers.unsubscribe(effect.address, effect.list_name, effect.reason, now)


def list_kept(mailbox: Mailbox, store: InboundStore) -> list[InboundRecord]:
    """The messages kept for a person that are still in ``mailbox``, oldest first."""
    kept = store.kept_inbound(mailbox.name)
    here = mailbox.present([r.location for r in kept])
    return [r for r in kept if r.location in here]


def kept_line(record: InboundRecord) -> str:
    """One line for ``feedpub inbound --list``: when, from whom, what, where."""
    when = record.received.strftime("%Y-%m-%d %H:%M")
    sender = record.sender or "(no sender)"
    subject = record.subject or "(no subject)"
    return f"{when}Z  {sender}  {subject}  [{record.location}]"


# --- the batch ------------------------------------------------------------------------


class _Tally:
    def __init__(self, mailbox: str) -> None:
        self.mailbox = mailbox
        self.counts = dict.fromkeys(
            ("read", "bounce", "complaint", "unsubscribe", "auto_reply", "kept", "again"), 0
        )
        self.bounced = 0
        self.unsubscribed = 0
        self.kept_lines: list[str] = []
        self.effects: list[InboundEffect] = []
        self.applied: set[tuple[str, str, str | None]] = set()

    def report(self) -> InboundReport:
        c = self.counts
        return InboundReport(
            mailbox=self.mailbox,
            read=c["read"],
            bounces=c["bounce"],
            complaints=c["complaint"],
            unsubscribes=c["unsubscribe"],
            auto_replies=c["auto_reply"],
            kept=c["kept"],
            again=c["again"],
            bounced=self.bounced,
            unsubscribed=self.unsubscribed,
            kept_lines=tuple(self.kept_lines),
            effects=tuple(self.effects),
        )


@dataclass
class _Item:
    incoming: Incoming
    key: str
    record: InboundRecord | None = None  # stored (found, or made in this batch)
    classified: Classified | None = None
    events: tuple[InboundEvent, ...] = ()


class _Batch:
    def __init__(
        self,
        mailbox: Mailbox,
        store: InboundStore,
        subscribers: SubscriberStatusWriter,
        keys: Keys,
        rules: Rules,
        now: datetime,
        tally: _Tally,
    ) -> None:
        self.mailbox = mailbox
        self.store = store
        self.subscribers = subscribers
        self.keys = keys
        self.rules = rules
        self.now = now
        self.tally = tally

    def run(self, incoming: Sequence[Incoming]) -> None:
        items = [_Item(i, message_key(i.data)) for i in incoming]
        self.tally.counts["read"] += len(items)
        known = self.store.inbound_records(list(dict.fromkeys(i.key for i in items)))
        fresh: dict[str, _Item] = {}
        for item in items:
            item.record = known.get(item.key)
            if item.record is None and item.key not in fresh:
                fresh[item.key] = item
        if fresh:
            self._decide(list(fresh.values()))
            stored = set(
                self.store.record_inbound(
                    [(i.record, i.events) for i in fresh.values() if i.record is not None],
                    self.now,
                )
            )
            lost = [k for k in fresh if k not in stored]  # another process recorded them first
            known.update(self.store.inbound_records(lost) if lost else {})
            for key in lost:
                fresh[key].record = known.get(key)
            known.update({k: i.record for k, i in fresh.items() if k in stored and i.record})
        for item in items:
            item.record = known.get(item.key)
            if item.key not in fresh or item is not fresh[item.key]:
                self.tally.counts["again"] += 1
        self._apply(list(known.values()))
        self._dispose(items, fresh)

    # 2. classify, resolve, decide
    def _decide(self, items: Sequence[_Item]) -> None:
        for item in items:
            try:
                item.classified = classify(item.incoming.data, self.keys)
            except Exception as exc:  # one unreadable message must not stop the rest
                log.warning("inbound: %s: cannot classify: %s", item.incoming.location, exc)
                item.classified = Classified("other", "", note=f"unreadable: {one_line(exc, 200)}")
        found = [i.classified for i in items if i.classified is not None]
        by_id = self.store.deliveries_by_ids(
            sorted({c.verp_delivery for c in found if c.verp_delivery is not None})
        )
        wanted = [
            mid
            for c in found
            if c.verp_delivery not in by_id and c.kind in ("bounce", "complaint")
            for mid in c.original_ids
        ]
        by_mid = self.store.deliveries_by_message_ids(list(dict.fromkeys(wanted)))
        for item in items:
            assert item.classified is not None
            item.events = _events(item.classified, by_id, by_mid)
        soft_before = self._soft_history([e for i in items for e in i.events if e.kind == "soft"])
        for item in items:
            assert item.classified is not None
            self._decide_one(item, soft_before)

    def _soft_history(self, events: Sequence[InboundEvent]) -> dict[str, int]:
        if not events:
            return {}
        since = self.now - self.rules.soft_bounce_window
        return self.store.soft_bounce_counts(sorted({e.address for e in events}), since)

    def _decide_one(self, item: _Item, soft_before: dict[str, int]) -> None:
        c = item.classified
        assert c is not None
        sender_status = None
        if c.kind == "unsubscribe" and not c.by_token and c.unsubscriber:
            sender_status = self.subscribers.subscriber_status(c.unsubscriber)
        verdict = decide(
            Facts(
                c.kind,
                item.events,
                dict(soft_before),
                list_name=c.list_name,
                by_token=c.by_token,
                sender_status=sender_status,
            ),
            self.rules,
        )
        for event in item.events:  # a later message of this batch counts this one
            if event.kind == "soft":
                soft_before[event.address] = soft_before.get(event.address, 0) + 1
        state: InboundState = "kept" if verdict.keep else "recorded" if verdict.effects else "done"
        item.record = InboundRecord(
            key=item.key,
            kind=c.kind,
            state=state,
            received=self.now,
            message_id=c.message_id,
            sender=c.sender,
            subject=c.subject,
            detector=c.detector,
            mailbox=self.mailbox.name,
            location=item.incoming.location,
            effects=verdict.effects,
        )
        item.events = tuple(e for e in item.events if e.address)
        self.tally.counts[c.kind if c.kind != "other" else "kept"] += 1
        if verdict.keep and c.kind != "other":
            self.tally.counts["kept"] += 1
        if verdict.keep:
            self.tally.kept_lines.append(kept_line(item.record))

    # 4. apply what is recorded
    def _apply(self, records: Iterable[InboundRecord]) -> None:
        pending = [r for r in records if r.state == "recorded"]
        for record in pending:
            for effect in record.effects:
                # The same change twice in one run (two reports of one dead
                # address) is applied once: the writer is idempotent anyway.
                same = (effect.address, effect.action, effect.list_name)
                if same in self.tally.applied:
                    continue
                self.tally.applied.add(same)
                changed = apply_effect(self.subscribers, effect, self.now)
                self.tally.effects.append(effect)
                if changed:
                    if effect.action == "bounce":
                        self.tally.bounced += 1
                    else:
                        self.tally.unsubscribed += 1
                    log.info("inbound: %s: %s (%s)", effect.address, effect.action, effect.reason)
        if pending:
            self.store.finish_inbound([r.key for r in pending], self.now)

    # 5. move or leave
    def _dispose(self, items: Sequence[_Item], fresh: dict[str, _Item]) -> None:
        for item in items:
            record = item.record
            location = item.incoming.location
            if record is None or record.state == "kept":
                if record is not None and record.location != location:
                    self.store.relocate_inbound(record.key, location, self.now)
                self.mailbox.keep(location)
            else:
                self.mailbox.processed(location)


def _events(
    c: Classified, by_id: dict[int, Delivery], by_mid: dict[str, Delivery]
) -> tuple[InboundEvent, ...]:
    """The classified message's events, each address and delivery resolved:
    the delivery's own address wins over what a report says (a forwarded
    mailbox reports its final address; a complaint may redact it)."""
    if c.kind == "unsubscribe":
        return (InboundEvent(c.unsubscriber, "unsubscribe"),)
    if c.kind not in ("bounce", "complaint"):
        return ()
    delivery = by_id.get(c.verp_delivery) if c.verp_delivery is not None else None
    if delivery is None:
        delivery = next((by_mid[m] for m in c.original_ids if m in by_mid), None)
    if delivery is None:
        return tuple(_event(r, r.address, None) for r in c.recipients)
    worst = max(c.recipients, key=lambda r: _SEVERITY.get(r.kind, 0))
    return (_event(worst, delivery.address.lower(), delivery.id),)


_SEVERITY: dict[FeedbackKind, int] = {"delayed": 0, "soft": 1, "hard": 2, "complaint": 3}


def _event(recipient: Recipient, address: str, delivery_id: int | None) -> InboundEvent:
    detail = recipient.diagnostic
    if recipient.address and address and recipient.address != address:
        detail = one_line(f"{detail} (reported for {recipient.address})".strip(), 500)
    return InboundEvent(address, recipient.kind, delivery_id, recipient.status, detail)


def _batched(items: Iterable[Incoming], size: int) -> Iterator[list[Incoming]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
