"""One feed build: from the store (through ``select``) to the rendered tree.
(A little over 400 lines: the full, no-op and journal paths share one renderer.)

``build`` is what the composition root calls. ``render_feeds`` and
``render_archive`` do the same from a plan already selected (tests, bench).
One ``_Renderer`` per build holds what is shared across documents: the site
values, each article's FeedItem, each writer's prepared entries.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Container, Mapping, Sequence

from feedpub import links, templating
from feedpub.config import FeedsConfig
from feedpub.feeds import archive, incremental, index, opml, pages, select, topics, writers
from feedpub.feeds.entries import EntryBytes, EntryCache
from feedpub.feeds.entry import EMPTY_FEED_UPDATED, Category, FeedHead, ItemCache
from feedpub.feeds.incremental import Lazy, RenderedTree, TreeCollector, batched, digest
from feedpub.feeds.select import ArchivePage, ChangeReader, FeedPlan, FeedReader, FeedSpec
from feedpub.feeds.site import FeedSite, SiteValues
from feedpub.feeds.urls import (
    ARCHIVE_DIR,
    INDEX_PATH,
    OPML_PATH,
    STYLE_PATH,
    clean,
    document_urls,
    feed_paths,
    plain_directory,
)
from feedpub.model import Article, Tag

Job = tuple[FeedHead, Sequence[Article], Mapping[str, str]]
STYLE_TEMPLATE = "feeds/style.css"
# Feeds rendered together: their entries in one cache query and one printing
# run per format, their documents held until written (at L: 20 entries of
# 3-6 KB, three formats, ~15 MB per batch).
FEEDS_PER_BATCH = 50


def build(
    reader: FeedReader,
    feeds: FeedsConfig,
    site: FeedSite,
    previous: Mapping[str, str] | None = None,
    *,
    generation: int | None = None,
    previous_stamp: str = "",
    cache: EntryCache | None = None,
    changes: ChangeReader | None = None,
) -> RenderedTree:
    """Every feed, feeds.opml, index.html and (with ``feeds.archive``) every
    archive page. ``previous`` (path -> fingerprint, from the last build's
    manifest) lets files whose inputs did not change skip rendering.

    With ``generation`` (the store's change counter) the tree carries a
    stamp; when it equals ``previous_stamp`` (pass it only when every file of
    the last build is still there) nothing is selected or rendered: the
    store and the config are as they were, so every file is kept.

    ``cache`` (the store) keeps entry bytes between builds: an unchanged
    article's entry is printed once, not on every build.

    ``changes`` (the store's journal) makes a build after a few article
    writes select and render only the main feed and the feeds of the tags
    those articles had or have, keeping every other file, when the last
    build was made from the same config at a generation the journal still
    covers, no feed appears or disappears, and archiving is off (archive
    pages are cut by position, which a back-dated article shifts); any
    other case builds everything."""
    writers.check_formats(feeds.formats, "")
    # With a cache most entries are not printed: select without the
    # articles' text, and load it for the entries that are (``load``).
    load = reader.articles_by_ids if cache is not None else None
    renderer = _Renderer(SiteValues.of(site, feeds), cache, load)
    stamp = ""
    if generation is not None:
        made_from = _made_from(feeds, site)
        stamp = _stamp(made_from, generation)
        kept = _kept_as_it_was(previous, stamp, previous_stamp)
        if kept is not None:
            return kept
        before = _generation_of(previous_stamp, made_from)
        if changes is not None and before is not None and previous and not feeds.archive:
            changed = changes.changed_tags(before)
            if changed is not None:
                tree = renderer.update(reader, changes, changed, feeds, site.title, previous)
                if tree is not None:
                    # The set of feeds is as it was (else update is None), so
                    # pages link the tags they linked: only the pages of the
                    # articles written since can change (all are checked when
                    # the journal does not name them).
                    written = changes.changed_articles(before)
                    built = _InEither(tree.outputs, previous)  # the feeds there now
                    if written is None:
                        with_feeds = [t for t, n in reader.tags() if n >= feeds.min_items]
                        every = _article_pages(
                            reader, renderer.site, with_feeds, built, previous, cache
                        )
                        pages_tree = _as_change(every, previous)
                    else:
                        pages_tree = _changed_pages(
                            reader, changes, renderer.site, feeds, written, built, previous, cache
                        )
                    return dataclasses.replace(tree.merged(pages_tree), stamp=stamp)
    plan = select.feed_plan(reader, feeds, site.title, light=cache is not None)
    tree = renderer.feeds(plan, previous or {})
    tags = [spec.tag for spec in plan.tags if spec.tag is not None]
    tree = tree.merged(
        _article_pages(reader, renderer.site, tags, tree.outputs, previous or {}, cache)
    )
    if plan.archive_pages:
        tree = tree.merged(
            renderer.archive(
                plan.archive_pages,
                lambda n: select.archive_page(reader, n, feeds.archive_page_size),
                previous or {},
            )
        )
    return dataclasses.replace(tree, stamp=stamp)


def _article_pages(
    reader: FeedReader,
    site: SiteValues,
    tags: Sequence[Tag],
    built: Container[str],
    previous: Mapping[str, str],
    cache: EntryCache | None,
) -> RenderedTree:
    """The page of every article without a URL (feeds/pages.py), its tags
    linking to the tag feeds among the paths ``built``."""
    versions = reader.page_versions()
    load = reader.articles_by_ids
    return pages.render_pages(site, versions, tags, built, load, previous, cache)


def _changed_pages(
    reader: FeedReader,
    changes: ChangeReader,
    site: SiteValues,
    feeds: FeedsConfig,
    written: frozenset[str],
    built: Container[str],
    previous: Mapping[str, str],
    cache: EntryCache | None,
) -> RenderedTree:
    """A change to the previous build's article pages: those of ``written``
    worked out again (removed when the article is deleted or has a URL),
    every other page kept as it is."""
    versions = reader.page_versions(sorted(written))
    keys = sorted({key for version in versions for key in version[3]})
    tags = [t for t, n in changes.tag_counts(keys) if n >= feeds.min_items]
    load = reader.articles_by_ids
    fresh = pages.render_pages(site, versions, tags, built, load, previous, cache)
    gone = {links.page_path(article_id) for article_id in written} - fresh.outputs.keys()
    return dataclasses.replace(fresh, keeps_rest=True, removed=frozenset(gone & previous.keys()))


@dataclasses.dataclass(frozen=True)
class _InEither:
    """The paths of both, without merging them (25,801 at L)."""

    first: Container[str]
    second: Container[str]

    def __contains__(self, path: object) -> bool:
        return path in self.first or path in self.second


def _as_change(pages_tree: RenderedTree, previous: Mapping[str, str]) -> RenderedTree:
    """Every article page (``pages_tree``) as a change to the previous
    build's: its pages that are not there any more removed."""
    prefix = links.ARTICLES_DIR + "/"
    gone = {p for p in previous if p.startswith(prefix)} - pages_tree.outputs.keys()
    return dataclasses.replace(pages_tree, keeps_rest=True, removed=frozenset(gone))


def unchanged_tree(
    previous: Mapping[str, str] | None, stamp: str, previous_stamp: str
) -> RenderedTree | None:
    """Every file of the last build kept as it is, when its stamp says it was
    made as this build would be (``stamp``, from ``stamp_of``: nothing to
    select or render); None when a build must look at the store. ``build``
    asks this first; a no-op build asks it alone, without the store
    (``store.probe``)."""
    if not previous or not previous_stamp:
        return None
    return _kept_as_it_was(previous, stamp, previous_stamp)


def stamp_of(feeds: FeedsConfig, site: FeedSite, generation: int) -> str:
    """The stamp of a build from store ``generation`` with this config and code."""
    writers.check_formats(feeds.formats, "")
    return _stamp(_made_from(feeds, site), generation)


def _stamp(made_from: str, generation: int) -> str:
    return f"{made_from}.{generation}"  # read back by _generation_of


def _kept_as_it_was(
    previous: Mapping[str, str] | None, stamp: str, previous_stamp: str
) -> RenderedTree | None:
    """Every previous file kept, when the build's ``stamp`` is the last one's."""
    if not previous or stamp != previous_stamp:
        return None
    return RenderedTree(stamp=stamp, keeps_rest=True)


def _made_from(feeds: FeedsConfig, site: FeedSite) -> str:
    """What a build's files depend on besides the store: the renderers'
    config and code (``_Renderer.key``) and the page templates."""
    key = incremental.site_key(SiteValues.of(site, feeds), engine=writers.engines())
    templates = [index.template_text(), pages.template_text(), topics.template_text()]
    return digest([key, repr(feeds), repr(site), *templates, style_text()])


def style_text() -> str:
    """The stylesheet every page links (written once, as ``STYLE_PATH``)."""
    return (templating.templates_dir() / STYLE_TEMPLATE).read_text(encoding="utf-8")


def _generation_of(stamp: str, made_from: str) -> int | None:
    """The generation a previous stamp was made at, when it was made from
    the same config and code (``made_from``); else None."""
    prefix, _, generation = stamp.partition(".")
    return int(generation) if prefix == made_from and generation.isdigit() else None


def render_feeds(
    plan: FeedPlan, feeds: FeedsConfig, site: FeedSite, previous: Mapping[str, str] | None = None
) -> RenderedTree:
    """Every feed of ``plan`` in every configured format, plus feeds.opml and
    index.html. Not the article pages: they cover the whole store (``build``)."""
    writers.check_formats(feeds.formats, "")
    return _Renderer(SiteValues.of(site, feeds)).feeds(plan, previous or {})


def render_archive(
    total_pages: int,
    feeds: FeedsConfig,
    site: FeedSite,
    load: Callable[[int], ArchivePage],
    previous: Mapping[str, str] | None = None,
) -> RenderedTree:
    """Every archive page, loading (``load(index)``, e.g. select.archive_page)
    only those not already written."""
    writers.check_formats(feeds.formats, "")
    return _Renderer(SiteValues.of(site, feeds)).archive(total_pages, load, previous or {})


def render_archive_page(
    page: ArchivePage, total_pages: int, feeds: FeedsConfig, site: FeedSite
) -> dict[str, bytes]:
    """Archive page ``page.index`` of the main feed in each archivable format."""
    writers.check_formats(feeds.formats, "")
    return _Renderer(SiteValues.of(site, feeds)).archive_page(page, total_pages)


def _unwritable(path: str) -> str:
    """Why a feed cannot have the folder ``path`` ("" when it can)."""
    if not plain_directory(path) or path.split("/")[0] == ARCHIVE_DIR:
        return "not a plain relative folder name"
    return ""


class _Renderer:
    def __init__(
        self,
        site: SiteValues,
        cache: EntryCache | None = None,
        load: Callable[[Sequence[str]], list[Article]] | None = None,
    ) -> None:
        self.site = site
        self.items = ItemCache(site)
        self.keys = incremental.ArticleKeys()
        engines = writers.engines()
        self.key = incremental.site_key(site, engine=engines)
        entry_key = incremental.entry_key(site, engine=engines)
        self.entries = EntryBytes(entry_key, self.items, cache, load)
        self.topic_key = topics.site_key(site) if site.writes_topic_pages else ""

    def render(self, jobs: Sequence[Job]) -> dict[str, Lazy]:
        """Each (head, articles, format -> path) as documents rendered when
        written (``output.sync_tree`` takes them in path order), in batches
        of feeds that sit together in that order: one batch's documents and
        entry bytes are in memory at a time, not the tree's."""
        groups: dict[str, list[Job]] = {}
        for job in sorted(jobs, key=lambda job: min(job[2].values(), default="")):
            # The main feed's files sit at the top, apart from tag/...: a batch
            # of its own, so it is not held while other folders are written.
            groups.setdefault(job[0].directory.split("/")[0], []).append(job)
        chunks = [
            group[start : start + FEEDS_PER_BATCH]
            for group in groups.values()
            for start in range(0, len(group), FEEDS_PER_BATCH)
        ]
        return batched(
            [
                ([path for job in chunk for path in job[2].values()], self._renderer_of(chunk))
                for chunk in chunks
            ]
        )

    def _renderer_of(self, jobs: Sequence[Job]) -> Callable[[], dict[str, bytes]]:
        return lambda: self.render_now(jobs)

    def render_now(self, jobs: Sequence[Job]) -> dict[str, bytes]:
        """Each (head, articles, format -> path) as documents: every entry
        they need is found or printed once (``EntryBytes.fill``), then each
        document is its head with the entries' bytes spliced in."""
        planned = []
        for head, articles, paths in jobs:
            documents = []
            for fmt, path in paths.items():
                slots = []
                for article in articles:
                    slot = self.entries.slot(fmt, article, head)
                    self.entries.need(fmt, slot, self.keys.key(article), article, head)
                    slots.append(slot)
                documents.append((path, fmt, slots))
            planned.append((head, documents))
        self.entries.fill()
        done = {
            path: writers.get(fmt).document(head, self.entries.get(slots))
            for head, documents in planned
            for path, fmt, slots in documents
        }
        self.entries.release()
        return done

    def feeds(self, plan: FeedPlan, previous: Mapping[str, str]) -> RenderedTree:
        out = TreeCollector(previous)
        notes: list[str] = []
        specs: list[FeedSpec] = []
        seen: set[str] = set()
        for spec in (plan.main, *plan.tags):
            problem = _unwritable(spec.path)
            if problem:
                notes.append(f"feed {spec.path!r} skipped: {problem}")
            elif spec.path in seen:
                notes.append(f"feed {spec.path!r} skipped: two feeds share that folder")
            else:
                seen.add(spec.path)
                specs.append(spec)

        heads = []
        jobs: list[Job] = []
        for spec in specs:
            pages = plan.archive_pages if spec is plan.main else 0
            head = self.head(spec, pages)
            heads.append(head)
            self.feed(out, jobs, spec, head)
        out.put(self.render(jobs))
        style = style_text()
        out.add([STYLE_PATH], digest([style]), lambda: {STYLE_PATH: style.encode("utf-8")})

        # The list of feeds: OPML and index.html change only when it does.
        listing_key = [self.key, *self.site.formats] + [
            f"{h.directory}\x1f{h.title}\x1f{h.tag.label if h.tag else ''}" for h in heads
        ]
        listing = digest(listing_key)
        out.add([OPML_PATH], listing, lambda: {OPML_PATH: opml.render(self.site, heads)})
        out.add(
            [INDEX_PATH],
            digest([*listing_key, index.template_text()]),
            lambda: {INDEX_PATH: index.render(self.site, heads)},
        )
        return out.tree(notes)

    def update(
        self,
        reader: FeedReader,
        changes: ChangeReader,
        changed: frozenset[str],
        feeds: FeedsConfig,
        site_title: str,
        previous: Mapping[str, str],
    ) -> RenderedTree | None:
        """A change to the previous tree (``keeps_rest``): the main feed and
        the feeds of the ``changed`` tag keys selected again; None when the set of feeds
        changes (a tag reaching or leaving ``feeds.min_items``), which
        changes feeds.opml and index.html: then build everything."""
        light = self.entries.cache is not None
        specs = [select.main_spec(reader, feeds.items, site_title, light=light)]
        for tag, count in changes.tag_counts(sorted(changed - {""})):
            path = select.tag_path(tag)
            wanted = count >= feeds.min_items and not _unwritable(path)
            present = all(p in previous for p in feed_paths(path, self.site.formats).values())
            if wanted != present:
                return None
            if wanted:
                newest = reader.latest_articles(limit=feeds.items, tag_key=tag.key, light=light)
                specs.append(select.tag_spec(tag, newest, site_title))
        out = TreeCollector(previous)
        jobs: list[Job] = []
        for spec in specs:
            self.feed(out, jobs, spec, self.head(spec, 0))
        out.put(self.render(jobs))
        return out.tree(keeps_rest=True)

    def feed(self, out: TreeCollector, jobs: list[Job], spec: FeedSpec, head: FeedHead) -> None:
        """The feed of ``spec`` in every format (a job in ``jobs`` unless
        kept) and, for a tag's feed, its topic page (tag/<slug>/index.html)."""
        paths = feed_paths(spec.path, self.site.formats)
        feed_print = self.fingerprint(head, spec)
        if not out.keep(paths.values(), feed_print):
            jobs.append((head, spec.articles, paths))
        if spec.tag is not None and self.site.writes_topic_pages:
            # It shows what the feed holds: rendered when the feed is, or
            # when only its own template or settings change.
            page = topics.page_path(spec.path)
            out.add([page], digest([feed_print, self.topic_key]), self._topic_of(page, head, spec))

    def _topic_of(
        self, path: str, head: FeedHead, spec: FeedSpec
    ) -> Callable[[], dict[str, bytes]]:
        return lambda: {path: topics.render(self.site, head, spec.articles)}

    def fingerprint(self, head: FeedHead, spec: FeedSpec) -> str:
        return digest(
            [self.key, incremental.head_key(head)] + [self.keys.key(a) for a in spec.articles]
        )

    def head(self, spec: FeedSpec, archive_pages: int) -> FeedHead:
        site = self.site
        title = clean(spec.title) or site.title
        description = title if spec.tag else site.description or title
        urls = document_urls(site, spec.path)
        return FeedHead(
            directory=spec.path,
            atom_id=urls["atom"],
            title=title,
            subtitle=site.description or description,
            description=description,
            language=site.language,
            author=site.title,
            # A tag's feed mirrors its topic page; the main feed, the site.
            home=site.topic_url(spec.tag.slug) if spec.tag else site.home,
            # Newest entry's, not the clock's: rebuilds stay byte-identical.
            updated=max((a.updated for a in spec.articles), default=EMPTY_FEED_UPDATED),
            urls=urls,
            hub=site.hub,
            history=archive.newest_page_link(site, archive_pages),
            tag=Category.of(spec.tag) if spec.tag else None,
        )

    def archive(
        self, total: int, load: Callable[[int], ArchivePage], previous: Mapping[str, str]
    ) -> RenderedTree:
        """Every archive page. A page's articles are fixed by its position,
        but an archived article can still be edited, re-tagged or moved, so
        each page is loaded (one page in memory at a time) and fingerprinted
        by its articles' keys, not by its position alone."""
        out = TreeCollector(previous)
        for n in range(1, total + 1):
            page = load(n)
            fingerprint = digest(
                [self.key, *archive.fingerprint_parts(self.site.feeds.archive_page_size, n, total)]
                + [self.keys.key(a) for a in page.articles]
            )
            paths = archive.archive_paths(n, self.site.formats)
            if not out.keep(paths.values(), fingerprint):
                # Loaded again when written: holding every page to render
                # (whole articles) would hold the archive in memory.
                out.put(batched([(list(paths.values()), self._archive_of(load, n, total))]))
        return out.tree()

    def _archive_of(
        self, load: Callable[[int], ArchivePage], n: int, total: int
    ) -> Callable[[], dict[str, bytes]]:
        return lambda: self.archive_page(load(n), total)

    def archive_page(self, page: ArchivePage, total: int) -> dict[str, bytes]:
        head = archive.page_head(self.site, page.index, total, page.articles)
        paths = archive.archive_paths(page.index, self.site.formats)
        return self.render_now([(head, page.articles, paths)])
