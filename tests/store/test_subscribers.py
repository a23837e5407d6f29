"""Subscribers, each test on SQLite and on PostgreSQL (see conftest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from feedpub.store import SqlStore, subscribers

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
LATER = T0 + timedelta(hours=2)


def test_a_new_address_is_added_pending_with_a_token(store: SqlStore) -> None:
    added, new = store.add_subscriber(
        "Huda@Example.org", T0, name="هدى", digests=["daily"], tags=["اقتصاد", "اقتصاد"]
    )

    assert new
    assert (added.email, added.name, added.status) == ("Huda@Example.org", "هدى", "pending")
    assert (added.digests, added.tags) == (("daily",), ("اقتصاد",))
    assert added.created == added.updated == T0
    assert len(added.token) >= 32
    assert store.subscriber_by_token(added.token) == added
    assert store.get_subscriber("huda@example.ORG") == added


def test_an_existing_address_in_any_case_is_updated_keeping_status_and_token(
    store: SqlStore,
) -> None:
    first, _ = store.add_subscriber("huda@example.org", T0, digests=["daily"])
    store.set_subscriber_status("huda@example.org", "active", T0)

    again, new = store.add_subscriber("HUDA@example.org", LATER, name="هدى", tags=["رياضة"])

    assert not new
    assert again.id == first.id and again.token == first.token
    assert again.email == "huda@example.org"  # as first given
    assert (again.name, again.digests, again.tags) == ("هدى", (), ("رياضة",))
    assert (again.status, again.created, again.updated) == ("active", T0, LATER)
    assert store.subscriber_count() == 1


@pytest.mark.parametrize(
    ("status", "exists"), [("active", True), ("unsubscribed", True), ("active", False)]
)
def test_set_status_reports_whether_the_subscriber_exists(
    store: SqlStore, status: str, exists: bool
) -> None:
    if exists:
        store.add_subscriber("a@example.org", T0)

    assert store.set_subscriber_status("a@example.org", status, LATER) is exists  # type: ignore[arg-type]
    found = store.get_subscriber("a@example.org")
    if exists:
        assert found is not None and (found.status, found.updated) == (status, LATER)
    else:
        assert found is None


def test_an_unknown_status_is_a_value_error(store: SqlStore) -> None:
    store.add_subscriber("a@example.org", T0)

    with pytest.raises(ValueError, match="'gone'"):
        store.set_subscriber_status("a@example.org", "gone", T0)  # type: ignore[arg-type]


def test_remove_forgets_the_subscriber(store: SqlStore) -> None:
    store.add_subscriber("a@example.org", T0)

    assert store.remove_subscriber("A@example.org", T0)
    assert not store.remove_subscriber("a@example.org", T0)
    assert store.get_subscriber("a@example.org") is None


def test_subscribers_are_listed_oldest_first_and_by_status(store: SqlStore) -> None:
    for address in ("c@x.org", "a@x.org", "b@x.org"):
        store.add_subscriber(address, T0)
    store.set_subscriber_status("a@x.org", "bounced", T0)

    assert [s.email for s in store.subscribers()] == ["c@x.org", "a@x.org", "b@x.org"]
    assert [s.email for s in store.subscribers("pending")] == ["c@x.org", "b@x.org"]
    assert store.subscriber_count("bounced") == 1


@pytest.mark.parametrize(
    ("status", "digests", "receives_daily"),
    [
        ("active", (), True),
        ("active", ("daily",), True),
        ("active", ("weekly",), False),
        ("active", ("weekly", "daily"), True),
        ("pending", (), False),
        ("unsubscribed", ("daily",), False),
        ("bounced", (), False),
    ],
)
def test_subscribers_for_a_digest_are_the_active_ones_receiving_it(
    store: SqlStore, status: str, digests: tuple[str, ...], receives_daily: bool
) -> None:
    store.add_subscriber("a@x.org", T0, digests=digests, status=status)  # type: ignore[arg-type]

    assert [s.email for s in store.subscribers_for("daily")] == (
        ["a@x.org"] if receives_daily else []
    )


def test_subscribers_for_streams_every_page(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subscribers, "PAGE_SIZE", 3)
    for i in range(10):
        store.add_subscriber(
            f"s{i}@x.org", T0, status="active", digests=[("daily", "weekly")[i % 2]]
        )

    stream = store.subscribers_for("daily")

    assert next(stream).email == "s0@x.org"  # lazy: the first page only
    assert [s.email for s in stream] == ["s2@x.org", "s4@x.org", "s6@x.org", "s8@x.org"]


def test_naive_now_and_an_empty_address_are_refused(store: SqlStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.add_subscriber("a@x.org", datetime(2024, 3, 1))
    with pytest.raises(ValueError, match="empty"):
        store.add_subscriber("  ", T0)
