"""A large JSONL export ingested as a stream, against the whole-file read it
replaced (issue 22, point 8): records per second and peak memory.

    .venv/bin/python bench/jsonl_stream.py --records 100000 --repeat 1
    .venv/bin/python bench/jsonl_stream.py --records 2000 --repeat 1   # does it work

The file: N Arabic records of a news site's size (title, a summary, a body
of several HTML paragraphs, tags, dates: about 5.3 kB a line, so 100,000
records are about 528 MB), one per line, written once (untimed).

Each round, alternating so a busy machine slows both alike, in a process of
its own (peak RSS is its ``ru_maxrss``, from wait4) into a fresh SQLite
store:

* stream: ``app.ingest_sources`` with the file in a ``path:`` source, as
  ``feedpub ingest`` reads it now (a hashing pass, then a line at a time,
  stored in parts);
* whole (the baseline): what ingest did before: the file read whole (the
  bytes under a ``max_file_bytes`` raised to fit), ``records.read_jsonl``
  of them into one list, the last record of each id kept, and all of it
  written as one file by ``write_read_files``.

The target (issue 22): any size, peak RSS at most 300 MB for the 528 MB
file, and no slower than the whole-file read. Medians of the rounds are
printed as one markdown table.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from feedpub import app as pipeline
from feedpub import ingest
from feedpub.config import (
    Config,
    DeliveryConfig,
    EmailConfig,
    FeedsConfig,
    IngestConfig,
    SiteConfig,
    SourceConfig,
    StoreConfig,
    TagsConfig,
)
from feedpub.ingest.context import FileContext
from feedpub.ingest.records import read_jsonl
from feedpub.model import Article, Reject
from feedpub.store import ReadFile, SqlStore

NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
GOAL_RSS_MB = 300
MIB = 1024 * 1024

WORDS = [
    "أعلنت",
    "الحكومة",
    "السورية",
    "اليوم",
    "عن",
    "خطة",
    "جديدة",
    "لدعم",
    "قطاع",
    "الزراعة",
    "في",
    "المحافظات",
    "الشمالية",
    "وقال",
    "وزير",
    "الاقتصاد",
    "إن",
    "الخطة",
    "تشمل",
    "قروضاً",
    "ميسرة",
    "للمزارعين",
    "وتوسيع",
    "شبكات",
    "الري",
    "وأضاف",
    "أن",
    "الأسواق",
    "المحلية",
    "ستشهد",
    "استقراراً",
    "في",
    "أسعار",
    "المواد",
    "الغذائية",
    "خلال",
    "الأشهر",
    "المقبلة",
    "بينما",
    "أكد",
    "خبراء",
    "أن",
    "نجاح",
    "الخطة",
    "مرهون",
    "بتوفر",
    "الوقود",
    "والكهرباء",
    "في",
    "الأرياف",
]
TAGS = ("اقتصاد", "سياسة", "زراعة", "دمشق", "حلب", "طاقة", "رياضة", "ثقافة")


def _paragraph(n: int, p: int, words: int) -> str:
    start = (n * 7 + p * 13) % len(WORDS)
    chosen = [WORDS[(start + i) % len(WORDS)] for i in range(words)]
    return " ".join(chosen) + f" ({n}-{p})."


def record(n: int) -> dict[str, object]:
    """Record ``n``: about 5.3 kB of JSON, most of it Arabic body text."""
    body = "".join(f"<p>{_paragraph(n, p, 79)}</p>" for p in range(5))
    return {
        "id": f"export-{n}",
        "title": f"خبر رقم {n}: {_paragraph(n, 9, 8)}",
        "summary": _paragraph(n, 10, 30),
        "content": body,
        "author": "سارة الأحمد",
        "published": (NOW - timedelta(minutes=n)).isoformat(),
        "tags": [TAGS[n % len(TAGS)], TAGS[(n // 3) % len(TAGS)]],
        "url": f"https://news.example.org/{n}",
    }


def write_export(path: Path, count: int) -> int:
    with path.open("w", encoding="utf-8") as out:
        for n in range(count):
            out.write(json.dumps(record(n), ensure_ascii=False) + "\n")
    return path.stat().st_size


def config(folder: Path, store: Path, max_file_bytes: int) -> Config:
    return Config(
        path=folder.parent / "config.yaml",
        site=SiteConfig(
            title="أخبار",
            url="https://news.example.org",
            language="ar",
            timezone=ZoneInfo("Asia/Damascus"),
            description="",
        ),
        store=StoreConfig(url=f"sqlite:///{store}"),
        sources=(SourceConfig.folder(folder),),
        tags=TagsConfig(),
        ingest=IngestConfig(max_file_bytes=max_file_bytes),
        feeds=FeedsConfig(output=folder.parent / "public", url="https://news.example.org"),
        digests=(),
        email=EmailConfig(),
        delivery=DeliveryConfig(outbox=folder.parent / "outbox"),
    )


def child_stream(cfg: Config) -> int:
    with SqlStore.open(cfg.store.url) as store:
        report = pipeline.ingest_sources(cfg, store, NOW)
    return report.new


def child_whole(cfg: Config) -> int:
    """The whole-file read as ingest did it before the stream."""
    (path,) = sorted(cfg.sources[0].path.glob("*.jsonl"))
    run = ingest.settings(cfg.ingest, cfg.tags, timezone=cfg.site.timezone, site_url=cfg.site.url)
    data = path.read_bytes()
    mtime = datetime.fromtimestamp(int(path.stat().st_mtime), tz=UTC)
    ctx = FileContext(source=str(path), settings=run, now=NOW, mtime=mtime)
    items = read_jsonl(io.BytesIO(data), ctx)
    latest = {i.id: i for i in items if isinstance(i, Article)}
    rejects = [i for i in items if isinstance(i, Reject)]
    with SqlStore.open(cfg.store.url) as store:
        written = store.write_read_files(
            [ReadFile(str(path), list(latest.values()), rejects, None)], NOW
        )
    return written.counts["new"]


def measure(mode: str, folder: Path, work: Path, size: int) -> dict[str, float]:
    store = work / f"{mode}.db"
    store.unlink(missing_ok=True)
    argv = [sys.executable, __file__, "--child", mode, str(folder), str(store), str(size)]
    started = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    assert child.stdout is not None
    out = child.stdout.read().strip()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{mode} failed: {out}")
    stored = int(out)
    store.unlink(missing_ok=True)
    return {
        "wall_s": round(wall, 2),
        "records_per_s": round(stored / wall),
        "peak_rss_mb": round(usage.ru_maxrss * 1024 / 1e6, 1),
        "stored": stored,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=None, help="where the export is written")
    parser.add_argument("--child", nargs=4, metavar=("MODE", "FOLDER", "STORE", "SIZE"))
    args = parser.parse_args(argv)
    if args.child:
        mode, folder, store, size = args.child
        # The baseline needs the cap raised to read the file at all.
        cfg = config(Path(folder), Path(store), max(int(size) + MIB, 64 * MIB))
        print(child_stream(cfg) if mode == "stream" else child_whole(cfg))
        return 0
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        folder = work / "export"
        folder.mkdir()
        size = write_export(folder / "articles.jsonl", args.records)
        print(f"{args.records} records, {size / 1e6:.0f} MB", file=sys.stderr)
        rounds: dict[str, list[dict[str, float]]] = {"stream": [], "whole": []}
        for n in range(args.repeat):
            order = ("stream", "whole") if n % 2 == 0 else ("whole", "stream")
            for mode in order:
                rounds[mode].append(measure(mode, folder, work, size))
                print(mode, rounds[mode][-1], file=sys.stderr)
    median = {
        mode: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        for mode, runs in rounds.items()
    }
    ratio = median["stream"]["records_per_s"] / median["whole"]["records_per_s"]
    print(f"| {args.records:,} records, {size / 1e6:.0f} MB | records/s | peak RSS | wall |")
    print("| --- | --- | --- | --- |")
    for mode, label in (("whole", "whole-file read (before)"), ("stream", "stream (now)")):
        m = median[mode]
        speed, rss, wall = m["records_per_s"], m["peak_rss_mb"], m["wall_s"]
        print(f"| {label} | {speed:,.0f} | {rss:,.0f} MB | {wall} s |")
    rss = median["stream"]["peak_rss_mb"]
    verdict = "met" if rss <= GOAL_RSS_MB else "NOT met"
    print(f"\nstream/whole speed {ratio:.2f}; peak RSS goal {GOAL_RSS_MB} MB: {verdict}")
    print(json.dumps({"records": args.records, "bytes": size, "median": median}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
