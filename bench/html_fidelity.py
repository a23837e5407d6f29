"""How well the body of an Arabic HTML page is extracted: trafilatura as
it comes (several settings), and feedpub's reading (trafilatura after the
ad and comment boxes are pruned, then each block judged), against the
editor's reading of every page of ``tests/fixtures/html`` (its
``NAME.expected.json``).

    .venv/bin/python bench/html_fidelity.py [--layouts] [--show N]

For each way of extracting, one row: the article blocks (paragraphs,
subheadings, list items, quotes) found exactly, the pages with every block,
the blocks that are not the article's (chrome that leaked: menus, ad
labels, read-also links, comments, the headline again) and on how many
pages. Not a speed measurement (``bench/html_extract.py`` is one).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import trafilatura

from feedpub import ingest
from feedpub.config import IngestConfig, TagsConfig
from feedpub.ingest import html_body
from feedpub.ingest.article import clean_content
from feedpub.ingest.context import FileContext
from feedpub.ingest.html_pages import paragraphs_of, read_page

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "html"
TZ = ZoneInfo("Asia/Damascus")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=TZ)
BASE = {"output_format": "html", "include_formatting": True, "include_images": True}
SETTINGS: dict[str, dict[str, Any]] = {
    "trafilatura, defaults": {},
    "trafilatura, no comments": {"include_comments": False},
    "trafilatura, precision": {"include_comments": False, "favor_precision": True},
    "trafilatura, precision, fast": {
        "include_comments": False,
        "favor_precision": True,
        "fast": True,
    },
    "trafilatura, recall": {"include_comments": False, "favor_recall": True},
}


@dataclass
class Tally:
    blocks: int = 0
    exact: int = 0
    pages: int = 0
    whole_pages: int = 0
    leaked: int = 0
    leaky_pages: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, page: str, title: str, want: list[str], got: list[str]) -> None:
        self.pages += 1
        self.blocks += len(want)
        found = sum(1 for block in want if block in got)
        self.exact += found
        self.whole_pages += found == len(want)
        extra = [block for block in got if block not in want and block != title]
        self.leaked += len(extra)
        self.leaky_pages += bool(extra)
        self.examples.extend(f"{page}: {block[:70]}" for block in extra)

    def row(self, name: str) -> str:
        return (
            f"| {name} | {self.exact}/{self.blocks} ({self.exact / self.blocks:.1%}) "
            f"| {self.whole_pages}/{self.pages} | {self.leaked} | {self.leaky_pages} |"
        )


def trafilatura_blocks(options: dict[str, Any]) -> Callable[[Path], list[str]]:
    def extract(page: Path) -> list[str]:
        found = trafilatura.extract(page.read_bytes(), **BASE, **options)
        return paragraphs_of(clean_content(found)) if found else []

    return extract


def feedpub_blocks(page: Path) -> list[str]:
    run = ingest.settings(IngestConfig(), TagsConfig(), timezone=TZ, site_url="https://x.example")
    ctx = FileContext(source=str(page), settings=run, now=NOW, mtime=NOW)
    reading = read_page(page.read_bytes(), ctx, path=page)
    return paragraphs_of(reading.content) if reading.reject is None else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layouts", action="store_true", help="one table per layout too")
    parser.add_argument("--show", type=int, default=0, metavar="N", help="N leaked blocks a row")
    args = parser.parse_args(argv)
    pages = []
    for page in sorted(CORPUS.glob("*/*.html")):
        want = json.loads((page.parent / f"{page.stem}.expected.json").read_text("utf-8"))
        if "blocks" in want:
            pages.append((page, want))
    ways: dict[str, Callable[[Path], list[str]]] = {
        name: trafilatura_blocks(options) for name, options in SETTINGS.items()
    }
    modes = ("favor_precision", "favor_recall", "fast")
    chosen = ", ".join(k for k in modes if html_body.OPTIONS.get(k))
    ways[f"feedpub (trafilatura {chosen or 'balanced'}, prepared, judged)"] = feedpub_blocks
    groups = {"all": pages}
    if args.layouts:
        for page, want in pages:
            groups.setdefault(page.parent.name, []).append((page, want))
    print(f"trafilatura {trafilatura.__version__}, {len(pages)} article pages of {CORPUS}\n")
    for group, members in groups.items():
        print(f"### {group}\n")
        print("| extraction | blocks exact | pages whole | chrome blocks | pages with chrome |")
        print("| --- | --- | --- | --- | --- |")
        for name, extract in ways.items():
            tally = Tally()
            for page, want in members:
                label = f"{page.parent.name}/{page.stem}"
                tally.add(label, want["title"], want["blocks"], extract(page))
            print(tally.row(name))
            for example in tally.examples[: args.show]:
                print(f"|   {example} | | | | |")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
