"""The composition root: the one place that wires the stages together
(lemon24/reader's ``make_reader`` is the model).

``make_publisher`` opens the store (unless one is handed in) and returns a
``Publisher``: every front end (cli, service, web) and the tests go through
it. It holds the time ``now``, read once by the caller, so a run is
deterministic under test; and it hands each stage its own config section.

The package: ``reports`` (what runs report), ``stages`` (ingest and build
as the publisher runs them), ``mailing`` (subscribers and exactly-once
delivery); this module holds ``make_publisher`` and ``Publisher``. It runs
over 400 lines because ``Publisher`` is the one facade every front end
calls (a method per command and job); the work those methods do lives in
the submodules.
"""

from __future__ import annotations

import functools
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from feedpub import cron
from feedpub.app.reports import (
    LOCK_FAILURES as LOCK_FAILURES,
)
from feedpub.app.reports import (
    OPERATOR_FAILURES as OPERATOR_FAILURES,
)
from feedpub.app.reports import (
    WORK_FAILURES as WORK_FAILURES,
)
from feedpub.app.reports import (
    DigestOutcome as DigestOutcome,
)
from feedpub.app.reports import (
    DigestStatus as DigestStatus,
)
from feedpub.app.reports import (
    JobOutcome as JobOutcome,
)
from feedpub.app.reports import (
    Leadership as Leadership,
)
from feedpub.app.reports import (
    LockHeld as LockHeld,
)
from feedpub.app.reports import (
    Progress as Progress,
)
from feedpub.app.reports import (
    Reported as Reported,
)
from feedpub.app.reports import (
    RunReport as RunReport,
)
from feedpub.app.reports import (
    ScheduledJob as ScheduledJob,
)
from feedpub.app.reports import (
    Status as Status,
)
from feedpub.app.reports import (
    job_counts as job_counts,
)
from feedpub.app.reports import (
    job_log as job_log,
)
from feedpub.app.reports import (
    log as log,
)
from feedpub.app.stages import (
    build_feeds as build_feeds,
)
from feedpub.app.stages import (
    check_sources,
)
from feedpub.app.stages import (
    explain_page as explain_page,
)
from feedpub.app.stages import (
    ingest_sources as ingest_sources,
)
from feedpub.app.stages import (
    quick_build as quick_build,
)
from feedpub.config import Config
from feedpub.model import (
    SUBSCRIBER_STATUSES,
    Article,
    BuildReport,
    IngestReport,
    JobRun,
    Reject,
    Subscriber,
)
from feedpub.roster import split_list as split_list  # for the CLI, which may not import roster
from feedpub.store import LockHolder, StoreError
from feedpub.tokens import SecretError, load_secret

# Digests, delivery and subscriber files (premailer, cssutils, requests,
# email-validator: half a second of imports) load when a command uses them,
# not for every build: ``mailing``'s names are re-exported lazily.
_MAILING = frozenset(
    {
        "RESUME_EDITIONS",
        "EditionDeliveries",
        "ImportReport",
        "StoreSubscriptions",
        "deliver_edition",
        "import_subscribers",
        "make_edition",
        "make_sender",
        "open_subscriptions",
        "parse_edition",
        "resume_and_deliver",
        "seed_from",
        "variant_articles",
    }
)
if TYPE_CHECKING:
    from feedpub import delivery, digests
    from feedpub.app.mailing import RESUME_EDITIONS as RESUME_EDITIONS
    from feedpub.app.mailing import EditionDeliveries as EditionDeliveries
    from feedpub.app.mailing import ImportReport as ImportReport
    from feedpub.app.mailing import StoreSubscriptions as StoreSubscriptions
    from feedpub.app.mailing import deliver_edition as deliver_edition
    from feedpub.app.mailing import import_subscribers as import_subscribers
    from feedpub.app.mailing import make_edition as make_edition
    from feedpub.app.mailing import make_sender as make_sender
    from feedpub.app.mailing import open_subscriptions as open_subscriptions
    from feedpub.app.mailing import parse_edition as parse_edition
    from feedpub.app.mailing import resume_and_deliver as resume_and_deliver
    from feedpub.app.mailing import seed_from as seed_from
    from feedpub.app.mailing import variant_articles as variant_articles
    from feedpub.store import SqlStore


def __getattr__(name: str) -> Any:
    if name in _MAILING:
        from feedpub.app import mailing

        return getattr(mailing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


def check_config(cfg: Config) -> None:
    """What the stages check of their own config sections before a run that
    ingests: a bad ``sources:`` entry is a ``ConfigError`` naming it."""
    check_sources(cfg)


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


class Publisher:
    """The stages wired to one config, one store and one time. A context manager."""

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
        self._clock: Callable[[], datetime] = clock or (lambda: now)
        self._store = store
        self._owns_store = owns_store
        self._digest_renderer: digests.Renderer | None = None  # made on first use
        self._sender: delivery.Sender | None = None  # opened when the first message goes
        self._seeded = False
        self._secret: bytes | None = None
        self._started = time.monotonic()
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    @property
    def _renderer(self) -> digests.Renderer:
        """The digest renderer (``mailing`` reads it), made on first use."""
        if self._digest_renderer is None:
            from feedpub import digests

            self._digest_renderer = digests.Renderer(digest_site(self.cfg), self.cfg.email)
        return self._digest_renderer

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

    def ingest(self, progress: Progress | None = None) -> IngestReport:
        return ingest_sources(self.cfg, self._store, self.now, progress=progress)

    def explain_page(self, path: Path) -> list[str]:
        """``feedpub ingest --explain``: each line of the scraped page at
        ``path`` with the role the parser gives it and why."""
        return explain_page(self.cfg, path, self.now)

    def build(self, *, adopt: bool = False) -> BuildReport:
        """``adopt``: take over files in the way that feedpub did not write."""
        return build_feeds(self.cfg, self._store, adopt=adopt)

    def articles(self, limit: int | None = None) -> list[Article]:
        """The stored articles, newest first."""
        return self._store.latest_articles(limit=limit)

    def rejects(self) -> list[Reject]:
        return self._store.rejects()

    def digest(self, name: str) -> DigestOutcome:
        """Make the edition of digest ``name`` if one is due and deliver it,
        exactly once per recipient; also finish deliveries of recorded
        editions that a dead or interrupted run left (see ``make_edition``
        and ``deliver_edition``)."""
        self.seed_subscribers()
        from feedpub.app.mailing import make_edition, resume_and_deliver

        edition, joined = make_edition(self, name)
        outcome = resume_and_deliver(self, name, edition)
        return replace(outcome, joined=joined)

    # --- subscribers and delivery (the functions at the end of this module) ---

    def sender(self) -> delivery.Sender:
        """The backend of ``delivery.backend``, opened on first use."""
        if self._sender is None:
            from feedpub.app.mailing import make_sender

            self._sender = make_sender(self.cfg)
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

    def subscribers(self) -> list[Subscriber]:
        return self._store.subscribers()

    def add_subscriber(
        self,
        address: str,
        *,
        name: str | None = None,
        digests: Sequence[str] = (),
        tags: Sequence[str] = (),
    ) -> tuple[Subscriber, bool]:
        """Add (or update) an active subscriber; ValueError for a bad address
        or an unknown digest."""
        from feedpub import roster

        problem = roster.check_address(address)
        if problem:
            raise ValueError(f"{address}: {problem}")
        known = [d.name for d in self.cfg.digests]
        for digest in digests:
            if digest not in known:
                raise ValueError(f"no digest named {digest!r} ({', '.join(known)})")
        subscriber, new = self._store.add_subscriber(
            address, self.now, name=name, digests=digests, tags=tags, status="active"
        )
        if not new and subscriber.status != "active":
            self._store.set_subscriber_status(address, "active", self.now)
            subscriber = replace(subscriber, status="active")
        return subscriber, new

    def remove_subscriber(self, address: str) -> bool:
        return self._store.remove_subscriber(address)

    def bounce_subscriber(self, address: str) -> bool:
        """Mark the address bounced: it gets nothing more."""
        return self._store.set_subscriber_status(address, "bounced", self.now)

    def import_subscribers(self, path: Path) -> ImportReport:
        from feedpub.app.mailing import import_subscribers

        return import_subscribers(self, path)

    def export_subscribers(self) -> str:
        from feedpub import roster

        return roster.write_roster(
            (s.email, s.name, s.digests, s.tags, s.status) for s in self._store.subscribers()
        )

    def deliveries(self, spec: str | None = None) -> list[EditionDeliveries]:
        """Counts and failures of one edition (``daily@2026-11-29T07:00+03:00``),
        or of each digest's last edition. ValueError for a malformed or
        unknown edition."""
        from feedpub.app.mailing import EditionDeliveries, parse_edition

        if spec is not None:
            name, slot = parse_edition(spec)
            self.cfg.digest(name)
            found = self._store.get_edition(name, slot)
            if found is None:
                raise ValueError(f"no edition {spec}")
            editions = [found]
        else:
            editions = [e for d in self.cfg.digests if (e := self._store.last_edition(d.name))]
        result = []
        for edition in editions:
            edition_id = self._store.edition_id(edition.digest, edition.slot)
            assert edition_id is not None
            result.append(
                EditionDeliveries(
                    edition.digest,
                    edition,
                    self._store.delivery_counts(edition_id),
                    tuple(self._store.delivery_failures(edition_id)),
                )
            )
        return result

    def subscriptions(self) -> StoreSubscriptions:
        """``web.Subscriptions`` over this publisher's store (``serve``)."""
        from feedpub.app.mailing import StoreSubscriptions

        return StoreSubscriptions(self._store, [d.name for d in self.cfg.digests])

    def seed_subscribers(self) -> None:
        """Import ``subscribers.seed`` once per publisher (see ``seed_from``)."""
        if self.cfg.subscribers.seed is not None and not self._seeded:
            self._seeded = True
            from feedpub.app.mailing import seed_from

            seed_from(self, self.cfg.subscribers.seed)

    def preview(self, name: str) -> tuple[str, str]:
        """The coming edition of digest ``name`` as (html, text), as a reader
        would get it, without recording or sending anything."""
        digest_cfg = self.cfg.digest(name)
        tz = self.cfg.site.timezone
        from feedpub import delivery, digests

        planned = digests.preview_edition(self._store, digest_cfg, self.now, tz=tz)
        return digests.personalize(
            self._renderer.render(planned),
            self.cfg.email,
            to=delivery.outbox_recipient(digest_cfg),
            unsubscribe_token=None,
        )

    def run(self, progress: Progress | None = None) -> RunReport:
        """One cron run: ingest, build the feeds, make every due digest. A
        digest that cannot be delivered (no secret) is reported in its
        outcome; the other digests still run."""
        ingested = self.ingest(progress)
        built = self.build()
        outcomes = tuple(self.digest_or_error(d.name) for d in self.cfg.digests)
        return RunReport(ingested, built, outcomes)

    def digest_or_error(self, name: str) -> DigestOutcome:
        try:
            return self.digest(name)
        except SecretError as exc:
            return DigestOutcome(name, None, error=str(exc))

    def service_jobs(self, clock: Callable[[], datetime]) -> list[ScheduledJob]:
        """The jobs of ``feedpub serve``: ingest and build on service.schedule,
        and each digest (after a fresh ingest and build, so it carries the
        latest news) on its own schedule. A job reads ``clock`` when it runs
        and works on this publisher's store; each step is run, logged and
        recorded by ``run_job``, so a failure is one line and the next steps
        (and the job's next time) still run."""

        def publish_job() -> None:
            at = self.at(clock())
            at.run_job("ingest", at.ingest)
            at.run_job("build", at.build)

        def digest_job(name: str) -> Callable[[], None]:
            def run() -> None:
                at = self.at(clock())
                at.run_job("ingest", at.ingest)
                at.run_job("build", at.build)
                at.run_job(f"digest {name}", lambda: at.digest(name))

            return run

        jobs = [ScheduledJob("publish", self.cfg.service.schedule, _logged("publish", publish_job))]
        for digest in self.cfg.digests:
            runner = _logged(f"digest {digest.name}", digest_job(digest.name))
            jobs.append(ScheduledJob(f"digest-{digest.name}", digest.schedule, runner))
        return jobs

    # --- operations: timed and recorded jobs, the run lock, status ---------------

    def run_jobs(
        self, progress: Progress | None = None, *, adopt: bool = False
    ) -> list[JobOutcome]:
        """One cron run as separate jobs: ingest, build, then every digest.
        A job that fails is logged and recorded and the others still run
        (a build can publish what is stored when ingest failed; a broken
        digest does not stop the next). ``adopt`` goes to the build."""
        outcomes = [
            self.run_job("ingest", lambda: self.ingest(progress)),
            self.run_job("build", lambda: self.build(adopt=adopt)),
        ]
        for digest in self.cfg.digests:
            work = functools.partial(self.digest, digest.name)
            outcomes.append(self.run_job(f"digest {digest.name}", work))
        return outcomes

    def run_job(self, job: str, work: Callable[[], Reported]) -> JobOutcome:
        """Run one job, timed by the clock: log one line (info when it
        worked, error when it failed) and record the run in the store. A
        known failure (``WORK_FAILURES``) is caught and reported."""
        started = self._clock()
        report: Reported | None = None
        error: str | None = None
        try:
            report = work()
        except WORK_FAILURES as exc:
            error = " ".join(str(exc).split()) or type(exc).__name__
        else:
            # Part of the work failed (a source that could not be read): the
            # job failed, with what the rest did kept in its report.
            if isinstance(report, IngestReport):
                error = "; ".join(report.failed_sources) or None
        finished = self._clock()
        run = JobRun(
            job=job,
            started=started,
            finished=finished,
            status="ok" if error is None else "failed",
            counts={} if report is None else job_counts(report),
            error=error,
            host=socket.gethostname(),
            pid=os.getpid(),
        )
        extra = {"job": job, "duration": round(run.duration, 3), "counts": dict(run.counts)}
        if error is not None:
            job_log.error("%s failed after %.2fs: %s", job, run.duration, error, extra=extra)
        elif report is not None:
            job_log.info("%s (%.2fs)", report.summary(), run.duration, extra=extra)
        try:
            self._store.add_run(run)
        except StoreError as exc:
            if error is None:  # a failing store was reported by the job itself
                log.warning("%s: not recorded: %s", job, exc)
        return JobOutcome(run, report)

    def lock_holder(self) -> LockHolder:
        """This process, as named to one refused a lock."""
        return LockHolder(host=socket.gethostname(), pid=os.getpid(), since=self._clock())

    @contextmanager
    def exclusive_run(self, *, wait: float = 0.0) -> Iterator[None]:
        """Hold the run-wide lock (one ``feedpub run`` per store across
        machines) for the block, waiting up to ``wait`` seconds for it.
        Raises ``LockHeld`` naming the holder when another run keeps it."""
        lock = self._store.lock("run")
        try:
            if not lock.acquire(self.lock_holder(), wait=wait):
                holder = lock.holder()
                named = holder.describe() if holder is not None else "holder unknown"
                raise LockHeld(f"another feedpub run holds the run lock ({named}); try again later")
            yield
        finally:
            lock.close()

    def leadership(self, timeout: float) -> Leadership:
        """The leader lock of ``feedpub serve`` for this process (not taken)."""
        return Leadership(self._store.lock("leader", timeout=timeout), self.lock_holder)

    def status(self) -> Status:
        """What ``feedpub status`` reports, as of ``now``."""
        tz = self.cfg.site.timezone
        store = self._store
        schedules = {"publish": cron.next_slot(self.cfg.service.schedule, tz, self.now)}
        editions = []
        for digest in self.cfg.digests:
            schedules[f"digest {digest.name}"] = cron.next_slot(digest.schedule, tz, self.now)
            last = store.last_edition(digest.name)
            counts: dict[str, int] = {}
            if last is not None:
                found = store.edition_id(last.digest, last.slot)
                if found is not None:
                    counts = {str(k): v for k, v in store.delivery_counts(found).items()}
            editions.append(DigestStatus(digest.name, last, counts))
        holders: dict[str, LockHolder | None] = {}
        for name in ("run", "leader"):
            lock = store.lock(name)
            try:
                holders[name] = lock.holder()
            finally:
                lock.close()
        return Status(
            now=self.now,
            runs=tuple(store.last_runs()),
            next_runs=schedules,
            counts={
                "articles": store.article_count(),
                "tags": len(store.tags()),
                "rejects": len(store.rejects()),
            },
            subscribers={s: store.subscriber_count(s) for s in SUBSCRIBER_STATUSES},
            digests=tuple(editions),
            locks=holders,
        )


def _logged(name: str, job: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            job()
        except WORK_FAILURES as exc:
            log.error("%s failed: %s", name, exc)

    return run
