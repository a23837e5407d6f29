"""The composition root: the one place that wires the stages together.

Every function takes the config, an open store and the time ``now`` (read
once, by the caller at the top), so a run is deterministic under test and
tests can hand in their own store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from feedpub import delivery as deliver
from feedpub import digests as digest
from feedpub import ingest
from feedpub import output as publish
from feedpub.config import Config, DigestConfig
from feedpub.digests import message
from feedpub.feeds import build as feed_build
from feedpub.feeds import urls as feed_urls
from feedpub.feeds import websub
from feedpub.feeds.site import FeedSite
from feedpub.model import Article, BuildReport, Edition, IngestReport, Reject
from feedpub.store import SqlStore
from feedpub.text.uri import iri_to_uri

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (files done, files in all)


def open_store(cfg: Config) -> SqlStore:
    return SqlStore.open(cfg.store.url)


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
    paths, problems = ingest.discover(cfg.sources, now)
    counts = {"new": 0, "updated": 0, "unchanged": 0}
    rejected = len(problems)
    files = {ingest.source_name(path) for path in paths}
    for root in dict.fromkeys(str(source.path) for source in cfg.sources):
        if root not in files:  # a source naming one file: its reading decides
            _record_rejects(store, root, [p for p in problems if p.source == root])
    for done, path in enumerate(paths, start=1):
        items = ingest.read_path(path, cfg, now)
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
        tree = feed_build.build(store, cfg.feeds, site, manifest.fingerprints)
        report = publish.sync_tree(output, tree.files, manifest, fingerprints=tree.fingerprints)
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


# --- digests -------------------------------------------------------------------


@dataclass(frozen=True)
class DigestOutcome:
    digest: str
    edition: Edition | None
    delivered: tuple[Path, ...] = ()

    def summary(self) -> str:
        if self.edition is None:
            return f"digest {self.digest}: nothing due"
        return (
            f"digest {self.digest}: edition {self.edition.slot.isoformat()} with "
            f"{len(self.edition.article_ids)} articles"
            + (f" ({self.edition.dropped} left out for size)" if self.edition.dropped else "")
            + f", {len(self.delivered)} delivered"
        )


def preview_digest(cfg: Config, store: SqlStore, name: str, now: datetime) -> tuple[str, str]:
    """The coming edition of digest ``name`` as (html, text), as a reader
    would get it, without recording or sending anything."""
    digest_cfg = cfg.digest(name)
    rendered = digest.render_edition(digest.preview_edition(store, cfg, digest_cfg, now), cfg)
    return message.personalize(
        rendered, cfg, to=deliver.outbox_recipient(digest_cfg), unsubscribe_token=None
    )


def make_digest(cfg: Config, store: SqlStore, name: str, now: datetime) -> DigestOutcome:
    """Make the edition of digest ``name`` if one is due: render it, write its
    web archive page, hand it to delivery, then record it. Delivery is keyed by
    edition and recipient, so a run that dies before recording and is rerun
    never sends a second copy; recording last means a failed render or
    delivery leaves the slot open for the next run."""
    digest_cfg = cfg.digest(name)
    planned = digest.plan_edition(store, cfg, digest_cfg, now)
    if planned is None:
        return DigestOutcome(name, None)
    rendered = digest.render_edition(planned, cfg)  # warns when it leaves articles out
    edition = digest.edition_record(planned, rendered, now)
    # The web copy first: the email's «view in browser» link points at it.
    digest.write_archive(store, cfg, digest_cfg, rendered)
    delivered = _deliver(cfg, digest_cfg, rendered, edition, now)
    if not store.add_edition(edition):
        # Another run (maybe on another machine) recorded this slot first.
        log.info("digest %s: slot %s was recorded by another run", name, edition.slot)
    return DigestOutcome(name, edition, delivered)


def _deliver(
    cfg: Config,
    digest_cfg: DigestConfig,
    rendered: digest.RenderedEdition,
    edition: Edition,
    now: datetime,
) -> tuple[Path, ...]:
    # No subscriber list yet: the outbox gets one copy for the editor.
    outbox = deliver.Outbox(cfg.delivery.outbox)
    recipient = deliver.outbox_recipient(digest_cfg)
    email = message.build_message(
        rendered, digest_cfg, cfg, to=recipient, unsubscribe_token=None, now=now
    )
    path = outbox.deliver(email, deliver.message_key(edition.digest, edition.slot, recipient))
    return (path,) if path is not None else ()


def due_digests(cfg: Config, store: SqlStore, now: datetime) -> list[DigestOutcome]:
    return [make_digest(cfg, store, d.name, now) for d in cfg.digests]


# --- the whole job -------------------------------------------------------------


@dataclass(frozen=True)
class RunReport:
    ingest: IngestReport
    build: BuildReport
    digests: tuple[DigestOutcome, ...]


def run(
    cfg: Config, store: SqlStore, now: datetime, *, progress: Progress | None = None
) -> RunReport:
    """One cron run: ingest, build the feeds, make every due digest."""
    ingested = ingest_sources(cfg, store, now, progress=progress)
    built = build_feeds(cfg, store)
    outcomes = tuple(due_digests(cfg, store, now))
    return RunReport(ingested, built, outcomes)
