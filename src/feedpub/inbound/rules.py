"""What the mail that comes back does to a subscriber: plain functions over
values, no store and no clock, so every rule is tested by a table.

- A hard bounce (a 5.x.x failure) marks the address bounced.
- A soft bounce (a failure the sending MTA gave up on with a 4.x.x status:
  a full mailbox, a host down for days) marks it bounced once it is the
  ``soft_bounce_limit``-th within ``soft_bounce_window``, each delivery
  counted once. A delay warning is only recorded: the mail may still arrive.
- A spam complaint unsubscribes the address from every list.
- An unsubscribe by mail with a genuine token stops the list it names; a
  bare mail to the unsubscribe address stops every list when its sender is
  a subscriber, and is kept for a person when not.
- An automatic reply does nothing. Anything else is kept for a person, and
  so is a report that names nobody (a redacted complaint, a notice whose
  recipient no one could read).
- An SMTP refusal with a 5xx reply while sending counts as a hard bounce
  (``refusal_event``).

The effects are values (``model.InboundEffect``), applied by the caller.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from feedpub.inbound.reports import one_line, status_code
from feedpub.model import InboundEffect, InboundEvent, InboundKind, SubscriberStatus

Effect = InboundEffect  # the decision value, by its short name


@dataclass(frozen=True)
class Rules:
    soft_bounce_limit: int = 3
    soft_bounce_window: timedelta = timedelta(days=15)

    def __post_init__(self) -> None:
        if self.soft_bounce_limit < 1:
            raise ValueError("soft_bounce_limit must be at least 1")
        if self.soft_bounce_window <= timedelta(0):
            raise ValueError("soft_bounce_window must be positive")


@dataclass(frozen=True)
class Facts:
    """What the rules see of one message: its kind, its events (addresses
    and deliveries already resolved by the caller) and what the store knows."""

    kind: InboundKind
    events: tuple[InboundEvent, ...] = ()
    # Per address: soft bounces already recorded within the window (distinct deliveries).
    soft_before: Mapping[str, int] = field(default_factory=dict)
    list_name: str | None = None  # an unsubscribe's list (None: every list)
    by_token: bool = False  # an unsubscribe carrying a genuine token
    sender_status: SubscriberStatus | None = None  # a bare unsubscribe's sender, if a subscriber


@dataclass(frozen=True)
class Verdict:
    effects: tuple[InboundEffect, ...] = ()
    keep: bool = False  # leave the message in the mailbox for a person


def decide(facts: Facts, rules: Rules) -> Verdict:
    """The effects of one message, and whether a person should see it."""
    if facts.kind == "other":
        return Verdict(keep=True)
    if facts.kind == "auto_reply":
        return Verdict()
    named = [e for e in facts.events if e.address]
    if not named:
        return Verdict(keep=True)  # a report that names nobody
    if facts.kind == "unsubscribe":
        return _unsubscribe(facts, named[0])
    effects: list[InboundEffect] = []
    for event in named:
        effect = _effect(event, facts.soft_before.get(event.address, 0), rules)
        if effect is not None:
            effects.append(effect)
    return Verdict(tuple(effects))


def _effect(event: InboundEvent, soft_before: int, rules: Rules) -> InboundEffect | None:
    said = f"{event.status} {event.detail}".strip()
    if event.kind == "hard":
        return Effect(
            event.address, "bounce", one_line(f"hard bounce: {said}", 300), event.delivery_id
        )
    if event.kind == "soft":
        count = soft_before + 1
        if count < rules.soft_bounce_limit:
            return None
        days = rules.soft_bounce_window.days or rules.soft_bounce_window
        reason = f"{count} soft bounces within {days} days; the last: {said}"
        return Effect(event.address, "bounce", one_line(reason, 300), event.delivery_id)
    if event.kind == "complaint":
        reason = one_line(f"spam complaint: {event.detail}".rstrip(": "), 300)
        return Effect(event.address, "unsubscribe", reason, event.delivery_id)
    return None  # delayed: only recorded


def _unsubscribe(facts: Facts, event: InboundEvent) -> Verdict:
    which = f"the list {facts.list_name}" if facts.list_name else "every list"
    if facts.by_token:
        reason = f"unsubscribe by mail (signed link for {which})"
        return Verdict((Effect(event.address, "unsubscribe", reason, None, facts.list_name),))
    if facts.sender_status is None:
        return Verdict(keep=True)  # not a subscriber: someone writing to us
    if facts.sender_status in ("unsubscribed", "bounced"):
        return Verdict()  # nothing left to stop
    reason = "unsubscribe by mail from the subscriber's own address"
    return Verdict((Effect(event.address, "unsubscribe", reason, None, None),))


_SMTP_REPLY = re.compile(r"(?:^|[:;]\s)([2345]\d\d)(?=[\s-]|$)")


def refusal_event(address: str, delivery_id: int | None, detail: str) -> InboundEvent | None:
    """The event of an SMTP refusal while sending (``SendResult`` failed,
    ``detail`` as the SMTP backend writes it: ``550 5.1.1 ...`` or
    ``addr: 550 5.1.1 ...``): a hard bounce when the reply was 5xx, None
    for anything else (no reply code: not the recipient's doing)."""
    found = _SMTP_REPLY.search(detail)
    if found is None or not found.group(1).startswith("5"):
        return None
    status = status_code(detail[found.end() :]) or "5.0.0"
    if not status.startswith("5"):
        status = "5.0.0"
    return InboundEvent(
        address.strip().lower(), "hard", delivery_id, status, one_line(f"SMTP {detail}", 300)
    )


def pause_reason(
    sent: int, hard: int, complaints: int, *, hard_rate: float, complaint_rate: float
) -> str | None:
    """Why an edition's digest should pause (its hard-bounce or complaint
    rate over the limit, out of ``sent`` deliveries), None when it need not."""
    if sent <= 0:
        return None
    if hard / sent > hard_rate:
        return (
            f"{hard} of {sent} deliveries bounced hard ({hard / sent:.1%}, "
            f"over the {hard_rate:.1%} limit)"
        )
    if complaints / sent > complaint_rate:
        return (
            f"{complaints} of {sent} deliveries drew spam complaints ({complaints / sent:.2%}, "
            f"over the {complaint_rate:.2%} limit)"
        )
    return None
