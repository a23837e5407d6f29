"""Digest subscribers: who gets which digest, and with which preferences;
and the suppression list: addresses that bounced hard, unsubscribed,
complained or were removed, remembered after their subscriber row is gone.

A status set to ``bounced`` or ``unsubscribed`` suppresses the address in the
same transaction, whoever sets it (inbound mail, the web, an operator); a
removed subscriber is remembered as ``removed``; a status set to ``active``
(a confirmed sign-up, an operator's ``--resubscribe``) lifts it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select

from feedpub.model import (
    SUBSCRIBER_STATUSES,
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionKind,
    require_aware,
)
from feedpub.store.engine import StoreBase
from feedpub.store.schema import t_subscribers, t_suppressions
from feedpub.text.bidi import strip_bidi_controls

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


def _suppression(row: Row[Any]) -> Suppression:
    return Suppression(
        address=row.address,
        kind=row.kind,
        reason=row.reason,
        source=row.source,
        at=row.at,
        lifted=row.lifted,
        lifted_reason=row.lifted_reason,
    )


def _key(email: str) -> str:
    # Lowercased whole: a suppression matches every spelling of the address
    # (the safe side for a list of addresses not to mail).
    return email.strip().lower()


def _suppress(
    conn: Any, email: str, kind: SuppressionKind, reason: str, source: str, now: datetime
) -> bool:
    """Suppress the address (again, if it was lifted); True when it was not
    suppressed before. An active suppression keeps its first reason, except
    that a bounce or unsubscribe says more than an operator's removal."""
    key = _key(email)
    found = conn.execute(
        select(t_suppressions.c.kind, t_suppressions.c.lifted).where(t_suppressions.c.key == key)
    ).first()
    values = {
        "address": email.strip(),
        "kind": kind,
        "reason": reason,
        "source": source,
        "at": now,
        "lifted": None,
        "lifted_reason": None,
    }
    if found is None:
        conn.execute(t_suppressions.insert().values(key=key, **values))
        return True
    if found.lifted is not None or (found.kind == "removed" and kind != "removed"):
        conn.execute(t_suppressions.update().where(t_suppressions.c.key == key).values(**values))
        return found.lifted is not None
    return False


def lift_suppression(conn: Any, email: str, reason: str, now: datetime) -> bool:
    """Lift the address's suppression inside ``conn``'s transaction (an
    owner's new consent); False when it was not suppressed."""
    query = (
        t_suppressions.update()
        .where(t_suppressions.c.key == _key(email), t_suppressions.c.lifted.is_(None))
        .values(lifted=now, lifted_reason=reason)
    )
    return bool(conn.execute(query).rowcount)


def _by_email(email: str) -> Any:
    # lower() on both sides matches the unique index on lower(email). Both
    # databases lower ASCII alike; addresses differing only in non-ASCII case
    # count as two, which is the safe side.
    return func.lower(t_subscribers.c.email) == func.lower(email.strip())


def _active_keys(conn: Any, keys: Sequence[str]) -> set[str]:
    query = select(t_suppressions.c.key).where(
        t_suppressions.c.key.in_(list(keys)), t_suppressions.c.lifted.is_(None)
    )
    return set(conn.execute(query).scalars())


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
        if name is not None:  # every way in passes here: CSV, the CLI, the web form
            name = strip_bidi_controls(name).strip() or None
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
        """Insert many (email, name) subscribers with no preferences (see
        ``add_subscriber_entries``). Returns how many were added."""
        return self.add_subscriber_entries([(e, n, (), ()) for e, n in entries], now, status=status)

    def add_subscriber_entries(
        self,
        entries: Sequence[tuple[str, str | None, Sequence[str], Sequence[str]]],
        now: datetime,
        *,
        status: SubscriberStatus = "active",
    ) -> int:
        """Insert many (email, name, digests, tags) subscribers, in chunks of
        ``PAGE_SIZE`` rows per statement; addresses already stored (ignoring
        case) are left as they are, suppressed ones are not added. Returns
        how many were added. For bulk loads (a seed file, large imports,
        benchmarks): one transaction per chunk instead of one per address."""
        require_aware("now", now)
        added = 0
        for start in range(0, len(entries), PAGE_SIZE):
            chunk = [(e.strip(), n, d, t) for e, n, d, t in entries[start : start + PAGE_SIZE]]
            with self._guard("cannot write subscribers"), self._writing() as conn:
                lowered = [e.lower() for e, *_ in chunk]
                known = set(
                    conn.execute(
                        select(func.lower(t_subscribers.c.email)).where(
                            func.lower(t_subscribers.c.email).in_(lowered)
                        )
                    ).scalars()
                ) | _active_keys(conn, lowered)
                rows = []
                for email, name, digests, tags in chunk:
                    if not email or email.lower() in known:
                        continue
                    known.add(email.lower())
                    clean = None if name is None else strip_bidi_controls(name).strip() or None
                    rows.append(
                        {
                            "email": email,
                            "name": clean,
                            "status": _check_status(status),
                            "token": secrets.token_urlsafe(24),
                            "digests": _names(digests),
                            "tags": _names(tags),
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

    def set_subscriber_status(
        self,
        email: str,
        status: SubscriberStatus,
        now: datetime,
        *,
        reason: str = "",
        source: str = "",
    ) -> bool:
        """Set the status; False when no such subscriber. ``bounced`` and
        ``unsubscribed`` suppress the address and draw a new link key (every
        preferences link sent before stops working; only a new confirmation
        brings one back); ``active`` lifts its suppression; ``reason`` and
        ``source`` are recorded with either."""
        require_aware("now", now)
        values: dict[str, object] = {"status": _check_status(status), "updated": now}
        if status in ("bounced", "unsubscribed"):
            values["token"] = secrets.token_urlsafe(24)
        query = t_subscribers.update().where(_by_email(email)).values(**values)
        with self._guard("cannot write subscriber"), self._writing() as conn:
            if not conn.execute(query).rowcount:
                return False
            if status in ("bounced", "unsubscribed"):
                kind: SuppressionKind = "bounced" if status == "bounced" else "unsubscribed"
                _suppress(conn, email, kind, reason or f"marked {status}", source, now)
            elif status == "active":
                lift_suppression(conn, email, reason or "subscribed again", now)
        return True

    def remove_subscriber(
        self, email: str, now: datetime, *, reason: str = "", source: str = ""
    ) -> bool:
        """Forget the subscriber (their deliveries keep the address) and
        remember the address as removed, so the seed file or an import does
        not add it back; False when no such subscriber."""
        require_aware("now", now)
        with self._guard("cannot remove subscriber"), self._writing() as conn:
            found = conn.execute(select(t_subscribers.c.email).where(_by_email(email))).first()
            if found is None:
                return False
            conn.execute(t_subscribers.delete().where(_by_email(email)))
            why = reason or "removed by an operator"
            _suppress(conn, found.email, "removed", why, source, now)
        return True

    # --- the suppression list ---------------------------------------------------------

    def suppress(
        self, email: str, kind: SuppressionKind, reason: str, source: str, now: datetime
    ) -> bool:
        """Put the address on the suppression list, subscriber or not; False
        when it was on it already (the first reason stays)."""
        require_aware("now", now)
        if not email.strip():
            raise ValueError("suppressed address is empty")
        with self._guard("cannot write suppression"), self._writing() as conn:
            return _suppress(conn, email, kind, reason, source, now)

    def lift_suppression(self, email: str, reason: str, now: datetime) -> bool:
        """Take the address off the suppression list, keeping why it was on it
        and ``reason``; False when it was not on it."""
        require_aware("now", now)
        with self._guard("cannot write suppression"), self._writing() as conn:
            return lift_suppression(conn, email, reason, now)

    def suppression(self, email: str) -> Suppression | None:
        """The address's suppression (lifted or not), or None."""
        query = select(t_suppressions).where(t_suppressions.c.key == _key(email))
        with self._guard("cannot read suppressions"), self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _suppression(row)

    def suppressions(self) -> list[Suppression]:
        """The whole list, lifted ones too, oldest first."""
        query = select(t_suppressions).order_by(t_suppressions.c.at, t_suppressions.c.key)
        with self._guard("cannot read suppressions"), self._engine.connect() as conn:
            return [_suppression(r) for r in conn.execute(query)]

    def suppressed_among(self, emails: Sequence[str]) -> set[str]:
        """Which of ``emails`` are suppressed, lowercased (a query per
        ``PAGE_SIZE``)."""
        keys = list(dict.fromkeys(_key(e) for e in emails))
        found: set[str] = set()
        for start in range(0, len(keys), PAGE_SIZE):
            with self._guard("cannot read suppressions"), self._engine.connect() as conn:
                found |= _active_keys(conn, keys[start : start + PAGE_SIZE])
        return found

    def subscribed_among(self, emails: Sequence[str]) -> set[str]:
        """Which of ``emails`` are stored subscribers (any status), lowercased
        (a query per ``PAGE_SIZE``)."""
        keys = list(dict.fromkeys(_key(e) for e in emails))
        found: set[str] = set()
        for start in range(0, len(keys), PAGE_SIZE):
            lowered = func.lower(t_subscribers.c.email)
            query = select(lowered).where(lowered.in_(keys[start : start + PAGE_SIZE]))
            with self._guard("cannot read subscribers"), self._engine.connect() as conn:
                found |= set(conn.execute(query).scalars())
        return found

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
