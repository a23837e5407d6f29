"""The ingest job: every configured source read into the store.

Each source yields batches (``source.Batch``); each batch is stored in one
transaction with the checkpoint that covers it, so a source's cursor never
moves past what is stored. A source that cannot be read (``SourceError``)
is one error line naming it; its cursor stays, the other sources go on,
and the report names it so the run exits 1.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from feedpub.ingest.source import Batch, Progress, Source, SourceError
from feedpub.model import IngestReport, Reject, UpsertOutcome

log = logging.getLogger("feedpub.ingest")


class IngestStore(Protocol):
    """What the job needs of the store (declared by its consumer)."""

    def source_cursor(self, source: str) -> str | None: ...
    def write_batch(self, source: str, batch: Batch, now: datetime) -> BatchWritten: ...
    def note_source(self, source: str, now: datetime, error: str | None) -> None: ...


class BatchWritten(Protocol):
    """What the store did with a batch (``store.FilesWritten``)."""

    @property
    def counts(self) -> dict[UpsertOutcome, int]: ...
    @property
    def rejects(self) -> Sequence[Sequence[tuple[Reject, bool]]]: ...
    @property
    def kept(self) -> Sequence[Reject]: ...
    @property
    def withdrawn(self) -> int: ...


@dataclass
class _Tally:
    counts: dict[str, int] = field(default_factory=lambda: {"new": 0, "updated": 0, "unchanged": 0})
    rejected: int = 0
    withdrawn: int = 0
    failed: list[str] = field(default_factory=list)

    def report(self) -> IngestReport:
        return IngestReport(
            new=self.counts["new"],
            updated=self.counts["updated"],
            unchanged=self.counts["unchanged"],
            rejected=self.rejected,
            withdrawn=self.withdrawn,
            failed_sources=tuple(self.failed),
        )


def run_sources(
    sources: Iterable[Source],
    store: IngestStore,
    now: datetime,
    *,
    progress: Progress | None = None,
) -> IngestReport:
    """Read every source into the store, each closed after. Bad input is
    logged once, recorded as a reject and skipped; a source that fails is
    named in the report's ``failed`` (and logged), the rest go on."""
    tally = _Tally()
    for source in sources:
        try:
            _run_one(source, store, now, progress, tally)
        except SourceError as exc:
            message = " ".join(str(exc).split())
            log.error("%s", message)
            tally.failed.append(message)
            store.note_source(source.name, now, message)
        else:
            store.note_source(source.name, now, None)
        finally:
            source.close()
    return tally.report()


def _run_one(
    source: Source, store: IngestStore, now: datetime, progress: Progress | None, tally: _Tally
) -> None:
    for batch in source.read(store.source_cursor(source.name), now, progress):
        written = store.write_batch(source.name, batch, now)
        for outcome, count in written.counts.items():
            tally.counts[outcome] += count
        tally.counts["unchanged"] += batch.skipped_articles
        tally.rejected += batch.skipped_rejects + sum(len(r) for r in written.rejects)
        tally.withdrawn += written.withdrawn
        for recorded in written.rejects:
            _log_rejects(recorded)
        for reject in written.kept:
            log.info("still rejected %s", reject.describe())


def _log_rejects(recorded: Sequence[tuple[Reject, bool]]) -> None:
    # Warn once per problem (cron mails it); a file still bad on the next run
    # is counted in the summary but not repeated in the log.
    for reject, is_new in recorded:
        if is_new:
            log.warning("rejected %s", reject.describe())
        else:
            log.info("still rejected %s", reject.describe())
