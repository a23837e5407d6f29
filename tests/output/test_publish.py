"""The output tree: incremental, atomic, locked, confined to feeds.output."""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from feedpub import app as pipeline
from feedpub import output as publish
from feedpub.config import Config
from feedpub.feeds import build as feed_build
from feedpub.feeds.incremental import RenderedTree
from feedpub.feeds.select import ArchivePage
from feedpub.model import Article, BuildReport
from feedpub.output import MANIFEST_NAME, TEMP_PREFIX, OutputError
from feedpub.output import files as output_files
from feedpub.output import tree as output_tree
from feedpub.store import SqlStore
from support.feedfactory import (
    DOTNET,
    POLITICS,
    PUTIN,
    SITE,
    article,
    make_config,
    plan_for,
    render,
    sample_articles,
)

PAST = 1_000_000_000  # 2001: any file a build rewrites gets a newer mtime


def build(cfg: Config, articles: list[Article]) -> BuildReport:
    """What the pipeline does: lock, read the manifest, render (lazily), sync."""
    out = cfg.feeds.output
    with publish.build_lock(out):
        manifest = publish.read_manifest(out)
        tree = render(plan_for(articles), cfg.feeds, manifest.fingerprints)
        return publish.sync_tree(out, tree.outputs, manifest, fingerprints=tree.fingerprints)


def snapshot(out: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``out`` but feedpub's own: bytes and mtime."""
    return {
        p.relative_to(out).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(out.rglob("*"))
        if p.is_file()
        and p.name not in (MANIFEST_NAME, publish.MANIFEST_LOG_NAME, publish.LOCK_NAME)
    }


def backdate(out: Path) -> None:
    for p in out.rglob("*"):
        if p.is_file():
            os.utime(p, (PAST, PAST))


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return make_config(tmp_path / "public")


def feed_files(*directories: str) -> set[str]:
    """The feeds in ``directories`` and, in a tag's folder, its topic page."""
    names = ("atom.xml", "rss.xml", "feed.json")
    return {f"{d}{n}" for d in directories for n in (*names, *(("index.html",) if d else ()))}


ALL_FEEDS = feed_files("", "tag/سياسة/", "tag/بوتين/", "tag/c-net/")


def test_first_build_writes_every_file_and_a_manifest(cfg: Config) -> None:
    report = build(cfg, sample_articles())
    assert set(report.written) == ALL_FEEDS | {"feeds.opml", "index.html", "style.css"}
    assert report.unchanged == () and report.removed == ()
    out = cfg.feeds.output
    assert set(snapshot(out)) == set(report.written)
    assert (out / MANIFEST_NAME).is_file()
    manifest = publish.read_manifest(out)
    assert manifest.files == set(report.written)
    assert set(manifest.fingerprints) == set(report.written)
    assert all(oct(p.stat().st_mode)[-3:] == "644" for p in out.rglob("*.xml"))


def test_rebuild_of_the_same_data_keeps_every_byte_and_mtime(cfg: Config) -> None:
    build(cfg, sample_articles())
    out = cfg.feeds.output
    backdate(out)
    before = snapshot(out)
    report = build(cfg, sample_articles())
    assert report.written == () and report.removed == ()
    assert set(report.unchanged) == set(before)
    assert snapshot(out) == before


def test_rendered_but_identical_files_are_not_rewritten(cfg: Config) -> None:
    """Without fingerprints (say the manifest was lost) bytes are compared."""
    build(cfg, sample_articles())
    out = cfg.feeds.output
    (out / MANIFEST_NAME).unlink()
    backdate(out)
    before = snapshot(out)
    report = build(cfg, sample_articles())
    assert report.written == ()
    assert snapshot(out) == before


@pytest.mark.parametrize(
    ("new", "changed"),
    [
        # main feed and the article's tag feeds; OPML and index.html keep theirs
        (article(10, POLITICS), feed_files("", "tag/سياسة/")),
        (article(10, PUTIN, DOTNET), feed_files("", "tag/بوتين/", "tag/c-net/")),
        (article(10), feed_files("")),
        # a new tag adds a feed: the list of feeds changes too
        (
            article(10, POLITICS.__class__(key="اقتصاد", name="اقتصاد", slug="اقتصاد")),
            feed_files("", "tag/اقتصاد/") | {"feeds.opml", "index.html"},
        ),
    ],
)
def test_one_new_article_rewrites_only_the_feeds_holding_it(
    cfg: Config, new: Article, changed: set[str]
) -> None:
    build(cfg, sample_articles())
    out = cfg.feeds.output
    backdate(out)
    before = snapshot(out)
    report = build(cfg, [*sample_articles(), new])
    assert set(report.written) == changed
    after = snapshot(out)
    for path, (data, mtime) in after.items():
        if path in changed:
            assert mtime != PAST * 10**9 and data != before.get(path, (b"", 0))[0], path
        else:
            assert (data, mtime) == before[path], path


def test_a_tag_that_loses_its_articles_loses_its_files_and_folder(cfg: Config) -> None:
    out = cfg.feeds.output
    digest_page = out / "archive" / "daily" / "2026-03-01.html"  # the digest's, not ours
    digest_page.parent.mkdir(parents=True)
    digest_page.write_text("<p>digest</p>", encoding="utf-8")
    build(cfg, sample_articles())
    assert (out / "tag" / "بوتين" / "atom.xml").is_file()

    without_putin = [a for a in sample_articles() if PUTIN not in a.tags]
    report = build(cfg, without_putin)
    assert set(report.removed) == feed_files("tag/بوتين/")
    assert not (out / "tag" / "بوتين").exists()
    assert (out / "tag" / "سياسة" / "atom.xml").is_file()
    assert {"feeds.opml", "index.html"} <= set(report.written)
    assert digest_page.read_text(encoding="utf-8") == "<p>digest</p>"
    assert "بوتين" not in publish.read_manifest(out).files.__str__()


def test_a_folder_holding_files_we_do_not_manage_is_kept(cfg: Config) -> None:
    build(cfg, sample_articles())
    out = cfg.feeds.output
    foreign = out / "tag" / "بوتين" / "README.txt"
    foreign.write_text("not ours", encoding="utf-8")
    build(cfg, [a for a in sample_articles() if PUTIN not in a.tags])
    assert foreign.read_text(encoding="utf-8") == "not ours"
    assert not (out / "tag" / "بوتين" / "atom.xml").exists()


def test_leftover_temp_files_in_our_folders_are_cleaned(cfg: Config) -> None:
    build(cfg, sample_articles())
    out = cfg.feeds.output
    ours = [out / f"{TEMP_PREFIX}root", out / "tag" / "c-net" / f"{TEMP_PREFIX}x1"]
    theirs = out / "archive" / "daily" / f"{TEMP_PREFIX}digest-writing"
    theirs.parent.mkdir(parents=True)
    for path in [*ours, theirs]:
        path.write_bytes(b"<half")
    report = build(cfg, sample_articles())
    assert not any(p.exists() for p in ours)
    assert theirs.exists()  # another writer's folder: maybe a write in progress
    assert any("2 leftover temporary" in note for note in report.notes)


@pytest.mark.parametrize(
    "bad",
    ["../evil.xml", "tag/../../evil.xml", "/tmp/evil.xml", "tag//x.xml", "", MANIFEST_NAME],
)
def test_no_path_can_leave_the_output_folder(tmp_path: Path, bad: str) -> None:
    out = tmp_path / "public"
    with pytest.raises(OutputError):
        publish.sync_tree(out, {"atom.xml": b"<ok/>", bad: b"<evil/>"})
    assert not (out / "atom.xml").exists(), "checked before anything is written"
    assert not (tmp_path / "evil.xml").exists()


def test_a_symlinked_folder_pointing_outside_is_refused(tmp_path: Path) -> None:
    out, elsewhere = tmp_path / "public", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "tag").symlink_to(elsewhere)
    with pytest.raises(OutputError, match="outside"):
        publish.sync_tree(out, {"tag/x/atom.xml": b"<evil/>"})
    assert list(elsewhere.iterdir()) == []


def test_a_managed_file_turned_symlink_to_outside_is_refused(tmp_path: Path) -> None:
    out, outside = tmp_path / "public", tmp_path / "outside.xml"
    publish.sync_tree(out, {"tag/a/atom.xml": b"<old/>", "tag/b/atom.xml": b"<old/>"})
    outside.write_bytes(b"theirs")
    (out / "tag/a/atom.xml").unlink()
    (out / "tag/a/atom.xml").symlink_to(outside)
    with pytest.raises(OutputError, match="resolves outside"):
        publish.sync_tree(out, {"tag/a/atom.xml": b"<new/>", "tag/b/atom.xml": b"<new/>"})
    assert outside.read_bytes() == b"theirs"
    assert (out / "tag/b/atom.xml").read_bytes() == b"<old/>", "checked before anything is written"


def test_a_hostile_slug_never_reaches_the_disk(cfg: Config) -> None:
    evil = POLITICS.__class__(key="evil", name="evil", slug="..")
    report = build(cfg, [article(1, evil, POLITICS)])
    out = cfg.feeds.output
    assert all(".." not in p for p in report.written)
    assert not (out.parent / "atom.xml").exists() and not (out.parent / "rss.xml").exists()
    assert {p.parent for p in out.rglob("atom.xml")} == {out, out / "tag" / "سياسة"}


def test_a_crashed_build_leaves_complete_files_and_is_redone(
    cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    build(cfg, sample_articles())
    out = cfg.feeds.output
    manifest_before = (out / MANIFEST_NAME).read_bytes()
    real = output_files.write_temp
    calls = 0

    def dying(path: Path, data: bytes) -> str:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError(28, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(output_files, "write_temp", dying)
    newer = [*sample_articles(), article(10, POLITICS, PUTIN)]
    with pytest.raises(OutputError, match="No space left"):
        build(cfg, newer)
    assert (out / MANIFEST_NAME).read_bytes() == manifest_before, "manifest only after success"
    for path in out.rglob("*.xml"):
        etree.fromstring(path.read_bytes())  # every file old or new, never half
    monkeypatch.setattr(output_files, "write_temp", real)
    assert not list(out.rglob(".feedpub-tmp-*")), "a failed batch removes its temp files"

    report = build(cfg, newer)
    assert set(report.written) | set(report.unchanged) >= feed_files("", "tag/بوتين/")
    fresh = make_config(cfg.feeds.output.parent / "fresh")
    build(fresh, newer)
    # the redone build equals a clean build of the same data
    redone, clean = snapshot(out), snapshot(fresh.feeds.output)
    assert {k: v[0] for k, v in redone.items()} == {k: v[0] for k, v in clean.items()}


def test_a_deleted_file_is_rendered_again(cfg: Config) -> None:
    build(cfg, sample_articles())
    out = cfg.feeds.output
    (out / "tag" / "c-net" / "rss.xml").unlink()
    assert "tag/c-net/rss.xml" not in publish.read_manifest(out).fingerprints
    report = build(cfg, sample_articles())
    assert report.written == ("tag/c-net/rss.xml",)


@pytest.mark.parametrize("change", ["delete", "leave a temp file", "replace by a folder"])
def test_a_settled_folder_is_trusted_until_an_entry_in_it_changes(
    cfg: Config, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """A folder unchanged since the manifest recorded it is not checked file
    by file; any change of its entries shows in its mtime and gets it checked."""
    build(cfg, sample_articles())
    out = cfg.feeds.output
    checked: list[str] = []
    real_isfile = os.path.isfile

    def isfile(path: str) -> bool:
        checked.append(os.path.relpath(path, out))
        return real_isfile(path)

    monkeypatch.setattr(os.path, "isfile", isfile)
    assert "tag/c-net" in publish.read_manifest(out).settled
    assert not [c for c in checked if c.startswith("tag/")], "settled folders: no stat per file"

    folder = out / "tag" / "c-net"
    if change == "delete":
        (folder / "rss.xml").unlink()
    elif change == "leave a temp file":
        (folder / f"{TEMP_PREFIX}crashed").write_bytes(b"half")
    else:
        (folder / "rss.xml").unlink()
        (folder / "rss.xml").mkdir()
    checked.clear()
    manifest = publish.read_manifest(out)
    assert "tag/c-net" not in manifest.settled
    assert "tag/c-net/atom.xml" in checked and "tag/سياسة/atom.xml" not in checked
    if change == "leave a temp file":
        report = build(cfg, sample_articles())
        assert report.written == () and not list(folder.glob(f"{TEMP_PREFIX}*"))
    elif change == "delete":
        assert "tag/c-net/rss.xml" not in manifest.fingerprints
        assert build(cfg, sample_articles()).written == ("tag/c-net/rss.xml",)
    else:
        assert "tag/c-net/rss.xml" not in manifest.fingerprints


@pytest.mark.parametrize(
    ("clock", "settled"),
    [
        (1, True),  # the folder's mtime is older than the clock read before it
        (0, False),  # the same tick: a later change could keep that mtime
        (-1_000_000_000, False),
        (None, False),  # an older feedpub's manifest: no clock, nothing trusted
    ],
)
def test_a_folder_is_trusted_only_when_older_than_the_recorded_clock(
    tmp_path: Path, clock: int | None, settled: bool
) -> None:
    """A change in the same tick of the file system's clock as the folder's
    recorded mtime would not show in it: a folder is trusted only when its
    mtime is older than the clock the manifest read before it."""
    out = tmp_path / "public"
    publish.sync_tree(out, {"tag/a/atom.xml": b"<a/>"})
    manifest = out / MANIFEST_NAME
    folder_time = (out / "tag/a").stat().st_mtime_ns
    raw = json.loads(manifest.read_text(encoding="utf-8"))
    raw["folders"] = {"tag/a": folder_time}
    if clock is None:
        del raw["folder_clock"]
    else:
        raw["folder_clock"] = folder_time + clock
    manifest.write_text(json.dumps(raw), encoding="utf-8")
    assert ("tag/a" in publish.read_manifest(out).settled) == settled


def test_a_folder_written_in_the_clocks_tick_is_waited_for(tmp_path: Path) -> None:
    """The build's last writes are milliseconds old when the manifest records
    them: it waits out the clock's tick, so the folders it just wrote in are
    trusted by the next build rather than listed entry by entry."""
    out = tmp_path / "public"
    publish.sync_tree(out, {"tag/a/atom.xml": b"<a/>", "tag/b/atom.xml": b"<b/>"})
    raw = json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert set(raw["folders"]) == {"tag/a", "tag/b"}  # the folders holding files
    assert all(t < raw["folder_clock"] for t in raw["folders"].values())
    assert {"tag/a", "tag/b"} <= publish.read_manifest(out).settled


def test_keeping_a_file_that_vanished_is_noted_not_fatal(tmp_path: Path) -> None:
    out = tmp_path / "public"
    report = publish.sync_tree(out, {"atom.xml": None}, fingerprints={"atom.xml": "f"})
    assert report.unchanged == () and "missing" in report.notes[0]
    assert publish.read_manifest(out).fingerprints == {}


@pytest.mark.parametrize(
    "text", ["", "{", "[]", '{"version": 99, "files": [], "fingerprints": {}}']
)
def test_an_unreadable_manifest_means_start_afresh(tmp_path: Path, text: str) -> None:
    (tmp_path / MANIFEST_NAME).write_text(text, encoding="utf-8")
    assert publish.read_manifest(tmp_path) == publish.Manifest()


def test_readers_only_ever_see_complete_files_while_builds_rewrite_them(cfg: Config) -> None:
    out = cfg.feeds.output
    plans = [sample_articles(), [*sample_articles(), article(10, POLITICS)]]
    build(cfg, plans[0])
    target = out / "atom.xml"
    stop = threading.Event()
    reads: list[int] = []
    errors: list[str] = []

    def reader() -> None:
        count = 0
        while not stop.is_set() and count < 200_000:  # bounded even if the builds hang
            try:
                etree.fromstring(target.read_bytes())
            except Exception as exc:  # every kind of failure counts as a torn read
                errors.append(repr(exc))
            count += 1
        reads.append(count)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for n in range(30):
            report = build(cfg, plans[(n + 1) % 2])
            assert "atom.xml" in report.written
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert errors == []
    assert reads and reads[0] > 30


def test_a_second_build_at_the_same_time_is_refused(cfg: Config) -> None:
    out = cfg.feeds.output
    with publish.build_lock(out):
        with pytest.raises(OutputError, match="another feedpub run holds this lock"):
            build(cfg, sample_articles())
        # and from another process, as cron would start it
        script = (
            "import sys; from pathlib import Path; from feedpub import output as publish\n"
            "try:\n"
            f"    with publish.build_lock(Path({str(out)!r})): sys.exit(0)\n"
            "except publish.OutputError as exc:\n"
            "    print(exc); sys.exit(3)\n"
        )
        run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        assert run.returncode == 3 and "another feedpub run" in run.stdout
    assert not (out / "atom.xml").exists()
    build(cfg, sample_articles())  # released: the next build runs
    assert (out / "atom.xml").is_file()


def test_archive_pages_are_published_with_the_feeds_and_removed_when_turned_off(
    tmp_path: Path,
) -> None:
    cfg = make_config(tmp_path / "public", archive=True)
    out = cfg.feeds.output

    def load(index: int) -> ArchivePage:
        return ArchivePage(index=index, articles=(article(index),))

    def build_with_archive(pages: int) -> BuildReport:
        with publish.build_lock(out):
            manifest = publish.read_manifest(out)
            plan = dataclasses.replace(plan_for(sample_articles()), archive_pages=pages)
            tree = render(plan, cfg.feeds, manifest.fingerprints).merged(
                feed_build.render_archive(pages, cfg.feeds, SITE, load, manifest.fingerprints)
            )
            return publish.sync_tree(out, tree.outputs, manifest, fingerprints=tree.fingerprints)

    first = build_with_archive(2)
    assert {"feed-archive/1/atom.xml", "feed-archive/2/rss.xml"} <= set(first.written)
    second = build_with_archive(3)
    archive_written = {p for p in second.written if p.startswith("feed-archive/")}
    assert archive_written == {
        f"feed-archive/{n}/{f}" for n in (2, 3) for f in ("atom.xml", "rss.xml")
    }
    assert {"atom.xml", "rss.xml"} <= set(second.written)  # prev-archive moved to page 3
    off = build_with_archive(0)
    assert {p for p in off.removed} == {
        f"feed-archive/{n}/{f}" for n in (1, 2, 3) for f in ("atom.xml", "rss.xml")
    }
    assert not (out / "feed-archive").exists()


def test_a_build_logs_each_path_it_wrote_and_removed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """feedpub -v build: what was written and what was removed, path by path."""
    cfg = make_config(tmp_path / "public")
    with SqlStore.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        store.upsert_articles(sample_articles(), datetime(2026, 3, 2, tzinfo=UTC))
        with caplog.at_level(logging.INFO, logger="feedpub"):
            first = pipeline.build_feeds(cfg, store)
        assert first.written
        assert _logged(caplog, "wrote") == set(first.written)

        caplog.clear()
        (cfg.feeds.output / f"{TEMP_PREFIX}x").write_bytes(b"half")
        fewer_tags = dataclasses.replace(cfg, feeds=dataclasses.replace(cfg.feeds, min_items=3))
        with caplog.at_level(logging.INFO, logger="feedpub"):
            second = pipeline.build_feeds(fewer_tags, store)
    # The feed list changed, and the pages of url-less articles whose tags
    # lost their feeds (their tag links go): nothing else.
    pages = {p for p in second.written if p.startswith("articles/")}
    assert second.removed and set(second.written) - pages == {"feeds.opml", "index.html"}
    assert _logged(caplog, "removed") == set(second.removed)
    assert _logged(caplog, "wrote") == set(second.written)
    assert any("leftover temporary" in r.getMessage() for r in caplog.records)


def _logged(caplog: pytest.LogCaptureFixture, verb: str) -> set[str]:
    prefix = f"build: {verb} "
    return {
        r.getMessage().removeprefix(prefix)
        for r in caplog.records
        if r.levelno == logging.INFO and r.getMessage().startswith(prefix)
    }


def test_stale_temp_files_are_removed_and_fresh_ones_kept(tmp_path: Path) -> None:
    from feedpub.output import TEMP_PREFIX, remove_stale_temp_files

    reference = tmp_path / "index.html"
    reference.write_text("x", encoding="utf-8")
    stale = tmp_path / f"{TEMP_PREFIX}killed"
    fresh = tmp_path / f"{TEMP_PREFIX}writing"
    other = tmp_path / "keep.html"
    for path in (stale, fresh, other):
        path.write_text("partial", encoding="utf-8")
    now = reference.stat().st_mtime
    os.utime(stale, (now - 7200, now - 7200))
    os.utime(other, (now - 7200, now - 7200))
    assert remove_stale_temp_files(tmp_path, reference=reference) == 1
    assert not stale.exists() and fresh.exists() and other.exists()


def test_producers_are_written_one_at_a_time_and_renamed_only_after_the_last(
    tmp_path: Path,
) -> None:
    """Each producer is called after the one before it went to its temp file
    (nothing waits in memory), and no path changes before all are written."""
    out = tmp_path / "out"
    publish.sync_tree(out, {"a.xml": b"old a", "b.xml": b"old b", "c.xml": b"old c"})
    seen: list[tuple[str, bytes, bytes, int]] = []

    def producer(path: str) -> Callable[[], bytes]:
        def produce() -> bytes:
            temps = len(list(out.glob(f"{TEMP_PREFIX}*")))
            seen.append((path, (out / "a.xml").read_bytes(), (out / "b.xml").read_bytes(), temps))
            return f"new {path}".encode()

        return produce

    files: dict[str, publish.Output] = {p: producer(p) for p in ("c.xml", "a.xml", "b.xml")}
    report = publish.sync_tree(out, files)
    assert seen == [
        ("a.xml", b"old a", b"old b", 0),
        ("b.xml", b"old a", b"old b", 1),
        ("c.xml", b"old a", b"old b", 2),
    ]
    assert report.written == ("a.xml", "b.xml", "c.xml")
    assert {p: (out / p).read_bytes() for p in files} == {p: f"new {p}".encode() for p in files}


def test_a_failing_producer_leaves_every_old_file_and_no_temp_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    publish.sync_tree(out, {"a.xml": b"old a", "tag/b/atom.xml": b"old b"})
    before = snapshot(out)

    def broken() -> bytes:
        raise RuntimeError("renderer failed")

    with pytest.raises(RuntimeError, match="renderer failed"):
        publish.sync_tree(out, {"a.xml": lambda: b"new a", "tag/b/atom.xml": broken})
    assert snapshot(out) == before
    assert not [p for p in out.rglob("*") if p.name.startswith(TEMP_PREFIX)]


@pytest.mark.parametrize("managed_before", [True, False])
def test_a_producer_that_gives_nothing_means_no_such_file(
    tmp_path: Path, managed_before: bool
) -> None:
    """None from a producer (an article page whose article went away while
    the build ran): the path is not published, and removed if it was ours."""
    out = tmp_path / "out"
    publish.sync_tree(out, {"a.xml": b"a", **({"gone.html": b"page"} if managed_before else {})})
    report = publish.sync_tree(out, {"a.xml": None, "gone.html": lambda: None})
    assert not (out / "gone.html").exists()
    assert report.removed == (("gone.html",) if managed_before else ())
    assert publish.read_manifest(out).files == {"a.xml"}


@pytest.mark.parametrize(
    ("files", "flush"),
    [
        (3, "fsync each"),
        (publish.FSYNC_EACH_MAX, "fsync each"),
        (publish.FSYNC_EACH_MAX + 1, "syncfs"),
    ],
)
def test_every_written_file_is_flushed_before_any_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: int, flush: str
) -> None:
    """A power loss must find each path old or new complete: no rename
    before the data of every temp file is flushed, by one fsync each for a
    small build and one file-system sync for a large one."""
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    folder_fds: set[int] = set()
    real_open = os.open

    def track_open(path: str | os.PathLike[str], flags: int, *args: int) -> int:
        fd = real_open(path, flags, *args)
        if flags & os.O_DIRECTORY:
            folder_fds.add(fd)
        else:
            folder_fds.discard(fd)
        return fd

    def fsync(fd: int) -> None:
        events.append("fsync folder" if fd in folder_fds else "fsync file")
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        events.append("rename")
        real_replace(src, dst)

    # Owned already (the manifest of new paths is written before them, apart).
    publish.sync_tree(tmp_path, {f"feed-{n}.xml": b"<old/>" for n in range(files)})
    monkeypatch.setattr(os, "open", track_open)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(output_files, "sync_file_system", lambda folder: events.append("syncfs"))
    wanted = {f"feed-{n}.xml": f"<feed n='{n}'/>".encode() for n in range(files)}
    publish.sync_tree(tmp_path, wanted)

    first_rename = events.index("rename")
    flushes = events[:first_rename]
    if flush == "syncfs":
        assert flushes.count("syncfs") == 1 and "fsync file" not in flushes
    else:
        assert flushes.count("fsync file") == files and "syncfs" not in flushes
    assert events[first_rename : first_rename + files] == ["rename"] * files
    assert {p.name for p in tmp_path.iterdir() if not p.name.startswith(".")} == set(wanted)


@pytest.mark.parametrize(
    ("folders", "flush"),
    [
        (2, "fsync each"),
        (publish.FSYNC_EACH_MAX, "fsync each"),
        (publish.FSYNC_EACH_MAX + 1, "syncfs"),
    ],
)
def test_every_rename_is_flushed_before_the_manifest_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folders: int, flush: str
) -> None:
    """After the renames, the folders holding them are flushed (an fsync each
    for a few, one file-system sync for many) before the manifest is written."""
    paths = [f"tag/t{n}/feed.xml" for n in range(folders)]
    publish.sync_tree(tmp_path, dict.fromkeys(paths, b"<old/>"))
    events: list[str] = []
    real_replace, real_fsync_folder = os.replace, output_files.fsync_folder

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        events.append("manifest" if str(dst).endswith(MANIFEST_NAME) else "rename")
        real_replace(src, dst)

    def fsync_folder(folder: Path) -> None:
        events.append("fsync folder")
        real_fsync_folder(folder)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(output_files, "fsync_folder", fsync_folder)
    monkeypatch.setattr(output_files, "sync_file_system", lambda folder: events.append("syncfs"))
    publish.sync_tree(tmp_path, {p: b"<new/>" for p in paths})

    last_rename = len(events) - 1 - events[::-1].index("rename")
    between = events[last_rename + 1 : events.index("manifest")]
    if flush == "syncfs":
        assert between == ["syncfs"]
    else:
        assert between == ["fsync folder"] * folders


def test_kept_paths_are_checked_in_one_pass_exactly_as_one_by_one() -> None:
    """The one-pass check of kept paths refuses what the per-path checks
    refuse, no more and no less, alone or among good paths."""
    segments = ["", ".", "..", "a", "...", ".a", "a.", "ع", MANIFEST_NAME, publish.LOCK_NAME]
    segments += [f"{publish.TEMP_PREFIX}x", publish.TEMP_PREFIX, f"x{publish.LOCK_NAME}"]
    paths = ["/".join(combo) for n in (1, 2, 3) for combo in itertools.product(segments, repeat=n)]

    def refused(candidates: list[str]) -> bool:
        try:
            output_tree._check_kept(candidates)
        except OutputError:
            return True
        return False

    def refused_one_by_one(path: str) -> bool:
        try:
            output_tree._check_name(path)
            output_files.check_plain(path)
        except OutputError:
            return True
        return False

    assert not refused([])
    for path in [*paths, "/a", "a/", "/"]:
        for candidates in ([path], ["ok/x", path], [path, "ok/y"], ["a", path, "b/c"]):
            assert refused(candidates) == refused_one_by_one(path), candidates


@pytest.mark.parametrize(
    ("manifest", "peeked"),
    [
        (None, "s1.42"),  # as sync_tree writes it
        ('{"version": 1, "serial": "0a1b", "stamp": "a\\"b", "files": []}', 'a"b'),
        ('{"version": 1, "stamp": "s1.42", "files": []}', None),  # no serial: an older feedpub's
        ('{"version": 1, "files": [], "stamp": "late"}', None),  # not at the start: unknown
        ('{\n "fingerprints": {},\n "stamp": "x.1",\n "version": 1\n}', None),  # older layout
        ('{"version": 2, "stamp": "x.1"}', None),
        ("not json", None),
        ("", None),
    ],
)
def test_the_stamp_is_peeked_from_the_start_of_the_manifest_or_not_at_all(
    tmp_path: Path, manifest: str | None, peeked: str | None
) -> None:
    publish.sync_tree(tmp_path, {"a.xml": b"<a/>"}, stamp="s1.42")
    if manifest is not None:
        (tmp_path / MANIFEST_NAME).write_text(manifest, encoding="utf-8")
    assert publish.peek_stamp(tmp_path) == peeked


def test_no_manifest_peeks_no_stamp(tmp_path: Path) -> None:
    assert publish.peek_stamp(tmp_path) is None


@pytest.mark.parametrize(
    ("change", "removed", "files_after", "written"),
    [
        ({"a/1.xml": b"<a1 new/>"}, set(), {"a/1.xml", "a/2.xml", "b/1.xml", "top.xml"},
         ("a/1.xml",)),
        ({}, {"b/1.xml"}, {"a/1.xml", "a/2.xml", "top.xml"}, ()),
        ({"c/1.xml": b"<c1/>"}, {"a/2.xml"}, {"a/1.xml", "b/1.xml", "c/1.xml", "top.xml"},
         ("c/1.xml",)),
        ({"a/1.xml": None}, set(), {"a/1.xml", "a/2.xml", "b/1.xml", "top.xml"}, ()),
    ],
)  # fmt: skip
def test_a_change_to_the_tree_keeps_every_file_it_does_not_name(
    tmp_path: Path,
    change: dict[str, bytes | None],
    removed: set[str],
    files_after: set[str],
    written: tuple[str, ...],
) -> None:
    """``keeps_rest``: only the named paths are looked at; the rest of the
    last build stays, bytes, mtimes and fingerprints; ``removed`` goes (its
    folder with it when emptied), and the result is what a whole-tree sync
    of the same files would leave."""
    out = tmp_path / "public"
    first = {"a/1.xml": b"<a1/>", "a/2.xml": b"<a2/>", "b/1.xml": b"<b1/>", "top.xml": b"<t/>"}
    prints = {path: f"print-{path}" for path in first}
    publish.sync_tree(out, first, fingerprints=prints, stamp="s1")
    before = snapshot(out)
    new_prints = {path: f"new-{path}" for path in change}
    report = publish.sync_tree(
        out, change, None, fingerprints=new_prints, stamp="s2", keeps_rest=True,
        removed=frozenset(removed),
    )  # fmt: skip
    assert report.written == written
    assert set(report.removed) == removed
    assert set(report.unchanged) == files_after - set(written)
    after = snapshot(out)
    assert set(after) == files_after
    for path in files_after - change.keys():
        assert after[path] == before[path], path
    for path in removed:  # its folder stays only if a file is left in it
        folder = path.rpartition("/")[0]
        assert (out / folder).exists() == any(f.startswith(f"{folder}/") for f in files_after)
    manifest = publish.read_manifest(out)
    assert manifest.files == files_after and manifest.stamp == "s2"
    expected = {p: prints[p] for p in files_after - change.keys()} | new_prints
    assert manifest.fingerprints == {p: v for p, v in expected.items() if p in files_after}


def test_a_whole_tree_and_a_change_to_one_do_not_merge() -> None:
    whole = RenderedTree(outputs={"a.xml": b"<a/>"})
    change = RenderedTree(outputs={"b.xml": b"<b/>"}, keeps_rest=True)
    with pytest.raises(ValueError, match="cannot be merged"):
        whole.merged(change)
    both = change.merged(RenderedTree(keeps_rest=True, removed=frozenset({"b.xml", "c.xml"})))
    assert both.removed == {"c.xml"}  # a path one tree makes is not removed by the other
