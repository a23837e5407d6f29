"""Planning: which slot of a digest is due, and which articles it holds.

An edition is identified by (digest, scheduled slot). ``plan_edition`` finds
the slot "now" belongs to and, unless that slot already has an edition, the
articles published since the previous edition's slot, plus those the
previous edition left out for size (``left_out``). Nothing here renders or
writes anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Protocol

from feedpub import cron
from feedpub.config import DigestConfig
from feedpub.model import Article, Edition
from feedpub.text.arabic import tag_key


class EditionReader(Protocol):
    """What planning needs from a store (``store.SqlStore`` has it).
    Datetimes are UTC-aware; lists are newest first (published desc, then id
    desc)."""

    def articles_between(
        self,
        after: datetime | None,
        until: datetime,
        tag_keys: Sequence[str] = (),
        limit: int | None = None,
    ) -> list[Article]: ...

    def last_edition(self, digest: str) -> Edition | None: ...

    def get_edition(self, digest: str, slot: datetime) -> Edition | None: ...

    def editions(self, digest: str) -> list[Edition]: ...


@dataclass(frozen=True)
class PlannedEdition:
    """A due edition before rendering: articles published in (after, until],
    then any the previous edition left out for size (older, so after them),
    newest first, already capped at the digest's max_items."""

    digest: DigestConfig
    slot: datetime  # in the site's time zone
    after: datetime | None
    until: datetime
    articles: tuple[Article, ...]

    @property
    def article_ids(self) -> tuple[str, ...]:
        return tuple(article.id for article in self.articles)


def edition_articles(
    reader: EditionReader,
    digest: DigestConfig,
    after: datetime | None,
    until: datetime,
) -> list[Article]:
    """The articles of a digest edition: published in (after, until], in the
    digest's tags (all when it names none), newest first, capped at max_items."""
    keys = tuple(dict.fromkeys(tag_key(name) for name in digest.tags))
    return reader.articles_between(after, until, tag_keys=keys, limit=digest.max_items)


def left_out(reader: EditionReader, digest: DigestConfig, last: Edition) -> list[Article]:
    """The articles ``last`` was planned with but did not hold (the size guard
    left them out), newest first.

    Only ``last.dropped`` is stored, not which ones, so its window is planned
    again: from the edition before it (or first_lookback) to its slot, less
    what it held. The next edition carries them, once: if they do not fit
    there either, the window after that starts past them and they stay on
    the site only (the email's «more on the site» line points there).
    """
    if last.dropped <= 0:
        return []
    earlier = [edition.slot for edition in reader.editions(digest.name) if edition.slot < last.slot]
    after = max(earlier) if earlier else last.slot - digest.first_lookback
    held = set(last.article_ids)
    window = edition_articles(reader, digest, after, last.slot)
    return [article for article in window if article.id not in held][: last.dropped]


def plan_edition(
    reader: EditionReader, digest: DigestConfig, now: datetime, *, tz: tzinfo
) -> PlannedEdition | None:
    """The edition due at ``now``, or None: no slot yet, the slot already has
    an edition (a rerun never makes a second one), or nothing new and
    ``only_if_new``. ``tz`` is the site's time zone, the schedule's."""
    slot = cron.latest_slot(digest.schedule, tz, now)
    if slot is None or reader.get_edition(digest.name, slot) is not None:
        return None
    last = reader.last_edition(digest.name)
    if last is not None and last.slot >= slot:
        return None
    after = last.slot if last is not None else slot - digest.first_lookback
    articles = _with_left_out(reader, digest, last, edition_articles(reader, digest, after, slot))
    # Left-out articles count as new: no reader has had them in an email.
    if digest.only_if_new and not articles:
        return None
    return PlannedEdition(digest, slot.astimezone(tz), after, slot, tuple(articles))


def _with_left_out(
    reader: EditionReader, digest: DigestConfig, last: Edition | None, new: list[Article]
) -> list[Article]:
    """``new``, then what ``last`` left out for size, up to max_items in all
    (new ones first: they are newer)."""
    if last is None:
        return new
    return [*new, *left_out(reader, digest, last)][: digest.max_items]


def preview_edition(
    reader: EditionReader, digest: DigestConfig, now: datetime, *, tz: tzinfo
) -> PlannedEdition:
    """The next edition as it stands at ``now``, for ``--preview``: the due one
    if there is one, else the coming slot with what was published since the
    last edition so far. Ignores only_if_new (an empty preview is an answer)."""
    slot = cron.latest_slot(digest.schedule, tz, now)
    last = reader.last_edition(digest.name)
    due = (
        slot is not None
        and reader.get_edition(digest.name, slot) is None
        and (last is None or last.slot < slot)
    )
    if due and slot is not None:
        until = slot
    else:
        slot = cron.next_slot(digest.schedule, tz, now) or now
        until = now
    after = last.slot if last is not None else slot - digest.first_lookback
    articles = _with_left_out(reader, digest, last, edition_articles(reader, digest, after, until))
    return PlannedEdition(digest, slot.astimezone(tz), after, until, tuple(articles))
