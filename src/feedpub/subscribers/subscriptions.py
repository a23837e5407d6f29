"""The web app's readers changing their own subscriptions: ``web.Subscriptions``
over the store (sign-up, confirm, unsubscribe, preferences)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from feedpub.model import Preferences, SignupRequest
from feedpub.subscribers.roster import SubscriberList

HOUR = timedelta(hours=1)


class SignupQueue(Protocol):
    """The sign-up side of the store (``store.SqlStore`` has it)."""

    def queue_signup(
        self, request: SignupRequest, *, client_limit: int, since: datetime
    ) -> bool: ...
    def confirm_signup(
        self, signup_id: int, email: str, client: str, now: datetime
    ) -> bool | None: ...


class StoreSubscriptions:
    """``web.Subscriptions`` over the store. Thread-safe (the store is).
    ``signups``: the sign-up queue (the store again; without it the
    sign-up methods refuse); ``on_queued`` is called after each sign-up is
    queued (``serve`` wakes its mailer)."""

    def __init__(
        self,
        store: SubscriberList,
        digest_names: Sequence[str],
        opt_in: Sequence[str] = (),
        *,
        signups: SignupQueue | None = None,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        """``opt_in``: the digests (alerts) only those who chose them get; a
        subscriber who listed no digests gets every other one."""
        self._store = store
        self._all = tuple(digest_names)
        self._opt_in = frozenset(opt_in)
        self._default = tuple(d for d in digest_names if d not in self._opt_in)
        self._signups = signups
        self._on_queued = on_queued

    def _queue(self) -> SignupQueue:
        if self._signups is None:
            raise RuntimeError("StoreSubscriptions made without the sign-up queue")
        return self._signups

    def request_signup(self, request: SignupRequest, per_client_hour: int) -> bool:
        """Queue the sign-up for the mailer; False (nothing queued) when
        its client already queued ``per_client_hour`` within the hour. Reads
        nothing of the address: the answer is the same for every address."""
        queued = self._queue().queue_signup(
            request, client_limit=per_client_hour, since=request.requested - HOUR
        )
        if queued and self._on_queued is not None:
            self._on_queued()
        return queued

    def confirm(self, signup_id: int, address: str, client: str, now: datetime) -> bool | None:
        """Follow a confirmation link: True when the address is now a
        subscriber, False when the link was followed before (nothing
        changes), None when its sign-up is gone (expired)."""
        return self._queue().confirm_signup(signup_id, address, client, now)

    def link_key(self, address: str) -> str | None:
        """The key the address's preferences links are signed under, or None
        when it is not a subscriber; a new one is drawn when it leaves."""
        current = self._store.get_subscriber(address)
        return None if current is None else current.token

    def unsubscribe(self, address: str, list_name: str, now: datetime) -> bool:
        current = self._store.get_subscriber(address)
        if current is None or not current.receives(list_name, opt_in=list_name in self._opt_in):
            return False
        rest = [d for d in (current.digests or self._default) if d != list_name]
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
        return Preferences(current.digests or self._default, current.tags)

    def set_preferences(
        self, address: str, digests: Sequence[str], tags: Sequence[str], now: datetime
    ) -> bool:
        """Only an active subscriber's: one who left comes back through a new
        confirmation mail, never through an old link."""
        current = self._store.get_subscriber(address)
        if current is None or current.status != "active":
            return False
        chosen = [d for d in digests if d in self._all]
        if not chosen:  # no digests: receives nothing (an empty list would mean all)
            self._store.set_subscriber_status(current.email, "unsubscribed", now)
            return True
        self._store.add_subscriber(current.email, now, name=current.name, digests=chosen, tags=tags)
        return True
