"""The tables at the current ``SCHEMA_VERSION``.

A new store is created from these definitions in one step; an older store
reaches the same shape through ``migrations``. Changing a table here means
adding a migration there (and bumping ``SCHEMA_VERSION``), and the test that
compares a migrated version-1 store with a fresh one keeps the two in step.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)

from feedpub.store.engine import UtcDateTime
from feedpub.store.interface import SCHEMA_VERSION as SCHEMA_VERSION

metadata = MetaData()

t_schema_version = Table(
    "schema_version",
    metadata,
    # One row per version reached; the highest is the store's version.
    Column("version", Integer, primary_key=True),
)

t_articles = Table(
    "articles",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("content", Text, nullable=False),
    Column("author", Text),
    Column("published", UtcDateTime, nullable=False),
    Column("updated", UtcDateTime, nullable=False),
    Column("url", Text),
    Column("image", Text),
    Column("source", Text, nullable=False),
    Column("content_hash", String(128), nullable=False),
    Column("first_seen", UtcDateTime, nullable=False),
    # v2: the URL the article had when first stored ("" when it had none;
    # NULL in rows stored before that); never changes after, so feed entry
    # ids derived from it survive a URL gained or changed later.
    Column("first_url", Text),
    # v12: what the source says of the image (NULL: unknown).
    Column("image_width", Integer),
    Column("image_height", Integer),
    Column("image_alt", Text),
    Column("image_bytes", BigInteger),
    # Main feed, archive pages and digests all read newest first.
    Index("ix_articles_published_id", "published", "id"),
)

# v4 (perf; renumber at merge): one row, bumped in the same transaction as any
# article write, so a build learns "nothing changed" from one row.
t_feed_generation = Table(
    "feed_generation",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("generation", Integer, nullable=False),
)

t_tags = Table(
    "tags",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("name", Text, nullable=False),
    Column("slug", String(255), nullable=False, unique=True),
)

t_article_tags = Table(
    "article_tags",
    metadata,
    Column(
        "article_id",
        String(255),
        ForeignKey("articles.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("tag_key", String(255), ForeignKey("tags.key"), primary_key=True),
    # A copy of articles.published so per-tag newest-N is one index range scan
    # instead of a join that sorts every article of a big tag.
    Column("published", UtcDateTime, nullable=False),
    Index("ix_article_tags_tag_published", "tag_key", "published", "article_id"),
)

t_rejects = Table(
    "rejects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("seen", UtcDateTime, nullable=False),
    Column("location", Text),
    Index("ix_rejects_seen", "seen"),
    # v7: ingest replaces a file's rejects, and counts them, by source.
    Index("ix_rejects_source", "source"),
)

t_editions = Table(
    "editions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("digest", String(255), nullable=False),
    Column("slot", UtcDateTime, nullable=False),
    Column("created", UtcDateTime, nullable=False),
    Column("dropped", Integer, nullable=False, default=0),
    # Ordered JSON list: an edition is written once and always read whole.
    Column("article_ids", Text, nullable=False),
    # v10: JSON list of the ids left out for size (NULL before v10).
    Column("left_out", Text),
    # The guard that makes re-running a slot (even concurrently) a no-op.
    UniqueConstraint("digest", "slot", name="uq_editions_digest_slot"),
)

# v3 ---------------------------------------------------------------------------

t_subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # As given (the mailbox part may be case-sensitive); unique ignoring case.
    Column("email", Text, nullable=False),
    Column("name", Text),
    Column("status", String(16), nullable=False),
    # JSON lists of names: digests (empty = every digest), tags (empty = no
    # preference). Read whole with the row, never queried inside.
    Column("digests", Text, nullable=False),
    Column("tags", Text, nullable=False),
    # Random, for confirm and unsubscribe links: the address alone must not
    # be enough to change someone's subscription.
    Column("token", String(64), nullable=False, unique=True),
    Column("created", UtcDateTime, nullable=False),
    Column("updated", UtcDateTime, nullable=False),
    Index("ix_subscribers_status_id", "status", "id"),
)
Index("uq_subscribers_email", func.lower(t_subscribers.c.email), unique=True)

t_deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("edition_id", Integer, ForeignKey("editions.id", ondelete="CASCADE"), nullable=False),
    # Kept (as NULL) when the subscriber is removed: the row still proves what
    # was sent to which address.
    Column("subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="SET NULL")),
    Column("address", Text, nullable=False),
    # Which rendering the recipient gets (tag preferences, token): the sender's key.
    Column("variant_key", Text),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("message_id", Text),
    Column("claimed_by", Text),
    # The lease: when the claim was taken or last renewed. A claim not renewed
    # for ``stale_after`` belongs to a worker that died and may be taken over.
    Column("claimed_at", UtcDateTime),
    Column("sent_at", UtcDateTime),
    Column("created", UtcDateTime, nullable=False),
    # The last change of status: how long a row has been pending or failed.
    Column("updated", UtcDateTime, nullable=False),
    # Exactly one row per recipient of an edition, however often it is enqueued.
    UniqueConstraint("edition_id", "address", name="uq_deliveries_edition_address"),
    Index("ix_deliveries_edition_status_id", "edition_id", "status", "id"),
    # v14: which claim holds the row (a random token per claim): marking it
    # sent, failed or released checks the token in the same statement, so a
    # worker whose claim was taken over can never finish the row.
    Column("claim_token", String(32)),
    # v14: what each worker sent lately (``feedpub status``: rates, progress).
    Index("ix_deliveries_edition_sent_at", "edition_id", "sent_at"),
)

# v4 ---------------------------------------------------------------------------

t_runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # "ingest", "build", "publish", "digest NAME": what ``feedpub status`` lists.
    Column("job", String(255), nullable=False),
    Column("started", UtcDateTime, nullable=False),
    Column("finished", UtcDateTime, nullable=False),
    Column("status", String(16), nullable=False),  # ok | failed
    # JSON object of the job's numbers (new, written, articles, ...).
    Column("counts", Text, nullable=False),
    Column("error", Text),
    # Which machine and process ran it (several ``serve`` share one store).
    Column("host", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Index("ix_runs_job_started", "job", "started"),
)

t_feed_entries = Table(
    "feed_entries",
    metadata,
    # One printed feed entry per slot (article, format, feed variations: see
    # feeds/entries.py), or one article page (feeds/pages.py: cache_slot),
    # valid while its fingerprint is the build's. A cache: emptying it only
    # makes the next build print every entry and page again.
    Column("slot", String(32), primary_key=True),
    Column("fingerprint", String(32), nullable=False),
    Column("data", LargeBinary, nullable=False),
)

t_feed_changes = Table(
    "feed_changes",
    metadata,
    # v6: the change journal (see journal.py): per generation, the tag keys
    # whose feeds an article write changed ("" for the main feed).
    Column("generation", Integer, primary_key=True, autoincrement=False),
    Column("tag_key", String(255), primary_key=True),
)

# v7 ---------------------------------------------------------------------------

# What ingest last read from each source file (``model.SourceFile``): a file
# whose size, mtime and settings are unchanged is not read again.
t_source_files = Table(
    "source_files",
    metadata,
    Column("path", Text, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("ctime_ns", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("context", String(64), nullable=False),
    Column("parse_key", String(64), nullable=False),
    # JSON list of [id, content_hash]: checked against the articles table
    # before a file is skipped, so a store changed behind ingest's back (a
    # restored backup, a deleted article) makes it read the file again.
    Column("articles", Text, nullable=False),
    Column("rejects", Integer, nullable=False),
    Column("read", UtcDateTime, nullable=False),
)

# v8 ---------------------------------------------------------------------------

t_feed_changed_articles = Table(
    "feed_changed_articles",
    metadata,
    # v8: beside feed_changes, the ids of the articles each generation wrote,
    # so an incremental build checks the pages of those articles only.
    Column("generation", Integer, primary_key=True, autoincrement=False),
    Column("article_id", String(255), primary_key=True),
)

# v9 ---------------------------------------------------------------------------

t_source_state = Table(
    "source_state",
    metadata,
    # One row per source (``ingest.Source.name``): its checkpoint, moved in
    # the transaction that stores what it covers, and its last sync.
    Column("source", String(255), primary_key=True),
    Column("cursor", Text),
    Column("synced", UtcDateTime),  # the last read that ended without error
    Column("error", Text),  # why the last read failed; NULL when it worked
    Column("error_at", UtcDateTime),
)

t_withdrawn = Table(
    "withdrawn_articles",
    metadata,
    # Articles taken out of every feed, page and future digest: their source
    # no longer has them, or an editor withdrew them (``by_hand``: such an
    # id stays out even while its source still has it).
    Column("id", String(255), primary_key=True),
    Column("source", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("withdrawn", UtcDateTime, nullable=False),
    Column("by_hand", Boolean, nullable=False),
)

# v11 --------------------------------------------------------------------------

t_inbound_messages = Table(
    "inbound_messages",
    metadata,
    # The hash of the message's bytes (or "smtp-refusal:<delivery id>"): a
    # message read again, after a crash or from another copy, is found here
    # and never decided twice.
    Column("key", String(80), primary_key=True),
    Column("kind", String(16), nullable=False),  # model.InboundKind
    Column("state", String(16), nullable=False),  # recorded | done | kept
    Column("received", UtcDateTime, nullable=False),
    Column("updated", UtcDateTime, nullable=False),
    Column("message_id", Text, nullable=False),
    Column("sender", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("detector", String(32), nullable=False),
    # Where it was read: the mailbox, and the message in it (a Maildir
    # file's unique name, or "uidvalidity/uid").
    Column("mailbox", Text, nullable=False),
    Column("location", Text, nullable=False),
    # JSON list of the effects decided (model.InboundEffect): applied again,
    # idempotently, when a crash left the row recorded but not done.
    Column("effects", Text, nullable=False),
    Index("ix_inbound_messages_state_received", "state", "received"),
)

t_inbound_events = Table(
    "inbound_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "message_key",
        String(80),
        ForeignKey("inbound_messages.key", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("address", Text, nullable=False),  # lower-cased
    Column("kind", String(16), nullable=False),  # model.FeedbackKind
    # What came back for which delivery (kept as NULL when its edition goes).
    Column("delivery_id", Integer, ForeignKey("deliveries.id", ondelete="SET NULL")),
    Column("status", String(16), nullable=False),
    Column("detail", Text, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    # Soft bounces of an address within a window; an edition's rates.
    Index("ix_inbound_events_address_kind_at", "address", "kind", "at"),
    Index("ix_inbound_events_delivery", "delivery_id"),
)

# v13 --------------------------------------------------------------------------

t_store_meta = Table(
    "store_meta",
    metadata,
    # Facts about the store itself: "instance", a random key made once, which
    # every Message-ID carries so two stores never mint the same one.
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

t_digest_pauses = Table(
    "digest_pauses",
    metadata,
    # A digest whose edition drew too many hard bounces or complaints sends
    # nothing until an operator resumes it (feedpub digests resume NAME).
    Column("digest", String(255), primary_key=True),
    Column("reason", Text, nullable=False),
    Column("paused", UtcDateTime, nullable=False),
)

# v15 --------------------------------------------------------------------------

t_sitemap_pages = Table(
    "sitemap_pages",
    metadata,
    # Each page a sitemap source lists: its lastmod as the sitemap says now,
    # and what the source last fetched (the lastmod then, the answer's
    # validators, the article it gave), written in the transaction that
    # stores that article. A page is fetched again when its lastmod moves.
    Column("source", String(255), primary_key=True),
    Column("url", String(2048), primary_key=True),
    Column("lastmod", UtcDateTime),
    Column("fetched", UtcDateTime),  # when it was last fetched (NULL: never)
    Column("fetched_lastmod", UtcDateTime),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("article_id", String(255)),
)

# v16 --------------------------------------------------------------------------

t_signups = Table(
    "signups",
    metadata,
    # What the web form asked for, queued as it came: the page answers at
    # once and alike for every address; the mailer (subscribers.signups)
    # reads the address's state afterwards and sends the mail it calls for.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", Text, nullable=False),  # normalised, lower case
    Column("name", Text),
    Column("digests", Text, nullable=False),  # JSON list of names, as subscribers.digests
    Column("client", String(64), nullable=False),  # the client's IP address
    Column("requested", UtcDateTime, nullable=False),
    # queued -> claimed (a mailer works on it) -> confirm (confirmation sent),
    # already (the "already subscribed" mail sent), limited (no mail: one was
    # sent within the hour) -> confirmed (its link was followed).
    Column("state", String(16), nullable=False),
    Column("claimed", UtcDateTime),
    Column("mailed", UtcDateTime),
    Column("confirmed", UtcDateTime),
    Column("confirm_client", String(64)),
    Index("ix_signups_state_id", "state", "id"),
    # The per-client limit counts a client's recent sign-ups.
    Index("ix_signups_client_requested", "client", "requested"),
    # The per-address limit counts an address's recent mails.
    Index("ix_signups_email_mailed", "email", "mailed"),
)

t_consents = Table(
    "consents",
    metadata,
    # One row per confirmed sign-up, never changed after: when and from where
    # the address asked, and when and from where the link in its mail was
    # followed (feedpub subscribers show EMAIL).
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", Text, nullable=False),  # lower case
    Column("signup_id", Integer, nullable=False),
    Column("signed_up", UtcDateTime, nullable=False),
    Column("signup_client", String(64), nullable=False),
    Column("confirmed", UtcDateTime, nullable=False),
    Column("confirm_client", String(64), nullable=False),
    Index("ix_consents_email", "email"),
)


# v17 --------------------------------------------------------------------------

t_suppressions = Table(
    "suppressions",
    metadata,
    # The suppression list: addresses an import, the seed file or
    # ``subscribers add`` must not mail again. One row per address (its
    # lowercased form, so any spelling matches), kept after the subscriber
    # row is removed; ``lifted`` is set when the address subscribes again.
    Column("key", String(320), primary_key=True),
    Column("address", Text, nullable=False),  # as first given
    Column("kind", String(16), nullable=False),  # bounced, unsubscribed, removed
    Column("reason", Text, nullable=False),
    Column("source", String(32), nullable=False),  # inbound, web, operator, migration
    Column("at", UtcDateTime, nullable=False),
    Column("lifted", UtcDateTime),
    Column("lifted_reason", Text),
)
