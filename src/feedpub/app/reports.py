"""What the publisher reports: job outcomes, run and status values, the
loggers and the failures the front ends show as one line."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from feedpub import output as publish
from feedpub.model import (
    BuildReport,
    Edition,
    IngestReport,
    JobRun,
)
from feedpub.output import OutputError
from feedpub.roster import split_list as split_list  # for the CLI, which may not import roster
from feedpub.store import LockHolder, StoreError, StoreLock
from feedpub.tokens import SecretError

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
    # None when the job failed as a whole (``run.error`` says why); a job
    # that failed in part (``run.status`` "failed") keeps its report.
    report: Reported | None

    @property
    def failed(self) -> bool:
        return self.run.status == "failed"


class LockHeld(Exception):
    """Another process holds the lock asked for; the message names it."""


# What a process refused a lock raises (the CLI exits 3 on these).
LOCK_FAILURES: tuple[type[Exception], ...] = (LockHeld, publish.LockedError)
# What needs an operator's decision, not a retry: a build that would overwrite
# a file feedpub did not write (``feedpub build`` exits 2 and names --adopt).
OPERATOR_FAILURES: tuple[type[Exception], ...] = (publish.ForeignFileError,)


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
