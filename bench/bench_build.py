"""Feed build benchmark: a synthetic store, a cold build as the baseline, and
the incremental builds compared against it in the same run.

    .venv/bin/python bench/bench_build.py                      # 20k articles, 400 tags
    .venv/bin/python bench/bench_build.py --articles 100000 --tags 2000

Prints a table of medians (this machine is small and noisy: read the ratios).
Exits non-zero when an incremental build is not clearly cheaper than the cold
one, or when a no-change build writes anything.
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from feedpub import pipeline
from feedpub.config import Config, load_config
from feedpub.model import Article, BuildReport, Tag
from feedpub.store import SqlStore
from feedpub.textutil import make_tag

START = datetime(2026, 1, 1, tzinfo=UTC)
PARAGRAPH = (
    "أعلنت وزارة النقل اليوم عن افتتاح طريق سريع بطول 150 كم يربط بين المدن الساحلية "
    "والداخلية، في خطوة قالت إنها ستختصر زمن الرحلة إلى النصف وتخفف الازدحام. "
)


def make_articles(count: int, tags: list[Tag], rng: random.Random) -> list[Article]:
    articles = []
    for n in range(count):
        published = START + timedelta(minutes=7 * n)
        # a few popular tags and a long tail, as on a news site
        chosen = {tags[min(int(rng.paretovariate(1.2)) - 1, len(tags) - 1)] for _ in range(3)}
        articles.append(
            Article(
                id=f"a{n:07d}",
                title=f"خبر رقم {n} عن {next(iter(chosen)).name}",
                summary=PARAGRAPH[:120],
                content="".join(f"<p>{PARAGRAPH}</p>" for _ in range(4)),
                published=published,
                updated=published,
                url=f"https://news.example.org/a/{n}",
                tags=tuple(sorted(chosen)),
                content_hash=f"h{n}",
            )
        )
    return articles


def timed(action: Callable[[], BuildReport]) -> tuple[float, BuildReport]:
    started = time.perf_counter()
    report = action()
    return time.perf_counter() - started, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--tags", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    rng = random.Random(7)
    tags = [t for t in (make_tag(f"وسم {i}") for i in range(args.tags)) if t]
    articles = make_articles(args.articles, tags, rng)

    with tempfile.TemporaryDirectory(prefix="feedpub-bench-") as folder:
        root = Path(folder)
        (root / "config.yaml").write_text(
            'site:\n  title: "أخبار"\n  url: "https://news.example.org"\n'
            "store:\n  url: sqlite:///store.db\nfeeds:\n  output: public\n",
            encoding="utf-8",
        )
        cfg: Config = load_config(root / "config.yaml")
        with SqlStore.open(cfg.store.url) as store:
            started = time.perf_counter()
            store.upsert_articles(articles, START)
            ingest_s = time.perf_counter() - started

            def cold() -> BuildReport:
                shutil.rmtree(cfg.feeds.output, ignore_errors=True)
                return pipeline.build_feeds(cfg, store)

            def unchanged() -> BuildReport:
                return pipeline.build_feeds(cfg, store)

            added = iter(range(10**6))

            def one_new() -> BuildReport:
                n = next(added)
                when = START + timedelta(days=3650, minutes=n)
                store.upsert_article(
                    Article(
                        id=f"new{n}",
                        title="خبر جديد",
                        summary=PARAGRAPH[:120],
                        content=f"<p>{PARAGRAPH}</p>",
                        published=when,
                        updated=when,
                        tags=(tags[-1],),
                        content_hash=f"new{n}",
                    ),
                    when,
                )
                return pipeline.build_feeds(cfg, store)

            rows = []
            for name, action in (
                ("cold build (baseline)", cold),
                ("rebuild, nothing new", unchanged),
                ("rebuild, one new article", one_new),
            ):
                runs = [timed(action) for _ in range(args.repeat)]
                median = statistics.median(seconds for seconds, _ in runs)
                rows.append((name, median, runs[-1][1]))

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    baseline = rows[0][1]
    print(
        f"store: {args.articles} articles, {len(tags)} tags; "
        f"bulk upsert {ingest_s:.2f} s ({args.articles / ingest_s:,.0f} articles/s); "
        f"peak RSS {peak_mib:,.0f} MiB; median of {args.repeat}"
    )
    print(f"{'scenario':<28}{'median s':>10}{'vs cold':>9}{'written':>9}{'unchanged':>11}")
    for name, median, report in rows:
        print(
            f"{name:<28}{median:>10.3f}{median / baseline:>9.2f}"
            f"{len(report.written):>9}{len(report.unchanged):>11}"
        )
    problems = []
    if rows[1][2].written:
        problems.append("a build with nothing new wrote files")
    if rows[1][1] > 0.5 * baseline:
        problems.append("a build with nothing new costs more than half a cold build")
    if rows[2][1] > 0.5 * baseline:
        problems.append("a build after one new article costs more than half a cold build")
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
