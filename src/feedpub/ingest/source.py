"""Where articles come from: the ``Source`` protocol, what a source yields
(``Batch``), and the one registry of source kinds.

A source reads what changed since its checkpoint and yields it in batches.
The ingest job (``job``) stores each batch, and the checkpoint that covers
it, in one transaction: a cursor never moves past what is stored, so a
crash, Ctrl-C or a source that fails half-way loses nothing and the next
run resumes where the last stored batch ended.

A new kind of source (an HTTP API, a sitemap) is one module with a class
that satisfies ``Source`` and a factory, plus one line in ``BUILTIN``; its
config entry is ``- <kind>: <location>`` plus options of its own
(``SourceConfig.options``), checked by its factory.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Protocol

from feedpub.config import ConfigError, SourceConfig
from feedpub.model import Article, Reject, SourceFile

if TYPE_CHECKING:
    from feedpub.ingest.context import Settings

# (units done, units in all) of the source being read, for a progress bar.
Progress = Callable[[int, int], None]


class SourceError(Exception):
    """The source as a whole cannot be read now (unreachable, not what its
    kind says, answering garbage). The message names the source and the
    reason; the job logs it as one line, keeps the source's cursor where it
    was and goes on with the other sources."""


@dataclass(frozen=True)
class Item:
    """One unit of reading (a file, a post, a fetched page): the articles it
    gave and its rejects. Its rejects replace the ones recorded for ``key``
    before, so a unit fixed since the last run loses its rejects."""

    key: str
    articles: tuple[Article, ...] = ()
    rejects: tuple[Reject, ...] = ()
    # The file source's own checkpoint of this file (None: read it again).
    row: SourceFile | None = None
    # Article ids this unit gave before and no longer gives (a record taken
    # out of its file, a file deleted): withdrawn where the store holds them
    # from this unit (``Article.source``), before its articles are written.
    withdrawn: tuple[str, ...] = ()
    # More of this unit follows in later batches (a file read as a stream):
    # its rejects come with its last part and stand as they are until then.
    partial: bool = False


@dataclass(frozen=True)
class Batch:
    """What a source read, stored in one transaction with ``cursor``."""

    items: tuple[Item, ...] = ()
    # Article ids the source no longer publishes (deleted, unpublished,
    # trashed): withdrawn from every feed, page and future digest.
    withdrawn: tuple[str, ...] = ()
    # The source's checkpoint once this batch is stored (None: unchanged).
    cursor: str | None = None
    # Sources that gave some of these ids and are gone (a file moved or
    # deleted): they no longer hold them, so another may take them.
    released: frozenset[str] = frozenset()
    # The file source: rows of files found unchanged by their hash (stored as
    # given), and units skipped whose rejects still stand (their ``seen`` is
    # moved to now).
    unchanged_rows: tuple[SourceFile, ...] = ()
    still_rejected: tuple[str, ...] = ()
    # What skipped units gave, for the report: they count as a reading would.
    skipped_articles: int = 0
    skipped_rejects: int = 0


class Source(Protocol):
    """A place articles are read from.

    ``name`` is stable across runs: it keys the source's cursor row and
    namespaces its article ids when its own ids could collide with another
    source's (two WordPress sites both have a post 7). ``read`` yields what
    changed since ``cursor`` (None on the first run), raising ``SourceError``
    when the source as a whole cannot be read; every problem with one unit
    is a ``Reject`` inside a batch. ``close`` releases connections."""

    @property
    def name(self) -> str: ...

    def read(self, cursor: str | None, now: datetime, progress: Progress | None) -> Iterator[Batch]:
        """What changed since ``cursor``."""
        ...

    def close(self) -> None:
        """Release what the source holds; called once, after ``read``."""
        ...


@dataclass(frozen=True)
class SourceContext:
    """What every source kind may use, built once per run by the job."""

    settings: Settings
    timezone: tzinfo
    environ: Mapping[str, str] = field(default_factory=dict)
    # Set by the job for the file source: what it needs of the store.
    files: object | None = None
    # Whether to list every published id and withdraw the rest this run
    # (``feedpub ingest --reconcile``), where a source can.
    reconcile: bool = False


# A kind's sources from all its entries, in config order: most kinds make
# one source per entry; the files kind makes one for all its folders, as a
# file may teach its neighbours' chrome and ids are compared across files.
SourceFactory = Callable[[Sequence[SourceConfig], SourceContext], list[Source]]

# kind (the entry's first key in ``sources:``) -> "module:function" making
# its sources, imported only when a config names the kind (a build never
# loads an HTTP client). A new kind is one module and one line here.
BUILTIN: dict[str, str] = {
    "path": "feedpub.ingest.files:file_sources",
    "wordpress": "feedpub.ingest.wordpress:wordpress_sources",
    "sitemap": "feedpub.ingest.sitemap_source:sitemap_sources",
}
# Kinds registered at run time (a plugin, a test).
KINDS: dict[str, SourceFactory] = {}


def register(kind: str, factory: SourceFactory) -> None:
    KINDS[kind] = factory


def known_kinds() -> list[str]:
    return sorted({*BUILTIN, *KINDS})


def _factory(kind: str) -> SourceFactory | None:
    if kind in KINDS:
        return KINDS[kind]
    where = BUILTIN.get(kind)
    if where is None:
        return None
    module, _, name = where.partition(":")
    factory: SourceFactory = getattr(importlib.import_module(module), name)
    return factory


def make_sources(configs: Sequence[SourceConfig], context: SourceContext) -> list[Source]:
    """The sources the ``sources:`` entries name, kinds in the order they
    first appear; ``ConfigError`` naming the entry for an unknown kind (or,
    from a factory, a bad option)."""
    by_kind: dict[str, list[SourceConfig]] = {}
    for config in configs:
        by_kind.setdefault(config.kind, []).append(config)
    sources: list[Source] = []
    for kind, group in by_kind.items():
        factory = _factory(kind)
        if factory is None:
            known = ", ".join(known_kinds())
            raise ConfigError(f"{group[0].where}: unknown source kind {kind!r} (known: {known})")
        sources += factory(group, context)
    return sources
