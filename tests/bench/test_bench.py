"""The benchmark suite still works: a tiny corpus through every scenario.
Correctness only; no timing is asserted anywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import feedparser

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH_DIR))  # the bench modules import each other as top-level modules
import corpus  # noqa: E402
import naive  # noqa: E402
import run as bench_run  # noqa: E402


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_corpus_is_deterministic(tmp_path: Path) -> None:
    first = tree_bytes(corpus.write_corpus(tmp_path / "a", 40, 10, seed=3).root)
    again = tree_bytes(corpus.write_corpus(tmp_path / "b", 40, 10, seed=3).root)
    other = tree_bytes(corpus.write_corpus(tmp_path / "c", 40, 10, seed=4).root)
    assert first == again
    assert first != other
    assert sum(name.startswith("pages/") for name in first) == 40


def test_corpus_articles_have_the_promised_shape() -> None:
    articles = corpus.articles(200, 30, seed=5)
    tags = set(corpus.tag_names(30))
    assert len(tags) == 30
    assert len({a.id for a in articles}) == 200
    assert [a.published for a in articles] == sorted(a.published for a in articles)
    for article in articles:
        assert 6 <= len(article.title.split()) <= 12
        assert 5 <= len(article.paragraphs) <= 12
        assert 3 * 1024 <= len(article.html.encode("utf-8")) <= 6 * 1024
        assert 2 <= len(article.tags) <= 6
        assert set(article.tags) <= tags
        assert corpus.CORPUS_START <= article.published < corpus.CORPUS_END
        assert article.published.utcoffset() is not None
    # Zipf-like: the most popular tag is on far more articles than the least
    counts = [sum(tag in a.tags for a in articles) for tag in corpus.tag_names(30)]
    assert counts[0] > 4 * max(counts[-1], 1)


def test_naive_writes_valid_feeds(tmp_path: Path) -> None:
    info = corpus.write_corpus(tmp_path / "corpus", 60, 8)
    feeds = naive.build(info.records, tmp_path / "out")
    assert feeds == 9
    main = feedparser.parse(str(tmp_path / "out" / "atom.xml"))
    assert not main.bozo
    assert len(main.entries) == 20
    published = [datetime(*e.published_parsed[:6]) for e in main.entries]
    assert published == sorted(published, reverse=True)
    for path in (tmp_path / "out").rglob("*.xml"):
        parsed = feedparser.parse(str(path))
        assert not parsed.bozo, path
        assert parsed.entries, path


def feedpub(config: Path, *args: str) -> str:
    done = subprocess.run(
        [*bench_run.feedpub_command(), "--config", str(config), *args],
        env=bench_run.child_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_pages_and_records_ingest_to_the_same_articles(tmp_path: Path) -> None:
    info = corpus.write_corpus(tmp_path / "corpus", 40, 10)
    stores = {}
    for form, source in (("records", info.records), ("pages", info.pages)):
        config = corpus.write_config(tmp_path / form, [source])
        assert "0 rejected" in feedpub(config, "ingest")
        stores[form] = [
            json.loads(line) for line in feedpub(config, "articles", "--json").splitlines()
        ]
    fields = ("id", "title", "summary", "content", "published", "tags")
    records, pages = stores["records"], stores["pages"]
    assert len(records) == 40
    assert [{k: a[k] for k in fields} for a in records] == [
        {k: a[k] for k in fields} for a in pages
    ]


def test_every_scenario_runs(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    argv = ["--articles", "150", "--tags", "20", "--repeat", "1"]
    code = bench_run.main([*argv, "--work", str(tmp_path / "work"), "--results", str(results)])
    report = json.loads(results.read_text(encoding="utf-8"))
    assert report["problems"] == []
    assert code == 0
    assert {"nproc", "cpu_model", "python"} <= report["machine"].keys()
    rows = {row["scenario"]: row for row in report["scenarios"]}
    assert set(rows) == set(bench_run.SCENARIO_NAMES)
    for name, row in rows.items():
        if name in bench_run.POSTGRES_SCENARIOS:
            assert row["skipped"]
            continue
        assert [s["exit_code"] for s in row["samples"]] == [0], name
        assert row["median_wall_s"] is not None
        assert row["median_peak_rss_mb"] > 0
    assert rows["build-noop"]["samples"][0]["counts"]["written"] == 0
    # The in-process build wrote its article's 11 files (9 feeds, 2 topic
    # pages) and timed its own work.
    work = rows["build-incremental-work"]
    assert work["samples"][0]["counts"]["written"] == 11
    assert 0 < work["median_work_ms"] < 1000 * work["median_wall_s"]
    assert rows["write-floor"]["ratio_to_naive"] is not None
    assert rows["build-first"]["ratio_to_naive"] is not None
    assert rows["ingest-records-sqlite"]["records_per_s"] is not None


def test_the_write_floor_writes_as_many_files_as_big(tmp_path: Path) -> None:
    import floor

    source = tmp_path / "source"
    (source / "tag" / "ع").mkdir(parents=True)
    (source / "atom.xml").write_bytes(b"<feed/>")
    (source / "tag" / "ع" / "rss.xml").write_bytes(b"r" * 5000)
    (source / ".feedpub-manifest.json").write_text("{}")
    sizes = floor.tree_sizes(source)
    assert sizes == [("atom.xml", 7), ("tag/ع/rss.xml", 5000)]
    assert floor.write_floor(sizes, tmp_path / "dest") == 5007
    assert floor.tree_sizes(tmp_path / "dest") == sizes
