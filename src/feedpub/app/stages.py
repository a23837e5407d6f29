"""The ingest and feed-build stages as the publisher runs them: each gets
its own config section and the store."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from feedpub import output as publish
from feedpub.app.reports import Progress, log
from feedpub.config import Config
from feedpub.feeds import build as feed_build
from feedpub.feeds import urls as feed_urls
from feedpub.feeds import websub
from feedpub.feeds.incremental import RenderedTree
from feedpub.feeds.site import FeedSite
from feedpub.model import (
    BuildReport,
    IngestReport,
)
from feedpub.roster import split_list as split_list  # for the CLI, which may not import roster
from feedpub.text.uri import iri_to_uri

if TYPE_CHECKING:
    from feedpub.ingest import source
    from feedpub.store import SqlStore

# --- ingest --------------------------------------------------------------------


def ingest_sources(
    cfg: Config, store: SqlStore, now: datetime, *, progress: Progress | None = None
) -> IngestReport:
    """Read every configured source into the store (``ingest.job``)."""
    # Imported here: a build does not need the parsers (0.15 s of imports).
    from feedpub.ingest import job, source

    sources = source.make_sources(cfg.sources, _source_context(cfg, store))
    return job.run_sources(sources, store, now, progress=progress)


def check_sources(cfg: Config) -> None:
    """Every ``sources:`` entry names a known kind with options it takes
    (``ConfigError`` naming the entry); nothing is read."""
    from feedpub.ingest import source

    for made in source.make_sources(cfg.sources, _source_context(cfg, None)):
        made.close()


def _source_context(cfg: Config, store: SqlStore | None) -> source.SourceContext:
    from feedpub import ingest
    from feedpub.ingest import source

    run = ingest.settings(cfg.ingest, cfg.tags, timezone=cfg.site.timezone, site_url=cfg.site.url)
    return source.SourceContext(run, cfg.site.timezone, environ=dict(os.environ), files=store)


def explain_page(cfg: Config, path: Path, now: datetime) -> list[str]:
    """The parser's view of one page, with its folder's learned chrome."""
    from feedpub import ingest  # here: a build does not need its parsers (0.15 s of imports)

    run = ingest.settings(cfg.ingest, cfg.tags, timezone=cfg.site.timezone, site_url=cfg.site.url)
    return ingest.explain_path(path, run, now)


# --- feeds ---------------------------------------------------------------------


def feed_site(cfg: Config) -> FeedSite:
    """The site values the feeds print; article pages show dates as the
    digests do (the site's zone, email.locale and email.digits)."""
    return FeedSite(
        cfg.site.title,
        cfg.site.url,
        cfg.site.language,
        cfg.site.description,
        timezone=cfg.site.timezone,
        locale=cfg.email.locale,
        digits=cfg.email.digits,
    )


def quick_build(cfg: Config) -> BuildReport | None:
    """The no-op build, answered without opening the store through SQLAlchemy
    when its one row says nothing changed: the store's generation read with
    the stdlib driver (``store.probe``, SQLite only) matches the stamp of the
    last build's manifest. Then it does what ``build_feeds`` does for a no-op
    (keeps every file, sweeps leftover temp files, notes a missing one);
    None when a build must look at the store."""
    from feedpub.store import probe

    generation = probe.generation(cfg.store.url)
    if generation is None:
        return None
    stamp = feed_build.stamp_of(cfg.feeds, feed_site(cfg), generation)
    last = publish.peek_stamp(cfg.feeds.output)
    if last is not None and last != stamp:
        return None  # something changed: the build reads the manifest (2 MB at L) once

    def kept(manifest: publish.Manifest, previous_stamp: str) -> RenderedTree | None:
        return feed_build.unchanged_tree(manifest.fingerprints, stamp, previous_stamp)

    return _publish(cfg, kept, adopt=False)


def build_feeds(cfg: Config, store: SqlStore, *, adopt: bool = False) -> BuildReport:
    """Write every feed under ``feeds.output``, rendering only feeds whose
    inputs changed and writing only files whose bytes changed, then tell the
    WebSub hub (if any) which feeds changed. One build per output folder at a
    time: a second one fails at once with a clear message. A file in the way
    that feedpub did not write stops the build (``ForeignFileError``) unless
    ``adopt``."""

    def rendered(manifest: publish.Manifest, previous_stamp: str) -> RenderedTree:
        return feed_build.build(
            store,
            cfg.feeds,
            feed_site(cfg),
            manifest.fingerprints,
            generation=store.generation(),
            previous_stamp=previous_stamp,
            cache=store,
            changes=store,
        )

    report = _publish(cfg, rendered, adopt=adopt)
    assert report is not None  # rendered always gives a tree
    return report


def _publish(
    cfg: Config,
    render: Callable[[publish.Manifest, str], RenderedTree | None],
    *,
    adopt: bool,
) -> BuildReport | None:
    """Under the output's build lock: the last manifest, the tree ``render``
    makes from it (and from its stamp when every file it names is there),
    the tree synced to disk; then its notes and paths logged and the WebSub
    hub told. None (nothing done) when ``render`` gives no tree."""
    output = cfg.feeds.output
    with publish.build_lock(output):
        manifest = publish.read_manifest(output)
        tree = render(manifest, manifest.stamp if manifest.complete else "")
        if tree is None:
            return None
        report = publish.sync_tree(
            output,
            tree.outputs,
            manifest,
            fingerprints=tree.fingerprints,
            stamp=tree.stamp,
            adopt=adopt,
            keeps_rest=tree.keeps_rest,
            removed=tree.removed,
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
