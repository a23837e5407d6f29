"""The ingest and feed-build stages as the publisher runs them: each gets
its own config section and the store."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from feedpub import ingest
from feedpub import output as publish
from feedpub.app.reports import (
    Progress,
    log,
)
from feedpub.config import Config
from feedpub.feeds import build as feed_build
from feedpub.feeds import urls as feed_urls
from feedpub.feeds import websub
from feedpub.feeds.site import FeedSite
from feedpub.model import (
    Article,
    BuildReport,
    IngestReport,
    Reject,
)
from feedpub.roster import split_list as split_list  # for the CLI, which may not import roster
from feedpub.store import SqlStore
from feedpub.text.uri import iri_to_uri

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


def build_feeds(cfg: Config, store: SqlStore, *, adopt: bool = False) -> BuildReport:
    """Write every feed under ``feeds.output``, rendering only feeds whose
    inputs changed and writing only files whose bytes changed, then tell the
    WebSub hub (if any) which feeds changed. One build per output folder at a
    time: a second one fails at once with a clear message. A file in the way
    that feedpub did not write stops the build (``ForeignFileError``) unless
    ``adopt``."""
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
            output,
            tree.files,
            manifest,
            fingerprints=tree.fingerprints,
            stamp=tree.stamp,
            adopt=adopt,
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
