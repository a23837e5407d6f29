"""The composition root: the one place that wires the stages together
(lemon24/reader's ``make_reader`` is the model). It holds no stage's work.

``make_publisher`` opens the store (unless one is handed in) and returns a
``Publisher``: every front end (cli, service, web) and the tests go through
it. A publisher holds the time ``now``, read once by the caller, so a run is
deterministic under test, and hands each stage its own config section. Each
method is one call into a stage: ``ingest.job``, ``feeds.publish``,
``digests.edition``, ``subscribers``; ``jobs`` times and records them,
``status`` reports them, ``reports`` holds what they report.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from feedpub.app.jobs import JobRunner
from feedpub.app.reports import Progress
from feedpub.config import Config
from feedpub.feeds.site import FeedSite
from feedpub.model import (
    Article,
    BuildReport,
    Consent,
    IngestReport,
    Reject,
    Signup,
    Subscriber,
    Suppression,
)
from feedpub.subscribers import (
    AddOutcome,
    ImportReport,
    ReturnedMail,
    Roster,
    StoreSubscriptions,
)
from feedpub.subscribers import ConsentRefused as ConsentRefused  # for the CLI
from feedpub.subscribers import signups as signup_mail
from feedpub.tokens import load_secret

if TYPE_CHECKING:
    from feedpub import delivery, digests, inbound
    from feedpub.inbound import InboundReport
    from feedpub.ingest import source
    from feedpub.store import SqlStore


# --- the stages wired to their config sections ---------------------------------------


def check_config(cfg: Config) -> None:
    """What the stages check of their own sections before a run that
    ingests or delivers: a bad ``sources:`` entry, an unknown feed format or
    delivery backend is a ``ConfigError`` naming its key."""
    from feedpub.delivery import backends
    from feedpub.feeds import writers
    from feedpub.ingest import source

    for made in source.make_sources(cfg.sources, source_context(cfg, None)):
        made.close()
    writers.check_formats(cfg.feeds.formats, str(cfg.path))
    backends.check_backend(cfg.delivery, cfg.path)


def source_context(
    cfg: Config, store: SqlStore | None, reconcile: bool = False
) -> source.SourceContext:
    from feedpub import ingest
    from feedpub.ingest import source

    run = ingest.settings(cfg.ingest, cfg.tags, timezone=cfg.site.timezone, site_url=cfg.site.url)
    return source.SourceContext(
        run, cfg.site.timezone, environ=dict(os.environ), files=store, reconcile=reconcile
    )


def ingest_sources(
    cfg: Config,
    store: SqlStore,
    now: datetime,
    *,
    progress: Progress | None = None,
    reconcile: bool = False,
) -> IngestReport:
    """Read every configured source into the store (``ingest.job``)."""
    # Imported here: a build does not need the parsers.
    from feedpub.ingest import job, source

    sources = source.make_sources(cfg.sources, source_context(cfg, store, reconcile))
    return job.run_sources(sources, store, now, progress=progress)


def feed_site(cfg: Config) -> FeedSite:
    """The site values the feeds print; article pages show dates as the
    digests do (the site's zone, email.locale, digits, month names and
    Hijri date)."""
    return FeedSite(
        cfg.site.title,
        cfg.site.url,
        cfg.site.language,
        cfg.site.description,
        timezone=cfg.site.timezone,
        locale=cfg.email.locale,
        digits=cfg.email.digits,
        month_names=cfg.email.month_names,
        hijri=cfg.email.hijri,
        hijri_adjust=cfg.email.hijri_adjust,
    )


def quick_build(cfg: Config) -> BuildReport | None:
    """A no-op build answered without SQLAlchemy, or None (``feeds.publish``);
    an unknown feed format is a ``ConfigError`` before anything is read."""
    from feedpub.feeds import publish, writers

    writers.check_formats(cfg.feeds.formats, str(cfg.path))
    return publish.quick_build(cfg.feeds, feed_site(cfg), cfg.store.url)


def build_feeds(cfg: Config, store: SqlStore, *, adopt: bool = False) -> BuildReport:
    """Every feed under ``feeds.output`` (``feeds.publish``)."""
    from feedpub.feeds import publish

    return publish.build_feeds(store, cfg.feeds, feed_site(cfg), adopt=adopt)


def digest_site(cfg: Config) -> digests.Site:
    """The few site values the digests need."""
    from feedpub import digests

    return digests.Site(
        title=cfg.site.title,
        url=cfg.site.url,
        language=cfg.site.language,
        timezone=cfg.site.timezone,
        domain=cfg.site.domain,
        public_url=cfg.feeds.url,
        public_dir=cfg.feeds.output,
    )


# --- the publisher --------------------------------------------------------------------


def make_publisher(
    cfg: Config,
    *,
    now: datetime,
    store: SqlStore | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Publisher:
    """A Publisher working as of ``now`` (tz-aware). Opens ``cfg.store``
    unless ``store`` is given; a store it opened is closed again if building
    the publisher fails, and by ``Publisher.close`` (a store handed in stays
    the caller's to close). ``clock`` (the caller's, read when a job starts
    and ends) times the jobs; without it every job takes no time at ``now``."""
    # Here: SqlStore imports SQLAlchemy, which quick_build does without.
    from feedpub.store import SqlStore

    opened = store is None
    used = SqlStore.open(cfg.store.url) if store is None else store
    try:
        return Publisher(cfg, used, now, owns_store=opened, clock=clock)
    except BaseException:
        if opened:
            used.close()
        raise


class Publisher(JobRunner):
    """The stages wired to one config, one store and one time. A context
    manager; the jobs and status of ``JobRunner`` run over these methods."""

    def __init__(
        self,
        cfg: Config,
        store: SqlStore,
        now: datetime,
        *,
        owns_store: bool,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self.cfg = cfg
        self.now = now
        self._store = store
        self._owns_store = owns_store
        self._clock: Callable[[], datetime] = clock or (lambda: now)
        self._started = time.monotonic()
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.roster = Roster(store, [d.name for d in cfg.digests])
        self._editions: digests.Editions | None = None  # made on first use
        self._sender: delivery.Sender | None = None  # opened when the first message goes
        self._secret: bytes | None = None
        self._seeded = False

    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._sender is not None:
            self._sender.close()
        if self._owns_store:
            self._store.close()

    def at(self, now: datetime) -> Publisher:
        """The same wiring and store as of another time (a service job's);
        closing it leaves the store open."""
        return Publisher(self.cfg, self._store, now, owns_store=False, clock=self._clock)

    # --- ingest and feeds --------------------------------------------------------------

    def ingest(self, progress: Progress | None = None, *, reconcile: bool = False) -> IngestReport:
        return ingest_sources(
            self.cfg, self._store, self.now, progress=progress, reconcile=reconcile
        )

    def explain_page(self, ref: str) -> list[str]:
        """``feedpub ingest --explain``: a post of a source that knows it
        (its id or URL: the source's ``explain``), else each line of the page
        file at ``ref`` with the role the parser gives it and why."""
        from feedpub import ingest
        from feedpub.ingest import source

        context = source_context(self.cfg, None)
        for made in source.make_sources(self.cfg.sources, context):
            with contextlib.closing(made):
                explain = getattr(made, "explain", None)
                lines = explain(ref, self.now) if explain is not None else None
            if lines is not None:
                return list(lines)
        return ingest.explain_path(Path(ref), context.settings, self.now)

    def build(self, *, adopt: bool = False) -> BuildReport:
        """``adopt``: take over files in the way that feedpub did not write."""
        return build_feeds(self.cfg, self._store, adopt=adopt)

    def articles(self, limit: int | None = None) -> list[Article]:
        """The stored articles, newest first."""
        return self._store.latest_articles(limit=limit)

    def rejects(self) -> list[Reject]:
        return self._store.rejects()

    def withdraw(self, ids: Sequence[str], reason: str) -> list[str]:
        """An editor's withdrawal (``feedpub articles withdraw``): the stored
        ones of ``ids``, which the next build takes out of every file."""
        return self._store.withdraw_articles(ids, reason, self.now)

    # --- digests ------------------------------------------------------------------------

    def digest(self, name: str) -> digests.DigestOutcome | digests.AlertOutcome:
        """Make the edition of digest ``name`` if one is due and deliver it,
        exactly once per recipient (``digests.edition``), or for an alert
        digest one alert per new article (``Editions.alerts``); then count
        the relay's refusals as hard bounces and pause the digest if its last
        editions drew too many (``inbound.MailLoop``)."""
        digest = self.cfg.digest(name)
        self.seed_subscribers()
        outcome: digests.DigestOutcome | digests.AlertOutcome
        if digest.is_alert:
            outcome = self.editions().alerts(digest, self.now)
        else:
            outcome = self.editions().digest(digest, self.now)
        self._loop().after_delivery(name)
        return outcome

    def deliver(self, name: str, *, wait: float = 0.0) -> digests.DigestOutcome:
        """``feedpub deliver``: only claim and send what is left of digest
        ``name``'s latest editions, beside the leader and other senders."""
        outcome = self.editions().send_unfinished(self.cfg.digest(name), wait=wait)
        self._loop().after_delivery(name)
        return outcome

    def preview(self, name: str) -> tuple[str, str]:
        """The coming edition of digest ``name`` as (html, text)."""
        return self.editions().preview(self.cfg.digest(name), self.now)

    def deliveries(self, spec: str | None = None) -> list[digests.EditionDeliveries]:
        """Counts and failures of one edition or of each digest's last one."""
        return self.editions().deliveries(self.cfg.digests, spec)

    def editions(self) -> digests.Editions:
        """The edition flow over this store, made on first use."""
        if self._editions is None:
            from feedpub import digests

            self._editions = digests.Editions(
                self._store,
                digests.Renderer(digest_site(self.cfg), self.cfg.email),
                email=self.cfg.email,
                sending=self.cfg.delivery,
                tz=self.cfg.site.timezone,
                sender=self.sender,
                secret=self.secret,
                clock=self._send_clock,
                worker=self.worker,
                envelope=self._loop().envelope(),
                still_ours=self.run_lock_healthy,
            )
        return self._editions

    def _loop(self) -> inbound.MailLoop:
        """The mail that comes back, wired to this store and its subscribers."""
        from feedpub import inbound

        names = [d.name for d in self.cfg.digests]
        return inbound.MailLoop(
            self._store,
            ReturnedMail(self._store, names, [d.name for d in self.cfg.digests if d.is_alert]),
            inbound=self.cfg.inbound,
            sending=self.cfg.delivery,
            digests=names,
            unsubscribe_address=self.cfg.email.unsubscribe_mailto,
            clock=self._send_clock,
            secret=self.secret,
            open_mailbox=inbound.open_mailbox,
        )

    def inbound(self) -> InboundReport:
        """Read the bounce mailbox and act on what came back (``inbound``)."""
        return self._loop().read_mailbox()

    def inbound_kept(self) -> list[str]:
        """The messages of the bounce mailbox kept for a person, one line each."""
        return self._loop().kept()

    def resume_digest(self, name: str) -> bool:
        """Lift a digest's pause; False when it was not paused."""
        self.cfg.digest(name)
        return self._store.resume_digest(name)

    def _send_clock(self) -> datetime:
        # The time handed in, moved on by the monotonic clock: a long send
        # keeps its claims fresh without a stage reading the wall clock.
        return self.now + timedelta(seconds=time.monotonic() - self._started)

    def sender(self) -> delivery.Sender:
        """The backend of ``delivery.backend``, opened on first use."""
        if self._sender is None:
            from feedpub.delivery import backends

            self._sender = backends.make_sender(self.cfg.delivery, os.environ, self.cfg.path)
        return self._sender

    def use_sender(self, sender: delivery.Sender) -> None:
        """Send through ``sender`` instead (tests; closed with the publisher)."""
        if self._sender is not None:
            self._sender.close()
        self._sender = sender

    def secret(self) -> bytes:
        """The signing secret of the links; ``SecretError`` names where it goes."""
        if self._secret is None:
            self._secret = load_secret(os.environ)
        return self._secret

    # --- subscribers --------------------------------------------------------------------

    def subscribers(self) -> list[Subscriber]:
        return self._store.subscribers()

    def add_subscriber(
        self,
        address: str,
        *,
        name: str | None = None,
        digests: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        resubscribe_reason: str | None = None,
    ) -> AddOutcome:
        """Add (or update) an active subscriber, keeping what is not given;
        ValueError for a bad address or an unknown digest, ConsentRefused for
        a suppressed address without ``resubscribe_reason``."""
        return self.roster.add(
            address,
            self.now,
            name=name,
            digests=digests,
            tags=tags,
            resubscribe_reason=resubscribe_reason,
        )

    def remove_subscriber(self, address: str) -> bool:
        return self.roster.remove(address, self.now)

    def unsubscribe_subscriber(self, address: str, reason: str = "") -> Suppression | None:
        """Unsubscribe the address for good; the suppression already in force, if any."""
        return self.roster.unsubscribe(address, self.now, reason)

    def bounce_subscriber(self, address: str) -> bool:
        """Mark the address bounced: it gets nothing more."""
        return self.roster.bounce(address, self.now)

    def suppressions(self) -> list[Suppression]:
        return self.roster.suppressions()

    def import_subscribers(self, path: Path) -> ImportReport:
        return self.roster.import_csv(path, self.now)

    def export_subscribers(self) -> str:
        return self.roster.export()

    def seed_subscribers(self) -> None:
        """Import ``subscribers.seed`` once per publisher, when it changed
        since it was last applied."""
        if self.cfg.subscribers.seed is not None and not self._seeded:
            self._seeded = True
            self.roster.seed(self.cfg.subscribers.seed, self.now)

    def subscriptions(self, on_queued: Callable[[], None] | None = None) -> StoreSubscriptions:
        """``web.Subscriptions`` over this publisher's store (``serve``);
        ``on_queued`` runs after each sign-up is queued (wakes the mailer)."""
        return StoreSubscriptions(
            self._store,
            [d.name for d in self.cfg.digests],
            opt_in=[d.name for d in self.cfg.digests if d.is_alert],
            signups=self._store,
            on_queued=on_queued,
        )

    # --- sign-ups -----------------------------------------------------------------------

    def signups(self) -> signup_mail.SignupReport:
        """Mail the queued sign-ups and expire old ones (``subscribers.signups``)."""
        from feedpub import digests
        from feedpub.delivery import backends

        s, cfg = self.cfg.subscribers, self.cfg
        writer = digests.SignupMailWriter(
            digest_site(cfg),
            cfg.email,
            s.from_addr,
            tuple((d.name, d.title or d.name) for d in cfg.digests),
        )
        mailer = signup_mail.SignupMailer(
            self._store,
            writer,
            open_sender=lambda: backends.make_sender(cfg.delivery, os.environ, cfg.path),
            secret=self.secret,
            settings=signup_mail.SignupSettings(
                confirm_expiry=s.confirm_expiry,
                confirm_per_hour=s.confirm_per_hour,
                pending_expiry=s.pending_expiry,
                confirm_url=s.confirm_url,
                preferences_url=cfg.email.preferences_url,
            ),
        )
        return mailer.run(self.now)

    def signup_mailer(
        self, clock: Callable[[], datetime], *, every: float = 60.0
    ) -> signup_mail.MailerLoop:
        """``serve``'s mailer thread (not started): a pass at ``clock``'s
        time whenever ``wake`` is called and every ``every`` seconds."""

        def one_pass() -> None:
            report = self.at(clock()).signups()
            if any(report.counts().values()):
                signup_mail.log.info("%s", report.summary())

        return signup_mail.MailerLoop(one_pass, every=every)

    def subscriber_record(
        self, address: str
    ) -> tuple[Subscriber | None, list[Signup], list[Consent]]:
        """``subscribers show``: the subscriber, its sign-ups still kept and
        its consent records."""
        found = self._store.get_subscriber(address)
        return found, self._store.signups_of(address), self._store.consents(address)
