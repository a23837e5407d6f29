"""The wordpress source against a real WordPress: a full sync of N posts as a
ratio to a bare loop making the same REST requests and parsing the JSON, and
a run with nothing changed (its requests, and its time beyond process start).

    .venv/bin/python bench/wordpress.py --posts 2000 --repeat 3
    .venv/bin/python bench/wordpress.py --posts 150 --repeat 1    # does it work

The site: Debian's WordPress served by ``php -S`` on a free loopback port,
installed in a database of its own on the MariaDB at 127.0.0.1:3306 by
``tests/support/wordpress.py`` (skipped, with the reason, where it cannot
run). N Arabic posts ten minutes apart, with categories, tags, authors and
featured images, made by ``wp_insert_post`` (untimed).

Each round, alternating so a busy machine slows both alike:

* feedpub: ``Publisher.ingest()`` in this process into a fresh SQLite store
  (discovery, every page of posts with ``_embed``, mapping, sanitising,
  storing): wall seconds (perf_counter);
* bare: the very requests feedpub made (read from the PHP server's access
  log), sent in order with one ``httpx.Client``, each JSON answer parsed;
* nothing changed: ``feedpub ingest`` as a process against that store (the
  cursor says nothing is new; the PHP log counts its requests), against two
  starts: a process that only starts Python and imports ``feedpub.cli``, and
  ``feedpub ingest`` with ``sources: []`` on a store of its own (the CLI,
  the config, the store opened and SQLAlchemy imported: what any ingest
  pays before a source is read). The differences are the time beyond them.

The targets (issue 21): feedpub within 1.25x of the bare loop; a run with
nothing changed makes one request and takes under 0.3 s beyond process
start. Medians of the rounds are printed as one markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the WordPress harness the tests use
from feedpub.app import make_publisher  # noqa: E402
from feedpub.config import load_config  # noqa: E402
from feedpub.ingest.http import USER_AGENT  # noqa: E402
from feedpub.store import SqlStore  # noqa: E402
from support import wordpress as harness  # noqa: E402

CATEGORIES = ("سياسة", "اقتصاد", "رياضة", "ثقافة", "منوعات")
TAGS = tuple(f"وسم {n}" for n in range(40))
AUTHORS = {"sara": "سارة الأحمد", "omar": "عمر الخطيب", "lina": "لينا حداد"}
PARAGRAPH = (
    "قال مسؤولون إن المحادثات تناولت ملفات المياه والطاقة والحدود، وإن الوفود "
    "ستلتقي مجددا في القاهرة خلال أسبوعين لاستكمال النقاش حول الاتفاق الإطاري. "
)
CHUNK = 250  # posts per PHP process


def posts(count: int, images: list[int]) -> list[dict[str, Any]]:
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    made = []
    for n in range(count):
        when = end - timedelta(minutes=10 * (count - n))
        made.append(
            {
                "title": f'وزير الخارجية يبحث "ملف المياه" - الجولة {n}',
                "content": "".join(f"<p>{PARAGRAPH * 3}</p>\n" for _ in range(5)),
                "categories": [CATEGORIES[n % len(CATEGORIES)]],
                "tags": [TAGS[n % len(TAGS)], TAGS[(n * 7 + 3) % len(TAGS)]],
                "author": list(AUTHORS)[n % len(AUTHORS)],
                "image": images[n % len(images)] if n % 3 else None,
                "date_gmt": when.strftime("%Y-%m-%d %H:%M:%S"),
            }
        )
    return made


def make_site(folder: Path, count: int) -> harness.WordPress:
    site = harness.WordPress(folder)
    site.install()
    site.start()
    site.make_authors(AUTHORS)
    images = site.make_images(
        [
            {
                "name": f"photo-{n}",
                "width": 1600,
                "height": 900,
                "alt": f"صورة {n}",
                "color": [n * 40, 80, 120],
            }
            for n in range(4)
        ]
    )
    made = posts(count, images)
    for start in range(0, count, CHUNK):
        site.insert_posts(
            [{k: v for k, v in p.items() if v is not None} for p in made[start : start + CHUNK]]
        )
    return site


CONFIG = """\
site:
  title: "أخبار"
  url: "https://news.example.org"
  timezone: "Africa/Cairo"
store:
  url: "sqlite:///{store}"
sources:
  - wordpress: {url}/
feeds:
  output: public
digests: []
"""


def log_lines(site: harness.WordPress) -> list[str]:
    return (site.folder / "php-server.log").read_text(errors="replace").splitlines()


def requests_since(site: harness.WordPress, mark: int) -> list[str]:
    return [
        m[1] for line in log_lines(site)[mark:] if (m := re.search(r"\[\d{3}\]: GET (\S+)", line))
    ]


def feedpub_sync(site: harness.WordPress, folder: Path) -> tuple[float, list[str], Path, int]:
    folder.mkdir(parents=True)
    config = folder / "config.yaml"
    config.write_text(CONFIG.format(store=folder / "feedpub.db", url=site.url), encoding="utf-8")
    cfg = load_config(config)
    mark = len(log_lines(site))
    with SqlStore.open(f"sqlite:///{folder / 'feedpub.db'}") as store:
        started = time.perf_counter()
        with make_publisher(cfg, now=datetime.now(UTC), store=store) as publisher:
            report = publisher.ingest()
        elapsed = time.perf_counter() - started
    if report.failed_sources:
        raise SystemExit(f"feedpub failed: {report.failed_sources}")
    return elapsed, requests_since(site, mark), config, report.new


def bare_loop(site: harness.WordPress, paths: list[str]) -> float:
    started = time.perf_counter()
    with httpx.Client(headers={"User-Agent": USER_AGENT}, timeout=120) as client:
        for path in paths:
            answer = client.get(site.url + path)
            if answer.headers.get("content-type", "").startswith("application/json"):
                json.loads(answer.content)
    return time.perf_counter() - started


def timed_process(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        args, check=True, capture_output=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    )
    return time.perf_counter() - started


def quiet_run(site: harness.WordPress, config: Path) -> tuple[float, float, float, int]:
    empty = config.parent / "no-sources.yaml"
    empty.write_text(
        CONFIG.format(store=config.parent / "empty.db", url=site.url).replace(
            f"sources:\n  - wordpress: {site.url}/\n", "sources: []\n"
        ),
        encoding="utf-8",
    )
    without = [sys.executable, "-m", "feedpub", "--config", str(empty), "ingest"]
    timed_process(without)  # makes its store: untimed
    mark = len(log_lines(site))
    wall = timed_process([sys.executable, "-m", "feedpub", "--config", str(config), "ingest"])
    requests = len(requests_since(site, mark))
    start = timed_process([sys.executable, "-c", "import feedpub.cli"])
    return wall, start, timed_process(without), requests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    problem = harness.problem()
    if problem is not None:
        print(f"bench/wordpress.py: skipped: {problem}")
        return 0
    with tempfile.TemporaryDirectory(prefix="feedpub-bench-wp-") as tmp:
        root = Path(tmp)
        site = make_site(root / "site", args.posts)
        try:
            rounds: list[dict[str, Any]] = []
            for number in range(args.repeat):
                ours, paths, config, new = feedpub_sync(site, root / f"round-{number}")
                if new != args.posts:
                    raise SystemExit(f"feedpub read {new} posts of {args.posts}")
                bare = bare_loop(site, paths)
                wall, start, no_sources, requests = quiet_run(site, config)
                rounds.append(
                    {
                        "feedpub_s": ours,
                        "bare_s": bare,
                        "requests": len(paths),
                        "quiet_wall_s": wall,
                        "process_start_s": start,
                        "no_sources_s": no_sources,
                        "quiet_requests": requests,
                    }
                )
        finally:
            site.close()
    print(table(args.posts, rounds))
    if args.json:
        args.json.write_text(json.dumps({"posts": args.posts, "rounds": rounds}, indent=2))
    return 0


def table(count: int, rounds: list[dict[str, Any]]) -> str:
    def median(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    ours, bare, quiet = median("feedpub_s"), median("bare_s"), median("quiet_wall_s")
    start, no_sources = median("process_start_s"), median("no_sources_s")
    quiet_requests = max(r["quiet_requests"] for r in rounds)
    return "\n".join(
        [
            f"WordPress source, {count} posts, medians of {len(rounds)} rounds",
            "",
            "| scenario | feedpub | baseline | ratio or figure | target |",
            "| --- | --- | --- | --- | --- |",
            f"| full sync ({rounds[0]['requests']} requests) | {ours:.2f} s | bare loop "
            f"{bare:.2f} s | {ours / bare:.2f}x | within 1.25x |",
            f"| nothing changed | {quiet:.2f} s, {quiet_requests} request(s) "
            f"| `import feedpub.cli` {start:.2f} s | {quiet - start:.2f} s beyond "
            "| 1 request, under 0.3 s |",
            f"| nothing changed | {quiet:.2f} s | `feedpub ingest`, no sources {no_sources:.2f} s "
            f"| {quiet - no_sources:.2f} s beyond | under 0.3 s |",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
