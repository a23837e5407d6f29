"""Subscribers and delivery as the publisher runs them: the exactly-once
flow of one digest (record the edition first, enqueue, claim, send, mark),
what each message says (composed from ``digests``), the sender picked by
``delivery.backend``, and the subscriber list behind the CLI and the web.
A little over 400 lines: those four belong together, as each needs the
others' view of a subscriber and an edition."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from pathlib import Path
from typing import TYPE_CHECKING

from feedpub import delivery, digests, roster
from feedpub.app.reports import (
    DigestOutcome,
    log,
)
from feedpub.config import Config, ConfigError, DigestConfig, secrets
from feedpub.credentials import where_to_put
from feedpub.model import (
    Article,
    Delivery,
    DeliveryStatus,
    Edition,
    Preferences,
)
from feedpub.roster import split_list as split_list  # for the CLI, which may not import roster
from feedpub.store import SqlStore, StoreError
from feedpub.text.arabic import tag_key
from feedpub.text.uri import ascii_domain
from feedpub.tokens import ALL_LISTS, make_token

if TYPE_CHECKING:
    from feedpub.app import Publisher


# --- subscribers and delivery ------------------------------------------------------
#
# The exactly-once flow of one digest: plan -> render -> write the archive ->
# RECORD the edition together with one delivery per recipient, in one
# transaction (or join the edition another run recorded first, deliveries and
# all) -> claim a batch -> compose, send, mark -> next batch until none. The
# loop lives in ``delivery.run``; what each message says is composed here,
# from ``digests``.

# Recorded editions looked at for unfinished deliveries on each run: the
# latest, and the one before it (a run that died in yesterday's slot is
# finished by today's).
RESUME_EDITIONS = 2


@dataclass(frozen=True)
class ImportReport:
    added: int
    existing: int
    problems: tuple[str, ...]

    def summary(self) -> str:
        return (
            f"subscribers: {self.added} added, {self.existing} already stored, "
            f"{len(self.problems)} refused"
        )


@dataclass(frozen=True)
class EditionDeliveries:
    digest: str
    edition: Edition
    counts: dict[DeliveryStatus, int]
    failures: tuple[Delivery, ...]


def _publisher_clock(pub: Publisher) -> datetime:
    # The time handed in, moved on by the monotonic clock: a long send keeps
    # its claims fresh without a stage reading the wall clock.
    return pub.now + timedelta(seconds=time.monotonic() - pub._started)


def make_edition(pub: Publisher, name: str) -> tuple[Edition | None, bool]:
    """Make and record the due edition of ``name`` (None when none is due);
    True when another run (maybe on another machine) recorded that slot
    first: this run then joins the stored edition instead of making a second.
    The edition and its deliveries are recorded in one transaction, before
    any message goes: a crash before leaves neither (the next run makes the
    edition), a crash after leaves deliveries the next run finishes."""
    digest_cfg = pub.cfg.digest(name)
    tz = pub.cfg.site.timezone
    planned = digests.plan_edition(pub._store, digest_cfg, pub.now, tz=tz)
    if planned is None:
        return None, False
    if next(iter(pub._store.subscribers_for(name)), None) is not None:
        pub.secret()  # before anything is recorded: without a secret, no edition
    rendered = pub._renderer.render(planned)  # warns when it leaves articles out
    edition = digests.edition_record(planned, rendered, pub.now)
    site, email = pub._renderer.site, pub.cfg.email
    # The web copy first: the email's «view in browser» link points at it.
    digests.write_archive(pub._store, digest_cfg, rendered, site, email)
    editor = _bare(delivery.outbox_recipient(digest_cfg))
    queue = delivery.plan_queue(
        pub._store.subscribers_for(name), name, recorded=edition.created, editor=editor
    )
    if pub._store.add_edition_with_deliveries(edition, queue, _publisher_clock(pub)) is not None:
        return edition, False
    stored = pub._store.get_edition(name, edition.slot)
    if stored is None:  # cannot happen: add_edition refused only an existing slot
        raise StoreError(f"digest {name}: slot {edition.slot} neither new nor stored")
    log.info("digest %s: slot %s was recorded by another run; joining it", name, edition.slot)
    if stored.article_ids != edition.article_ids:
        # The other run saw other articles: the archive page shows what it recorded.
        joined = pub._renderer.render(_planned_from(pub, digest_cfg, stored))
        digests.write_archive(pub._store, digest_cfg, joined, site, email)
    return stored, True


def _planned_from(
    pub: Publisher, digest_cfg: DigestConfig, edition: Edition
) -> digests.PlannedEdition:
    """A recorded edition as planned again (its articles, in its order)."""
    articles = pub._store.articles_by_ids(edition.article_ids)
    slot = edition.slot.astimezone(pub.cfg.site.timezone)
    return digests.PlannedEdition(digest_cfg, slot, None, edition.slot, tuple(articles))


def _unfinished(pub: Publisher, edition: Edition) -> bool:
    edition_id = pub._store.edition_id(edition.digest, edition.slot)
    if edition_id is None:
        return False
    # An edition with no row at all predates the deliveries table (a store
    # upgraded in place: it was delivered the old way): nothing to finish.
    counts = pub._store.delivery_counts(edition_id)
    return counts["pending"] + counts["claimed"] > 0


def resume_and_deliver(pub: Publisher, name: str, made: Edition | None) -> DigestOutcome:
    """Deliver ``made`` and whatever a dead or interrupted run left of the
    latest recorded editions (oldest first)."""
    recent = pub._store.editions(name)[:RESUME_EDITIONS]
    outcome = DigestOutcome(name, made)
    resumed = 0
    sent: list[str] = []
    failed = deferred = skipped = 0
    for edition in reversed(recent):
        is_made = made is not None and edition.slot == made.slot
        if not is_made and not _unfinished(pub, edition):
            continue
        report = deliver_edition(pub, pub.cfg.digest(name), edition)
        failed, deferred, skipped = (
            failed + report.failed,
            deferred + report.deferred,
            skipped + report.skipped,
        )
        if is_made:
            sent += report.where or []
        else:
            resumed += report.sent
            if report.sent:
                log.info("digest %s: finished %d deliveries of %s", name, report.sent, edition.slot)
    return replace(
        outcome,
        delivered=tuple(sent),
        failed=failed,
        deferred=deferred,
        skipped=skipped,
        resumed=resumed,
    )


def deliver_edition(
    pub: Publisher, digest_cfg: DigestConfig, edition: Edition
) -> delivery.DeliveryReport:
    """Send what is left of the edition's deliveries (queued when it was
    recorded)."""
    store, name = pub._store, digest_cfg.name
    edition_id = store.edition_id(name, edition.slot)
    if edition_id is None:
        raise StoreError(f"digest {name}: edition {edition.slot} is not recorded")
    compose = _composer(pub, digest_cfg, edition, edition_id)
    return delivery.deliver(
        store,
        edition_id,
        compose,
        pub.sender(),
        digest=name,
        slot=edition.slot,
        worker=pub.worker,
        batch=pub.cfg.delivery.batch,
        stale_after=pub.cfg.delivery.stale_after,
        clock=lambda: _publisher_clock(pub),
    )


def _bare(address: str) -> str:
    return getaddresses([address])[0][1] or address


def variant_articles(articles: Sequence[Article], tags: Sequence[str]) -> tuple[Article, ...]:
    """The articles of an edition a subscriber with tag preferences gets:
    those with one of the tags (compared as keys, so spelling variants match);
    all of them without preferences."""
    if not tags:
        return tuple(articles)
    keys = {tag_key(tag) for tag in tags}
    return tuple(a for a in articles if any(t.key in keys for t in a.tags))


def _composer(
    pub: Publisher, digest_cfg: DigestConfig, edition: Edition, edition_id: int
) -> delivery.Compose:
    site, email, name = pub._renderer.site, pub.cfg.email, digest_cfg.name
    planned = _planned_from(pub, digest_cfg, edition)
    domain = ascii_domain(site.domain)
    # One prepared message per content variant (the articles it holds).
    prepared: dict[tuple[str, ...], digests.Prepared] = {}

    def message_id(row: Delivery) -> str:
        # Stable per delivery: a message sent again after a crash carries
        # the same Message-ID, which receiving systems dedupe on.
        return f"<feedpub.{edition_id}.{row.id}@{domain}>"

    def compose(rows: Sequence[Delivery]) -> list[delivery.Outgoing | EmailMessage | str]:
        now = _publisher_clock(pub)
        date = format_datetime(now)  # one Date for the batch: sent within moments
        # Looked up at send time, a batch in one query: an unsubscribe since
        # the queueing counts.
        found = pub._store.subscribers_by_ids(
            [row.subscriber_id for row in rows if row.subscriber_id is not None]
        )
        made: list[delivery.Outgoing | EmailMessage | str] = []
        linesep = pub.sender().linesep  # written as the backend keeps it: no conversion
        for row in rows:
            if row.subscriber_id is None:  # the editors' copy: no subscriber list yet
                made.append(
                    digests.build_message(
                        pub._renderer.render(planned),
                        digest_cfg,
                        site,
                        email,
                        to=delivery.outbox_recipient(digest_cfg),
                        unsubscribe_token=None,
                        now=now,
                        message_id=message_id(row),
                    )
                )
                continue
            subscriber = found.get(row.subscriber_id)
            if subscriber is None:  # removed, maybe added again since (a new id)
                subscriber = pub._store.get_subscriber(row.address)
            if subscriber is None:
                made.append("the subscriber was removed")
                continue
            if not subscriber.receives(name):
                made.append(f"the subscriber is {subscriber.status} or left this digest")
                continue
            chosen = variant_articles(planned.articles, subscriber.tags)
            if not chosen:
                made.append("no article of this edition has the subscriber's tags")
                continue
            key = tuple(a.id for a in chosen)
            if key not in prepared:  # rendered and inlined once per variant
                rendered = pub._renderer.render(replace(planned, articles=chosen))
                prepared[key] = digests.prepare_message(rendered, digest_cfg, site, email)
            variant = prepared[key]
            secret = pub.secret()
            mid = message_id(row)
            data = variant.fill(
                name=subscriber.name,
                address=subscriber.email,
                unsubscribe_token=make_token(secret, "unsubscribe", name, subscriber.email),
                preferences_token=make_token(secret, "preferences", ALL_LISTS, subscriber.email),
                message_id=mid,
                date=date,
                linesep=linesep,
            )
            made.append(delivery.Outgoing(data, variant.sender, (subscriber.email,), mid, linesep))
        return made

    return compose


def make_sender(cfg: Config, environ: dict[str, str] | None = None) -> delivery.Sender:
    """The backend ``delivery.backend`` names. The SMTP password comes from
    the environment or a systemd credential, never from the config."""
    d = cfg.delivery
    if d.backend == "outbox":
        return delivery.Outbox(d.outbox)
    env = dict(os.environ if environ is None else environ)
    password = None
    if d.smtp.username is not None:
        password = secrets.secret(secrets.SMTP_PASSWORD, env)
        if password is None:
            raise ConfigError(
                f"{cfg.path}: delivery.smtp.username is set but there is no password: set "
                f"{where_to_put(secrets.SMTP_PASSWORD)}"
            )
    settings = delivery.SmtpSettings(
        host=d.smtp.host,
        port=d.smtp.port,
        security=d.smtp.security,  # type: ignore[arg-type]  # checked at load
        username=d.smtp.username,
        password=password,
        timeout=float(d.smtp.timeout),
        rate=d.rate,
    )
    return delivery.SmtpSender(settings)


# --- subscriber lists (the CLI's ``subscribers`` and ``deliveries``) ---------------------


def seed_from(pub: Publisher, path: Path) -> ImportReport:
    """``subscribers.seed``: import the CSV, adding only absent addresses."""
    report = import_subscribers(pub, path)
    for problem in report.problems:
        log.warning("subscribers.seed %s: %s", path, problem)
    return report


def import_subscribers(pub: Publisher, path: Path) -> ImportReport:
    """Add the CSV's addresses not yet stored, as active subscribers; stored
    ones are left exactly as they are (an unsubscribe is never undone by an
    import). Raises OSError when the file cannot be read."""
    text = path.read_text(encoding="utf-8")
    entries, problems = roster.read_roster(text)
    known = {d.name for d in pub.cfg.digests}
    added = existing = 0
    refused = list(problems)
    for entry in entries:
        unknown = [d for d in entry.digests if d not in known]
        if unknown:
            refused.append(f"{entry.email}: unknown digest {unknown[0]!r}")
            continue
        if pub._store.get_subscriber(entry.email) is not None:
            existing += 1
            continue
        pub._store.add_subscriber(
            entry.email,
            pub.now,
            name=entry.name,
            digests=entry.digests,
            tags=entry.tags,
            status="active",
        )
        added += 1
    return ImportReport(added, existing, tuple(refused))


def parse_edition(spec: str) -> tuple[str, datetime]:
    """``daily@2026-11-29T07:00+03:00`` -> ("daily", slot). ValueError when malformed."""
    name, at, when = spec.partition("@")
    if not at or not name:
        raise ValueError(f"{spec!r} is not DIGEST@SLOT, e.g. daily@2026-11-29T07:00+03:00")
    slot = datetime.fromisoformat(when)
    if slot.tzinfo is None:
        raise ValueError(f"{spec!r}: the slot needs its UTC offset")
    return name, slot


class StoreSubscriptions:
    """``web.Subscriptions`` over the store: the sign-up, confirm,
    unsubscribe and preferences pages write here. Thread-safe (the store is)."""

    def __init__(self, store: SqlStore, digest_names: Sequence[str]) -> None:
        self._store = store
        self._all = tuple(digest_names)

    def subscribe_pending(
        self, address: str, name: str, digests: Sequence[str], now: datetime
    ) -> bool:
        current = self._store.get_subscriber(address)
        if current is not None and current.status == "active":
            return False  # a stranger's form must not change a confirmed subscription
        self._store.add_subscriber(address, now, name=name or None, digests=digests)
        if current is not None:
            self._store.set_subscriber_status(address, "pending", now)
        return True

    def confirm(self, address: str, now: datetime) -> bool:
        current = self._store.get_subscriber(address)
        if current is None or current.status not in ("pending", "active"):
            return False
        if current.status == "pending":
            self._store.set_subscriber_status(address, "active", now)
        return True

    def unsubscribe(self, address: str, list_name: str, now: datetime) -> bool:
        current = self._store.get_subscriber(address)
        if current is None or not current.receives(list_name):
            return False
        rest = [d for d in (current.digests or self._all) if d != list_name]
        if rest:
            self._store.add_subscriber(
                current.email, now, name=current.name, digests=rest, tags=current.tags
            )
        else:
            self._store.set_subscriber_status(current.email, "unsubscribed", now)
        return True

    def preferences(self, address: str) -> Preferences | None:
        current = self._store.get_subscriber(address)
        if current is None or current.status != "active":
            return None
        return Preferences(current.digests or self._all, current.tags)

    def set_preferences(
        self, address: str, digests: Sequence[str], tags: Sequence[str], now: datetime
    ) -> bool:
        current = self._store.get_subscriber(address)
        if current is None:
            return False
        chosen = [d for d in digests if d in self._all]
        if not chosen:  # no digests: receives nothing (an empty list would mean all)
            self._store.set_subscriber_status(current.email, "unsubscribed", now)
            return True
        self._store.add_subscriber(current.email, now, name=current.name, digests=chosen, tags=tags)
        if current.status == "unsubscribed":  # the signed link proves the address
            self._store.set_subscriber_status(current.email, "active", now)
        return True


def open_subscriptions(cfg: Config) -> StoreSubscriptions:
    """The factory for ``feedpub.web.configure``: the store of ``cfg``, open
    for the life of the process."""
    return StoreSubscriptions(SqlStore.open(cfg.store.url), [d.name for d in cfg.digests])
