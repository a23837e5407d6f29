"""Incremental builds: a fingerprint of everything a file is rendered from,
and the collector that keeps a file whose fingerprint did not change.

A fingerprint covers article ids, content hashes, dates and tags, the config
values the file uses and ``RENDER_VERSION``. A file whose fingerprint equals
the previous build's (from the manifest) is not rendered at all: ``None`` in
``RenderedTree.outputs`` tells ``output.sync_tree`` to keep it.

A file that is rendered is a ``Lazy`` producer, not bytes: ``sync_tree``
calls it while writing, in path order, so a build holds one small batch of
documents at a time rather than every document of the tree (at 100,000
articles and 2,000 tags that was 1.6 GB of bytes held before the first write).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from feedpub.feeds.entry import FeedHead
from feedpub.feeds.site import SiteValues
from feedpub.model import Article

# Bump when the output of any writer changes: every fingerprint changes with it.
# 3: titles holding "<" printed as escaped HTML; categories capped per entry.
# 4: url-less articles link to their page (feeds/pages.py); ids from first_url.
# 5: Media RSS and the image atop the HTML; enclosures only of a known length;
#    tag feeds link home to their topic page.
RENDER_VERSION = "5"


# Produces a file's bytes when called; None: the file is not produced after
# all (an article page whose article was deleted or given a URL meanwhile).
Lazy = Callable[[], bytes | None]
Output = bytes | Lazy | None


class Batch:
    """Files rendered together (one query and one printing run for all
    their entries) but handed out one at a time: the batch is rendered on
    the first request and each file's bytes are dropped once taken, so the
    whole batch is released when its last file has been written. Asked for
    a file again (``RenderedTree.files`` after a sync), it renders again:
    the output is a function of the inputs, so the bytes are the same."""

    def __init__(self, render: Callable[[], Mapping[str, bytes | None]]) -> None:
        self._render = render
        self._held: dict[str, bytes | None] = {}

    def take(self, path: str) -> bytes | None:
        if path not in self._held:
            self._held = dict(self._render())
        return self._held.pop(path, None)

    def outputs(self, paths: Iterable[str]) -> dict[str, Lazy]:
        return {path: functools.partial(self.take, path) for path in paths}


def batched(
    groups: Sequence[tuple[Sequence[str], Callable[[], Mapping[str, bytes | None]]]],
) -> dict[str, Lazy]:
    """One ``Batch`` per group of paths (its render gives their bytes)."""
    found: dict[str, Lazy] = {}
    for paths, render in groups:
        found.update(Batch(render).outputs(paths))
    return found


def resolve(outputs: Mapping[str, Output]) -> dict[str, bytes | None]:
    """``outputs`` with every producer called (a file produced after all
    as None is left out): the whole tree in memory, for tests and callers
    that do not write it through ``output.sync_tree``."""
    found: dict[str, bytes | None] = {}
    for path in sorted(outputs):  # the order sync_tree uses: batches drain in turn
        data = outputs[path]
        if callable(data):
            data = data()
            if data is None:
                continue
        found[path] = data
    return {path: found[path] for path in outputs if path in found}


@dataclass(frozen=True)
class RenderedTree:
    """One build's output. ``outputs`` maps each relative path the build
    produces to a producer of its bytes (``Lazy``: rendered when
    ``output.sync_tree`` writes it), to bytes, or to None when its
    fingerprint matches the previous build's (the existing file is kept, not
    re-rendered). ``fingerprints`` has an entry for every path; store them in
    the manifest and pass them back as ``previous`` next time.

    A tree that ``keeps_rest`` is a change to the previous build's, not all
    of it: every previous path it does not name stays as it is, with its
    fingerprint, but those in ``removed``. An update after a few article
    writes is one (feeds.build): its cost then follows what changed, not
    the 25,801 paths of the tree at L."""

    outputs: dict[str, Output] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    # Store generation + config digest; equal stamps mean equal trees.
    stamp: str = ""
    keeps_rest: bool = False
    removed: frozenset[str] = frozenset()

    @functools.cached_property
    def files(self) -> dict[str, bytes | None]:
        """Every file's bytes (None: kept), all rendered and held at once."""
        return resolve(self.outputs)

    @property
    def rendered(self) -> tuple[str, ...]:
        return tuple(path for path, data in self.outputs.items() if data is not None)

    def merged(self, other: RenderedTree) -> RenderedTree:
        """Both trees as one (e.g. the feeds and the archive pages), for one
        ``output.sync_tree`` call: files missing from it are removed (or,
        for two trees that ``keeps_rest``, kept unless either removes them)."""
        if self.keeps_rest != other.keeps_rest:
            raise ValueError("a whole tree and a change to one cannot be merged")
        return RenderedTree(
            outputs={**self.outputs, **other.outputs},
            fingerprints={**self.fingerprints, **other.fingerprints},
            notes=self.notes + other.notes,
            stamp=self.stamp,
            keeps_rest=self.keeps_rest,
            removed=(self.removed | other.removed) - other.outputs.keys() - self.outputs.keys(),
        )


def digest(parts: Iterable[str]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()[:32]


def site_key(site: SiteValues, engine: str) -> str:
    """Every config value the feed documents depend on, and the version of
    the library that prints them (``engine``)."""
    return "\x1f".join(
        [
            RENDER_VERSION,
            engine,
            site.site.title,
            site.site.url,
            site.site.language,
            site.site.description,
            site.feeds.url,
            site.hub or "",
            str(site.feeds.full_content),
            str(site.feeds.image_in_content),
            site.feeds.tag_page_url,
            site.subscribe_url,
        ]
    )


def entry_key(site: SiteValues, engine: str) -> str:
    """The config values an entry's bytes depend on (``entry.make_item`` and
    the writers' entry printers): the home page (absolute links, tag: URIs),
    the language (direction wrapper), full_content, image_in_content, and
    the printer's code.
    The feed's title, description, hub and URLs go in heads only; the one
    feed value an entry may print (RSS dc:creator fallback) is in its slot."""
    feeds = site.feeds
    parts = [RENDER_VERSION, engine, site.site.url, site.site.language]
    return "\x1f".join([*parts, str(feeds.full_content), str(feeds.image_in_content)])


def head_key(head: FeedHead) -> str:
    tag = f"{head.tag.term}\x1d{head.tag.label}" if head.tag else ""
    parts = [head.directory, head.atom_id, head.title, head.subtitle, head.description]
    parts += [head.home, str(head.archived), head.updated.isoformat(), tag]
    parts += [f"{fmt}={url}" for fmt, url in sorted(head.urls.items())]
    parts += [f"{h.rel}:{fmt}={url}" for h in head.history for fmt, url in sorted(h.urls.items())]
    return "\x1f".join(parts)


def _article_key(article: Article) -> str:
    """Everything about an article that its entry depends on, cheaply: the
    content hash stands for summary and content when the store provides it."""
    tags = "\x1e".join(f"{t.slug}\x1d{t.name}" for t in article.tags)
    parts = [
        article.id,
        article.content_hash,
        article.published.isoformat(),
        article.updated.isoformat(),
        article.title,
        article.url or "",
        "" if article.first_url is None else "=" + article.first_url,  # the entry id's source
        article.image or "",
        article.author or "",
        tags,
    ]
    if article.image:
        parts.append(
            f"{article.image_width}x{article.image_height}:{article.image_bytes}:{article.image_alt}"
        )
    if not article.content_hash:
        parts += [article.summary, article.content]
    return "\x1f".join(parts)


class ArticleKeys:
    """``_article_key`` once per article per build (same identity as
    ``entry.ItemCache``)."""

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str, datetime], str] = {}

    def key(self, article: Article) -> str:
        ident = (article.id, article.content_hash, article.updated)
        key = self._keys.get(ident)
        if key is None:
            key = self._keys[ident] = _article_key(article)
        return key


class TreeCollector:
    """Collects a build's files: a group of paths whose fingerprint matches
    the previous build's is kept as it is (None: not rendered again), any
    other group is rendered (lazily, when ``put`` producers)."""

    def __init__(self, previous: Mapping[str, str]) -> None:
        self.previous = previous
        self.files: dict[str, Output] = {}
        self.prints: dict[str, str] = {}

    def keep(self, paths: Iterable[str], fingerprint: str) -> bool:
        """Record ``fingerprint`` for the group ``paths``; True when every one
        of them had it last time (kept as it is), False when the caller must
        ``put`` the group's rendered files."""
        group = list(paths)
        self.prints.update(dict.fromkeys(group, fingerprint))
        if all(self.previous.get(path) == fingerprint for path in group):
            self.files.update(dict.fromkeys(group))
            return True
        return False

    def put(self, files: Mapping[str, Output]) -> None:
        self.files.update(files)

    def add(
        self, paths: Iterable[str], fingerprint: str, render: Callable[[], Mapping[str, bytes]]
    ) -> None:
        """The group ``paths``, rendered together by ``render`` when first
        written, unless kept."""
        group = list(paths)
        if not self.keep(group, fingerprint):
            self.put(batched([(group, render)]))

    def tree(self, notes: Sequence[str] = (), *, keeps_rest: bool = False) -> RenderedTree:
        return RenderedTree(
            outputs=self.files, fingerprints=self.prints, notes=tuple(notes), keeps_rest=keeps_rest
        )
