"""Issue 12: hostile input files. Each is a reject naming the limit (or is
cleaned), never a crash, and the other files still ingest."""

from __future__ import annotations

import json
import resource
from dataclasses import replace
from pathlib import Path

import pytest

from feedpub.config import Config
from support.ingesting import NOW, articles, make_config, read_path, read_sources, rejects, write

LOL = "".join(
    ["x0: &x0 [" + ", ".join(["lol"] * 10) + "]\n"]
    + [
        f"x{n}: &x{n} [" + ", ".join([f"*x{n - 1}"] * 10) + "]\n"
        if n < 8
        else f"x{n}: [" + ", ".join([f"*x{n - 1}"] * 10) + "]\n"
        for n in range(1, 9)
    ]
)


def limited(cfg: Config, **limits: int) -> Config:
    return replace(cfg, ingest=replace(cfg.ingest, **limits))


def test_billion_laughs_record_file_is_one_reject_not_a_memory_blowup(tmp_path: Path) -> None:
    content = "id: lol\ntitle: t\ntext: body\n" + LOL
    assert len(content.encode()) < 700
    path = write(tmp_path / "lol.yaml", content)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    [problem] = read_path(path, make_config(tmp_path), NOW)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert "invalid YAML" in problem.reason
    assert "aliases" in problem.reason
    assert grown_kib < 100_000


def test_self_referring_yaml_alias_is_a_reject(tmp_path: Path) -> None:
    path = write(tmp_path / "loop.yaml", "&a [*a]\n")
    [problem] = read_path(path, make_config(tmp_path), NOW)
    assert "alias" in problem.reason


SURROGATE_JSON = '[{"id":"x1","title":"bad \\ud800 title","text":"body"}]'


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("r.jsonl", SURROGATE_JSON[1:-1] + "\n"),
        ("r.json", SURROGATE_JSON),
        ("r.yaml", '- id: x1\n  title: "bad \\ud800 title"\n  text: body\n'),
    ],
)
def test_lone_surrogate_is_cleaned_the_same_in_every_format(
    tmp_path: Path, name: str, content: str
) -> None:
    [article] = read_path(write(tmp_path / name, content), make_config(tmp_path), NOW)
    assert article.title == "bad title"  # as .jsonl always did
    article.title.encode("utf-8")


@pytest.mark.parametrize("name", ["a.json", "a.yaml", "a.txt"])
def test_a_file_parsed_whole_over_max_file_bytes_is_refused_before_reading_and_the_rest_goes_on(
    tmp_path: Path, name: str
) -> None:
    src = tmp_path / "src"
    write(src / name, json.dumps([{"id": "big", "title": "t", "text": "x" * 5000}]) + "\n")
    write(src / "b.json", json.dumps({"id": "ok", "title": "t", "text": "body"}))
    cfg = limited(make_config(tmp_path, sources=[src]), max_file_bytes=2000)
    items = read_sources(cfg, NOW)
    [problem] = rejects(items)
    assert "ingest.max_file_bytes (2000)" in problem.reason
    assert [a.id for a in articles(items)] == ["ok"]


def test_a_jsonl_file_is_a_stream_read_whatever_its_size(tmp_path: Path) -> None:
    # Each line is bounded (max_article_bytes), not the file: 30 lines of
    # 5 kB are read under a 2,000-byte max_file_bytes.
    src = tmp_path / "src"
    lines = [json.dumps({"id": f"r{n}", "title": "t", "text": "x" * 5000}) for n in range(30)]
    write(src / "a.jsonl", "\n".join(lines) + "\n")
    cfg = limited(make_config(tmp_path, sources=[src]), max_file_bytes=2000)
    items = read_sources(cfg, NOW)
    assert rejects(items) == []
    assert [a.id for a in articles(items)] == [f"r{n}" for n in range(30)]


def test_overlong_jsonl_line_is_skipped_without_reading_it_whole(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "a", "title": "t", "text": "body"}),
        json.dumps({"id": "huge", "title": "t", "text": "x" * 300_000}),
        json.dumps({"id": "b", "title": "t", "text": "body"}),
    ]
    path = write(tmp_path / "r.jsonl", "\n".join(lines) + "\n")
    items = read_path(path, limited(make_config(tmp_path), max_article_bytes=1000), NOW)
    assert [a.id for a in articles(items)] == ["a", "b"]
    [problem] = rejects(items)
    assert problem.location == "line 2" and "ingest.max_article_bytes (1000)" in problem.reason


@pytest.mark.parametrize("name", ["r.json", "r.jsonl", "r.yaml"])
@pytest.mark.parametrize("depth", [30, 100_000])
def test_record_nested_too_deep_is_a_reject_naming_the_limit(
    tmp_path: Path, name: str, depth: int
) -> None:
    nested = "[" * depth + "]" * depth
    content = '{"id": "d", "title": "t", "text": "b", "extra": ' + nested + "}\n"
    [problem] = read_path(write(tmp_path / name, content), make_config(tmp_path), NOW)
    assert "ingest.max_depth (20)" in problem.reason


def test_tags_beyond_max_tags_are_dropped_with_a_note(tmp_path: Path) -> None:
    record = {"id": "t", "title": "t", "text": "b", "tags": [f"وسم {n}" for n in range(80)]}
    path = write(tmp_path / "r.json", json.dumps(record))
    items = read_path(path, limited(make_config(tmp_path), max_tags=50), NOW)
    [article] = articles(items)
    assert [tag.name for tag in article.tags] == [f"وسم {n}" for n in range(50)]
    [note] = rejects(items)
    assert "ingest.max_tags (50)" in note.reason and note.location == "id t"


def test_long_title_and_summary_are_shortened_at_a_word(tmp_path: Path) -> None:
    title = " ".join(["كلمة"] * 200)
    summary = " ".join(["ملخص"] * 600)
    record = {"id": "l", "title": title, "summary": summary, "text": "b"}
    [article] = read_path(
        write(tmp_path / "r.json", json.dumps(record)), make_config(tmp_path), NOW
    )
    assert len(article.title) <= 300 and article.title.endswith("كلمة…")
    assert len(article.summary) <= 1000 and article.summary.endswith("ملخص…")


def test_long_page_title_is_shortened_too(tmp_path: Path) -> None:
    title = " ".join(["عنوان"] * 100)
    path = write(tmp_path / "p.txt", f"{title}\n\nنص الخبر.\n")
    [article] = read_path(path, make_config(tmp_path), NOW)
    assert len(article.title) <= 300 and article.title.endswith("…")
