"""The publisher's work as jobs: timed by the caller's clock, logged as one
line and recorded in the store (``feedpub status`` reads them), under the
store-wide run lock where a run must be alone; the jobs of ``feedpub
serve``; and the status report."""

from __future__ import annotations

import functools
import os
import socket
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from feedpub import cron
from feedpub.app.reports import (
    LOCK_FAILURES,
    WORK_FAILURES,
    DigestStatus,
    JobOutcome,
    LockHeld,
    Progress,
    Reported,
    ScheduledJob,
    Status,
    job_log,
    log,
)
from feedpub.config import Config
from feedpub.model import SUBSCRIBER_STATUSES, FeedbackCounts, IngestReport, JobRun
from feedpub.store import LockHolder, StoreError, StoreLock

if TYPE_CHECKING:
    from feedpub.model import BuildReport
    from feedpub.store import SqlStore


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


class JobRunner(ABC):
    """The jobs over a publisher's stages (``Publisher`` is one)."""

    cfg: Config
    now: datetime
    _store: SqlStore
    _clock: Callable[[], datetime]
    # The run lock while ``exclusive_run`` holds it.
    _held: StoreLock | None = None

    @abstractmethod
    def ingest(self, progress: Progress | None = None) -> IngestReport: ...
    @abstractmethod
    def build(self, *, adopt: bool = False) -> BuildReport: ...
    @abstractmethod
    def digest(self, name: str) -> Reported: ...
    @abstractmethod
    def at(self, now: datetime) -> JobRunner: ...
    @abstractmethod
    def inbound(self) -> Reported: ...
    @abstractmethod
    def signups(self) -> Reported: ...

    def run_jobs(
        self, progress: Progress | None = None, *, adopt: bool = False
    ) -> list[JobOutcome]:
        """One cron run as separate jobs: ingest, build, the bounce mailbox
        (when ``inbound`` is set: before the digests, so what came back is
        honoured), the alerts of what the ingest brought, then every digest,
        then the sign-up mails (``subscribers.signups``). A job that fails is
        logged and recorded and the others still run (a build can publish
        what is stored when ingest failed; a broken digest does not stop the
        next). ``adopt`` goes to the build."""
        jobs: list[tuple[str, Callable[[], Reported]]] = [
            ("ingest", lambda: self.ingest(progress)),
            ("build", lambda: self.build(adopt=adopt)),
        ]
        if self.cfg.inbound.enabled:
            jobs.append(("inbound", self.inbound))
        jobs += [(job, functools.partial(self.digest, name)) for job, name in self.alert_jobs()]
        for digest in self.cfg.digests:
            if digest.is_alert:
                continue
            jobs.append((f"digest {digest.name}", functools.partial(self.digest, digest.name)))
        jobs.append(("signups", self.signups))  # mail what the sign-up form queued
        outcomes = []
        for name, work in jobs:
            self._check_run_lock()
            outcomes.append(self.run_job(name, work))
        return outcomes

    def alert_jobs(self) -> list[tuple[str, str]]:
        """(job name, digest name) of each alert digest: run after every
        ingest (and the build, so the article pages they link to exist)."""
        return [(f"alert {d.name}", d.name) for d in self.cfg.digests if d.is_alert]

    def run_lock_healthy(self) -> bool:
        """Whether the run lock, when this run holds it, is still held (a
        PostgreSQL lock dies with its connection); True when none is held."""
        return self._held is None or self._held.healthy()

    def _check_run_lock(self) -> None:
        if not self.run_lock_healthy():
            from feedpub.delivery import RunLockLost

            raise RunLockLost(
                "the run lock was lost (its store connection died): another run may have "
                "started; this one stops"
            )

    def run_job(self, job: str, work: Callable[[], Reported]) -> JobOutcome:
        """Run one job, timed by the clock: log one line (info when it
        worked, error when it failed) and record the run in the store. A
        known failure (``WORK_FAILURES``) is caught and reported; so is a
        part that failed (a source that could not be read)."""
        started = self._clock()
        report: Reported | None = None
        error: str | None = None
        try:
            report = work()
        except WORK_FAILURES as exc:
            error = " ".join(str(exc).split()) or type(exc).__name__
        else:
            error = report.failure()
        run = JobRun(
            job=job,
            started=started,
            finished=self._clock(),
            status="ok" if error is None else "failed",
            counts={} if report is None else report.counts(),
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
            self._store.add_run(run, keep=timedelta(days=self.cfg.store.keep_runs_days))
        except StoreError as exc:
            if error is None:  # a failing store was reported by the job itself
                log.warning("%s: not recorded: %s", job, exc)
        return JobOutcome(run, report)

    def service_jobs(self, clock: Callable[[], datetime]) -> list[ScheduledJob]:
        """The jobs of ``feedpub serve``, on two workers of the service so
        that publishing goes on while a relay is slow:

        - "publish" (worker "publish"): ingest and build, on service.schedule;
        - "mail" (worker "delivery", when ``inbound`` is set or a digest is
          an alert), on service.schedule: this tick's ingest and build (run
          once per tick, by whichever job gets there first), then under the
          run lock the bounce mailbox and the alerts of what was ingested;
        - "digest-<name>" (worker "delivery"), on the digest's schedule:
          ingest and build first (so it carries the latest news), then the
          mailbox and the digest under the store-wide run lock, as ``feedpub
          run`` and ``feedpub digest`` take it (one sender per store).

        Locks, and why nothing waits on a delivery: ingest and build of both
        workers take turns on an in-process lock (``publishing``), held only
        while they run, never while mail is sent; they never take the run
        lock, so the publish worker never waits behind a delivery holding it.
        A digest job takes the run lock only after its ingest and build are
        done, and never asks for ``publishing`` while holding it, so the two
        cannot wait on each other. Across processes two builds are kept
        apart by the output folder's build lock (a build that finds it held
        fails, says so, and runs again at its next time).

        A job reads ``clock`` when it runs and works on this publisher's
        store; each step is run, logged and recorded by ``run_job``, so a
        failure is one line and the next steps (and the job's next time)
        still run."""
        publishing = threading.Lock()
        published: list[datetime] = []  # when the last ingest and build ended

        def publish(at: JobRunner) -> None:
            # Jobs of one tick start together on both workers: the second to
            # get the lock finds an ingest and build that ended after it
            # began, and does not read the sources (a site's API) again.
            with publishing:
                if published and published[-1] > at.now:
                    return
                at.run_job("ingest", at.ingest)
                at.run_job("build", at.build)
                published[:] = [clock()]

        def publish_job() -> None:
            publish(self.at(clock()))

        def mail_job() -> None:
            # After this tick's ingest (its own, or the publish job's when
            # that one got there first): what it brought is alerted now.
            at = self.at(clock())
            publish(at)
            with at.exclusive_run():
                if at.cfg.inbound.enabled:
                    at.run_job("inbound", at.inbound)
                for job, name in at.alert_jobs():
                    at.run_job(job, functools.partial(at.digest, name))

        def digest_job(digest: str) -> Callable[[], None]:
            def run() -> None:
                at = self.at(clock())
                publish(at)
                with at.exclusive_run():
                    if at.cfg.inbound.enabled:
                        at.run_job("inbound", at.inbound)
                    at.run_job(f"digest {digest}", lambda: at.digest(digest))

            return run

        schedule = self.cfg.service.schedule
        jobs = [ScheduledJob("publish", schedule, _logged("publish", publish_job))]
        if self.cfg.inbound.enabled or any(d.is_alert for d in self.cfg.digests):
            jobs.append(ScheduledJob("mail", schedule, _logged("mail", mail_job), "delivery"))
        for digest in self.cfg.digests:
            if digest.is_alert:  # no schedule: the mail job alerts after each ingest
                continue
            name = f"digest-{digest.name}"
            work = _logged(f"digest {digest.name}", digest_job(digest.name))
            jobs.append(ScheduledJob(name, digest.schedule, work, "delivery"))
        return jobs

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
            self._held = lock
            yield
        finally:
            self._held = None
            lock.close()

    def leadership(self, timeout: float) -> Leadership:
        """The leader lock of ``feedpub serve`` for this process (not taken)."""
        return Leadership(self._store.lock("leader", timeout=timeout), self.lock_holder)

    def status(self) -> Status:
        """What ``feedpub status`` reports, as of ``now``."""
        tz, store = self.cfg.site.timezone, self._store
        schedules = {"publish": cron.next_slot(self.cfg.service.schedule, tz, self.now)}
        editions = []
        paused = store.digest_pauses()
        for digest in self.cfg.digests:
            if not digest.is_alert:  # an alert has no schedule: it follows each ingest
                schedules[f"digest {digest.name}"] = cron.next_slot(digest.schedule, tz, self.now)
            last = store.last_edition(digest.name)
            counts: dict[str, int] = {}
            feedback = FeedbackCounts()
            found = None if last is None else store.edition_id(last.digest, last.slot)
            progress = ""
            if found is not None:
                counts = {str(k): v for k, v in store.delivery_counts(found).items()}
                feedback = store.feedback_counts(found)
                progress = self._progress(found)
            editions.append(
                DigestStatus(digest.name, last, counts, feedback, paused.get(digest.name), progress)
            )
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
            locks={name: self._holder_of(name) for name in ("run", "leader")},
            sources=tuple(store.source_states()),
        )

    def _progress(self, edition_id: int) -> str:
        """The edition's sending: done of all, every sender's rate, the finish."""
        from feedpub import delivery

        store = self._store
        senders = store.sent_by_worker(edition_id, self.now - delivery.RATE_WINDOW)
        counts = {str(k): v for k, v in store.delivery_counts(edition_id).items()}
        return delivery.edition_progress(counts, senders, now=self.now).describe()

    def _holder_of(self, name: str) -> LockHolder | None:
        lock = self._store.lock(name)
        try:
            return lock.holder()
        finally:
            lock.close()


def _logged(name: str, job: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            job()
        except (*WORK_FAILURES, *LOCK_FAILURES) as exc:
            # LockHeld: a `feedpub run` or `digest` of another process is
            # sending; this job's next time catches up what is due.
            log.error("%s failed: %s", name, exc)

    return run
