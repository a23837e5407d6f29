"""Reading source files for the files source (``files``), in the ingest process or in
worker processes (``ingest.workers``).

Reading a page (decode, ``page_texts``, ``layout.classify``, ``assemble``)
is CPU work independent from page to page, so it is handed out in chunks to
processes forked from the ingest process; the store writes stay in it, in
file order (``files`` takes the results in that order).

Forked, not spawned: a worker then shares the ingest process's ``hash``
salt, which ``ingest.SourceLines`` counts lines by, and its settings (the
compiled vocabulary) without pickling them. A fork is only safe with one
thread (a lock held by another thread stays held in the child, and Python
3.12+ warns): ``usable`` says no inside a threaded process (``feedpub
serve``'s scheduler and web server), which then reads in the ingest process.
Workers ignore SIGINT: Ctrl-C reaches the ingest process, which writes what
it has read and shuts the pool down (``Pool.close``, on every path).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from feedpub import ingest
from feedpub.model import Article, Reject

# Pages per task: large enough that pickling and queueing cost little
# against parsing the pages, small enough that both cores stay busy
# to the end and that results in flight stay small.
CHUNK = 128
# Pages per task of the learning pass (counting is cheaper than parsing).
LEARN_CHUNK = 512
# Fewer pages to read than this: the ingest process reads them itself (a
# pool costs a fork per worker and its imports are shared, but not free).
MIN_PAGES = 200
# The most processes "auto" starts: past 4, the single writer is the limit.
AUTO_MAX = 4

Expect = tuple[str, str] | None


@dataclass(frozen=True)
class Read:
    """One file as read: its stat, the sha256 of its bytes, its parse key
    (both "" when it could not be read), and its articles and rejects; or
    ``items`` None when the hash and key were the ``expect``ed ones, so it
    was not parsed (its row may only need refreshing). A line-per-record
    file's items are an iterator, read as they are taken (``streamed``)."""

    stat: os.stat_result | None
    sha256: str
    key: str
    items: list[Article | Reject] | Iterator[Article | Reject] | None
    streamed: bool = False


def read_file(
    path: Path,
    run: ingest.Settings,
    now: datetime,
    lines: ingest.SourceLines | None,
    expect: Expect,
) -> Read:
    """Open, hash and (unless its hash and parse key are ``expect``) parse
    one file: the same steps in the ingest process and in a worker."""
    opened = ingest.open_source(path, run, now)
    if opened.early is None and opened.streamed:
        return _read_stream(path, run, now, opened, expect)
    key = sha256 = ""
    if opened.early is None and opened.data is not None and opened.stat is not None:
        sha256 = hashlib.sha256(opened.data).hexdigest()
        key = run.fingerprint
        if path.suffix.lower() in ingest.PAGE_SUFFIXES:
            key = sha(key, *ingest.page_chrome(opened, lines))
        if expect == (sha256, key):
            return Read(opened.stat, sha256, key, None)
    return Read(opened.stat, sha256, key, ingest.read_path(path, run, now, lines, opened))


def _read_stream(
    path: Path, run: ingest.Settings, now: datetime, opened: ingest.Opened, expect: Expect
) -> Read:
    assert opened.stat is not None
    try:
        scan = ingest.scan_stream(path, run)
    except OSError as exc:
        reject = Reject(opened.source, f"cannot read file: {exc.strerror or exc}", now)
        return Read(opened.stat, "", "", [reject])
    if expect == (scan.sha256, run.fingerprint):
        return Read(opened.stat, scan.sha256, run.fingerprint, None)
    records = ingest.read_stream(path, run, now, opened.stat, scan)
    return Read(opened.stat, scan.sha256, run.fingerprint, records, streamed=True)


def sha(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8", "backslashreplace")).hexdigest()


def worker_count(setting: int | Literal["auto"]) -> int:
    if setting == "auto":
        return min(os.cpu_count() or 1, AUTO_MAX)
    return setting


def usable(workers: int, pages: int) -> bool:
    """Whether to fork a pool: more than one worker, enough pages to read,
    and no thread but this one (see the module docstring)."""
    return workers > 1 and pages >= MIN_PAGES and threading.active_count() == 1


# A worker's run settings and clock, set once when it starts (by fork: not pickled).
_worker: tuple[ingest.Settings, datetime] | None = None


def _start_worker(run: ingest.Settings, now: datetime) -> None:
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker = (run, now)


def _read_chunk(lines: ingest.SourceLines | None, files: list[tuple[Path, Expect]]) -> list[Read]:
    assert _worker is not None
    run, now = _worker
    return [read_file(path, run, now, lines, expect) for path, expect in files]


def _learn_chunk(pages: list[Path]) -> tuple[int, list[int]]:
    assert _worker is not None
    return ingest.chrome_share(pages, _worker[0].limits)


class Pool:
    """Worker processes, forked on first use; ``close`` shuts them down."""

    def __init__(self, workers: int, run: ingest.Settings, now: datetime) -> None:
        self.workers, self.run, self.now = workers, run, now
        # Tasks handed out and not taken yet, at most: enough that no worker
        # waits for the writer, few enough that their results stay small.
        self.depth = 4 * workers
        self._executor: ProcessPoolExecutor | None = None
        # The last chunk's learned chrome, and what of it a worker is handed.
        self._lines: ingest.SourceLines | None = None
        self._shipped: ingest.SourceLines | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("fork"),
                initializer=_start_worker,
                initargs=(self.run, self.now),
            )
        return self._executor

    def read(
        self, lines: ingest.SourceLines | None, files: list[tuple[Path, Expect]]
    ) -> Future[list[Read]]:
        """``read_file`` of each of ``files`` (pages of one folder, whose
        learned chrome is ``lines``), in a worker."""
        if lines is not self._lines:  # pruned once per folder (chunks come by folder)
            self._lines = lines
            self._shipped = lines.chrome_only() if lines is not None else None
        return self._pool().submit(_read_chunk, self._shipped, files)

    def learn(self, pages: Sequence[Path]) -> ingest.SourceLines:
        """``learn_chrome`` of one folder's ``pages``, counted in shares by the workers."""
        shares = [list(pages[i : i + LEARN_CHUNK]) for i in range(0, len(pages), LEARN_CHUNK)]
        return ingest.merge_lines(self._pool().map(_learn_chunk, shares))

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
