"""Cron schedules: which scheduled slot a moment belongs to, and the next one.

The only module that imports cronsim (healthchecks.io's crontab evaluator).
cronsim follows crontab itself (0 and 7 are Sunday, day-of-month and
day-of-week OR-ed when both are given, DST gaps and repeats handled as cron
does), so the slots the digests compute and the times the service fires at
come from one definition; ``service`` asks this module for its fire times
instead of translating the expression into APScheduler's own dialect.
cronsim is imported where a schedule is read: the composition root imports
this module, and a build reads none.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

# Slots further back than this are not searched: a schedule that did not fire
# in four years (say, 29 February on a Monday) has no latest slot.
_HORIZON = timedelta(days=4 * 366 + 1)


def check_cron(expression: str) -> None:
    """Raise ValueError with the reason when ``expression`` is not a
    five-field crontab expression."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"{expression!r} needs 5 fields (minute hour day month weekday)")
    from cronsim import CronSim, CronSimError

    try:
        CronSim(expression, datetime(2000, 1, 1).astimezone())
    except CronSimError as exc:
        raise ValueError(str(exc)) from None


def latest_slot(expression: str, timezone: tzinfo, now: datetime) -> datetime | None:
    """The most recent scheduled time at or before ``now``, in ``timezone``
    (None if there was none in the last four years). ``now`` must be aware."""
    check_cron(expression)
    # cronsim steps strictly before its start; one second on makes a slot at
    # exactly ``now`` count (cron has minute resolution).
    start = (now + timedelta(seconds=1)).astimezone(timezone)
    from cronsim import CronSim

    for slot in CronSim(expression, start, reverse=True):
        return slot if now - slot <= _HORIZON else None
    return None


def next_slot(expression: str, timezone: tzinfo, now: datetime) -> datetime | None:
    """The first scheduled time strictly after ``now``, in ``timezone``."""
    check_cron(expression)
    from cronsim import CronSim

    for slot in CronSim(expression, now.astimezone(timezone)):
        return slot
    return None
