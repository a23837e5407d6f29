"""The entry cache on both databases: rows kept, read back byte for byte,
replaced by slot, and read in chunks past the drivers' parameter limits."""

from __future__ import annotations

from feedpub.store import SqlStore


def test_kept_entries_read_back_and_a_slot_is_replaced(store: SqlStore) -> None:
    assert store.cached_entries(["a"]) == {}
    store.keep_entries([("a", "f1", b"<entry>\x00\xff</entry>\n"), ("b", "f1", b"")])
    store.keep_entries([("a", "f2", "عربي".encode())])
    assert store.cached_entries(["a", "b", "c"]) == {
        "a": ("f2", "عربي".encode()),
        "b": ("f1", b""),
    }


def test_thousands_of_entries_are_kept_and_read_in_chunks(store: SqlStore) -> None:
    entries = [(f"s{n}", f"f{n}", b"x" * (n % 7)) for n in range(4500)]
    store.keep_entries(entries)
    found = store.cached_entries([slot for slot, _, _ in entries])
    assert found == {slot: (fingerprint, data) for slot, fingerprint, data in entries}


def test_keeping_entries_leaves_other_writes_durable(store: SqlStore, store_url: str) -> None:
    # The cache's commits skip the wait for the disk; the connection, back in
    # the pool, commits the next ingest with SQLite's full sync again.
    store.keep_entries([("a", "f1", b"<entry/>")])
    if store_url.startswith("sqlite"):
        with store._engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    assert store.cached_entries(["a"]) == {"a": ("f1", b"<entry/>")}
