"""Issue 22, point 6: a withdrawn article leaves every file. Through the
composition root, real ingest and a real store (SQLite and PostgreSQL): a
records file and a folder of pages are ingested and built, one article is
withdrawn (its record taken out of the file, its page file deleted, or by
an editor), the sources are ingested and the site built again, and every
file under ``feeds.output`` is read back: the feeds with feedparser (JSON
Feed as JSON), the pages as text."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest

from feedpub import app as pipeline
from feedpub.config import Config, SourceConfig
from feedpub.links import page_path
from feedpub.store import SqlStore
from support.cli_site import run as cli
from support.cli_site import site
from support.digest_fixtures import NOW
from support.feedfactory import make_config

__all__ = ["site"]  # the fixture, shared with test_cli

PAGE = "{title}\n\nدمشق - 2026-11-20 10:00\n\n{body}\n\nالوسوم\nاقتصاد\n"


def record(n: int) -> dict[str, Any]:
    return {
        "id": f"r{n}",
        "title": f"خبر رقم {n} من دمشق",
        "text": f"نص الخبر {n} كاملاً.\n\nفقرة ثانية من الخبر {n}.",
        "published": (NOW - timedelta(hours=n)).isoformat(),
        "tags": ["اقتصاد", "دمشق"],
    }


def page_title(n: int) -> str:
    return f"عنوان الصفحة رقم {n} عن الاقتصاد"


def write_sources(root: Path, records: list[dict[str, Any]], pages: list[int]) -> None:
    (root / "records").mkdir(parents=True, exist_ok=True)
    (root / "pages").mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    (root / "records" / "articles.jsonl").write_text(lines, "utf-8")
    for n in pages:
        body = f"نص الصفحة رقم {n} طويل بما يكفي ليكون خبراً كاملاً."
        (root / "pages" / f"p{n}.txt").write_text(PAGE.format(title=page_title(n), body=body))


def setup(tmp_path: Path) -> Config:
    cfg = make_config(tmp_path / "public")
    root = tmp_path / "src"
    sources = (SourceConfig.folder(root / "records"), SourceConfig.folder(root / "pages"))
    return dataclasses.replace(cfg, sources=sources)


def run(cfg: Config, store: SqlStore, *, hours: int = 0) -> Any:
    with pipeline.make_publisher(cfg, now=NOW + timedelta(hours=hours), store=store) as at:
        report = at.ingest()
        at.build()
        return report


def mentions(cfg: Config, marks: list[str]) -> dict[str, list[str]]:
    """Each published file under the output (relative path) -> which marks
    it holds. Feeds are read as a reader reads them; every other file as
    text. Hidden files (the build's own manifest, which records the removal)
    are never served."""
    out = cfg.feeds.output
    found: dict[str, list[str]] = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        name = path.relative_to(out).as_posix()
        if any(part.startswith(".") for part in name.split("/")):
            continue
        if path.name == "feed.json":
            feed = json.loads(path.read_bytes())
            text = "\n".join(json.dumps(item, ensure_ascii=False) for item in feed["items"])
        elif path.name in ("atom.xml", "rss.xml"):
            parsed = feedparser.parse(path.read_bytes())
            assert parsed.bozo == 0, (name, parsed.get("bozo_exception"))
            text = "\n".join(
                f"{e.get('id', '')} {e.title} {e.get('link', '')}" for e in parsed.entries
            )
        else:
            text = path.read_text("utf-8", errors="replace")
        found[name] = [m for m in marks if m in text]
    return found


def take_out_record(cfg: Config, store: SqlStore) -> None:
    write_sources(cfg.sources[0].path.parent, [record(n) for n in (1, 2, 4)], [1, 2])


def delete_page(cfg: Config, store: SqlStore) -> None:
    (cfg.sources[1].path / "p2.txt").unlink()


def by_hand(cfg: Config, store: SqlStore) -> None:
    with pipeline.make_publisher(cfg, now=NOW, store=store) as at:
        assert at.withdraw(["r3"], "legal request") == ["r3"]


@pytest.mark.parametrize(
    ("gone", "title", "article_id", "withdraw"),
    [
        ("record taken out of its file", "خبر رقم 3 من دمشق", "r3", take_out_record),
        ("page file deleted", page_title(2), "p2", delete_page),
        ("withdrawn by an editor", "خبر رقم 3 من دمشق", "r3", by_hand),
    ],
)
def test_a_withdrawn_article_leaves_every_file_of_the_site(
    tmp_path: Path,
    store: SqlStore,
    gone: str,
    title: str,
    article_id: str,
    withdraw: Callable[[Config, SqlStore], None],
) -> None:
    cfg = setup(tmp_path)
    write_sources(tmp_path / "src", [record(n) for n in (1, 2, 3, 4)], [1, 2])
    assert run(cfg, store).new == 6
    kept_title = "خبر رقم 1 من دمشق"
    marks = [title, page_path(article_id), kept_title]
    before = mentions(cfg, marks)
    # Before: the article is in the main and tag feeds, its topic pages and its own page.
    holding = {name for name, found in before.items() if title in found}
    for name in ("atom.xml", "rss.xml", "feed.json", page_path(article_id)):
        assert name in holding, (gone, name)
    assert any(n.startswith("tag/") and n.endswith("atom.xml") for n in holding), holding
    assert any(n.startswith("tag/") and n.endswith("index.html") for n in holding), holding

    withdraw(cfg, store)
    report = run(cfg, store, hours=1)
    assert report.withdrawn == (0 if gone == "withdrawn by an editor" else 1), gone

    after = mentions(cfg, marks)
    assert not (cfg.feeds.output / page_path(article_id)).exists(), gone
    left = {name: found for name, found in after.items() if set(found) & set(marks[:2])}
    assert left == {}, gone
    # The rest is still published, in every file that held the withdrawn one.
    still = {name for name, found in after.items() if kept_title in found}
    assert {n for n in holding if n in after} <= still, gone
    assert store.get_article(article_id) is None
    assert [w[0] for w in store.withdrawn()] == [article_id]

    # A third run with nothing changed writes nothing and brings nothing back.
    again = run(cfg, store, hours=2)
    assert (again.new, again.updated, again.withdrawn) == (0, 0, 0), gone
    assert store.get_article(article_id) is None


@pytest.mark.parametrize(
    ("ids", "code", "err"),
    [
        (["FIRST"], 0, ""),
        (["FIRST", "no-such-id"], 1, "feedpub: no stored article no-such-id\n"),
    ],
)
def test_feedpub_articles_withdraw_takes_an_article_out_at_the_next_build(
    site: Path, capsys: pytest.CaptureFixture[str], ids: list[str], code: int, err: str
) -> None:
    assert cli(site, "run") == 0
    capsys.readouterr()
    assert cli(site, "articles", "--json", "--limit", "1") == 0
    newest = json.loads(capsys.readouterr().out)
    ids = [newest["id"] if i == "FIRST" else i for i in ids]
    public = site.parent / "public"
    assert newest["title"] in {e.title for e in feedparser.parse(public / "atom.xml").entries}

    assert cli(site, "articles", "withdraw", *ids, "--reason", "طلب قانوني") == code
    out = capsys.readouterr()
    assert out.out == f"withdrawn {newest['id']}: the next build takes it out of the feeds\n"
    assert out.err == err
    assert cli(site, "build") == 0
    titles = {e.title for e in feedparser.parse(public / "atom.xml").entries}
    assert newest["title"] not in titles and titles
    assert cli(site, "run") == 0  # its source still has it: it stays out
    assert newest["title"] not in {e.title for e in feedparser.parse(public / "atom.xml").entries}


def test_an_id_in_two_files_rewrites_no_feed_on_later_runs(tmp_path: Path, store: SqlStore) -> None:
    cfg = setup(tmp_path)
    write_sources(tmp_path / "src", [record(n) for n in (1, 2, 3)], [1])
    copy = {**record(2), "title": "نسخة ثانية من الخبر 2"}
    (tmp_path / "src" / "records" / "zz.jsonl").write_text(json.dumps(copy, ensure_ascii=False))
    run(cfg, store)
    for hours in (1, 2):
        with pipeline.make_publisher(cfg, now=NOW + timedelta(hours=hours), store=store) as at:
            report = at.ingest()
            built = at.build()
        assert (report.new, report.updated, report.rejected) == (0, 0, 1)
        assert built.written == ()  # before: the main and both tag feeds, each run
    titles = {e.title for e in feedparser.parse(tmp_path / "public" / "atom.xml").entries}
    assert "خبر رقم 2 من دمشق" in titles and copy["title"] not in titles
