"""Digest editions: one per (digest, slot), written once; recorded together
with their deliveries (``add_edition_with_deliveries``), so no edition is
ever stored without the deliveries it owes."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError

from feedpub.model import Edition, require_aware
from feedpub.store.deliveries import ENQUEUE_CHUNK, Recipient, delivery_rows
from feedpub.store.engine import StoreBase, StoreError, chunks
from feedpub.store.schema import t_deliveries, t_editions


def _values(edition: Edition) -> dict[str, Any]:
    return {
        "digest": edition.digest,
        "slot": edition.slot,
        "created": edition.created,
        "dropped": edition.dropped,
        "article_ids": json.dumps(list(edition.article_ids)),
        "left_out": json.dumps(list(edition.left_out)),
    }


class EditionsMixin(StoreBase):
    def add_edition(self, edition: Edition) -> bool:
        """Record an edition. False, and nothing written, when its (digest,
        slot) exists already, also when another process wins the race.
        ``edition_id`` gives its id for enqueueing deliveries."""
        values = _values(edition)
        with self._guard("cannot write edition"):
            # The transaction must end before the IntegrityError is handled:
            # PostgreSQL refuses further work in a failed transaction.
            try:
                with self._engine.begin() as conn:
                    conn.execute(t_editions.insert().values(**values))
            except IntegrityError:
                return False
        return True

    def add_edition_with_deliveries(
        self, edition: Edition, recipients: Iterable[Recipient], now: datetime
    ) -> int | None:
        """Record an edition and queue a pending delivery per recipient
        address (the first entry of a repeated one) in ONE transaction, and
        return the edition's id; None, and nothing written, when its (digest,
        slot) exists already, also when another process wins the race (its
        deliveries came with it). A crash leaves both or neither."""
        require_aware("now", now)
        values = _values(edition)
        wanted: dict[str, tuple[int | None, str | None]] = {}
        for sid, address, key in recipients:
            wanted.setdefault(address, (sid, key))
        with self._guard("cannot write edition"):
            # The transaction must end before the IntegrityError is handled:
            # PostgreSQL refuses further work in a failed transaction.
            try:
                with self._writing() as conn:
                    inserted = conn.execute(t_editions.insert().values(**values))
                    key = inserted.inserted_primary_key
                    if key is None:  # every dialect feedpub runs on reports it
                        raise StoreError("the edition's new id was not reported")
                    edition_id = int(key[0])
                    for chunk in chunks(wanted.items(), ENQUEUE_CHUNK):
                        conn.execute(t_deliveries.insert(), delivery_rows(edition_id, chunk, now))
            except IntegrityError:
                return None
        return edition_id

    def edition_id(self, digest: str, slot: datetime) -> int | None:
        """The stored id of the (digest, slot) edition, None when not stored."""
        require_aware("slot", slot)
        query = select(t_editions.c.id).where(
            t_editions.c.digest == digest, t_editions.c.slot == slot
        )
        with self._guard("cannot read editions"), self._engine.connect() as conn:
            found = conn.execute(query).scalar()
        return None if found is None else int(found)

    def get_edition(self, digest: str, slot: datetime) -> Edition | None:
        require_aware("slot", slot)
        query = select(t_editions).where(t_editions.c.digest == digest, t_editions.c.slot == slot)
        return next(iter(self._editions(query)), None)

    def last_edition(self, digest: str) -> Edition | None:
        """The edition with the latest slot, or None before the first."""
        query = (
            select(t_editions)
            .where(t_editions.c.digest == digest)
            .order_by(t_editions.c.slot.desc())
            .limit(1)
        )
        return next(iter(self._editions(query)), None)

    def editions(self, digest: str) -> list[Edition]:
        """Every edition of the digest, latest slot first."""
        query = (
            select(t_editions)
            .where(t_editions.c.digest == digest)
            .order_by(t_editions.c.slot.desc())
        )
        return self._editions(query)

    def editions_since(self, digest: str, created_after: datetime) -> list[Edition]:
        """The digest's editions made after ``created_after``, latest slot
        first (an alert digest's day: it has one edition per article)."""
        require_aware("created_after", created_after)
        query = (
            select(t_editions)
            .where(t_editions.c.digest == digest, t_editions.c.created > created_after)
            .order_by(t_editions.c.slot.desc())
        )
        return self._editions(query)

    def _editions(self, query: Select[Any]) -> list[Edition]:
        with self._guard("cannot read editions"), self._engine.connect() as conn:
            return [
                Edition(
                    digest=r.digest,
                    slot=r.slot,
                    article_ids=tuple(json.loads(r.article_ids)),
                    created=r.created,
                    dropped=r.dropped,
                    left_out=tuple(json.loads(r.left_out)) if r.left_out else (),
                )
                for r in conn.execute(query)
            ]
