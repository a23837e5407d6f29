"""What the publisher reports: job outcomes, status values, the loggers and
the failures the front ends show as one line."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from feedpub import output
from feedpub.model import Edition, FeedbackCounts, JobRun
from feedpub.store import LockHolder, StoreError
from feedpub.tokens import SecretError

if TYPE_CHECKING:
    from feedpub.store import SourceState  # needs SQLAlchemy: only the type

log = logging.getLogger(__name__)
# One line per job run (counts and duration in the record's extras): the
# line log shippers and ``serve``'s journal keep.
job_log = logging.getLogger("feedpub.jobs")

Progress = Callable[[int, int], None]  # (units done, units in all)

# What a failed piece of work raises (store unreachable, output locked or not
# writable): the front ends report these as one line, not a traceback.
WORK_FAILURES: tuple[type[Exception], ...] = (
    StoreError,
    output.OutputError,
    OSError,
    SecretError,
)


class LockHeld(Exception):
    """Another process holds the lock asked for; the message names it."""


# What a process refused a lock raises (the CLI exits 3 on these).
LOCK_FAILURES: tuple[type[Exception], ...] = (LockHeld, output.LockedError)
# What needs an operator's decision, not a retry: a build that would overwrite
# a file feedpub did not write (``feedpub build`` exits 2 and names --adopt).
OPERATOR_FAILURES: tuple[type[Exception], ...] = (output.ForeignFileError,)


class Reported(Protocol):
    """What a job returns: a one-line summary and the numbers recorded."""

    def summary(self) -> str: ...
    def counts(self) -> dict[str, int]: ...
    def failure(self) -> str | None:
        """Why the job failed in part (its report stands), or None."""
        ...


@dataclass(frozen=True)
class ScheduledJob:
    """A named piece of work for ``service`` (which declares what it needs of one)."""

    name: str
    schedule: str  # crontab expression
    run: Callable[[], None]
    # The service's worker that runs it (service.WORKERS): "publish" (ingest,
    # build) or "delivery" (the mailbox, the digests), so a slow relay never
    # holds up the feeds.
    worker: str = "publish"


@dataclass(frozen=True)
class JobOutcome:
    run: JobRun
    # None when the job failed as a whole (``run.error`` says why); a job
    # that failed in part (``run.status`` "failed") keeps its report.
    report: Reported | None

    @property
    def failed(self) -> bool:
        return self.run.status == "failed"


@dataclass(frozen=True)
class DigestStatus:
    digest: str
    last: Edition | None
    deliveries: Mapping[str, int]  # delivery status -> count, of the last edition
    feedback: FeedbackCounts  # what came back of the last edition
    paused: tuple[str, datetime] | None = None  # why and since when
    progress: str = ""  # of the last edition: done of all, senders' rate, finish


@dataclass(frozen=True)
class Status:
    now: datetime
    runs: tuple[JobRun, ...]  # the last run of each job, by job name
    next_runs: Mapping[str, datetime | None]  # job -> next scheduled time
    counts: Mapping[str, int]
    subscribers: Mapping[str, int]  # by status
    digests: tuple[DigestStatus, ...]
    locks: Mapping[str, LockHolder | None]  # "run", "leader" -> holder
    sources: tuple[SourceState, ...] = ()  # each source's last sync, cursor and error
