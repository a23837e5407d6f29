"""Cron schedules and the long-running service, on APScheduler 3.x.

The only module that imports apscheduler. It knows nothing of feedpub's
stages: the CLI hands it named callables, so it sits low in the layers and the
digest stage can ask it which scheduled slot "now" belongs to.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

log = logging.getLogger(__name__)

# Windows searched, smallest first, for the latest fire time at or before now:
# a per-minute schedule is answered from the first, a yearly one from the last.
_LOOKBACK_WINDOWS = (
    timedelta(hours=1),
    timedelta(days=1),
    timedelta(days=8),
    timedelta(days=32),
    timedelta(days=367),
    timedelta(days=4 * 366 + 1),
)


_CRON_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _cron_weekdays(field: str) -> str:
    """Rewrite a crontab day-of-week field with day names.

    APScheduler 3.x numbers weekdays from Monday (0=mon), crontab from Sunday
    (0 and 7 = sun), and ``from_crontab`` does not translate
    (agronholm/apscheduler#286, fixed only in 4.x). Numbers, ranges and steps
    are expanded to explicit names, which both agree on.
    """
    if field == "*":
        return field
    names: list[str] = []
    for part in field.split(","):
        body, _, step_text = part.partition("/")
        if not any(ch.isdigit() for ch in body) and not step_text:
            names.append(part)  # already names ("mon-fri", "sun")
            continue
        step = int(step_text) if step_text else 1
        if body == "*":
            first, last = 0, 6
        elif "-" in body:
            first_text, last_text = body.split("-", 1)
            first, last = int(first_text), int(last_text)
        else:
            first = int(body)
            last = 6 if step_text else first
        if not (0 <= first <= 7 and 0 <= last <= 7 and first <= last and step > 0):
            raise ValueError(f"day of week {part!r} is outside 0-7")
        names.extend(_CRON_WEEKDAYS[day] for day in range(first, last + 1, step))
    return ",".join(dict.fromkeys(names))


def parse_cron(expression: str, timezone: tzinfo) -> CronTrigger:
    """A five-field crontab expression ('0 7 * * 1-5') in ``timezone``, with
    crontab's weekday numbering (0 or 7 = Sunday).

    Raises ValueError with the reason when the expression is not valid.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"{expression!r} needs 5 fields (minute hour day month weekday)")
    minute, hour, day, month, weekday = fields
    try:
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_cron_weekdays(weekday),
            timezone=timezone,
        )
    except ValueError as exc:
        raise ValueError(str(exc)) from None


def latest_slot(expression: str, timezone: tzinfo, now: datetime) -> datetime | None:
    """The most recent scheduled time at or before ``now`` (None if there was
    none in the last four years). ``now`` must be tz-aware."""
    trigger = parse_cron(expression, timezone)
    for window in _LOOKBACK_WINDOWS:
        fire: datetime | None = trigger.get_next_fire_time(None, now - window)
        if fire is None or fire > now:
            continue
        latest = fire
        while True:
            fire = trigger.get_next_fire_time(latest, latest + timedelta(seconds=1))
            if fire is None or fire > now:
                return latest
            latest = fire
    return None


def next_slot(expression: str, timezone: tzinfo, now: datetime) -> datetime | None:
    """The first scheduled time strictly after ``now``."""
    trigger = parse_cron(expression, timezone)
    fire: datetime | None = trigger.get_next_fire_time(None, now + timedelta(seconds=1))
    return fire


@dataclass(frozen=True)
class Job:
    name: str
    schedule: str  # crontab expression
    run: Callable[[], object]


def build_service(
    jobs: Sequence[Job], timezone: tzinfo, *, first_run: datetime | None = None
) -> BlockingScheduler:
    """A scheduler holding ``jobs``, not yet started. With ``first_run`` every
    job also runs once at that time (the service's start), so a slot missed
    while the service was down is made up then: each job works out itself
    what is due.

    One instance of a job at a time; runs missed while the machine slept are
    coalesced into one (each job decides for itself what is due, so a late
    run does the right thing). A job that raises is logged by APScheduler and
    runs again at its next time: one bad run never stops the service.
    """
    service = BlockingScheduler(
        timezone=timezone,
        # One worker: jobs never overlap (a digest at 07:00 and the feed
        # build at 07:00 would otherwise race for the same output folder).
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
    )
    for job in jobs:
        service.add_job(
            job.run,
            parse_cron(job.schedule, timezone),
            id=job.name,
            name=job.name,
            **({"next_run_time": first_run} if first_run is not None else {}),
        )
    return service


def serve(jobs: Sequence[Job], timezone: tzinfo, *, started: datetime) -> None:
    """Run every job once now (``started``), then on its schedule, until
    SIGINT or SIGTERM."""
    service = build_service(jobs, timezone, first_run=started)
    for job in jobs:
        log.info("scheduled %s: %s", job.name, job.schedule)

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    # systemd stops with SIGTERM: end like Ctrl-C, letting a running job
    # finish (its writes are atomic either way) instead of dying mid-job.
    signal.signal(signal.SIGTERM, stop)
    try:
        service.start()
    except (KeyboardInterrupt, SystemExit):
        service.shutdown(wait=True)
        log.info("scheduler stopped")
