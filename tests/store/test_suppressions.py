"""The suppression list in the store, each test on SQLite and on PostgreSQL:
fed by the statuses that end a subscription and by removal, lifted by a
return to active, matched ignoring case, respected by bulk loads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from feedpub.model import SubscriberStatus
from feedpub.store import SqlStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = T0 + timedelta(days=2)


@pytest.mark.parametrize(
    ("status", "kind"),
    [("bounced", "bounced"), ("unsubscribed", "unsubscribed"), ("pending", None), ("active", None)],
)
def test_a_status_that_ends_a_subscription_suppresses_the_address_with_its_reason(
    store: SqlStore, status: SubscriberStatus, kind: str | None
) -> None:
    store.add_subscriber("Dana@Example.net", T0, status="active")

    assert store.set_subscriber_status(
        "dana@example.net", status, LATER, reason="550 5.1.1 user unknown", source="inbound"
    )

    found = store.suppression("DANA@example.NET")
    if kind is None:
        assert found is None
        return
    assert found is not None and found.active
    assert (found.address, found.kind, found.reason, found.source, found.at) == (
        "dana@example.net",
        kind,
        "550 5.1.1 user unknown",
        "inbound",
        LATER,
    )
    assert found.describe() == f"{kind} on 2026-03-03 (inbound): 550 5.1.1 user unknown"


def test_a_removed_subscriber_is_remembered_as_removed(store: SqlStore) -> None:
    store.add_subscriber("a@example.org", T0, status="active")

    assert store.remove_subscriber("A@example.org", LATER, source="operator")

    assert store.get_subscriber("a@example.org") is None
    found = store.suppression("a@example.org")
    assert found is not None and (found.kind, found.reason, found.source) == (
        "removed",
        "removed by an operator",
        "operator",
    )
    assert not store.remove_subscriber("a@example.org", LATER)  # nobody left to remove


def test_removing_a_bounced_address_keeps_the_bounce_as_the_reason(store: SqlStore) -> None:
    store.add_subscriber("a@example.org", T0, status="active")
    store.set_subscriber_status("a@example.org", "bounced", T0, reason="5.1.1", source="inbound")

    store.remove_subscriber("a@example.org", LATER)

    found = store.suppression("a@example.org")
    assert found is not None and (found.kind, found.reason, found.at) == ("bounced", "5.1.1", T0)


def test_an_unsubscribe_says_more_than_an_earlier_removal(store: SqlStore) -> None:
    assert store.suppress("a@example.org", "removed", "removed", "operator", T0)
    assert not store.suppress("a@example.org", "unsubscribed", "asked by phone", "operator", LATER)

    found = store.suppression("a@example.org")
    assert found is not None and (found.kind, found.reason) == ("unsubscribed", "asked by phone")
    # The first reason of an active suppression stays.
    store.suppress("a@example.org", "bounced", "later bounce", "inbound", LATER)
    found = store.suppression("a@example.org")
    assert found is not None and found.reason == "asked by phone"


def test_a_return_to_active_lifts_the_suppression_and_a_new_end_renews_it(
    store: SqlStore,
) -> None:
    store.add_subscriber("a@example.org", T0, status="active")
    store.set_subscriber_status("a@example.org", "unsubscribed", T0, reason="web", source="web")

    store.set_subscriber_status("a@example.org", "active", LATER, reason="confirmed again")

    found = store.suppression("a@example.org")
    assert found is not None and not found.active
    assert (found.kind, found.lifted, found.lifted_reason) == (
        "unsubscribed",
        LATER,
        "confirmed again",
    )
    assert store.suppressed_among(["a@example.org"]) == set()

    store.set_subscriber_status("a@example.org", "bounced", LATER, reason="5.1.1")
    found = store.suppression("a@example.org")
    assert found is not None and found.active and (found.kind, found.lifted) == ("bounced", None)


def test_lift_suppression_reports_whether_there_was_one(store: SqlStore) -> None:
    assert not store.lift_suppression("a@example.org", "why", T0)
    store.suppress("a@example.org", "unsubscribed", "asked", "operator", T0)
    assert store.lift_suppression("A@EXAMPLE.org", "asked again in writing", LATER)
    assert not store.lift_suppression("a@example.org", "twice", LATER)
    assert [(s.address, s.lifted_reason) for s in store.suppressions()] == [
        ("a@example.org", "asked again in writing")
    ]


def test_which_of_many_addresses_are_suppressed_or_stored_ignoring_case(
    store: SqlStore,
) -> None:
    store.add_subscribers([("Kept@Example.org", None), ("gone@example.org", None)], T0)
    store.set_subscriber_status("gone@example.org", "unsubscribed", T0)
    store.suppress("never@example.org", "unsubscribed", "asked", "operator", T0)
    asked = ["KEPT@example.org", "Gone@Example.org", "never@EXAMPLE.org", "new@example.org"]

    assert store.suppressed_among(asked) == {"gone@example.org", "never@example.org"}
    assert store.subscribed_among(asked) == {"kept@example.org", "gone@example.org"}


def test_a_bulk_load_does_not_add_a_suppressed_address(store: SqlStore) -> None:
    store.suppress("Left@example.org", "unsubscribed", "asked", "web", T0)

    added = store.add_subscribers([("left@example.org", None), ("new@example.org", None)], LATER)

    assert added == 1
    assert [s.email for s in store.subscribers()] == ["new@example.org"]


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("\u202eسامي", "سامي"),  # right-to-left override
        ("Ali \u202dreversed\u202c", "Ali reversed"),  # left-to-right override and pop
        ("\u2066x\u2069 \u2067y\u2069 \u2068z\u2069", "x y z"),  # isolates
        ("\u202a\u202b", None),  # nothing else: no name
        ("هدى\u200f", "هدى\u200f"),  # a mark is kept: Arabic text uses it
    ],
    ids=["rlo", "lro-pdf", "isolates", "only-controls", "rlm-kept"],
)
def test_a_stored_name_has_no_bidi_embeddings_overrides_or_isolates(
    store: SqlStore, given: str, stored: str | None
) -> None:
    added, _ = store.add_subscriber("a@example.org", T0, name=given)
    assert added.name == stored


def test_facts_are_kept_and_replaced(store: SqlStore) -> None:
    assert store.meta_value("seed:x") is None
    store.set_meta_value("seed:x", "one")
    store.set_meta_value("seed:x", "two")
    assert store.meta_value("seed:x") == "two"


def test_the_upgrade_to_17_suppresses_the_addresses_already_bounced_or_unsubscribed(
    store_url: str, run_sql: Callable[[str], None]
) -> None:
    with SqlStore.open(store_url) as opened:
        for address, status in [
            ("Gone@example.org", "unsubscribed"),
            ("dead@example.org", "bounced"),
            ("kept@example.org", "active"),
        ]:
            opened.add_subscriber(address, T0, status=status)  # type: ignore[arg-type]
    # The store as version 16 left it: no suppression list yet.
    run_sql("DROP TABLE suppressions")
    run_sql("UPDATE schema_version SET version = 16 WHERE version = 17")

    with SqlStore.open(store_url) as upgraded:
        found = {s.address: (s.kind, s.source, s.at) for s in upgraded.suppressions()}
        assert upgraded.suppressed_among(["gone@example.org"]) == {"gone@example.org"}

    assert found == {
        "Gone@example.org": ("unsubscribed", "migration", T0),
        "dead@example.org": ("bounced", "migration", T0),
    }
