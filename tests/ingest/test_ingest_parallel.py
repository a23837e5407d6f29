"""Pages parsed by worker processes (``ingest.workers``) give the store, the
reports and the batches that the serial path gives, on a first ingest and on
mixed re-runs; Ctrl-C and a failing worker leave no process behind."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from feedpub import app as pipeline
from feedpub import ingest
from feedpub.config import Config
from feedpub.ingest import files as ingesting
from feedpub.ingest import pool as ingest_pool
from feedpub.model import IngestReport
from feedpub.store import ReadFile, SqlStore
from support.ingesting import GOOD, NOW, jsonl, make_config, write

BODY = "نص الخبر رقم {n} طويل بما يكفي ليكون فقرة من مقال."
CHROME = "الرئيسية\nتابعونا على القناة\nجميع الحقوق محفوظة للموقع\n"


def page(n: int, site: str) -> str:
    return (
        f"{CHROME}عنوان الخبر رقم {n} من موقع {site}\n\nدمشق - 2026-11-20 10:00\n\n"
        f"{BODY.format(n=n)}\n\nالوسوم\nسوريا، اقتصاد\n{CHROME}"
    )


def sources(tmp_path: Path) -> Path:
    """Two sites whose pages share names (so ids) across folders, rejects of
    several kinds, and record files between and after the pages."""
    src = tmp_path / "src"
    for n in range(14):
        write(src / "a" / f"p{n:02}.txt", page(n, "أ"))
    for n in range(0, 14, 2):
        write(src / "b" / f"p{n:02}.txt", page(n, "ب").replace("طويل", "قصير"))
    write(src / "a" / "p90.txt", b"\xff\xfe not utf-8")
    write(src / "a" / "p91.txt", CHROME)  # only chrome: no title
    write(src / "a" / "p92.txt", "")
    write(src / "a" / "p93.txt", "x" * 3000)  # over max_article_bytes below
    write(src / "b" / "p15.txt", page(15, "ب"))  # an id of its own
    write(src / "b" / "p95.txt", "عنوان بلا نص\n")
    write(src / "a.jsonl", jsonl({**GOOD, "id": "p03"}, "[1]"))
    write(src / "c.jsonl", jsonl({**GOOD, "id": "p04", "title": "عنوان من سجل"}))
    return src


@pytest.fixture(autouse=True)
def small_pool(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A pool for a handful of pages, in chunks of 3 (so results come back
    from many tasks, out of step with the writes); the files just written
    are trusted by their times. Counts the chunks handed to the pool."""
    monkeypatch.setattr(ingesting, "RACY_NS", 0)
    monkeypatch.setattr(ingest_pool, "MIN_PAGES", 0)
    monkeypatch.setattr(ingesting, "CHUNK", 3)
    monkeypatch.setattr(ingest_pool, "LEARN_CHUNK", 4)
    chunks: list[int] = []
    read = ingest_pool.Pool.read

    def counting(self: ingest_pool.Pool, *args: object) -> object:
        chunks.append(1)
        return read(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest_pool.Pool, "read", counting)
    return chunks


def configured(tmp_path: Path, src: Path, workers: int) -> Config:
    cfg = make_config(tmp_path, sources=[src])
    return replace(cfg, ingest=replace(cfg.ingest, max_article_bytes=2000, workers=workers))


def dump(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, in rowid order (the order of the writes)."""
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: list(conn.execute(f"SELECT rowid, * FROM {t} ORDER BY rowid")) for t in tables}


def run(cfg: Config, db: Path) -> IngestReport:
    with SqlStore.open(f"sqlite:///{db}") as store:
        return pipeline.ingest_sources(cfg, store, NOW)


def batches(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The sources of each write transaction, as the job hands them over."""
    seen: list[list[str]] = []
    write_read_files = SqlStore.write_read_files

    def recording(self: SqlStore, files: list[ReadFile], *args: object, **kw: object) -> object:
        seen.append([f.source for f in files])
        return write_read_files(self, files, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(SqlStore, "write_read_files", recording)
    return seen


def test_a_first_ingest_in_workers_stores_what_the_serial_one_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_pool: list[int]
) -> None:
    src = sources(tmp_path)
    monkeypatch.setattr(ingesting, "FILES_PER_BATCH", 5)  # several transactions
    seen = batches(monkeypatch)
    serial = run(configured(tmp_path, src, 1), tmp_path / "serial.db")
    serial_batches = list(seen)
    assert not small_pool
    seen.clear()
    parallel = run(configured(tmp_path, src, 2), tmp_path / "parallel.db")
    assert small_pool  # the pages went to the workers
    assert parallel == serial
    assert serial.rejected >= 6
    assert seen == serial_batches
    assert dump(tmp_path / "parallel.db") == dump(tmp_path / "serial.db")
    assert multiprocessing.active_children() == []


def _edit(src: Path) -> None:
    # An edited page, a page added (every page of "a" is then hashed: its
    # folder changed), a page turned bad, and a record file that gives the
    # id of a touched page read after it: that page, handed to a worker
    # before the record is taken (its chunk is still filling) and hashed
    # there as unchanged, must be read again.
    write(src / "a" / "p01.txt", page(1, "أ").replace("طويل", "معدل"))
    write(src / "a" / "p20.txt", page(20, "أ"))
    write(src / "a" / "p05.txt", b"\x00\x01")
    write(src / "a.jsonl", jsonl({**GOOD, "id": "p06"}))
    write(src / "b" / "p14.jsonl", jsonl({**GOOD, "id": "p15"}))
    os.utime(src / "b" / "p15.txt", (1_700_000_000, 1_700_000_000))


def test_a_mixed_rerun_in_workers_stores_what_the_serial_one_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_pool: list[int]
) -> None:
    src = sources(tmp_path)
    first = tmp_path / "first.db"
    run(configured(tmp_path, src, 1), first)
    _edit(src)
    for name in ("serial", "parallel"):
        shutil.copy(first, tmp_path / f"{name}.db")
    seen = batches(monkeypatch)
    monkeypatch.setattr(ingesting, "FILES_PER_BATCH", 4)
    parses: list[str] = []
    read_path = ingest.read_path

    def parsing(path: Path, *args: object) -> object:
        parses.append(path.name)
        return read_path(path, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest, "read_path", parsing)
    serial = run(configured(tmp_path, src, 1), tmp_path / "serial.db")
    assert "p15.txt" in parses  # its id was written by a.jsonl first
    serial_batches = list(seen)
    seen.clear()
    in_main: list[str] = []
    read_file = ingesting.read_file

    def reading(path: Path, *args: object) -> ingest_pool.Read:
        in_main.append(path.name)
        return read_file(path, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(ingesting, "read_file", reading)
    parallel = run(configured(tmp_path, src, 2), tmp_path / "parallel.db")
    assert small_pool
    assert in_main == ["a.jsonl", "p14.jsonl", "p15.txt", "c.jsonl"]  # p15: read again
    assert parallel == serial
    assert serial.unchanged > 0 and serial.new > 0
    assert seen == serial_batches
    assert dump(tmp_path / "parallel.db") == dump(tmp_path / "serial.db")
    assert multiprocessing.active_children() == []


def test_a_rerun_over_unchanged_pages_hands_nothing_to_workers(
    tmp_path: Path, small_pool: list[int]
) -> None:
    src = tmp_path / "src"
    for n in range(10):
        write(src / "a" / f"p{n:02}.txt", page(n, "أ"))
    db = tmp_path / "x.db"
    first = run(configured(tmp_path, src, 2), db)
    assert small_pool and first.new == 10
    small_pool.clear()
    again = run(configured(tmp_path, src, 2), db)
    assert not small_pool
    assert (again.new, again.updated, again.unchanged) == (0, 0, 10)


def test_ctrl_c_writes_what_was_taken_and_leaves_no_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_pool: list[int]
) -> None:
    src = sources(tmp_path)
    take = ingesting._Job.take
    taken: list[str] = []

    def interrupted(self: ingesting._Job, path: Path, read: ingest_pool.Read) -> None:
        if len(taken) == 7 and not interrupts:
            interrupts.append(path)
            raise KeyboardInterrupt
        taken.append(ingest.source_name(path))
        take(self, path, read)

    interrupts: list[Path] = []

    monkeypatch.setattr(ingesting._Job, "take", interrupted)
    db = tmp_path / "cut.db"
    with pytest.raises(KeyboardInterrupt), SqlStore.open(f"sqlite:///{db}") as store:
        pipeline.ingest_sources(configured(tmp_path, src, 2), store, NOW)
    assert small_pool
    with SqlStore.open(f"sqlite:///{db}") as store:
        stored = set(store.source_files())
    # Every file taken is written (but the one too big to be read, which
    # has no row), and none after it.
    assert stored == {name for name in taken if not name.endswith("p93.txt")}
    assert ingest.source_name(interrupts[0]) not in stored
    assert multiprocessing.active_children() == []


def test_a_failing_worker_raises_in_the_job_and_the_pool_is_shut_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_pool: list[int]
) -> None:
    src = sources(tmp_path)
    read_path = ingest.read_path
    parent = os.getpid()

    def failing(path: Path, *args: object) -> object:
        if path.name == "p07.txt" and os.getpid() != parent:
            raise RuntimeError("parser bug")
        return read_path(path, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest, "read_path", failing)  # inherited by the forked workers
    with pytest.raises(RuntimeError, match="parser bug"):
        run(configured(tmp_path, src, 2), tmp_path / "x.db")
    assert small_pool
    assert multiprocessing.active_children() == []


def test_a_threaded_process_or_a_small_run_parses_in_the_ingest_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ingest_pool, "MIN_PAGES", 200)
    assert ingest_pool.usable(2, 200)
    assert not ingest_pool.usable(2, 199)
    assert not ingest_pool.usable(1, 10_000)
    monkeypatch.setattr(ingest_pool.threading, "active_count", lambda: 2)
    assert not ingest_pool.usable(2, 10_000)
    assert ingest_pool.worker_count(3) == 3
    assert 1 <= ingest_pool.worker_count("auto") <= ingest_pool.AUTO_MAX


def test_learned_chrome_counted_in_shares_is_the_folder_counted_whole(tmp_path: Path) -> None:
    src = sources(tmp_path)
    cfg = configured(tmp_path, src, 1)
    pages = sorted((src / "a").glob("*.txt"))
    whole = ingest.learn_chrome(pages, cfg.ingest)[src / "a"]
    shares = [ingest.chrome_share(pages[i : i + 4], cfg.ingest) for i in range(0, len(pages), 4)]
    merged = ingest.merge_lines(shares)
    assert (merged.pages, merged.counts) == (whole.pages, whole.counts)
    shipped = whole.chrome_only()
    assert shipped.threshold == whole.threshold > 0
    assert len(shipped.counts) < len(whole.counts)
    for text in [*CHROME.splitlines(), "عنوان الخبر رقم 1 من موقع أ", ""]:
        assert shipped.repeats(text) == whole.repeats(text)
