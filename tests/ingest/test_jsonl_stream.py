"""Issue 22, point 8: a JSONL file is a stream. It is read a line at a time
and stored in parts (``BATCH_SIZE`` articles each, made small here), its
rejects and its row with the last part: what a run stores is what reading
it whole stored, whatever its size, and nothing is rewritten on the next
run. Memory and speed on a large export are measured in bench/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from feedpub import app as pipeline
from feedpub.ingest import files as ingesting
from feedpub.store import SqlStore
from support.ingesting import NOW, jsonl, make_config, write


def rec(n: int, **fields: object) -> dict[str, object]:
    return {"id": f"r{n}", "title": f"عنوان السجل {n}", "text": f"نص السجل {n}.", **fields}


LINES = [
    rec(1),
    rec(2),
    "{not json",  # line 3
    rec(3),
    rec(2, title="السجل 2 بعد التعديل"),  # line 5: the last line of r2 is the record
    rec(4, published="not a date"),  # line 6
    rec(5),
    json.dumps(rec(6, text="x" * 3000)),  # line 8: over max_article_bytes
    rec(7),
    rec(8),
]


@pytest.mark.parametrize("part", [2, 3, 500])
def test_a_jsonl_file_stored_in_parts_stores_what_one_part_stores(
    tmp_path: Path, store: SqlStore, monkeypatch: pytest.MonkeyPatch, part: int
) -> None:
    monkeypatch.setattr(ingesting, "BATCH_SIZE", part)
    src = tmp_path / "src"
    write(src / "a.jsonl", jsonl(*LINES))
    cfg = make_config(tmp_path, sources=[src], max_article_bytes=2000)
    report = pipeline.ingest_sources(cfg, store, NOW)
    assert (report.new, report.updated, report.rejected) == (6, 0, 3)
    stored = {a.id: a.title for a in store.latest_articles()}
    assert sorted(stored) == ["r1", "r2", "r3", "r5", "r7", "r8"]
    assert stored["r2"] == "السجل 2 بعد التعديل"
    assert sorted(r.location or "" for r in store.rejects()) == [
        "line 3",
        "line 6, id r4",
        "line 8",
    ]
    again = pipeline.ingest_sources(cfg, store, NOW)
    assert (again.new, again.updated, again.unchanged, again.rejected) == (0, 0, 6, 3)
    assert len(store.rejects()) == 3


def test_an_id_another_file_holds_is_refused_in_every_part_of_a_stream(
    tmp_path: Path, store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingesting, "BATCH_SIZE", 2)
    src = tmp_path / "src"
    write(src / "a.json", json.dumps([rec(1), rec(5)], ensure_ascii=False))
    write(src / "b.jsonl", jsonl(*(rec(n, title=f"نسخة ب {n}") for n in range(1, 7))))
    cfg = make_config(tmp_path, sources=[src])
    report = pipeline.ingest_sources(cfg, store, NOW)
    assert (report.new, report.rejected) == (6, 2)
    refused = sorted((r.source, r.location) for r in store.rejects())
    assert refused == [(str(src / "b.jsonl"), "id r1"), (str(src / "b.jsonl"), "id r5")]
    again = pipeline.ingest_sources(cfg, store, NOW)
    assert (again.new, again.updated, again.rejected) == (0, 0, 2)


def test_a_stream_interrupted_half_way_is_read_again_and_loses_nothing(
    tmp_path: Path, store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingesting, "BATCH_SIZE", 2)
    src = tmp_path / "src"
    write(src / "a.jsonl", jsonl(*(rec(n) for n in range(1, 8))))
    cfg = make_config(tmp_path, sources=[src])
    write_batch = SqlStore.write_batch

    def ctrl_c_at_the_third_part(self: SqlStore, source: str, batch: Any, now: Any) -> object:
        if any(a.id == "r5" for item in batch.items for a in item.articles):
            raise KeyboardInterrupt
        return write_batch(self, source, batch, now)

    monkeypatch.setattr(SqlStore, "write_batch", ctrl_c_at_the_third_part)
    with pytest.raises(KeyboardInterrupt):
        pipeline.ingest_sources(cfg, store, NOW)
    monkeypatch.setattr(SqlStore, "write_batch", write_batch)
    assert len(store.latest_articles()) == 4
    assert store.source_files() == {}  # no row: the file is read again
    report = pipeline.ingest_sources(cfg, store, NOW)
    assert (report.new, report.unchanged) == (3, 4)
    assert str(src / "a.jsonl") in store.source_files()


@pytest.mark.parametrize(
    ("line", "found"),
    [
        (b'{"id": "r1", "title": "t"}', "r1"),
        (b'{ "id" : 42 , "title": "t"}', "42"),
        (b'{"id": "a\\"b", "title": "t"}', 'a"b'),
        (b'{"id": "\\u0639\\u0631\\u0628", "title": "t"}', "عرب"),
        (b'{"title": "t", "id": "later-key"}', "later-key"),
        (b'{"id": "first", "title": "t", "id": "second"}', "second"),  # as the parse
        (b'{"id": "x", "tags": [{"id": "nested"}]}', "x"),
        (b'{"id": 1.5, "title": "t"}', None),  # not an id
        (b'{"id": true}', None),
        (b'[{"id": "r1"}]', None),  # not an object
        (b'{"id": 01}', None),  # not JSON
        # Not JSON, but its id leads: it is r1's last line, and the parse
        # rejects it (the stored r1 stays, as for any refused record).
        (b'{"id": "r1", "title": ', "r1"),
    ],
)
def test_the_first_pass_finds_the_id_the_parse_finds(line: bytes, found: str | None) -> None:
    from feedpub.ingest.records import _scanned_id

    assert _scanned_id(line) == found
