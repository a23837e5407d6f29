"""Which files ingest reads: discovery under the configured sources, and
the name each file's articles and rejects carry."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from feedpub.model import Reject

# Scraped text pages (``pages``) and saved HTML pages (``html_pages``): one
# article a file, read by the ingest worker pool.
SCRAPED_SUFFIXES: tuple[str, ...] = (".txt",)
HTML_SUFFIXES: tuple[str, ...] = (".html", ".htm")
PAGE_SUFFIXES: tuple[str, ...] = SCRAPED_SUFFIXES + HTML_SUFFIXES
RECORD_SUFFIXES: tuple[str, ...] = (".jsonl", ".json", ".yaml", ".yml")
# Line-per-record files: read as a stream, each line bounded by
# ``ingest.max_article_bytes`` and the file by nothing (an export of a whole
# site is one of these); the others are parsed whole, under max_file_bytes.
STREAM_SUFFIXES: tuple[str, ...] = (".jsonl",)
SUFFIXES: tuple[str, ...] = PAGE_SUFFIXES + RECORD_SUFFIXES


def discover(roots: Sequence[Path], now: datetime) -> tuple[list[Path], list[Reject]]:
    """Every .txt/.html/.htm/.jsonl/.json/.yaml/.yml file under each root
    (a root may also name one file), sorted within each root, roots in config
    order, each file once. Hidden files and folders are skipped.
    Problems (a missing source path, an unreadable folder) come back as
    Rejects stamped ``now``; they never stop the others."""
    paths: list[Path] = []
    seen: set[Path] = set()
    problems: list[Reject] = []
    for root in roots:
        try:
            if root.is_file():
                if root.suffix.lower() not in SUFFIXES:
                    problems.append(
                        Reject(
                            str(root),
                            f"source file is not one of {', '.join(SUFFIXES)}",
                            now,
                        )
                    )
                    continue
                found = [root]
            elif root.is_dir():
                found = sorted(
                    p
                    for p in root.rglob("*")
                    if p.suffix.lower() in SUFFIXES
                    and not any(part.startswith(".") for part in p.relative_to(root).parts)
                    and p.is_file()
                )
            else:
                problems.append(Reject(str(root), "source path does not exist", now))
                continue
        except OSError as exc:
            problems.append(Reject(str(root), f"cannot list source: {exc.strerror or exc}", now))
            continue
        for path in found:
            if path not in seen:
                seen.add(path)
                paths.append(path)
    return paths, problems


def source_name(path: Path) -> str:
    """``path`` as the ``source`` of its articles and rejects: its text,
    with the bytes of a file name that is not UTF-8 written as \\xNN (the
    store cannot hold the lone surrogates Python decodes them to)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")
