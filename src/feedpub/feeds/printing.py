"""Printing entries (each writer's ``entries``) in the build process or, when
there are many, in worker processes on every core.

A first build prints thousands of entries through feedgen: CPU work
independent from entry to entry. ``print_entries`` hands them out in
chunks to processes forked for the call; each makes the FeedItems and
prints, and the bytes come back in order, so a document is the same
whichever process printed its entries.

Forked, not spawned: a worker has the build's modules, its site values and
the format registry (a test's own formats too) without importing or
pickling them. A fork is only safe with one thread (a lock held by another
thread stays held in the child, and Python 3.12+ warns), so inside a
threaded process (``feedpub serve``) entries are printed in the build
process. Workers ignore SIGINT: Ctrl-C reaches the build process, which
shuts the pool down on every path.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Sequence

from feedpub.feeds import writers
from feedpub.feeds.entry import FeedHead, ItemCache
from feedpub.feeds.site import SiteValues
from feedpub.model import Article

# Fewer entries than this are printed in the build process: forking and
# pickling would cost more than the second core saves (an incremental build
# prints a handful).
MIN_ENTRIES = 600
# Entries per task: large enough that pickling the articles costs little
# against printing them, small enough that both cores stay busy to the end.
CHUNK = 150
# The most worker processes: past the cores there is nothing to gain.
MAX_WORKERS = 4

# (format, [(article, the head of the feed it sits in)]): one task.
Task = tuple[str, Sequence[tuple[Article, FeedHead]]]


def workers_for(entries: int) -> int:
    """Worker processes to print ``entries`` with: 0 (print here) when they
    are few, there is one core, or another thread runs (see above)."""
    cores = min(os.cpu_count() or 1, MAX_WORKERS)
    if entries < MIN_ENTRIES or cores < 2 or threading.active_count() > 1:
        return 0
    return cores


def print_entries(site: SiteValues, items: ItemCache, tasks: Sequence[Task]) -> list[list[bytes]]:
    """Each task's entries printed, in order: by ``workers_for`` worker
    processes, or here (through ``items``, the build's FeedItems) when that
    is 0."""
    workers = workers_for(sum(len(entries) for _, entries in tasks))
    if not workers:
        return [_print(items, fmt, entries) for fmt, entries in tasks]
    # Here: an incremental or no-op build prints few or none, and imports neither.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    chunks = [
        (fmt, list(entries[start : start + CHUNK]))
        for fmt, entries in tasks
        for start in range(0, len(entries), CHUNK)
    ]
    with ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_start_worker,
        initargs=(site,),
    ) as pool:
        printed = iter(pool.map(_print_chunk, chunks))
        return [[data for _ in range(0, len(e), CHUNK) for data in next(printed)] for _, e in tasks]


def _print(items: ItemCache, fmt: str, entries: Sequence[tuple[Article, FeedHead]]) -> list[bytes]:
    return writers.get(fmt).entries([(items.get(article), head) for article, head in entries])


# A worker's FeedItems, made from the build's site values (set by fork: not pickled).
_worker_items: ItemCache | None = None


def _start_worker(site: SiteValues) -> None:
    global _worker_items
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_items = ItemCache(site)


def _print_chunk(task: Task) -> list[bytes]:
    assert _worker_items is not None
    fmt, entries = task
    try:
        return _print(_worker_items, fmt, entries)
    finally:
        _worker_items.clear()  # an article's item is made again in another chunk
