"""Planning: which slot of a digest is due, and which articles it holds.

An edition is identified by (digest, scheduled slot). ``plan_edition`` finds
the slot "now" belongs to and, unless that slot already has an edition, the
articles its readers have not been sent yet. Nothing here renders or writes
anything.

What an edition holds is what its readers have not been sent yet, not what
was published in a window: the articles published by its slot and first
seen by the time it is made that the last edition could not hold (published
after its slot, or first seen after it was made), newest first, up to
``max_items``. An article published at 06:55 and ingested at 07:10, after
the 07:00 edition was made, goes in the next one (a window of publication
times would skip it for good). The first edition reaches back
``first_lookback`` before its slot; later ones take a late article however
old, and say so in the log. The cap applies to a late batch as to any
burst; an article the size guard left out is carried once more, never a
third time. An edited article keeps its first sighting and its id, and no
edition repeats what the last ``RECENT_EDITIONS`` held, so it never comes
twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Protocol

from feedpub import cron
from feedpub.config import DigestConfig
from feedpub.model import Article, Edition
from feedpub.text.arabic import tag_key

log = logging.getLogger(__name__)


class EditionReader(Protocol):
    """What planning needs from a store (``store.SqlStore`` has it).
    Datetimes are UTC-aware; lists are newest first (published desc, then id
    desc)."""

    def articles_for_edition(
        self,
        until: datetime,
        seen_until: datetime,
        *,
        published_after: datetime,
        seen_after: datetime | None = None,
        tag_keys: Sequence[str] = (),
        limit: int | None = None,
    ) -> list[Article]:
        """Published by ``until`` and first seen by ``seen_until``, and
        published after ``published_after`` or first seen after ``seen_after``."""
        ...

    def last_edition(self, digest: str) -> Edition | None: ...

    def get_edition(self, digest: str, slot: datetime) -> Edition | None: ...

    def editions(self, digest: str) -> list[Edition]: ...

    def articles_by_ids(self, ids: Sequence[str]) -> list[Article]:
        """Whole articles, in the given order; unknown ids skipped."""
        ...


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


# The editions a new one never repeats: an edit that moves an article's
# publication time past their slots must not send it again.
RECENT_EDITIONS = 7


def edition_articles(
    reader: EditionReader,
    digest: DigestConfig,
    slot: datetime,
    made: datetime,
    editions: Sequence[Edition],
) -> list[Article]:
    """The articles of an edition of ``slot`` made at ``made``, after
    ``editions`` (the digest's, newest first): what the last one could not
    hold, in the digest's tags (all when it names none), newest first, then
    what it left out for size (once), up to max_items."""
    recent = editions[:RECENT_EDITIONS]
    last = recent[0] if recent else None
    held = {i for edition in recent for i in edition.article_ids}
    keys = tuple(dict.fromkeys(tag_key(name) for name in digest.tags))
    found = reader.articles_for_edition(
        slot,
        made,
        published_after=slot - digest.first_lookback if last is None else last.slot,
        seen_after=None if last is None else last.created,
        tag_keys=keys,
        limit=digest.max_items + len(held),
    )
    new = [a for a in found if a.id not in held]
    if last is not None:
        new += _carried(reader, last, recent[1:], held | {a.id for a in new})
    return new[: digest.max_items]


def _carried(
    reader: EditionReader, last: Edition, before: Sequence[Edition], skip: set[str]
) -> list[Article]:
    """What ``last`` left out for size, unless an edition before it did too
    (an article too big for any email must not come back every time)."""
    twice = {i for edition in before for i in edition.left_out}
    ids = [i for i in last.left_out if i not in twice and i not in skip]
    return reader.articles_by_ids(ids) if ids else []


def plan_edition(
    reader: EditionReader, digest: DigestConfig, now: datetime, *, tz: tzinfo
) -> PlannedEdition | None:
    """The edition due at ``now``, or None: no slot yet, the slot already has
    an edition (a rerun never makes a second one), or nothing new and
    ``only_if_new``. ``tz`` is the site's time zone, the schedule's."""
    slot = cron.latest_slot(digest.schedule, tz, now)
    if slot is None or reader.get_edition(digest.name, slot) is not None:
        return None
    editions = reader.editions(digest.name)
    last = editions[0] if editions else None
    if last is not None and last.slot >= slot:
        return None
    articles = edition_articles(reader, digest, slot, now, editions)
    if last is not None:
        _say_late(digest, slot, last, articles)
    if digest.only_if_new and not articles:
        return None
    after = last.slot if last is not None else slot - digest.first_lookback
    return PlannedEdition(digest, slot.astimezone(tz), after, slot, tuple(articles))


def _say_late(
    digest: DigestConfig, slot: datetime, last: Edition, articles: Sequence[Article]
) -> None:
    """Log the articles an edition takes although they were published before
    the digest's reach-back: first seen only since the last edition."""
    reach = slot - digest.first_lookback
    late = [
        a
        for a in articles
        if a.published <= reach and a.first_seen is not None and a.first_seen > last.created
    ]
    if late:
        log.info(
            "digest %s: %d articles published before %s were first seen lately and go in "
            "this edition (%s)",
            digest.name,
            len(late),
            reach.isoformat(),
            ", ".join(a.id for a in late),
        )


def preview_edition(
    reader: EditionReader, digest: DigestConfig, now: datetime, *, tz: tzinfo
) -> PlannedEdition:
    """The next edition as it stands at ``now``, for ``--preview``: the due one
    if there is one, else the coming slot with what it would hold so far.
    Ignores only_if_new (an empty preview is an answer)."""
    slot = cron.latest_slot(digest.schedule, tz, now)
    editions = reader.editions(digest.name)
    last = editions[0] if editions else None
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
    articles = edition_articles(reader, digest, until, now, editions)
    if last is None:  # the coming slot's reach-back, not the window's end's
        articles = [a for a in articles if a.published > slot - digest.first_lookback]
    after = last.slot if last is not None else slot - digest.first_lookback
    return PlannedEdition(digest, slot.astimezone(tz), after, until, tuple(articles))
