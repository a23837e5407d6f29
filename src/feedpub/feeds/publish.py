"""A build as it reaches ``feeds.output``: under the output's build lock,
the last manifest read, the tree rendered from it (``build``), the tree
synced to disk (``output.sync_tree``), what changed logged and the WebSub
hub told. ``quick_build`` answers a no-op build from one row of the store,
read without SQLAlchemy (``store.probe``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from feedpub import output
from feedpub.config import FeedsConfig
from feedpub.feeds import build as feed_build
from feedpub.feeds import printing, urls, websub
from feedpub.feeds.entries import EntryCache
from feedpub.feeds.incremental import RenderedTree
from feedpub.feeds.select import ChangeReader, FeedReader
from feedpub.feeds.site import FeedSite
from feedpub.model import BuildReport
from feedpub.text.uri import iri_to_uri

log = logging.getLogger("feedpub.feeds")


class BuildStore(FeedReader, ChangeReader, EntryCache, Protocol):
    """What a build needs of the store (``store.SqlStore`` has it)."""

    def generation(self) -> int: ...


def quick_build(feeds: FeedsConfig, site: FeedSite, store_url: str) -> BuildReport | None:
    """The no-op build, answered without opening the store through SQLAlchemy
    when its one row says nothing changed: the store's generation read with
    the stdlib driver (``store.probe``, SQLite only) matches the stamp of the
    last build's manifest. Then it does what ``build_feeds`` does for a no-op
    (keeps every file, sweeps leftover temp files, notes a missing one);
    None when a build must look at the store."""
    from feedpub.store import probe

    generation = probe.generation(store_url)
    if generation is None:
        return None
    stamp = feed_build.stamp_of(feeds, site, generation)
    last = output.peek_stamp(feeds.output)
    if last is not None and last != stamp:
        return None  # something changed: the build reads the manifest once

    def kept(manifest: output.Manifest, previous_stamp: str) -> RenderedTree | None:
        return feed_build.unchanged_tree(manifest.fingerprints, stamp, previous_stamp)

    return _publish(feeds, kept, adopt=False)


def build_feeds(
    store: BuildStore, feeds: FeedsConfig, site: FeedSite, *, adopt: bool = False
) -> BuildReport:
    """Write every feed under ``feeds.output``, rendering only feeds whose
    inputs changed and writing only files whose bytes changed, then tell the
    WebSub hub (if any) which feeds changed. One build per output folder at a
    time: a second one fails at once with a clear message. A file in the way
    that feedpub did not write stops the build (``ForeignFileError``) unless
    ``adopt``."""

    def rendered(manifest: output.Manifest, previous_stamp: str) -> RenderedTree:
        return feed_build.build(
            store,
            feeds,
            site,
            manifest.fingerprints,
            generation=store.generation(),
            previous_stamp=previous_stamp,
            cache=store,
            changes=store,
        )

    report = _publish(feeds, rendered, adopt=adopt)
    assert report is not None  # rendered always gives a tree
    return report


def _publish(
    feeds: FeedsConfig,
    render: Callable[[output.Manifest, str], RenderedTree | None],
    *,
    adopt: bool,
) -> BuildReport | None:
    """Under the output's build lock: the last manifest, the tree ``render``
    makes from it (and from its stamp when every file it names is there),
    the tree synced to disk; then its notes and paths logged and the WebSub
    hub told. None (nothing done) when ``render`` gives no tree."""
    with output.build_lock(feeds.output):
        manifest = output.read_manifest(feeds.output)
        # No last build (a first one): the printing workers forked now,
        # while this process is small, as each starts as a copy of it.
        with printing.pool_scope(fork_now=not manifest.fingerprints):
            tree = render(manifest, manifest.stamp if manifest.complete else "")
            if tree is None:
                return None
            report = output.sync_tree(
                feeds.output,
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
    if feeds.websub_hub and report.written:
        changed = urls.feed_urls(feeds.url, report.written)
        if changed:
            for problem in websub.ping(iri_to_uri(feeds.websub_hub), changed):
                log.warning("%s", problem)  # each problem starts with "websub:"
    return report
