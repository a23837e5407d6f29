"""Digest editions: one per (digest, slot), written once."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError

from feedpub.model import Edition, require_aware
from feedpub.store.engine import StoreBase
from feedpub.store.schema import t_editions


class EditionsMixin(StoreBase):
    def add_edition(self, edition: Edition) -> bool:
        """Record an edition. False, and nothing written, when its (digest,
        slot) exists already, also when another process wins the race.
        ``edition_id`` gives its id for enqueueing deliveries."""
        values = {
            "digest": edition.digest,
            "slot": edition.slot,
            "created": edition.created,
            "dropped": edition.dropped,
            "article_ids": json.dumps(list(edition.article_ids)),
        }
        with self._guard("cannot write edition"):
            # The transaction must end before the IntegrityError is handled:
            # PostgreSQL refuses further work in a failed transaction.
            try:
                with self._engine.begin() as conn:
                    conn.execute(t_editions.insert().values(**values))
            except IntegrityError:
                return False
        return True

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

    def _editions(self, query: Select[Any]) -> list[Edition]:
        with self._guard("cannot read editions"), self._engine.connect() as conn:
            return [
                Edition(
                    digest=r.digest,
                    slot=r.slot,
                    article_ids=tuple(json.loads(r.article_ids)),
                    created=r.created,
                    dropped=r.dropped,
                )
                for r in conn.execute(query)
            ]
