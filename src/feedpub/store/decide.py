"""What an upsert does with an incoming article, decided without I/O.

The store reads what it holds, asks these functions, and writes the answer;
so the rules are tested as plain values (``tests/store/test_decide.py``)
and no SQLAlchemy is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from feedpub.model import Article, UpsertOutcome


@dataclass(frozen=True)
class Stored:
    """What the decision needs to know about an article already stored."""

    content_hash: str
    updated: datetime
    first_seen: datetime
    tag_keys: frozenset[str]
    first_url: str | None = None


@dataclass(frozen=True)
class Decision:
    """The outcome, and for "new" and "updated" the values to write."""

    outcome: UpsertOutcome
    updated: datetime
    first_seen: datetime
    first_url: str | None

    def as_stored(self, article: Article) -> Stored:
        """What the store holds after this decision is written."""
        keys = frozenset(tag.key for tag in article.tags)
        return Stored(article.content_hash, self.updated, self.first_seen, keys, self.first_url)


def moved_forward(incoming: datetime, stored: datetime, now: datetime) -> datetime:
    """The ``updated`` time of a changed article: a change must be visible to
    feed readers as a newer entry, even when the source did not bump (or
    moved back) its own time, so it only ever moves forward."""
    return incoming if incoming > stored else now


def kept_first_url(stored: str | None, incoming: str | None) -> str:
    """The URL an article was first stored with, for good: "" when it had
    none, so a URL it gains later never becomes its feed entry id (readers
    would show it twice). A row stored before "" was written (None) was
    first stored without a URL too: rows stored with one had it copied."""
    return stored if stored is not None else ""


def decide(article: Article, stored: Stored | None, now: datetime) -> Decision:
    """New when not stored; unchanged when the content hash and the tag keys
    are the same (the hash covers the URL, so a new URL is a change); else
    updated, keeping ``first_seen`` and the first URL."""
    if stored is None:
        return Decision("new", article.updated, now, article.url or "")
    keys = frozenset(tag.key for tag in article.tags)
    if stored.content_hash == article.content_hash and stored.tag_keys == keys:
        return Decision("unchanged", stored.updated, stored.first_seen, stored.first_url)
    return Decision(
        "updated",
        moved_forward(article.updated, stored.updated, now),
        stored.first_seen,
        kept_first_url(stored.first_url, article.url),
    )
