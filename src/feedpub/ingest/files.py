"""The files source: folders of scraped pages (``*.txt``) and records
(``*.jsonl``, ``*.json``, ``*.yaml``) named by ``path:`` entries, read into
batches for the ingest job, skipping the files unchanged since last read.
All ``path:`` entries are one source: pages teach their folder's chrome and
ids are compared across every file.

A file is unchanged, and neither read nor parsed, when its size, mtime and
ctime match its ``source_files`` row and it was read under the same settings (and,
for a page, with the same files in its folder, whose pages teach its chrome).
A file whose size or mtime moved but whose bytes hash the same (a touch, a
copy) is not parsed either: only its row is updated. Either way, what the
row says the file gave must still be in the store (each article with its
content hash, the number of its rejects), and no file read earlier in this
run may have written one of its ids (a later file with an article of the
same id wins, as when every file was read in turn); else it is read again.
A skipped file counts its articles as unchanged and its rejects as still
rejected, exactly as reading it again would.

Files go to the job in batches, each stored in one transaction (rejects,
articles and rows together): a crash or Ctrl-C loses at most the batch in
flight, and on Ctrl-C the files already read are handed over first. The
source's checkpoint is its ``source_files`` rows, not a cursor.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path
from typing import Protocol, cast

from feedpub import ingest
from feedpub.config import ConfigError, SourceConfig
from feedpub.ingest.pool import CHUNK, Expect, Pool, Read, read_file, sha, usable, worker_count
from feedpub.ingest.source import Batch, Item, Progress, Source, SourceContext, SourceError
from feedpub.model import Article, Reject, SourceFile
from feedpub.store import BATCH_SIZE, duplicate_reject

# Files per write transaction at most (one article each for pages).
FILES_PER_BATCH = 500
# Where a reject names the record it refused: "line 3, id abc", "id abc".
_RECORD_ID = re.compile(r"(?:^|, )id (.+)$")
# A file modified this close to when it was read may change again within the
# same mtime tick, unseen by size and mtime: its row is kept with an
# untrusted mtime, so the next run hashes it (git's "racily clean" files).
RACY_NS = 2_000_000_000


def _file_system_now_ns() -> int:
    """The file system's clock, which stamps mtimes, read from a new
    temporary file: not the run's ``now`` (FEEDPUB_NOW may pin that
    anywhere), and not a time anything is stamped with."""
    with tempfile.TemporaryFile() as probe:
        return os.fstat(probe.fileno()).st_mtime_ns


class FileState(Protocol):
    """What the files source needs of the store (declared by its consumer):
    its checkpoint rows and what they say the files gave."""

    def source_files(self) -> dict[str, SourceFile]: ...
    def article_hashes(self, ids: Iterable[str]) -> dict[str, str]: ...
    def reject_counts(self, sources: Iterable[str]) -> dict[str, int]: ...
    def article_sources(self, ids: Iterable[str]) -> dict[str, str]: ...
    def finish_ingest(self, seen: Iterable[str]) -> None: ...


def file_sources(configs: Sequence[SourceConfig], context: SourceContext) -> list[Source]:
    """The ``path`` kind: one source for every ``path:`` entry, whose one
    option is ``withdraw_missing`` (default true)."""
    withdraw: list[Path] = []
    for config in configs:
        unknown = sorted(set(config.options) - {"withdraw_missing"})
        if unknown:
            raise ConfigError(
                f"{config.where}.{unknown[0]}: unknown key (known here: path, withdraw_missing)"
            )
        value = config.options.get("withdraw_missing", True)
        if not isinstance(value, bool):
            raise ConfigError(
                f"{config.where}.withdraw_missing: must be true or false, got {value!r}"
            )
        if value:
            withdraw.append(config.path)
    return [FileSource(tuple(c.path for c in configs), context, withdraw_under=withdraw)]


class FileSource:
    """Every file under the ``path:`` entries (see the module docstring)."""

    name = "files"

    def __init__(
        self,
        roots: Sequence[Path],
        context: SourceContext,
        *,
        withdraw_under: Sequence[Path] = (),
    ) -> None:
        self.roots = tuple(roots)
        self.settings = context.settings
        self._state = cast("FileState | None", context.files)
        # The roots whose missing records and files are withdrawn.
        self.withdraw_under = tuple(withdraw_under)

    def close(self) -> None:
        pass

    def read(self, cursor: str | None, now: datetime, progress: Progress | None) -> Iterator[Batch]:
        """Every file, skipping the unchanged ones. The rejects recorded for
        a file (or a source path) are its problems as of this reading: a file
        fixed since the last run loses its rejects."""
        state = self._state
        if state is None:
            raise SourceError("files: no store to compare the files with")
        paths, problems = ingest.discover(self.roots, now)
        # A root that could not be listed (missing, unmounted, unreadable)
        # withdraws nothing: its files are not known to be gone.
        listed = {Path(p.source) for p in problems}
        job = _Job(state, self.settings, now, paths)
        job.withdraw_under = tuple(r for r in self.withdraw_under if r not in listed)
        files = {ingest.source_name(path) for path in paths}
        for root in dict.fromkeys(str(root) for root in self.roots):
            if root not in files:  # a source naming one file: its reading decides
                job.items.append(Item(root, (), tuple(p for p in problems if p.source == root)))
        # Deleted files first: a file moved elsewhere then reads as new.
        job.items += job.deleted(files)
        workers = worker_count(self.settings.limits.workers)
        pool = None
        if usable(workers, sum(1 for path in paths if job.to_read(path))):
            pool = job.pool = Pool(workers, self.settings, now)
        try:
            if pool is None:
                yield from _read_each(job, paths, progress)
            else:
                yield from _read_in_order(job, paths, pool, progress)
        except KeyboardInterrupt:
            if job.pending():  # what was read completely is worth keeping
                yield job.batch()
            raise
        finally:
            if pool is not None:
                pool.close()
        if job.pending():
            yield job.batch()
        state.finish_ingest(files)


def _read_each(job: _Job, paths: Sequence[Path], progress: Progress | None) -> Iterator[Batch]:
    for done, path in enumerate(paths, start=1):
        job.one(path)
        yield from job.stream_batches()
        if job.full():
            yield job.batch()
        if progress is not None:
            progress(done, len(paths))


class _Chunk:
    """Pages of one folder handed to a worker as one task."""

    def __init__(self, lines: ingest.SourceLines | None) -> None:
        self.lines = lines
        self.files: list[tuple[Path, Expect]] = []
        self.future: Future[list[Read]] | None = None
        self.left = 0  # files of the chunk not taken yet


def _read_in_order(
    job: _Job, paths: Sequence[Path], pool: Pool, progress: Progress | None
) -> Iterator[Batch]:
    """``job.one`` for every file, with the pages to read read by ``pool``
    ahead of time, and every reading taken in file order. A file that is not
    a page to read may be skipped, which depends on the ids of the files
    before it: it waits until all of them are taken (only in mixed runs)."""
    queue: deque[tuple[Path, _Chunk | None, int]] = deque()
    filling: _Chunk | None = None
    in_flight = done = 0

    def submit(chunk: _Chunk) -> None:
        nonlocal filling, in_flight
        chunk.future = pool.read(chunk.lines, chunk.files)
        in_flight += 1
        if chunk is filling:
            filling = None

    def take_head(wait: bool) -> bool:
        nonlocal in_flight, done
        path, chunk, index = queue[0]
        if chunk is None:
            queue.popleft()  # first: a file is taken at most once, even when interrupted
            job.one(path)
        else:
            if chunk.future is None:
                if not wait:
                    return False
                submit(chunk)
            assert chunk.future is not None
            if not wait and not chunk.future.done():
                return False
            read = chunk.future.result()[index]
            queue.popleft()
            chunk.left -= 1
            if not chunk.left:
                in_flight -= 1
            job.take(path, read)
        done += 1
        if progress is not None:
            progress(done, len(paths))
        return True

    try:
        for path in paths:
            if job.to_read(path):
                lines = job._lines(path)
                if filling is not None and (
                    filling.lines is not lines or len(filling.files) >= CHUNK
                ):
                    submit(filling)
                if filling is None:
                    filling = _Chunk(lines)
                queue.append((path, filling, len(filling.files)))
                filling.files.append((path, job._expect(path)))
                filling.left += 1
            else:
                queue.append((path, None, 0))
            # Take what is ready; wait only to keep the results in flight few.
            while queue and take_head(wait=in_flight > pool.depth):
                yield from job.stream_batches()
                if job.full():
                    yield job.batch()
        if filling is not None:
            submit(filling)
        while queue:
            take_head(wait=True)
            yield from job.stream_batches()
            if job.full():
                yield job.batch()
    except KeyboardInterrupt:
        # What the workers have finished reading is read completely too.
        while queue and (chunk := queue[0][1]) is not None and _finished(chunk.future):
            take_head(wait=False)
        raise


def _finished(future: Future[list[Read]] | None) -> bool:
    return (
        future is not None
        and future.done()
        and not future.cancelled()
        and future.exception() is None
    )


class _Job:
    """One reading of every file: which to skip, the readings taken in file
    order, and the batch gathered for the ingest job."""

    def __init__(self, store: FileState, run: ingest.Settings, now: datetime, paths: list[Path]):
        self.run, self.now = run, now
        self.rows = store.source_files()
        self.stats = {path: _stat(path) for path in paths}
        self.read_at_ns = _file_system_now_ns()
        self.folders: dict[Path, list[Path]] = {}
        for path in paths:
            if path.suffix.lower() in ingest.SCRAPED_SUFFIXES:
                self.folders.setdefault(path.parent, []).append(path)
        self.folder_state = {folder: self._state(pages) for folder, pages in self.folders.items()}
        self.learned: dict[Path, ingest.SourceLines] = {}
        self.pool: Pool | None = None  # when set, it learns each folder's chrome
        # Every id some remembered file gave; an id two files give is never
        # skipped (each run rewrote it in file order, and still does).
        shared = Counter(
            i for path in paths if (row := self.rows.get(str(path))) for i, _ in row.articles
        )
        self.shared = {i for i, n in shared.items() if n > 1}
        remembered = [self.rows[str(p)] for p in paths if str(p) in self.rows]
        self.hashes = store.article_hashes(i for row in remembered for i, _ in row.articles)
        self.reject_counts = store.reject_counts(row.path for row in remembered)
        self.written: set[str] = set()  # ids written by files read in this run
        # The batch being gathered.
        self.items: list[Item] = []
        self.item_articles = 0
        self.refreshed: list[SourceFile] = []
        self.still: list[str] = []
        self.skipped_articles = self.skipped_rejects = 0
        self.withdraw_under: tuple[Path, ...] = ()
        self.store = store
        self.seen = {ingest.source_name(path) for path in paths}
        # A line-per-record file taken, not read yet (``stream_batches``).
        self.stream: tuple[Path, Read] | None = None

    def _state(self, pages: Sequence[Path]) -> str:
        listing = "\n".join(
            f"{ingest.source_name(p)}\0{st[0]}\0{st[1]}\0{st[2]}"
            if (st := self.stats[p])
            else str(p)
            for p in pages
        )
        return hashlib.sha256(listing.encode("utf-8", "backslashreplace")).hexdigest()

    def _context(self, path: Path) -> str:
        if path.parent in self.folder_state and path.suffix.lower() in ingest.SCRAPED_SUFFIXES:
            return sha(self.run.fingerprint, self.folder_state[path.parent])
        return self.run.fingerprint

    def _lines(self, path: Path) -> ingest.SourceLines | None:
        if path.suffix.lower() not in ingest.SCRAPED_SUFFIXES:
            return None
        folder = path.parent
        if folder not in self.learned:  # read the folder's pages only when one is read
            if self.pool is not None:
                self.learned[folder] = self.pool.learn(self.folders[folder])
            else:
                self.learned.update(ingest.learn_chrome(self.folders[folder], self.run.limits))
        return self.learned.get(folder)

    def _still_true(self, row: SourceFile) -> bool:
        """What ``row`` says the file gave is what the store holds."""
        return (
            all(
                i not in self.shared and i not in self.written and self.hashes.get(i) == h
                for i, h in row.articles
            )
            and self.reject_counts.get(row.path, 0) == row.rejects
        )

    def _unchanged(self, path: Path) -> SourceFile | None:
        """The file's row when its size, times and context say it is
        unchanged (it is then skipped if ``_still_true``), else None."""
        row = self.rows.get(ingest.source_name(path))
        stat = self.stats[path]
        if (
            row is not None
            and stat is not None
            and (row.size, row.mtime_ns, row.ctime_ns) == stat
            and row.context == self._context(path)
        ):
            return row
        return None

    def to_read(self, path: Path) -> bool:
        """A page that will be read, not skipped, whatever the files before it
        give (``_still_true`` only turns false as the run writes ids)."""
        if path.suffix.lower() not in ingest.PAGE_SUFFIXES:
            return False
        row = self._unchanged(path)
        return row is None or not self._still_true(row)

    def _expect(self, path: Path) -> Expect:
        """The hash and parse key that make a file unchanged after all (so
        it is not parsed): its row's, while that row is still true."""
        row = self.rows.get(ingest.source_name(path))
        return (row.sha256, row.parse_key) if row and self._still_true(row) else None

    def one(self, path: Path) -> None:
        row = self._unchanged(path)
        if row is not None and self._still_true(row):
            self._skip(row)
            return
        lines = self._lines(path)
        self.take(path, read_file(path, self.run, self.now, lines, self._expect(path)))

    def take(self, path: Path, read: Read) -> None:
        """A file's reading, in file order (whether read here or in a worker)."""
        source = ingest.source_name(path)
        row = self.rows.get(source)
        context = self._context(path)
        if read.items is None:  # the bytes hash as the row says: not parsed
            assert row is not None
            if not self._still_true(row):  # a file read since wrote one of its ids
                read = read_file(path, self.run, self.now, self._lines(path), None)
            else:
                self.refreshed.append(self._row(source, read, context, row))
                self._skip(row)
                return
        if read.streamed:
            self.stream = (path, read)  # taken by ``stream_batches``
            return
        items = read.items
        assert isinstance(items, list)
        # A later record with the same id updates an earlier one: only the
        # last is written. Writing each in turn would store the last version
        # anyway, but as "updated" (and with ``updated`` moved to now) on
        # every run, as the first copy never matches what is stored.
        latest = {item.id: item for item in items if isinstance(item, Article)}
        rejects = tuple(item for item in items if isinstance(item, Reject))
        self.written.update(latest)
        remembered: SourceFile | None = None
        if read.sha256 and source == str(path):
            produced = tuple((a.id, a.content_hash) for a in latest.values())
            remembered = self._row(source, read, context, None, produced, rejects)
        dropped = self._dropped(path, row, latest, rejects)
        self.items.append(Item(source, tuple(latest.values()), rejects, remembered, dropped))
        self.item_articles += len(latest)

    def stream_batches(self) -> Iterator[Batch]:
        """The line-per-record file just taken, read record by record: what
        was gathered before it, then a batch of its articles every
        ``BATCH_SIZE`` (marked ``partial``: its rejects and row come with its
        last part), so memory stays flat whatever its size. Its row is
        written with the last part, so a file read half-way is read again.
        Ids another source holds are refused here, part by part, as the
        store refuses them in a file read whole."""
        if self.stream is None:
            return
        path, read = self.stream
        self.stream = None
        assert read.items is not None
        source = ingest.source_name(path)
        if self.pending():
            yield self.batch()
        given: dict[str, str] = {}
        rejects: list[Reject] = []
        refused: list[Reject] = []  # ids another source holds
        part: list[Article] = []

        def kept(articles: list[Article]) -> tuple[list[Article], frozenset[str]]:
            """The articles whose id is free, and the gone files they take over."""
            owners = self.store.article_sources(a.id for a in articles)
            out, released = [], set()
            for article in articles:
                owner = owners.get(article.id, source)
                if owner == source:
                    out.append(article)
                elif self._gone(owner):
                    out.append(article)
                    released.add(owner)
                else:
                    refused.append(duplicate_reject(article, owner, self.now))
            return out, frozenset(released)

        for item in read.items:
            if isinstance(item, Reject):
                rejects.append(item)
                continue
            given[item.id] = item.content_hash
            part.append(item)
            if len(part) >= BATCH_SIZE:
                free, released = kept(part)
                yield Batch(items=(Item(source, tuple(free), partial=True),), released=released)
                part = []
        self.written.update(given)
        remembered = None
        if read.sha256 and source == str(path):
            remembered = self._row(
                source, read, self._context(path), None, tuple(given.items()), rejects
            )
        dropped = self._dropped(path, self.rows.get(source), given, rejects)
        last = tuple(kept(part)[0])  # the batch it goes in finds what it releases
        # The row counts the file's own rejects, as for a file read whole: a
        # refused id makes the counts differ, so the file is read again
        # until its id is free or gone.
        every = (*rejects, *refused)
        self.items.append(Item(source, last, every, remembered, dropped))
        self.item_articles += len(last)

    def _gone(self, owner: str) -> bool:
        """Whether ``owner``, the source of a stored article, is a file this
        source no longer has (moved or deleted): it holds no ids then. Other
        sources' names are not absolute paths."""
        if owner in self.seen or not os.path.isabs(owner):
            return False
        try:
            Path(owner).lstat()
        except FileNotFoundError:
            return True
        except OSError:
            return False
        return False

    def _released(self, articles: Iterable[Article]) -> frozenset[str]:
        """The gone files (``_gone``) that hold some of ``articles``' ids."""
        owners = set(self.store.article_sources(a.id for a in articles).values())
        return frozenset(o for o in owners if self._gone(o))

    def _withdraws(self, path: Path) -> bool:
        return any(path == root or path.is_relative_to(root) for root in self.withdraw_under)

    def _dropped(
        self,
        path: Path,
        row: SourceFile | None,
        latest: Mapping[str, object],
        rejects: Sequence[Reject],
    ) -> tuple[str, ...]:
        """The ids the file gave when last read and gives no more, when it
        was read whole: a reject not naming a record by its id (the file or
        a line could not be parsed) may hide any record, so it withdraws
        nothing, and a record refused by id keeps its stored version."""
        if row is None or not self._withdraws(path):
            return ()
        named: set[str] = set()
        for reject in rejects:
            found = _RECORD_ID.search(reject.location or "")
            if found is None:
                return ()
            named.add(found.group(1))
        return tuple(i for i, _ in row.articles if i not in latest and i not in named)

    def deleted(self, seen: set[str]) -> list[Item]:
        """An item withdrawing the articles of each remembered file that is
        gone from a root that withdraws (its rejects go with it)."""
        items = []
        for name, row in self.rows.items():
            path = Path(name)
            if name in seen or not row.articles or not self._withdraws(path):
                continue
            try:
                path.lstat()
            except FileNotFoundError:
                items.append(Item(name, withdrawn=tuple(i for i, _ in row.articles)))
            except OSError:
                continue  # there, but unreadable: not known to be gone
        return items

    def _row(
        self,
        source: str,
        read: Read,
        context: str,
        was: SourceFile | None,
        articles: tuple[tuple[str, str], ...] = (),
        rejects: Sequence[Reject] = (),
    ) -> SourceFile:
        stat = read.stat
        assert stat is not None
        ctime_ns = stat.st_ctime_ns
        if abs(ctime_ns - self.read_at_ns) < RACY_NS:
            ctime_ns = -1
        return SourceFile(
            path=source,
            size=stat.st_size,
            mtime_ns=stat.st_mtime_ns,
            ctime_ns=ctime_ns,
            sha256=read.sha256,
            context=context,
            parse_key=read.key,
            articles=was.articles if was else articles,
            rejects=was.rejects if was else len(rejects),
        )

    def _skip(self, row: SourceFile) -> None:
        self.skipped_articles += len(row.articles)
        self.skipped_rejects += row.rejects
        if row.rejects:
            self.still.append(row.path)

    def full(self) -> bool:
        return self.item_articles >= BATCH_SIZE or len(self.items) >= FILES_PER_BATCH

    def pending(self) -> bool:
        return bool(self.items or self.refreshed or self.still or self.skipped_articles)

    def batch(self) -> Batch:
        """What was gathered since the last batch, handed over and forgotten."""
        batch = Batch(
            items=tuple(self.items),
            released=self._released(a for item in self.items for a in item.articles),
            unchanged_rows=tuple(self.refreshed),
            still_rejected=tuple(self.still),
            skipped_articles=self.skipped_articles,
            skipped_rejects=self.skipped_rejects,
        )
        self.items, self.refreshed, self.still = [], [], []
        self.item_articles = self.skipped_articles = self.skipped_rejects = 0
        return batch


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns
