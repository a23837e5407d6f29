"""What the web pages need of the subscriber store, declared here by its
consumer (as delivery declares ``Sender``). The store's implementation is
wired in through ``feedpub.app`` and ``feedpub.web.configure``.

Addresses arrive normalised (email-validator's form, lower-cased): the same
form the signed tokens carry. ``now`` is timezone-aware. A WSGI server may
call from several threads at once: an implementation must be thread-safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

# In model, so app's store adapter can return it without importing web.
from feedpub.model import Preferences

__all__ = ["Preferences", "Subscriptions"]


class Subscriptions(Protocol):
    def subscribe_pending(
        self, address: str, name: str, digests: Sequence[str], now: datetime
    ) -> bool:
        """Record (or refresh) a subscription awaiting confirmation, for the
        given digests. True when a confirmation email is due: delivery then
        mails the link ``/confirm/<make_token(secret, "confirm", ALL_LISTS,
        address)>``. False when the address is already confirmed (nothing to
        confirm; the page shows the same words either way, so it does not
        tell a stranger who is subscribed)."""
        ...

    def confirm(self, address: str, now: datetime) -> bool:
        """Make the pending subscription active. True when the address is now
        (or already was) a confirmed subscriber; False when there is nothing
        pending for it (never asked, or the pending request expired)."""
        ...

    def unsubscribe(self, address: str, list_name: str, now: datetime) -> bool:
        """Stop ``list_name`` for ``address``. Idempotent; False when the
        address was not receiving that list."""
        ...

    def preferences(self, address: str) -> Preferences | None:
        """The subscriber's choices, or None when the address is not a
        (confirmed) subscriber."""
        ...

    def set_preferences(
        self, address: str, digests: Sequence[str], tags: Sequence[str], now: datetime
    ) -> bool:
        """Replace the subscriber's choices (no digests: receives nothing).
        False when the address is not a subscriber."""
        ...
