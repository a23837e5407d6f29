"""The composition root: the one place that wires the stages together
(lemon24/reader's ``make_reader`` is the model).

``make_publisher`` opens the store (unless one is handed in) and returns a
``Publisher``: every front end (cli, service, web) and the tests go through
it. It holds the time ``now``, read once by the caller, so a run is
deterministic under test; and it hands each stage its own config section.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType

from feedpub import delivery, digests, feeds, ingest
from feedpub import output as publish
from feedpub.config import Config
from feedpub.feeds import select, websub
from feedpub.model import Article, BuildReport, Edition, IngestReport, Reject
from feedpub.output import OutputError
from feedpub.store import SqlStore, StoreError
from feedpub.text.uri import iri_to_uri

log = logging.getLogger(__name__)

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


def make_publisher(cfg: Config, *, now: datetime, store: SqlStore | None = None) -> Publisher:
    """A Publisher working as of ``now`` (tz-aware). Opens ``cfg.store``
    unless ``store`` is given; a store it opened is closed again if building
    the publisher fails, and by ``Publisher.close`` (a store handed in stays
    the caller's to close)."""
    opened = store is None
    used = SqlStore.open(cfg.store.url) if store is None else store
    try:
        return Publisher(cfg, used, now, owns_store=opened)
    except BaseException:
        if opened:
            used.close()
        raise


class Publisher:
    """The stages wired to one config, one store and one time. A context manager."""

    def __init__(self, cfg: Config, store: SqlStore, now: datetime, *, owns_store: bool) -> None:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self.cfg = cfg
        self.now = now
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
        return Publisher(self.cfg, self._store, now, owns_store=False)

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
        and works on this publisher's store; a known failure is logged as
        one line and the job runs again at its next time."""

        def publish_job() -> None:
            at = self.at(clock())
            log.info(at.ingest().summary())
            log.info(at.build().summary())

        def digest_job(name: str) -> Callable[[], None]:
            def run() -> None:
                at = self.at(clock())
                at.ingest()
                at.build()
                log.info(at.digest(name).summary())

            return run

        jobs = [ScheduledJob("publish", self.cfg.service.schedule, _logged("publish", publish_job))]
        for digest in self.cfg.digests:
            runner = _logged(f"digest {digest.name}", digest_job(digest.name))
            jobs.append(ScheduledJob(f"digest-{digest.name}", digest.schedule, runner))
        return jobs


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
        plan = select.feed_plan(store, cfg)
        tree = feeds.render_feeds(plan, cfg, manifest.fingerprints)
        if plan.archive_pages:
            tree = tree.merged(
                feeds.render_archive(
                    plan.archive_pages,
                    cfg,
                    lambda index: select.archive_page(store, index, cfg.feeds.archive_page_size),
                    manifest.fingerprints,
                )
            )
        report = publish.sync_tree(output, tree.files, manifest, fingerprints=tree.fingerprints)
    for note in tree.notes + report.notes:
        log.warning("build: %s", note)
    # What the build did, path by path (shown with -v); unchanged files are counted.
    for path in report.written:
        log.info("build: wrote %s", path)
    for path in report.removed:
        log.info("build: removed %s", path)
    if cfg.feeds.websub_hub and report.written:
        changed = feeds.feed_urls(cfg, report.written)
        if changed:
            for problem in websub.ping(iri_to_uri(cfg.feeds.websub_hub), changed):
                log.warning("%s", problem)  # each problem starts with "websub:"
    return report
