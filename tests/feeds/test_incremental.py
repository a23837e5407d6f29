"""Fingerprints: deterministic output, and feeds kept when their inputs did not change."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
from pathlib import Path

from feedpub.config import FeedsConfig
from support.feedfactory import (
    POLITICS,
    PUTIN,
    article,
    feeds_config,
    plan_for,
    render,
    sample_articles,
)


def test_two_renders_are_byte_identical(cfg: FeedsConfig) -> None:
    first = render(plan_for(sample_articles()), cfg)
    second = render(plan_for(sample_articles()), cfg)
    assert first.files == second.files
    assert first.fingerprints == second.fingerprints


_DIGEST_SCRIPT = """
import hashlib, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from support.feedfactory import feeds_config, plan_for, render, sample_articles
tree = render(plan_for(sample_articles()), feeds_config(Path({out!r})))
h = hashlib.sha256()
for path in sorted(tree.files):
    h.update(path.encode() + tree.files[path])
print(h.hexdigest())
"""


def test_builds_on_other_machines_are_byte_identical(tmp_path: Path) -> None:
    """Another process with another time zone, locale and hash seed."""
    script = _DIGEST_SCRIPT.format(tests=str(Path(__file__).parents[1]), out=str(tmp_path / "p"))
    digests = set()
    for tz, seed in (("UTC", "1"), ("America/New_York", "2")):
        env = {**os.environ, "TZ": tz, "PYTHONHASHSEED": seed, "LC_ALL": "C.UTF-8"}
        run = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        digests.add(run.stdout.strip())
    tree = render(plan_for(sample_articles()), feeds_config(tmp_path / "p"))
    h = hashlib.sha256()
    for path in sorted(tree.files):
        h.update(path.encode() + (tree.files[path] or b""))
    digests.add(h.hexdigest())
    assert len(digests) == 1


def test_unchanged_feeds_are_not_rendered_again(cfg: FeedsConfig) -> None:
    articles = sample_articles()
    first = render(plan_for(articles), cfg)
    assert all(data is not None for data in first.files.values())
    same = render(plan_for(articles), cfg, first.fingerprints)
    assert same.rendered == ()
    assert same.fingerprints == first.fingerprints

    newer = [*articles, article(10, POLITICS)]
    after = render(plan_for(newer), cfg, first.fingerprints)
    assert set(after.rendered) == {
        f"{d}{name}" for d in ("", "tag/سياسة/") for name in ("atom.xml", "rss.xml", "feed.json")
    } | {"tag/سياسة/index.html"}  # the topic page lists the new article

    edited = [dataclasses.replace(a, content_hash="new") if a.id == "a3" else a for a in articles]
    after_edit = render(plan_for(edited), cfg, first.fingerprints)
    assert {p.rsplit("/", 1)[0] for p in after_edit.rendered} == {"atom.xml", "rss.xml",
        "feed.json", "tag/c-net"}  # fmt: skip

    renamed = PUTIN.__class__(key=PUTIN.key, name="فلاديمير بوتين", slug=PUTIN.slug)
    retagged = [
        dataclasses.replace(a, tags=tuple(renamed if t == PUTIN else t for t in a.tags))
        for a in articles
    ]
    after_rename = render(plan_for(retagged), cfg, first.fingerprints)
    assert "feeds.opml" in after_rename.rendered  # the tag feed's title changed
    assert "tag/سياسة/atom.xml" in after_rename.rendered  # article 2's category label changed
    assert "tag/c-net/atom.xml" in after_rename.rendered  # article 4 has the tag as well
