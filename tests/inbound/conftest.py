"""What the inbound tests share: the corpus's keys, and a subscriber writer
over the store (the job's ``SubscriberStatusWriter``: what the composition
root wires from the subscribers of the store)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from feedpub.inbound import Keys
from feedpub.model import SubscriberStatus
from feedpub.store import SqlStore
from feedpub.subscribers import StoreSubscriptions
from support.dovecot import dovecot_for
from support.postfix import postfix

__all__ = ["dovecot_for", "postfix"]  # the real servers' fixtures, for the tests here

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "inbound"
# The secret the corpus's VERP addresses and unsubscribe tokens were made with.
CORPUS_SECRET = b"feedpub-corpus-secret-0123456789"
RETURN_PATH = "bounces@news.example.org"
UNSUBSCRIBE = "unsubscribe@news.example.org"
LISTS = ("daily", "weekly")
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def corpus_keys() -> Keys:
    return Keys(CORPUS_SECRET, LISTS, UNSUBSCRIBE, RETURN_PATH)


class StoreStatusWriter:
    """Subscriber changes through the store, as the web pages make them: a
    list unsubscribe is the web's own (``StoreSubscriptions.unsubscribe``)."""

    def __init__(self, store: SqlStore, lists: Sequence[str] = LISTS) -> None:
        self.store = store
        self.web = StoreSubscriptions(store, list(lists))
        self.calls: list[tuple[str, str, str | None]] = []

    def subscriber_status(self, address: str) -> SubscriberStatus | None:
        found = self.store.get_subscriber(address)
        return None if found is None else found.status

    def mark_bounced(self, address: str, reason: str, now: datetime) -> bool:
        self.calls.append(("bounce", address, None))
        found = self.store.get_subscriber(address)
        if found is None or found.status in ("bounced", "unsubscribed"):
            return False
        return self.store.set_subscriber_status(address, "bounced", now)

    def unsubscribe(self, address: str, list_name: str | None, reason: str, now: datetime) -> bool:
        self.calls.append(("unsubscribe", address, list_name))
        found = self.store.get_subscriber(address)
        if found is None or found.status in ("bounced", "unsubscribed"):
            return False
        if list_name is None:
            return self.store.set_subscriber_status(address, "unsubscribed", now)
        return self.web.unsubscribe(address, list_name, now)
