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
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol

from feedpub import cron, delivery, digests, ingest
from feedpub import output as publish
from feedpub.config import Config
from feedpub.feeds import build as feed_build
from feedpub.feeds import urls as feed_urls
from feedpub.feeds import websub
from feedpub.feeds.site import FeedSite
from feedpub.model import (
    SUBSCRIBER_STATUSES,
    Article,
    BuildReport,
    Edition,
    IngestReport,
    JobRun,
    Reject,
)
from feedpub.output import OutputError
from feedpub.store import LockHolder, SqlStore, StoreError, StoreLock
from feedpub.text.uri import iri_to_uri

log = logging.getLogger(__name__)
# One line per job run (counts and duration in the record's extras): the
# line log shippers and ``serve``'s journal keep.
job_log = logging.getLogger("feedpub.jobs")

Progress = Callable[[int, int], None]  # (files done, files in all)

# What a failed piece of work raises (store unreachable, output locked or not
# writable): the front ends report these as one line, not a traceback.
WORK_FAILURES: tuple[type[Exception], ...] = (StoreError, OutputError, OSError)


# --- the publisher -------------------------------------------------------------


@dataclass(frozen=True)
class DigestOutcome:
    digest: str
    edition: Edition | None
    delivered: tuple[str, ...] = ()  # where each message sent went (the sender's detail)

    def summary(self) -> str:
        if self.edition is None:
            return f"digest {self.digest}: nothing due"
        return (
            f"digest {self.digest}: edition {self.edition.slot.isoformat()} with "
            f"{len(self.edition.article_ids)} articles"
            + (f" ({self.edition.dropped} left out for size)" if self.edition.dropped else "")
            + f", {len(self.delivered)} delivered"
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
        self._sender: delivery.Sender = delivery.Outbox(cfg.delivery.outbox)

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
        self._sender.close()
        if self._owns_store:
            self._store.close()

    def at(self, now: datetime) -> Publisher:
        """The same wiring and store as of another time (a service job's);
        closing it leaves the store open."""
        return Publisher(self.cfg, self._store, now, owns_store=False, clock=self._clock)

    def ingest(self, progress: Progress | None = None) -> IngestReport:
        return ingest_sources(self.cfg, self._store, self.now, progress=progress)

    def build(self) -> BuildReport:
        return build_feeds(self.cfg, self._store)

    def articles(self, limit: int | None = None) -> list[Article]:
        """The stored articles, newest first."""
        return self._store.latest_articles(limit=limit)

    def rejects(self) -> list[Reject]:
        return self._store.rejects()

    def digest(self, name: str) -> DigestOutcome:
        """Make the edition of digest ``name`` if one is due: render it, write
        its web archive page, hand it to delivery, then record it. Delivery
        is keyed by edition and recipient, so a run that dies before
        recording and is rerun never sends a second copy; recording last
        means a failed render or delivery leaves the slot open for the next
        run."""
        digest_cfg = self.cfg.digest(name)
        tz = self.cfg.site.timezone
        planned = digests.plan_edition(self._store, digest_cfg, self.now, tz=tz)
        if planned is None:
            return DigestOutcome(name, None)
        rendered = self._renderer.render(planned)  # warns when it leaves articles out
        edition = digests.edition_record(planned, rendered, self.now)
        # The web copy first: the email's «view in browser» link points at it.
        site, email, now = self._renderer.site, self.cfg.email, self.now
        digests.write_archive(self._store, digest_cfg, rendered, site, email)
        delivered = []
        # No subscriber list yet: the outbox gets one copy for the editor.
        for recipient in (delivery.outbox_recipient(digest_cfg),):
            message = digests.build_message(
                rendered, digest_cfg, site, email, to=recipient, unsubscribe_token=None, now=now
            )
            key = delivery.message_key(edition.digest, edition.slot, recipient)
            result = self._sender.send(message, key)
            if result.status == "sent":
                delivered.append(result.detail)
            else:
                log.info("digest %s: %s for %s: %s", name, result.status, key, result.detail)
        if not self._store.add_edition(edition):
            # Another run (maybe on another machine) recorded this slot first.
            log.info("digest %s: slot %s was recorded by another run", name, edition.slot)
        return DigestOutcome(name, edition, tuple(delivered))

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
        """One cron run: ingest, build the feeds, make every due digest."""
        ingested = self.ingest(progress)
        built = self.build()
        outcomes = tuple(self.digest(d.name) for d in self.cfg.digests)
        return RunReport(ingested, built, outcomes)

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
    for done, path in enumerate(paths, start=1):
        items = ingest.read_path(path, run, now)
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
