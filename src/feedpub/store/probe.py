"""The store's generation read with the stdlib ``sqlite3`` driver, without
SQLAlchemy: the one row a no-op build needs (``feeds.publish.quick_build``).

A cron job runs ``feedpub build`` every few minutes and most runs find
nothing changed; importing SQLAlchemy alone costs more than the rest of
such a run. So for a SQLite store already at ``SCHEMA_VERSION`` the
generation is read here, with the same meaning as ``SqlStore.generation``;
anything else (PostgreSQL, an older or newer schema, a missing or locked
file, a URL with options) answers None and the caller opens the store the
usual way, which migrates, creates or reports it.
"""

from __future__ import annotations

import os
import sqlite3
from urllib.parse import quote

from feedpub.store.interface import SCHEMA_VERSION

_PREFIXES = ("sqlite:///", "sqlite+pysqlite:///")


def sqlite_path(url: str) -> str | None:
    """The database file of a plain SQLite URL (``sqlite:////abs/path``,
    ``sqlite:///relative``, as SQLAlchemy reads them), else None."""
    for prefix in _PREFIXES:
        if url.startswith(prefix):
            path = url[len(prefix) :]
            if not path or path.startswith(":") or path.startswith("file:") or "?" in path:
                return None  # in memory, a URI filename or driver options: not plain
            return path
    return None


def generation(url: str) -> int | None:
    """``SqlStore.generation`` of the SQLite store at ``url`` when it can be
    read cheaply and is at the current schema version; None otherwise."""
    path = sqlite_path(url)
    if path is None or not os.path.isfile(path):
        return None
    try:
        # Read-only: never creates the file or upgrades anything. A short
        # busy timeout: a writer holding the lock means "changed", ask again
        # the usual way.
        conn = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        return None
    try:
        version = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        if version is None or version[0] != SCHEMA_VERSION:
            return None
        found = conn.execute("SELECT generation FROM feed_generation").fetchone()
        return int(found[0]) if found and found[0] is not None else 0
    except sqlite3.Error:
        return None  # a table missing, a file that is not a database: the usual way tells
    finally:
        conn.close()
