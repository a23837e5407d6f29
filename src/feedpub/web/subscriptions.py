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

# In model, so app's store adapter can return them without importing web.
from feedpub.model import Preferences, SignupRequest

__all__ = ["Preferences", "SignupRequest", "Subscriptions"]


class Subscriptions(Protocol):
    def request_signup(self, request: SignupRequest, per_client_hour: int) -> bool:
        """Queue a sign-up for the mailer, which looks the address up and
        sends the mail its state calls for, after the page has answered.
        Must read nothing of the address (the page answers the same, in the
        same time, for every address). False, with nothing queued, when the
        client already queued ``per_client_hour`` sign-ups within the hour."""
        ...

    def confirm(self, signup_id: int, address: str, client: str, now: datetime) -> bool | None:
        """Follow the confirmation link of sign-up ``signup_id``: True when
        the address is now a subscriber (consent recorded with ``client``
        and ``now``), False when the link was used before (nothing changes),
        None when the sign-up is gone (expired and removed)."""
        ...

    def link_key(self, address: str) -> str | None:
        """The key the address's preferences links are signed under
        (``tokens.preferences_scope``), None when it is not stored; the
        store draws a new one when the address leaves."""
        ...

    def unsubscribe(self, address: str, list_name: str, now: datetime) -> bool:
        """Stop ``list_name`` for ``address``. Idempotent; False when the
        address was not receiving that list."""
        ...

    def preferences(self, address: str) -> Preferences | None:
        """The subscriber's choices, or None when the address is not an
        active subscriber."""
        ...

    def set_preferences(
        self, address: str, digests: Sequence[str], tags: Sequence[str], now: datetime
    ) -> bool:
        """Replace an active subscriber's choices (no digests: unsubscribed).
        False when the address is not an active subscriber."""
        ...
