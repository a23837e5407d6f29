"""Sign-ups from the web form: the queue the web app writes and the mailer
reads, the confirmation that makes a subscriber of one, and the consent
records it leaves."""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, delete, func, or_, select, update

from feedpub.model import Consent, Signup, SignupRequest, SignupState, require_aware
from feedpub.store.engine import StoreBase
from feedpub.store.schema import t_consents, t_signups, t_subscribers
from feedpub.store.subscribers import lift_suppression

# States in which a mail went to the address.
MAILED: tuple[SignupState, ...] = ("confirm", "already", "confirmed")


def _signup(row: Row[Any]) -> Signup:
    request = SignupRequest(
        email=row.email,
        name=row.name,
        digests=tuple(json.loads(row.digests)),
        client=row.client,
        requested=row.requested,
    )
    return Signup(
        id=row.id,
        request=request,
        state=row.state,
        mailed=row.mailed,
        confirmed=row.confirmed,
        confirm_client=row.confirm_client,
    )


class SignupsMixin(StoreBase):
    def queue_signup(self, request: SignupRequest, *, client_limit: int, since: datetime) -> bool:
        """Queue ``request``, unless its client queued ``client_limit`` or
        more since ``since`` (False). The same statements whatever the
        address: the web app's answer must not depend on it."""
        require_aware("since", since)
        recent = select(func.count()).where(
            t_signups.c.client == request.client, t_signups.c.requested >= since
        )
        with self._guard("cannot queue the sign-up"), self._writing() as conn:
            if int(conn.execute(recent).scalar_one()) >= client_limit:
                return False
            conn.execute(
                t_signups.insert().values(
                    email=request.email,
                    name=request.name,
                    digests=json.dumps(list(request.digests), ensure_ascii=False),
                    client=request.client,
                    requested=request.requested,
                    state="queued",
                )
            )
        return True

    def claim_signups(self, now: datetime, stale_before: datetime, limit: int) -> list[Signup]:
        """Up to ``limit`` queued sign-ups (and ones claimed before
        ``stale_before`` by a mailer that died), oldest first, now claimed."""
        require_aware("now", now)
        claimable = or_(
            t_signups.c.state == "queued",
            and_(t_signups.c.state == "claimed", t_signups.c.claimed < stale_before),
        )
        with self._guard("cannot claim sign-ups"), self._writing() as conn:
            rows = conn.execute(
                select(t_signups).where(claimable).order_by(t_signups.c.id).limit(limit)
            ).all()
            if rows:
                conn.execute(
                    update(t_signups)
                    .where(t_signups.c.id.in_([r.id for r in rows]))
                    .values(state="claimed", claimed=now)
                )
        return [_signup(r) for r in rows]

    def signup_mails_since(self, email: str, since: datetime) -> int:
        """How many sign-up mails went to ``email`` since ``since``."""
        query = select(func.count()).where(
            t_signups.c.email == email.lower(),
            t_signups.c.state.in_(MAILED),
            t_signups.c.mailed >= since,
        )
        with self._guard("cannot read sign-ups"), self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def finish_signup(self, signup_id: int, state: SignupState, now: datetime) -> None:
        """Record what the mailer did: ``confirm`` or ``already`` (a mail
        went at ``now``), ``limited`` (none), ``queued`` (try again later)."""
        require_aware("now", now)
        mailed = now if state in MAILED else None
        with self._guard("cannot record the sign-up"), self._writing() as conn:
            conn.execute(
                update(t_signups)
                .where(t_signups.c.id == signup_id)
                .values(state=state, mailed=mailed, claimed=None)
            )

    def add_pending_subscriber(self, request: SignupRequest, now: datetime) -> bool:
        """A pending subscriber for the sign-up's address, only when the
        address is not stored at all (any stored subscriber is left as it
        is); True when added."""
        require_aware("now", now)
        with self._guard("cannot write subscriber"), self._writing() as conn:
            found = conn.execute(
                select(t_subscribers.c.id).where(
                    func.lower(t_subscribers.c.email) == request.email.lower()
                )
            ).first()
            if found is not None:
                return False
            conn.execute(
                t_subscribers.insert().values(
                    email=request.email,
                    name=request.name,
                    status="pending",
                    digests=json.dumps(list(request.digests), ensure_ascii=False),
                    tags="[]",
                    token=secrets.token_urlsafe(24),
                    created=now,
                    updated=now,
                )
            )
        return True

    def get_signup(self, signup_id: int) -> Signup | None:
        with self._guard("cannot read sign-ups"), self._engine.connect() as conn:
            row = conn.execute(select(t_signups).where(t_signups.c.id == signup_id)).first()
        return None if row is None else _signup(row)

    def confirm_signup(self, signup_id: int, email: str, client: str, now: datetime) -> bool | None:
        """Follow the confirmation link of sign-up ``signup_id`` for
        ``email``: the address becomes an active subscriber of the digests
        the sign-up chose (its name too, when it gave one; its tags stay),
        whatever its status was (the mailbox's owner asked), and a consent
        record is kept. Returns True; False when it was not waiting for
        confirmation (a link followed twice: nothing changes); None when
        there is no such sign-up for that address. One transaction."""
        require_aware("now", now)
        with self._guard("cannot confirm the sign-up"), self._writing() as conn:
            row = conn.execute(select(t_signups).where(t_signups.c.id == signup_id)).first()
            if row is None or row.email != email.lower():
                return None
            if row.state != "confirm":
                return False
            signup = _signup(row)
            self._activate(conn, signup.request, now)
            conn.execute(
                update(t_signups)
                .where(t_signups.c.id == signup_id)
                .values(state="confirmed", confirmed=now, confirm_client=client)
            )
            conn.execute(
                t_consents.insert().values(
                    email=row.email,
                    signup_id=signup_id,
                    signed_up=row.requested,
                    signup_client=row.client,
                    confirmed=now,
                    confirm_client=client,
                )
            )
        return True

    @staticmethod
    def _activate(conn: Any, request: SignupRequest, now: datetime) -> None:
        digests = json.dumps(list(request.digests), ensure_ascii=False)
        # The mailbox's owner confirmed: that lifts a suppression (bounced,
        # unsubscribed, removed), as ``subscribers add --resubscribe`` does.
        lift_suppression(conn, request.email, "confirmed a sign-up", now)
        by_email = func.lower(t_subscribers.c.email) == request.email.lower()
        found = conn.execute(select(t_subscribers.c.id, t_subscribers.c.name).where(by_email))
        current = found.first()
        if current is None:
            conn.execute(
                t_subscribers.insert().values(
                    email=request.email,
                    name=request.name,
                    status="active",
                    digests=digests,
                    tags="[]",
                    token=secrets.token_urlsafe(24),
                    created=now,
                    updated=now,
                )
            )
            return
        conn.execute(
            update(t_subscribers)
            .where(t_subscribers.c.id == current.id)
            .values(
                status="active",
                digests=digests,
                name=request.name or current.name,
                updated=now,
            )
        )

    def expire_signups(
        self, *, signups_before: datetime, pending_before: datetime
    ) -> tuple[int, int]:
        """Remove sign-ups requested before ``signups_before`` and pending
        subscribers not confirmed since ``pending_before``; returns how many
        of each."""
        require_aware("signups_before", signups_before)
        require_aware("pending_before", pending_before)
        with self._guard("cannot expire sign-ups"), self._writing() as conn:
            signups = conn.execute(
                delete(t_signups).where(t_signups.c.requested < signups_before)
            ).rowcount
            pending = conn.execute(
                delete(t_subscribers).where(
                    t_subscribers.c.status == "pending", t_subscribers.c.updated < pending_before
                )
            ).rowcount
        return int(signups), int(pending)

    def signups_of(self, email: str) -> list[Signup]:
        """The address's sign-ups still kept, oldest first."""
        query = select(t_signups).where(t_signups.c.email == email.lower()).order_by(t_signups.c.id)
        with self._guard("cannot read sign-ups"), self._engine.connect() as conn:
            return [_signup(r) for r in conn.execute(query)]

    def consents(self, email: str) -> list[Consent]:
        """The address's consent records, oldest first."""
        query = (
            select(t_consents).where(t_consents.c.email == email.lower()).order_by(t_consents.c.id)
        )
        with self._guard("cannot read consents"), self._engine.connect() as conn:
            return [
                Consent(
                    email=r.email,
                    signup_id=r.signup_id,
                    signed_up=r.signed_up,
                    signup_client=r.signup_client,
                    confirmed=r.confirmed,
                    confirm_client=r.confirm_client,
                )
                for r in conn.execute(query)
            ]

    def queued_signups(self) -> int:
        with self._guard("cannot read sign-ups"), self._engine.connect() as conn:
            query = select(func.count()).where(t_signups.c.state.in_(("queued", "claimed")))
            return int(conn.execute(query).scalar_one())
