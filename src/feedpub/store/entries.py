"""Printed feed entries kept between builds (``feeds.entries.EntryCache``).

A cache, not a record: rows are replaced by slot, and a lost row only means
the next build prints that entry again. Reads go in chunks so a build of
tens of thousands of entries stays within the drivers' parameter limits.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select

from feedpub.store.engine import StoreBase, writing
from feedpub.store.schema import t_feed_entries

# Bound parameters per statement (SQLite allows 32,766; stay well below).
_CHUNK = 900


class EntriesMixin(StoreBase):
    def cached_entries(self, slots: Sequence[str]) -> dict[str, tuple[str, bytes]]:
        """slot -> (fingerprint, bytes) for each of ``slots`` held."""
        found: dict[str, tuple[str, bytes]] = {}
        table = t_feed_entries
        with self._guard("cannot read feed entries"), self._engine.connect() as conn:
            for start in range(0, len(slots), _CHUNK):
                chunk = list(slots[start : start + _CHUNK])
                query = select(table.c.slot, table.c.fingerprint, table.c.data).where(
                    table.c.slot.in_(chunk)
                )
                for slot, fingerprint, data in conn.execute(query):
                    found[slot] = (fingerprint, bytes(data))
        return found

    def keep_entries(self, entries: Sequence[tuple[str, str, bytes]]) -> None:
        """Store (slot, fingerprint, bytes), replacing what each slot held.
        Delete then insert, in one transaction under the writer lock: portable
        across SQLite and PostgreSQL, and two builds of one store (two output
        folders) cannot both insert one slot."""
        table = t_feed_entries
        with (
            self._guard("cannot keep feed entries"),
            self._engine.connect() as conn,
            writing(conn),
        ):
            for start in range(0, len(entries), _CHUNK):
                chunk = entries[start : start + _CHUNK]
                conn.execute(delete(table).where(table.c.slot.in_([e[0] for e in chunk])))
                conn.execute(
                    table.insert(),
                    [{"slot": s, "fingerprint": f, "data": d} for s, f, d in chunk],
                )
