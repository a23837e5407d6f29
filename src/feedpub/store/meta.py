"""The store's own facts (its instance key, the fingerprint of the seed
file last applied) and the digests paused by their bounce and complaint
rates."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from sqlalchemy import select

from feedpub.model import require_aware
from feedpub.store.engine import StoreBase
from feedpub.store.schema import t_digest_pauses, t_store_meta

INSTANCE = "instance"
ALERTS_SEEN = "alerts-seen:"  # + the alert digest's name: up to when it looked


def _alerts_key(digest: str) -> str:
    key = ALERTS_SEEN + digest
    # store_meta keys are at most 64 characters; a longer name goes by its hash.
    return key if len(key) <= 64 else ALERTS_SEEN + hashlib.sha256(digest.encode()).hexdigest()[:40]


class MetaMixin(StoreBase):
    _instance: str | None = None

    def instance_key(self) -> str:
        """A random key made once per store (16 lowercase letters and
        digits), kept for its life: Message-IDs carry it, so two stores, or a
        store made again from scratch, never mint the same id."""
        if self._instance is None:
            with self._guard("cannot read the store's key"), self._writing() as conn:
                found = conn.execute(
                    select(t_store_meta.c.value).where(t_store_meta.c.key == INSTANCE)
                ).scalar()
                if found is None:
                    found = secrets.token_hex(8)
                    conn.execute(t_store_meta.insert().values(key=INSTANCE, value=found))
            self._instance = str(found)
        return self._instance

    def meta_value(self, key: str) -> str | None:
        """A fact kept under ``key`` (at most 64 characters), or None."""
        with self._guard("cannot read the store's facts"), self._engine.connect() as conn:
            found = conn.execute(
                select(t_store_meta.c.value).where(t_store_meta.c.key == key)
            ).scalar()
        return None if found is None else str(found)

    def set_meta_value(self, key: str, value: str) -> None:
        """Keep ``value`` under ``key``, replacing what was there."""
        with self._guard("cannot write the store's facts"), self._writing() as conn:
            done = conn.execute(
                t_store_meta.update().where(t_store_meta.c.key == key).values(value=value)
            )
            if not done.rowcount:
                conn.execute(t_store_meta.insert().values(key=key, value=value))

    def pause_digest(self, digest: str, reason: str, now: datetime) -> bool:
        """Pause ``digest``; False when it is paused already (the first reason stays)."""
        require_aware("now", now)
        with self._guard("cannot pause the digest"), self._writing() as conn:
            if conn.execute(
                select(t_digest_pauses.c.digest).where(t_digest_pauses.c.digest == digest)
            ).first():
                return False
            conn.execute(t_digest_pauses.insert().values(digest=digest, reason=reason, paused=now))
        return True

    def resume_digest(self, digest: str) -> bool:
        """Lift a pause; False when ``digest`` was not paused."""
        with self._guard("cannot resume the digest"), self._writing() as conn:
            done = conn.execute(t_digest_pauses.delete().where(t_digest_pauses.c.digest == digest))
        return bool(done.rowcount)

    def digest_pauses(self) -> dict[str, tuple[str, datetime]]:
        """Every paused digest: its reason and since when."""
        with self._guard("cannot read paused digests"), self._engine.connect() as conn:
            rows = conn.execute(select(t_digest_pauses)).all()
        return {r.digest: (r.reason, r.paused) for r in rows}

    def alerts_seen(self, digest: str) -> datetime | None:
        """Up to when the alert digest ``digest`` has looked at new articles
        (None before its first run)."""
        query = select(t_store_meta.c.value).where(t_store_meta.c.key == _alerts_key(digest))
        with self._guard("cannot read the alerts' cursor"), self._engine.connect() as conn:
            found = conn.execute(query).scalar()
        return None if found is None else datetime.fromisoformat(str(found))

    def set_alerts_seen(self, digest: str, until: datetime) -> None:
        """Move the alert digest's cursor to ``until``, never back."""
        require_aware("until", until)
        key = _alerts_key(digest)
        value = until.astimezone(UTC).isoformat()
        table = t_store_meta
        with self._guard("cannot write the alerts' cursor"), self._writing() as conn:
            found = conn.execute(select(table.c.value).where(table.c.key == key)).scalar()
            if found is None:
                conn.execute(table.insert().values(key=key, value=value))
            elif datetime.fromisoformat(str(found)) < until:
                conn.execute(table.update().where(table.c.key == key).values(value=value))
