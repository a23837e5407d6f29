"""Breaking-news alerts: a digest of ``kind: alert`` sends one message per
new article in its tags, made in the run that ingests the article.

Which articles: those first seen since the alert digest last looked (its
cursor, ``alerts_seen``; at most ``first_lookback`` back) and published
within ``first_lookback`` of now, in the digest's tags, that no alert
edition of the digest holds yet. An edit keeps an article's first sighting,
so an article merely edited never alerts, and one seen before the cursor
never does, whatever tag an edit gives it.

Each article gets its own edition, keyed (digest, ``alert_slot``): a slot
made from the article alone, so every run that finds it picks the same key
and the store's unique (digest, slot) lets one edition exist; the edition
is recorded with its deliveries in one transaction and sent through the
same claims as a digest's (``edition.Editions``). The first ``max_per_day``
of the site's local day are sent; the rest are recorded as left out
(``Edition.left_out``, no delivery), so no later run, tomorrow's included,
sends them: they wait for the regular digests, whose planning never looks
at an alert's editions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Protocol

from feedpub.config import DigestConfig
from feedpub.model import Article, Edition
from feedpub.text.arabic import tag_key

# Recorded alert editions looked at for unfinished deliveries on each run:
# a few days' worth at the largest daily cap anyone sets.
RESUME_ALERTS = 100


class AlertReader(Protocol):
    """What planning alerts needs of a store (``store.SqlStore`` has it)."""

    def articles_for_edition(
        self,
        until: datetime,
        seen_until: datetime,
        *,
        published_after: datetime,
        seen_after: datetime | None = None,
        tag_keys: Sequence[str] = (),
        limit: int | None = None,
    ) -> list[Article]: ...

    def editions_since(self, digest: str, created_after: datetime) -> list[Edition]: ...

    def alerts_seen(self, digest: str) -> datetime | None: ...


@dataclass(frozen=True)
class PlannedAlerts:
    """The new articles of one alert run, oldest first: those within the
    day's cap, and those over it."""

    digest: DigestConfig
    send: tuple[Article, ...]
    over_cap: tuple[Article, ...]
    sent_today: int  # alerts made earlier the same local day


def alert_slot(article: Article) -> datetime:
    """The (digest, slot) key of the article's alert: its first sighting to
    the second, plus a fraction of a second from its id (articles first seen
    in one run share that second)."""
    seen = article.first_seen or article.published
    fraction = int.from_bytes(hashlib.sha256(article.id.encode()).digest()[:4], "big")
    return seen.replace(microsecond=0) + timedelta(microseconds=fraction % 1_000_000)


def day_start(now: datetime, tz: tzinfo) -> datetime:
    """The start of ``now``'s local day in ``tz``, in UTC."""
    local = now.astimezone(tz)
    return datetime.combine(local.date(), time(), tzinfo=tz).astimezone(UTC)


def alert_articles(reader: AlertReader, digest: DigestConfig, now: datetime) -> list[Article]:
    """The articles in the digest's tags first seen since it last looked
    (at most ``first_lookback`` before ``now``) and published within
    ``first_lookback`` of it, oldest sighting first."""
    reach = digest.first_lookback
    looked = reader.alerts_seen(digest.name)
    since = now - reach if looked is None else max(looked, now - reach)
    keys = tuple(dict.fromkeys(tag_key(name) for name in digest.tags))
    found = reader.articles_for_edition(
        now + reach, now, published_after=now - reach, tag_keys=keys
    )
    fresh = [a for a in found if a.first_seen is not None and a.first_seen > since]
    return sorted(fresh, key=lambda a: (a.first_seen or now, a.published, a.id))


def plan_alerts(
    reader: AlertReader, digest: DigestConfig, now: datetime, *, tz: tzinfo
) -> PlannedAlerts:
    """The alerts due at ``now``: the new articles (``alert_articles``) no
    alert edition holds yet, the first ones up to the cap of ``now``'s local
    day in ``tz`` to send, the rest over it."""
    new = alert_articles(reader, digest, now)
    start = day_start(now, tz)
    earliest = min([start, *(a.first_seen for a in new if a.first_seen is not None)])
    recorded = reader.editions_since(digest.name, earliest - timedelta(seconds=1))
    held = {i for edition in recorded for i in (*edition.article_ids, *edition.left_out)}
    today = sum(1 for e in recorded if e.article_ids and e.created >= start)
    unsent = [a for a in new if a.id not in held]
    room = max(0, digest.max_per_day - today)
    return PlannedAlerts(digest, tuple(unsent[:room]), tuple(unsent[room:]), today)


def over_cap_edition(
    digest: DigestConfig, article: Article, slot: datetime, now: datetime
) -> Edition:
    """The record of an alert not sent for the daily cap: it holds nothing
    and leaves the article out, so no later run sends it."""
    return Edition(digest.name, slot, (), now, left_out=(article.id,))


@dataclass(frozen=True)
class AlertOutcome:
    """What one alert run did (``app.reports.Reported``)."""

    digest: str
    alerts: tuple[Edition, ...] = ()  # made (or joined) in this run, one per article
    over_cap: tuple[str, ...] = ()  # article ids left for the regular digests
    delivered: int = 0
    failed: int = 0
    deferred: int = 0
    skipped: int = 0
    error: str | None = None  # nothing could be done (a paused digest)
    stopped: str = ""  # a deadline cut the sending short: the rest waits for a later run

    def summary(self) -> str:
        if self.error is not None:
            return f"alert {self.digest}: error: {self.error}"
        rest = "".join(
            f", {n} {what}"
            for n, what in (
                (len(self.over_cap), "over the daily cap"),
                (self.failed, "failed"),
                (self.deferred, "deferred"),
                (self.skipped, "skipped"),
            )
            if n
        )
        return f"alert {self.digest}: {len(self.alerts)} new, {self.delivered} delivered{rest}"

    def failure(self) -> str | None:
        if self.error is not None:
            return f"alert {self.digest}: {self.error}"
        return f"alert {self.digest}: {self.stopped}" if self.stopped else None

    def counts(self) -> dict[str, int]:
        return {
            "alerts": len(self.alerts),
            "over_cap": len(self.over_cap),
            "delivered": self.delivered,
        }
