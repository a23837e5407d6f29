"""Forward-only, versioned schema migrations: a deployed store upgrades in place.

``MIGRATIONS[n]`` takes a store from version n-1 to n. Each step runs in its
own transaction under the writer lock, re-reads the version first (another
process may have migrated meanwhile) and records its version before it
commits, so a crash leaves the store at the last finished step and the next
open resumes there. A new store is created at ``SCHEMA_VERSION`` directly
from ``schema``. A step, once released, is never edited: later changes are
new steps.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.engine import Connection

from feedpub.store.engine import StoreError, writing
from feedpub.store.schema import (
    SCHEMA_VERSION,
    metadata,
    t_consents,
    t_digest_pauses,
    t_runs,
    t_schema_version,
    t_signups,
    t_sitemap_pages,
    t_source_state,
    t_store_meta,
    t_subscribers,
    t_suppressions,
    t_withdrawn,
)


def _v2_first_url(conn: Connection) -> None:
    """Remember each article's first URL; today's is the best there is."""
    conn.execute(text("ALTER TABLE articles ADD COLUMN first_url TEXT"))
    conn.execute(text("UPDATE articles SET first_url = url"))


def _v3_subscribers_and_deliveries(conn: Connection) -> None:
    """New tables: subscribers created from its definition (if a later
    version alters it, copy its DDL here first); deliveries as of v3, written
    out (v14 added a column and an index)."""
    t_subscribers.create(conn)
    serial = "SERIAL" if conn.dialect.name == "postgresql" else "INTEGER"
    when = _timestamp(conn)
    conn.execute(
        text(
            f"CREATE TABLE deliveries (id {serial} NOT NULL, edition_id INTEGER NOT NULL, "
            "subscriber_id INTEGER, address TEXT NOT NULL, variant_key TEXT, "
            "status VARCHAR(16) NOT NULL, attempts INTEGER NOT NULL, last_error TEXT, "
            f"message_id TEXT, claimed_by TEXT, claimed_at {when}, sent_at {when}, "
            f"created {when} NOT NULL, updated {when} NOT NULL, PRIMARY KEY (id), "
            "CONSTRAINT uq_deliveries_edition_address UNIQUE (edition_id, address), "
            "FOREIGN KEY(edition_id) REFERENCES editions (id) ON DELETE CASCADE, "
            "FOREIGN KEY(subscriber_id) REFERENCES subscribers (id) ON DELETE SET NULL)"
        )
    )
    conn.execute(
        text("CREATE INDEX ix_deliveries_edition_status_id ON deliveries (edition_id, status, id)")
    )


def _v4_feed_generation(conn: Connection) -> None:
    """The change counter builds compare with their manifest: a no-op
    build reads this one row instead of selecting every feed."""
    conn.execute(
        text(
            "CREATE TABLE feed_generation (id INTEGER NOT NULL, generation INTEGER NOT NULL, "
            "PRIMARY KEY (id))"
        )
    )


def _v5_runs(conn: Connection) -> None:
    """The job-run log of ``feedpub status``: a new table, created from its
    definition (copy its DDL here first if a later version alters it)."""
    t_runs.create(conn)


def _v6_feed_entries_and_changes(conn: Connection) -> None:
    """The feed entries' bytes, printed once per article version and kept
    between builds (the feeds' EntryCache), and the change journal (which
    feeds each article write changed): new tables, their DDL as of v6. The
    journal starts empty, so the first build after the upgrade is a full one."""
    conn.execute(
        text(
            "CREATE TABLE feed_changes (generation INTEGER NOT NULL, "
            "tag_key VARCHAR(255) NOT NULL, PRIMARY KEY (generation, tag_key))"
        )
    )
    conn.execute(
        text(
            "CREATE TABLE feed_entries (slot VARCHAR(32) NOT NULL, "
            "fingerprint VARCHAR(32) NOT NULL, data %s NOT NULL, PRIMARY KEY (slot))"
            % ("BYTEA" if conn.dialect.name == "postgresql" else "BLOB")
        )
    )


def _v7_source_files(conn: Connection) -> None:
    """What ingest last read from each source file, so an unchanged file is
    skipped; and an index for replacing a file's rejects by source. The DDL
    is written out: later versions may alter the table."""
    conn.execute(
        text(
            "CREATE TABLE source_files (path TEXT NOT NULL, size BIGINT NOT NULL, "
            "mtime_ns BIGINT NOT NULL, ctime_ns BIGINT NOT NULL, sha256 VARCHAR(64) NOT NULL, "
            "context VARCHAR(64) NOT NULL, parse_key VARCHAR(64) NOT NULL, "
            "articles TEXT NOT NULL, rejects INTEGER NOT NULL, "
            f"read {_timestamp(conn)} NOT NULL, PRIMARY KEY (path))"
        )
    )
    conn.execute(text("CREATE INDEX ix_rejects_source ON rejects (source)"))


def _v8_changed_articles(conn: Connection) -> None:
    """The ids each generation wrote (journal.py), beside its tag keys. It
    starts empty: generations before the upgrade are not covered, so the
    first build after it checks every page, as before."""
    conn.execute(
        text(
            "CREATE TABLE feed_changed_articles (generation INTEGER NOT NULL, "
            "article_id VARCHAR(255) NOT NULL, PRIMARY KEY (generation, article_id))"
        )
    )


def _v9_source_state_and_withdrawn(conn: Connection) -> None:
    """Cursors of the sources that have one, and withdrawn articles: new
    tables, created from their definitions (copy their DDL here first if a
    later version alters them)."""
    t_source_state.create(conn)
    t_withdrawn.create(conn)


def _v10_edition_left_out(conn: Connection) -> None:
    """Which articles each edition left out for size: the next edition
    carries them once more. Editions recorded before hold NULL (none known)."""
    conn.execute(text("ALTER TABLE editions ADD COLUMN left_out TEXT"))


def _v11_inbound(conn: Connection) -> None:
    """The mail that comes back (inbound/): each message read and what it
    decided, and per address and delivery what it said. New tables, their
    DDL as of v11 (later versions may alter them)."""
    stamp = _timestamp(conn)
    conn.execute(
        text(
            "CREATE TABLE inbound_messages (key VARCHAR(80) NOT NULL, kind VARCHAR(16) NOT NULL, "
            f"state VARCHAR(16) NOT NULL, received {stamp} NOT NULL, updated {stamp} NOT NULL, "
            "message_id TEXT NOT NULL, sender TEXT NOT NULL, subject TEXT NOT NULL, "
            "detector VARCHAR(32) NOT NULL, mailbox TEXT NOT NULL, location TEXT NOT NULL, "
            "effects TEXT NOT NULL, PRIMARY KEY (key))"
        )
    )
    conn.execute(
        text(
            "CREATE INDEX ix_inbound_messages_state_received ON inbound_messages (state, received)"
        )
    )
    serial = "SERIAL" if conn.dialect.name == "postgresql" else "INTEGER"
    conn.execute(
        text(
            f"CREATE TABLE inbound_events (id {serial} NOT NULL, "
            "message_key VARCHAR(80) NOT NULL REFERENCES inbound_messages (key) ON DELETE CASCADE, "
            "address TEXT NOT NULL, kind VARCHAR(16) NOT NULL, "
            "delivery_id INTEGER REFERENCES deliveries (id) ON DELETE SET NULL, "
            f"status VARCHAR(16) NOT NULL, detail TEXT NOT NULL, at {stamp} NOT NULL, "
            "PRIMARY KEY (id))"
        )
    )
    conn.execute(
        text("CREATE INDEX ix_inbound_events_address_kind_at ON inbound_events (address, kind, at)")
    )
    conn.execute(text("CREATE INDEX ix_inbound_events_delivery ON inbound_events (delivery_id)"))


def _v12_image_details(conn: Connection) -> None:
    """The image's size and alternative text, as sources give them; NULL
    in articles stored before (unknown)."""
    for column, kind in (
        ("image_width", "INTEGER"),
        ("image_height", "INTEGER"),
        ("image_alt", "TEXT"),
        ("image_bytes", "BIGINT"),
    ):
        conn.execute(text(f"ALTER TABLE articles ADD COLUMN {column} {kind}"))


def _v13_store_meta_and_pauses(conn: Connection) -> None:
    """The store's instance key (made on first use) and paused digests: new
    tables, created from their definitions (copy their DDL here first if a
    later version alters them)."""
    t_store_meta.create(conn)
    t_digest_pauses.create(conn)


def _v14_claim_tokens(conn: Connection) -> None:
    """Claims become leases with fencing: a token per claim, checked where a
    row is finished; and an index for the senders' recent rates. Rows claimed
    before the upgrade have no token and are finished by worker, as before."""
    conn.execute(text("ALTER TABLE deliveries ADD COLUMN claim_token VARCHAR(32)"))
    conn.execute(
        text("CREATE INDEX ix_deliveries_edition_sent_at ON deliveries (edition_id, sent_at)")
    )


def _v15_sitemap_pages(conn: Connection) -> None:
    """What the sitemap sources listed and fetched: a new table, created
    from its definition (copy its DDL here first if a later version alters it)."""
    t_sitemap_pages.create(conn)


def _v16_signups_and_consents(conn: Connection) -> None:
    """The web sign-ups queued for the mailer and the consent records of
    confirmed ones: new tables, created from their definitions (copy their
    DDL here first if a later version alters them)."""
    t_signups.create(conn)
    t_consents.create(conn)


def _v17_suppressions(conn: Connection) -> None:
    """The suppression list: a new table, its DDL as of v17 (later versions
    may alter it), filled with the subscribers already bounced or
    unsubscribed, so an import never mails them again after the upgrade
    either. Keys are lowercased here as the store lowercases them."""
    stamp = _timestamp(conn)
    conn.execute(
        text(
            "CREATE TABLE suppressions (key VARCHAR(320) NOT NULL, address TEXT NOT NULL, "
            "kind VARCHAR(16) NOT NULL, reason TEXT NOT NULL, source VARCHAR(32) NOT NULL, "
            f"at {stamp} NOT NULL, lifted {stamp}, lifted_reason TEXT, PRIMARY KEY (key))"
        )
    )
    ended = conn.execute(
        select(t_subscribers.c.email, t_subscribers.c.status, t_subscribers.c.updated).where(
            t_subscribers.c.status.in_(("bounced", "unsubscribed"))
        )
    ).all()
    rows = [
        {
            "key": row.email.strip().lower(),
            "address": row.email,
            "kind": row.status,
            "reason": f"{row.status} before the suppression list was kept",
            "source": "migration",
            "at": row.updated,
        }
        for row in ended
    ]
    if rows:
        conn.execute(t_suppressions.insert(), rows)


def _timestamp(conn: Connection) -> str:
    # What UtcDateTime creates: DATETIME on SQLite, TIMESTAMP WITH TIME ZONE on PostgreSQL.
    return "TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"


MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    2: _v2_first_url,
    3: _v3_subscribers_and_deliveries,
    4: _v4_feed_generation,
    5: _v5_runs,
    6: _v6_feed_entries_and_changes,
    7: _v7_source_files,
    8: _v8_changed_articles,
    9: _v9_source_state_and_withdrawn,
    10: _v10_edition_left_out,
    11: _v11_inbound,
    12: _v12_image_details,
    13: _v13_store_meta_and_pauses,
    14: _v14_claim_tokens,
    15: _v15_sitemap_pages,
    16: _v16_signups_and_consents,
    17: _v17_suppressions,
}
assert sorted(MIGRATIONS) == list(range(2, SCHEMA_VERSION + 1))


def stored_version(conn: Connection) -> int | None:
    """The store's schema version, None for an empty database."""
    if not inspect(conn).has_table(t_schema_version.name):
        return None
    found = conn.execute(select(func.max(t_schema_version.c.version))).scalar()
    return None if found is None else int(found)


def _refuse_newer(where: str, version: int) -> None:
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"store {where}: schema version {version} is newer than the "
            f"{SCHEMA_VERSION} this feedpub knows; a newer feedpub upgraded it: "
            "upgrade feedpub (or point store.url elsewhere)"
        )


def ensure_schema(engine: Engine, where: str) -> int:
    """Create the schema of an empty store, or migrate an older one up to
    ``SCHEMA_VERSION``; return the version found before. Raises StoreError
    for a store newer than this code."""
    with engine.connect() as conn, writing(conn):
        found = stored_version(conn)
        if found is None:
            metadata.create_all(conn)
            conn.execute(t_schema_version.insert().values(version=SCHEMA_VERSION))
            return SCHEMA_VERSION
        _refuse_newer(where, found)
    for target in range(found + 1, SCHEMA_VERSION + 1):
        with engine.connect() as conn, writing(conn):
            now_at = stored_version(conn) or 0
            _refuse_newer(where, now_at)
            if now_at >= target:
                continue  # another process got here first
            MIGRATIONS[target](conn)
            conn.execute(t_schema_version.insert().values(version=target))
    return found
