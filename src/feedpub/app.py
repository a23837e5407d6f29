"""The composition root: the one place that wires the stages together
(lemon24/reader's ``make_reader`` is the model).

``make_publisher`` opens the store (unless one is handed in) and returns a
``Publisher``: every front end (cli, service, web) and the tests go through
it. It holds the time ``now``, read once by the caller, so a run is
deterministic under test; and it hands each stage its own config section.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from types import TracebackType
from typing import Protocol

from feedpub import cron, delivery, digests, ingest, roster
from feedpub import output as publish
from feedpub.config import Config, ConfigError, DigestConfig
from feedpub.config.schema import SMTP_PASSWORD_CREDENTIAL, SMTP_PASSWORD_ENV
from feedpub.feeds import build as feed_build
from feedpub.feeds import urls as feed_urls
from feedpub.feeds import websub
from feedpub.feeds.site import FeedSite
from feedpub.model import (
    SUBSCRIBER_STATUSES,
    Article,
    BuildReport,
    Delivery,
    DeliveryStatus,
    Edition,
    IngestReport,
    JobRun,
    Preferences,
    Reject,
    Subscriber,
)
from feedpub.output import OutputError
from feedpub.roster import split_list as split_list  # for the CLI, which may not import roster
from feedpub.store import LockHolder, SqlStore, StoreError, StoreLock
from feedpub.text.arabic import tag_key
from feedpub.text.uri import ascii_domain, iri_to_uri
from feedpub.tokens import ALL_LISTS, SecretError, load_secret, make_token

log = logging.getLogger(__name__)
# One line per job run (counts and duration in the record's extras): the
# line log shippers and ``serve``'s journal keep.
job_log = logging.getLogger("feedpub.jobs")

Progress = Callable[[int, int], None]  # (files done, files in all)

# What a failed piece of work raises (store unreachable, output locked or not
# writable): the front ends report these as one line, not a traceback.
WORK_FAILURES: tuple[type[Exception], ...] = (StoreError, OutputError, OSError, SecretError)


# --- the publisher -------------------------------------------------------------


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
    error: str | None = None  # the digest could not be delivered (no secret)

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


@dataclass(frozen=True)
class RunReport:
    ingest: IngestReport
    build: BuildReport
    digests: tuple[DigestOutcome, ...]


@dataclass(frozen=True)
class ScheduledJob:
    """A named piece of work for ``service`` (which declares what it needs of one)."""

    name: str
    schedule: str  # crontab expression
    run: Callable[[], None]


class Reported(Protocol):
    """What a job returns: a report with a one-line summary."""

    def summary(self) -> str: ...


@dataclass(frozen=True)
class JobOutcome:
    run: JobRun
    report: Reported | None  # None when the job failed (``run.error`` says why)


class LockHeld(Exception):
    """Another process holds the lock asked for; the message names it."""


# What a process refused a lock raises (the CLI exits 3 on these).
LOCK_FAILURES: tuple[type[Exception], ...] = (LockHeld, publish.LockedError)


def job_counts(report: object) -> dict[str, int]:
    """The numbers of a job's report, as recorded and logged."""
    if isinstance(report, IngestReport):
        return {
            "new": report.new,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "rejected": report.rejected,
        }
    if isinstance(report, BuildReport):
        return {
            "written": len(report.written),
            "unchanged": len(report.unchanged),
            "removed": len(report.removed),
        }
    if isinstance(report, DigestOutcome):
        edition = report.edition
        return {
            "editions": 0 if edition is None else 1,
            "articles": 0 if edition is None else len(edition.article_ids),
            "delivered": len(report.delivered),
        }
    return {}


@dataclass(frozen=True)
class DigestStatus:
    digest: str
    last: Edition | None
    deliveries: Mapping[str, int]  # delivery status -> count, of the last edition


@dataclass(frozen=True)
class Status:
    now: datetime
    runs: tuple[JobRun, ...]  # the last run of each job, by job name
    next_runs: Mapping[str, datetime | None]  # job -> next scheduled time
    counts: Mapping[str, int]
    subscribers: Mapping[str, int]  # by status
    digests: tuple[DigestStatus, ...]
    locks: Mapping[str, LockHolder | None]  # "run", "leader" -> holder


class Leadership:
    """The leader lock as ``service`` uses it: who the holder is, and whether
    this process still is."""

    def __init__(self, lock: StoreLock, holder: Callable[[], LockHolder]) -> None:
        self._lock = lock
        self._holder = holder

    def acquire(self) -> bool:
        return self._lock.acquire(self._holder())

    def healthy(self) -> bool:
        return self._lock.healthy()

    def holder(self) -> str | None:
        found = self._lock.holder()
        return None if found is None else found.describe()

    def close(self) -> None:
        self._lock.close()


def digest_site(cfg: Config) -> digests.Site:
    """The few site values the digests need."""
    return digests.Site(
        title=cfg.site.title,
        url=cfg.site.url,
        language=cfg.site.language,
        timezone=cfg.site.timezone,
        domain=cfg.site.domain,
        public_url=cfg.feeds.url,
        public_dir=cfg.feeds.output,
    )


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
        self._renderer = digests.Renderer(digest_site(cfg), cfg.email)
        self._sender: delivery.Sender | None = None  # opened when the first message goes
        self._seeded = False
        self._secret: bytes | None = None
        self._started = time.monotonic()
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

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

    def build(self) -> BuildReport:
        return build_feeds(self.cfg, self._store)

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
        edition, joined = make_edition(self, name)
        outcome = resume_and_deliver(self, name, edition)
        return replace(outcome, joined=joined)

    # --- subscribers and delivery (the functions at the end of this module) ---

    def sender(self) -> delivery.Sender:
        """The backend of ``delivery.backend``, opened on first use."""
        if self._sender is None:
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
        return import_subscribers(self, path)

    def export_subscribers(self) -> str:
        return roster.write_roster(
            (s.email, s.name, s.digests, s.tags, s.status) for s in self._store.subscribers()
        )

    def deliveries(self, spec: str | None = None) -> list[EditionDeliveries]:
        """Counts and failures of one edition (``daily@2026-11-29T07:00+03:00``),
        or of each digest's last edition. ValueError for a malformed or
        unknown edition."""
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
        return StoreSubscriptions(self._store, [d.name for d in self.cfg.digests])

    def seed_subscribers(self) -> None:
        """Import ``subscribers.seed`` once per publisher (see ``seed_from``)."""
        if self.cfg.subscribers.seed is not None and not self._seeded:
            self._seeded = True
            seed_from(self, self.cfg.subscribers.seed)

    def preview(self, name: str) -> tuple[str, str]:
        """The coming edition of digest ``name`` as (html, text), as a reader
        would get it, without recording or sending anything."""
        digest_cfg = self.cfg.digest(name)
        tz = self.cfg.site.timezone
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

    def run_jobs(self, progress: Progress | None = None) -> list[JobOutcome]:
        """One cron run as separate jobs: ingest, build, then every digest.
        A job that fails is logged and recorded and the others still run
        (a build can publish what is stored when ingest failed; a broken
        digest does not stop the next)."""
        outcomes = [
            self.run_job("ingest", lambda: self.ingest(progress)),
            self.run_job("build", self.build),
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
        if report is None:
            job_log.error("%s failed after %.2fs: %s", job, run.duration, error, extra=extra)
        else:
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


# --- ingest --------------------------------------------------------------------


def ingest_sources(
    cfg: Config,
    store: SqlStore,
    now: datetime,
    *,
    progress: Progress | None = None,
) -> IngestReport:
    """Read every source file into the store. Bad input is logged, recorded as
    a reject and skipped. Articles are written in transactions of up to
    ``store.BATCH_SIZE``: a crash loses at most the batch in flight, and the
    rerun skips what is already stored unchanged.

    The rejects recorded for a file (or a source path) are its problems as
    of this reading: a file fixed since the last run loses its rejects."""
    run = ingest.settings(cfg.ingest, cfg.tags, timezone=cfg.site.timezone, site_url=cfg.site.url)
    paths, problems = ingest.discover(cfg.sources, now)
    counts = {"new": 0, "updated": 0, "unchanged": 0}
    rejected = len(problems)
    files = {ingest.source_name(path) for path in paths}
    for root in dict.fromkeys(str(source.path) for source in cfg.sources):
        if root not in files:  # a source naming one file: its reading decides
            _record_rejects(store, root, [p for p in problems if p.source == root])
    # A first pass: the lines each folder's pages repeat are its chrome.
    learned = ingest.learn_chrome(paths, cfg.ingest)
    for done, path in enumerate(paths, start=1):
        items = ingest.read_path(path, run, now, learned.get(path.parent))
        # A later record with the same id updates an earlier one: only the
        # last is written. Writing each in turn would store the last version
        # anyway, but as "updated" (and with ``updated`` moved to now) on
        # every run, as the first copy never matches what is stored.
        latest = {item.id: item for item in items if isinstance(item, Article)}
        articles = list(latest.values())
        rejects = [item for item in items if isinstance(item, Reject)]
        _record_rejects(store, ingest.source_name(path), rejects)
        rejected += len(rejects)
        for outcome, count in store.upsert_articles(articles, now).items():
            counts[outcome] += count
        if progress is not None:
            progress(done, len(paths))
    return IngestReport(
        new=counts["new"],
        updated=counts["updated"],
        unchanged=counts["unchanged"],
        rejected=rejected,
    )


def explain_page(cfg: Config, path: Path, now: datetime) -> list[str]:
    """The parser's view of one page, with its folder's learned chrome."""
    run = ingest.settings(cfg.ingest, cfg.tags, timezone=cfg.site.timezone, site_url=cfg.site.url)
    return ingest.explain_path(path, run, now)


def _record_rejects(store: SqlStore, source: str, rejects: list[Reject]) -> None:
    # Warn once per problem (cron mails it); a file still bad on the next run
    # is counted in the summary but not repeated in the log.
    for reject, new in zip(rejects, store.replace_rejects(source, rejects), strict=True):
        if new:
            log.warning("rejected %s", reject.describe())
        else:
            log.info("still rejected %s", reject.describe())


# --- feeds ---------------------------------------------------------------------


def build_feeds(cfg: Config, store: SqlStore) -> BuildReport:
    """Write every feed under ``feeds.output``, rendering only feeds whose
    inputs changed and writing only files whose bytes changed, then tell the
    WebSub hub (if any) which feeds changed. One build per output folder at a
    time: a second one fails at once with a clear message."""
    output = cfg.feeds.output
    with publish.build_lock(output):
        manifest = publish.read_manifest(output)
        site = FeedSite(cfg.site.title, cfg.site.url, cfg.site.language, cfg.site.description)
        tree = feed_build.build(
            store,
            cfg.feeds,
            site,
            manifest.fingerprints,
            generation=store.generation(),
            previous_stamp=manifest.stamp if manifest.complete else "",
        )
        report = publish.sync_tree(
            output, tree.files, manifest, fingerprints=tree.fingerprints, stamp=tree.stamp
        )
    for note in tree.notes + report.notes:
        log.warning("build: %s", note)
    # What the build did, path by path (shown with -v); unchanged files are counted.
    for path in report.written:
        log.info("build: wrote %s", path)
    for path in report.removed:
        log.info("build: removed %s", path)
    if cfg.feeds.websub_hub and report.written:
        changed = feed_urls.feed_urls(cfg.feeds.url, report.written)
        if changed:
            for problem in websub.ping(iri_to_uri(cfg.feeds.websub_hub), changed):
                log.warning("%s", problem)  # each problem starts with "websub:"
    return report


# --- subscribers and delivery ------------------------------------------------------
#
# The exactly-once flow of one digest: plan -> render -> write the archive ->
# RECORD the edition (or join the one another run recorded first) -> enqueue
# one delivery per recipient (idempotent) -> claim a batch -> compose, send,
# mark -> next batch until none. The loop lives in ``delivery.run``; what
# each message says is composed here, from ``digests``.

# Recorded editions looked at for unfinished deliveries on each run: the
# latest, and the one before it (a run that died in yesterday's slot is
# finished by today's).
RESUME_EDITIONS = 2
# An edition recorded this recently with no delivery queued at all is one a
# run died with before queueing; older ones are left alone.
RESUME_UNQUEUED_WITHIN = timedelta(hours=6)


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
    Recording comes before any delivery, so a crash after this point leaves a
    recorded edition whose deliveries the next run finishes."""
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
    if pub._store.add_edition(edition):
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
    counts = pub._store.delivery_counts(edition_id)
    if counts["pending"] + counts["claimed"] > 0:
        return True
    # No row at all: a run died between recording and enqueueing, or the
    # edition predates the deliveries table (a store upgraded in place: its
    # editions were delivered the old way). Only a recent one is finished.
    recent = pub.now - edition.created <= RESUME_UNQUEUED_WITHIN
    return sum(counts.values()) == 0 and recent


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
    """Enqueue the edition's recipients (idempotent) and send what is left."""
    store, name = pub._store, digest_cfg.name
    edition_id = store.edition_id(name, edition.slot)
    if edition_id is None:
        raise StoreError(f"digest {name}: edition {edition.slot} is not recorded")
    editor = _bare(delivery.outbox_recipient(digest_cfg))
    queue = delivery.plan_queue(
        store.subscribers_for(name), name, recorded=edition.created, editor=editor
    )
    store.enqueue_deliveries(edition_id, queue, _publisher_clock(pub))
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


def _recipient(subscriber: Subscriber) -> str:
    """The To header: the subscriber's name (quoted if need be) and address."""
    if not subscriber.name:
        return subscriber.email
    try:
        return str(Address(display_name=subscriber.name, addr_spec=subscriber.email))
    except (ValueError, IndexError):  # an address the header parser cannot split
        return subscriber.email


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

    def compose(row: Delivery) -> EmailMessage | str:
        # Stable per delivery: a message sent again after a crash carries
        # the same Message-ID, which receiving systems dedupe on.
        message_id = f"<feedpub.{edition_id}.{row.id}@{domain}>"
        now = _publisher_clock(pub)
        if row.subscriber_id is None:  # the editors' copy: no subscriber list yet
            return digests.build_message(
                pub._renderer.render(planned),
                digest_cfg,
                site,
                email,
                to=delivery.outbox_recipient(digest_cfg),
                unsubscribe_token=None,
                now=now,
                message_id=message_id,
            )
        subscriber = pub._store.get_subscriber(row.address)
        # Looked up at send time: an unsubscribe since the queueing counts.
        if subscriber is None:
            return "the subscriber was removed"
        if not subscriber.receives(name):
            return f"the subscriber is {subscriber.status} or left this digest"
        chosen = variant_articles(planned.articles, subscriber.tags)
        if not chosen:
            return "no article of this edition has the subscriber's tags"
        rendered = pub._renderer.render(replace(planned, articles=chosen))  # once per variant
        secret = pub.secret()
        return digests.build_message(
            rendered,
            digest_cfg,
            site,
            email,
            to=_recipient(subscriber),
            unsubscribe_token=make_token(secret, "unsubscribe", name, subscriber.email),
            preferences_token=make_token(secret, "preferences", ALL_LISTS, subscriber.email),
            now=now,
            message_id=message_id,
        )

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
        password = delivery.load_smtp_password(env, SMTP_PASSWORD_ENV, SMTP_PASSWORD_CREDENTIAL)
        if password is None:
            raise ConfigError(
                f"{cfg.path}: delivery.smtp.username is set but there is no password: set "
                f"${SMTP_PASSWORD_ENV} or the systemd credential "
                f"$CREDENTIALS_DIRECTORY/{SMTP_PASSWORD_CREDENTIAL}"
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
