"""A build never overwrites a file it did not write (issue 12, item 5): the
manifest says what feedpub owns; anything else in the way stops the build,
writing nothing, until ``--adopt`` takes it over once."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from feedpub import output as publish
from feedpub.cli import main
from feedpub.config import Config
from feedpub.model import Article, BuildReport
from feedpub.output import MANIFEST_NAME, ForeignFileError
from support.feedfactory import (
    POLITICS,
    PUTIN,
    article,
    make_config,
    plan_for,
    render,
    sample_articles,
)

REPO = Path(__file__).resolve().parents[2]
NOW = "2026-11-29T08:00:00+03:00"  # after the daily 07:00 slot

CONFIG = """\
site:
  title: "أخبار الشام"
  url: "https://news.example.org"
store:
  url: "sqlite:///var/feedpub.db"
sources:
  - path: {records}
feeds:
  output: public
digests:
  - name: daily
    schedule: "0 7 * * *"
    subject: "{{ site_title }}: {{ date }}"
    from: "news@news.example.org"
    first_lookback: 10d
delivery:
  outbox: outbox
"""

# What issue 12 found overwritten: an unrelated site in the output folder.
UNRELATED = {
    "index.html": b"<!doctype html><title>another site</title>\n",
    "atom.xml": b"<feed>someone else's</feed>\n",
    "tag/x/atom.xml": b"<feed>x</feed>\n",
}


def build(cfg: Config, articles: list[Article], *, adopt: bool = False) -> BuildReport:
    """What the app does: lock, read the manifest, render, sync."""
    out = cfg.feeds.output
    with publish.build_lock(out):
        manifest = publish.read_manifest(out)
        tree = render(plan_for(articles), cfg.feeds, manifest.fingerprints)
        return publish.sync_tree(
            out, tree.outputs, manifest, fingerprints=tree.fingerprints, adopt=adopt
        )


def tree(out: Path) -> dict[str, bytes]:
    """Every file under ``out`` but the lock, by relative path."""
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != publish.LOCK_NAME
    }


def plant(out: Path, files: dict[str, bytes]) -> None:
    for relative, data in files.items():
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        (out / relative).write_bytes(data)


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return make_config(tmp_path / "public")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(records=REPO / "samples" / "records"), encoding="utf-8")
    monkeypatch.setenv("FEEDPUB_NOW", NOW)
    monkeypatch.setenv("FEEDPUB_SECRET", "ownership-test-secret-0123456789")
    monkeypatch.delenv("FEEDPUB_STORE_URL", raising=False)
    return config


# --- the command line -----------------------------------------------------------


def test_a_build_into_a_folder_of_unrelated_files_refuses_and_writes_nothing(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    public = site.parent / "public"
    plant(public, UNRELATED)
    assert main(["--config", str(site), "build"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"{public / 'atom.xml'} (and 1 more): feedpub did not write this file" in err
    assert "--adopt" in err and "is missing" in err
    assert tree(public) == UNRELATED  # not one byte changed, no manifest, no feed


def test_adopt_takes_the_files_over_once_then_builds_need_nothing(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    public = site.parent / "public"
    plant(public, UNRELATED)
    assert main(["--config", str(site), "build", "--adopt"]) == 0
    assert "took over 2 file(s) feedpub did not write (--adopt): atom.xml, index.html" in (
        capsys.readouterr().err
    )
    manifest = publish.read_manifest(public)
    assert {"atom.xml", "index.html"} <= manifest.files
    assert (public / "atom.xml").read_bytes() != UNRELATED["atom.xml"]
    # tag/x is no feed of this site: not in the way, so not taken, not touched
    assert "tag/x/atom.xml" not in manifest.files
    assert (public / "tag/x/atom.xml").read_bytes() == UNRELATED["tag/x/atom.xml"]
    assert main(["--config", str(site), "build"]) == 0
    assert main(["--config", str(site), "build"]) == 0
    assert "did not write" not in capsys.readouterr().err


def test_run_with_a_foreign_file_fails_the_build_only_and_run_adopt_clears_it(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    public = site.parent / "public"
    plant(public, {"rss.xml": b"<rss>not ours</rss>\n"})
    assert main(["--config", str(site), "run"]) == 1  # a job failed; the others ran
    err = capsys.readouterr().err
    assert "build failed" in err and f"{public / 'rss.xml'}: feedpub did not write" in err
    assert (public / "rss.xml").read_bytes() == b"<rss>not ours</rss>\n"
    assert list((public / "archive" / "daily").glob("*.html")), "the digest still ran"
    assert main(["--config", str(site), "run", "--adopt"]) == 0
    assert main(["--config", str(site), "run"]) == 0
    assert b"<rss" in (public / "rss.xml").read_bytes()
    assert (public / "rss.xml").read_bytes() != b"<rss>not ours</rss>\n"


# --- the tree sync ---------------------------------------------------------------


def test_a_foreign_feed_in_a_tag_folder_stops_the_whole_build(cfg: Config) -> None:
    out = cfg.feeds.output
    planted = {"tag/بوتين/rss.xml": b"<rss>hand-made</rss>\n"}
    plant(out, planted)
    with pytest.raises(ForeignFileError, match=r"tag/بوتين/rss\.xml: feedpub did not write"):
        build(cfg, sample_articles())
    assert tree(out) == planted


@pytest.mark.parametrize(
    ("in_the_way", "refused"),
    [
        ("other bytes", True),
        ("a symlink to a file of the very bytes feedpub would write", True),
        ("the very bytes feedpub would write", False),  # nothing would be overwritten
    ],
)
def test_what_in_the_way_is_refused(
    cfg: Config, tmp_path: Path, in_the_way: str, refused: bool
) -> None:
    reference = make_config(tmp_path / "reference")
    build(reference, sample_articles())
    wanted = (reference.feeds.output / "atom.xml").read_bytes()
    out = cfg.feeds.output
    out.mkdir()
    if in_the_way == "other bytes":
        (out / "atom.xml").write_bytes(b"<feed/>\n")
    elif in_the_way.startswith("a symlink"):
        (out / "mine.xml").write_bytes(wanted)
        (out / "atom.xml").symlink_to(out / "mine.xml")
    else:
        (out / "atom.xml").write_bytes(wanted)
    if refused:
        with pytest.raises(ForeignFileError, match=r"atom\.xml: feedpub did not write"):
            build(cfg, sample_articles())
        assert not (out / MANIFEST_NAME).exists()
    else:
        report = build(cfg, sample_articles())
        assert "atom.xml" in report.unchanged
        assert "atom.xml" in publish.read_manifest(out).files


def test_an_adopted_file_is_owned_and_removed_when_no_longer_made(cfg: Config) -> None:
    out = cfg.feeds.output
    plant(out, {"tag/بوتين/atom.xml": b"<feed>hand-made</feed>\n"})
    build(cfg, sample_articles(), adopt=True)
    without_putin = [a for a in sample_articles() if PUTIN not in a.tags]
    report = build(cfg, without_putin)
    assert "tag/بوتين/atom.xml" in report.removed
    assert not (out / "tag" / "بوتين").exists()


@pytest.mark.parametrize(
    "damage",
    [
        "missing",
        "unreadable",  # JSON torn by hand
        "a version this feedpub does not know",
    ],
)
def test_a_lost_manifest_refuses_changed_files_and_names_adopt(cfg: Config, damage: str) -> None:
    build(cfg, sample_articles())
    out = cfg.feeds.output
    manifest = out / MANIFEST_NAME
    if damage == "missing":
        manifest.unlink()
    elif damage == "unreadable":
        manifest.write_text('{"version": 1, "files": [', encoding="utf-8")
    else:
        manifest.write_text('{"version": 99, "files": []}', encoding="utf-8")
    # The same data: every file already holds its bytes, nothing is overwritten.
    assert build(cfg, sample_articles()).written == ()
    manifest.write_text('{"version": 99, "files": []}', encoding="utf-8")
    before = tree(out)
    newer = [*sample_articles(), article(10, POLITICS)]
    with pytest.raises(
        ForeignFileError, match=r"atom\.xml .*is not a version 1 or 2 manifest.*--adopt"
    ):
        build(cfg, newer)
    assert tree(out) == before
    report = build(cfg, newer, adopt=True)
    assert "atom.xml" in report.written
    assert publish.read_manifest(out).complete


def test_a_manifest_of_an_older_feedpub_without_fingerprints_still_owns_its_files(
    cfg: Config,
) -> None:
    """Upgrade: version 1 has always had ``files``; ``stamp`` came later, and
    a manifest lacking ``fingerprints`` only costs one full render."""
    build(cfg, sample_articles())
    out = cfg.feeds.output
    files = sorted(publish.read_manifest(out).files)
    (out / MANIFEST_NAME).write_text(json.dumps({"version": 1, "files": files}), "utf-8")
    newer = [*sample_articles(), article(10, POLITICS)]
    report = build(cfg, newer)
    assert "atom.xml" in report.written
    assert publish.read_manifest(out).complete
    written = json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert written["version"] == 2 and "files" not in written  # upgraded in place


@pytest.mark.parametrize(
    ("manifest", "owned"),
    [
        ({"version": 2, "fingerprints": {"a.xml": "p"}, "unprinted": ["b.xml"]},
         {"a.xml", "b.xml"}),
        ({"version": 2, "fingerprints": {"a.xml": "p"}}, {"a.xml"}),
        ({"version": 2, "fingerprints": {"a.xml": 3}}, {"a.xml"}),  # a bad value still owns
        ({"version": 2, "files": ["a.xml"]}, set()),  # no fingerprints: owns nothing
        ({"version": 1, "files": ["a.xml"], "fingerprints": {"b.xml": "p"}}, {"a.xml"}),
    ],
)  # fmt: skip
def test_what_a_manifest_owns_by_version(
    tmp_path: Path, manifest: dict[str, object], owned: set[str]
) -> None:
    """Version 2: its fingerprints' paths and the unprinted ones (a path is
    written once); version 1: its list of files, fingerprints or not."""
    tmp_path.joinpath(MANIFEST_NAME).write_text(json.dumps(manifest), encoding="utf-8")
    assert publish.read_manifest(tmp_path).files == owned


def test_a_build_killed_between_renames_leaves_only_files_the_next_build_owns(
    cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New paths enter the manifest before their files are written: a build
    that dies after renaming some of them is followed by builds that need no
    --adopt and remove what is no longer made."""
    out = cfg.feeds.output
    base = [a for a in sample_articles() if PUTIN not in a.tags]
    build(cfg, base)
    assert not (out / "tag" / "بوتين").exists()
    real = os.replace
    renames = 0

    def dying(source: str | Path, target: str | Path) -> None:
        nonlocal renames
        if Path(target).parent.name == "بوتين":
            renames += 1
            if renames == 3:  # two of the new tag's three feeds are in place
                raise OSError(5, "Input/output error")
        real(source, target)

    monkeypatch.setattr(os, "replace", dying)
    with pytest.raises(publish.OutputError, match="Input/output error"):
        build(cfg, sample_articles())
    monkeypatch.setattr(os, "replace", real)
    assert list((out / "tag" / "بوتين").glob("*")), "the killed build had written the new tag"
    report = build(cfg, base)  # the new tag is gone again before a build completes
    assert not (out / "tag" / "بوتين").exists(), report
    fresh = make_config(out.parent / "fresh")
    build(fresh, base)
    assert tree(out).keys() - {MANIFEST_NAME} == tree(fresh.feeds.output).keys() - {MANIFEST_NAME}
