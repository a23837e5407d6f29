"""HTML page extraction, timed against its baseline in the same run.

    .venv/bin/python bench/html_extract.py --pages 10000 --repeat 3

The goals (issue 21): extraction on both cores at least 0.8x the throughput
of the chosen extractor called bare on the same pages; peak memory under
300 MB for 10,000 pages.

The pages are the corpus of ``tests/fixtures/html`` copied until there are
``--pages`` of them, each copy with an address of its own (so an article of
its own), under ``bench/work/html-N/``. Scenarios, each a process of its
own, run in interleaved rounds (A B C A B C ...); medians are reported:

* ``bare``: ``trafilatura.extract`` of every page's bytes, with feedpub's
  options (``ingest.html_body.OPTIONS``), in one process: the baseline;
* ``read-1``: ``ingest.read_path`` of every page in one process: feedpub's
  whole reading of a page (decoding, metadata, the body, judging,
  sanitising, the article) on one core, no store;
* ``ingest-2``: ``feedpub ingest`` of the pages into a fresh SQLite store
  with ``ingest.workers: 2``: the worker pool on both cores, and the store.

Wall time is from spawn to reaping; CPU is the child's and its reaped
workers'; "peak RSS, largest" is wait4's (the largest process of the
tree), "peak RSS, all" the sum over the process tree, sampled every 0.2 s
from /proc (the pool's workers are separate processes). Prints a markdown
table; ``--json FILE`` writes every sample. Exits 1 when a scenario failed
or read another number of pages than it was given; never for a timing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
CORPUS = BENCH.parent / "tests" / "fixtures" / "html"
GOAL_RATIO = 0.8
GOAL_RSS_MB = 300
NOW = "2026-12-01T12:00:00+03:00"
CONFIG = """\
site:
  title: "أخبار"
  url: "https://news.example.org"
  language: ar
  timezone: Asia/Damascus
store:
  url: "sqlite:///{db}"
sources:
  - path: {pages}
ingest:
  workers: {workers}
feeds:
  output: public
delivery:
  outbox: outbox
"""
_CANONICAL = re.compile(
    rb"""((?:rel=["']canonical["']|itemprop=["']mainEntityOfPage["'])\s+href=["'])([^"']+)"""
)
_INGEST = re.compile(r"ingest: (\d+) new, (\d+) updated, (\d+) unchanged, (\d+) rejected")
_PAGES_READ = re.compile(r"pages read: (\d+) articles, (\d+) rejects")


@dataclass(frozen=True)
class Sample:
    scenario: str
    wall_s: float
    cpu_s: float
    peak_rss_mb: float  # the largest process (wait4)
    peak_tree_rss_mb: float  # the whole process tree, sampled
    articles: int
    rejects: int
    exit_code: int


def make_pages(count: int, work: Path) -> Path:
    """``count`` pages copied from the corpus, each with an address of its
    own; made once per count and corpus."""
    sources = sorted(CORPUS.glob("*/*.html"))
    stamp = str(sum(p.stat().st_mtime_ns for p in sources))
    root = work / f"html-{count}"
    marker = root / "made.json"
    if marker.exists() and json.loads(marker.read_text()) == {"count": count, "stamp": stamp}:
        return root / "pages"
    shutil.rmtree(root, ignore_errors=True)
    pages = root / "pages"
    for n in range(count):
        source = sources[n % len(sources)]
        folder = pages / f"{source.parent.name}-{n // 1000:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        data = _CANONICAL.sub(
            lambda m, n=n: m.group(1) + m.group(2) + f"#copy-{n}".encode(), source.read_bytes()
        )
        target = folder / f"{source.stem}-{n}.html"
        target.write_bytes(data)
        os.utime(target, (1_764_000_000, 1_764_000_000))
    marker.write_text(json.dumps({"count": count, "stamp": stamp}))
    return pages


# --- the children -----------------------------------------------------------------------------


def child_bare(pages: Path) -> None:
    import trafilatura

    from feedpub.ingest.html_body import OPTIONS

    found = empty = 0
    for page in sorted(pages.rglob("*.html")):
        if trafilatura.extract(page.read_bytes(), **OPTIONS):  # type: ignore[arg-type]
            found += 1
        else:
            empty += 1
    print(f"pages read: {found} articles, {empty} rejects")


def child_read(pages: Path) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from feedpub import ingest
    from feedpub.config import IngestConfig, TagsConfig
    from feedpub.model import Article

    tz = ZoneInfo("Asia/Damascus")
    now = datetime.fromisoformat(NOW)
    run = ingest.settings(
        IngestConfig(), TagsConfig(), timezone=tz, site_url="https://news.example.org"
    )
    articles = rejects = 0
    for page in sorted(pages.rglob("*.html")):
        for item in ingest.read_path(page, run, now):
            if isinstance(item, Article):
                articles += 1
            else:
                rejects += 1
    print(f"pages read: {articles} articles, {rejects} rejects")


# --- running and measuring --------------------------------------------------------------------


def _tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
            todo.extend(int(c) for c in children)
    return found


def _rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        return resident * os.sysconf("SC_PAGE_SIZE") / 1e6
    return 0.0


def run(scenario: str, argv: list[str], log: Path, timeout_s: float) -> Sample:
    with log.open("wb") as out:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDPUB_")}
        env["FEEDPUB_NOW"] = NOW
        started = time.perf_counter()
        child = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        peak = [0.0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.2):
                peak[0] = max(peak[0], sum(_rss_mb(p) for p in _tree(child.pid)))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        timer = threading.Timer(timeout_s, lambda: os.killpg(child.pid, signal.SIGKILL))
        timer.start()
        try:
            _, status, usage = os.wait4(child.pid, 0)
        finally:
            timer.cancel()
            done.set()
        wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(encoding="utf-8", errors="replace")
    articles = rejects = -1
    if found := _INGEST.search(text):
        articles, rejects = (
            int(found.group(1)) + int(found.group(2)) + int(found.group(3)),
            int(found.group(4)),
        )
    elif found := _PAGES_READ.search(text):
        articles, rejects = int(found.group(1)), int(found.group(2))
    return Sample(
        scenario,
        round(wall, 3),
        round(usage.ru_utime + usage.ru_stime, 3),
        round(usage.ru_maxrss * 1024 / 1e6, 1),
        round(peak[0], 1),
        articles,
        rejects,
        child.returncode,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work", type=Path, default=BENCH / "work")
    parser.add_argument("--json", type=Path, help="write every sample here")
    parser.add_argument("--child", choices=("bare", "read"), help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        (child_bare if args.child == "bare" else child_read)(args.dir)
        return 0

    pages = make_pages(args.pages, args.work)
    logs = args.work / f"html-{args.pages}" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    timeout = 60 + 0.2 * args.pages
    samples: list[Sample] = []
    for round_number in range(args.repeat):
        store = args.work / f"html-{args.pages}" / f"round-{round_number}"
        shutil.rmtree(store, ignore_errors=True)
        store.mkdir(parents=True)
        config = store / "config.yaml"
        config.write_text(
            CONFIG.format(db=store / "store.sqlite", pages=pages, workers=args.workers),
            encoding="utf-8",
        )
        me = [python, str(Path(__file__).resolve()), "--dir", str(pages)]
        scenarios = {
            "bare": [*me, "--child", "bare"],
            "read-1": [*me, "--child", "read"],
            f"ingest-{args.workers}": [
                python,
                "-m",
                "feedpub",
                "--config",
                str(config),
                "-v",
                "ingest",
            ],
        }
        for name, command in scenarios.items():
            sample = run(name, command, logs / f"{name}-{round_number}.log", timeout)
            samples.append(sample)
            print(f"round {round_number + 1}/{args.repeat} {name}: {sample.wall_s} s", flush=True)
        shutil.rmtree(store, ignore_errors=True)

    failed = [s for s in samples if s.exit_code != 0 or s.articles + s.rejects != args.pages]
    names = list(dict.fromkeys(s.scenario for s in samples))
    medians = {
        name: {
            key: statistics.median(getattr(s, key) for s in samples if s.scenario == name)
            for key in ("wall_s", "cpu_s", "peak_rss_mb", "peak_tree_rss_mb")
        }
        for name in names
    }
    bare_rate = args.pages / medians["bare"]["wall_s"]
    print(f"\n{args.pages} pages, {args.repeat} round(s), medians\n")
    print(
        "| scenario | wall s | pages/s | x bare | CPU s | peak RSS, largest MB | peak RSS, all MB |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, m in medians.items():
        rate = args.pages / m["wall_s"]
        cells = [
            name,
            f"{m['wall_s']:.2f}",
            f"{rate:.0f}",
            f"{rate / bare_rate:.2f}",
            f"{m['cpu_s']:.2f}",
            f"{m['peak_rss_mb']:.0f}",
            f"{m['peak_tree_rss_mb']:.0f}",
        ]
        print("| " + " | ".join(cells) + " |")
    both = medians[f"ingest-{args.workers}"]
    ratio = (args.pages / both["wall_s"]) / bare_rate
    print(
        f"\nextraction on {args.workers} workers: {ratio:.2f}x bare (goal >= {GOAL_RATIO}); "
        f"peak RSS of all its processes {both['peak_tree_rss_mb']:.0f} MB "
        f"(goal < {GOAL_RSS_MB} MB at 10,000 pages)"
    )
    if args.json:
        args.json.write_text(
            json.dumps({"pages": args.pages, "samples": [asdict(s) for s in samples]}, indent=2)
        )
    for sample in failed:
        print(f"FAILED: {sample}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
