"""The long-running service (``feedpub serve``), on APScheduler 3.x.

The only module that imports apscheduler. It knows nothing of feedpub's
stages: it is handed named jobs (``app.Publisher.service_jobs`` makes them)
and runs each on its cron schedule, whose slots come from ``cron``.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger

from feedpub import cron

log = logging.getLogger(__name__)

_TICK = timedelta(microseconds=1)


class _CronSlots(BaseTrigger):  # type: ignore[misc]
    """An APScheduler trigger firing at ``cron``'s slots, so the service and
    the digests agree on what a schedule means (crontab weekdays included:
    APScheduler 3's own CronTrigger numbers them from Monday)."""

    def __init__(self, expression: str, timezone: tzinfo) -> None:
        cron.check_cron(expression)
        self.expression = expression
        self.timezone = timezone

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        # As APScheduler's CronTrigger does: the first slot at or after the
        # earlier of "just after the previous fire" and now, so a slot missed
        # while the machine slept is reported (and coalesced), not skipped.
        start = now
        if previous_fire_time is not None:
            start = min(now, previous_fire_time + _TICK)
        return cron.next_slot(self.expression, self.timezone, start - _TICK)

    def __str__(self) -> str:
        return f"cron[{self.expression}]"


class Job(Protocol):
    """What the service needs of a job (declared here, by its consumer)."""

    @property
    def name(self) -> str: ...

    @property
    def schedule(self) -> str:  # crontab expression
        ...

    @property
    def run(self) -> Callable[[], object]: ...

    @property
    def worker(self) -> str:  # one of WORKERS
        ...


# Each kind of job has a worker thread of its own: a delivery stuck on a
# relay that never answers (each message has its deadline, the run its own:
# delivery.smtp.timeout, delivery.max_run_seconds) never holds up an ingest
# or a build. One thread per worker: jobs of a kind never overlap.
WORKERS = ("publish", "delivery")


class Leadership(Protocol):
    """The leader lock (``app.Publisher.leadership`` makes it): one process
    among every ``serve`` sharing the store holds it and runs the jobs."""

    def acquire(self) -> bool: ...
    def healthy(self) -> bool: ...
    def holder(self) -> str | None: ...


def build_service(
    jobs: Sequence[Job],
    timezone: tzinfo,
    *,
    first_run: datetime | None = None,
    background: bool = False,
) -> BaseScheduler:
    """A scheduler holding ``jobs``, not yet started (with ``background`` one
    that runs in its own thread). With ``first_run`` every
    job also runs once at that time (the service's start), so a slot missed
    while the service was down is made up then: each job works out itself
    what is due.

    One instance of a job at a time, and one job of each worker at a time
    (``WORKERS``: publishing goes on while a delivery waits on a relay); runs
    missed while the machine slept are
    coalesced into one (each job decides for itself what is due, so a late
    run does the right thing). A job that raises is logged by APScheduler and
    runs again at its next time: one bad run never stops the service.
    """
    kind = BackgroundScheduler if background else BlockingScheduler
    service = kind(
        timezone=timezone,
        # One thread per worker (WORKERS): jobs of a kind never overlap; the
        # jobs keep a publish step of the delivery worker (a digest's fresh
        # build) from racing the publish worker's (app.jobs.service_jobs).
        executors={name: ThreadPoolExecutor(max_workers=1) for name in WORKERS},
        # No grace limit: a daily slot missed by hours while the machine
        # slept still runs (once, coalesced) when it wakes; each job works
        # out what is due, so late is always right, never twice.
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
    for job in jobs:
        if job.worker not in WORKERS:
            raise ValueError(f"job {job.name}: unknown worker {job.worker!r} (one of {WORKERS})")
        service.add_job(
            job.run,
            _CronSlots(job.schedule, timezone),
            id=job.name,
            name=job.name,
            executor=job.worker,
            **({"next_run_time": first_run} if first_run is not None else {}),
        )
    return service


def serve(
    jobs: Sequence[Job],
    timezone: tzinfo,
    *,
    started: datetime,
    leadership: Leadership | None = None,
    failover_seconds: float = 30.0,
) -> None:
    """Run every job once now (``started``), then on its schedule, until
    SIGINT or SIGTERM. With ``leadership``, only while this process is the
    leader (see ``lead``)."""
    for job in jobs:
        log.info("scheduled %s: %s", job.name, job.schedule)

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    # systemd stops with SIGTERM: end like Ctrl-C, letting a running job
    # finish (its writes are atomic either way) instead of dying mid-job.
    signal.signal(signal.SIGTERM, stop)
    if leadership is None:
        blocking = build_service(jobs, timezone, first_run=started)
        try:
            blocking.start()
        except (KeyboardInterrupt, SystemExit):
            blocking.shutdown(wait=True)
            log.info("scheduler stopped")
        return
    background = build_service(jobs, timezone, background=True)
    try:
        lead(background, leadership, check_every=max(failover_seconds / 3, 0.5))
    except (KeyboardInterrupt, SystemExit):
        log.info("scheduler stopped")
    finally:
        if background.running:
            background.shutdown(wait=True)


def lead(
    service: BaseScheduler,
    leadership: Leadership,
    *,
    check_every: float,
    stop: threading.Event | None = None,
) -> None:
    """Run ``service``'s jobs only while holding the leader lock, until
    ``stop`` is set (or SIGINT/SIGTERM). Every ``check_every`` seconds the
    leader checks its lock (on PostgreSQL: its lock connection answers) and
    a standby tries to take it. A leader that loses it stops starting jobs
    (a job already running finishes: its writes are transactions, and an
    edition or a delivery is made once whoever makes it) and stands by; a
    standby that takes it runs every job at once (catching up what is due)
    and then on schedule. Everything else the process does (the web app)
    goes on either way."""
    stop = stop or threading.Event()
    service.start(paused=True)
    leader = False
    told: str | None = ""
    while not stop.is_set():
        try:
            if leader and not leadership.healthy():
                service.pause()
                leader = False
                log.error("leader lock lost: standing by, the jobs stop here")
            elif not leader and leadership.acquire():
                now = datetime.now(UTC)
                for job in service.get_jobs():
                    job.modify(next_run_time=now)
                service.resume()
                leader = True
                told = ""
                log.info("leader: this process runs the jobs now")
            elif not leader:
                holder = leadership.holder()
                if holder != told:
                    log.info("standby: the leader is %s", holder or "unknown")
                    told = holder
        except Exception as exc:  # the store is down: say so, try again
            log.error("leader check failed: %s", exc)
            if leader:
                service.pause()
                leader = False
        stop.wait(check_every)
