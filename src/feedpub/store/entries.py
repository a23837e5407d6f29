"""Printed feed entries kept between builds (``feeds.entries.EntryCache``).

A cache, not a record: rows are replaced by slot, and a lost row only means
the next build prints that entry again. Reads go in chunks so a build of
tens of thousands of entries stays within the drivers' parameter limits.

Both statements go to the driver as they are (``exec_driver_sql``): a first
build keeps tens of thousands of entries, and SQLAlchemy's per-row parameter
and result processing cost more than SQLite's own work.
"""

from __future__ import annotations

from collections.abc import Sequence

from feedpub.store.engine import StoreBase, cache_writing, driver_marks
from feedpub.store.schema import t_feed_entries

# Bound parameters per statement (SQLite allows 32,766; stay well below).
_CHUNK = 900
# Rows per executemany: bounds the parameter list the driver holds at once.
_ROWS = 2000


class EntriesMixin(StoreBase):
    def cached_entries(self, slots: Sequence[str]) -> dict[str, tuple[str, bytes]]:
        """slot -> (fingerprint, bytes) for each of ``slots`` held."""
        found: dict[str, tuple[str, bytes]] = {}
        table = t_feed_entries.name
        with self._guard("cannot read feed entries"), self._engine.connect() as conn:
            for start in range(0, len(slots), _CHUNK):
                chunk = tuple(slots[start : start + _CHUNK])
                query = (
                    f"SELECT slot, fingerprint, data FROM {table} "
                    f"WHERE slot IN ({', '.join(driver_marks(conn, len(chunk)))})"
                )
                for slot, fingerprint, data in conn.exec_driver_sql(query, chunk):
                    found[slot] = (fingerprint, bytes(data))
        return found

    def keep_entries(self, entries: Sequence[tuple[str, str, bytes]]) -> None:
        """Store (slot, fingerprint, bytes), replacing what each slot held:
        one upsert (SQLite 3.24+ and PostgreSQL share its syntax) run for
        every row, in one transaction under the writer lock, so two builds
        of one store (two output folders) cannot both insert one slot; its
        commit does not wait for the disk (a cache: ``cache_writing``)."""
        table = t_feed_entries.name
        with (
            self._guard("cannot keep feed entries"),
            self._engine.connect() as conn,
            cache_writing(conn),
        ):
            slot, fingerprint, data = driver_marks(conn, 3)
            upsert = (
                f"INSERT INTO {table} (slot, fingerprint, data) "
                f"VALUES ({slot}, {fingerprint}, {data}) ON CONFLICT (slot) DO UPDATE "
                "SET fingerprint = excluded.fingerprint, data = excluded.data"
            )
            for start in range(0, len(entries), _ROWS):
                conn.exec_driver_sql(upsert, list(entries[start : start + _ROWS]))
