"""Fidelity of page extraction: every page under ``tests/fixtures/pages/<layout>/``
against its hand-written ``.expected.json`` (see that folder's README).

Only the command line and its ``articles --json`` output are used, so the test
survives changes to the internals. Each page is read twice: in its site's
folder, as one source, so an extractor may learn that site's chrome from the
lines its pages share; and alone in a folder of one, where nothing can be
learned and the built-in rules must do. The per-page tests (marker
``fidelity``) all pass today (71/71 in both modes); a page the extractor
cannot get right would be xfail(strict=True) with its reason.
``fidelity_figure()`` gives the totals (the module's ``__main__`` prints it):

    python tests/ingest/test_page_fidelity.py
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pages"
# After every mtime in the corpus, so no page is "from the future".
NOW = "2026-12-01T12:00:00+03:00"

CONFIG = """\
site:
  title: "أخبار الشام"
  url: "https://news.example.org"
  description: "آخر أخبار سورية والمنطقة والعالم"
  language: ar
  timezone: Asia/Damascus
store:
  url: "sqlite:///{db}"
sources:
  - path: {pages}
feeds:
  output: public
delivery:
  outbox: outbox
"""

_PARAGRAPH = re.compile(r"<p(?:\s[^>]*)?>(.*?)</p>", re.S)
_TAG = re.compile(r"<[^>]+>")
_WS = re.compile(r"\s+")


def layouts() -> list[str]:
    return sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


def pages(layout: str) -> list[str]:
    return sorted(p.name.removesuffix(".txt") for p in (FIXTURES / layout).glob("*.txt"))


def expected(layout: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (FIXTURES / layout / f"{name}.expected.json").read_text(encoding="utf-8")
    )
    return data


def _text(fragment: str) -> str:
    return _WS.sub(" ", html.unescape(_TAG.sub("", fragment))).strip()


def paragraphs(content: str) -> list[str]:
    """The stored content HTML as plain paragraphs, one per <p>…</p>."""
    return [text for text in map(_text, _PARAGRAPH.findall(content)) if text]


def _run(config: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "FEEDPUB_STORE_URL"}
    env["FEEDPUB_NOW"] = NOW
    done = subprocess.run(
        [sys.executable, "-m", "feedpub", "--config", str(config), *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"feedpub {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done.stdout


def extract(workdir: Path, *, alone: bool = False) -> dict[str, dict[str, Any]]:
    """Ingest the corpus in ``workdir``, in one run: each site's pages in a
    folder of their own (one source each, so a site's chrome may be learned
    from the lines its pages share), or with ``alone`` every page in a folder
    of its own (nothing can be learned from repetition: each page stands on
    the built-in rules alone). Article id -> the ``articles --json`` object."""
    mode = "alone" if alone else "sites"
    sources = []
    for layout in layouts():
        for name in pages(layout):
            folder = workdir / mode / (f"{layout}--{name}" if alone else layout)
            folder.mkdir(parents=True, exist_ok=True)
            _place(layout, name, folder)
            if alone or name == pages(layout)[0]:
                sources.append(f"  - path: {folder}\n")
    config = workdir / f"{mode}.yaml"
    text = CONFIG.format(db=workdir / f"{mode}.sqlite", pages="PAGES")
    config.write_text(text.replace("  - path: PAGES\n", "".join(sources)), encoding="utf-8")
    return _ingest(config)


def _place(layout: str, name: str, folder: Path) -> None:
    """Copy one page into ``folder`` with its golden's mtime."""
    target = folder / f"{name}.txt"
    shutil.copyfile(FIXTURES / layout / f"{name}.txt", target)
    stamp = datetime.fromisoformat(expected(layout, name)["mtime"]).timestamp()
    os.utime(target, (stamp, stamp))


def _ingest(config: Path) -> dict[str, dict[str, Any]]:
    _run(config, "ingest")
    articles: dict[str, dict[str, Any]] = {}
    for line in _run(config, "articles", "--json").splitlines():
        if line.strip():
            record = json.loads(line)
            articles[record["id"]] = record
    return articles


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


def differences(want: dict[str, Any], got: dict[str, Any] | None) -> list[str]:
    """What the extracted article gets wrong, one entry per field; empty when exact.
    A page without a date (``published: null``) must be dated by its mtime."""
    if got is None:
        return ["not ingested (rejected or missing)"]
    problems: list[str] = []
    for key in ("title", "summary"):
        if got[key] != want[key]:
            problems.append(f"{key}: got {got[key]!r}, want {want[key]!r}")
    got_paragraphs = paragraphs(got["content"] or "")
    if got_paragraphs != want["paragraphs"]:
        problems.append(
            "paragraphs: got\n  "
            + "\n  ".join(got_paragraphs)
            + "\nwant\n  "
            + "\n  ".join(want["paragraphs"])
        )
    # The store lists an article's tags by name, not in page order: compare the sets.
    got_tags = sorted(tag["name"] for tag in got["tags"])
    if got_tags != sorted(want["tags"]):
        problems.append(f"tags: got {got_tags}, want {sorted(want['tags'])}")
    if got["author"] != want["author"]:
        problems.append(f"author: got {got['author']!r}, want {want['author']!r}")
    published = want["published"] or want["mtime"]
    if _instant(got["published"]) != _instant(published):
        problems.append(f"published: got {got['published']}, want {published}")
    updated = want["updated"] or published
    if _instant(got["updated"]) != _instant(updated):
        problems.append(f"updated: got {got['updated']}, want {updated}")
    return problems


@cache
def _extracted(alone: bool) -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        return extract(Path(tmp), alone=alone)


CASES = [(layout, name) for layout in layouts() for name in pages(layout)]
# The six sites the corpus began with (7 pages each, chrome repeated on
# every page); the later ones are smaller, as a new site's first folder is.
FIRST_LAYOUTS = ("beirut-post", "khaleej-now", "mawqef-live", "nile-gate", "raqmi", "sham-times")


def test_corpus_shape() -> None:
    assert len(CASES) >= 71
    assert len(layouts()) >= 14
    names = [name for _layout, name in CASES]
    assert len(set(names)) == len(names), "page names are article ids: unique in the corpus"
    # Issue 23: at least 20 pages in at least 5 layouts beyond the first six
    # sites, some without a tag block.
    later = [(layout, name) for layout, name in CASES if layout not in FIRST_LAYOUTS]
    assert len(later) >= 20 and len({layout for layout, _ in later}) >= 5
    assert any(not expected(layout, name)["tags"] for layout, name in later)
    for layout in layouts():
        assert len(pages(layout)) >= (6 if layout in FIRST_LAYOUTS else 2), layout
        files = {p.name for p in (FIXTURES / layout).iterdir()}
        for name in pages(layout):
            assert f"{name}.expected.json" in files, f"{layout}/{name}"
            want = expected(layout, name)
            assert set(want) == GOLDEN_KEYS, f"{layout}/{name}"
            assert want["summary"] == want["paragraphs"][0], f"{layout}/{name}"
            assert 3 <= len(want["paragraphs"]) <= 8, f"{layout}/{name}"
            for key in ("published", "updated", "mtime"):
                if want[key] is not None:
                    assert _instant(want[key]).utcoffset() is not None, f"{layout}/{name}"


GOLDEN_KEYS = {
    "title",
    "summary",
    "paragraphs",
    "tags",
    "author",
    "published",
    "updated",
    "mtime",
}


@pytest.mark.fidelity
@pytest.mark.parametrize(("layout", "name"), CASES, ids=[f"{lay}/{n}" for lay, n in CASES])
def test_page_fidelity(layout: str, name: str) -> None:
    problems = differences(expected(layout, name), _extracted(False).get(name))
    assert not problems, f"{layout}/{name}:\n" + "\n".join(problems)


@pytest.mark.fidelity
@pytest.mark.parametrize(("layout", "name"), CASES, ids=[f"{lay}/{n}" for lay, n in CASES])
def test_page_fidelity_alone(layout: str, name: str) -> None:
    """The same page in a folder of one: no chrome learned, the same article."""
    problems = differences(expected(layout, name), _extracted(True).get(name))
    assert not problems, f"{layout}/{name} (alone):\n" + "\n".join(problems)


def fidelity_figure() -> str:
    """'N/M pages extracted exactly' in their site's folder and alone,
    ingesting the corpus afresh; the first six sites' pages apart."""
    with tempfile.TemporaryDirectory() as tmp:
        in_folder = extract(Path(tmp))
        alone = extract(Path(tmp), alone=True)
    exact = {
        (layout, name): (
            not differences(expected(layout, name), in_folder.get(name)),
            not differences(expected(layout, name), alone.get(name)),
        )
        for layout, name in CASES
    }

    def count(mode: int, first: bool | None = None) -> str:
        cases = [c for c in CASES if first is None or (c[0] in FIRST_LAYOUTS) == first]
        return f"{sum(exact[c][mode] for c in cases)}/{len(cases)}"

    return (
        f"{count(0)} pages extracted exactly in their site's folder "
        f"({count(0, True)} of the first six sites, {count(0, False)} of the later ones); "
        f"{count(1)} alone in a folder of one "
        f"({count(1, True)} and {count(1, False)})"
    )


if __name__ == "__main__":
    print(fidelity_figure())
