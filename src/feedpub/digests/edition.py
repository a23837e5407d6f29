"""One digest's edition from plan to recipients, exactly once.

The flow: plan -> render -> write the archive (the email's «view in
browser» link points at it) -> RECORD the edition together with one delivery
per recipient, in one transaction (or join the edition another run recorded
first, deliveries and all) -> ``delivery.deliver`` claims a batch, this
module composes each message, the sender hands it over, delivery marks it ->
next batch until none. A crash before the record leaves neither edition nor
deliveries (the next run makes the edition); a crash after leaves
deliveries the next run finishes (``Editions.digest`` resumes the latest
``RESUME_EDITIONS``). An alert digest (``Editions.alerts``) goes the same
way with one edition per new article, right after each ingest (``alerts``).

``Editions`` is handed everything it uses by the composition root: the
store (the narrow ``EditionFlowStore``), the renderer, a sender and the
signing secret (both opened on first use), the clock, and its config
sections; never the whole config.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from typing import Protocol

from feedpub import delivery
from feedpub.config import DeliveryConfig, DigestConfig, EmailConfig
from feedpub.digests.alerts import (
    RESUME_ALERTS,
    AlertOutcome,
    AlertReader,
    alert_slot,
    over_cap_edition,
    plan_alerts,
)
from feedpub.digests.archive import write_archive
from feedpub.digests.headers import message_id
from feedpub.digests.message import Prepared, build_message, personalize, prepare_message
from feedpub.digests.plan import EditionReader, PlannedEdition, plan_edition, preview_edition
from feedpub.digests.render import Renderer, edition_record
from feedpub.model import (
    Article,
    Delivery,
    DeliveryStatus,
    Edition,
    FeedbackCounts,
    Subscriber,
)
from feedpub.store import StoreError
from feedpub.text.arabic import tag_key
from feedpub.text.uri import ascii_domain
from feedpub.tokens import make_token, preferences_scope

log = logging.getLogger(__name__)

# Recorded editions looked at for unfinished deliveries on each run: the
# latest, and the one before it (a run that died in yesterday's slot is
# finished by today's).
RESUME_EDITIONS = 2

Clock = Callable[[], datetime]
# Slots tried for one alert before giving up: each try passes an alert of
# another article whose slot met this one's (one in a million per pair).
ALERT_SLOT_TRIES = 1000
# How far back ``--preview`` of an alert digest looks for its newest article.
PREVIEW_REACH = timedelta(days=3653)


class EditionFlowStore(EditionReader, AlertReader, delivery.DeliveryQueue, Protocol):
    """What the edition flow needs of the store (``store.SqlStore`` has it)."""

    def subscribers_for(self, digest: str, *, opt_in: bool = False) -> Iterator[Subscriber]: ...
    def set_alerts_seen(self, digest: str, until: datetime) -> None: ...
    def subscribers_by_ids(self, ids: Sequence[int]) -> dict[int, Subscriber]: ...
    def get_subscriber(self, email: str) -> Subscriber | None: ...
    def articles_by_ids(self, ids: Sequence[str]) -> list[Article]: ...
    def add_edition_with_deliveries(
        self, edition: Edition, recipients: Iterable[delivery.QueueEntry], now: datetime
    ) -> int | None: ...
    def edition_id(self, digest: str, slot: datetime) -> int | None: ...
    def delivery_counts(self, edition_id: int) -> dict[DeliveryStatus, int]: ...
    def delivery_failures(self, edition_id: int) -> list[Delivery]: ...
    def instance_key(self) -> str: ...
    def unfinished_editions(self, digest: str, recent: int = 2) -> list[tuple[int, datetime]]: ...
    def feedback_counts(self, edition_id: int) -> FeedbackCounts: ...
    def digest_pauses(self) -> dict[str, tuple[str, datetime]]: ...


@dataclass(frozen=True)
class DigestOutcome:
    digest: str
    edition: Edition | None  # the edition made (or joined) in this run
    delivered: tuple[str, ...] = ()  # where each message sent went (the sender's detail)
    failed: int = 0
    deferred: int = 0
    skipped: int = 0
    joined: bool = False  # another run recorded this slot first; this run helped send it
    resumed: int = 0  # messages sent for earlier editions a dead run left unfinished
    error: str | None = None  # the digest could not be delivered (no secret, paused)
    stopped: str = ""  # a deadline cut the sending short: the rest waits for a later run

    def summary(self) -> str:
        if self.error is not None:
            return f"digest {self.digest}: error: {self.error}"
        rest = "".join(
            f", {n} {what}"
            for n, what in (
                (self.failed, "failed"),
                (self.deferred, "deferred"),
                (self.skipped, "skipped"),
            )
            if n
        )
        if self.edition is None:
            if self.resumed:
                return f"digest {self.digest}: nothing due, {self.resumed} delivered{rest}"
            return f"digest {self.digest}: nothing due"
        return (
            f"digest {self.digest}: edition {self.edition.slot.isoformat()} with "
            f"{len(self.edition.article_ids)} articles"
            + (f" ({self.edition.dropped} left out for size)" if self.edition.dropped else "")
            + (" (recorded by another run)" if self.joined else "")
            + f", {len(self.delivered)} delivered{rest}"
        )

    def failure(self) -> str | None:
        """Why nothing could be delivered (no secret, a paused digest), or
        why the sending stopped short (a deadline)."""
        if self.error is not None:
            return f"digest {self.digest}: {self.error}"
        return f"digest {self.digest}: {self.stopped}" if self.stopped else None

    def counts(self) -> dict[str, int]:
        """The numbers recorded and logged for the job."""
        edition = self.edition
        return {
            "editions": 0 if edition is None else 1,
            "articles": 0 if edition is None else len(edition.article_ids),
            "delivered": len(self.delivered),
        }


@dataclass(frozen=True)
class EditionDeliveries:
    digest: str
    edition: Edition
    counts: dict[DeliveryStatus, int]
    failures: tuple[Delivery, ...]
    feedback: FeedbackCounts  # what came back: bounces, complaints, unsubscribes


def parse_edition(spec: str) -> tuple[str, datetime]:
    """``daily@2026-11-29T07:00+03:00`` -> ("daily", slot). ValueError when malformed."""
    name, at, when = spec.partition("@")
    if not at or not name:
        raise ValueError(f"{spec!r} is not DIGEST@SLOT, e.g. daily@2026-11-29T07:00+03:00")
    slot = datetime.fromisoformat(when)
    if slot.tzinfo is None:
        raise ValueError(f"{spec!r}: the slot needs its UTC offset")
    return name, slot


def variant_articles(articles: Sequence[Article], tags: Sequence[str]) -> tuple[Article, ...]:
    """The articles of an edition a subscriber with tag preferences gets:
    those with one of the tags (compared as keys, so spelling variants match);
    all of them without preferences."""
    if not tags:
        return tuple(articles)
    keys = {tag_key(tag) for tag in tags}
    return tuple(a for a in articles if any(t.key in keys for t in a.tags))


class Editions:
    """Making, delivering and inspecting the editions of every digest."""

    def __init__(
        self,
        store: EditionFlowStore,
        renderer: Renderer,
        *,
        email: EmailConfig,
        sending: DeliveryConfig,
        tz: tzinfo,
        sender: Callable[[], delivery.Sender],
        secret: Callable[[], bytes],
        clock: Clock,
        worker: str,
        envelope: Callable[[int], str] | None = None,
        still_ours: Callable[[], bool] | None = None,
    ) -> None:
        """``envelope``: a delivery id's envelope sender (VERP, so a bounce
        names its delivery); None: the From's address. ``still_ours``: the
        run lock's health, asked before each batch, when the run holds it."""
        self._store = store
        self._envelope = envelope
        self._still_ours = still_ours
        self._renderer = renderer
        self._email = email
        self._sending = sending
        self._tz = tz
        self._sender = sender
        self._secret = secret
        self._clock = clock
        self._worker = worker

    def digest(self, digest: DigestConfig, now: datetime) -> DigestOutcome:
        """Make the edition due at ``now`` (if any) and deliver it, with what
        a dead or interrupted run left of the latest recorded editions;
        nothing while the digest is paused (its bounce or complaint rate)."""
        paused = self._store.digest_pauses().get(digest.name)
        if paused is not None:
            return DigestOutcome(
                digest.name,
                None,
                error=f"paused since {paused[1].isoformat(timespec='minutes')}: {paused[0]}; "
                f"resume with: feedpub digests resume {digest.name}",
            )
        edition, joined = self.make(digest, now)
        return replace(self.resume_and_deliver(digest, edition), joined=joined)

    def make(self, digest: DigestConfig, now: datetime) -> tuple[Edition | None, bool]:
        """Make and record the due edition of ``digest`` (None when none is
        due); True when another run (maybe on another machine) recorded that
        slot first: this run then joins the stored edition instead."""
        store, name = self._store, digest.name
        planned = plan_edition(store, digest, now, tz=self._tz)
        if planned is None:
            return None, False
        if next(iter(store.subscribers_for(name)), None) is not None:
            self._secret()  # before anything is recorded: without a secret, no edition
        rendered = self._renderer.render(planned)  # warns when it leaves articles out
        edition = edition_record(planned, rendered, now)
        site = self._renderer.site
        write_archive(store, digest, rendered, site, self._email)
        editor = _bare(delivery.outbox_recipient(digest))
        queue = delivery.plan_queue(
            store.subscribers_for(name), name, recorded=edition.created, editor=editor
        )
        if store.add_edition_with_deliveries(edition, queue, self._clock()) is not None:
            return edition, False
        stored = store.get_edition(name, edition.slot)
        if stored is None:  # cannot happen: add_edition refused only an existing slot
            raise StoreError(f"digest {name}: slot {edition.slot} neither new nor stored")
        log.info("digest %s: slot %s was recorded by another run; joining it", name, edition.slot)
        if stored.article_ids != edition.article_ids:
            # The other run saw other articles: the archive page shows what it recorded.
            joined = self._renderer.render(self._planned_from(digest, stored))
            write_archive(store, digest, joined, site, self._email)
        return stored, True

    def resume_and_deliver(self, digest: DigestConfig, made: Edition | None) -> DigestOutcome:
        """Deliver ``made`` and whatever a dead or interrupted run left of
        the latest recorded editions (oldest first)."""
        name = digest.name
        recent = self._store.editions(name)[:RESUME_EDITIONS]
        sent: list[str] = []
        failed = deferred = skipped = resumed = 0
        stopped = ""
        for edition in reversed(recent):
            is_made = made is not None and edition.slot == made.slot
            if not is_made and not self._unfinished(edition):
                continue
            report = self.deliver(digest, edition)
            failed += report.failed
            deferred += report.deferred
            skipped += report.skipped
            if report.timed_out:
                stopped = report.stopped or "a deadline stopped the sending; the rest waits"
                break
            if is_made:
                sent += report.where or []
            else:
                resumed += report.sent
                if report.sent:
                    log.info(
                        "digest %s: finished %d deliveries of %s", name, report.sent, edition.slot
                    )
        return DigestOutcome(
            name,
            made,
            delivered=tuple(sent),
            failed=failed,
            deferred=deferred,
            skipped=skipped,
            resumed=resumed,
            stopped=stopped,
        )

    def deliver(self, digest: DigestConfig, edition: Edition) -> delivery.DeliveryReport:
        """Send what is left of the edition's deliveries (queued when it was recorded)."""
        edition_id = self._store.edition_id(digest.name, edition.slot)
        if edition_id is None:
            raise StoreError(f"digest {digest.name}: edition {edition.slot} is not recorded")
        return delivery.deliver(
            self._store,
            edition_id,
            _Composer(self, digest, self._planned_from(digest, edition), edition_id),
            self._sender(),
            digest=digest.name,
            slot=edition.slot,
            worker=self._worker,
            batch=self._sending.batch,
            stale_after=self._sending.stale_after,
            clock=self._clock,
            max_run_seconds=self._sending.max_run_seconds,
            still_ours=self._still_ours,
        )

    def preview(self, digest: DigestConfig, now: datetime) -> tuple[str, str]:
        """The coming edition as (html, text), as a reader would get it,
        without recording or sending anything."""
        planned = (
            self._alert_preview(digest, now)
            if digest.is_alert
            else preview_edition(self._store, digest, now, tz=self._tz)
        )
        return personalize(
            self._renderer.render(planned),
            self._email,
            to=delivery.outbox_recipient(digest),
            unsubscribe_token=None,
        )

    def _alert_preview(self, digest: DigestConfig, now: datetime) -> PlannedEdition:
        """An alert as the digest's newest article, however old, would make
        it (none: an empty one), for ``--preview``."""
        found = self._store.articles_for_edition(
            now,
            now,
            published_after=now - PREVIEW_REACH,
            tag_keys=[tag_key(t) for t in digest.tags],
            limit=1,
        )
        slot = alert_slot(found[0]) if found else now
        return PlannedEdition(digest, slot.astimezone(self._tz), None, slot, tuple(found))

    # --- alerts ----------------------------------------------------------------------

    def alerts(self, digest: DigestConfig, now: datetime) -> AlertOutcome:
        """The alert digest's run after an ingest: record one edition per new
        article in its tags (the day's first ``max_per_day`` with their
        deliveries, the rest as left out), move its cursor, then send what is
        left of its recent alerts, this run's and a dead run's alike."""
        name = digest.name
        paused = self._store.digest_pauses().get(name)
        if paused is not None:
            return AlertOutcome(
                name,
                error=f"paused since {paused[1].isoformat(timespec='minutes')}: {paused[0]}; "
                f"resume with: feedpub digests resume {name}",
            )
        planned = plan_alerts(self._store, digest, now, tz=self._tz)
        readers = self._store.subscribers_for(name, opt_in=True)
        if planned.send and next(iter(readers), None) is not None:
            self._secret()  # before anything is recorded: without a secret, no alert
        made = tuple(self._record_alert(digest, article, now) for article in planned.send)
        for article in planned.over_cap:
            self._record_alert(digest, article, now, over_cap=True)
        if planned.over_cap:
            log.info(
                "alert %s: %d alerts today already (max_per_day %d); not sent, left for the "
                "digests: %s",
                name,
                planned.sent_today + len(made),
                digest.max_per_day,
                ", ".join(a.id for a in planned.over_cap),
            )
        self._store.set_alerts_seen(name, now)
        return self._deliver_alerts(digest, made, tuple(a.id for a in planned.over_cap))

    def _record_alert(
        self, digest: DigestConfig, article: Article, now: datetime, *, over_cap: bool = False
    ) -> Edition:
        """Record the article's alert edition (with its deliveries, or as left
        out over the cap), or find the one another run recorded for it. A
        slot another article's alert took (their ids' fractions met) is
        passed by a microsecond, as every run does alike."""
        store, name = self._store, digest.name
        slot = alert_slot(article)
        for _ in range(ALERT_SLOT_TRIES):
            planned = PlannedEdition(digest, slot.astimezone(self._tz), None, slot, (article,))
            if over_cap:
                edition = over_cap_edition(digest, article, slot, now)
                queue: Iterable[delivery.QueueEntry] = ()
            else:
                edition = edition_record(planned, self._renderer.render(planned), now)
                editor = _bare(delivery.outbox_recipient(digest))
                subscribers = store.subscribers_for(name, opt_in=True)
                queue = delivery.plan_queue(subscribers, name, recorded=now, editor=editor)
            if store.add_edition_with_deliveries(edition, queue, self._clock()) is not None:
                return edition
            stored = store.get_edition(name, slot)
            if stored is not None and article.id in (*stored.article_ids, *stored.left_out):
                log.info("alert %s: %s was recorded by another run", name, article.id)
                return stored
            slot += timedelta(microseconds=1)
        raise StoreError(f"alert {name}: no free slot for article {article.id}")

    def _deliver_alerts(
        self, digest: DigestConfig, made: tuple[Edition, ...], over_cap: tuple[str, ...]
    ) -> AlertOutcome:
        """Send what is left of the digest's recent alert editions, oldest first."""
        sent = failed = deferred = skipped = 0
        stopped = ""
        for _, slot in self._store.unfinished_editions(digest.name, RESUME_ALERTS):
            edition = self._store.get_edition(digest.name, slot)
            if edition is None:
                continue
            report = self.deliver(digest, edition)
            sent += report.sent
            failed += report.failed
            deferred += report.deferred
            skipped += report.skipped
            if report.timed_out:
                stopped = report.stopped or "a deadline stopped the sending; the rest waits"
                break
        return AlertOutcome(
            digest.name,
            made,
            over_cap,
            delivered=sent,
            failed=failed,
            deferred=deferred,
            skipped=skipped,
            stopped=stopped,
        )

    def deliveries(
        self, digests: Sequence[DigestConfig], spec: str | None
    ) -> list[EditionDeliveries]:
        """Counts and failures of one edition (``daily@2026-11-29T07:00+03:00``),
        or of each digest's last edition. ValueError for a malformed or
        unknown edition."""
        store = self._store
        if spec is not None:
            name, slot = parse_edition(spec)
            if name not in {d.name for d in digests}:
                known = ", ".join(d.name for d in digests) or "none configured"
                raise ValueError(f"no digest named {name!r} ({known})")
            found = store.get_edition(name, slot)
            if found is None:
                raise ValueError(f"no edition {spec}")
            editions = [found]
        else:
            editions = [e for d in digests if (e := store.last_edition(d.name))]
        result = []
        for edition in editions:
            edition_id = store.edition_id(edition.digest, edition.slot)
            assert edition_id is not None
            counts = store.delivery_counts(edition_id)
            failures = tuple(store.delivery_failures(edition_id))
            feedback = store.feedback_counts(edition_id)
            result.append(EditionDeliveries(edition.digest, edition, counts, failures, feedback))
        return result

    def send_unfinished(
        self, digest: DigestConfig, *, wait: float = 0.0, until_finished: bool = True
    ) -> DigestOutcome:
        """A sender that only claims and sends (``feedpub deliver``): what
        is left of the digest's latest editions, beside the leader that makes
        them and any number of other senders, on any machine sharing the
        store. ``wait``: seconds to wait for an edition to be recorded."""
        sent = delivery.deliver_unfinished(
            self._store,
            digest.name,
            lambda edition_id, slot: self.composer(digest, edition_id, slot),
            self._sender(),
            worker=self._worker,
            batch=self._sending.batch,
            stale_after=self._sending.stale_after,
            clock=self._clock,
            recent=RESUME_ALERTS if digest.is_alert else RESUME_EDITIONS,
            wait=wait,
            until_finished=until_finished,
            max_run_seconds=self._sending.max_run_seconds,
            still_ours=self._still_ours,
        )
        reports = [s.report for s in sent]
        cut = [r.stopped or "a deadline stopped the sending" for r in reports if r.timed_out]
        return DigestOutcome(
            digest.name,
            None,
            failed=sum(r.failed for r in reports),
            deferred=sum(r.deferred for r in reports),
            skipped=sum(r.skipped for r in reports),
            resumed=sum(r.sent for r in reports),
            stopped=cut[0] if cut else "",
        )

    def composer(self, digest: DigestConfig, edition_id: int, slot: datetime) -> delivery.Compose:
        """The messages of one recorded edition, for ``delivery``'s loop."""
        edition = self._store.get_edition(digest.name, slot)
        if edition is None:
            raise StoreError(f"digest {digest.name}: edition {slot} is not recorded")
        return _Composer(self, digest, self._planned_from(digest, edition), edition_id)

    def _planned_from(self, digest: DigestConfig, edition: Edition) -> PlannedEdition:
        """A recorded edition as planned again (its articles, in its order)."""
        articles = self._store.articles_by_ids(edition.article_ids)
        slot = edition.slot.astimezone(self._tz)
        return PlannedEdition(digest, slot, None, edition.slot, tuple(articles))

    def _unfinished(self, edition: Edition) -> bool:
        edition_id = self._store.edition_id(edition.digest, edition.slot)
        if edition_id is None:
            return False
        # An edition with no row at all predates the deliveries table (a store
        # upgraded in place: it was delivered the old way): nothing to finish.
        counts = self._store.delivery_counts(edition_id)
        return counts["pending"] + counts["claimed"] > 0


class _Composer:
    """Each claimed delivery's message: the subscriber looked up at send time
    (an unsubscribe since the queueing counts), one prepared message per
    content variant (rendered and inlined once), then filled per recipient."""

    def __init__(
        self, editions: Editions, digest: DigestConfig, planned: PlannedEdition, edition_id: int
    ) -> None:
        self._e = editions
        self._digest = digest
        self._planned = planned
        self._edition_id = edition_id
        self._domain = ascii_domain(editions._renderer.site.domain)
        self._store_key = editions._store.instance_key()
        self._prepared: dict[tuple[str, ...], Prepared] = {}

    def message_id(self, row: Delivery) -> str:
        # Stable per delivery (a message sent again after a crash carries the
        # same Message-ID, which receivers dedupe on), unique across stores.
        return message_id(self._domain, row.id, self._store_key)

    def __call__(self, rows: Sequence[Delivery]) -> list[delivery.Outgoing | EmailMessage | str]:
        e = self._e
        now = e._clock()
        date = format_datetime(now)  # one Date for the batch: sent within moments
        found = e._store.subscribers_by_ids(
            [row.subscriber_id for row in rows if row.subscriber_id is not None]
        )
        linesep = e._sender().linesep  # written as the backend keeps it: no conversion
        made: list[delivery.Outgoing | EmailMessage | str] = []
        for row in rows:
            if row.subscriber_id is None:  # the editors' copy: no subscriber list yet
                made.append(self._editors_copy(row, now))
                continue
            subscriber = found.get(row.subscriber_id) or e._store.get_subscriber(row.address)
            made.append(self._one(row, subscriber, date, linesep))
        return made

    def _editors_copy(self, row: Delivery, now: datetime) -> EmailMessage:
        e = self._e
        return build_message(
            e._renderer.render(self._planned),
            self._digest,
            e._renderer.site,
            e._email,
            to=delivery.outbox_recipient(self._digest),
            unsubscribe_token=None,
            now=now,
            message_id=self.message_id(row),
        )

    def _one(
        self, row: Delivery, subscriber: Subscriber | None, date: str, linesep: bytes
    ) -> delivery.Outgoing | str:
        name = self._digest.name
        if subscriber is None:  # removed, maybe added again since (a new id)
            return "the subscriber was removed"
        if not subscriber.receives(name, opt_in=self._digest.is_alert):
            return f"the subscriber is {subscriber.status} or left this digest"
        chosen = variant_articles(self._planned.articles, subscriber.tags)
        if not chosen and subscriber.tags:  # an edition of no news goes to everyone else
            return "no article of this edition has the subscriber's tags"
        variant = self._variant(chosen)
        secret = self._e._secret()
        mid = self.message_id(row)
        data = variant.fill(
            name=subscriber.name,
            address=subscriber.email,
            unsubscribe_token=make_token(secret, "unsubscribe", name, subscriber.email),
            preferences_token=make_token(
                secret, "preferences", preferences_scope(subscriber.token), subscriber.email
            ),
            message_id=mid,
            date=date,
            linesep=linesep,
        )
        envelope = self._e._envelope
        sender = variant.sender if envelope is None else envelope(row.id)
        return delivery.Outgoing(data, sender, (subscriber.email,), mid, linesep)

    def _variant(self, chosen: tuple[Article, ...]) -> Prepared:
        key = tuple(a.id for a in chosen)
        if key not in self._prepared:  # rendered and inlined once per variant
            e = self._e
            rendered = e._renderer.render(replace(self._planned, articles=chosen))
            self._prepared[key] = prepare_message(
                rendered, self._digest, e._renderer.site, e._email
            )
        return self._prepared[key]


def _bare(address: str) -> str:
    return getaddresses([address])[0][1] or address
