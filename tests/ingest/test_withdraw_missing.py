"""Issue 22, point 6: what the files source withdraws, and when it must not.
A record taken out of its file or a page file deleted is withdrawn at the
next ingest (``withdraw_missing``, default true); a file that could not be
read whole withdraws nothing; a root that cannot be listed withdraws
nothing. The same id in two files: the first keeps it, the second gets a
reject naming both, and nothing is rewritten on later runs."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from feedpub import app as pipeline
from feedpub.config import Config
from feedpub.model import IngestReport
from feedpub.store import SqlStore
from support.ingesting import NOW, jsonl, make_config, write

PAGE = "{title}\n\nدمشق - 2026-11-20 10:00\n\nنص الخبر {n} طويل بما يكفي ليكون خبراً.\n"


def rec(n: int, **fields: object) -> dict[str, object]:
    return {"id": f"r{n}", "title": f"عنوان السجل {n}", "text": f"نص السجل {n}.", **fields}


def sources(src: Path) -> None:
    write(src / "feed" / "records.jsonl", jsonl(rec(1), rec(2), rec(3)))
    write(src / "feed" / "more.json", json.dumps([rec(4), rec(5)], ensure_ascii=False))
    for n in (6, 7):
        write(src / "site" / f"r{n}.txt", PAGE.format(title=f"عنوان الصفحة رقم {n} هنا", n=n))


def config(tmp_path: Path, **options: object) -> Config:
    cfg = make_config(tmp_path, sources=[tmp_path / "src" / "feed", tmp_path / "src" / "site"])
    return replace(cfg, sources=tuple(replace(s, options=options) for s in cfg.sources))


def ingest(cfg: Config, store: SqlStore) -> IngestReport:
    return pipeline.ingest_sources(cfg, store, NOW)


def drop_a_jsonl_record(src: Path) -> None:
    write(src / "feed" / "records.jsonl", jsonl(rec(1), rec(3)))


def drop_a_json_record(src: Path) -> None:
    write(src / "feed" / "more.json", json.dumps([rec(5)], ensure_ascii=False))


def delete_a_page(src: Path) -> None:
    (src / "site" / "r6.txt").unlink()


def delete_a_records_file(src: Path) -> None:
    (src / "feed" / "more.json").unlink()


def drop_one_and_break_a_line(src: Path) -> None:
    # The broken line may be the missing record: nothing is withdrawn.
    write(src / "feed" / "records.jsonl", jsonl(rec(1), '{"id": "r2", "title": ', rec(3)))


def drop_one_and_break_the_json(src: Path) -> None:
    write(src / "feed" / "more.json", '[{"id": "r5", "title": "x"')


def refuse_a_record_by_id(src: Path) -> None:
    # r2 is there but refused (a bad date): it keeps its stored version.
    write(src / "feed" / "records.jsonl", jsonl(rec(1), rec(2, published="not a date"), rec(3)))


def page_turns_unreadable(src: Path) -> None:
    write(src / "site" / "r6.txt", b"\xff\xfe not utf-8")


def remove_the_whole_root(src: Path) -> None:
    # Unmounted or renamed: its files are not known to be gone.
    shutil.rmtree(src / "feed")


Change = Callable[[Path], None]


@pytest.mark.parametrize(
    ("change", "withdrawn"),
    [
        (drop_a_jsonl_record, ["r2"]),
        (drop_a_json_record, ["r4"]),
        (delete_a_page, ["r6"]),
        (delete_a_records_file, ["r4", "r5"]),
        (drop_one_and_break_a_line, []),
        (drop_one_and_break_the_json, []),
        (refuse_a_record_by_id, []),
        (page_turns_unreadable, []),
        (remove_the_whole_root, []),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_what_is_gone_from_a_source_file_is_withdrawn_at_the_next_ingest(
    tmp_path: Path, store: SqlStore, change: Change, withdrawn: list[str]
) -> None:
    src = tmp_path / "src"
    sources(src)
    cfg = config(tmp_path)
    assert ingest(cfg, store).new == 7
    change(src)
    report = ingest(cfg, store)
    assert report.withdrawn == len(withdrawn)
    assert sorted(w[0] for w in store.withdrawn()) == withdrawn
    stored = {a.id for a in store.latest_articles()}
    assert stored == {f"r{n}" for n in range(1, 8)} - set(withdrawn)
    assert all(w[2] == "gone from its source" and not w[4] for w in store.withdrawn())


@pytest.mark.parametrize("change", [drop_a_jsonl_record, delete_a_page, delete_a_records_file])
def test_withdraw_missing_false_keeps_what_is_gone(
    tmp_path: Path, store: SqlStore, change: Change
) -> None:
    src = tmp_path / "src"
    sources(src)
    cfg = config(tmp_path, withdraw_missing=False)
    ingest(cfg, store)
    change(src)
    assert ingest(cfg, store).withdrawn == 0
    assert len(store.latest_articles()) == 7


def test_a_record_put_back_is_published_again(tmp_path: Path, store: SqlStore) -> None:
    src = tmp_path / "src"
    sources(src)
    cfg = config(tmp_path)
    ingest(cfg, store)
    drop_a_jsonl_record(src)
    ingest(cfg, store)
    write(src / "feed" / "records.jsonl", jsonl(rec(1), rec(2), rec(3)))
    report = ingest(cfg, store)
    assert (report.new, report.withdrawn) == (1, 0)
    assert store.get_article("r2") is not None and store.withdrawn() == []


@pytest.mark.parametrize(
    ("option", "problem"),
    [
        ({"withdraw_missing": "yes"}, "withdraw_missing: must be true or false, got 'yes'"),
        ({"withdraw": True}, "withdraw: unknown key (known here: path, withdraw_missing)"),
    ],
)
def test_a_bad_withdraw_missing_option_names_the_entry(
    tmp_path: Path, store: SqlStore, option: dict[str, object], problem: str
) -> None:
    from feedpub.config import ConfigError

    sources(tmp_path / "src")
    with pytest.raises(ConfigError, match=re.escape(problem)):
        ingest(config(tmp_path, **option), store)


def test_an_id_in_two_files_stays_with_the_first_and_the_second_is_a_reject_naming_both(
    tmp_path: Path, store: SqlStore, caplog: pytest.LogCaptureFixture
) -> None:
    src = tmp_path / "src"
    sources(src)
    cfg = config(tmp_path)
    ingest(cfg, store)
    second = src / "site" / "zz.jsonl"
    write(second, jsonl(rec(1, title="نسخة ثانية من السجل"), rec(9)))
    report = ingest(cfg, store)
    assert (report.new, report.updated, report.rejected) == (1, 0, 1)
    article = store.get_article("r1")
    assert article is not None and article.title == "عنوان السجل 1"
    (reject,) = store.rejects()
    first = str(src / "feed" / "records.jsonl")
    assert reject.source == str(second) and reject.location == "id r1"
    assert first in reject.reason and "r1" in reject.reason
    assert any(first in m and str(second) in m for m in caplog.messages)

    # Later runs: nothing rewritten, the reject still stands (and is not warned again).
    for _ in range(2):
        again = ingest(cfg, store)
        assert (again.new, again.updated, again.rejected) == (0, 0, 1)
        assert len(store.rejects()) == 1

    # The first takes it out: it is withdrawn, and the second's comes in next.
    drop = src / "feed" / "records.jsonl"
    write(drop, jsonl(rec(2), rec(3)))
    ingest(cfg, store)
    report = ingest(cfg, store)
    article = store.get_article("r1")
    assert article is not None and article.title == "نسخة ثانية من السجل"
    assert store.rejects() == []


def test_a_moved_folder_takes_its_articles_along_without_duplicate_rejects(
    tmp_path: Path, store: SqlStore
) -> None:
    src = tmp_path / "src"
    sources(src)
    cfg = config(tmp_path)
    ingest(cfg, store)
    (src / "feed").rename(src / "moved")
    moved = replace(cfg, sources=(replace(cfg.sources[0], location=str(src / "moved")),))
    report = ingest(moved, store)
    assert (report.new, report.updated, report.rejected, report.withdrawn) == (0, 0, 0, 0)
    assert store.rejects() == []
    article = store.get_article("r1")
    assert article is not None and article.source == str(src / "moved" / "records.jsonl")
    # The move is complete: a record taken out of the moved file is withdrawn.
    write(src / "moved" / "records.jsonl", jsonl(rec(1), rec(3)))
    assert ingest(moved, store).withdrawn == 1
    assert store.get_article("r2") is None
