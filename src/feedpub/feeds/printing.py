"""Printing entries (each writer's ``entries``) in the build process or, when
there are many, in worker processes on every core.

A first build prints thousands of entries through feedgen: CPU work
independent from entry to entry. ``print_entries`` hands them out in
chunks (all of an article's entries in one) to worker processes, forked
once per build (``pool_scope``) or, outside one, for the call; each makes
the FeedItems and prints, and the bytes come back in order, so a document
is the same whichever process printed its entries.

Forked, not spawned: a worker has the build's modules and the format
registry (a test's own formats too) without importing or pickling them. A
fork is only safe with one thread (a lock held by another thread stays held
in the child, and Python 3.12+ warns), so inside a threaded process
(``feedpub serve``) entries are printed in the build process. Workers
ignore SIGINT: Ctrl-C reaches the build process, which shuts the pool down
on every path.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import stat
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, cast

from feedpub.feeds import writers
from feedpub.feeds.entry import FeedHead, ItemCache
from feedpub.feeds.site import SiteValues
from feedpub.model import Article

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

# Fewer entries than this are printed in the build process: forking and
# pickling would cost more than the second core saves (an incremental build
# prints a handful).
MIN_ENTRIES = 600
# Entries per task, about: large enough that pickling the articles costs
# little against printing them, small enough that both cores stay busy to
# the end. A task holds every entry of its articles (all formats and
# feeds), so each article is pickled and made a FeedItem once.
CHUNK = 300
# Entries per feedgen document: bounds the memory of one printing run.
BATCH = 1000
# The most worker processes: past the cores there is nothing to gain.
MAX_WORKERS = 4

# One entry to print: its format, its article and the head of the feed it sits in.
Wanted = tuple[str, Article, FeedHead]


def workers_for(entries: int) -> int:
    """Worker processes to print ``entries`` with: 0 (print here) when they
    are few, there is one core, or another thread runs (see above)."""
    cores = min(os.cpu_count() or 1, MAX_WORKERS)
    if entries < MIN_ENTRIES or cores < 2 or threading.active_count() > 1:
        return 0
    return cores


def print_entries(site: SiteValues, items: ItemCache, wanted: Sequence[Wanted]) -> list[bytes]:
    """The bytes of each wanted entry, in order: printed by ``workers_for``
    worker processes, or here (through ``items``, the build's FeedItems)
    when that is 0."""
    workers = workers_for(len(wanted))
    if not workers:
        return _print(items, wanted)
    chunks = _by_article(wanted)
    tasks = [(site, [wanted[i] for i in chunk]) for chunk in chunks]
    with _workers(workers) as pool:
        found: list[bytes] = [b""] * len(wanted)
        for chunk, data in zip(chunks, pool.map(tasks), strict=True):
            for index, entry in zip(chunk, data, strict=True):
                found[index] = entry
    return found


Task = tuple[SiteValues, list[Wanted]]


class Workers:
    """Worker processes forked from this one, each on a pipe of its own.
    Tasks go out and results come back through this thread alone: no
    helper thread (a pool's threads unpickle results in malloc arenas of
    their own, which held some 20 MB more at L), and none to make a fork
    unsafe."""

    def __init__(self, count: int) -> None:
        # Here: an incremental or no-op build prints few or none, and imports none.
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self._pipes: list[Connection] = []
        self._processes: list[multiprocessing.process.BaseProcess] = []
        # The build's objects go to the permanent generation first: a worker's
        # collector would otherwise walk them, copying every page it touches.
        gc.freeze()
        try:
            for _ in range(count):
                mine, theirs = context.Pipe()
                process = context.Process(target=_serve, args=(theirs,), daemon=True)
                process.start()
                theirs.close()
                self._pipes.append(mine)
                self._processes.append(process)
        finally:
            gc.unfreeze()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._processes if p.pid is not None]

    def map(self, tasks: Sequence[Task]) -> list[list[bytes]]:
        """Each task's printed entries, in order; one task per worker at a time."""
        from multiprocessing.connection import wait

        results: list[list[bytes]] = [[] for _ in tasks]
        waiting = iter(range(len(tasks)))
        busy: dict[Connection, int] = {}

        def hand_out(pipe: Connection) -> None:
            index = next(waiting, None)
            if index is not None:
                pipe.send(tasks[index])
                busy[pipe] = index

        for pipe in self._pipes:
            hand_out(pipe)
        while busy:
            for ready in wait(list(busy)):
                pipe = cast("Connection", ready)  # wait() gives back what it was given
                index = busy.pop(pipe)
                try:
                    printed, failure = pipe.recv()
                except EOFError:
                    raise RuntimeError("a printing worker process ended unexpectedly") from None
                if failure is not None:
                    raise failure
                results[index] = printed
                hand_out(pipe)
        return results

    def close(self) -> None:
        for pipe in self._pipes:
            with contextlib.suppress(OSError):
                pipe.send(None)  # done
            pipe.close()
        for process in self._processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()


# The workers of the open ``pool_scope`` (None: not forked yet), or no scope.
_scope: list[Workers | None] | None = None


@contextlib.contextmanager
def pool_scope(*, fork_now: bool = False) -> Iterator[None]:
    """Within it, worker processes are forked once and kept for every
    printing run, not forked per run; shut down when it ends, on every path
    (a build: ``publish``). Forked when entries are first printed in them,
    or with ``fork_now`` at once (when this process is still small: each
    worker's memory starts as a copy of it)."""
    global _scope
    if _scope is not None:  # nested: the outer scope's workers
        yield
        return
    _scope = [None]
    try:
        workers = workers_for(MIN_ENTRIES) if fork_now else 0
        if workers:
            _scope[0] = Workers(workers)
        yield
    finally:
        pool, _scope = _scope[0], None
        if pool is not None:
            pool.close()


@contextlib.contextmanager
def _workers(workers: int) -> Iterator[Workers]:
    """The scope's workers (forked now if not yet), or, outside a scope,
    workers forked for this run alone."""
    if _scope is None:
        alone = Workers(workers)
        try:
            yield alone
        finally:
            alone.close()
        return
    kept = _scope[0]
    if kept is None:
        kept = _scope[0] = Workers(workers)
    yield kept


def _by_article(wanted: Sequence[Wanted]) -> list[list[int]]:
    """The indexes of ``wanted`` in chunks of about ``CHUNK``, an article's
    entries never split between two."""
    of_article: dict[str, list[int]] = {}
    for index, (_, article, _) in enumerate(wanted):
        of_article.setdefault(article.id, []).append(index)
    chunks: list[list[int]] = [[]]
    for indexes in of_article.values():
        if len(chunks[-1]) >= CHUNK:
            chunks.append([])
        chunks[-1].extend(indexes)
    return chunks


def _print(items: ItemCache, wanted: Sequence[Wanted]) -> list[bytes]:
    """Each wanted entry printed by its format's writer, ``BATCH`` entries
    of one format per run; the bytes in the order of ``wanted``."""
    by_format: dict[str, list[int]] = {}
    for index, (fmt, _, _) in enumerate(wanted):
        by_format.setdefault(fmt, []).append(index)
    found: list[bytes] = [b""] * len(wanted)
    for fmt, indexes in by_format.items():
        printer = writers.get(fmt).entries
        for start in range(0, len(indexes), BATCH):
            batch = indexes[start : start + BATCH]
            pairs = [(items.get(wanted[i][1]), wanted[i][2]) for i in batch]
            for index, data in zip(batch, printer(pairs), strict=True):
                found[index] = data
    return found


def _start_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _release_inherited_files()
    parent = os.getppid()
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _release_inherited_files() -> None:
    """Point every file the worker inherited (the build's and the job's
    flocks, the SQLite store) at /dev/null: a flock lasts while any process
    holds its file open, so a worker outliving a killed build would keep
    the next build out. The numbers stay taken, so nothing the worker opens
    lands on one the store's connection objects still name."""
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for name in os.listdir(_FD_DIR):
            fd = int(name)
            if fd > 2 and fd != null and _is_file(fd):
                os.dup2(null, fd)
    finally:
        os.close(null)


_FD_DIR = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"


def _is_file(fd: int) -> bool:
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:  # the listing's own descriptor, closed by now
        return False


def _exit_with(parent: int) -> None:
    """End the worker once its build process is gone (killed: it never
    shuts the pool down), instead of waiting for work forever."""
    while os.getppid() == parent:
        time.sleep(_ORPHAN_POLL_S)
    os._exit(1)


# How often a worker looks for its build process.
_ORPHAN_POLL_S = 0.5


def _serve(pipe: Connection) -> None:
    """A worker: print each task it is sent until told it is done (None) or
    its build process is gone."""
    _start_worker()
    while True:
        try:
            task = pipe.recv()
        except EOFError:
            return
        if task is None:
            return
        try:
            pipe.send((_print_chunk(task), None))
        except Exception as exc:  # the build process raises it
            pipe.send(([], exc))


def _print_chunk(task: tuple[SiteValues, list[Wanted]]) -> list[bytes]:
    site, wanted = task
    return _print(ItemCache(site), wanted)
