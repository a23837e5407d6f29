"""Digest subscribers: who gets which digest, and with which preferences."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select

from feedpub.model import SUBSCRIBER_STATUSES, Subscriber, SubscriberStatus, require_aware
from feedpub.store.engine import StoreBase
from feedpub.store.schema import t_subscribers

# Rows per page when streaming subscribers: memory stays flat for 100,000,
# and no connection is held while the caller sends between pages.
PAGE_SIZE = 1_000


def _check_status(status: str) -> SubscriberStatus:
    if status not in SUBSCRIBER_STATUSES:
        raise ValueError(f"subscriber status {status!r} is not one of {SUBSCRIBER_STATUSES}")
    return status


def _names(values: Sequence[str]) -> str:
    # Order kept, repeats dropped: the list is what the subscriber chose.
    return json.dumps(list(dict.fromkeys(values)), ensure_ascii=False)


def _subscriber(row: Row[Any]) -> Subscriber:
    return Subscriber(
        id=row.id,
        email=row.email,
        status=_check_status(row.status),
        created=row.created,
        updated=row.updated,
        token=row.token,
        name=row.name,
        digests=tuple(json.loads(row.digests)),
        tags=tuple(json.loads(row.tags)),
    )


def _by_email(email: str) -> Any:
    # lower() on both sides matches the unique index on lower(email). Both
    # databases lower ASCII alike; addresses differing only in non-ASCII case
    # count as two, which is the safe side.
    return func.lower(t_subscribers.c.email) == func.lower(email.strip())


class SubscribersMixin(StoreBase):
    def add_subscriber(
        self,
        email: str,
        now: datetime,
        *,
        name: str | None = None,
        digests: Sequence[str] = (),
        tags: Sequence[str] = (),
        status: SubscriberStatus = "pending",
    ) -> tuple[Subscriber, bool]:
        """Insert a subscriber, or for an address already stored (ignoring
        case) update its name, digests and tags, keeping its status and token.
        Returns the stored subscriber and True when it is new."""
        require_aware("now", now)
        email = email.strip()
        if not email:
            raise ValueError("subscriber email is empty")
        values = {"name": name, "digests": _names(digests), "tags": _names(tags), "updated": now}
        # Under the writer lock, so two sign-ups of one address cannot both insert.
        with self._guard("cannot write subscriber"), self._writing() as conn:
            row = conn.execute(select(t_subscribers.c.id).where(_by_email(email))).first()
            if row is None:
                new = True
                conn.execute(
                    t_subscribers.insert().values(
                        email=email,
                        status=_check_status(status),
                        token=secrets.token_urlsafe(24),
                        created=now,
                        **values,
                    )
                )
            else:
                new = False
                conn.execute(
                    t_subscribers.update().where(t_subscribers.c.id == row.id).values(**values)
                )
            stored = conn.execute(select(t_subscribers).where(_by_email(email))).one()
        return _subscriber(stored), new

    def add_subscribers(
        self,
        entries: Sequence[tuple[str, str | None]],
        now: datetime,
        *,
        status: SubscriberStatus = "active",
    ) -> int:
        """Insert many (email, name) subscribers with no preferences, in
        chunks of ``PAGE_SIZE`` rows per statement; addresses already stored
        (ignoring case) are left as they are. Returns how many were added.
        For bulk loads (benchmarks, large imports): one transaction per chunk
        instead of one per address."""
        require_aware("now", now)
        added = 0
        for start in range(0, len(entries), PAGE_SIZE):
            chunk = [(e.strip(), n) for e, n in entries[start : start + PAGE_SIZE]]
            with self._guard("cannot write subscribers"), self._writing() as conn:
                lowered = [e.lower() for e, _ in chunk]
                known = set(
                    conn.execute(
                        select(func.lower(t_subscribers.c.email)).where(
                            func.lower(t_subscribers.c.email).in_(lowered)
                        )
                    ).scalars()
                )
                rows = []
                for email, name in chunk:
                    if not email or email.lower() in known:
                        continue
                    known.add(email.lower())
                    rows.append(
                        {
                            "email": email,
                            "name": name,
                            "status": _check_status(status),
                            "token": secrets.token_urlsafe(24),
                            "digests": "[]",
                            "tags": "[]",
                            "created": now,
                            "updated": now,
                        }
                    )
                if rows:
                    conn.execute(t_subscribers.insert(), rows)
            added += len(rows)
        return added

    def subscribers_by_ids(self, ids: Sequence[int]) -> dict[int, Subscriber]:
        """The stored subscribers among ``ids`` (one query per ``PAGE_SIZE``),
        by id; a removed one is absent."""
        found: dict[int, Subscriber] = {}
        for start in range(0, len(ids), PAGE_SIZE):
            query = select(t_subscribers).where(
                t_subscribers.c.id.in_(list(ids[start : start + PAGE_SIZE]))
            )
            with self._guard("cannot read subscribers"), self._engine.connect() as conn:
                found.update((r.id, _subscriber(r)) for r in conn.execute(query))
        return found

    def get_subscriber(self, email: str) -> Subscriber | None:
        """The subscriber with this address (ignoring case), or None."""
        return self._one(select(t_subscribers).where(_by_email(email)))

    def subscriber_by_token(self, token: str) -> Subscriber | None:
        """The subscriber a confirm or unsubscribe link is for, or None."""
        return self._one(select(t_subscribers).where(t_subscribers.c.token == token))

    def set_subscriber_status(self, email: str, status: SubscriberStatus, now: datetime) -> bool:
        """Set the status; False when no such subscriber. Leaving (bounced,
        unsubscribed) draws a new link key: every preferences link sent
        before stops working, and only a new confirmation brings one back."""
        require_aware("now", now)
        values: dict[str, object] = {"status": _check_status(status), "updated": now}
        if status in ("bounced", "unsubscribed"):
            values["token"] = secrets.token_urlsafe(24)
        query = t_subscribers.update().where(_by_email(email)).values(**values)
        with self._guard("cannot write subscriber"), self._writing() as conn:
            return bool(conn.execute(query).rowcount)

    def remove_subscriber(self, email: str) -> bool:
        """Forget the subscriber (their deliveries keep the address); False
        when no such subscriber."""
        with self._guard("cannot remove subscriber"), self._writing() as conn:
            return bool(conn.execute(t_subscribers.delete().where(_by_email(email))).rowcount)

    def subscribers(self, status: SubscriberStatus | None = None) -> list[Subscriber]:
        """Every subscriber (or those with ``status``), oldest first."""
        query = select(t_subscribers).order_by(t_subscribers.c.id)
        if status is not None:
            query = query.where(t_subscribers.c.status == _check_status(status))
        with self._guard("cannot read subscribers"), self._engine.connect() as conn:
            return [_subscriber(r) for r in conn.execute(query)]

    def subscribers_for(self, digest: str, *, opt_in: bool = False) -> Iterator[Subscriber]:
        """The active subscribers receiving ``digest`` (``opt_in``: only those
        who chose it, as for an alert; ``Subscriber.receives``), oldest first, read
        ``PAGE_SIZE`` at a time by id (keyset, so each page is one index
        range and a subscriber added meanwhile is not skipped)."""
        after = 0
        while True:
            query = (
                select(t_subscribers)
                .where(t_subscribers.c.status == "active", t_subscribers.c.id > after)
                .order_by(t_subscribers.c.id)
                .limit(PAGE_SIZE)
            )
            with self._guard("cannot read subscribers"), self._engine.connect() as conn:
                page = [_subscriber(r) for r in conn.execute(query)]
            # The digest list is JSON, not queryable alike on both databases;
            # a page is small, so the choice is made here.
            yield from (s for s in page if s.receives(digest, opt_in=opt_in))
            if len(page) < PAGE_SIZE:
                return
            after = page[-1].id

    def subscriber_count(self, status: SubscriberStatus | None = None) -> int:
        query = select(func.count()).select_from(t_subscribers)
        if status is not None:
            query = query.where(t_subscribers.c.status == _check_status(status))
        with self._guard("cannot count subscribers"), self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def _one(self, query: Any) -> Subscriber | None:
        with self._guard("cannot read subscribers"), self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _subscriber(row)
