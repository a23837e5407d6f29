"""What the mail that comes back does to subscribers (``inbound``'s
``SubscriberStatusWriter``): a hard bounce marks the address bounced, a
complaint or an unsubscribe by mail ends its subscription. Either puts the
address on the suppression list with the message's reason (the store does,
with the status), so no import, seed file or ``subscribers add`` mails it
again. Each change is idempotent: a message read again changes nothing a
second time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from feedpub.model import SubscriberStatus
from feedpub.subscribers.roster import SubscriberList
from feedpub.subscribers.subscriptions import StoreSubscriptions

# Statuses the returned mail never changes: nothing more is sent to them.
_ENDED = ("bounced", "unsubscribed")
# Where the suppression list says the change came from.
SOURCE = "inbound"


class ReturnedMail:
    """Subscriber changes decided by returned mail, over the store."""

    def __init__(
        self, store: SubscriberList, digest_names: Sequence[str], opt_in: Sequence[str] = ()
    ) -> None:
        self._store = store
        self._lists = StoreSubscriptions(store, digest_names, opt_in)

    def subscriber_status(self, address: str) -> SubscriberStatus | None:
        found = self._store.get_subscriber(address)
        return None if found is None else found.status

    def mark_bounced(self, address: str, reason: str, now: datetime) -> bool:
        found = self._store.get_subscriber(address)
        if found is None or found.status in _ENDED:
            return False
        return self._store.set_subscriber_status(
            address, "bounced", now, reason=reason, source=SOURCE
        )

    def unsubscribe(self, address: str, list_name: str | None, reason: str, now: datetime) -> bool:
        """From ``list_name`` (the others stay), or from everything (None)."""
        found = self._store.get_subscriber(address)
        if found is None or found.status in _ENDED:
            return False
        if list_name is None:
            return self._store.set_subscriber_status(
                address, "unsubscribed", now, reason=reason, source=SOURCE
            )
        return self._lists.unsubscribe(address, list_name, now)
