"""The rules, table-driven, without a database: each row is the facts of
one message and the effects (or keeping) they must give."""

from __future__ import annotations

from datetime import timedelta

import pytest

from feedpub.inbound.rules import Effect, Facts, Rules, Verdict, decide, pause_reason, refusal_event
from feedpub.model import InboundEvent

A = "reader@example.org"
RULES = Rules(soft_bounce_limit=3, soft_bounce_window=timedelta(days=15))


def hard(address: str = A, delivery: int | None = 7) -> InboundEvent:
    return InboundEvent(address, "hard", delivery, "5.1.1", "550 5.1.1 user unknown")


def soft(address: str = A, delivery: int | None = 8) -> InboundEvent:
    return InboundEvent(address, "soft", delivery, "4.2.2", "452 4.2.2 mailbox full")


CASES = [
    # (name, facts, expected actions as (address, action, list), keep)
    (
        "a hard bounce marks the address bounced",
        Facts("bounce", (hard(),)),
        [(A, "bounce", None)],
        False,
    ),
    ("a first soft bounce only counts", Facts("bounce", (soft(),)), [], False),
    ("a second soft bounce only counts", Facts("bounce", (soft(),), {A: 1}), [], False),
    (
        "the third soft bounce within the window marks it",
        Facts("bounce", (soft(),), {A: 2}),
        [(A, "bounce", None)],
        False,
    ),
    (
        "a later one past the limit marks it too",
        Facts("bounce", (soft(),), {A: 5}),
        [(A, "bounce", None)],
        False,
    ),
    (
        "another address's soft bounces do not count",
        Facts("bounce", (soft(),), {"x@y.z": 9}),
        [],
        False,
    ),
    (
        "a delay warning only counts nothing",
        Facts("bounce", (InboundEvent(A, "delayed", 9, "4.4.1", "timeout"),), {A: 9}),
        [],
        False,
    ),
    (
        "a complaint unsubscribes from every list",
        Facts("complaint", (InboundEvent(A, "complaint", 3, "", "abuse (Yahoo)"),)),
        [(A, "unsubscribe", None)],
        False,
    ),
    (
        "a complaint naming nobody is kept for a person",
        Facts("complaint", (InboundEvent("", "complaint", None, "", "abuse"),)),
        [],
        True,
    ),
    (
        "a token unsubscribes from the list it names",
        Facts("unsubscribe", (InboundEvent(A, "unsubscribe"),), list_name="daily", by_token=True),
        [(A, "unsubscribe", "daily")],
        False,
    ),
    (
        "a token works whatever the status",
        Facts(
            "unsubscribe",
            (InboundEvent(A, "unsubscribe"),),
            list_name="weekly",
            by_token=True,
            sender_status="unsubscribed",
        ),
        [(A, "unsubscribe", "weekly")],
        False,
    ),
    (
        "a bare mail from an active subscriber stops every list",
        Facts("unsubscribe", (InboundEvent(A, "unsubscribe"),), sender_status="active"),
        [(A, "unsubscribe", None)],
        False,
    ),
    (
        "a bare mail from a pending subscriber stops it too",
        Facts("unsubscribe", (InboundEvent(A, "unsubscribe"),), sender_status="pending"),
        [(A, "unsubscribe", None)],
        False,
    ),
    (
        "a bare mail from someone not subscribed is kept for a person",
        Facts("unsubscribe", (InboundEvent(A, "unsubscribe"),), sender_status=None),
        [],
        True,
    ),
    (
        "a bare mail from an address already stopped does nothing",
        Facts("unsubscribe", (InboundEvent(A, "unsubscribe"),), sender_status="bounced"),
        [],
        False,
    ),
    ("an automatic reply does nothing", Facts("auto_reply"), [], False),
    (
        "an automatic reply with events still does nothing",
        Facts("auto_reply", (hard(),)),
        [],
        False,
    ),
    ("anything else is kept for a person", Facts("other"), [], True),
    ("a bounce naming nobody is kept", Facts("bounce", (InboundEvent("", "hard"),)), [], True),
    (
        "two addresses of one report each get theirs",
        Facts("bounce", (hard("a@x.org"), soft("b@x.org")), {"b@x.org": 2}),
        [("a@x.org", "bounce", None), ("b@x.org", "bounce", None)],
        False,
    ),
]


@pytest.mark.parametrize(
    ("facts", "actions", "keep"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rules(facts: Facts, actions: list[tuple[str, str, str | None]], keep: bool) -> None:
    verdict = decide(facts, RULES)
    assert [(e.address, e.action, e.list_name) for e in verdict.effects] == actions
    assert verdict.keep is keep
    for effect in verdict.effects:
        assert effect.reason and "\n" not in effect.reason


def test_the_effect_carries_the_delivery_and_says_why() -> None:
    verdict = decide(Facts("bounce", (hard(delivery=42),)), RULES)
    assert verdict == Verdict(
        (Effect(A, "bounce", "hard bounce: 5.1.1 550 5.1.1 user unknown", 42),)
    )
    third = decide(Facts("bounce", (soft(delivery=43),), {A: 2}), RULES).effects[0]
    assert third.delivery_id == 43 and third.reason.startswith("3 soft bounces within 15 days")


@pytest.mark.parametrize(
    ("limit", "before", "marks"), [(1, 0, True), (2, 0, False), (2, 1, True), (5, 3, False)]
)
def test_the_soft_bounce_limit_is_configurable(limit: int, before: int, marks: bool) -> None:
    rules = Rules(soft_bounce_limit=limit, soft_bounce_window=timedelta(days=3))
    assert bool(decide(Facts("bounce", (soft(),), {A: before}), rules).effects) is marks


def test_rules_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="soft_bounce_limit"):
        Rules(soft_bounce_limit=0)
    with pytest.raises(ValueError, match="soft_bounce_window"):
        Rules(soft_bounce_window=timedelta(0))


REFUSALS = [
    ("550 5.1.1 <a@b.c>: Recipient address rejected: User unknown", "hard", "5.1.1"),
    ("a@b.c: 550 5.1.1 user unknown", "hard", "5.1.1"),
    ("a@b.c: 554 delivery error: dd This user doesn't have an account", "hard", "5.0.0"),
    ("552 message too big", "hard", "5.0.0"),
    ("550 4.2.2 a confused server", "hard", "5.0.0"),
    ("451 4.7.1 greylisted", None, None),
    ("the message has no From or no To address", None, None),
    ("SMTPUTF8 needed", None, None),
]


@pytest.mark.parametrize(("detail", "kind", "status"), REFUSALS, ids=[r[0][:30] for r in REFUSALS])
def test_an_smtp_5xx_refusal_is_a_hard_bounce(
    detail: str, kind: str | None, status: str | None
) -> None:
    event = refusal_event("A@B.C", 12, detail)
    if kind is None:
        assert event is None
    else:
        assert event is not None
        assert (event.address, event.kind, event.status, event.delivery_id) == (
            "a@b.c",
            kind,
            status,
            12,
        )
        assert decide(Facts("bounce", (event,)), RULES).effects[0].action == "bounce"


@pytest.mark.parametrize(
    ("sent", "hard", "complaints", "paused"),
    [
        (100, 5, 0, False),
        (100, 6, 0, True),
        (1000, 0, 3, False),
        (1000, 0, 4, True),
        (0, 3, 3, False),
    ],
)
def test_an_edition_pauses_past_the_bounce_or_complaint_rate(
    sent: int, hard: int, complaints: int, paused: bool
) -> None:
    reason = pause_reason(sent, hard, complaints, hard_rate=0.05, complaint_rate=0.003)
    assert (reason is not None) is paused
    if reason:
        assert f"of {sent} deliveries" in reason
