"""The values every stage speaks: small, frozen, tz-aware.

Nothing here imports anything else of feedpub; everything else imports this.
Datetimes are always timezone-aware (constructing a value with a naive one
raises ``ValueError``), so no stage ever has to guess a zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, NamedTuple


def require_aware(name: str, value: datetime | None) -> None:
    """Raise ValueError when ``value`` is a naive datetime."""
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


@dataclass(frozen=True, order=True)
class Tag:
    """A topic. Identified by ``key`` (the normalised spelling); ``name`` is
    the first spelling seen, ``slug`` is safe as one URL path segment and one
    file name."""

    key: str
    name: str
    slug: str


@dataclass(frozen=True)
class Article:
    """One news article as stored. ``content`` is sanitised HTML."""

    id: str
    title: str
    summary: str
    content: str
    published: datetime
    updated: datetime
    author: str | None = None
    url: str | None = None
    image: str | None = None
    tags: tuple[Tag, ...] = ()
    source: str = ""
    content_hash: str = ""
    first_seen: datetime | None = None
    # The URL as first stored (set by the store, ignored on the way in): ids
    # derived from it stay put when the URL is added or changed later.
    first_url: str | None = None
    # What the source says of ``image`` (WordPress media_details and alt_text,
    # og:image:width/height/alt): pixels, its alternative text, its size in
    # bytes. Unknown: None (or ""); feeds then leave the attribute out.
    image_width: int | None = None
    image_height: int | None = None
    image_alt: str = ""
    image_bytes: int | None = None

    def __post_init__(self) -> None:
        require_aware("Article.published", self.published)
        require_aware("Article.updated", self.updated)
        require_aware("Article.first_seen", self.first_seen)


@dataclass(frozen=True)
class Reject:
    """Input that could not be used: where it came from and why."""

    source: str
    reason: str
    seen: datetime
    location: str | None = None  # "line 12", "id abc", ...

    def __post_init__(self) -> None:
        require_aware("Reject.seen", self.seen)

    def describe(self) -> str:
        where = f"{self.source}:{self.location}" if self.location else self.source
        return f"{where}: {self.reason}"


UpsertOutcome = Literal["new", "updated", "unchanged"]


@dataclass(frozen=True)
class IngestReport:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    withdrawn: int = 0  # articles their source no longer has
    failed_sources: tuple[str, ...] = ()  # why each source that could not be read failed

    def summary(self) -> str:
        return (
            f"ingest: {self.new} new, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.rejected} rejected"
            + (f", {self.withdrawn} withdrawn" if self.withdrawn else "")
            + (f"; {len(self.failed_sources)} sources failed" if self.failed_sources else "")
        )

    def failure(self) -> str | None:
        """Why the job failed in part (sources that could not be read)."""
        return "; ".join(self.failed_sources) or None

    def counts(self) -> dict[str, int]:
        """The numbers recorded and logged for the job."""
        return {
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
        }


@dataclass(frozen=True)
class Edition:
    """One issue of a digest: identified by (digest, slot), the scheduled time
    it belongs to, so re-running a slot never makes a second edition."""

    digest: str
    slot: datetime
    article_ids: tuple[str, ...]
    created: datetime
    dropped: int = 0  # items left out to keep the email under the clip size
    # Which ones (v10; () in editions recorded before): the next edition
    # carries them once more, never a third time.
    left_out: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        require_aware("Edition.slot", self.slot)
        require_aware("Edition.created", self.created)


SubscriberStatus = Literal["pending", "active", "unsubscribed", "bounced"]
SUBSCRIBER_STATUSES: tuple[SubscriberStatus, ...] = ("pending", "active", "unsubscribed", "bounced")


@dataclass(frozen=True)
class Subscriber:
    """A digest recipient. ``digests`` empty means every digest; ``tags``
    empty means no preference. ``token`` is their link key: their preferences
    links are signed under it, and leaving draws a new one (which revokes
    them). Only ``active`` subscribers receive anything."""

    id: int
    email: str
    status: SubscriberStatus
    created: datetime
    updated: datetime
    token: str
    name: str | None = None
    digests: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        require_aware("Subscriber.created", self.created)
        require_aware("Subscriber.updated", self.updated)

    def receives(self, digest: str, *, opt_in: bool = False) -> bool:
        """Active, and ``digest`` among their digests (none listed: every
        digest, except an ``opt_in`` one, such as an alert, which only those
        who chose it get)."""
        chosen = digest in self.digests
        return self.status == "active" and (chosen or (not self.digests and not opt_in))


# Why an address is on the suppression list: it bounced hard, its reader
# unsubscribed or complained (both "unsubscribed"; the reason says which), or
# an operator removed it (remembered so the seed file does not add it back).
SuppressionKind = Literal["bounced", "unsubscribed", "removed"]


@dataclass(frozen=True)
class Suppression:
    """An address that an import, the seed file or ``subscribers add`` must
    not mail again, and why. ``lifted`` is set when it was subscribed again
    (a confirmed sign-up, or ``subscribers add --resubscribe --reason``)."""

    address: str
    kind: SuppressionKind
    reason: str
    source: str  # who said so: inbound, web, operator, migration
    at: datetime
    lifted: datetime | None = None
    lifted_reason: str | None = None

    def __post_init__(self) -> None:
        require_aware("Suppression.at", self.at)

    @property
    def active(self) -> bool:
        return self.lifted is None

    def describe(self) -> str:
        """One line: ``unsubscribed on 2026-11-29 (web): unsubscribed from daily``."""
        by = f" ({self.source})" if self.source else ""
        return f"{self.kind} on {self.at.date().isoformat()}{by}: {self.reason}"


class Preferences(NamedTuple):
    """A subscriber's choices as the preferences page shows them. A tuple, so
    a store may return a plain ``(digests, tags)`` pair."""

    digests: tuple[str, ...]  # digest (list) names the subscriber receives
    tags: tuple[str, ...]  # only articles with one of these tags; empty: all


DeliveryStatus = Literal["pending", "claimed", "sent", "failed", "skipped"]
DELIVERY_STATUSES: tuple[DeliveryStatus, ...] = ("pending", "claimed", "sent", "failed", "skipped")


@dataclass(frozen=True)
class Delivery:
    """One edition to one recipient: the record that makes sending exactly
    once. ``claimed`` while a worker sends it; ``attempts`` counts the tries
    that ended (sent, failed, released, or lost with a dead worker)."""

    id: int
    edition_id: int
    address: str
    status: DeliveryStatus
    created: datetime
    updated: datetime
    subscriber_id: int | None = None
    variant_key: str | None = None
    attempts: int = 0
    last_error: str | None = None
    message_id: str | None = None
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    sent_at: datetime | None = None

    def __post_init__(self) -> None:
        require_aware("Delivery.created", self.created)
        require_aware("Delivery.updated", self.updated)
        require_aware("Delivery.claimed_at", self.claimed_at)
        require_aware("Delivery.sent_at", self.sent_at)


@dataclass(frozen=True)
class BuildReport:
    """What a feed build did to the output folder (paths relative to it)."""

    written: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def summary(self) -> str:
        return (
            f"build: {len(self.written)} written, {len(self.unchanged)} unchanged, "
            f"{len(self.removed)} removed"
        )

    def failure(self) -> str | None:
        return None

    def counts(self) -> dict[str, int]:
        """The numbers recorded and logged for the job."""
        return {
            "written": len(self.written),
            "unchanged": len(self.unchanged),
            "removed": len(self.removed),
        }


# --- operations ----------------------------------------------------------------

RunStatus = Literal["ok", "failed"]


@dataclass(frozen=True)
class JobRun:
    """One run of one job ("ingest", "build", "digest NAME", "publish"), as
    recorded in the store for ``feedpub status``. ``counts`` holds the job's
    numbers (new, written, articles, ...); ``error`` the one-line failure."""

    job: str
    started: datetime
    finished: datetime
    status: RunStatus
    counts: Mapping[str, int] = field(default_factory=dict)
    error: str | None = None
    host: str = ""
    pid: int = 0

    def __post_init__(self) -> None:
        require_aware("started", self.started)
        require_aware("finished", self.finished)

    @property
    def duration(self) -> float:
        """Seconds the job took."""
        return (self.finished - self.started).total_seconds()


# --- ingest bookkeeping ----------------------------------------------------------


@dataclass(frozen=True)
class SourceFile:
    """What ingest last read from one source file, so an unchanged file is
    not read again. ``context`` is the settings (and, for a page, its
    folder's files) it was read under. ``parse_key`` is the settings (and, for
    a page, the lines its folder's learned chrome removed): with the same
    sha256, the file reads the same without parsing it. With the same size,
    mtime and ctime, the file is taken as unchanged unread."""

    path: str
    size: int
    mtime_ns: int
    # The inode's change time too, which no one sets by hand (os.utime, cp -p
    # and tar set mtimes): -1 when it was changed as it was read, so size and
    # times prove nothing and the next run hashes it.
    ctime_ns: int
    sha256: str
    context: str
    parse_key: str
    articles: tuple[tuple[str, str], ...]  # (id, content_hash) it gave
    rejects: int  # how many rejects it gave


@dataclass(frozen=True)
class SitemapPage:
    """What a sitemap source knows of one page its sitemaps list: the
    lastmod they give now, and what it last fetched (when, the lastmod then,
    the answer's validators, the article it gave)."""

    url: str
    lastmod: datetime | None = None
    fetched: datetime | None = None  # None: never fetched
    fetched_lastmod: datetime | None = None
    etag: str | None = None
    last_modified: str | None = None
    article_id: str | None = None

    @property
    def due(self) -> bool:
        """Never fetched, or its lastmod moved since."""
        if self.fetched is None:
            return True
        return self.lastmod is not None and (
            self.fetched_lastmod is None or self.lastmod > self.fetched_lastmod
        )


# --- the mail that comes back (inbound) ------------------------------------------

# What an inbound message was found to be: a delivery status notification, a
# spam complaint (ARF), an unsubscribe by mail, an automatic reply, or
# anything else (kept in the mailbox for a person).
InboundKind = Literal["bounce", "complaint", "unsubscribe", "auto_reply", "other"]
INBOUND_KINDS: tuple[InboundKind, ...] = (
    "bounce",
    "complaint",
    "unsubscribe",
    "auto_reply",
    "other",
)
# recorded: its effects decided and stored, not yet all applied; done: applied
# (the message may be moved out); kept: left in the mailbox for a person.
InboundState = Literal["recorded", "done", "kept"]
# hard: a permanent failure (5.x.x); soft: a transient one the sending MTA
# gave up on (Action: failed, 4.x.x); delayed: a warning, the message may still
# arrive; complaint: the recipient called it spam; unsubscribe: asked by mail.
FeedbackKind = Literal["hard", "soft", "delayed", "complaint", "unsubscribe"]
EffectAction = Literal["bounce", "unsubscribe"]


@dataclass(frozen=True)
class InboundEvent:
    """What one inbound message (or one SMTP refusal) says of one address:
    the history soft bounces are counted in, and per delivery what came back."""

    address: str
    kind: FeedbackKind
    delivery_id: int | None = None
    status: str = ""  # the enhanced status code ("5.1.1"), when there is one
    detail: str = ""  # the diagnostic, one line


@dataclass(frozen=True)
class InboundEffect:
    """A decision about a subscriber, applied by the caller: ``bounce`` marks
    the address bounced; ``unsubscribe`` stops ``list_name`` (None: every
    list). ``reason`` is one line saying why (for logs and the store)."""

    address: str
    action: EffectAction
    reason: str
    delivery_id: int | None = None
    list_name: str | None = None


@dataclass(frozen=True)
class InboundRecord:
    """One inbound message as the store keeps it: ``key`` is the hash of its
    bytes (or ``smtp-refusal:<delivery id>``), so reading it again never
    decides twice. ``location`` is where it was read (a Maildir file's
    unique name, ``uidvalidity/uid`` on IMAP), for listing what is kept."""

    key: str
    kind: InboundKind
    state: InboundState
    received: datetime
    message_id: str = ""
    sender: str = ""
    subject: str = ""
    detector: str = ""
    mailbox: str = ""
    location: str = ""
    effects: tuple[InboundEffect, ...] = ()

    def __post_init__(self) -> None:
        require_aware("InboundRecord.received", self.received)


@dataclass(frozen=True)
class FeedbackCounts:
    """Per edition: how many of its deliveries came back, by kind (each
    delivery counted once per kind)."""

    hard: int = 0
    soft: int = 0
    complaints: int = 0
    unsubscribes: int = 0


# --- sign-ups from the web form -----------------------------------------------------

SignupState = Literal["queued", "claimed", "confirm", "already", "limited", "failed", "confirmed"]


@dataclass(frozen=True)
class SignupRequest:
    """What the sign-up form asked for, as the web app queues it: the
    address normalised and lower-cased, ``client`` the client's IP address."""

    email: str
    name: str | None
    digests: tuple[str, ...]
    client: str
    requested: datetime

    def __post_init__(self) -> None:
        require_aware("SignupRequest.requested", self.requested)


@dataclass(frozen=True)
class Signup:
    """A queued sign-up and what became of it (``state``)."""

    id: int
    request: SignupRequest
    state: SignupState
    mailed: datetime | None = None
    confirmed: datetime | None = None
    confirm_client: str | None = None


@dataclass(frozen=True)
class Consent:
    """A confirmed sign-up: when and from where it was asked for, and when
    and from where its confirmation link was followed."""

    email: str
    signup_id: int
    signed_up: datetime
    signup_client: str
    confirmed: datetime
    confirm_client: str
