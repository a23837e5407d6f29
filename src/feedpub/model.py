"""The values every stage speaks: small, frozen, tz-aware.

Nothing here imports anything else of feedpub; everything else imports this.
Datetimes are always timezone-aware (constructing a value with a naive one
raises ``ValueError``), so no stage ever has to guess a zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal


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

    def summary(self) -> str:
        return (
            f"ingest: {self.new} new, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.rejected} rejected"
        )


@dataclass(frozen=True)
class Edition:
    """One issue of a digest: identified by (digest, slot), the scheduled time
    it belongs to, so re-running a slot never makes a second edition."""

    digest: str
    slot: datetime
    article_ids: tuple[str, ...]
    created: datetime
    dropped: int = 0  # items left out to keep the email under the clip size

    def __post_init__(self) -> None:
        require_aware("Edition.slot", self.slot)
        require_aware("Edition.created", self.created)


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
