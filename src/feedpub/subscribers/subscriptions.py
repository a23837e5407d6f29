"""The web app's readers changing their own subscriptions: ``web.Subscriptions``
over the store (sign-up, confirm, unsubscribe, preferences)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from feedpub.model import Preferences
from feedpub.subscribers.roster import SubscriberList


class StoreSubscriptions:
    """``web.Subscriptions`` over the store. Thread-safe (the store is)."""

    def __init__(self, store: SubscriberList, digest_names: Sequence[str]) -> None:
        self._store = store
        self._all = tuple(digest_names)

    def subscribe_pending(
        self, address: str, name: str, digests: Sequence[str], now: datetime
    ) -> bool:
        current = self._store.get_subscriber(address)
        if current is not None and current.status == "active":
            return False  # a stranger's form must not change a confirmed subscription
        self._store.add_subscriber(address, now, name=name or None, digests=digests)
        if current is not None:
            self._store.set_subscriber_status(address, "pending", now)
        return True

    def confirm(self, address: str, now: datetime) -> bool:
        current = self._store.get_subscriber(address)
        if current is None or current.status not in ("pending", "active"):
            return False
        if current.status == "pending":
            self._store.set_subscriber_status(address, "active", now)
        return True

    def unsubscribe(self, address: str, list_name: str, now: datetime) -> bool:
        current = self._store.get_subscriber(address)
        if current is None or not current.receives(list_name):
            return False
        rest = [d for d in (current.digests or self._all) if d != list_name]
        if rest:
            self._store.add_subscriber(
                current.email, now, name=current.name, digests=rest, tags=current.tags
            )
        else:
            why = f"unsubscribed from {list_name} on the web"
            self._store.set_subscriber_status(
                current.email, "unsubscribed", now, reason=why, source="web"
            )
        return True

    def preferences(self, address: str) -> Preferences | None:
        current = self._store.get_subscriber(address)
        if current is None or current.status != "active":
            return None
        return Preferences(current.digests or self._all, current.tags)

    def set_preferences(
        self, address: str, digests: Sequence[str], tags: Sequence[str], now: datetime
    ) -> bool:
        current = self._store.get_subscriber(address)
        if current is None:
            return False
        chosen = [d for d in digests if d in self._all]
        if not chosen:  # no digests: receives nothing (an empty list would mean all)
            self._store.set_subscriber_status(current.email, "unsubscribed", now)
            return True
        self._store.add_subscriber(current.email, now, name=current.name, digests=chosen, tags=tags)
        if current.status == "unsubscribed":  # the signed link proves the address
            self._store.set_subscriber_status(current.email, "active", now)
        return True
