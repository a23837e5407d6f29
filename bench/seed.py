"""The seed file on every run: what ``subscribers.seed`` costs once it was
applied, against what reading it again costs.

    .venv/bin/python bench/seed.py --rows 100000 --repeat 1

The file has N rows, one in 20 a bad address (issue 22's 100k-row file had
4,986 bad rows of 100,000). Each round, in a fresh SQLite store (untimed
setup):

- ``first``: ``Roster.seed`` of the file (read, check, store): what a run
  pays when the file changed;
- ``unchanged``: ``Roster.seed`` again, the file untouched: what every later
  run pays (a stat and one row read from the store);
- ``import_again``: ``Roster.import_csv`` of the same file into the same
  store: what every run paid before the fingerprint (each row read, checked
  and looked up again, its warnings printed again);
- ``bare_read``: ``csv.reader`` over the file, nothing else: the least any
  reading of the file costs.

Wall seconds (perf_counter), medians over the rounds. The target: an
unchanged file costs less than a hundredth of ``bare_read``.
``tests/test_bench_seed.py`` runs ``main`` at a tiny size.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from feedpub.store import SqlStore
from feedpub.subscribers import Roster

NOW = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)
DIGESTS = ("daily", "weekly")
BAD_EVERY = 20


def make_seed(path: Path, rows: int) -> int:
    """Write the seed file; return how many of its rows are bad."""
    lines = ["email,name,digests"]
    bad = 0
    for n in range(rows):
        if n % BAD_EVERY == BAD_EVERY - 1:
            lines.append(f"reader{n}@,قارئ {n},daily")
            bad += 1
        else:
            lines.append(f"reader{n}@example.org,قارئ {n},daily")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return bad


def timed(work: object) -> tuple[float, object]:
    start = time.perf_counter()
    result = work()  # type: ignore[operator]
    return time.perf_counter() - start, result


def one_round(work: Path, seed: Path, rows: int, bad: int) -> dict[str, float]:
    store_path = work / "store.db"
    store_path.unlink(missing_ok=True)
    with SqlStore.open(f"sqlite:///{store_path}") as store:
        roster = Roster(store, DIGESTS)
        first, report = timed(lambda: roster.seed(seed, NOW))
        assert report is not None and report.added == rows - bad, report
        assert len(report.problems) == bad
        unchanged, again = timed(lambda: roster.seed(seed, NOW))
        assert again is None
        import_again, second = timed(lambda: roster.import_csv(seed, NOW))
        assert second.existing == rows - bad and len(second.problems) == bad  # type: ignore[attr-defined]
    bare, count = timed(lambda: sum(1 for _ in csv.reader(io.StringIO(seed.read_text("utf-8")))))
    assert count == rows + 1
    return {"first": first, "unchanged": unchanged, "import_again": import_again, "bare_read": bare}


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--work", type=Path, help="folder for the scratch files (default: a temp)")
    args = parser.parse_args(argv)
    logging.getLogger("feedpub").setLevel(logging.ERROR)  # the seed's one warning, not timed here
    work = Path(tempfile.mkdtemp(prefix="feedpub-seed-", dir=args.work))
    try:
        seed = work / "seed.csv"
        bad = make_seed(seed, args.rows)
        rounds = [one_round(work, seed, args.rows, bad) for _ in range(args.repeat)]
    finally:
        shutil.rmtree(work)
    medians = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    results: dict[str, object] = {
        "rows": args.rows,
        "bad_rows": bad,
        "rounds": args.repeat,
        "seconds": medians,
        "unchanged_to_bare_read": medians["unchanged"] / medians["bare_read"],
        "unchanged_to_import_again": medians["unchanged"] / medians["import_again"],
    }
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
