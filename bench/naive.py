"""The baseline: what anyone would write with feedgen in an afternoon. Read
the JSONL records, keep the newest 20 articles per feed (the main feed and
one per tag), one FeedGenerator each, ``atom_file`` and ``rss_file``.

    .venv/bin/python bench/naive.py RECORDS_FOLDER OUTPUT_FOLDER

No store, no sanitising, no fingerprints, no JSON Feed, no OPML: it is the
floor a full feedpub build is compared against, not a competitor.
"""

from __future__ import annotations

import argparse
import heapq
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from feedgen.feed import FeedGenerator

SITE_TITLE = "أخبار الشام"
SITE_URL = "https://news.example.org"
ITEMS = 20


@dataclass(frozen=True)
class Record:
    id: str
    title: str
    summary: str
    content: str
    author: str | None
    published: datetime
    tags: tuple[str, ...]
    url: str | None


def read_records(folder: Path) -> list[Record]:
    records = []
    for path in sorted(folder.glob("*.jsonl")):
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if not line.strip():
                    continue
                raw = json.loads(line)
                records.append(
                    Record(
                        id=str(raw["id"]),
                        title=raw["title"],
                        summary=raw.get("summary", ""),
                        content=raw.get("content", ""),
                        author=raw.get("author"),
                        published=datetime.fromisoformat(raw["published"]),
                        tags=tuple(raw.get("tags", ())),
                        url=raw.get("url"),
                    )
                )
    return records


def folder_name(tag: str) -> str:
    # Enough to keep a tag inside its folder; feedpub's slugs do much more.
    return re.sub(r"[\s/\\]+", "-", tag.strip()) or "tag"


def write_feed(output: Path, title: str, records: list[Record]) -> None:
    feed = FeedGenerator()
    feed.id(f"{SITE_URL}/{output.name}")
    feed.title(title)
    feed.link(href=SITE_URL, rel="alternate")
    feed.description(title)
    feed.language("ar")
    for record in records:  # newest first
        entry = feed.add_entry(order="append")
        entry.id(record.url or f"tag:news.example.org,2026:article/{record.id}")
        entry.title(record.title)
        if record.url:
            entry.link(href=record.url)
        entry.description(record.summary)
        entry.content(record.content, type="html")
        entry.published(record.published)
        entry.updated(record.published)
        if record.author:
            entry.author(name=record.author)
    if records:
        feed.updated(records[0].published)
    output.mkdir(parents=True, exist_ok=True)
    feed.atom_file(str(output / "atom.xml"), pretty=False)
    feed.rss_file(str(output / "rss.xml"), pretty=False)


def build(records_folder: Path, output: Path) -> int:
    """Write every feed; returns how many feeds were written."""
    records = read_records(records_folder)
    by_tag: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        for tag in record.tags:
            by_tag[tag].append(record)

    def newest(items: list[Record]) -> list[Record]:
        return heapq.nlargest(ITEMS, items, key=lambda r: (r.published, r.id))

    write_feed(output, SITE_TITLE, newest(records))
    for tag, tagged in by_tag.items():
        write_feed(output / "tag" / folder_name(tag), f"{SITE_TITLE}: {tag}", newest(tagged))
    return 1 + len(by_tag)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("records", type=Path, help="folder of *.jsonl records")
    parser.add_argument("output", type=Path, help="folder to write the feeds into")
    args = parser.parse_args()
    feeds = build(args.records, args.output)
    print(f"naive: {feeds} feeds written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
