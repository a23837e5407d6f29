"""What the inbound tests share: the corpus's keys, and the subscriber
writer the composition root wires (the job's ``SubscriberStatusWriter``:
``subscribers.ReturnedMail`` over the store), recording its calls."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from feedpub.inbound import Keys
from feedpub.store import SqlStore
from feedpub.subscribers import ReturnedMail
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


class StoreStatusWriter(ReturnedMail):
    """The writer the composition root wires (``subscribers.ReturnedMail``:
    statuses and the suppression list in the store), recording each call."""

    def __init__(self, store: SqlStore, lists: Sequence[str] = LISTS) -> None:
        super().__init__(store, list(lists))
        self.store = store
        self.calls: list[tuple[str, str, str | None]] = []

    def mark_bounced(self, address: str, reason: str, now: datetime) -> bool:
        self.calls.append(("bounce", address, None))
        return super().mark_bounced(address, reason, now)

    def unsubscribe(self, address: str, list_name: str | None, reason: str, now: datetime) -> bool:
        self.calls.append(("unsubscribe", address, list_name))
        return super().unsubscribe(address, list_name, reason, now)
