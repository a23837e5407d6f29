"""Planning: which slot of a digest is due, and which articles it holds.

An edition is identified by (digest, scheduled slot). ``plan_edition`` finds
the slot "now" belongs to and, unless that slot already has an edition, the
articles no earlier edition could hold, plus those the previous edition left
out for size (``left_out``). Nothing here renders or writes anything.

What an edition holds is what its readers have not been sent yet, not what
was published in a window: an article enters the first edition made after
it was first seen and published by that edition's slot. An article
published at 06:55 and ingested at 07:10, after the 07:00 edition was made,
goes in the next one (a window of publication times would skip it for
good). The first edition reaches back ``first_lookback`` before its slot;
later ones take a late article however old, and say so in the log. An
edited article keeps its first sighting, so it never comes twice.
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
        after: datetime | None = None,
        previous: tuple[datetime, datetime] | None = None,
        tag_keys: Sequence[str] = (),
        limit: int | None = None,
    ) -> list[Article]:
        """Published by ``until`` and first seen by ``seen_until``; with
        ``previous`` (slot, made) only what that edition could not hold;
        with ``after``, published after it."""
        ...

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


# Recent editions whose articles a new one never repeats (an article whose
# publication time an edit moved past the last slot would qualify again).
RECENT_EDITIONS = 7


def edition_articles(
    reader: EditionReader,
    digest: DigestConfig,
    slot: datetime,
    made: datetime,
    previous: Edition | None,
    *,
    held: frozenset[str] = frozenset(),
) -> list[Article]:
    """The articles of an edition of ``slot`` made at ``made``, after
    ``previous`` (None: the first, reaching back first_lookback): in the
    digest's tags (all when it names none), not among ``held``, newest
    first, capped at max_items."""
    keys = tuple(dict.fromkeys(tag_key(name) for name in digest.tags))
    found = reader.articles_for_edition(
        slot,
        made,
        after=slot - digest.first_lookback if previous is None else None,
        previous=None if previous is None else (previous.slot, previous.created),
        tag_keys=keys,
        limit=digest.max_items + len(held),
    )
    return [a for a in found if a.id not in held][: digest.max_items]


def left_out(reader: EditionReader, digest: DigestConfig, last: Edition) -> list[Article]:
    """The articles ``last`` was planned with but did not hold (the size guard
    left them out), newest first.

    Only ``last.dropped`` is stored, not which ones, so ``last`` is planned
    again, as it was made, less what it held. The next edition carries them,
    once: if they do not fit there either, they stay on the site only (the
    email's «more on the site» line points there).
    """
    if last.dropped <= 0:
        return []
    before = [edition for edition in reader.editions(digest.name) if edition.slot < last.slot]
    window = edition_articles(
        reader, digest, last.slot, last.created, before[0] if before else None
    )
    held = set(last.article_ids)
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
    recent = reader.editions(digest.name)[:RECENT_EDITIONS]
    last = recent[0] if recent else None
    if last is not None and last.slot >= slot:
        return None
    held = frozenset(i for edition in recent for i in edition.article_ids)
    new = edition_articles(reader, digest, slot, now, last, held=held)
    _say_late(digest, slot, new)
    articles = _with_left_out(reader, digest, last, new)
    # Left-out articles count as new: no reader has had them in an email.
    if digest.only_if_new and not articles:
        return None
    after = last.slot if last is not None else slot - digest.first_lookback
    return PlannedEdition(digest, slot.astimezone(tz), after, slot, tuple(articles))


def _say_late(digest: DigestConfig, slot: datetime, articles: Sequence[Article]) -> None:
    """Log the articles an edition takes although they were published before
    the digest's reach-back: first seen only after the last edition."""
    reach = slot - digest.first_lookback
    late = [a for a in articles if a.published <= reach]
    if late:
        log.info(
            "digest %s: %d articles published before %s were first seen since the last "
            "edition and go in this one (%s)",
            digest.name,
            len(late),
            reach.isoformat(),
            ", ".join(a.id for a in late),
        )


def _with_left_out(
    reader: EditionReader, digest: DigestConfig, last: Edition | None, new: list[Article]
) -> list[Article]:
    """``new``, then what ``last`` left out for size, up to max_items in all
    (new ones first: they are newer)."""
    if last is None:
        return new
    more = [a for a in left_out(reader, digest, last) if a.id not in {n.id for n in new}]
    return [*new, *more][: digest.max_items]


def preview_edition(
    reader: EditionReader, digest: DigestConfig, now: datetime, *, tz: tzinfo
) -> PlannedEdition:
    """The next edition as it stands at ``now``, for ``--preview``: the due one
    if there is one, else the coming slot with what it would hold so far.
    Ignores only_if_new (an empty preview is an answer)."""
    slot = cron.latest_slot(digest.schedule, tz, now)
    recent = reader.editions(digest.name)[:RECENT_EDITIONS]
    last = recent[0] if recent else None
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
    held = frozenset(i for edition in recent for i in edition.article_ids)
    new = edition_articles(reader, digest, until, now, last, held=held)
    if last is None:  # the coming slot's reach-back, not the window's end's
        new = [a for a in new if a.published > slot - digest.first_lookback]
    articles = _with_left_out(reader, digest, last, new)
    after = last.slot if last is not None else slot - digest.first_lookback
    return PlannedEdition(digest, slot.astimezone(tz), after, until, tuple(articles))
