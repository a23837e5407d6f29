"""Re-ingest skips what did not change (source_files), and a store ingested
step by step through changes to its sources holds what a fresh ingest of the
same sources gives."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from feedpub import app as pipeline
from feedpub import ingest
from feedpub.config import Config
from feedpub.ingest import files as ingesting
from feedpub.store import SqlStore
from support.ingesting import GOOD, NOW, jsonl, make_config, write

PAGE = "{title}\n\nدمشق - 2026-11-20 10:00\n\n{body}\n\nأخبار ذات صلة\n{chrome}\n"


def page(n: int, chrome: str = "تابعونا على القناة") -> str:
    return PAGE.format(
        title=f"عنوان الخبر رقم {n} عن الأسد",
        body=f"نص الخبر رقم {n} طويل بما يكفي.",
        chrome=chrome,
    )


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The files opened and the files parsed, as 'open NAME' / 'parse NAME'.
    Files here were just written, so their ctime is "racily" recent: the
    window is closed so that size and times can be trusted."""
    monkeypatch.setattr(ingesting, "RACY_NS", 0)
    seen: list[str] = []
    open_source, read_path, read_stream = ingest.open_source, ingest.read_path, ingest.read_stream

    def opening(path: Path, *args: object) -> ingest.Opened:
        seen.append(f"open {path.name}")
        return open_source(path, *args)  # type: ignore[arg-type]

    def parsing(path: Path, *args: object) -> object:
        seen.append(f"parse {path.name}")
        return read_path(path, *args)  # type: ignore[arg-type]

    def streaming(path: Path, *args: object) -> object:
        seen.append(f"parse {path.name}")
        return read_stream(path, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest, "open_source", opening)
    monkeypatch.setattr(ingest, "read_path", parsing)
    monkeypatch.setattr(ingest, "read_stream", streaming)
    yield seen


def sources(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    for n in range(4):
        write(src / "site" / f"p{n}.txt", page(n))
    write(src / "r.jsonl", jsonl(GOOD, "[1]", {"id": "b", "title": "عنوان ثان"}))
    return src


def test_a_rerun_over_unchanged_files_reads_none_and_reports_the_same(
    tmp_path: Path, store: SqlStore, reads: list[str]
) -> None:
    cfg = make_config(tmp_path, sources=[sources(tmp_path)])
    first = pipeline.ingest_sources(cfg, store, NOW)
    assert (first.new, first.rejected) == (6, 1)
    reads.clear()
    later = NOW + timedelta(hours=1)
    second = pipeline.ingest_sources(cfg, store, later)
    assert reads == []
    assert (second.new, second.updated, second.unchanged, second.rejected) == (0, 0, 6, 1)
    [still] = store.rejects()  # kept, and seen again as a reading would
    assert (still.location, still.seen) == ("line 2", later)


def test_a_touched_file_is_hashed_not_parsed_then_trusted_again(
    tmp_path: Path, store: SqlStore, reads: list[str]
) -> None:
    src = sources(tmp_path)
    cfg = make_config(tmp_path, sources=[src])
    pipeline.ingest_sources(cfg, store, NOW)
    records = src / "r.jsonl"
    os.utime(records, (1_700_000_000, 1_700_000_000))
    reads.clear()
    report = pipeline.ingest_sources(cfg, store, NOW)
    assert reads == ["open r.jsonl"]
    assert (report.new, report.updated, report.unchanged) == (0, 0, 6)
    reads.clear()
    pipeline.ingest_sources(cfg, store, NOW)
    assert reads == []


def test_a_file_changed_within_its_mtime_is_seen_by_its_ctime(
    tmp_path: Path, store: SqlStore, reads: list[str]
) -> None:
    src = sources(tmp_path)
    cfg = make_config(tmp_path, sources=[src])
    pipeline.ingest_sources(cfg, store, NOW)
    records = src / "r.jsonl"
    before = records.stat()
    text = records.read_text(encoding="utf-8").replace("عنوان ثان", "عنوان آخر")
    assert len(text.encode()) == before.st_size
    os.utime(records, ns=(before.st_atime_ns, before.st_mtime_ns))
    records.write_text(text, encoding="utf-8")
    os.utime(records, ns=(before.st_atime_ns, before.st_mtime_ns))
    if records.stat().st_ctime_ns == before.st_ctime_ns:
        pytest.skip("this file system did not move the ctime")
    report = pipeline.ingest_sources(cfg, store, NOW)
    assert report.updated == 1
    assert store.get_article("b").title == "عنوان آخر"  # type: ignore[union-attr]


def test_a_file_rewritten_as_it_was_read_is_hashed_on_the_next_run(
    tmp_path: Path, store: SqlStore
) -> None:
    # No monkeypatching: the file was written just now, so its row does not
    # trust its times, and a same-size rewrite within the same tick is read.
    src = tmp_path / "src"
    records = write(src / "r.jsonl", jsonl({**GOOD, "title": "أ"}))
    cfg = make_config(tmp_path, sources=[src])
    pipeline.ingest_sources(cfg, store, NOW)
    [row] = store.source_files().values()
    assert row.ctime_ns == -1
    write(records, jsonl({**GOOD, "title": "ب"}))
    assert pipeline.ingest_sources(cfg, store, NOW).updated == 1


def test_a_page_added_to_a_folder_parses_only_the_pages_it_changes(
    tmp_path: Path, store: SqlStore, reads: list[str]
) -> None:
    src = sources(tmp_path)
    cfg = make_config(tmp_path, sources=[src])
    pipeline.ingest_sources(cfg, store, NOW)
    write(src / "site" / "p9.txt", page(9))
    reads.clear()
    pipeline.ingest_sources(cfg, store, NOW)
    # Every page of the folder is hashed (its chrome is learned from all of
    # them), but only the new one parsed: the others lose no chrome line.
    assert sorted(r for r in reads if r.startswith("parse")) == ["parse p9.txt"]


@pytest.mark.parametrize("withdraw_missing", [True, False])
def test_removed_files_withdraw_their_articles_unless_told_not_and_are_read_again_when_back(
    tmp_path: Path, store: SqlStore, reads: list[str], withdraw_missing: bool
) -> None:
    src = sources(tmp_path)
    cfg = make_config(tmp_path, sources=[src])
    option = {"withdraw_missing": withdraw_missing}
    cfg = replace(cfg, sources=tuple(replace(s, options=option) for s in cfg.sources))
    pipeline.ingest_sources(cfg, store, NOW)
    records = src / "r.jsonl"
    kept = records.read_bytes()
    records.unlink()
    report = pipeline.ingest_sources(cfg, store, NOW)
    assert report.withdrawn == (2 if withdraw_missing else 0)
    assert (store.get_article("b") is None) == withdraw_missing
    assert (store.get_article("g1") is None) == withdraw_missing
    assert str(records) not in store.source_files()
    write(records, kept)
    reads.clear()
    report = pipeline.ingest_sources(cfg, store, NOW)
    assert "parse r.jsonl" in reads
    assert store.get_article("b") is not None
    assert report.new == (2 if withdraw_missing else 0)


def test_a_store_changed_behind_ingest_makes_it_read_the_file_again(
    tmp_path: Path, store: SqlStore, reads: list[str], store_url: str
) -> None:
    src = sources(tmp_path)
    cfg = make_config(tmp_path, sources=[src])
    pipeline.ingest_sources(cfg, store, NOW)
    store.replace_rejects(str(src / "r.jsonl"), [])  # as if the rejects were cleared
    reads.clear()
    report = pipeline.ingest_sources(cfg, store, NOW)
    assert reads == ["open r.jsonl", "parse r.jsonl"]
    assert report.rejected == 1
    assert len(store.rejects()) == 1


def test_new_settings_read_every_file_again(
    tmp_path: Path, store: SqlStore, reads: list[str]
) -> None:
    cfg = make_config(tmp_path, sources=[sources(tmp_path)])
    pipeline.ingest_sources(cfg, store, NOW)
    reads.clear()
    changed = replace(cfg, ingest=replace(cfg.ingest, max_title_chars=12))
    pipeline.ingest_sources(changed, store, NOW)
    assert len([r for r in reads if r.startswith("parse")]) == 5


def _snapshot(store: SqlStore) -> tuple[object, ...]:
    # Not ``published``: an undated article takes its file's mtime, which the
    # content hash leaves out, so a touched file never moves a stored date
    # (as before skipping) while a fresh store takes the new one.
    articles = sorted(
        (a.id, a.title, a.summary, a.content, a.content_hash, a.source, a.tags)
        for a in store.latest_articles()
    )
    rejects = sorted((r.source, r.location or "", r.reason) for r in store.rejects())
    return tuple(articles), tuple(rejects)


Step = Callable[[Path], None]


def _add_page(src: Path) -> None:
    write(src / "site" / "p7.txt", page(7))


def _edit_page(src: Path) -> None:
    write(src / "site" / "p1.txt", page(1).replace("طويل", "قصير"))


def _new_chrome(src: Path) -> None:
    # A line now on 3 of 6 pages: chrome for the folder, so p0-p2 read anew.
    for n in range(3):
        write(src / "site" / f"p{n}.txt", page(n) + "\nسطر يتكرر الآن\n")


def _remove_page(src: Path) -> None:
    (src / "site" / "p2.txt").unlink()


def _touch_all(src: Path) -> None:
    for path in src.rglob("*.*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))


def _duplicate_id(src: Path) -> None:
    # After r.jsonl in file order, so it is second in a fresh store too.
    write(src / "z.jsonl", jsonl({**GOOD, "title": "النسخة الثانية"}))


def _bad_page(src: Path) -> None:
    write(src / "site" / "p3.txt", b"\xff\xfe bad")


STEPS: list[tuple[str, Step]] = [
    ("add a page", _add_page),
    ("edit a page", _edit_page),
    ("new learned chrome", _new_chrome),
    ("remove a page", _remove_page),
    ("touch every file", _touch_all),
    ("an id in two files", _duplicate_id),
    ("a page turns bad", _bad_page),
]


def test_ingesting_through_changes_stores_what_a_fresh_ingest_stores(
    tmp_path: Path, store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingesting, "RACY_NS", 0)
    src = sources(tmp_path)
    cfg: Config = make_config(tmp_path, sources=[src])
    pipeline.ingest_sources(cfg, store, NOW)
    for n, (name, step) in enumerate(STEPS, start=1):
        step(src)
        report = pipeline.ingest_sources(cfg, store, NOW)
        again = pipeline.ingest_sources(cfg, store, NOW)
        with SqlStore.open(f"sqlite:///{tmp_path / f'fresh{n}.db'}") as fresh:
            fresh_report = pipeline.ingest_sources(cfg, fresh, NOW)
            ids = {a.id for a in fresh.latest_articles()}
            got_articles, got_rejects = _snapshot(store)
            want_articles, want_rejects = _snapshot(fresh)
        assert [a for a in got_articles if a[0] in ids] == list(want_articles), name  # type: ignore[index]
        live = {str(p) for p in src.rglob("*.*")}
        assert [r for r in got_rejects if r[0] in live] == list(want_rejects), name  # type: ignore[index]
        assert report.rejected == again.rejected == fresh_report.rejected, name
        # Two files giving one id: the first keeps it, nothing is rewritten.
        assert (again.new, again.updated) == (0, 0), name
